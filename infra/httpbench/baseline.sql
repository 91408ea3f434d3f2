-- The plain-SQL design the platform replaces: one row per balance, gift and batch, updated in
-- place, with a record row and an outbox row written in the same transaction. The benchmark
-- runs it in a scratch database on the same PostgreSQL as loyaltyd, with the same clients.
CREATE TABLE accounts (
    user_id text PRIMARY KEY,
    credit  bigint NOT NULL CHECK (credit >= 0)
);

-- One row per movement of points; ref is the caller's idempotency key, as in the classic design.
CREATE TABLE point_records (
    record_id  bigserial PRIMARY KEY,
    user_id    text NOT NULL,
    delta      bigint NOT NULL,
    kind       text NOT NULL,
    ref        text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    outbox_id  bigserial PRIMARY KEY,
    topic      text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gifts (
    gift_id text PRIMARY KEY,
    stock   bigint NOT NULL CHECK (stock >= 0)
);

CREATE TABLE batches (
    batch_id  text PRIMARY KEY,
    total     bigint NOT NULL,
    remaining bigint NOT NULL CHECK (remaining >= 0)
);

CREATE TABLE coupons (
    coupon_id  bigserial PRIMARY KEY,
    batch_id   text NOT NULL,
    user_id    text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (batch_id, user_id)
);
