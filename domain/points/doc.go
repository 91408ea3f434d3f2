// Package points is the pure model of a member's points account, the stream "points-{user_id}".
//
// Points arrive in lots (an earning or a refund), each with its own expiry. Spends, holds and
// exchanges take points from lots closest to expiry first (ties: the lot earned first), never
// from lots that have already expired and never from points a hold has frozen. A hold freezes
// points for an order until it is captured (the points leave) or released (they go back to
// the lots they came from; if such a lot expired meanwhile, the next ExpireDue expires them).
//
// The Account decides (Earn, Spend, Freeze, ...) by returning events without changing itself;
// Apply and Replay evolve it. Time is always passed in.
//
// Long-lived accounts stay cheap: lots that are used up disappear from the state, and the
// idempotency memory (earning keys, spend and refund refs, closed holds, exchanges) keeps a
// 128-bit hash per key instead of the key, plus only what a retry must be answered with
// (an earning's lot, amount and times; an exchange's gift, quantity and points; a closed hold's
// fate). Snapshot/FromSnapshot cache the state; the parts that grow with age are stored in a
// compact binary form so that reading a snapshot beats replaying the stream. CloseBooks starts a new period whose first event,
// BooksClosed, carries the open lots, the open holds and the idempotency memory of the period
// being closed; memory of earlier periods is dropped. So a retried command is recognised for at
// least one full period after its first success; a retry older than that would be applied again.
// Periods should therefore be much longer than any retry or idempotency window (days, not
// seconds), e.g. a calendar quarter.
//
// The balance at a past instant is BalanceAsOf: replay the events decided by then and read the
// balance at that instant (lots past expiry do not count even if their Expired event came later).
package points
