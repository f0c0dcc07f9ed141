-- What the document guard found in a document at its last indexing: a JSON
-- array of {rule, action, count} (prompt injection addressed to the
-- assistant, hidden text, personal data, sensitive words). Shown in the
-- library and the documents API; empty when nothing was found.
ALTER TABLE documents ADD COLUMN guard TEXT NOT NULL DEFAULT '[]';
