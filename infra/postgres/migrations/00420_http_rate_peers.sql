-- +goose Up
-- Live API processes (infra/httpapi Peers): each writes a heartbeat every few seconds, and
-- enforces its share (1/N) of every rate limit, N being the rows with a fresh heartbeat. The
-- limits then hold across processes without a round trip per request.
CREATE TABLE http_rate_peers (
    process_id   text        PRIMARY KEY,
    heartbeat_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE http_rate_peers;
