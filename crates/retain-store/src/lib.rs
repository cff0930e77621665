//! The warehouse: one URL under which every table is published, reached through
//! `object_store` only (local files, S3 and S3-compatible servers, GCS, Azure, memory).
//!
//! Publishing protocol (write aside, move in, manifest last):
//! 1. the rows of a partition stream into `_tmp/<run_id>/<table>/<partition>/part-00000.parquet`,
//!    a prefix no reader looks at (tools skip `_`-prefixed folders, and globs such as
//!    `<table>/*/*.parquet` do not reach that deep);
//! 2. on commit the file is moved to `<table>/<partition>/part-00000.parquet`: a rename on
//!    local disks, a server-side copy on object stores, both of which replace the old
//!    object whole, so a reader sees either the old file or the new one, never a part;
//! 3. `_manifest.json` (rows, schema, inputs, run id, timings) is written with one PUT;
//!    stages and tools that follow the manifest read exactly the files it lists;
//! 4. files of earlier layouts the manifest does not list are deleted.
//!
//! An interrupted run leaves only `_tmp/<run_id>/` behind, which the next run removes
//! ([`Warehouse::clean_leftovers`]). A run can write several partitions aside and commit
//! them together only if all are good (ingest does this for the quarantine threshold).

mod error;
mod location;
mod lock;
mod manifest;
mod warehouse;

pub use error::{Error, MAX_LINE_CHARS, Result, chain_line, describe, line, line_within};
pub use location::{Location, StoreOptions};
pub use lock::{LOCK, LockInfo};
pub use manifest::{
    ColumnEntry, FileEntry, InputEntry, MANIFEST, Manifest, PublishMeta, SchemaVersions,
};
pub use warehouse::{Pending, Progress, TMP, Warehouse};
