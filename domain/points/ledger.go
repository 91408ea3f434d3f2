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
)

// Entry is one line of the member's ledger. Amount is always positive; Type says which way
// the points moved. Ref is the earning's source_ref, or the spend, hold, exchange, refund or
// lot id that caused the entry.
type Entry struct {
	Type   string    `json:"type"`
	Amount int64     `json:"amount"`
	Reason string    `json:"reason"`
	Ref    string    `json:"ref"`
	At     time.Time `json:"occurred_at"`
}

// LedgerEntries maps an event to the ledger entries it produces (none for BooksClosed, which
// moves no points). Reasons: the earning's reason; "spend", "exchange", "hold", "capture",
// the release reason, "expiry" (ref = lot id) and "refund".
func LedgerEntries(e Event) []Entry {
	switch e := deref(e).(type) {
	case Earned:
		return []Entry{{Type: EntryEarned, Amount: e.Amount, Reason: e.Reason, Ref: e.SourceRef, At: e.At}}
	case Spent:
		return []Entry{{Type: EntrySpent, Amount: e.Amount, Reason: "spend", Ref: e.Ref, At: e.At}}
	case CreditsExchanged:
		return []Entry{{Type: EntrySpent, Amount: e.PointsSpent, Reason: "exchange", Ref: e.ExchangeID, At: e.At}}
	case Frozen:
		return []Entry{{Type: EntryFrozen, Amount: e.Amount, Reason: "hold", Ref: e.HoldID, At: e.At}}
	case Captured:
		return []Entry{{Type: EntryCaptured, Amount: e.Amount, Reason: "capture", Ref: e.HoldID, At: e.At}}
	case Released:
		return []Entry{{Type: EntryReleased, Amount: e.Amount, Reason: e.Reason, Ref: e.HoldID, At: e.At}}
	case Expired:
		return []Entry{{Type: EntryExpired, Amount: e.Amount, Reason: "expiry", Ref: e.LotID, At: e.At}}
	case Refunded:
		return []Entry{{Type: EntryRefunded, Amount: e.Amount, Reason: "refund", Ref: e.Ref, At: e.At}}
	}
	return nil
}
