package coupon_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/supply"
)

func TestNormalizeCode(t *testing.T) {
	cases := []struct {
		raw  string
		want string // "" when malformed
	}{
		{"SUMMER10", "SUMMER10"},
		{"summer10", "SUMMER10"},
		{"  Summer-10\t", "SUMMER-10"},
		{"ABCD", "ABCD"},
		{strings.Repeat("A", 32), strings.Repeat("A", 32)},
		{"ABC", ""},                        // too short
		{strings.Repeat("A", 33), ""},      // too long
		{"SUMMER 10", ""},                  // inner space
		{"SUMMER_10", ""},                  // underscore
		{"SÜMMER10", ""},                   // not ASCII
		{"SUMMER10\x00", ""},               // NUL
		{"", ""},                           // empty
		{"'; DROP TABLE coupon_codes", ""}, // nothing a guesser sends reaches the store unchecked
	}
	for _, c := range cases {
		got, ok := coupon.NormalizeCode(c.raw)
		assert.Equal(t, c.want != "", ok, "%q", c.raw)
		assert.Equal(t, c.want, got, "%q", c.raw)
	}
}

// FuzzNormalizeCode: whatever a member types, a code that is accepted is stored-form (upper
// case, 4 to 32 of [A-Z0-9-]), normalizing it again changes nothing, and its lower-case
// spelling is the same code.
func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"SUMMER10", "summer-10", " abcd ", "ABC", "ÄBCD", "2345ABCDEFGH", strings.Repeat("z", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		code, ok := coupon.NormalizeCode(raw)
		if !ok {
			if code != "" {
				t.Fatalf("%q refused but returned %q", raw, code)
			}
			return
		}
		if len(code) < 4 || len(code) > 32 {
			t.Fatalf("%q -> %q: length %d", raw, code, len(code))
		}
		for i := 0; i < len(code); i++ {
			c := code[i]
			if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				t.Fatalf("%q -> %q holds %q", raw, code, c)
			}
		}
		if again, ok := coupon.NormalizeCode(code); !ok || again != code {
			t.Fatalf("%q -> %q -> %q, %v", raw, code, again, ok)
		}
		if lower, ok := coupon.NormalizeCode(strings.ToLower(code)); !ok || lower != code {
			t.Fatalf("lower case of %q -> %q, %v", code, lower, ok)
		}
		if !bytes.Equal(coupon.CodeHash(code), coupon.CodeHash(strings.ToUpper(strings.TrimSpace(raw)))) {
			t.Fatalf("%q and its normal form hash differently", raw)
		}
	})
}

func TestGeneratedCodesAreLongReadableAndRandom(t *testing.T) {
	codes := make([]string, 50000)
	require.NoError(t, coupon.GenerateCodes(rand.Reader, codes))
	seen := make(map[string]bool, len(codes))
	symbols := map[rune]int{}
	for _, c := range codes {
		require.True(t, coupon.ValidUniqueCode(c), "%q", c)
		require.GreaterOrEqual(t, len(c), 10)
		require.False(t, strings.ContainsAny(c, "0O1I"), "%q holds a confusable character", c)
		norm, ok := coupon.NormalizeCode(strings.ToLower(c))
		require.True(t, ok)
		require.Equal(t, c, norm, "a typed-in lower-case code finds the stored one")
		require.False(t, seen[c], "duplicate %q", c)
		seen[c] = true
		for _, r := range c {
			symbols[r]++
		}
	}
	// 12 symbols of 32 are 60 bits; all 32 symbols turn up about equally often.
	assert.Len(t, symbols, 32)
	expect := float64(len(codes)*coupon.UniqueCodeLength) / 32
	for r, n := range symbols {
		assert.InDelta(t, expect, float64(n), expect*0.05, "symbol %q", r)
	}
}

func TestGeneratedCodesComeFromTheRandomSource(t *testing.T) {
	a, b := make([]string, 3), make([]string, 3)
	require.NoError(t, coupon.GenerateCodes(bytes.NewReader(bytes.Repeat([]byte{0, 31, 7}, 12)), a))
	require.NoError(t, coupon.GenerateCodes(bytes.NewReader(bytes.Repeat([]byte{1, 2, 3}, 12)), b))
	assert.Equal(t, "2Z92Z92Z92Z9", a[0])
	assert.NotEqual(t, a, b)
	assert.Error(t, coupon.GenerateCodes(bytes.NewReader(make([]byte, 5)), a), "a short random source is an error, not weak codes")
}

