package coupon

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/loyaltyforge/loyalty/domain/supply"
)

// Typed coupon codes (API.md, "Codes"). A batch's code_mode says how members get its coupons:
// by claiming the batch (none), by redeeming one code everybody shares (shared: SUMMER10), or
// by redeeming one of `total` single-use codes the platform generated (unique). A code batch
// cannot be claimed by its id: knowing the batch is not knowing a code.

// CodeMode is how a batch's coupons are handed out.
type CodeMode string

const (
	CodeModeNone   CodeMode = "none"
	CodeModeShared CodeMode = "shared"
	CodeModeUnique CodeMode = "unique"
)

var (
	// ErrCodeNotFound is a code no redeemable batch knows, a malformed one included: the
	// answer must not tell a guesser which of the two it was.
	ErrCodeNotFound = errors.New("coupon: code not found")
	// ErrCodeUsed is a single-use code someone has already redeemed.
	ErrCodeUsed = errors.New("coupon: code already used")
	// ErrClaimWithCode refuses a claim by batch id of a batch handed out by codes.
	ErrClaimWithCode = fmt.Errorf("%w: this batch is redeemed with a code", ErrNotEligible)
)

// CodeSpec is the code part of a batch definition, kept apart from the rest of BatchSpec (it
// is embedded there, so its fields read as the batch's own in JSON).
type CodeSpec struct {
	CodeMode   CodeMode `json:"code_mode,omitempty"`   // empty: none
	SharedCode string   `json:"shared_code,omitempty"` // shared mode, upper case once defaulted
}

// Mode is the code mode with its default.
func (c CodeSpec) Mode() CodeMode {
	if c.CodeMode == "" {
		return CodeModeNone
	}
	return c.CodeMode
}

// withDefaults spells the mode out and stores the shared code in its matching form.
func (c CodeSpec) withDefaults() CodeSpec {
	c.CodeMode = c.Mode()
	c.SharedCode = strings.ToUpper(c.SharedCode)
	return c
}

// MaxUniqueCodes bounds a unique-code batch: its codes are generated when it is created.
const MaxUniqueCodes = 10_000_000

func (c CodeSpec) validate(total int64) error {
	switch c.Mode() {
	case CodeModeNone, CodeModeUnique:
		if c.SharedCode != "" {
			return invalid("shared_code", "is only for code_mode shared")
		}
		if c.Mode() == CodeModeUnique && total > MaxUniqueCodes {
			return invalid("total", "must be at most %d for code_mode unique (one code per coupon)", MaxUniqueCodes)
		}
	case CodeModeShared:
		if !ValidSharedCode(c.SharedCode) {
			return invalid("shared_code", "must be %d to %d characters of A-Z 0-9 -", minSharedCode, maxCode)
		}
	default:
		return invalid("code_mode", "must be none, shared or unique")
	}
	return nil
}

const (
	minSharedCode = 4
	maxCode       = 32 // no code of either kind is longer
	// UniqueCodeLength characters of a 32-symbol alphabet: 60 bits of randomness per code (at
	// least 50 required), short enough to type from a printed voucher.
	UniqueCodeLength = 12
	// uniqueAlphabet has no 0, O, 1 or I, which readers confuse. 32 symbols: one byte of
	// crypto/rand masked to 5 bits picks each uniformly.
	uniqueAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
)

// ValidSharedCode reports whether s is a shared code as an admin may define it: 4 to 32 of
// [A-Z0-9-], either case (codes match ignoring case).
func ValidSharedCode(s string) bool {
	if len(s) < minSharedCode || len(s) > maxCode {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isCodeChar(s[i]) {
			return false
		}
	}
	return true
}

func isCodeChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
}

// NormalizeCode turns what a member typed into the form codes are stored and hashed in: upper
// case, surrounding spaces dropped. ok is false for anything no batch could have issued
// (wrong length, characters outside [A-Z0-9-]); such a code is simply not found.
func NormalizeCode(raw string) (code string, ok bool) {
	s := strings.TrimSpace(raw)
	if !ValidSharedCode(s) { // unique codes are a subset of the shared codes' shape
		return "", false
	}
	return strings.ToUpper(s), true
}

// ValidUniqueCode reports whether s (normalized) has the shape of a generated code.
func ValidUniqueCode(s string) bool {
	if len(s) != UniqueCodeLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(uniqueAlphabet, rune(s[i])) {
			return false
		}
	}
	return true
}

// CodeHash is what a code is looked up by: the store never answers "which codes start with"
// and holds no index over the codes themselves.
func CodeHash(normalized string) []byte {
	sum := sha256.Sum256([]byte("coupon-code\x00" + normalized))
	return sum[:]
}

// GenerateCodes fills dst with new unique-mode codes read from random (crypto/rand.Reader in
// production; a test may pass a fixed stream).
func GenerateCodes(random io.Reader, dst []string) error {
	buf := make([]byte, UniqueCodeLength*len(dst))
	if _, err := io.ReadFull(random, buf); err != nil {
		return fmt.Errorf("coupon: generate codes: %w", err)
	}
	code := make([]byte, UniqueCodeLength)
	for i := range dst {
		for j := range code {
			code[j] = uniqueAlphabet[buf[i*UniqueCodeLength+j]&31]
		}
		dst[i] = string(code)
	}
	return nil
}

// SourceCode marks a coupon a member redeemed with a code.
const SourceCode Source = "code"

// Batch stream events of code batches.

