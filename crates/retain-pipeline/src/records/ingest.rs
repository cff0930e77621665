//! What ingest did, as data: per source and per file, rows read, staged, quarantined and
//! removed as duplicates. [`crate::ingest`] builds it; the run record, the CLI and
//! [`crate::Error::Quality`] carry it.

use std::collections::BTreeMap;

use serde::Serialize;

/// Row accounting of one source file: `read = staged + quarantined + duplicates`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FileAccount {
    pub file: String,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub read: u64,
    pub staged: u64,
    pub quarantined: u64,
    pub duplicates: u64,
}

/// Row accounting of one source: `read = staged + quarantined + duplicates`, in total and
/// for every file.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub table: String,
    pub source: String,
    pub files: Vec<FileAccount>,
    pub read: u64,
    pub staged: u64,
    pub quarantined: u64,
    pub duplicates: u64,
    /// Quarantined rows by reason code.
    pub reasons: BTreeMap<String, u64>,
    /// Times the staging query spilled to disk, and bytes spilled.
    pub spills: usize,
    pub spilled_bytes: usize,
    pub elapsed_ms: u64,
}