func TestCodeSpecRules(t *testing.T) {
	cases := []struct {
		name   string
		change func(*coupon.BatchSpec)
		field  string // "" when valid
	}{
		{"none by default", func(s *coupon.BatchSpec) {}, ""},
		{"unique", func(s *coupon.BatchSpec) { s.CodeMode = coupon.CodeModeUnique }, ""},
		{"shared", func(s *coupon.BatchSpec) { s.CodeMode, s.SharedCode = coupon.CodeModeShared, "summer-10" }, ""},
		{"shared without code", func(s *coupon.BatchSpec) { s.CodeMode = coupon.CodeModeShared }, "shared_code"},
		{"shared code too short", func(s *coupon.BatchSpec) { s.CodeMode, s.SharedCode = coupon.CodeModeShared, "ABC" }, "shared_code"},
		{"shared code with space", func(s *coupon.BatchSpec) { s.CodeMode, s.SharedCode = coupon.CodeModeShared, "AB CD" }, "shared_code"},
		{"code without shared mode", func(s *coupon.BatchSpec) { s.SharedCode = "SUMMER10" }, "shared_code"},
		{"code with unique mode", func(s *coupon.BatchSpec) { s.CodeMode, s.SharedCode = coupon.CodeModeUnique, "SUMMER10" }, "shared_code"},
		{"unknown mode", func(s *coupon.BatchSpec) { s.CodeMode = "secret" }, "code_mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.change(&s)
			err := s.WithDefaults().Validate()
			if c.field == "" {
				assert.NoError(t, err)
				return
			}
			var fe *coupon.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, c.field, fe.Field)
		})
	}
	s := validSpec()
	s.CodeMode, s.SharedCode = coupon.CodeModeShared, "summer-10"
	assert.Equal(t, "SUMMER-10", s.WithDefaults().SharedCode, "stored in the form it is matched in")
	assert.Equal(t, coupon.CodeModeNone, validSpec().WithDefaults().CodeMode)
}

// codeBatch is a unique-code batch of total units, created with generation "g1".
func codeBatch(t *testing.T, total int64) *coupon.Batch {
	t.Helper()
	s := validSpec()
	s.Total, s.CodeMode, s.PerUserLimit = total, coupon.CodeModeUnique, 5
	events, err := coupon.ReplayBatch().CreateWithCodes("b1", s, "g1", total, t0)
	require.NoError(t, err)
	return coupon.ReplayBatch(events...)
}

func TestAUniqueCodeIsTakenOnceAndFreedWhenItsClaimIsReleased(t *testing.T) {
	b := codeBatch(t, 10)
	hold := t0.Add(time.Hour)
	now := t0.Add(time.Minute)

	events, st, err := b.Redeem(coupon.CodeModeUnique, "g1", 7, "cA_u1", "u1", hold, now)
	require.NoError(t, err)
	assert.Equal(t, supply.StatusReserved, st)
	require.Contains(t, events, coupon.Event(coupon.CodeTaken{Seq: 7, CouponID: "cA_u1"}))
	for _, e := range events {
		b.Apply(e)
	}
	assert.Equal(t, 1, b.CodesUsed())

	_, _, err = b.Redeem(coupon.CodeModeUnique, "g1", 7, "cB_u2", "u2", hold, now)
	assert.ErrorIs(t, err, coupon.ErrCodeUsed, "another member")
	_, _, err = b.Redeem(coupon.CodeModeUnique, "g1", 7, "cC_u1", "u1", hold, now)
	assert.ErrorIs(t, err, coupon.ErrCodeUsed, "the same member again, under a new claim")
	gate, err := b.RedeemGate(coupon.CodeModeUnique, "g1", 7, "cA_u1")
	assert.NoError(t, err, "the holder itself passes the gate")
	assert.Empty(t, gate, "and takes nothing twice")
	again, st, err := b.Redeem(coupon.CodeModeUnique, "g1", 7, "cA_u1", "u1", hold, now)
	require.NoError(t, err, "the same claim retried")
	assert.Empty(t, again)
	assert.Equal(t, supply.StatusReserved, st)

	// Another code of the batch is still free.
	events2, _, err := b.Redeem(coupon.CodeModeUnique, "g1", 8, "cB_u2", "u2", hold, now)
	require.NoError(t, err)
	for _, e := range events2 {
		b.Apply(e)
	}

	// The wallet refused the coupon: the release gives the code back.
	rel, err := b.Supply().Release("cA_u1", "claim_limit_reached", now)
	require.NoError(t, err)
	for _, e := range rel {
		b.Apply(e)
	}
	assert.Equal(t, 1, b.CodesUsed())
	_, _, err = b.Redeem(coupon.CodeModeUnique, "g1", 7, "cD_u3", "u3", hold, now)
	assert.NoError(t, err)
	// A commit keeps it.
	com, err := b.Supply().Commit("cB_u2", now)
	require.NoError(t, err)
	for _, e := range com {
		b.Apply(e)
	}
	_, _, err = b.Redeem(coupon.CodeModeUnique, "g1", 8, "cE_u4", "u4", hold, now)
	assert.ErrorIs(t, err, coupon.ErrCodeUsed)
}

