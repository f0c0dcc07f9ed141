-- The chain encoding of each audit event. Encoding 1 (every event written
-- before this migration) hashed a canonical re-serialisation of the parsed
-- payload, which drifts when a JSON parser rounds a float differently;
-- encoding 2 hashes the stored payload text byte for byte. Verification
-- checks each event with the encoding it was written in, and the encoding
-- itself is bound into the hash (a different domain prefix), so relabelling
-- an event does not make a changed one pass.
ALTER TABLE audit_events ADD COLUMN encoding BIGINT NOT NULL DEFAULT 1;
