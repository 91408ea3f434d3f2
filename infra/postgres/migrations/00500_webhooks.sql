-- +goose Up
-- Webhooks to the shop (infra/webhooks). An endpoint is a consumer of the event log with its own
-- position: every event up to it that the endpoint subscribes to has its delivery row. The
-- position moves in the same transaction that inserts those rows, so a crash neither loses
-- nor doubles one. Positions are es.Position (commit, prepare): unsigned 64-bit, hence numeric.
CREATE TABLE webhooks (
    webhook_id    text          PRIMARY KEY,
    url           text          NOT NULL,
    event_types   text[]        NOT NULL,
    description   text          NOT NULL DEFAULT '',
    secret        text          NOT NULL,
    status        text          NOT NULL CHECK (status IN ('active', 'paused')),
    paused_reason text,
    -- the last 2xx: an endpoint is paused for failing only when nothing succeeded for a whole
    -- retry window, not because one event's payload keeps being refused
    last_success_at timestamptz,
    pos_commit    numeric(20,0) NOT NULL,
    pos_prepare   numeric(20,0) NOT NULL,
    created_at    timestamptz   NOT NULL,
    updated_at    timestamptz   NOT NULL
);

-- One row per (endpoint, event): the primary key is derived from both (domain/webhook
-- DeliveryID), so the same event never gets a second delivery id at one endpoint. body is the
-- exact JSON sent, so every attempt and every replay sends the same bytes. Deliveries of one
-- member (order_key) go out in log order (pos_commit, pos_prepare).
CREATE TABLE webhook_deliveries (
    delivery_id      text          PRIMARY KEY,
    webhook_id       text          NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    seq              bigserial     NOT NULL,
    event_id         text          NOT NULL,
    event_type       text          NOT NULL,
    order_key        text          NOT NULL,
    pos_commit       numeric(20,0) NOT NULL,
    pos_prepare      numeric(20,0) NOT NULL,
    body             bytea         NOT NULL,
    status           text          NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer       NOT NULL DEFAULT 0,
    -- failed attempts in a row: the backoff step; a success, a replay or a resume resets it
    failures         integer       NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz   NOT NULL,
    first_failed_at  timestamptz,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_latency_ms  integer,
    last_error       text,
    last_response    text,
    created_at       timestamptz   NOT NULL
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, order_key, pos_commit, pos_prepare)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, seq);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (webhook_id, event_id);

-- Every attempt of a delivery: what the admin reads to see why an endpoint fails.
CREATE TABLE webhook_attempts (
    delivery_id  text        NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    at           timestamptz NOT NULL,
    status_code  integer,
    latency_ms   integer     NOT NULL,
    error        text,
    response     text,
    PRIMARY KEY (delivery_id, attempt)
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
