//! The publishing protocol (write aside, move in, manifest last), the write lock,
//! clean-up of interrupted runs and reading what was published.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::{Stream, StreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use deltalake_core::kernel::StructType;

use crate::delta;
use crate::error::{Error, Result};
use crate::location::Location;
use crate::lock::{self as lock, LOCK, LockInfo, LockState};
use crate::manifest::{ColumnEntry, FileEntry, MANIFEST, Manifest, PublishMeta, SchemaVersions};

/// The folders under the warehouse root that hold published tables.
const PUBLISHED: [&str; 5] = ["staged", "quarantine", "features", "training", "scores"];

/// Folder under the warehouse root where runs write files before committing them.
pub const TMP: &str = "_tmp";

/// A run's commit journals, `_tmp/<run_id>/_commit-<n>.json`, n counting the run's
/// commits from 0 ([`Warehouse::commit_all`]).
const JOURNAL: &str = "_commit";
const JOURNAL_FORMAT: &str = "retain.commit/1";

/// The partitions a run is committing as one, with where each file lies aside.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Journal {
    format: String,
    run_id: String,
    partitions: Vec<JournalEntry>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
struct JournalEntry {
    /// Object paths under `_tmp/<run_id>/`, in the manifest's file order.
    files: Vec<String>,
    manifest: Manifest,
    /// The table's Delta schema (files' columns and partition columns).
    delta_schema: StructType,
}

/// A partition written aside by [`Warehouse::write`], not yet visible.
#[derive(Debug)]
pub struct Pending {
    files: Vec<Path>,
    /// The manifest [`Warehouse::commit`] will publish.
    pub manifest: Manifest,
    delta_schema: StructType,
}

/// Told how far a long step has got, for progress displays (the CLI's bars). The
/// warehouse reports every partition it writes as the step `write <table>/<partition>`;
/// other crates report their own steps. Called from the task doing the work, so
/// implementations must be quick and must not block.
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// `rows` rows of `step` done so far (cumulative; typically once per batch).
    fn rows(&self, step: &str, rows: u64);
    /// The step is over, done or abandoned.
    fn finished(&self, step: &str);
}

/// The warehouse: a root location and the id of the current run.
#[derive(Debug, Clone)]
pub struct Warehouse {
    pub root: Location,
    pub run_id: String,
    /// Where write progress goes (nowhere by default).
    progress: Option<Arc<dyn Progress>>,
    /// Looked up for every partition written, into its manifest's `schema_version`.
    schema_versions: Option<SchemaVersions>,
    /// The write lock this run holds (shared by clones): lost, a commit is refused.
    lock_state: Arc<LockState>,
    /// Commits so far (shared by clones), numbering the journals.
    commits: Arc<std::sync::atomic::AtomicU64>,
    /// Files written so far (shared by clones), numbering their names.
    written: Arc<std::sync::atomic::AtomicU64>,
    /// How long a file a commit replaced stays for Delta readers of older versions
    /// (zero: deleted at once, so folder globs see only current files).
    keep_replaced: Duration,
}

impl Warehouse {
    pub fn new(root: Location, run_id: impl Into<String>) -> Self {
        Self {
            root,
            run_id: run_id.into(),
            progress: None,
            schema_versions: None,
            lock_state: Arc::default(),
            commits: Arc::default(),
            written: Arc::default(),
            keep_replaced: Duration::ZERO,
        }
    }

    /// Keep the files a commit replaces for `keep` (Delta readers can then read the
    /// versions they belonged to) and delete them with a Delta `VACUUM` of the table
    /// once they are older: see [`Warehouse::commit`]. Zero (the default) deletes them
    /// right after the commit.
    #[must_use]
    pub fn with_keep_replaced_files(mut self, keep: Duration) -> Self {
        self.keep_replaced = keep;
        self
    }

    /// Report rows as they are written (see [`Progress`]).
    #[must_use]
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Record each table's schema contract version in the manifests written. The map
    /// lives with the table definitions (retain-pipeline), not here.
    #[must_use]
    pub fn with_schema_versions(mut self, versions: SchemaVersions) -> Self {
        self.schema_versions = Some(versions);
        self
    }

    /// Folder of a table partition.
    pub fn partition_path(&self, table: &str, partition: &str) -> Path {
        self.root.child(&format!("{table}/{partition}"))
    }