func TestACodeOfAnotherGenerationOrModeIsNotFound(t *testing.T) {
	b := codeBatch(t, 10)
	hold, now := t0.Add(time.Hour), t0.Add(time.Minute)
	_, _, err := b.Redeem(coupon.CodeModeUnique, "g0", 1, "c1_u1", "u1", hold, now)
	assert.ErrorIs(t, err, coupon.ErrCodeNotFound, "codes a failed creation left behind")
	_, _, err = b.Redeem(coupon.CodeModeShared, "g1", 0, "c1_u1", "u1", hold, now)
	assert.ErrorIs(t, err, coupon.ErrCodeNotFound, "a shared code pointing at a unique batch")
	_, _, err = coupon.ReplayBatch().Redeem(coupon.CodeModeUnique, "g1", 1, "c1_u1", "u1", hold, now)
	assert.ErrorIs(t, err, coupon.ErrBatchNotFound)

	plain, err := coupon.ReplayBatch().Create("p1", validSpec(), t0)
	require.NoError(t, err)
	_, _, err = coupon.ReplayBatch(plain...).Redeem(coupon.CodeModeUnique, "", 1, "c1_u1", "u1", hold, now)
	assert.ErrorIs(t, err, coupon.ErrCodeNotFound, "a batch without codes has no empty generation to match")
}

func TestACodeBatchIsNotClaimedByItsIDAndKeepsTheClaimRules(t *testing.T) {
	b := codeBatch(t, 1)
	hold := t0.Add(time.Hour)
	_, _, err := b.Claim("c1_u1", "u1", hold, t0.Add(time.Minute))
	assert.ErrorIs(t, err, coupon.ErrNotEligible)
	assert.True(t, errors.Is(err, coupon.ErrClaimWithCode))

	_, _, err = b.Redeem(coupon.CodeModeUnique, "g1", 1, "c1_u1", "u1", hold, day(11))
	assert.ErrorIs(t, err, coupon.ErrClaimWindowClosed, "after claim_ends_at")
	events, _, err := b.Redeem(coupon.CodeModeUnique, "g1", 1, "c1_u1", "u1", hold, t0.Add(time.Minute))
	require.NoError(t, err)
	for _, e := range events {
		b.Apply(e)
	}
	_, _, err = b.Redeem(coupon.CodeModeUnique, "g1", 2, "c2_u2", "u2", hold, t0.Add(time.Minute))
	assert.ErrorIs(t, err, supply.ErrSoldOut, "one unit, one code redeemed")
	assert.Equal(t, 1, b.CodesUsed(), "a refused redemption takes no code")

	_, err = coupon.ReplayBatch().CreateWithCodes("b2", validSpec(), "g2", 0, t0)
	assert.Error(t, err, "a batch without a code mode has no codes to attach")
}

