-- +goose Up
-- One row per projection: which generation (schema) readers see, and the DDL hash it was built
-- from, so a changed projector is rebuilt beside the live one.
CREATE TABLE projection_state (
    name        text PRIMARY KEY,
    live_gen    int  NOT NULL,
    ddl_hash    text NOT NULL,
    status      text NOT NULL DEFAULT 'live',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Checkpoints per generation; a rebuild's generation catches up here before the switch.
CREATE TABLE projection_checkpoints (
    name        text    NOT NULL,
    gen         int     NOT NULL,
    commit_pos  numeric(20,0) NOT NULL DEFAULT 0,
    prepare_pos numeric(20,0) NOT NULL DEFAULT 0,
    events      bigint  NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, gen)
);

-- +goose Down
DROP TABLE projection_checkpoints;
DROP TABLE projection_state;
