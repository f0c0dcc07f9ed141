-- Conversations: each user's chats with the assistant. Every read and write
-- names the owner, so one user can never reach another's conversation even
-- with its id.

CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    title       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX conversations_by_owner ON conversations (owner, updated_at);

CREATE TABLE conversation_messages (
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq              BIGINT NOT NULL,
    role             TEXT NOT NULL,
    content          TEXT NOT NULL,
    reasoning        TEXT,
    citations        TEXT NOT NULL,
    audit_event_id   TEXT,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
