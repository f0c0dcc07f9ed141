-- Citations to the spot: the boxes of a chunk's lines on its page, a JSON
-- array of [x0, y0, x1, y1] as fractions of the page from its top-left
-- corner (PDFs and scans; empty elsewhere).
ALTER TABLE chunks ADD COLUMN boxes TEXT NOT NULL DEFAULT '[]';

-- Per-collection settings an administrator changes at run time. Downloads
-- of original files are allowed (1) unless a row says 0.
CREATE TABLE collection_settings (
    collection  TEXT PRIMARY KEY,
    downloads   INTEGER NOT NULL DEFAULT 1,
    updated_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
