-- +goose Up
-- The codes of code batches (API.md "Codes"), kept beside the event store like the issuance
-- listings: a million codes do not belong in events. Rows are written under a generation before
-- the batch's BatchCreated + CodesAttached; a batch owns only the generation its CodesAttached
-- names, so codes stored by a creation that failed are never found (and are deleted).
--
-- Lookups go by code_hash only (sha256 of the normalized code): there is no index over the codes
-- themselves, so nothing answers "codes like ...". The plain code is read only by the admin's
-- export, by generation.
CREATE TABLE coupon_codes (
    generation text   NOT NULL,
    seq        bigint NOT NULL,
    batch_id   text   NOT NULL,
    code_hash  bytea  NOT NULL,
    code       text   NOT NULL,
    PRIMARY KEY (generation, seq)
);
CREATE UNIQUE INDEX coupon_codes_hash ON coupon_codes (code_hash);

-- One row per shared-code batch. A shared code is unique among open batches (open_until is the
-- end of the claim window); rows of ended batches stay so a late redeem gets claim_window_closed.
CREATE TABLE coupon_shared_codes (
    generation text        PRIMARY KEY,
    batch_id   text        NOT NULL,
    code_hash  bytea       NOT NULL,
    open_until timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupon_shared_codes_hash ON coupon_shared_codes (code_hash, open_until DESC);

-- Every generation, written before its codes: one that no batch took (the process died between
-- storing codes and appending the batch) is found here by the orphan sweeper and deleted.
CREATE TABLE coupon_code_generations (
    generation text        PRIMARY KEY,
    batch_id   text        NOT NULL,
    attached   boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupon_code_generations_open ON coupon_code_generations (created_at) WHERE NOT attached;

-- +goose Down
DROP TABLE coupon_code_generations;
DROP TABLE coupon_shared_codes;
DROP TABLE coupon_codes;
