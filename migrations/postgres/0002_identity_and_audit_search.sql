-- Sessions of the web UI, and search columns of the audit trail.
-- Same statements on SQLite and PostgreSQL.

CREATE TABLE sessions (
    token_hash      TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    client_addr     TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Derived from the payload when the event is written, for filtering only:
-- the hash chain covers the payload, which stays the record of truth.
ALTER TABLE audit_events ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN document_ids TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_events_action ON audit_events (action, occurred_at);
