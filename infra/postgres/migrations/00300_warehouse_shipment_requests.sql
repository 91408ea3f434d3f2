-- +goose Up
-- The warehouse bounded context (infra/warehouse): one row per exchange, whatever how often its
-- shipment request is delivered, so a redelivered request never ships twice. status moves
-- pending -> created (the courier gave an express number) or rejected (the courier refused).
CREATE TABLE shipment_requests (
    exchange_id text        PRIMARY KEY,
    shipment_id text        NOT NULL UNIQUE,
    gift_id     text        NOT NULL,
    quantity    int         NOT NULL,
    address     jsonb       NOT NULL,
    status      text        NOT NULL DEFAULT 'pending',
    carrier     text,
    express_no  text,
    last_error  text,
    deliveries  int         NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE shipment_requests;
