-- +goose Up
-- Idempotency-Key records of the HTTP API (infra/httpapi). A row is claimed (status NULL) when a
-- request with a new key starts and completed with the response to replay; 5xx answers delete
-- it so a retry runs again. Keys are per caller (token subject) and purged after at least 24 h.
CREATE TABLE http_idempotency_keys (
    subject      text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    status       integer,
    headers      jsonb,
    body         bytea,
    PRIMARY KEY (subject, key)
);
CREATE INDEX http_idempotency_keys_age ON http_idempotency_keys ((coalesce(completed_at, started_at)));

-- +goose Down
DROP TABLE http_idempotency_keys;
