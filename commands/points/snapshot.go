package points

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/loyaltyforge/loyalty/domain/points"
)

// SnapshotStore keeps the latest snapshot of each account stream. Snapshots are a cache of
// the state at a stream version, never the record: the event log is the only record, and a
// missing, damaged or foreign snapshot only costs a full replay. data starts with its format
// byte (SnapshotFormat), which a store may keep apart to find and purge old formats.
type SnapshotStore interface {
	Load(ctx context.Context, stream string) (version int64, data []byte, ok bool, err error)
	Save(ctx context.Context, stream string, version int64, data []byte) error
}

// SnapshotFormat is the first byte of every snapshot this code writes; a snapshot of any
// other format is ignored. Bump it whenever the state a stream replays to changes, such as a
// fix in points.Account.Apply or a new field of the state, not only when the bytes change:
// the domain's own snapshot version only says whether the bytes can be read, not whether
// the state they hold is what replaying the stream would give today.
const SnapshotFormat byte = 1

// Snapshot layout: SnapshotFormat, uvarint len(event id), the id of the event at the
// snapshot's version, then points.Account.Snapshot(). The event id lets a load check that the
// stream still holds the history the snapshot was taken from (a restored or rewritten database
// keeps versions but not ids).

var errBadEnvelope = errors.New("points: bad snapshot envelope")

func encodeSnapshot(eventID string, acct *points.Account) ([]byte, error) {
	state, err := acct.Snapshot()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(eventID)+len(state))
	out = append(out, SnapshotFormat)
	out = binary.AppendUvarint(out, uint64(len(eventID)))
	out = append(out, eventID...)
	return append(out, state...), nil
}

func decodeSnapshot(data []byte) (string, *points.Account, error) {
	if len(data) == 0 || data[0] != SnapshotFormat {
		return "", nil, fmt.Errorf("%w: format", errBadEnvelope)
	}
	n, k := binary.Uvarint(data[1:])
	if k <= 0 || n == 0 || n > uint64(len(data)-1-k) {
		return "", nil, fmt.Errorf("%w: event id", errBadEnvelope)
	}
	rest := data[1+k:]
	acct, err := points.FromSnapshot(rest[n:])
	if err != nil {
		return "", nil, err
	}
	return string(rest[:n]), acct, nil
}

// restore puts the stored snapshot of acc's stream into acc (empty, locked) and reports
// whether it did. The caller must still check the snapshot's event against the stream. Any
// failure is logged and leaves acc empty: the load replays instead.
func (h *Handler) restore(ctx context.Context, acc *account) bool {
	if h.snaps == nil {
		return false
	}
	stream := points.Stream(acc.user)
	version, data, ok, err := h.snaps.Load(ctx, stream)
	if err != nil {
		h.log.Warn("points: snapshot not loaded; replaying", "stream", stream, "err", err)
		return false
	}
	if !ok || version <= 0 {
		return false
	}
	id, acct, err := decodeSnapshot(data)
	if err != nil {
		h.log.Info("points: snapshot ignored; replaying", "stream", stream, "version", version, "err", err)
		return false
	}
	acc.acct, acc.version, acc.lastID, acc.snapVersion = acct, version, id, version
	acc.closedAt = closedAtRestore(acct, version)
	return true
}

// maybeSnapshot asks the writer for a snapshot once a cold load would replay more than
// snapEvery events. It never waits: with the queue full the request is dropped and the next
// command on the account asks again. acc is locked.
func (h *Handler) maybeSnapshot(acc *account) {
	if acc.version-acc.snapVersion < h.snapEvery {
		return
	}
	h.queueSnapshot(acc)
}

// queueSnapshot asks the writer for a snapshot of acc now, if it can be taken. acc is locked.
func (h *Handler) queueSnapshot(acc *account) {
	if h.snapQ == nil || acc.snapQueued || !acc.loaded || acc.lastID == "" {
		return
	}
	select {
	case h.snapQ <- acc:
		acc.snapQueued = true
	default:
	}
}

// writeSnapshots is the writer: one goroutine, so snapshots cost at most one core's share
// and one connection however many accounts cross the threshold at once.
func (h *Handler) writeSnapshots(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case acc := <-h.snapQ:
			h.writeSnapshot(ctx, acc)
		}
	}
}

func (h *Handler) writeSnapshot(ctx context.Context, acc *account) {
	// The state is encoded under the account's lock (a command on this account waits for
	// it, once per snapEvery events) and saved without it.
	acc.mu.Lock()
	ok := acc.loaded && acc.acct != nil && acc.lastID != ""
	var (
		version int64
		data    []byte
		err     error
	)
	if ok {
		version = acc.version
		data, err = encodeSnapshot(acc.lastID, acc.acct)
	}
	acc.mu.Unlock()
	stream := points.Stream(acc.user)
	if ok && err == nil {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = h.snaps.Save(sctx, stream, version, data)
		cancel()
	}
	if err != nil && ctx.Err() == nil {
		h.log.Warn("points: snapshot not saved", "stream", stream, "version", version, "err", err)
	}
	acc.mu.Lock()
	acc.snapQueued = false
	if ok {
		// Also after a failure: the next try comes snapEvery events later, not on every
		// command while the store is down.
		acc.snapVersion = max(acc.snapVersion, version)
	}
	acc.mu.Unlock()
}

// Close stops the snapshot writer and the closer; what they still had queued is dropped
// (a close in flight finishes or is cancelled). Commands keep working.
func (h *Handler) Close() {
	h.stop()
	h.background.Wait()
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
