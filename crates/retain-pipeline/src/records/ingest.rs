//! What ingest did, as data: per source and per file, rows read, staged, quarantined and
//! removed as duplicates. [`crate::ingest`] builds it; the run record, the CLI and
//! [`crate::Error::Quality`] carry it.

use std::collections::BTreeMap;

use chrono::NaiveDate;
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

/// The day of the latest fact of each staged source (None: no rows).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DataEnd {
    pub by_source: Vec<(&'static str, Option<NaiveDate>)>,
}

impl DataEnd {
    /// The day of the latest staged fact of any source, so a quiet last day in a small
    /// shop's orders does not count as missing data.
    pub(crate) fn last_day(&self) -> Option<NaiveDate> {
        self.by_source.iter().filter_map(|(_, d)| *d).max()
    }

    /// `orders 2026-10-31, support_tickets 2026-10-30, ...` (sources with rows).
    pub(crate) fn describe(&self) -> String {
        let parts: Vec<String> = self
            .by_source
            .iter()
            .filter_map(|(t, d)| d.map(|d| format!("{t} {d}")))
            .collect();
        parts.join(", ")
    }
}