    /// Stream record batches into one Parquet file of `table/partition` and publish it:
    /// [`Warehouse::write`] then [`Warehouse::commit`].
    pub async fn publish<S, E>(
        &self,
        table: &str,
        partition: &str,
        schema: SchemaRef,
        batches: S,
        meta: PublishMeta,
    ) -> Result<Manifest>
    where
        S: Stream<Item = std::result::Result<RecordBatch, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let pending = self.write(table, partition, schema, batches, meta).await?;
        self.commit(pending).await
    }

    /// Folder of this run's files written aside.
    fn tmp_dir(&self) -> Path {
        self.root.child(&format!("{TMP}/{}", self.run_id))
    }

    /// Stream record batches into one Parquet file written aside (under `_tmp/<run_id>/`),
    /// invisible to readers until [`Warehouse::commit`]. A failed stream deletes the file.
    pub async fn write<S, E>(
        &self,
        table: &str,
        partition: &str,
        schema: SchemaRef,
        batches: S,
        meta: PublishMeta,
    ) -> Result<Pending>
    where
        S: Stream<Item = std::result::Result<RecordBatch, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = std::time::Instant::now();
        // A name no other file of the table ever had (Delta readers of an older version
        // still find the file they were promised; a replaced file is never overwritten).
        let n = self
            .written
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let file_name = format!("part-{n:05}-{}.parquet", self.run_id);
        let delta_schema = delta::delta_schema(table, &schema, partition)?;
        let file_path = self
            .root
            .child(&format!("{TMP}/{}/{table}/{partition}", self.run_id))
            .join(file_name.as_str());
        let location = self.root.url_of(&file_path);
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(256 * 1024))
            .build();
        let sink =
            object_store::buffered::BufWriter::new(self.root.store.clone(), file_path.clone());
        let mut writer =
            AsyncArrowWriter::try_new(sink, schema.clone(), Some(props)).map_err(|source| {
                Error::Parquet {
                    location: location.clone(),
                    source,
                }
            })?;
        let mut rows = 0u64;
        let progress = self.progress.as_deref();
        let step = format!("write {table}/{partition}");
        let step = step.trim_end_matches('/');
        futures::pin_mut!(batches);
        while let Some(batch) = batches.next().await {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    if let Some(p) = progress {
                        p.finished(step);
                    }
                    // Abort: nothing was committed; a multipart upload under way is
                    // aborted (S3 keeps and bills its parts otherwise) and the file aside
                    // goes now (or with the next run's clean-up if this delete fails).
                    let _ = writer.into_inner().abort().await;
                    let _ = self.root.store.delete(&file_path).await;
                    return Err(Error::Upstream {
                        location,
                        source: e.into(),
                    });
                }
            };
            rows += batch.num_rows() as u64;
            let written = writer.write(&batch).await.map_err(|source| Error::Parquet {
                location: location.clone(),
                source,
            });
            if let Some(p) = progress {
                match written {
                    Ok(()) => p.rows(step, rows),
                    Err(_) => p.finished(step),
                }
            }
            if let Err(e) = written {
                let _ = writer.into_inner().abort().await;
                let _ = self.root.store.delete(&file_path).await;
                return Err(e);
            }
        }
        if let Some(p) = progress {
            p.finished(step);
        }
        writer.close().await.map_err(|source| Error::Parquet {
            location: location.clone(),
            source,
        })?;
        let bytes = self
            .root
            .store
            .head(&file_path)
            .await
            .map_err(|source| Error::Store {
                location: location.clone(),
                source,
            })?
            .size;
        let manifest = Manifest {
            format: "retain.manifest/1".into(),
            table: table.to_owned(),
            partition: partition.to_owned(),
            run_id: self.run_id.clone(),
            code_version: env!("CARGO_PKG_VERSION").into(),
            schema_version: self.schema_versions.and_then(|v| v(table)),
            table_version: None,
            rows,
            files: vec![FileEntry {
                path: file_name,
                rows,
                bytes,
            }],
            schema: schema
                .fields()
                .iter()
                .map(|f| ColumnEntry {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                    nullable: f.is_nullable(),
                })
                .collect(),
            inputs: meta.inputs,
            properties: meta.properties,
            elapsed_ms: meta.elapsed_ms + started.elapsed().as_millis() as u64,
        };
        Ok(Pending {
            files: vec![file_path],
            manifest,
            delta_schema,
        })
    }

    /// URLs of the files of a partition written aside (to read it before the commit).
    pub fn pending_urls(&self, pending: &Pending) -> Vec<String> {
        pending.files.iter().map(|p| self.root.url_of(p)).collect()
    }

    /// Make a partition written aside visible: move its files into the partition folder
    /// (each move replaces the old object whole), write the manifest, then delete files
    /// the manifest does not list.
    ///
    /// The commit is journaled ([`Warehouse::commit_all`]): a run killed between moving
    /// the file in and writing the manifest has it completed by the next run.
    pub async fn commit(&self, pending: Pending) -> Result<Manifest> {
        let mut published = self.commit_all(vec![pending]).await?;
        published.pop().ok_or_else(|| Error::CorruptManifest {
            location: self.root.url(),
            message: "a commit of one partition published none".into(),
        })
    }

    /// Commit several partitions as one: a journal listing them all
    /// (`_tmp/<run_id>/_commit-<n>.json`, one PUT) is written first, then each is committed,
    /// then the journal is deleted. A run that dies or fails after the journal was
    /// written has its commit completed by the next run that takes the lock
    /// ([`Warehouse::clean_leftovers`]), so the partitions end up all published, never
    /// some (issue 20, finding 3). Every file was written whole before the journal, so
    /// completing is always possible.
    pub async fn commit_all(&self, pending: Vec<Pending>) -> Result<Vec<Manifest>> {
        self.check_lock()?;
        let journal = self.journal(&pending);
        let n = self
            .commits
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = self
            .tmp_dir()
            .join(format!("{JOURNAL}-{n:06}.json").as_str());
        let bytes = serde_json::to_vec(&journal).map_err(|e| Error::CorruptManifest {
            location: self.root.url_of(&path),
            message: e.to_string(),
        })?;
        self.root.put(&path, bytes).await?;
        let mut published = Vec::with_capacity(pending.len());
        for p in pending {
            published.push(
                self.move_in(&p.files, p.manifest, &p.delta_schema, false)
                    .await?,
            );
        }
        self.delete(&path).await?;
        Ok(published)
    }

    /// The journal of committing `pending` as one.
    fn journal(&self, pending: &[Pending]) -> Journal {
        Journal {
            format: JOURNAL_FORMAT.into(),
            run_id: self.run_id.clone(),
            partitions: pending
                .iter()
                .map(|p| JournalEntry {
                    files: p.files.iter().map(|f| f.to_string()).collect(),
                    manifest: p.manifest.clone(),
                    delta_schema: p.delta_schema.clone(),
                })
                .collect(),
        }
    }

    /// Complete the commits that runs which died left journaled; how many partitions.
    async fn complete_interrupted_commits(&self) -> Result<usize> {
        let own = self.tmp_dir();
        let mut completed = 0;
        for meta in self.root.list(&self.root.child(TMP)).await? {
            let journaled = meta
                .location
                .filename()
                .is_some_and(|f| f.starts_with(JOURNAL) && f.ends_with(".json"));
            // Listed in path order: a run's journals in the order it wrote them.
            if !journaled || meta.location.prefix_match(&own).is_some() {
                continue;
            }
            let location = self.root.url_of(&meta.location);
            let bytes = self.root.get(&meta.location).await?;
            let journal: Journal =
                serde_json::from_slice(&bytes).map_err(|e| Error::CorruptManifest {
                    location: location.clone(),
                    message: e.to_string(),
                })?;
            let n = journal.partitions.len();
            for entry in journal.partitions {
                let files: Vec<Path> = entry.files.iter().map(|f| Path::from(f.as_str())).collect();
                self.move_in(&files, entry.manifest, &entry.delta_schema, true)
                    .await?;
            }
            self.delete(&meta.location).await?;
            tracing::warn!(
                run_id = %journal.run_id,
                partitions = n,
                "completed the commit of a run that stopped while publishing"
            );
            completed += n;
        }
        Ok(completed)
    }

    /// Move a partition's files in, commit them to the table's Delta log (the commit
    /// point), write its manifest, delete what it does not list.
    /// `resuming` (completing another run's journaled commit): a file already moved, or
    /// already in the Delta log, is fine; one that is neither aside nor in place is an
    /// error.
    async fn move_in(
        &self,
        files: &[Path],
        mut manifest: Manifest,
        delta_schema: &StructType,
        resuming: bool,
    ) -> Result<Manifest> {
        let started = std::time::Instant::now();
        let dir = self.partition_path(&manifest.table, &manifest.partition);
        self.check_lock()?;
        for (tmp, entry) in files.iter().zip(&manifest.files) {
            let to = dir.clone().join(entry.path.as_str());
            match self.root.store.rename(tmp, &to).await {
                Ok(()) => {}
                Err(object_store::Error::NotFound { .. })
                    if resuming && self.root.exists(&to).await? => {}
                Err(source) => {
                    return Err(Error::Store {
                        location: self.root.url_of(&to),
                        source,
                    });
                }
            }
        }
        // The Delta commit is the commit point: not from a run that lost the lock.
        self.check_lock()?;
        let delta_started = std::time::Instant::now();
        manifest.table_version = Some(delta::commit(&self.root, &manifest, delta_schema).await?);
        let delta_ms = delta_started.elapsed().as_millis() as u64;
        manifest.elapsed_ms += started.elapsed().as_millis() as u64;
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::CorruptManifest {
            location: self.root.url_of(&dir),
            message: e.to_string(),
        })?;
        self.root.put(&dir.clone().join(MANIFEST), json).await?;
        if self.keep_replaced.is_zero() {
            self.delete_unlisted(&dir, &manifest).await?;
        } else {
            delta::vacuum(&self.root, &manifest.table, self.keep_replaced).await?;
        }
        tracing::info!(
            table = %manifest.table,
            partition = %manifest.partition,
            rows = manifest.rows,
            bytes = manifest.files.iter().map(|f| f.bytes).sum::<u64>(),
            schema_version = manifest.schema_version,
            table_version = manifest.table_version,
            delta_commit_ms = delta_ms,
            elapsed_ms = manifest.elapsed_ms,
            "published"
        );
        Ok(manifest)
    }

    /// Delete the files in a partition folder its manifest does not list: the files the
    /// commit replaced, and files of earlier layouts.
    async fn delete_unlisted(&self, dir: &Path, manifest: &Manifest) -> Result<()> {
        let keep: Vec<Path> = manifest
            .files
            .iter()
            .map(|f| dir.clone().join(f.path.as_str()))
            .collect();
        for meta in self.root.list(dir).await? {
            let name = meta.location.filename().unwrap_or_default();
            if name == MANIFEST || keep.contains(&meta.location) {
                continue;
            }
            // Only direct children: nested partitions and the Delta log belong to others.
            if meta.location.prefix_match(dir).map(|p| p.count()) != Some(1) {
                continue;
            }
            self.delete(&meta.location).await?;
        }
        Ok(())
    }

    /// Drop a partition written aside.
    pub async fn abort(&self, pending: Pending) -> Result<()> {
        for f in &pending.files {
            self.delete(f).await?;
        }
        Ok(())
    }

    async fn delete(&self, path: &Path) -> Result<()> {
        match self.root.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(Error::Store {
                location: self.root.url_of(path),
                source,
            }),
        }
    }

    /// Take the warehouse's write lock with a conditional create (`If-None-Match: *` on
    /// S3, an exclusive create on disk), so two runs cannot both hold it, and keep it
    /// fresh until [`Warehouse::unlock`]. A lock not refreshed for `stale_after`, or
    /// whose holder is a process of this host that is gone, is taken over (fenced: of
    /// two runs taking over the same lock, one wins), with a warning; a live one is
    /// [`Error::Locked`]. The protocol is in the `lock` module's docs.
    pub async fn lock(&self, info: &LockInfo, stale_after: Duration) -> Result<()> {
        let version = lock::acquire(&self.root, info, stale_after).await?;
        lock::start_refresher(
            self.root.clone(),
            info.clone(),
            version,
            stale_after,
            self.lock_state.clone(),
        );
        Ok(())
    }

    /// `Err(LockLost)` once another run took this run's write lock over (or it could
    /// not be refreshed in time): nothing more may be published. [`Warehouse::commit`]
    /// checks it; so must any other write to shared state (the registry).
    pub fn check_lock(&self) -> Result<()> {
        self.lock_state
            .check(&self.root.url_of(&self.root.child(LOCK)), &self.run_id)
    }

    /// Release the write lock if this run holds it (a lock another run took over is
    /// left alone). The refresher stops first, so no refresh lands after the release.
    pub async fn unlock(&self) -> Result<()> {
        lock::stop_refresher(&self.lock_state).await;
        match self.get_json::<LockInfo>(LOCK).await {
            Ok(Some(h)) if h.run_id == self.run_id => self.delete(&self.root.child(LOCK)).await,
            Ok(_) | Err(Error::CorruptManifest { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Complete the journaled commits of runs that stopped while publishing
    /// ([`Warehouse::commit_all`]), then delete what interrupted runs left under `_tmp/`
    /// (everything but this run's own files); returns how many objects were removed. Only a run holding the write lock
    /// ([`Warehouse::lock`]) may call it: no other run can be writing.
    pub async fn clean_leftovers(&self) -> Result<usize> {
        self.complete_interrupted_commits().await?;
        let own = self.tmp_dir();
        let mut removed = 0;
        for meta in self.root.list(&self.root.child(TMP)).await? {
            if meta.location.prefix_match(&own).is_some() {
                continue;
            }
            self.delete(&meta.location).await?;
            removed += 1;
        }
        if self.root.store_url.scheme() == "file" {
            let dir = std::path::PathBuf::from(format!("/{}", self.root.prefix));
            removed += remove_staged_uploads(&dir).map_err(|e| Error::InvalidLocation {
                location: self.root.url(),
                message: format!("removing half-written files: {e}"),
            })?;
        }
        Ok(removed)
    }

    /// Whether a partition is published (its manifest exists). Any other failure to read
    /// the manifest (the store does not answer, the manifest does not parse) is an error,
    /// not a "no".
    pub async fn is_published(&self, table: &str, partition: &str) -> Result<bool> {
        match self.manifest(table, partition).await {
            Ok(_) => Ok(true),
            Err(Error::NotPublished { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The manifest of a published partition, or `NotPublished`.
    pub async fn manifest(&self, table: &str, partition: &str) -> Result<Manifest> {
        let dir = self.partition_path(table, partition);
        let path = dir.clone().join(MANIFEST);
        let location = self.root.url_of(&path);
        let bytes = match self.root.store.get(&path).await {
            Ok(r) => r.bytes().await.map_err(|source| Error::Store {
                location: location.clone(),
                source,
            })?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::NotPublished {
                    table: table.to_owned(),
                    partition: partition.to_owned(),
                    location,
                });
            }
            Err(source) => return Err(Error::Store { location, source }),
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::CorruptManifest {
            location,
            message: e.to_string(),
        })
    }

    /// URLs of the data files of a published partition (what readers should read),
    /// each checked against its manifest entry: a file that is missing or whose size
    /// differs was changed outside retain (a copy, a restore from another date) and is
    /// refused, not read (issue 20, finding 11). One HEAD request per file.
    pub async fn files(&self, table: &str, partition: &str) -> Result<(Manifest, Vec<String>)> {
        let manifest = self.manifest(table, partition).await?;
        let dir = self.partition_path(table, partition);
        let mut urls = Vec::with_capacity(manifest.files.len());
        for f in &manifest.files {
            let path = dir.clone().join(f.path.as_str());
            let location = self.root.url_of(&path);
            let found = match self.root.store.head(&path).await {
                Ok(meta) => Some(meta.size),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(source) => return Err(Error::Store { location, source }),
            };
            if found != Some(f.bytes) {
                return Err(Error::NotAsPublished {
                    location,
                    expected: f.bytes,
                    found,
                    run_id: manifest.run_id.clone(),
                });
            }
            urls.push(location);
        }
        Ok((manifest, urls))
    }

    /// The published tables that have a Delta log (`staged/orders`, `features/customer`,
    /// …), in path order: every folder under the published prefixes (`staged`,
    /// `quarantine`, `features`, `training`, `scores`) holding a `_delta_log/`.
    pub async fn tables(&self) -> Result<Vec<String>> {
        let mut found = std::collections::BTreeSet::new();
        for top in PUBLISHED {
            let base = self.root.child(top);
            for meta in self.root.list(&base).await? {
                let parts: Vec<String> = meta
                    .location
                    .prefix_match(&self.root.prefix)
                    .map(|p| p.map(|s| s.as_ref().to_owned()).collect())
                    .unwrap_or_default();
                if let Some(i) = parts.iter().position(|s| s == delta::DELTA_LOG) {
                    found.insert(parts[..i].join("/"));
                }
            }
        }
        Ok(found.into_iter().collect())
    }

    /// A table as a Delta reader sees it at `version` (the newest when `None`): the
    /// version, and each file with its partition, URL and size. A file a later commit
    /// replaced is gone once `keep-replaced-files` has passed: asking for such a version
    /// is an error naming the first missing file, not a partial answer.
    pub async fn table_files(
        &self,
        table: &str,
        version: Option<u64>,
    ) -> Result<(u64, Vec<(String, String, u64)>)> {
        let location = self.root.url_of(&self.root.child(table));
        let Some((v, files)) = delta::table_files(&self.root, table, version).await? else {
            return Err(Error::Delta {
                location,
                message: "no Delta log here: not a published table".into(),
            });
        };
        let mut out = Vec::with_capacity(files.len());
        for (partition, path, bytes) in files {
            if !self.root.exists(&path).await? {
                return Err(Error::Delta {
                    location: self.root.url_of(&path),
                    message: format!(
                        "version {v} lists this file but it was deleted (replaced by a later \
                         commit longer ago than keep-replaced-files)"
                    ),
                });
            }
            out.push((partition, self.root.url_of(&path), bytes));
        }
        Ok((v, out))
    }

    /// Write a small JSON document (model registry files, pointers) with one PUT.
    pub async fn put_json<T: Serialize>(&self, rel: &str, value: &T) -> Result<()> {
        let path = self.root.child(rel);
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::CorruptManifest {
            location: self.root.url_of(&path),
            message: e.to_string(),
        })?;
        self.root.put(&path, bytes).await
    }

    /// Read a small JSON document, `None` when absent.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, rel: &str) -> Result<Option<T>> {
        let path = self.root.child(rel);
        if !self.root.exists(&path).await? {
            return Ok(None);
        }
        let bytes = self.root.get(&path).await?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::CorruptManifest {
                location: self.root.url_of(&path),
                message: e.to_string(),
            })
    }
}

/// Remove the `<name>#<digits>` files under `dir`: object_store's local store writes an
/// object there first and renames it into place, so a process killed in between leaves
/// one, and its listings never show it (issue 20, finding 8). Written by hand: no
/// library cleans these. Symbolic links are not followed.
fn remove_staged_uploads(dir: &std::path::Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            removed += remove_staged_uploads(&entry.path())?;
            continue;
        }
        let name = entry.file_name();
        let staged = name
            .to_str()
            .and_then(|n| n.rsplit_once('#'))
            .is_some_and(|(stem, n)| {
                !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            });
        if kind.is_file() && staged {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(values: &[i64]) -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap();
        (schema, b)
    }

    fn memory() -> Location {
        Location::parse("memory:///wh").unwrap()
    }

    /// Records what it is told, in order.
    #[derive(Debug, Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    impl Progress for Recorder {
        fn rows(&self, step: &str, rows: u64) {
            self.0.lock().unwrap().push(format!("{step}: {rows}"));
        }
        fn finished(&self, step: &str) {
            self.0.lock().unwrap().push(format!("{step}: done"));
        }
    }

    #[tokio::test]
    async fn manifests_carry_the_schema_version_and_writes_report_progress() {
        let (schema, b) = batch(&[1, 2, 3]);
        let progress = Arc::new(Recorder::default());
        let wh = Warehouse::new(memory(), "run1")
            .with_schema_versions(|t| (t == "scores/x").then_some(7))
            .with_progress(progress.clone());
        let batches = vec![Ok::<_, std::io::Error>(b.clone()), Ok(b)];
        let m = wh
            .publish(
                "scores/x",
                "as_of=2026-01-01",
                schema.clone(),
                futures::stream::iter(batches),
                PublishMeta::default(),
            )
            .await
            .unwrap();
        assert_eq!(m.schema_version, Some(7));
        assert_eq!(
            wh.manifest("scores/x", "as_of=2026-01-01")
                .await
                .unwrap()
                .schema_version,
            Some(7)
        );
        assert_eq!(
            *progress.0.lock().unwrap(),
            [
                "write scores/x/as_of=2026-01-01: 3",
                "write scores/x/as_of=2026-01-01: 6",
                "write scores/x/as_of=2026-01-01: done",
            ]
        );
        // A table the map does not know gets no version, and the field is left out.
        let (_, b) = batch(&[1]);
        let m = wh
            .publish(
                "other",
                "",
                schema,
                futures::stream::iter(vec![Ok::<_, std::io::Error>(b)]),
                PublishMeta::default(),
            )
            .await
            .unwrap();
        assert_eq!(m.schema_version, None);
        let json = serde_json::to_value(&m).unwrap();
        assert!(json.get("schema_version").is_none(), "{json}");
        assert_eq!(
            progress.0.lock().unwrap().last().unwrap(),
            "write other: done"
        );
    }

    #[tokio::test]
    async fn publish_then_republish_keeps_only_the_new_files() {
        let root = memory();
        let (schema, b) = batch(&[1, 2, 3]);
        let w1 = Warehouse::new(root.clone(), "run1");
        let s = futures::stream::iter(vec![Ok::<_, std::io::Error>(b.clone())]);
        let m1 = w1
            .publish(
                "t",
                "as_of=2026-01-01",
                schema.clone(),
                s,
                PublishMeta::default(),
            )
            .await
            .unwrap();
        assert_eq!(m1.rows, 3);
        let w2 = Warehouse::new(root.clone(), "run2");
        let (_, b2) = batch(&[4]);
        let s = futures::stream::iter(vec![Ok::<_, std::io::Error>(b2)]);
        w2.publish("t", "as_of=2026-01-01", schema, s, PublishMeta::default())
            .await
            .unwrap();
        let (m, urls) = w2.files("t", "as_of=2026-01-01").await.unwrap();
        assert_eq!(m.run_id, "run2");
        assert_eq!(m.rows, 1);
        assert_eq!(urls.len(), 1);
        let listed = root
            .list(&w2.partition_path("t", "as_of=2026-01-01"))
            .await
            .unwrap();
        let names: Vec<_> = listed
            .iter()
            .map(|m| m.location.filename().unwrap().to_owned())
            .collect();
        assert_eq!(names, vec!["_manifest.json", "part-00000-run2.parquet"]);
        // Nothing is left aside.
        assert!(root.list(&root.child(TMP)).await.unwrap().is_empty());
        // The Delta log says the same: version 0 had run1's file, version 1 replaced it
        // with run2's, and each manifest names the version that published it.
        assert_eq!((m1.table_version, m.table_version), (Some(0), Some(1)));
        for (version, name) in [
            (0, "part-00000-run1.parquet"),
            (1, "part-00000-run2.parquet"),
        ] {
            let (v, files) = delta::table_files(&root, "t", Some(version))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(v, version);
            let files: Vec<_> = files
                .iter()
                .map(|(part, p, _)| (part.as_str(), p.filename().unwrap()))
                .collect();
            assert_eq!(files, [("as_of=2026-01-01", name)]);
        }
        // Replaced files go at once by default: version 0 is no longer readable, and
        // saying so is an error, not an empty table.
        let err = w2.table_files("t", Some(0)).await.unwrap_err().to_string();
        assert!(
            err.contains("version 0 lists this file but it was deleted"),
            "{err}"
        );
        assert_eq!(w2.table_files("t", None).await.unwrap().1.len(), 1);
    }

    async fn publish_rows(
        wh: &Warehouse,
        table: &str,
        partition: &str,
        values: &[i64],
    ) -> Manifest {
        let (schema, b) = batch(values);
        let s = futures::stream::iter(vec![Ok::<_, std::io::Error>(b)]);
        wh.publish(table, partition, schema, s, PublishMeta::default())
            .await
            .unwrap()
    }

    /// With `keep-replaced-files`, a replaced file stays for Delta readers of the
    /// version it belonged to, and a Delta VACUUM deletes it once it is older than that.
    #[tokio::test]
    async fn replaced_files_are_kept_for_older_versions_then_vacuumed() {
        let root = memory();
        let t = "scores/t";
        let keep =
            |run: &str, d: Duration| Warehouse::new(root.clone(), run).with_keep_replaced_files(d);
        publish_rows(
            &keep("run1", Duration::from_secs(3600)),
            t,
            "as_of=2026-01-01",
            &[1, 2],
        )
        .await;
        publish_rows(
            &keep("run2", Duration::from_secs(3600)),
            t,
            "as_of=2026-01-01",
            &[3],
        )
        .await;
        let wh = keep("reader", Duration::ZERO);
        let (v0, files0) = wh.table_files(t, Some(0)).await.unwrap();
        let (v1, files1) = wh.table_files(t, None).await.unwrap();
        assert_eq!((v0, v1), (0, 1));
        assert!(
            files0[0].1.ends_with("part-00000-run1.parquet"),
            "{files0:?}"
        );
        assert!(
            files1[0].1.ends_with("part-00000-run2.parquet"),
            "{files1:?}"
        );
        assert_eq!(wh.tables().await.unwrap(), [t]);

        // A third commit keeping replaced files for only 1 ms vacuums both older ones.
        tokio::time::sleep(Duration::from_millis(20)).await;
        publish_rows(
            &keep("run3", Duration::from_millis(1)),
            t,
            "as_of=2026-01-01",
            &[4],
        )
        .await;
        let names: Vec<String> = root
            .list(&root.child(&format!("{t}/as_of=2026-01-01")))
            .await
            .unwrap()
            .iter()
            .map(|m| m.location.filename().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["_manifest.json", "part-00000-run3.parquet"]);
        let err = wh.table_files(t, Some(1)).await.unwrap_err().to_string();
        assert!(err.contains("was deleted"), "{err}");
    }

    /// A table's Delta log does not grow without end: delta-rs writes a checkpoint every
    /// 100 commits (`delta.checkpointInterval`), from which readers start. (101 commits
    /// take about 11 s in a debug build, each replaying the log since the checkpoint.)
    #[tokio::test]
    async fn the_delta_log_is_checkpointed_every_hundred_commits() {
        let root = memory();
        let wh = Warehouse::new(root.clone(), "daily");
        for day in 0..=100 {
            publish_rows(&wh, "scores/t", &format!("as_of=p{day}"), &[day]).await;
        }
        // Version 99 is the 100th commit.
        let log = root.child("scores/t/_delta_log");
        let checkpoint = log.clone().join("00000000000000000099.checkpoint.parquet");
        assert!(root.exists(&checkpoint).await.unwrap());
        assert!(root.exists(&log.join("_last_checkpoint")).await.unwrap());
        let (version, files) = wh.table_files("scores/t", None).await.unwrap();
        assert_eq!((version, files.len()), (100, 101));
    }

    /// A column Delta Lake has no type for is refused before a row is written, naming
    /// the table and the column.
    #[tokio::test]
    async fn a_column_delta_cannot_hold_is_refused_naming_it() {
        use arrow::array::Time64NanosecondArray;
        let root = memory();
        let wh = Warehouse::new(root.clone(), "run1");
        let schema = Arc::new(Schema::new(vec![Field::new(
            "opened_at_time",
            DataType::Time64(arrow::datatypes::TimeUnit::Nanosecond),
            true,
        )]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Time64NanosecondArray::from(vec![1i64]))],
        )
        .unwrap();
        let s = futures::stream::iter(vec![Ok::<_, std::io::Error>(b)]);
        let err = wh
            .write(
                "features/customer",
                "as_of=2026-01-01",
                schema,
                s,
                PublishMeta::default(),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("features/customer")
                && err.contains("column `opened_at_time` has type Time64(ns)"),
            "{err}"
        );
        assert!(
            root.list(&root.child("")).await.unwrap().is_empty(),
            "nothing written"
        );
    }

    /// A table published before retain wrote Delta logs gets one on its next commit,
    /// listing every partition its manifests list, not only the one committed.
    #[tokio::test]
    async fn a_table_without_a_delta_log_is_converted_on_its_next_commit() {
        let root = memory();
        let wh = Warehouse::new(root.clone(), "old");
        publish_rows(&wh, "features/x", "as_of=2026-01-01", &[1, 2]).await;
        publish_rows(&wh, "features/x", "as_of=2026-02-01", &[3]).await;
        for meta in root
            .list(&root.child("features/x/_delta_log"))
            .await
            .unwrap()
        {
            root.store.delete(&meta.location).await.unwrap();
        }
        let new = Warehouse::new(root.clone(), "new");
        let m = publish_rows(&new, "features/x", "as_of=2026-02-01", &[4, 5, 6]).await;
        assert_eq!(m.table_version, Some(0));
        let (_, files) = new.table_files("features/x", None).await.unwrap();
        let parts: Vec<(&str, bool)> = files
            .iter()
            .map(|(p, url, _)| (p.as_str(), url.contains("-new.parquet")))
            .collect();
        assert_eq!(
            parts,
            [("as_of=2026-01-01", false), ("as_of=2026-02-01", true)]
        );
    }

    #[tokio::test]
    async fn is_published_says_no_only_when_there_is_no_manifest() {
        let root = memory();
        let (schema, b) = batch(&[1]);
        let w = Warehouse::new(root.clone(), "run1");
        assert!(!w.is_published("t", "p=1").await.unwrap());
        w.publish(
            "t",
            "p=1",
            schema,
            futures::stream::iter(vec![Ok::<_, std::io::Error>(b)]),
            PublishMeta::default(),
        )
        .await
        .unwrap();
        assert!(w.is_published("t", "p=1").await.unwrap());
        // A manifest that cannot be read is an error, not "unpublished" (a backfill would
        // otherwise rerun the date over it).
        let path = w.partition_path("t", "p=2").join(MANIFEST);
        root.put(&path, b"{ not json".to_vec()).await.unwrap();
        assert!(w.is_published("t", "p=2").await.is_err());
    }

    #[tokio::test]
    async fn a_failed_stream_publishes_nothing() {
        let root = memory();
        let (schema, b) = batch(&[1]);
        let w = Warehouse::new(root.clone(), "run1");
        let s = futures::stream::iter(vec![
            Ok(b),
            Err(std::io::Error::other("query failed half-way")),
        ]);
        let err = w
            .publish("t", "p=1", schema, s, PublishMeta::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("query failed half-way"), "{err}");
        assert!(matches!(
            w.manifest("t", "p=1").await,
            Err(Error::NotPublished { .. })
        ));
        assert!(
            root.list(&w.partition_path("t", "p=1"))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn written_aside_is_invisible_until_commit_and_leftovers_are_cleaned() {
        let root = memory();
        let (schema, b) = batch(&[1, 2]);
        // An interrupted run: written aside, never committed.
        let dead = Warehouse::new(root.clone(), "run-dead");
        let s = futures::stream::iter(vec![Ok::<_, std::io::Error>(b.clone())]);
        let pending = dead
            .write("t", "p=1", schema.clone(), s, PublishMeta::default())
            .await
            .unwrap();
        assert_eq!(pending.manifest.rows, 2);
        assert!(
            root.list(&dead.partition_path("t", "p=1"))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            dead.manifest("t", "p=1").await,
            Err(Error::NotPublished { .. })
        ));
        // The next run removes it, and only it.
        let next = Warehouse::new(root.clone(), "run-next");
        let s = futures::stream::iter(vec![Ok::<_, std::io::Error>(b.clone())]);
        let mine = next
            .write("t", "p=2", schema.clone(), s, PublishMeta::default())
            .await
            .unwrap();
        assert_eq!(next.clean_leftovers().await.unwrap(), 1);
        let left = root.list(&root.child(TMP)).await.unwrap();
        assert_eq!(left.len(), 1);
        assert!(left[0].location.as_ref().contains("run-next"), "{left:?}");
        // Abort removes this run's own file; commit of another publishes it.
        next.abort(mine).await.unwrap();
        assert!(root.list(&root.child(TMP)).await.unwrap().is_empty());
    }

    /// One run at a time: a second run is refused with the holder named, the holder's
    /// release frees the lock, a stale lock is taken over, and nobody releases a lock
    /// that is not theirs.
    #[tokio::test]
    async fn the_write_lock_admits_one_run() {
        let root = Location::parse("memory:///wh").unwrap();
        let hour = Duration::from_secs(3600);
        let a = Warehouse::new(root.clone(), "run-a");
        let b = Warehouse::new(root.clone(), "run-b");
        a.lock(
            &LockInfo::here("run-a", "run", Some("2026-11-01".into())),
            hour,
        )
        .await
        .unwrap();
        let err = b
            .lock(&LockInfo::here("run-b", "ingest", None), hour)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("in use by run run-a (run, as of 2026-11-01")
                && msg.contains("has not refreshed it for 1h")
                && msg.contains("memory:///wh/_lock.json"),
            "{msg}"
        );
        b.unlock().await.unwrap();
        assert!(
            root.exists(&root.child(LOCK)).await.unwrap(),
            "b cannot release a's lock"
        );
        a.unlock().await.unwrap();
        b.lock(&LockInfo::here("run-b", "ingest", None), hour)
            .await
            .unwrap();
        // run-b dies holding it; two hours later run-c takes it over.
        let c = Warehouse::new(root.clone(), "run-c");
        let mut old = LockInfo::here("run-b", "ingest", None);
        old.acquired_at -= chrono::Duration::hours(2);
        root.put(&root.child(LOCK), serde_json::to_vec(&old).unwrap())
            .await
            .unwrap();
        c.lock(&LockInfo::here("run-c", "run", None), hour)
            .await
            .unwrap();
        let held: LockInfo = c.get_json(LOCK).await.unwrap().unwrap();
        assert_eq!(held.run_id, "run-c");
        // The old holder waking up does not release the new holder's lock.
        b.unlock().await.unwrap();
        assert!(root.exists(&root.child(LOCK)).await.unwrap());
    }

    /// Both takeover paths: a store with conditional updates (memory, like S3) and the
    /// local file system (rename aside).
    fn lock_stores() -> Vec<(Location, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let local = Location::parse(dir.path().to_str().unwrap()).unwrap();
        vec![(memory(), None), (local, Some(dir))]
    }

    fn stale_lock(root: &Location, run_id: &str) -> impl Future<Output = ()> {
        let mut old = LockInfo::here(run_id, "run", None);
        old.host = "elsewhere".into();
        old.acquired_at -= chrono::Duration::hours(3);
        let (root, path) = (root.clone(), root.child(LOCK));
        async move {
            root.put(&path, serde_json::to_vec(&old).unwrap())
                .await
                .unwrap()
        }
    }

    /// Issue 20, finding 1: with a lock three hours old and several runs starting
    /// together, exactly one takes it over (before, 9 of 25 trials had two holders).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_runs_taking_over_one_stale_lock_exactly_one_wins() {
        let hour = Duration::from_secs(3600);
        for (root, _dir) in lock_stores() {
            for trial in 0..25 {
                stale_lock(&root, "dead").await;
                let mut tasks = tokio::task::JoinSet::new();
                for k in 0..4 {
                    let wh = Warehouse::new(root.clone(), format!("t{trial}-{k}"));
                    tasks.spawn(async move {
                        let info = LockInfo::here(&wh.run_id, "run", None);
                        let won = wh.lock(&info, hour).await;
                        (wh, won)
                    });
                }
                let mut winners = Vec::new();
                for (wh, won) in tasks.join_all().await {
                    match won {
                        Ok(()) => winners.push(wh),
                        Err(Error::Locked { .. }) => {}
                        Err(e) => panic!("{}: {e}", root.url()),
                    }
                }
                assert_eq!(winners.len(), 1, "{} trial {trial}", root.url());
                let held: LockInfo = winners[0].get_json(LOCK).await.unwrap().unwrap();
                assert_eq!(held.run_id, winners[0].run_id);
                winners[0].unlock().await.unwrap();
                assert!(!root.exists(&root.child(LOCK)).await.unwrap());
            }
        }
    }

    /// Issue 20, finding 2: a run longer than `stale_after` keeps its lock (it is
    /// refreshed), and a run whose lock was taken over anyway publishes nothing more.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_working_run_keeps_its_lock_and_one_that_lost_it_stops_publishing() {
        let stale = Duration::from_millis(400);
        for (root, _dir) in lock_stores() {
            let a = Warehouse::new(root.clone(), "long-run");
            a.lock(&LockInfo::here("long-run", "run", None), stale)
                .await
                .unwrap();
            tokio::time::sleep(stale * 3).await;
            let b = Warehouse::new(root.clone(), "eager");
            let err = b
                .lock(&LockInfo::here("eager", "run", None), stale)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Locked { .. }), "{err}");
            let held: LockInfo = a.get_json(LOCK).await.unwrap().unwrap();
            assert!(held.refreshed_at.is_some(), "{held:?}");

            // Another run's lock replaces it (as if this run had been paused past
            // `stale_after`): the next refresh finds it and every commit is refused.
            let (schema, data) = batch(&[1, 2]);
            let s = futures::stream::iter(vec![Ok::<_, std::io::Error>(data)]);
            let pending = a
                .write("t", "p=1", schema, s, PublishMeta::default())
                .await
                .unwrap();
            let other = LockInfo::here("thief", "ingest", None);
            root.put(&root.child(LOCK), serde_json::to_vec(&other).unwrap())
                .await
                .unwrap();
            tokio::time::sleep(stale).await;
            let err = a.commit(pending).await.unwrap_err();
            assert!(
                err.to_string()
                    .contains("run long-run lost the warehouse lock")
                    && err.to_string().contains("to run thief (ingest"),
                "{err}"
            );
            assert!(!a.is_published("t", "p=1").await.unwrap());
            // Releasing leaves the other run's lock alone.
            a.unlock().await.unwrap();
            let held: LockInfo = a.get_json(LOCK).await.unwrap().unwrap();
            assert_eq!(held.run_id, "thief");
        }
    }

    /// A lock whose holder is a process of this host that no longer exists is taken
    /// over at once, not after `stale_after`.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_lock_whose_process_is_gone_is_taken_over_at_once() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        let hour = Duration::from_secs(3600);
        for (root, _dir) in lock_stores() {
            let mut dead = LockInfo::here("killed", "run", None);
            dead.pid = child.id();
            root.put(&root.child(LOCK), serde_json::to_vec(&dead).unwrap())
                .await
                .unwrap();
            let wh = Warehouse::new(root.clone(), "next");
            wh.lock(&LockInfo::here("next", "run", None), hour)
                .await
                .unwrap();
            wh.unlock().await.unwrap();
            // A live process of this host (this one) keeps it.
            let alive = LockInfo::here("alive", "run", None);
            root.put(&root.child(LOCK), serde_json::to_vec(&alive).unwrap())
                .await
                .unwrap();
            assert!(matches!(
                wh.lock(&LockInfo::here("next", "run", None), hour).await,
                Err(Error::Locked { .. })
            ));
        }
    }

    /// Issue 20, finding 8: half-written `<name>#<n>` files a killed process left on
    /// local disk (invisible to listings) go with the next run's clean-up; a file that
    /// merely has `#` in its name stays.
    #[tokio::test]
    async fn half_written_local_files_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("scores/customer_risk/as_of=2026-11-01");
        std::fs::create_dir_all(&part).unwrap();
        for name in [
            "part-00000.parquet#1",
            "_manifest.json#12",
            "notes#draft",
            "a#1b",
        ] {
            std::fs::write(part.join(name), b"x").unwrap();
        }
        let root = Location::parse(dir.path().to_str().unwrap()).unwrap();
        let wh = Warehouse::new(root, "next");
        assert_eq!(wh.clean_leftovers().await.unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(&part)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["a#1b", "notes#draft"]);
    }

    /// Issue 20, finding 11: a data file replaced outside retain (here by another
    /// partition's file) is refused when the partition is read, naming the file.
    #[tokio::test]
    async fn a_file_that_is_not_what_its_manifest_says_is_refused() {
        let root = memory();
        let wh = Warehouse::new(root.clone(), "run-1");
        for (p, values) in [("as_of=1", vec![1i64]), ("as_of=2", (0..100).collect())] {
            let (schema, b) = batch(&values);
            let s = futures::stream::iter(vec![Ok::<_, std::io::Error>(b)]);
            wh.publish("t", p, schema, s, PublishMeta::default())
                .await
                .unwrap();
        }
        let (m, urls) = wh.files("t", "as_of=1").await.unwrap();
        assert_eq!(urls.len(), 1);
        let (m2, _) = wh.files("t", "as_of=2").await.unwrap();
        let file = |p: &str, m: &Manifest| wh.partition_path("t", p).join(m.files[0].path.as_str());
        let other = root.get(&file("as_of=2", &m2)).await.unwrap();
        root.put(&file("as_of=1", &m), other).await.unwrap();
        let err = wh.files("t", "as_of=1").await.unwrap_err().to_string();
        assert!(
            err.contains("t/as_of=1/part-00000-run-1.parquet")
                && err.contains(&format!(
                    "bytes, its manifest (run run-1) says {}",
                    m.files[0].bytes
                )),
            "{err}"
        );
        root.store.delete(&file("as_of=1", &m)).await.unwrap();
        let err = wh.files("t", "as_of=1").await.unwrap_err().to_string();
        assert!(err.contains("is missing"), "{err}");
    }

    /// Issue 20, finding 3: a run that stops after the first of several partitions it
    /// commits together has its commit completed by the next run, so the tables never
    /// stay half old, half new.
    #[tokio::test]
    async fn a_commit_of_several_partitions_stopped_half_way_is_completed_by_the_next_run() {
        let root = memory();
        let old = Warehouse::new(root.clone(), "old");
        let write = |wh: &Warehouse, table: &'static str, values: Vec<i64>| {
            let wh = wh.clone();
            async move {
                let (schema, b) = batch(&values);
                let s = futures::stream::iter(vec![Ok::<_, std::io::Error>(b)]);
                wh.write(table, "", schema, s, PublishMeta::default())
                    .await
                    .unwrap()
            }
        };
        let before = vec![
            write(&old, "a", vec![1]).await,
            write(&old, "b", vec![1]).await,
        ];
        old.commit_all(before).await.unwrap();
        assert!(
            root.list(&root.child(TMP)).await.unwrap().is_empty(),
            "journal removed"
        );

        // The new run journals both, commits `a`, and dies.
        let dying = Warehouse::new(root.clone(), "dying");
        let mut new = vec![
            write(&dying, "a", vec![2, 2]).await,
            write(&dying, "b", vec![2, 2]).await,
        ];
        let journal = dying.journal(&new);
        root.put(
            &dying.tmp_dir().join("_commit-000000.json"),
            serde_json::to_vec(&journal).unwrap(),
        )
        .await
        .unwrap();
        let first = new.remove(0);
        dying
            .move_in(&first.files, first.manifest, &first.delta_schema, false)
            .await
            .unwrap();
        let rows = |t: &'static str| {
            let wh = old.clone();
            async move { wh.manifest(t, "").await.unwrap().rows }
        };
        assert_eq!((rows("a").await, rows("b").await), (2, 1), "mixed");

        // The next run's clean-up completes it: both tables from the dying run.
        let next = Warehouse::new(root.clone(), "next");
        next.clean_leftovers().await.unwrap();
        assert_eq!((rows("a").await, rows("b").await), (2, 2));
        assert_eq!(next.manifest("b", "").await.unwrap().run_id, "dying");
        next.files("b", "").await.unwrap();
        assert!(root.list(&root.child(TMP)).await.unwrap().is_empty());
        // The Delta logs agree: `a`'s commit, already in its log, was not written twice.
        for t in ["a", "b"] {
            let (version, files) = next.table_files(t, None).await.unwrap();
            assert_eq!(version, 1, "{t}");
            assert_eq!(files.len(), 1, "{t}");
            assert!(files[0].1.ends_with("-dying.parquet"), "{t}: {files:?}");
            assert_eq!(next.manifest(t, "").await.unwrap().table_version, Some(1));
        }
        // Completing twice is harmless.
        next.clean_leftovers().await.unwrap();
        assert_eq!(rows("b").await, 2);
        assert_eq!(next.table_files("a", None).await.unwrap().0, 1);
    }
}
