//! The warehouse: one URL under which every table is published, reached through
//! `object_store` only.
//!
//! Publishing protocol (manifest last): the data files of a partition are written under
//! names unique to the run (`part-<run_id>-<n>.parquet`); when all are complete a
//! `_manifest.json` listing them is written with a single PUT, which is atomic on every
//! object store; files of earlier runs that the new manifest does not list are deleted
//! afterwards. Readers, and every later stage, read exactly the files the manifest lists,
//! so a partition appears whole or not at all, and an interrupted run leaves only
//! unlisted files that the next publish of that partition removes.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use url::Url;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The warehouse or source location is not a URL or path we can use.
    #[error("invalid location `{location}`: {message}")]
    InvalidLocation { location: String, message: String },
    /// The object store refused or failed an operation.
    #[error("storage error at `{location}`: {source}")]
    Store {
        location: String,
        #[source]
        source: object_store::Error,
    },
    /// Writing Parquet failed.
    #[error("cannot write parquet `{location}`: {source}")]
    Parquet {
        location: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The batches fed to the writer failed upstream (e.g. a query error).
    #[error("producing rows for `{location}` failed: {source}")]
    Upstream {
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A partition was asked for that has no manifest: it was never published (or its
    /// publish did not complete).
    #[error(
        "table `{table}` partition `{partition}` is not published (no _manifest.json at `{location}`)"
    )]
    NotPublished {
        table: String,
        partition: String,
        location: String,
    },
    /// A manifest exists but cannot be parsed.
    #[error("corrupt manifest `{location}`: {message}")]
    CorruptManifest { location: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Name of the file that makes a partition visible.
pub const MANIFEST: &str = "_manifest.json";

/// A warehouse (or any location) on an object store: the store, the URL of its root and
/// the prefix inside it.
#[derive(Clone)]
pub struct Location {
    /// The store, rooted at `store_url`.
    pub store: Arc<dyn ObjectStore>,
    /// `scheme://authority` of the store, as registered on DataFusion's runtime.
    pub store_url: Url,
    /// Prefix inside the store.
    pub prefix: Path,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.url())
    }
}

impl Location {
    /// Parse a path (relative or absolute) or a URL (`file://`, `memory://`, …).
    ///
    /// Relative paths are made absolute against the current directory, with `.` and
    /// `..` resolved lexically.
    pub fn parse(location: &str) -> Result<Self> {
        let url = to_url(location)?;
        let (store, prefix) =
            object_store::parse_url(&url).map_err(|e| Error::InvalidLocation {
                location: location.to_owned(),
                message: e.to_string(),
            })?;
        let store_url = store_root(&url);
        Ok(Self {
            store: Arc::from(store),
            store_url,
            prefix,
        })
    }

    /// Resolve `rel` against this location: an absolute URL or path stands alone, a
    /// relative one is joined under this prefix on the same store.
    pub fn resolve(&self, rel: &str) -> Result<Self> {
        if rel.contains("://") || std::path::Path::new(rel).is_absolute() {
            return Self::parse(rel);
        }
        if self.store_url.scheme() == "file" {
            // Local paths may climb out of the warehouse (`../exports/`).
            return Self::parse(&format!("/{}/{rel}", self.prefix));
        }
        if rel.split('/').any(|s| s == "..") {
            return Err(Error::InvalidLocation {
                location: rel.to_owned(),
                message: format!("`..` cannot leave {}", self.url()),
            });
        }
        Ok(Self {
            store: self.store.clone(),
            store_url: self.store_url.clone(),
            prefix: self.child(rel),
        })
    }

    /// A path under this location (`a/b/c` segments are split on `/`).
    pub fn child(&self, rel: &str) -> Path {
        rel.split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .fold(self.prefix.clone(), |p, seg| p.clone().join(seg))
    }

    /// The URL of this location.
    pub fn url(&self) -> String {
        self.url_of(&self.prefix)
    }

    /// The URL of an object path in this store, as DataFusion expects it.
    pub fn url_of(&self, path: &Path) -> String {
        // `store_url` always ends in `/` (`file:///`, `s3://bucket/`).
        format!("{}{path}", self.store_url.as_str())
    }

    /// True if the path is a file (an object exists exactly there).
    pub async fn exists(&self, path: &Path) -> Result<bool> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(Error::Store {
                location: self.url_of(path),
                source,
            }),
        }
    }

    /// All objects under `path`, sorted by path (listing order differs between stores).
    pub async fn list(&self, path: &Path) -> Result<Vec<object_store::ObjectMeta>> {
        let mut metas: Vec<_> =
            self.store
                .list(Some(path))
                .try_collect()
                .await
                .map_err(|source| Error::Store {
                    location: self.url_of(path),
                    source,
                })?;
        metas.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(metas)
    }

    /// Write bytes with one PUT (atomic on every object store).
    pub async fn put(&self, path: &Path, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|source| Error::Store {
                location: self.url_of(path),
                source,
            })
    }

    /// Read a whole object.
    pub async fn get(&self, path: &Path) -> Result<Vec<u8>> {
        let r = self.store.get(path).await.map_err(|source| Error::Store {
            location: self.url_of(path),
            source,
        })?;
        r.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|source| Error::Store {
                location: self.url_of(path),
                source,
            })
    }
}

