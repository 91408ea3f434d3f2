-- +goose Up
-- The event log. global_position is a sequence, which commits out of order; tx_id (the writing
-- transaction) lets readers stop below the oldest transaction still in flight, so a reader ordered
-- by (tx_id, global_position) never passes an event that commits late (DESIGN rule 3).
CREATE TABLE es_events (
    global_position bigserial   PRIMARY KEY,
    tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL,
    event_id        uuid        NOT NULL UNIQUE,
    event_type      text        NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream_id, stream_version)
);
CREATE UNIQUE INDEX es_events_commit_order ON es_events (tx_id, global_position);
CREATE INDEX es_events_type ON es_events (event_type, global_position);

-- One row per stream: the optimistic-concurrency check is a single-row update.
CREATE TABLE es_streams (
    stream_id text   PRIMARY KEY,
    version   bigint NOT NULL
);

-- +goose StatementBegin
-- es_append writes a batch of events to one stream in one round trip. Expected: -1 any, 0 no
-- stream, n exactly n events. A mismatch raises SQLSTATE LY001 with the actual version as DETAIL.
CREATE FUNCTION es_append(p_stream text, p_expected bigint, p_ids uuid[], p_types text[],
                          p_data jsonb[], p_meta jsonb[])
RETURNS TABLE (next_version bigint, tx text, last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    n   bigint := cardinality(p_ids);
    cur bigint;
    act bigint;
BEGIN
    IF p_expected = -1 THEN
        INSERT INTO es_streams AS s (stream_id, version) VALUES (p_stream, n)
        ON CONFLICT (stream_id) DO UPDATE SET version = s.version + n
        RETURNING s.version - n INTO cur;
    ELSIF p_expected = 0 THEN
        INSERT INTO es_streams (stream_id, version) VALUES (p_stream, n) ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            SELECT version INTO act FROM es_streams WHERE stream_id = p_stream;
            RAISE EXCEPTION 'wrong expected version' USING ERRCODE = 'LY001', DETAIL = act::text;
        END IF;
        cur := 0;
    ELSE
        UPDATE es_streams SET version = version + n WHERE stream_id = p_stream AND version = p_expected;
        IF NOT FOUND THEN
            SELECT version INTO act FROM es_streams WHERE stream_id = p_stream;
            RAISE EXCEPTION 'wrong expected version' USING ERRCODE = 'LY001', DETAIL = coalesce(act, 0)::text;
        END IF;
        cur := p_expected;
    END IF;
    RETURN QUERY
    WITH ins AS (
        INSERT INTO es_events (stream_id, stream_version, event_id, event_type, data, metadata)
        SELECT p_stream, cur + i, p_ids[i], p_types[i], p_data[i], p_meta[i]
        FROM generate_subscripts(p_ids, 1) AS i
        ORDER BY i
        RETURNING global_position
    )
    SELECT cur + n, pg_current_xact_id()::text, max(ins.global_position) FROM ins;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION es_append;
DROP TABLE es_streams;
DROP TABLE es_events;
