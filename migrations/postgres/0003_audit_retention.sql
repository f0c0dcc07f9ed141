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

CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND OLD.seq <= (SELECT COALESCE(MAX(anchor_seq), 0) FROM audit_anchors) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION audit_anchors_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_anchors is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_anchors_no_change BEFORE UPDATE OR DELETE ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION audit_anchors_append_only();
CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION audit_anchors_append_only();
