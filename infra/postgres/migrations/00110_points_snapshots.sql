-- +goose Up
-- Snapshots of points accounts (commands/points): the state of "points-{user}" at a stream
-- version, so loading a long account reads one row and only the events after it. A cache, never
-- the record: the event log is. Any row may be deleted at any time (TRUNCATE invalidates them
-- all); a missing, damaged or old-format row only means a full replay. format is the first byte
-- of data, kept apart so old formats can be found and purged.
CREATE TABLE points_snapshots (
    stream_id text        PRIMARY KEY,
    version   bigint      NOT NULL,
    format    integer     NOT NULL,
    data      bytea       NOT NULL,
    saved_at  timestamptz NOT NULL DEFAULT now()
);
-- Most of a snapshot is hashed idempotency keys, which do not compress: storing it out of line
-- without compression saves the CPU on every save and load.
ALTER TABLE points_snapshots ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE points_snapshots;
