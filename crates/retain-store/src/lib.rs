//! The warehouse: one URL under which every table is published, reached through
//! `object_store` only (local files, S3 and S3-compatible servers, GCS, Azure, memory).
//!
//! Publishing protocol (write aside, move in, Delta commit, manifest):
//! 1. the rows of a partition stream into `_tmp/<run_id>/<table>/<partition>/part-<n>-<run_id>.parquet`,
//!    a prefix no reader looks at (tools skip `_`-prefixed folders, and globs such as
//!    `<table>/*/*.parquet` do not reach that deep); the name is one no file of the
//!    table ever had;
//! 2. on commit the file is moved to `<table>/<partition>/` (a rename on local disks, a
//!    server-side copy on object stores);
//! 3. one Delta Lake commit of the table (`<table>/_delta_log/<version>.json`, a
//!    create-only PUT, through delta-rs) adds it and removes the files it replaces: the
//!    commit point for every Delta reader (`delta.rs`);
//! 4. `_manifest.json` (rows, schema, inputs, run id, the Delta version, timings) is
//!    written with one PUT; stages and tools that follow the manifest read exactly the
//!    files it lists;
//! 5. the replaced files are deleted, at once or, with
//!    [`Warehouse::with_keep_replaced_files`], by a Delta VACUUM once older than that.
//!
//! An interrupted run leaves only `_tmp/<run_id>/` behind, which the next run removes
//! ([`Warehouse::clean_leftovers`]). A run can write several partitions aside and commit
//! them together only if all are good (ingest does this for the quarantine threshold).

mod delta;
mod error;
mod list_retry;
mod location;
mod lock;
mod manifest;
mod warehouse;

pub use delta::DELTA_LOG;
pub use error::{Error, MAX_LINE_CHARS, Result, chain_line, describe, line, line_within};
pub use location::{Location, StoreOptions};
pub use lock::{LOCK, LockInfo};
pub use manifest::{
    ColumnEntry, FileEntry, InputEntry, MANIFEST, Manifest, PublishMeta, SchemaVersions,
};
pub use warehouse::{Pending, Progress, TMP, Warehouse};
