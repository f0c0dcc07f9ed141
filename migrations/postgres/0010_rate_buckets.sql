-- Token buckets of the request and sign-in rate limits, shared by every
-- node: a client spread over several query nodes by a load balancer is
-- limited as one (docs/security.md).
CREATE TABLE rate_buckets (
    key         TEXT PRIMARY KEY,
    tokens      DOUBLE PRECISION NOT NULL,
    updated_at  BIGINT NOT NULL,
    -- When the bucket is full again: from then on it is the same as no
    -- bucket, and may be dropped whichever limit it belongs to.
    full_at     BIGINT NOT NULL
);
CREATE INDEX rate_buckets_full ON rate_buckets (full_at);
