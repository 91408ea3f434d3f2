-- +goose Up
-- Where each bus relay has published up to in the event log (infra/bus). Positions are
-- es.Position (commit, prepare): unsigned 64-bit, hence numeric. The relay only moves a
-- checkpoint forward, after JetStream acknowledged every message up to it.
CREATE TABLE relay_checkpoints (
    name       text          PRIMARY KEY,
    commit     numeric(20,0) NOT NULL,
    prepare    numeric(20,0) NOT NULL,
    updated_at timestamptz   NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE relay_checkpoints;
