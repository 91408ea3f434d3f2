package points

import "time"

// Ledger entry types of the API.
const (
	EntryEarned   = "earned"
	EntrySpent    = "spent"
	EntryFrozen   = "frozen"
	EntryCaptured = "captured"
	EntryReleased = "released"
	EntryExpired  = "expired"
	EntryRefunded = "refunded"
	EntryDebited  = "debited"
)

// Entry is one line of the member's ledger. Amount is always positive; Type says which way
// the points moved. Ref is the earning's source_ref, or the spend, hold, exchange, refund or
// lot id that caused the entry.
//
// Entries that take points out or hold them (spent, frozen, captured, expired, debited) name
// the lots they took, closest expiry first; earned and refunded entries name the lot they
// made. A captured entry of a version 1 capture has nil Lots: its hold's frozen entry has them.
type Entry struct {
	Type   string    `json:"type"`
	Amount int64     `json:"amount"`
	Reason string    `json:"reason"`
	Ref    string    `json:"ref"`
	At     time.Time `json:"occurred_at"`
	LotID  string    `json:"lot_id,omitempty"`
	Lots   []Take    `json:"lots,omitempty"`
}

// LedgerEntries maps an event to the ledger entries it produces (none for BooksClosed, which
// moves no points). Reasons: the earning's reason; "spend", "exchange", "hold", "capture",
// the release reason, "expiry" (ref = lot id) and "refund".
func LedgerEntries(e Event) []Entry {
	switch e := deref(e).(type) {
	case Earned:
		return []Entry{{Type: EntryEarned, Amount: e.Amount, Reason: e.Reason, Ref: e.SourceRef, At: e.At, LotID: e.LotID}}
	case Spent:
		return []Entry{{Type: EntrySpent, Amount: e.Amount, Reason: "spend", Ref: e.Ref, At: e.At, Lots: e.Lots}}
	case CreditsExchanged:
		return []Entry{{Type: EntrySpent, Amount: e.PointsSpent, Reason: "exchange", Ref: e.ExchangeID, At: e.At, Lots: e.Lots}}
	case Frozen:
		return []Entry{{Type: EntryFrozen, Amount: e.Amount, Reason: "hold", Ref: e.HoldID, At: e.At, Lots: e.Lots}}
	case Captured:
		return []Entry{{Type: EntryCaptured, Amount: e.Amount, Reason: "capture", Ref: e.HoldID, At: e.At, Lots: e.Lots}}
	case Released:
		return []Entry{{Type: EntryReleased, Amount: e.Amount, Reason: e.Reason, Ref: e.HoldID, At: e.At}}
	case Expired:
		return []Entry{{Type: EntryExpired, Amount: e.Amount, Reason: "expiry", Ref: e.LotID, At: e.At,
			Lots: []Take{{Lot: e.LotID, Amount: e.Amount}}}}
	case Refunded:
		return []Entry{{Type: EntryRefunded, Amount: e.Amount, Reason: "refund", Ref: e.Ref, At: e.At, LotID: e.LotID}}
	case Debited:
		return []Entry{{Type: EntryDebited, Amount: e.Amount, Reason: e.Reason, Ref: e.Ref, At: e.At, Lots: e.Lots}}
	}
	return nil
}
