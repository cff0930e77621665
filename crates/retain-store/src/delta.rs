//! The Delta Lake log of every published table (issue 20): one `_delta_log/` per table
//! folder (`staged/orders`, `features/customer`, `scores/customer_risk`, …), written
//! through delta-rs (`deltalake-core`).
//!
//! A partition's commit is one Delta commit: `add` actions for its new files (unique
//! names, never reused) and `remove` actions for the files it replaces, written as
//! `_delta_log/<version>.json` with a create-only PUT (`If-None-Match: *` on object
//! stores, an exclusive create on disk). That log entry is the commit point for every
//! Delta reader (the `deltalake` Python package, polars `read_delta`, Spark, DuckDB's
//! `delta_scan`); retain's own `_manifest.json` follows it in the same journaled commit.
//!
//! Tables published before their first Delta commit (warehouses of earlier versions)
//! are converted on that commit: the files every other partition's manifest lists are
//! added with it, so a Delta reader sees the whole table from its first version on.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::Schema;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{
    Action, Add, DataType as DeltaType, MetadataExt as _, StructField, StructType,
};
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::operations::create::CreateBuilder;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError};
use futures::StreamExt as _;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use url::Url;

use crate::manifest::{FileEntry, MANIFEST, Manifest};
use crate::{Error, Location, Result};

/// The folder of a table's Delta log.
pub const DELTA_LOG: &str = "_delta_log";

/// The log store of the Delta table at `table` (a folder under `root`), on `root`'s own
/// object store, so the table is reached with the same credentials, endpoint, retries
/// and timeouts as every other object of the warehouse.
pub(crate) fn log_store(root: &Location, table: &str) -> Result<LogStoreRef> {
    let path = root.child(table);
    let location = root.url_of(&path);
    let url = Url::parse(&location).map_err(|e| Error::InvalidLocation {
        location: location.clone(),
        message: e.to_string(),
    })?;
    let prefixed = Arc::new(PrefixStore::new(root.store.clone(), path));
    Ok(default_logstore(
        prefixed,
        root.store.clone(),
        &url,
        &StorageConfig::default(),
    ))
}

fn delta_err<E: std::fmt::Display>(location: String) -> impl FnOnce(E) -> Error {
    move |e| Error::Delta {
        location,
        message: crate::line(&e.to_string()),
    }
}

/// The Delta table at `table`, loaded at its newest version (or `version`), or `None`
/// when no Delta log exists there yet.
pub(crate) async fn load(
    root: &Location,
    table: &str,
    version: Option<u64>,
) -> Result<Option<DeltaTable>> {
    let location = root.url_of(&root.child(table));
    // No log yet: say so without asking delta-rs, which logs a failed load as an error.
    let log = root.child(table).join(DELTA_LOG);
    let first = root.store.list(Some(&log)).next().await.transpose();
    if matches!(first, Ok(None)) {
        return Ok(None);
    }
    let mut t = DeltaTable::new(log_store(root, table)?);
    match t.load().await {
        Ok(()) => {}
        Err(DeltaTableError::NotATable(_)) => return Ok(None),
        Err(e) => return Err(delta_err(location)(e)),
    }
    let Some(v) = version else {
        return Ok(Some(t));
    };
    let newest = t.version().unwrap_or_default();
    if v > newest {
        // Said here: delta-rs would also log it as an error of its own.
        return Err(Error::Delta {
            location,
            message: format!("the table has no version {v}: its newest is {newest}"),
        });
    }
    if v < newest {
        t.load_version(v).await.map_err(delta_err(location))?;
    }
    Ok(Some(t))
}

