-- Exchanges (questions being answered) that have started and not yet
-- closed. A row is written before an exchange's `exchange.started` audit
-- event and removed after its closing event, so a process that dies in
-- between leaves the row behind; when the node starts again it closes
-- every such exchange in the audit trail as `interrupted`. Only live
-- exchanges are here: the table stays small.
CREATE TABLE open_exchanges (
    exchange_id     TEXT PRIMARY KEY,
    node            TEXT NOT NULL,
    action          TEXT NOT NULL,
    actor           TEXT NOT NULL,
    started_at      BIGINT NOT NULL
);
CREATE INDEX open_exchanges_node ON open_exchanges (node);
