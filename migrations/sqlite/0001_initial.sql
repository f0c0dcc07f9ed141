-- Zhishu initial schema (SQLite). Keep in step with ../postgres/0001_initial.sql:
-- the same tables, columns and constraints; only types and trigger syntax differ.
-- Times are Unix milliseconds (BIGINT); lists are JSON text.

CREATE TABLE documents (
    id              TEXT PRIMARY KEY,
    collection      TEXT NOT NULL,
    source_path     TEXT NOT NULL,
    title           TEXT NOT NULL,
    mime_type       TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    version         BIGINT NOT NULL,
    size_bytes      BIGINT NOT NULL,
    modified_at     BIGINT NOT NULL,
    access_groups   TEXT NOT NULL,
    status          TEXT NOT NULL,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (collection, source_path)
);
CREATE INDEX documents_collection ON documents (collection, source_path);

CREATE TABLE chunks (
    id                TEXT PRIMARY KEY,
    document_id       TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    document_version  BIGINT NOT NULL,
    ordinal           BIGINT NOT NULL,
    page              BIGINT,
    section_path      TEXT NOT NULL,
    char_start        BIGINT NOT NULL,
    char_end          BIGINT NOT NULL,
    embed_tokens      BIGINT NOT NULL,
    qwen_tokens       BIGINT NOT NULL,
    content_hash      TEXT NOT NULL,
    UNIQUE (document_id, document_version, ordinal)
);
CREATE INDEX chunks_document ON chunks (document_id, document_version);

CREATE TABLE ingest_jobs (
    id              TEXT PRIMARY KEY,
    root_path       TEXT NOT NULL,
    collection      TEXT NOT NULL,
    access_groups   TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    files_total     BIGINT NOT NULL DEFAULT 0,
    files_done      BIGINT NOT NULL DEFAULT 0,
    files_failed    BIGINT NOT NULL DEFAULT 0,
    files_skipped   BIGINT NOT NULL DEFAULT 0,
    chunks_written  BIGINT NOT NULL DEFAULT 0,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT
);
CREATE INDEX ingest_jobs_created ON ingest_jobs (created_at);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    password_hash   TEXT,
    roles           TEXT NOT NULL,
    access_groups   TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    disabled_at     BIGINT
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    prefix          TEXT NOT NULL UNIQUE,
    key_hash        TEXT NOT NULL,
    roles           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT,
    revoked_at      BIGINT
);

CREATE TABLE audit_events (
    seq             BIGINT PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    occurred_at     BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    client_addr     TEXT,
    payload         TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL UNIQUE
);
CREATE INDEX audit_events_time ON audit_events (occurred_at);
CREATE INDEX audit_events_actor ON audit_events (actor, occurred_at);

-- The audit trail is append-only for every role, the application included.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
