-- +goose Up
-- Scheduler processes (infra/app): before a periodic task runs, a process claims this
-- interval's run of it here; another scheduler process that ticks within the same interval
-- finds the claim taken and skips. Two scheduler processes then run each task once per
-- interval between them, not once each.
CREATE TABLE scheduler_runs (
    task    text        PRIMARY KEY,
    ran_at  timestamptz NOT NULL,
    ran_by  text        NOT NULL
);

-- +goose Down
DROP TABLE scheduler_runs;
