-- Retention: a purge removes the oldest audit events up to an anchor (the
-- last removed event's sequence number and hash), recorded here and vouched
-- for by an `audit.purge` event in the chain itself, so that verification
-- starts from the anchor. Deleting events is possible only at or below a
-- recorded anchor; anchors themselves are append-only.

CREATE TABLE audit_anchors (
    anchor_seq      BIGINT PRIMARY KEY,
    anchor_hash     TEXT NOT NULL,
    purge_event_id  TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.seq > COALESCE((SELECT MAX(anchor_seq) FROM audit_anchors), 0)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE ON audit_anchors
BEGIN
    SELECT RAISE(ABORT, 'audit_anchors is append-only');
END;
CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors
BEGIN
    SELECT RAISE(ABORT, 'audit_anchors is append-only');
END;
