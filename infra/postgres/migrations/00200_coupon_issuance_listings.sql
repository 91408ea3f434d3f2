-- +goose Up
-- The users an issuance upload has listed so far, so a repeated line is counted as skipped however
-- far from the first it is, without the server holding the file. Rows go when the upload closes;
-- unlogged because an upload does not survive its process anyway.
CREATE UNLOGGED TABLE coupon_issuance_listings (
    job_id  text NOT NULL,
    user_id text NOT NULL,
    PRIMARY KEY (job_id, user_id)
);

-- +goose Down
DROP TABLE coupon_issuance_listings;
