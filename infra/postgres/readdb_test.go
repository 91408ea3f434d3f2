package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loyaltyforge/loyalty/infra/postgres"
	"github.com/loyaltyforge/loyalty/infra/postgres/pgtest"
)

func TestReadDBRunsQueriesOnThePool(t *testing.T) {
	db := postgres.ReadDB(pgtest.New(t))
	ctx := context.Background()

	var sum int
	require.NoError(t, db.QueryRow(ctx, `SELECT $1::int + $2::int`, 2, 3).Scan(&sum))

	rows, err := db.Query(ctx, `SELECT n FROM generate_series(1, $1::int) AS n`, 3)
	require.NoError(t, err)
	defer rows.Close()
	var got []int
	for rows.Next() {
		var n int
		require.NoError(t, rows.Scan(&n))
		got = append(got, n)
	}

	require.NoError(t, rows.Err())
	assert.Equal(t, 5, sum)
	assert.Equal(t, []int{1, 2, 3}, got)
}

func TestReadDBReportsQueryErrors(t *testing.T) {
	db := postgres.ReadDB(pgtest.New(t))

	_, err := db.Query(context.Background(), `SELECT * FROM no_such_table`)

	assert.ErrorContains(t, err, "no_such_table")
}