// CodesAttached records which generation of stored codes belongs to a code batch; it is
// appended with BatchCreated. Codes stored under another generation (a creation that failed
// after storing them) are not the batch's and are never found.
type CodesAttached struct {
	Mode       CodeMode `json:"mode"`
	Generation string   `json:"generation"`
	Count      int64    `json:"count"` // unique codes stored (0 for shared)
}

// CodeTaken binds unique code number Seq of the batch's generation to the supply key (the
// coupon id) of the redemption that reserved a unit with it. A Released of that key frees the
// code again (the member could not take the coupon).
type CodeTaken struct {
	Seq      int64  `json:"seq"`
	CouponID string `json:"coupon_id"`
}

func (CodesAttached) EventName() string { return "coupon.codes_attached.v1" }
func (CodeTaken) EventName() string     { return "coupon.code_taken.v1" }

// batchCodes is the code state of a batch stream.
type batchCodes struct {
	generation string
	holder     map[int64]string // code seq -> supply key of the redemption holding it
	codeOf     map[string]int64 // supply key -> code seq
	freed      map[string]int64 // released supply key -> the code it held
}

// clone is an independent copy (Batch.Clone).
func (c batchCodes) clone() batchCodes {
	c.holder, c.codeOf, c.freed = maps.Clone(c.holder), maps.Clone(c.codeOf), maps.Clone(c.freed)
	return c
}

// applyCodes evolves the code state; it reports whether e was a code event.
func (b *Batch) applyCodes(e Event) bool {
	c := &b.codes
	switch e := e.(type) {
	case CodesAttached:
		c.generation = e.Generation
		return true
	case CodeTaken:
		if c.holder == nil {
			c.holder, c.codeOf = map[int64]string{}, map[string]int64{}
		}
		c.holder[e.Seq] = e.CouponID
		c.codeOf[e.CouponID] = e.Seq
		return true
	case supply.Released:
		k := e.Key
		if seq, ok := c.codeOf[k]; ok {
			delete(c.codeOf, k)
			if c.holder[seq] == k {
				delete(c.holder, seq)
			}
			if c.freed == nil {
				c.freed = map[string]int64{}
			}
			c.freed[k] = seq
		}
	}
	return false
}

// CodeGeneration is the generation of stored codes that belongs to the batch ("" for none).
func (b *Batch) CodeGeneration() string { return b.codes.generation }

// CodesUsed is how many unique codes are held by a redemption now.
func (b *Batch) CodesUsed() int { return len(b.codes.holder) }

// Redeem is Claim for a code the store matched to this batch: the code must be the batch's
// (mode and generation) and, when unique, free; then the claim's rules apply (window,
// eligibility, supply). A replayed coupon id returns its status and no events.
func (b *Batch) Redeem(mode CodeMode, gen string, seq int64, couponID, userID string, holdUntil, now time.Time) ([]Event, supply.Status, error) {
	if st := b.supply.Status(couponID); st != supply.StatusNone {
		return b.Issue(couponID, userID, holdUntil, now)
	}
	taken, err := b.RedeemGate(mode, gen, seq, couponID)
	if err != nil {
		return nil, supply.StatusNone, err
	}
	events, st, err := b.claim(couponID, userID, holdUntil, now)
	if err != nil {
		return nil, st, err
	}
	return append(events, taken...), st, nil
}

// RedeemGate decides whether a redemption of a code that the store matched to this batch (in
// generation gen; seq is the unique code's number, ignored for a shared code) may go on to the
// claim under supply key couponID. For a unique code it returns the CodeTaken to append with
// the reservation. A code of another generation is not this batch's: ErrCodeNotFound.
func (b *Batch) RedeemGate(mode CodeMode, gen string, seq int64, couponID string) ([]Event, error) {
	if !b.created {
		return nil, ErrBatchNotFound
	}
	if b.spec.Mode() != mode || gen == "" || b.codes.generation != gen {
		return nil, ErrCodeNotFound
	}
	if mode != CodeModeUnique {
		return nil, nil
	}
	if k, held := b.codes.holder[seq]; held {
		if k == couponID {
			return nil, nil // the same redemption again: the claim path answers it
		}
		return nil, ErrCodeUsed
	}
	return []Event{CodeTaken{Seq: seq, CouponID: couponID}}, nil
}

// CreateWithCodes is Create for a code batch whose codes are stored under generation gen
// (count of them for unique mode): the definition, its supply and the CodesAttached.
func (b *Batch) CreateWithCodes(batchID string, spec BatchSpec, gen string, count int64, now time.Time) ([]Event, error) {
	if spec.Mode() == CodeModeNone || gen == "" {
		return nil, invalid("code_mode", "a code batch needs its stored codes")
	}
	events, err := b.Create(batchID, spec, now)
	if err != nil {
		return nil, err
	}
	return append(events, CodesAttached{Mode: spec.Mode(), Generation: gen, Count: count}), nil
}

// RetakeCode is for a claim whose reservation was released although its coupon reached the
// wallet (it ran past its deadline): the unit is taken again under newKey, and so is the code
// the released key held, if any. ok is false when another redemption has taken that code since;
// nothing can undo that, and the caller reports it.
func (b *Batch) RetakeCode(released, newKey string) (events []Event, ok bool) {
	seq, had := b.codes.freed[released]
	if !had {
		return nil, true
	}
	if _, held := b.codes.holder[seq]; held {
		return nil, false
	}
	return []Event{CodeTaken{Seq: seq, CouponID: newKey}}, true
}
