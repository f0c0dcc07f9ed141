-- Token buckets of the request and sign-in rate limits, shared by every
-- node: a client spread over several query nodes by a load balancer is
-- limited as one (docs/security.md).
CREATE TABLE rate_buckets (
    key         TEXT PRIMARY KEY,
    tokens      REAL NOT NULL,
    updated_at  BIGINT NOT NULL
);
