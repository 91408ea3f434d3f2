-- +goose Up
-- +goose StatementBegin
-- es_append_many appends to many streams in ONE transaction (group commit): concurrent commands
-- on different streams share one commit and one WAL flush instead of paying one each. Each item
-- keeps its own expected-version check and its own outcome: a mismatch does not raise (which
-- would roll back the whole group) but answers that item 'conflict' with the actual version, and
-- the item writes nothing. Items are p_counts[k] consecutive entries of the event arrays. The
-- caller orders items by stream id, so two groups lock es_streams rows in the same order and
-- cannot deadlock on them.
--
-- p_budget_ms[k] (NULL: none) is how long after this statement arrived item k may still be
-- written. It is checked once the item holds its stream's row, so an append that waited behind
-- a stalled writer, a lock or a slow group is refused ('expired') instead of landing after its
-- caller gave up: sweepers that act after a command's deadline never race its late append.
CREATE FUNCTION es_append_many(p_streams text[], p_expected bigint[], p_counts int[], p_ids uuid[],
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
            -- Too late: give the version back (this transaction holds the row) and write nothing.
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

-- +goose Down
DROP FUNCTION es_append_many;
