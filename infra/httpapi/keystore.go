package httpapi

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loyaltyforge/loyalty/infra/grouping"
)

// keyStore writes Idempotency-Key claims and answers in groups: requests that claim or complete
// a key while another group is being written go together into the next statement, so under load
// a keyed request costs a fraction of a commit instead of two. Each request still waits for its
// own row to be durable before it goes on, which keeps the contract: once a client has an
// answer, a retry replays it.
type keyStore struct {
	pool *pgxpool.Pool

	claims    grouping.Runner[claimReq]
	completes grouping.Runner[completeReq]

	// Keys claimed by requests of this process that are still running or whose answer is still
	// to be stored: their heartbeat keeps other processes from taking them over.
	liveMu sync.Mutex
	live   map[string]*liveClaim // by owner token
	beat   bool                  // a heartbeat loop runs

	beatEvery, abandonAfter time.Duration // heartbeatEvery and abandonedAfter when it was made

	asyncClaims bool // Options.ClaimsFlushedByCommands
}

// Heartbeats: a running request's claim is refreshed every heartbeatEvery; a claim not refreshed
// for abandonedAfter belongs to a process that died and may be taken over by a retry.
// Variables, not constants, so tests can shorten them; a key store copies them when it is made.
var (
	heartbeatEvery = 5 * time.Second
	abandonedAfter = 30 * time.Second
)

func newKeyStore(pool *pgxpool.Pool, asyncClaims bool) *keyStore {
	k := &keyStore{pool: pool, asyncClaims: asyncClaims, live: map[string]*liveClaim{}, beatEvery: heartbeatEvery, abandonAfter: abandonedAfter}
	k.claims = grouping.Runner[claimReq]{Parallel: 2, Max: maxKeyGroup, Run: func(reqs []*claimReq) error {
		return eachOnRefusal(reqs, k.claimGroup, func(r *claimReq, err error) { r.err = err })
	}}
	k.completes = grouping.Runner[completeReq]{Parallel: 2, Max: maxKeyGroup, Run: func(reqs []*completeReq) error {
		return eachOnRefusal(reqs, k.completeGroup, func(r *completeReq, err error) { r.err = err })
	}}
	return k
}

type claimReq struct {
	sub, key, owner string
	hash            []byte
	claimed         bool
	err             error // its own error when the group was refused and it ran alone
}

type completeReq struct {
	sub, key, owner string
	status          int
	headers         []byte
	body            []byte
	err             error // its own error when the group was refused and it ran alone
}

// maxKeyGroup bounds one statement's rows.
const maxKeyGroup = 256

// eachOnRefusal writes reqs in one statement; if the server refuses it (one bad row), each
// request is written alone and keeps its own error.
func eachOnRefusal[R any](reqs []*R, write func(ctx context.Context, reqs []*R) error, setErr func(*R, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := write(ctx, reqs)
	var pgErr *pgconn.PgError
	if err == nil || len(reqs) == 1 || !errors.As(err, &pgErr) {
		return err
	}
	for _, r := range reqs {
		setErr(r, write(ctx, []*R{r}))
	}
	return nil
}

// claim inserts the key for owner, or takes over an abandoned claim of the same request.
func (k *keyStore) claim(ctx context.Context, sub, key, owner string, hash []byte) (bool, error) {
	r := &claimReq{sub: sub, key: key, owner: owner, hash: hash}
	if err := k.claims.Do(ctx, r); err != nil {
		return false, err
	}
	return r.claimed, r.err
}

func (k *keyStore) claimGroup(ctx context.Context, reqs []*claimReq) error {
	// One statement may not touch a row twice: a second claim of one key in the same group
	// loses, as it would have one statement later.
	type id struct{ sub, key string }
	first := map[id]bool{}
	var subs, keys, owners []string
	var hashes [][]byte
	for _, r := range reqs {
		if first[id{r.sub, r.key}] {
			continue
		}
		first[id{r.sub, r.key}] = true
		subs, keys, owners, hashes = append(subs, r.sub), append(keys, r.key), append(owners, r.owner), append(hashes, r.hash)
	}
	// A claim's commit need not wait for its WAL to reach the disk when the command commits
	// its events to this database: whatever the command then makes durable (its events, or
	// its stored answer) is committed later in the same log, so it flushes the claim with it,
	// and a claim lost in a database crash had nothing durable behind it. (Events kept in
	// another store would not flush it.) The statements share one round trip and one implicit
	// transaction, to which set_config(..., true) confines the setting.
	b := &pgx.Batch{}
	if k.asyncClaims {
		b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	}
	b.Queue(`
		INSERT INTO http_idempotency_keys AS k (subject, key, request_hash, owner)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[]::uuid[])
		ON CONFLICT (subject, key) DO UPDATE
		SET started_at = now(), heartbeat_at = now(), owner = excluded.owner
		WHERE k.status IS NULL AND k.request_hash = excluded.request_hash
		  AND k.heartbeat_at < now() - make_interval(secs => $5)
		RETURNING owner::text`, subs, keys, hashes, owners, k.abandonAfter.Seconds())
	br := k.pool.SendBatch(ctx, b)
	won, err := claimed(br, k.asyncClaims)
	// Close reads to the end of the batch: its commit.
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, r := range reqs {
		r.claimed = won[r.owner]
	}
	return nil
}

// claimed reads the owners whose claim the batch's insert took.
func claimed(br pgx.BatchResults, setting bool) (map[string]bool, error) {
	if setting {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	won := map[string]bool{}
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			rows.Close()
			return nil, err
		}
		won[o] = true
	}
	rows.Close()
	return won, rows.Err()
}