// A redemption stalled past its deadline: the sweeper released its unit (and so its code),
// but the coupon reached the wallet, so the late commit takes the unit and the code again.
func TestALateCommitRetakesTheCodeItsReleaseFreed(t *testing.T) {
	b := codeBatch(t, 10)
	hold, now := t0.Add(time.Hour), t0.Add(time.Minute)
	apply := func(events any) {
		switch es := events.(type) {
		case []coupon.Event:
			for _, e := range es {
				b.Apply(e)
			}
		case []supply.Event:
			for _, e := range es {
				b.Apply(e)
			}
		}
	}
	events, _, err := b.Redeem(coupon.CodeModeUnique, "g1", 3, "cA_u1", "u1", hold, now)
	require.NoError(t, err)
	apply(events)
	rel, err := b.Supply().Release("cA_u1", "timeout", now)
	require.NoError(t, err)
	apply(rel)
	require.Equal(t, 0, b.CodesUsed())

	retake, ok := b.RetakeCode("cA_u1", "cA_u1#again")
	require.True(t, ok)
	assert.Equal(t, []coupon.Event{coupon.CodeTaken{Seq: 3, CouponID: "cA_u1#again"}}, retake)
	apply(retake)
	_, _, err = b.Redeem(coupon.CodeModeUnique, "g1", 3, "cB_u2", "u2", hold, now)
	assert.ErrorIs(t, err, coupon.ErrCodeUsed)

	none, ok := b.RetakeCode("never-had-a-code", "x#again")
	assert.True(t, ok)
	assert.Empty(t, none)

	// Taken by someone else meanwhile: reported, not taken twice.
	events, _, err = b.Redeem(coupon.CodeModeUnique, "g1", 4, "cC_u3", "u3", hold, now)
	require.NoError(t, err)
	apply(events)
	rel, err = b.Supply().Release("cC_u3", "timeout", now)
	require.NoError(t, err)
	apply(rel)
	events, _, err = b.Redeem(coupon.CodeModeUnique, "g1", 4, "cD_u4", "u4", hold, now)
	require.NoError(t, err)
	apply(events)
	retake, ok = b.RetakeCode("cC_u3", "cC_u3#again")
	assert.False(t, ok)
	assert.Empty(t, retake)
}

func TestAUniqueCodeBatchIsBounded(t *testing.T) {
	s := validSpec()
	s.CodeMode, s.Total = coupon.CodeModeUnique, coupon.MaxUniqueCodes
	require.NoError(t, s.Validate())
	s.Total++
	var fe *coupon.FieldError
	require.ErrorAs(t, s.Validate(), &fe)
	assert.Equal(t, "total", fe.Field)
	s.CodeMode = coupon.CodeModeNone
	assert.NoError(t, s.Validate(), "only generated codes are bounded")
}

func TestValidUniqueCode(t *testing.T) {
	assert.True(t, coupon.ValidUniqueCode("23456789ABCD"))
	for _, c := range []string{"23456789ABC", "23456789ABCDE", "23456789ABC0", "23456789ABCO", "23456789ABC1",
		"23456789ABCI", "23456789abcd", "23456789ABC-"} {
		assert.False(t, coupon.ValidUniqueCode(c), "%q", c)
	}
}

func TestASharedCodeRedeemsLikeAClaim(t *testing.T) {
	s := validSpec()
	s.CodeMode, s.SharedCode, s.Total, s.PerUserLimit = coupon.CodeModeShared, "SUMMER10", 2, 1
	events, err := coupon.ReplayBatch().CreateWithCodes("s1", s, "gs", 0, t0)
	require.NoError(t, err)
	b := coupon.ReplayBatch(events...)
	assert.Equal(t, "gs", b.CodeGeneration())
	_, err = b.CreateWithCodes("s1", s, "gs2", 0, t0)
	assert.ErrorIs(t, err, coupon.ErrBatchExists)

	hold, now := t0.Add(time.Hour), t0.Add(time.Minute)
	for i, user := range []string{"u1", "u2"} {
		events, st, err := b.Redeem(coupon.CodeModeShared, "gs", 0, fmt.Sprintf("c%d_%s", i, user), user, hold, now)
		require.NoError(t, err)
		assert.Equal(t, supply.StatusReserved, st)
		require.Len(t, events, 1, "a reservation, no code taken")
		b.Apply(events[0])
	}
	assert.Zero(t, b.CodesUsed())
	_, _, err = b.Redeem(coupon.CodeModeShared, "gs", 0, "c3_u3", "u3", hold, now)
	assert.ErrorIs(t, err, supply.ErrSoldOut)
}
