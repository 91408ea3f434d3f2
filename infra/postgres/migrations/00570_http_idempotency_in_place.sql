-- +goose Up
-- A request's stored answer updates its claim. That update wrote a new index entry in both
-- indexes and a row on another page every time (55 HOT updates in 17,438 under the exchange
-- benchmark), because the purge index covered completed_at and because claims filled their pages.
-- Now the purge index is on started_at, which no answer changes (the purge keeps its condition on
-- coalesce(completed_at, started_at) and adds started_at < cutoff, which that implies), and
-- claims fill a third of a page (an answer about doubles a row), leaving the rest for their
-- answers: the update stays on the claim's page and writes no index entry (a HOT update). In
-- the benchmark, 96% of answers were stored in place (50% fillfactor: 83%); the table took 1.6
-- times the room per key.
DROP INDEX http_idempotency_keys_age;
CREATE INDEX http_idempotency_keys_started ON http_idempotency_keys (started_at);
ALTER TABLE http_idempotency_keys SET (fillfactor = 35);

-- Stores a group of answers, one primary-key update each. As one UPDATE ... FROM unnest(...)
-- the statement was planned on every call (the plan cache kept custom plans: 0.22 ms of
-- planning per 0.62 ms of executing), and a generic plan of that join is a hash join over a
-- sequential scan when the table is small, kept while it grows. A primary-key update has one
-- plan whatever the values.
-- +goose StatementBegin
CREATE FUNCTION http_idempotency_complete(p_subjects text[], p_keys text[], p_owners uuid[],
                                          p_statuses int[], p_headers jsonb[], p_bodies bytea[])
RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
        UPDATE http_idempotency_keys
        SET status = p_statuses[i], headers = p_headers[i], body = p_bodies[i], completed_at = now()
        WHERE subject = p_subjects[i] AND key = p_keys[i] AND owner = p_owners[i];
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION http_idempotency_complete(text[], text[], uuid[], int[], jsonb[], bytea[]);
ALTER TABLE http_idempotency_keys RESET (fillfactor);
DROP INDEX http_idempotency_keys_started;
CREATE INDEX http_idempotency_keys_age ON http_idempotency_keys ((coalesce(completed_at, started_at)));