// complete stores the answer of owner's request.
func (k *keyStore) complete(ctx context.Context, r *completeReq) error {
	r.err = nil // a retried answer: forget the last try's refusal
	if err := k.completes.Do(ctx, r); err != nil {
		return err
	}
	return r.err
}

func (k *keyStore) completeGroup(ctx context.Context, reqs []*completeReq) error {
	subs, keys, owners := make([]string, len(reqs)), make([]string, len(reqs)), make([]string, len(reqs))
	statuses := make([]int32, len(reqs))
	headers, bodies := make([]string, len(reqs)), make([][]byte, len(reqs))
	for i, r := range reqs {
		subs[i], keys[i], owners[i], statuses[i], headers[i], bodies[i] = r.sub, r.key, r.owner, int32(r.status), string(r.headers), r.body
	}
	_, err := k.pool.Exec(ctx, `SELECT http_idempotency_complete($1, $2, $3::text[]::uuid[], $4, $5, $6)`,
		subs, keys, owners, statuses, headers, bodies)
	return err
}

// free deletes owner's claim so that a retry runs the command (the request answered 5xx).
func (k *keyStore) free(ctx context.Context, sub, key, owner string) error {
	_, err := k.pool.Exec(ctx, `DELETE FROM http_idempotency_keys
		WHERE subject = $1 AND key = $2 AND owner = $3::text::uuid AND status IS NULL`, sub, key, owner)
	return err
}

// liveClaim is a claim of this process that the heartbeat keeps alive.
type liveClaim struct {
	sub, key string
	refs     int
}

// hold keeps owner's claim of (sub, key) alive until release is called.
func (k *keyStore) hold(sub, key, owner string) {
	k.liveMu.Lock()
	defer k.liveMu.Unlock()
	if c := k.live[owner]; c != nil {
		c.refs++
	} else {
		k.live[owner] = &liveClaim{sub: sub, key: key, refs: 1}
	}
	if !k.beat {
		k.beat = true
		go k.heartbeat()
	}
}

func (k *keyStore) release(owner string) {
	k.liveMu.Lock()
	defer k.liveMu.Unlock()
	if c := k.live[owner]; c != nil {
		if c.refs--; c.refs <= 0 {
			delete(k.live, owner)
		}
	}
}

// heartbeat refreshes the live claims of this process in one statement per period, and stops
// when none is left.
func (k *keyStore) heartbeat() {
	t := time.NewTicker(k.beatEvery)
	defer t.Stop()
	for range t.C {
		k.liveMu.Lock()
		if len(k.live) == 0 {
			k.beat = false
			k.liveMu.Unlock()
			return
		}
		var subs, keys, owners []string
		for o, c := range k.live {
			subs, keys, owners = append(subs, c.sub), append(keys, c.key), append(owners, o)
		}
		k.liveMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), k.beatEvery)
		// A failed beat is retried next period; a claim survives abandonedAfter of them.
		_ = k.beatOnce(ctx, subs, keys, owners)
		cancel()
	}
}

// beatOnce refreshes the given claims. It finds them by primary key: the table holds a day of
// keys, and finding them by owner read all of it every period (347 ms a beat after 15 s of the
// exchange benchmark, holding row locks the answers being stored waited for). A claim whose row
// is locked is skipped rather than waited for: whoever holds it is storing its answer or
// freeing it, and waiting could deadlock with a group doing that to two of these claims.
func (k *keyStore) beatOnce(ctx context.Context, subs, keys, owners []string) error {
	_, err := k.pool.Exec(ctx, `
		UPDATE http_idempotency_keys k SET heartbeat_at = now()
		FROM (SELECT c.subject, c.key
		      FROM unnest($1::text[], $2::text[], $3::text[]::uuid[]) AS u(subject, key, owner)
		      JOIN http_idempotency_keys c ON c.subject = u.subject AND c.key = u.key AND c.owner = u.owner
		      WHERE c.status IS NULL
		      FOR UPDATE OF c SKIP LOCKED) l
		WHERE k.subject = l.subject AND k.key = l.key`, subs, keys, owners)
	return err
}
