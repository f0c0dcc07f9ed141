//! Ingestion: sources, parsers, chunking, sync and jobs.
//!
//! Nothing is implemented here yet: this crate is the room for issue #4
//! (parse PDF, DOCX, HTML, Markdown, text, CSV/XLSX; structure-aware
//! chunking; incremental folder sync; jobs with progress). Until then
//! `zhishu ingest` refuses with exit code 69 and no ingestion route is
//! served.
#![warn(missing_docs)]
