package coupon_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	couponcmd "github.com/loyaltyforge/loyalty/commands/coupon"
	"github.com/loyaltyforge/loyalty/domain/coupon"
	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/couponcodes"
	"github.com/loyaltyforge/loyalty/infra/issuance"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// newCodeEnvs wires n handler sets on one database, as n loyaltyd processes would be: each
// with its own hot writers, all with the production code store.
func newCodeEnvs(t *testing.T, n int) []*env {
	t.Helper()
	pool := pgtest.New(t, 48)
	envs := make([]*env, n)
	for i := range envs {
		envs[i] = newEnvOn(pool, couponcmd.Options{Wallets: issuance.Wallets{Pool: pool}, Codes: couponcodes.Store{Pool: pool}})
		envs[i].clock = envs[0].clock
	}
	return envs
}

func codeSpec(total int64, limit int, mode coupon.CodeMode, shared string) coupon.BatchSpec {
	s := spec(total, limit)
	s.CodeMode, s.SharedCode = mode, shared
	return s.WithDefaults()
}

func (e *env) codes(t *testing.T, batchID string) []string {
	t.Helper()
	var buf bytes.Buffer
	started := false
	require.NoError(t, e.h.ExportCodes(context.Background(), batchID, func() { started = true }, &buf))
	require.True(t, started)
	var out []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// TestAUniqueCodeRedeemedBy50AtOnceGoesToOne: fifty members (on two processes) redeem the same
// single-use code at the same moment; one gets the coupon, 49 hear code_used, the batch has
// issued one unit and one code is taken.
func TestAUniqueCodeRedeemedBy50AtOnceGoesToOne(t *testing.T) {
	envs := newCodeEnvs(t, 2)
	e := envs[0]
	e.createBatch(t, "u50", codeSpec(100, 1, coupon.CodeModeUnique, ""))
	codes := e.codes(t, "u50")
	require.Len(t, codes, 100)

	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		won, used  int
		winnerUser string
	)
	start := make(chan struct{})
	for i := range 50 {
		wg.Go(func() {
			<-start
			user := fmt.Sprintf("m%d", i)
			got, _, err := envs[i%2].h.Redeem(context.Background(), couponcmd.RedeemCode{UserID: user, Code: codes[7]})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
				winnerUser = user
				assert.Equal(t, "u50", got.BatchID)
			case errors.Is(err, coupon.ErrCodeUsed):
				used++
			default:
				t.Errorf("redeem by %s: %v", user, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, x := range envs {
		x.h.WaitCommits()
	}

	assert.Equal(t, 1, won)
	assert.Equal(t, 49, used)
	b := e.batch(t, "u50")
	assert.Equal(t, int64(1), b.Supply().Committed()+b.Supply().Reserved())
	assert.Equal(t, 1, b.CodesUsed())
	held := 0
	for i := range 50 {
		held += len(e.wallet(t, fmt.Sprintf("m%d", i)).Coupons(""))
	}
	assert.Equal(t, 1, held)
	assert.Len(t, e.wallet(t, winnerUser).Coupons(""), 1)

	// The other codes still work; lower case too.
	_, _, err := envs[1].h.Redeem(context.Background(), couponcmd.RedeemCode{UserID: "late", Code: " " + toLower(codes[8]) + " "})
	assert.NoError(t, err)
}

// TestASharedCodeFlashNeverIssuesMoreThanTotal: 120 members (on two processes) redeem one shared
// code of a 30-coupon batch at once: exactly 30 coupons, the rest sold out.
func TestASharedCodeFlashNeverIssuesMoreThanTotal(t *testing.T) {
	envs := newCodeEnvs(t, 2)
	e := envs[0]
	e.createBatch(t, "flash", codeSpec(30, 1, coupon.CodeModeShared, "Flash-30"))

	var (
		wg            sync.WaitGroup
		mu            sync.Mutex
		won, soldOut  int
		otherFailures []error
		start         = make(chan struct{})
		spellings     = []string{"FLASH-30", "flash-30", "Flash-30 "}
	)
	for i := range 120 {
		wg.Go(func() {
			<-start
			_, _, err := envs[i%2].h.Redeem(context.Background(), couponcmd.RedeemCode{UserID: fmt.Sprintf("f%d", i), Code: spellings[i%3]})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, couponcmd.ErrSoldOut):
				soldOut++
			default:
				otherFailures = append(otherFailures, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, x := range envs {
		x.h.WaitCommits()
	}
	assert.Empty(t, otherFailures)
	assert.Equal(t, 30, won)
	assert.Equal(t, 90, soldOut)
	b := e.batch(t, "flash")
	assert.Equal(t, int64(30), b.Supply().Committed())
	assert.Zero(t, b.Supply().Reserved())
	held := 0
	for i := range 120 {
		held += len(e.wallet(t, fmt.Sprintf("f%d", i)).Coupons(""))
	}
	assert.Equal(t, 30, held)

	// The batch cannot be claimed by its id, code or not.
	_, _, err := e.h.Claim(context.Background(), couponcmd.ClaimCoupon{BatchID: "flash", UserID: "direct"})
	assert.ErrorIs(t, err, coupon.ErrNotEligible)
}

func TestRedeemKeepsTheClaimRules(t *testing.T) {
	e := newCodeEnvs(t, 1)[0]
	ctx := context.Background()
	redeem := func(user, code string) error {
		_, _, err := e.h.Redeem(ctx, couponcmd.RedeemCode{UserID: user, Code: code})
		return err
	}
	// per_user_limit 1: a shared code once per member.
	e.createBatch(t, "s1", codeSpec(10, 1, coupon.CodeModeShared, "ONCE"))
	require.NoError(t, redeem("a", "once"))
	assert.ErrorIs(t, redeem("a", "ONCE"), coupon.ErrClaimLimitReached)

	// The claim window, as for a claim.
	late := codeSpec(10, 1, coupon.CodeModeShared, "LATER")
	late.ClaimStartsAt, late.ClaimEndsAt = t0.Add(1e12), t0.Add(2e12)
	e.createBatch(t, "s2", late)
	assert.ErrorIs(t, redeem("a", "LATER"), coupon.ErrClaimWindowClosed)

	// The audience, as for a claim.
	vip := codeSpec(10, 1, coupon.CodeModeUnique, "")
	vip.Audience = coupon.AudienceAllowlist
	e.createBatch(t, "vip", vip)
	vipCodes := e.codes(t, "vip")
	assert.ErrorIs(t, redeem("a", vipCodes[0]), coupon.ErrNotEligible)
	assert.Equal(t, 0, e.batch(t, "vip").CodesUsed(), "a refused member takes no code")

	// A unique code: the same member's second try is code_used; a taken code stays taken.
	e.createBatch(t, "u1", codeSpec(3, 2, coupon.CodeModeUnique, ""))
	codes := e.codes(t, "u1")
	require.NoError(t, redeem("a", codes[0]))
	assert.ErrorIs(t, redeem("a", codes[0]), coupon.ErrCodeUsed)
	assert.ErrorIs(t, redeem("b", codes[0]), coupon.ErrCodeUsed)
	// per_user_limit 2 of the batch: the third code of one member is refused, and its code
	// is given back for someone else.
	require.NoError(t, redeem("a", codes[1]))
	assert.ErrorIs(t, redeem("a", codes[2]), coupon.ErrClaimLimitReached)
	require.NoError(t, redeem("b", codes[2]))

	// Unknown and malformed codes are alike.
	for _, c := range []string{"2345ABCDEFGH", "nope", "", "ABCD EFGH", codes[0][:11], "ONCE-", "x' OR '1'='1"} {
		assert.ErrorIs(t, redeem("a", c), coupon.ErrCodeNotFound, "%q", c)
	}
	// With a retry key the same redemption lands once.
	e.createBatch(t, "k1", codeSpec(5, 5, coupon.CodeModeUnique, ""))
	kc := e.codes(t, "k1")
	first, _, err := e.h.Redeem(ctx, couponcmd.RedeemCode{UserID: "c", Code: kc[0], Key: "k"})
	require.NoError(t, err)
	again, _, err := e.h.Redeem(ctx, couponcmd.RedeemCode{UserID: "c", Code: kc[0], Key: "k"})
	require.NoError(t, err)
	assert.Equal(t, first.ID, again.ID)
	assert.Len(t, e.wallet(t, "c").Coupons(""), 1)
}

func TestCodeBatchCreation(t *testing.T) {
	e := newCodeEnvs(t, 1)[0]
	ctx := context.Background()
	meta := es.Metadata{Actor: "admin"}
	e.createBatch(t, "s1", codeSpec(10, 1, coupon.CodeModeShared, "SUMMER10"))
	_, err := e.h.CreateBatch(ctx, "s2", codeSpec(10, 1, coupon.CodeModeShared, "summer10"), meta)
	assert.ErrorIs(t, err, couponcmd.ErrSharedCodeInUse, "unique among open batches, ignoring case")

	e.createBatch(t, "u1", codeSpec(25, 1, coupon.CodeModeUnique, ""))
	first := e.codes(t, "u1")
	require.Len(t, first, 25)
	// The same id again: refused, and the existing batch keeps its codes.
	_, err = e.h.CreateBatch(ctx, "u1", codeSpec(25, 1, coupon.CodeModeUnique, ""), meta)
	assert.ErrorIs(t, err, coupon.ErrBatchExists)
	assert.Equal(t, first, e.codes(t, "u1"))
	var rows int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM coupon_codes`).Scan(&rows))
	assert.Equal(t, 25, rows)

	e.createBatch(t, "plain", spec(5, 1))
	err = e.h.ExportCodes(ctx, "plain", func() { t.Error("started an export of a batch without codes") }, &bytes.Buffer{})
	assert.ErrorIs(t, err, couponcmd.ErrNoCodes)
	err = e.h.ExportCodes(ctx, "s1", func() { t.Error("started an export of a shared-code batch") }, &bytes.Buffer{})
	assert.ErrorIs(t, err, couponcmd.ErrNoCodes)
	err = e.h.ExportCodes(ctx, "none", func() {}, &bytes.Buffer{})
	assert.ErrorIs(t, err, coupon.ErrBatchNotFound)
}

func toLower(s string) string { return string(bytes.ToLower([]byte(s))) }

// TestTheCodesOfACreationThatDiedAreSwept: a process that stored a batch's codes and died
// before appending the batch leaves codes no batch owns; the sweeper deletes them, and leaves
// the codes of real batches (recording one whose attachment was not recorded).
func TestTheCodesOfACreationThatDiedAreSwept(t *testing.T) {
	e := newCodeEnvs(t, 1)[0]
	ctx := context.Background()
	store := couponcodes.Store{Pool: e.pool}
	e.createBatch(t, "real", codeSpec(30, 1, coupon.CodeModeUnique, ""))
	e.createBatch(t, "shared", codeSpec(30, 1, coupon.CodeModeShared, "KEEP-ME"))
	require.NoError(t, store.GenerateUnique(ctx, "ghost", "g-ghost", 40)) // ... and the process died
	_, err := e.pool.Exec(ctx, `UPDATE coupon_code_generations SET attached = false WHERE batch_id = 'real'`)
	require.NoError(t, err) // as if recording the attachment had failed

	young, err := e.h.SweepCodeOrphans(ctx, couponcmd.OrphanAge)
	require.NoError(t, err)
	assert.Zero(t, young, "a creation may still be storing its codes")
	deleted, err := e.h.SweepCodeOrphans(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, deleted)

	count := func(q string) int {
		var n int
		require.NoError(t, e.pool.QueryRow(ctx, q).Scan(&n))
		return n
	}
	assert.Zero(t, count(`SELECT count(*) FROM coupon_codes WHERE batch_id = 'ghost'`))
	assert.Equal(t, 30, count(`SELECT count(*) FROM coupon_codes WHERE batch_id = 'real'`))
	assert.Equal(t, 1, count(`SELECT count(*) FROM coupon_shared_codes WHERE batch_id = 'shared'`))
	assert.Zero(t, count(`SELECT count(*) FROM coupon_code_generations WHERE NOT attached`))
	codes := e.codes(t, "real")
	_, _, err = e.h.Redeem(ctx, couponcmd.RedeemCode{UserID: "u", Code: codes[0]})
	assert.NoError(t, err)
}

// TestAClosedBatchLetsGoOfItsSharedCode: shared codes are unique among open batches; once a
// batch is closed, a new batch may take its code and redemptions go to the new one.
func TestAClosedBatchLetsGoOfItsSharedCode(t *testing.T) {
	e := newCodeEnvs(t, 1)[0]
	ctx := context.Background()
	meta := es.Metadata{Actor: "admin"}
	e.createBatch(t, "old", codeSpec(10, 1, coupon.CodeModeShared, "SPRING"))
	_, err := e.h.CloseBatch(ctx, "old", meta)
	require.NoError(t, err)
	_, _, err = e.h.Redeem(ctx, couponcmd.RedeemCode{UserID: "a", Code: "spring"})
	assert.ErrorIs(t, err, coupon.ErrBatchClosed, "the closed batch's code answers batch_closed")

	_, err = e.h.CreateBatch(ctx, "new", codeSpec(10, 1, coupon.CodeModeShared, "SPRING"), meta)
	assert.ErrorIs(t, err, couponcmd.ErrSharedCodeInUse, "within its first minute a code's row may belong to a creation still running")
	_, err = e.pool.Exec(ctx, `UPDATE coupon_shared_codes SET created_at = now() - interval '2 minutes'`)
	require.NoError(t, err)
	// The new batch's window ends before the closed one's would have: the look-up finds the
	// closed batch first, and the redemption must still go to the open one.
	newer := codeSpec(10, 1, coupon.CodeModeShared, "SPRING")
	newer.ClaimEndsAt = t0.Add(30 * time.Minute)
	e.createBatch(t, "new", newer)
	for _, user := range []string{"a", "b", "c"} {
		got, _, err := e.h.Redeem(ctx, couponcmd.RedeemCode{UserID: user, Code: "Spring"})
		require.NoError(t, err)
		assert.Equal(t, "new", got.BatchID)
	}
	_, err = e.h.CreateBatch(ctx, "newer", codeSpec(10, 1, coupon.CodeModeShared, "SPRING"), meta)
	assert.ErrorIs(t, err, couponcmd.ErrSharedCodeInUse, "the open batch holds it")
}