/// `as_of=2026-11-01` → `[("as_of", "2026-11-01")]`; `""` → `[]`.
pub(crate) fn partition_values(partition: &str) -> Vec<(String, String)> {
    partition
        .split('/')
        .filter_map(|seg| seg.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The Delta schema of a table: its files' columns, then its partition columns (a date
/// when the value is one, such as `as_of`, a string otherwise). Partition columns are
/// not stored in the files; Delta readers add them from the log.
pub(crate) fn delta_schema(table: &str, schema: &Schema, partition: &str) -> Result<StructType> {
    let partition = partition_values(partition);
    let mut fields: Vec<StructField> = Vec::with_capacity(schema.fields().len() + 1);
    for f in schema.fields() {
        let field: StructField = f.as_ref().try_into_kernel().map_err(|e| Error::Delta {
            location: table.to_owned(),
            message: format!(
                "column `{}` has type {}, which a Delta Lake table cannot hold ({e}); \
                 cast it in the SQL (e.g. to BIGINT, DOUBLE, VARCHAR or a microsecond \
                 UTC timestamp)",
                f.name(),
                f.data_type()
            ),
        })?;
        fields.push(field);
    }
    for (name, value) in &partition {
        if fields.iter().any(|f| f.name() == name) {
            continue;
        }
        let ty = if chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok() {
            DeltaType::DATE
        } else {
            DeltaType::STRING
        };
        fields.push(StructField::new(name.clone(), ty, true));
    }
    StructType::try_new(fields).map_err(|e| Error::Delta {
        location: "schema".into(),
        message: e.to_string(),
    })
}

/// One file of a partition as a Delta `add` action.
fn add(partition: &str, values: &[(String, String)], file: &FileEntry, now_ms: i64) -> Add {
    let path = if partition.is_empty() {
        file.path.clone()
    } else {
        format!("{partition}/{}", file.path)
    };
    Add {
        path,
        partition_values: values
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect(),
        size: file.bytes as i64,
        modification_time: now_ms,
        data_change: true,
        stats: Some(format!("{{\"numRecords\":{}}}", file.rows)),
        ..Default::default()
    }
}

/// Commit a partition's files to its table's Delta log, replacing the files the log had
/// for that partition; the version written. Idempotent: a commit whose files are all
/// already in the log (a journaled commit being completed) writes nothing and returns
/// the newest version.
///
/// A commit whose outcome is unknown is tried again, up to the store's `max-retries`:
/// the log entry is a create-only PUT, which object_store does not retry after a
/// timeout (the server may have applied it), and the fault proxy's stalled PUTs failed
/// runs that way. Trying again reloads the log first, so a commit that did land is found
/// (its files are in the log) and not written twice.
pub(crate) async fn commit(
    root: &Location,
    manifest: &Manifest,
    schema: &StructType,
) -> Result<u64> {
    let mut attempt = 0;
    loop {
        match commit_once(root, manifest, schema).await {
            Err(e @ Error::Delta { .. }) if attempt < root.options.max_retries => {
                attempt += 1;
                let wait = std::time::Duration::from_millis(100 << attempt.min(7));
                tracing::info!(
                    table = %manifest.table,
                    partition = %manifest.partition,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "a Delta commit failed ({e}); checking the log and trying again"
                );
                tokio::time::sleep(wait).await;
            }
            r => return r,
        }
    }
}

async fn commit_once(root: &Location, manifest: &Manifest, schema: &StructType) -> Result<u64> {
    let table = manifest.table.as_str();
    let partition = manifest.partition.as_str();
    let location = root.url_of(&root.child(table));
    let values = partition_values(partition);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let adds: Vec<Add> = manifest
        .files
        .iter()
        .map(|f| add(partition, &values, f, now_ms))
        .collect();
    let columns: Vec<String> = values.iter().map(|(k, _)| k.clone()).collect();
    // No conflict retries inside delta-rs: it takes a create-only PUT that found its
    // version taken for another writer's commit, while here (one writer, under the
    // lock) it is our own earlier attempt whose answer was lost, and a commit of adds
    // only would be written a second time. `commit` reloads the log and decides.
    let properties = CommitProperties::default()
        .with_max_retries(0)
        .with_metadata([
            (
                "retain.run_id".to_owned(),
                serde_json::Value::from(manifest.run_id.clone()),
            ),
            (
                "retain.partition".to_owned(),
                serde_json::Value::from(partition),
            ),
        ]);
    let Some(current) = load(root, table, None).await? else {
        // The table's first commit: the table itself, this partition, and (for a table
        // published before retain wrote Delta logs) every other published partition.
        let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        for other in published_before_delta(root, table, partition).await? {
            let v = partition_values(&other.partition);
            actions.extend(
                other
                    .files
                    .iter()
                    .map(|f| Action::Add(add(&other.partition, &v, f, now_ms))),
            );
        }
        let created = CreateBuilder::new()
            .with_log_store(log_store(root, table)?)
            .with_table_name(table.replace('/', "."))
            .with_columns(schema.fields().cloned())
            .with_partition_columns(columns)
            .with_actions(actions)
            .with_save_mode(SaveMode::ErrorIfExists)
            .with_commit_properties(properties)
            .await
            .map_err(delta_err(location.clone()))?;
        return Ok(created.version().unwrap_or_default() as u64);
    };
    let snapshot = current.snapshot().map_err(delta_err(location.clone()))?;
    let version = snapshot.version();
    let wanted: HashMap<String, Option<String>> = values
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    let mut active = Vec::new();
    let mut removes = Vec::new();
    for view in snapshot.log_data().iter() {
        let path = view.path().to_string();
        if adds.iter().any(|a| a.path == path) {
            active.push(path);
        } else if view.partition_values_map() == wanted {
            removes.push(Action::Remove(view.remove_action(true)));
        }
    }
    if active.len() == adds.len() {
        return Ok(version);
    }
    let mut actions: Vec<Action> = Vec::new();
    if snapshot.schema().as_ref() != schema {
        // The columns changed (a feature SQL edited, CLV switched on): the table's schema
        // is the newest partition's; Delta readers read older files with the new schema
        // (missing columns as null).
        let metadata = snapshot
            .metadata()
            .clone()
            .with_schema(schema)
            .map_err(delta_err(location.clone()))?;
        actions.push(Action::Metadata(metadata));
    }
    actions.extend(adds.into_iter().map(Action::Add));
    actions.extend(removes);
    let predicate = values
        .iter()
        .map(|(k, v)| format!("{k} = '{v}'"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: (!columns.is_empty()).then_some(columns),
        predicate: (!predicate.is_empty()).then_some(predicate),
    };
    let done = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), current.log_store(), operation)
        .await
        .map_err(delta_err(location))?;
    Ok(done.version() as u64)
}

/// The manifests of `table`'s partitions other than `except`, for a table that has no
/// Delta log yet.
async fn published_before_delta(
    root: &Location,
    table: &str,
    except: &str,
) -> Result<Vec<Manifest>> {
    let dir = root.child(table);
    let mut found = Vec::new();
    for meta in root.list(&dir).await? {
        if meta.location.filename() != Some(MANIFEST) {
            continue;
        }
        let Some(rel) = meta.location.prefix_match(&dir) else {
            continue;
        };
        let parts: Vec<String> = rel.map(|p| p.as_ref().to_owned()).collect();
        let dirs = &parts[..parts.len().saturating_sub(1)];
        let partition = dirs.join("/");
        if partition == except || dirs.iter().any(|p| p.starts_with('_')) {
            continue;
        }
        let bytes = root.get(&meta.location).await?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::CorruptManifest {
            location: root.url_of(&meta.location),
            message: e.to_string(),
        })?;
        found.push(m);
    }
    Ok(found)
}

