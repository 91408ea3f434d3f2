-- +goose Up
-- +goose StatementBegin
-- es_append_many, same contract as migration 00400, writes a group's events with ONE insert
-- instead of one per item. The per-item statements were the larger part of an append's
-- database time under load (each a CTE, a sort, an insert and an aggregate for, in the earn
-- load, a single event). The stream rows are still taken one item at a time, in the caller's
-- order (by stream id), so two groups cannot deadlock on them; then every accepted item's
-- events go in together, in item order, so positions follow the items as before.
CREATE OR REPLACE FUNCTION es_append_many(p_streams text[], p_expected bigint[], p_counts int[], p_ids uuid[],
                                          p_types text[], p_data jsonb[], p_meta jsonb[], p_budget_ms bigint[])
RETURNS TABLE (item int, status text, next_version bigint, actual bigint, tx text, last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    m     int := coalesce(cardinality(p_streams), 0);
    k     int;
    n     bigint;
    cur   bigint;
    st    text;
    sts   text[]   := '{}';
    curs  bigint[] := '{}';
    offs  int[]    := '{}';
    off   int := 0;
BEGIN
    FOR k IN 1 .. m LOOP
        n := p_counts[k];
        st := 'ok';
        IF p_expected[k] = -1 THEN
            INSERT INTO es_streams AS s (stream_id, version) VALUES (p_streams[k], n)
            ON CONFLICT (stream_id) DO UPDATE SET version = s.version + n
            RETURNING s.version - n INTO cur;
        ELSIF p_expected[k] = 0 THEN
            INSERT INTO es_streams (stream_id, version) VALUES (p_streams[k], n) ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                st := 'conflict';
                SELECT s.version INTO cur FROM es_streams s WHERE s.stream_id = p_streams[k];
            ELSE
                cur := 0;
            END IF;
        ELSE
            UPDATE es_streams s SET version = s.version + n
            WHERE s.stream_id = p_streams[k] AND s.version = p_expected[k];
            IF NOT FOUND THEN
                st := 'conflict';
                SELECT coalesce((SELECT s.version FROM es_streams s WHERE s.stream_id = p_streams[k]), 0) INTO cur;
            ELSE
                cur := p_expected[k];
            END IF;
        END IF;
        IF st = 'ok' AND p_budget_ms[k] IS NOT NULL
           AND clock_timestamp() > statement_timestamp() + make_interval(secs => p_budget_ms[k] / 1000.0) THEN
            -- Too late: give the version back (this transaction holds the row) and write nothing.
            IF cur = 0 THEN
                DELETE FROM es_streams s WHERE s.stream_id = p_streams[k];
            ELSE
                UPDATE es_streams s SET version = s.version - n WHERE s.stream_id = p_streams[k];
            END IF;
            st := 'expired';
        END IF;
        sts[k] := st;
        curs[k] := cur;   -- the version the item writes after, or the actual version
        offs[k] := off;
        off := off + n;
    END LOOP;

    RETURN QUERY
    WITH items AS (
        SELECT i AS k, p_streams[i] AS stream, curs[i] AS cur, p_counts[i] AS n, offs[i] AS off, sts[i] AS st
        FROM generate_series(1, m) AS i
    ), ins AS (
        INSERT INTO es_events (stream_id, stream_version, event_id, event_type, data, metadata)
        SELECT it.stream, it.cur + j, p_ids[it.off + j], p_types[it.off + j], p_data[it.off + j], p_meta[it.off + j]
        FROM items it CROSS JOIN LATERAL generate_series(1, it.n) AS j
        WHERE it.st = 'ok'
        ORDER BY it.k, j
        RETURNING es_events.stream_id, es_events.stream_version, es_events.global_position
    )
    SELECT it.k, it.st,
           CASE WHEN it.st = 'ok' THEN it.cur + it.n END,
           CASE WHEN it.st <> 'ok' THEN it.cur END,
           CASE WHEN it.st = 'ok' THEN pg_current_xact_id()::text END,
           max(ins.global_position)
    FROM items it
    LEFT JOIN ins ON it.st = 'ok' AND ins.stream_id = it.stream
                 AND ins.stream_version > it.cur AND ins.stream_version <= it.cur + it.n
    GROUP BY it.k, it.st, it.cur, it.n
    ORDER BY it.k;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION es_append_many(p_streams text[], p_expected bigint[], p_counts int[], p_ids uuid[],
                                          p_types text[], p_data jsonb[], p_meta jsonb[], p_budget_ms bigint[])
RETURNS TABLE (item int, status text, next_version bigint, actual bigint, tx text, last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    k   int;
    n   bigint;
    off int := 0;
    cur bigint;
BEGIN
    FOR k IN 1 .. cardinality(p_streams) LOOP
        n := p_counts[k];
        status := 'ok';
        IF p_expected[k] = -1 THEN
            INSERT INTO es_streams AS s (stream_id, version) VALUES (p_streams[k], n)
            ON CONFLICT (stream_id) DO UPDATE SET version = s.version + n
            RETURNING s.version - n INTO cur;
        ELSIF p_expected[k] = 0 THEN
            INSERT INTO es_streams (stream_id, version) VALUES (p_streams[k], n) ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                status := 'conflict';
                SELECT s.version INTO cur FROM es_streams s WHERE s.stream_id = p_streams[k];
            ELSE
                cur := 0;
            END IF;
        ELSE
            UPDATE es_streams s SET version = s.version + n
            WHERE s.stream_id = p_streams[k] AND s.version = p_expected[k];
            IF NOT FOUND THEN
                status := 'conflict';
                SELECT coalesce((SELECT s.version FROM es_streams s WHERE s.stream_id = p_streams[k]), 0) INTO cur;
            ELSE
                cur := p_expected[k];
            END IF;
        END IF;
        IF status = 'ok' AND p_budget_ms[k] IS NOT NULL
           AND clock_timestamp() > statement_timestamp() + make_interval(secs => p_budget_ms[k] / 1000.0) THEN
            IF cur = 0 THEN
                DELETE FROM es_streams s WHERE s.stream_id = p_streams[k];
            ELSE
                UPDATE es_streams s SET version = s.version - n WHERE s.stream_id = p_streams[k];
            END IF;
            status := 'expired';
        END IF;
        item := k;
        IF status = 'ok' THEN
            WITH ins AS (
                INSERT INTO es_events (stream_id, stream_version, event_id, event_type, data, metadata)
                SELECT p_streams[k], cur + i, p_ids[off + i], p_types[off + i], p_data[off + i], p_meta[off + i]
                FROM generate_series(1, n) AS i
                ORDER BY i
                RETURNING global_position
            )
            SELECT max(ins.global_position) INTO last_position FROM ins;
            next_version := cur + n;
            actual := NULL;
            tx := pg_current_xact_id()::text;
        ELSE
            next_version := NULL;
            actual := cur;
            tx := NULL;
            last_position := NULL;
        END IF;
        RETURN NEXT;
        off := off + n;
    END LOOP;
END
$$;
-- +goose StatementEnd