fn to_url(location: &str) -> Result<Url> {
    if location.contains("://") {
        return Url::parse(location).map_err(|e| Error::InvalidLocation {
            location: location.to_owned(),
            message: e.to_string(),
        });
    }
    let path = std::path::Path::new(location);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::InvalidLocation {
                location: location.to_owned(),
                message: format!("cannot read the current directory: {e}"),
            })?
            .join(path)
    };
    // Normalise `.` and `..` without touching the file system.
    let mut norm = std::path::PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                norm.pop();
            }
            std::path::Component::CurDir => {}
            other => norm.push(other),
        }
    }
    Url::from_directory_path(&norm).map_err(|()| Error::InvalidLocation {
        location: location.to_owned(),
        message: "not an absolute path".into(),
    })
}

fn store_root(url: &Url) -> Url {
    let mut root = url.clone();
    root.set_path("/");
    root.set_query(None);
    root.set_fragment(None);
    root
}

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

/// An input a partition was computed from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputEntry {
    /// URL of the input file or published partition.
    pub location: String,
    /// Size in bytes, for files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// ETag or the upstream manifest's run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
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

/// The warehouse: a root location and the id of the current run.
#[derive(Debug, Clone)]
pub struct Warehouse {
    pub root: Location,
    pub run_id: String,
}

impl Warehouse {
    pub fn new(root: Location, run_id: impl Into<String>) -> Self {
        Self {
            root,
            run_id: run_id.into(),
        }
    }

    /// Folder of a table partition.
    pub fn partition_path(&self, table: &str, partition: &str) -> Path {
        self.root.child(&format!("{table}/{partition}"))
    }

    /// Stream record batches into one Parquet file of `table/partition`, then publish the
    /// partition (manifest last) and remove files of earlier runs.
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
        let started = std::time::Instant::now();
        let dir = self.partition_path(table, partition);
        let file_name = format!("part-{}-00000.parquet", self.run_id);
        let file_path = dir.clone().join(file_name.as_str());
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
        futures::pin_mut!(batches);
        while let Some(batch) = batches.next().await {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    // Abort: the unlisted file is removed now or by the next publish.
                    drop(writer);
                    let _ = self.root.store.delete(&file_path).await;
                    return Err(Error::Upstream {
                        location,
                        source: e.into(),
                    });
                }
            };
            rows += batch.num_rows() as u64;
            writer
                .write(&batch)
                .await
                .map_err(|source| Error::Parquet {
                    location: location.clone(),
                    source,
                })?;
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
        self.commit(&dir, &manifest).await?;
        Ok(manifest)
    }

    /// Write the manifest (the commit point), then delete files it does not list.
    async fn commit(&self, dir: &Path, manifest: &Manifest) -> Result<()> {
        let json = serde_json::to_vec_pretty(manifest).map_err(|e| Error::CorruptManifest {
            location: self.root.url_of(dir),
            message: e.to_string(),
        })?;
        self.root.put(&dir.clone().join(MANIFEST), json).await?;
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
            // Only direct children: nested partitions belong to other publishes.
            if meta.location.prefix_match(dir).map(|p| p.count()) != Some(1) {
                continue;
            }
            self.root
                .store
                .delete(&meta.location)
                .await
                .map_err(|source| Error::Store {
                    location: self.root.url_of(&meta.location),
                    source,
                })?;
        }
        Ok(())
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
        assert_eq!(names, vec!["_manifest.json", "part-run2-00000.parquet"]);
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

    #[test]
    fn relative_paths_become_file_urls() {
        let loc = Location::parse("some/dir/../wh").unwrap();
        assert!(loc.url().starts_with("file:///"), "{}", loc.url());
        assert!(loc.url().ends_with("/some/wh"), "{}", loc.url());
        let raw = loc.resolve("raw/").unwrap();
        assert!(raw.url().ends_with("/some/wh/raw"), "{}", raw.url());
        let up = loc.resolve("../exports/x.csv").unwrap();
        assert!(up.url().ends_with("/some/exports/x.csv"), "{}", up.url());
        let mem = Location::parse("memory:///wh").unwrap();
        assert!(mem.resolve("../x").is_err());
    }
}
