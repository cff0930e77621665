//! The `_manifest.json` of a published partition and what goes into it.

use serde::{Deserialize, Serialize};

/// Name of the file that makes a partition visible.
pub const MANIFEST: &str = "_manifest.json";

/// One data file of a published partition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// File name, relative to the partition folder.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// One column of a published table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnEntry {
    pub name: String,
    /// Arrow data type, as Arrow prints it (`Utf8`, `Float64`, `Timestamp(µs, "UTC")`).
    pub data_type: String,
    pub nullable: bool,
}

/// An input a partition was computed from. Two entries are the same input when their
/// location, size and version are ([`PartialEq`] ignores `table_version`, which says
/// where to read an input, not what it holds: an ingest that republishes the same staged
/// rows makes a new Delta version of the same input).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputEntry {
    /// URL of the input file or published partition.
    pub location: String,
    /// Size in bytes, for files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// ETag or the upstream manifest's run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// For a published partition: the version of its table's Delta log that published
    /// it (a Delta reader reads exactly this input with `version=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_version: Option<u64>,
}

impl PartialEq for InputEntry {
    fn eq(&self, other: &Self) -> bool {
        (&self.location, self.bytes, &self.version)
            == (&other.location, other.bytes, &other.version)
    }
}

/// The `_manifest.json` of a published partition. Its presence means the partition is
/// complete; its `files` are the partition's data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always `retain.manifest/1`.
    pub format: String,
    /// Table path under the warehouse, e.g. `scores/customer_risk`.
    pub table: String,
    /// Partition, e.g. `as_of=2026-11-01`, or empty for unpartitioned tables.
    pub partition: String,
    /// Run that published it.
    pub run_id: String,
    /// retain version that wrote it.
    pub code_version: String,
    /// The table's schema contract version (an integer per table, starting at 1; bumped
    /// whenever a column is renamed, retyped or removed; see docs/tables.md). `None` in
    /// manifests written before retain recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
    /// The version of the table's Delta log whose commit published this partition
    /// (`None` in manifests written before retain wrote Delta logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_version: Option<u64>,
    /// Total rows.
    pub rows: u64,
    /// Data files, relative to the partition folder.
    pub files: Vec<FileEntry>,
    /// Columns.
    pub schema: Vec<ColumnEntry>,
    /// Inputs it was computed from.
    pub inputs: Vec<InputEntry>,
    /// Free-form facts (model versions, parameters, counts).
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Milliseconds the job took: its work before publishing plus producing and writing
    /// the rows (the query runs as the rows stream into the file).
    pub elapsed_ms: u64,
}

/// What to publish alongside the data.
#[derive(Debug, Clone, Default)]
pub struct PublishMeta {
    pub inputs: Vec<InputEntry>,
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Milliseconds spent before `publish` was called; publish adds its own time.
    pub elapsed_ms: u64,
}

/// The schema contract version of a table (`None` for a table without one).
pub type SchemaVersions = fn(&str) -> Option<u32>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_written_before_schema_versions_still_reads() {
        // A manifest as retain wrote it before `schema_version` existed.
        let old = r#"{
          "format": "retain.manifest/1", "table": "scores/customer_risk",
          "partition": "as_of=2026-11-01", "run_id": "20261125T120000Z-0001",
          "code_version": "0.1.0", "rows": 2,
          "files": [{"path": "part-00000.parquet", "rows": 2, "bytes": 100}],
          "schema": [{"name": "customer_id", "data_type": "Utf8", "nullable": false}],
          "inputs": [], "properties": {}, "elapsed_ms": 5
        }"#;
        let m: Manifest = serde_json::from_str(old).unwrap();
        assert_eq!(m.schema_version, None);
        assert_eq!(m.rows, 2);
    }
}
