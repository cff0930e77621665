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

use crate::error::{Error, Result};
use crate::location::Location;
use crate::lock::{LOCK, LockInfo};
use crate::manifest::{ColumnEntry, FileEntry, MANIFEST, Manifest, PublishMeta, SchemaVersions};

/// Folder under the warehouse root where runs write files before committing them.
pub const TMP: &str = "_tmp";

/// A partition written aside by [`Warehouse::write`], not yet visible.
#[derive(Debug)]
pub struct Pending {
    files: Vec<Path>,
    /// The manifest [`Warehouse::commit`] will publish.
    pub manifest: Manifest,
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
}

impl Warehouse {
    pub fn new(root: Location, run_id: impl Into<String>) -> Self {
        Self {
            root,
            run_id: run_id.into(),
            progress: None,
            schema_versions: None,
        }
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
        let file_name = "part-00000.parquet".to_owned();
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
                    // Abort: nothing was committed; the file aside goes now (or with the
                    // next run's clean-up if this delete fails too).
                    drop(writer);
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
            written?;
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
        })
    }

    /// URLs of the files of a partition written aside (to read it before the commit).
    pub fn pending_urls(&self, pending: &Pending) -> Vec<String> {
        pending.files.iter().map(|p| self.root.url_of(p)).collect()
    }

    /// Make a partition written aside visible: move its files into the partition folder
    /// (each move replaces the old object whole), write the manifest, then delete files
    /// the manifest does not list.
    pub async fn commit(&self, pending: Pending) -> Result<Manifest> {
        let Pending {
            files,
            mut manifest,
        } = pending;
        let started = std::time::Instant::now();
        let dir = self.partition_path(&manifest.table, &manifest.partition);
        for (tmp, entry) in files.iter().zip(&manifest.files) {
            let to = dir.clone().join(entry.path.as_str());
            self.root
                .store
                .rename(tmp, &to)
                .await
                .map_err(|source| Error::Store {
                    location: self.root.url_of(&to),
                    source,
                })?;
        }
        manifest.elapsed_ms += started.elapsed().as_millis() as u64;
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::CorruptManifest {
            location: self.root.url_of(&dir),
            message: e.to_string(),
        })?;
        self.root.put(&dir.clone().join(MANIFEST), json).await?;
        let keep: Vec<Path> = manifest
            .files
            .iter()
            .map(|f| dir.clone().join(f.path.as_str()))
            .collect();
        for meta in self.root.list(&dir).await? {
            let name = meta.location.filename().unwrap_or_default();
            if name == MANIFEST || keep.contains(&meta.location) {
                continue;
            }
            // Only direct children: nested partitions belong to other publishes.
            if meta.location.prefix_match(&dir).map(|p| p.count()) != Some(1) {
                continue;
            }
            self.delete(&meta.location).await?;
        }
        tracing::info!(
            table = %manifest.table,
            partition = %manifest.partition,
            rows = manifest.rows,
            bytes = manifest.files.iter().map(|f| f.bytes).sum::<u64>(),
            schema_version = manifest.schema_version,
            elapsed_ms = manifest.elapsed_ms,
            "published"
        );
        Ok(manifest)
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
    /// S3, an exclusive create on disk), so two runs cannot both hold it. A lock older
    /// than `stale_after` (its holder crashed or was killed) is taken over, with a
    /// warning; a live one is [`Error::Locked`].
    pub async fn lock(&self, info: &LockInfo, stale_after: Duration) -> Result<()> {
        let path = self.root.child(LOCK);
        let bytes = serde_json::to_vec_pretty(info).map_err(|e| Error::CorruptManifest {
            location: self.root.url_of(&path),
            message: e.to_string(),
        })?;
        for _ in 0..2 {
            if self.root.put_new(&path, bytes.clone()).await? {
                return Ok(());
            }
            let held = match self.root.store.get(&path).await {
                Ok(r) => r.bytes().await.ok(),
                // Released between our create and our read: try again.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(source) => {
                    return Err(Error::Store {
                        location: self.root.url_of(&path),
                        source,
                    });
                }
            };
            let holder: Option<LockInfo> = held.and_then(|b| serde_json::from_slice(&b).ok());
            let age = holder
                .as_ref()
                .and_then(|h| (chrono::Utc::now() - h.acquired_at).to_std().ok());
            match holder {
                Some(h) if age.is_none_or(|a| a < stale_after) => {
                    return Err(Error::Locked {
                        location: self.root.url_of(&path),
                        holder: Box::new(h),
                        stale_after,
                    });
                }
                h => {
                    tracing::warn!(
                        holder = ?h.as_ref().map(|h| &h.run_id),
                        acquired_at = ?h.as_ref().map(|h| h.acquired_at),
                        "taking over a stale warehouse lock (its run did not release it)"
                    );
                    self.delete(&path).await?;
                }
            }
        }
        // Two takeovers raced and the other won.
        let holder = self
            .get_json::<LockInfo>(LOCK)
            .await?
            .unwrap_or_else(|| info.clone());
        Err(Error::Locked {
            location: self.root.url_of(&path),
            holder: Box::new(holder),
            stale_after,
        })
    }

    /// Release the write lock if this run holds it (a lock another run took over is
    /// left alone).
    pub async fn unlock(&self) -> Result<()> {
        match self.get_json::<LockInfo>(LOCK).await {
            Ok(Some(h)) if h.run_id == self.run_id => self.delete(&self.root.child(LOCK)).await,
            Ok(_) | Err(Error::CorruptManifest { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Delete what interrupted runs left under `_tmp/` (everything but this run's own
    /// files); returns how many objects were removed. Only a run holding the write lock
    /// ([`Warehouse::lock`]) may call it: no other run can be writing.
    pub async fn clean_leftovers(&self) -> Result<usize> {
        let own = self.tmp_dir();
        let mut removed = 0;
        for meta in self.root.list(&self.root.child(TMP)).await? {
            if meta.location.prefix_match(&own).is_some() {
                continue;
            }
            self.delete(&meta.location).await?;
            removed += 1;
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

    /// URLs of the data files of a published partition (what readers should read).
    pub async fn files(&self, table: &str, partition: &str) -> Result<(Manifest, Vec<String>)> {
        let manifest = self.manifest(table, partition).await?;
        let dir = self.partition_path(table, partition);
        let urls = manifest
            .files
            .iter()
            .map(|f| self.root.url_of(&dir.clone().join(f.path.as_str())))
            .collect();
        Ok((manifest, urls))
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
        assert_eq!(names, vec!["_manifest.json", "part-00000.parquet"]);
        // Nothing is left aside.
        assert!(root.list(&root.child(TMP)).await.unwrap().is_empty());
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
                && msg.contains("stale 1h after")
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
}
