package history_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/domain/es"
	"github.com/loyaltyforge/loyalty/infra/eventstore/pgstore"
	"github.com/loyaltyforge/loyalty/infra/history"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

type appended struct {
	id, stream, typ string
	version         int64
}

func appendSome(t *testing.T, store *pgstore.Store, phase string, n int) []appended {
	t.Helper()
	var out []appended
	for i := range n {
		stream := fmt.Sprintf("%s-%d", []string{"points", "gift"}[i%2], i%3)
		typ := []string{"test.a.v1", "test.b.v2"}[i%2]
		e := es.EventData{ID: es.NewID(), Type: typ, Data: []byte(fmt.Sprintf(`{"phase":%q,"i":%d}`, phase, i)),
			Metadata: es.Metadata{Actor: "tester", CorrelationID: phase}}
		res, err := store.Append(context.Background(), stream, es.Any, []es.EventData{e})
		require.NoError(t, err)
		out = append(out, appended{id: e.ID, stream: stream, typ: typ, version: res.NextVersion})
	}
	return out
}

// settle waits until readers see every appended event: they stop below the oldest
// transaction running anywhere on the server, which other tests may hold open for a moment.
func settle(t *testing.T, store *pgstore.Store) {
	t.Helper()
	var last int64
	require.NoError(t, store.Pool().QueryRow(context.Background(), `SELECT coalesce(max(global_position), 0) FROM es_events`).Scan(&last))
	require.Eventually(t, func() bool {
		h, err := store.Head(context.Background())
		return err == nil && store.Public(h) >= last
	}, 20*time.Second, 10*time.Millisecond)
}

func dbNow(t *testing.T, store *pgstore.Store) time.Time {
	var now time.Time
	require.NoError(t, store.Pool().QueryRow(context.Background(), `SELECT clock_timestamp()`).Scan(&now))
	return now
}

func TestExportOfATimeRangeRoundTrips(t *testing.T) {
	// given a history written in three phases
	store := pgstore.New(pgtest.New(t))
	appendSome(t, store, "before", 4)
	from := dbNow(t, store)
	middle := appendSome(t, store, "middle", 7)
	to := dbNow(t, store)
	appendSome(t, store, "after", 4)
	settle(t, store)

	for _, src := range []struct {
		name string
		x    history.Exporter
	}{
		{"filter in PostgreSQL", history.Exporter{Store: store, Pool: store.Pool(), PageSize: 3}},
		{"filter over the store port", history.Exporter{Store: store, PageSize: 3}},
	} {
		t.Run(src.name, func(t *testing.T) {
			// when the middle phase is exported as JSON Lines
			var buf bytes.Buffer
			n, err := src.x.Export(context.Background(), &buf, history.JSONLines, history.Filter{From: from, To: to}, nil)
			require.NoError(t, err)

			// then every event of the range comes back once, in order, with its columns
			assert.Equal(t, int64(len(middle)), n)
			dec := json.NewDecoder(&buf)
			var last int64
			for i, want := range middle {
				var r history.Record
				require.NoError(t, dec.Decode(&r), "record %d", i)
				assert.Equal(t, want.id, r.EventID)
				assert.Equal(t, want.stream, r.StreamID)
				assert.Equal(t, want.version, r.StreamVersion)
				assert.Equal(t, want.typ, r.Type)
				assert.Equal(t, map[string]int{"test.a.v1": 1, "test.b.v2": 2}[want.typ], r.SchemaVersion)
				assert.Greater(t, r.Position, last)
				last = r.Position
				assert.False(t, r.RecordedAt.Before(from) || !r.RecordedAt.Before(to))
				var data struct {
					Phase string `json:"phase"`
					I     int    `json:"i"`
				}
				require.NoError(t, json.Unmarshal(r.Data, &data))
				assert.Equal(t, "middle", data.Phase)
				assert.Equal(t, i, data.I)
				assert.JSONEq(t, `{"actor":"tester","correlation_id":"middle"}`, string(r.Metadata))
			}
			assert.False(t, dec.More(), "nothing after the range")
		})
	}
}

func TestExportAsCSVFiltersByTypeAndStreamPrefix(t *testing.T) {
	// given a history of two types over two kinds of stream
	store := pgstore.New(pgtest.New(t))
	all := appendSome(t, store, "only", 12)
	var want []appended
	for _, a := range all {
		if a.typ == "test.a.v1" && a.stream[:6] == "points" {
			want = append(want, a)
		}
	}
	require.NotEmpty(t, want)
	settle(t, store)

	// when one type of the points streams is exported as CSV
	var buf bytes.Buffer
	_, err := history.Exporter{Store: store, Pool: store.Pool(), PageSize: 2}.Export(context.Background(), &buf, history.CSV,
		history.Filter{Types: []string{"test.a.v1"}, StreamPrefix: "points-"}, nil)
	require.NoError(t, err)

	// then the file has the header and exactly those events
	rows, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, len(want)+1)
	assert.Equal(t, history.Columns, rows[0])
	for i, w := range want {
		r := rows[i+1]
		assert.Equal(t, w.id, r[3])
		assert.Equal(t, w.stream, r[1])
		assert.Equal(t, strconv.FormatInt(w.version, 10), r[2])
		assert.Equal(t, "test.a.v1", r[4])
		assert.True(t, json.Valid([]byte(r[7])), r[7])
		_, err := time.Parse(time.RFC3339Nano, r[6])
		assert.NoError(t, err)
	}
}

func TestExportRejectsAnUnknownFormat(t *testing.T) {
	store := pgstore.New(pgtest.New(t))
	_, err := history.Exporter{Store: store}.Export(context.Background(), &bytes.Buffer{}, "xml", history.Filter{}, nil)
	assert.ErrorContains(t, err, "xml")
}
