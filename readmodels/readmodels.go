// Package readmodels answers the HTTP query side from read-model tables (exposed as views in
// the public schema by the projection runner).
package readmodels

import (
	"context"
	"errors"
)

// Row is one result row.
type Row interface{ Scan(dest ...any) error }

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// DB is what queries need from the database.
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
}

// ErrNotFound is returned when the thing asked for does not exist (404).
var ErrNotFound = errors.New("not found")