/// The files `table`'s Delta log lists at `version` (newest when `None`): the version,
/// and each file's partition (`as_of=2026-11-01`, or empty), path under the warehouse
/// and size, sorted; `None` when the table has no Delta log.
pub(crate) async fn table_files(
    root: &Location,
    table: &str,
    version: Option<u64>,
) -> Result<Option<(u64, Vec<(String, Path, u64)>)>> {
    let location = root.url_of(&root.child(table));
    let Some(t) = load(root, table, version).await? else {
        return Ok(None);
    };
    let snapshot = t.snapshot().map_err(delta_err(location))?;
    let columns = snapshot.metadata().partition_columns().to_vec();
    let dir = root.child(table);
    let mut files: Vec<(String, Path, u64)> = snapshot
        .log_data()
        .iter()
        .map(|v| {
            let values = v.partition_values_map();
            let partition = columns
                .iter()
                .map(|c| {
                    let value = values.get(c).cloned().flatten().unwrap_or_default();
                    format!("{c}={value}")
                })
                .collect::<Vec<_>>()
                .join("/");
            let path = v.path().split('/').fold(dir.clone(), |p, seg| p.join(seg));
            (partition, path, v.size() as u64)
        })
        .collect();
    files.sort();
    Ok(Some((snapshot.version(), files)))
}

/// Delete the files commits of `table` replaced more than `keep` ago (a Delta `VACUUM`
/// in its lite mode: only files the log marks removed, never a file the log does not
/// know). Writes `VACUUM START`/`VACUUM END` commits when it deletes anything.
pub(crate) async fn vacuum(root: &Location, table: &str, keep: std::time::Duration) -> Result<()> {
    let location = root.url_of(&root.child(table));
    let Some(t) = load(root, table, None).await? else {
        return Ok(());
    };
    let keep = chrono::Duration::from_std(keep).map_err(|e| Error::Delta {
        location: location.clone(),
        message: format!("keep-replaced-files: {e}"),
    })?;
    let (_, metrics) = t
        .vacuum()
        .with_retention_period(keep)
        .with_enforce_retention_duration(false)
        .await
        .map_err(delta_err(location))?;
    if !metrics.files_deleted.is_empty() {
        tracing::info!(
            table,
            files = metrics.files_deleted.len(),
            "deleted files replaced longer ago than keep-replaced-files"
        );
    }
    Ok(())
}
