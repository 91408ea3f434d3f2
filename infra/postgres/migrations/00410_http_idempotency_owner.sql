-- +goose Up
-- A claimed key belongs to the request running it (owner) and stays claimed while that request
-- lives: its process refreshes heartbeat_at every few seconds, however long the command runs.
-- Only a claim whose heartbeat stopped (the process died) can be taken over, and only its owner
-- can complete or free it.
ALTER TABLE http_idempotency_keys
    ADD COLUMN owner        uuid,
    ADD COLUMN heartbeat_at timestamptz NOT NULL DEFAULT now();

-- +goose Down
ALTER TABLE http_idempotency_keys DROP COLUMN owner, DROP COLUMN heartbeat_at;
