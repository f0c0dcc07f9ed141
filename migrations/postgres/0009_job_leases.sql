-- Ingest jobs claimed by any ingest node under a lease (docs/operations.md):
-- the spec a worker runs, who holds the job until when, how many times it
-- was claimed, and whether a user asked it to stop.
ALTER TABLE ingest_jobs ADD COLUMN spec TEXT;
ALTER TABLE ingest_jobs ADD COLUMN worker TEXT;
ALTER TABLE ingest_jobs ADD COLUMN lease_until BIGINT;
ALTER TABLE ingest_jobs ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ingest_jobs ADD COLUMN cancel_requested BIGINT NOT NULL DEFAULT 0;
CREATE INDEX ingest_jobs_claimable ON ingest_jobs (status, created_at);
