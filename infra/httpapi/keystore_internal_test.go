package httpapi

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

// keyTableStats reads what statements of this connection did to http_idempotency_keys: rows read
// (by sequential and index scans), rows updated and of those the ones updated on their own page
// (HOT, no index entry written). The pool has one connection, so every statement before ran on it;
// pg_stat_force_next_flush makes it publish its counts at the end of that statement.
func keyTableStats(t *testing.T, pool *pgxpool.Pool) (read, updated, hot int64) {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0), n_tup_upd, n_tup_hot_upd
		FROM pg_stat_user_tables WHERE relid = 'http_idempotency_keys'::regclass`).Scan(&read, &updated, &hot))
	return read, updated, hot
}

// An answer stored under load, 64 claims ahead of their answers as 64 clients make them, stays
// on its claim's page: the update writes no index entry. Planted: with fillfactor 100, 5 of 512
// stay on their page; with the old completed_at index, none.
func TestKeyedRequestsStoreTheirAnswersInPlace(t *testing.T) {
	pool := pgtest.New(t, 1)
	k := newKeyStore(pool, false)
	ctx := context.Background()
	_, upd0, hot0 := keyTableStats(t, pool)

	const rounds, clients = 8, 64
	body := []byte(`{"exchange_id":"0a1b2c3d-4e5f-8a6b-9c7d-0e1f2a3b4c5d","status":"accepted","points_spent":100}`)
	headers := []byte(`{"Content-Type":"application/json","X-Loyalty-Position":"123456789"}`)
	for round := range rounds {
		claims := make([]*claimReq, clients)
		for c := range claims {
			claims[c] = &claimReq{sub: es.NewID(), key: fmt.Sprintf("bench-%d-%d", round, c), owner: es.NewID(), hash: make([]byte, 32)}
		}
		require.NoError(t, k.claimGroup(ctx, claims))
		answers := make([]*completeReq, clients)
		for c, cl := range claims {
			require.True(t, cl.claimed)
			answers[c] = &completeReq{sub: cl.sub, key: cl.key, owner: cl.owner, status: 202, headers: headers, body: body}
		}
		require.NoError(t, k.completeGroup(ctx, answers))
	}

	_, upd, hot := keyTableStats(t, pool)
	var stored int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM http_idempotency_keys WHERE status = 202 AND body IS NOT NULL`).Scan(&stored))
	assert.Equal(t, rounds*clients, stored, "every answer is stored")
	assert.Equal(t, int64(rounds*clients), upd-upd0)
	assert.GreaterOrEqual(t, hot-hot0, int64(rounds*clients*9/10), "answers updated in place: %d of %d", hot-hot0, upd-upd0)
}

// The heartbeat reads the claims it keeps alive, not the table: a day of finished keys lies
// beside them (planted, finding them by owner: it reads all 5,000 rows every beat).
func TestTheHeartbeatReadsOnlyTheClaimsItKeepsAlive(t *testing.T) {
	pool := pgtest.New(t, 1)
	k := newKeyStore(pool, false)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO http_idempotency_keys (subject, key, request_hash, owner, status, body, completed_at)
		SELECT 'member-' || (i % 100), 'done-' || i, '\x00', gen_random_uuid(), 202, '{}', now()
		FROM generate_series(1, 5000) i`)
	require.NoError(t, err)
	claims := []*claimReq{
		{sub: "member-1", key: "running-1", owner: es.NewID(), hash: []byte{1}},
		{sub: "member-2", key: "running-2", owner: es.NewID(), hash: []byte{2}},
	}
	require.NoError(t, k.claimGroup(ctx, claims))
	_, err = pool.Exec(ctx, `ANALYZE http_idempotency_keys`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE http_idempotency_keys SET heartbeat_at = now() - interval '1 minute' WHERE key LIKE 'running-%'`)
	require.NoError(t, err)

	read0, _, _ := keyTableStats(t, pool)
	require.NoError(t, k.beatOnce(ctx, []string{"member-1", "member-2"}, []string{"running-1", "running-2"},
		[]string{claims[0].owner, claims[1].owner}))
	read, _, _ := keyTableStats(t, pool)

	var fresh int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM http_idempotency_keys
		WHERE key LIKE 'running-%' AND heartbeat_at > now() - interval '10 seconds'`).Scan(&fresh))
	assert.Equal(t, 2, fresh, "both claims beat")
	assert.LessOrEqual(t, read-read0, int64(8), "rows read by one beat")
}
