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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
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
    #[error("storage error at `{location}`: {}", one_line(source))]
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
    /// Another run holds the warehouse's write lock.
    #[error(
        "the warehouse is in use by run {} ({}, as of {}, on {} pid {}, since {}): retain does not interleave two runs on one warehouse. The lock ends with that run, or counts as stale {} after it was taken (the next run then takes it over); to break it by hand, delete `{location}`",
        holder.run_id,
        holder.command,
        holder.as_of.as_deref().unwrap_or("-"),
        holder.host,
        holder.pid,
        holder.acquired_at.format("%Y-%m-%dT%H:%M:%SZ"),
        humantime(*stale_after)
    )]
    Locked {
        location: String,
        holder: Box<LockInfo>,
        stale_after: Duration,
    },
}

/// `2h`, `90m`, `45s`: a duration as people write it.
fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The warehouse's write lock (`_lock.json`): who holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockInfo {
    pub run_id: String,
    /// The command (`run`, `ingest`, `train`, …).
    pub command: String,
    pub as_of: Option<String>,
    pub host: String,
    pub pid: u32,
    pub acquired_at: chrono::DateTime<chrono::Utc>,
}

impl LockInfo {
    /// This process, now.
    pub fn here(run_id: &str, command: &str, as_of: Option<String>) -> Self {
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            run_id: run_id.to_owned(),
            command: command.to_owned(),
            as_of,
            host,
            pid: std::process::id(),
            acquired_at: chrono::Utc::now(),
        }
    }
}

/// Where the write lock lives, under the warehouse root.
pub const LOCK: &str = "_lock.json";

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Name of the file that makes a partition visible.
pub const MANIFEST: &str = "_manifest.json";

/// Folder under the warehouse root where runs write files before committing them.
pub const TMP: &str = "_tmp";

/// A partition written aside by [`Warehouse::write`], not yet visible.
#[derive(Debug)]
pub struct Pending {
    files: Vec<Path>,
    /// The manifest [`Warehouse::commit`] will publish.
    pub manifest: Manifest,
}

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
    /// How stores are built; kept so that resolving to another bucket uses the same
    /// settings.
    pub options: Arc<StoreOptions>,
}

/// How to reach object stores: builder options on top of the environment, and the
/// retry and timeout policy of the HTTP client.
///
/// Credentials come from the environment and the providers' standard chains
/// (`AWS_ACCESS_KEY_ID`, instance metadata, `GOOGLE_APPLICATION_CREDENTIALS`,
/// `AZURE_STORAGE_ACCOUNT_KEY`, …); `options` holds non-secret settings such as
/// `aws_endpoint`, `aws_region`, `aws_virtual_hosted_style_request` or `allow_http`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// `object_store` configuration keys (`aws_endpoint`, `google_bucket`, `azure_storage_account_name`, `allow_http`, …).
    pub options: BTreeMap<String, String>,
    /// Retries of a failed request (object_store retries idempotent requests with
    /// exponential backoff on connection errors, 5xx and throttling).
    pub max_retries: usize,
    /// No retry starts after this long from the first attempt.
    pub retry_timeout: Duration,
    /// Timeout of the connect phase of one request.
    pub connect_timeout: Duration,
    /// Timeout of one whole request.
    pub timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            options: BTreeMap::new(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(120),
        }
    }
}

impl StoreOptions {
    /// Reject keys no store understands (a typo would otherwise be ignored silently).
    pub fn validate(&self) -> Result<()> {
        use object_store::aws::AmazonS3ConfigKey;
        use object_store::azure::AzureConfigKey;
        use object_store::gcp::GoogleConfigKey;
        for key in self.options.keys() {
            let known = key.parse::<AmazonS3ConfigKey>().is_ok()
                || key.parse::<GoogleConfigKey>().is_ok()
                || key.parse::<AzureConfigKey>().is_ok();
            if !known {
                return Err(Error::InvalidLocation {
                    location: format!("[storage.options] {key}"),
                    message: "not an object_store configuration key (see docs/storage.md)".into(),
                });
            }
        }
        Ok(())
    }

    /// Timeouts as client configuration keys: setting them this way keeps what the
    /// builders read from the environment (`with_client_options` would replace it,
    /// `AWS_ALLOW_HTTP` included).
    fn client(&self) -> [(ClientConfigKey, String); 2] {
        [
            (
                ClientConfigKey::ConnectTimeout,
                format!("{}ms", self.connect_timeout.as_millis()),
            ),
            (
                ClientConfigKey::Timeout,
                format!("{}ms", self.timeout.as_millis()),
            ),
        ]
    }

    fn retry(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }

    /// Build the store for `url` (its scheme and bucket).
    fn build(&self, url: &Url, location: &str) -> Result<(Arc<dyn ObjectStore>, Path)> {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
        use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
        let invalid = |e: object_store::Error| Error::InvalidLocation {
            location: location.to_owned(),
            message: one_line(&e),
        };
        let path = Path::from_url_path(url.path()).map_err(|e| Error::InvalidLocation {
            location: location.to_owned(),
            message: e.to_string(),
        })?;
        // The three cloud builders share no trait: one macro applies the same steps
        // (environment, URL, retry policy, timeouts, then the pipeline's options).
        macro_rules! cloud {
            ($builder:ty, $key:ty) => {{
                let mut b = <$builder>::from_env()
                    .with_url(url.as_str())
                    .with_retry(self.retry());
                for (k, v) in self.client() {
                    b = b.with_config(<$key>::Client(k), v);
                }
                for (k, v) in &self.options {
                    if let Ok(key) = k.parse::<$key>() {
                        b = b.with_config(key, v);
                    }
                }
                Arc::new(b.build().map_err(invalid)?)
            }};
        }
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" | "s3a" => cloud!(AmazonS3Builder, AmazonS3ConfigKey),
            "gs" => cloud!(GoogleCloudStorageBuilder, GoogleConfigKey),
            "az" | "abfs" | "abfss" | "azure" => cloud!(MicrosoftAzureBuilder, AzureConfigKey),
            _ => {
                let (store, path) = object_store::parse_url(url).map_err(invalid)?;
                return Ok((Arc::from(store), path));
            }
        };
        Ok((store, path))
    }
}

/// An object_store error as one line: the kind of failure first, without the retry
/// bookkeeping and nested `source:` chains a user cannot act on.
pub fn one_line(e: &object_store::Error) -> String {
    use object_store::Error as E;
    let full = {
        let mut text = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            let t = s.to_string();
            if !text.contains(&t) {
                text.push_str(": ");
                text.push_str(&t);
            }
            src = s.source();
        }
        text.replace('\n', " ")
    };
    let has = |needle: &str| full.contains(needle);
    match e {
        E::NotFound { .. } if has("NoSuchBucket") => "bucket does not exist".into(),
        E::NotFound { .. } => "not found".into(),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            "access denied: check the credentials in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY)".into()
        }
        _ if has("NoSuchBucket") => "bucket does not exist".into(),
        _ if has("InvalidAccessKeyId") || has("SignatureDoesNotMatch") || has("AccessDenied") || has("403 Forbidden") => {
            "access denied: check the credentials in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY)".into()
        }
        _ if has("error sending request") || has("Connection refused") || has("connect") || has("dns error") => {
            let retries = if has("after ") { " (retried until the retry timeout)" } else { "" };
            format!("cannot reach the storage endpoint{retries}: {}", root_cause(e))
        }
        _ => full,
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
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
        Self::parse_with(location, Arc::new(StoreOptions::default()))
    }

    /// [`Location::parse`] with the given store options (endpoint, retries, timeouts).
    pub fn parse_with(location: &str, options: Arc<StoreOptions>) -> Result<Self> {
        let url = to_url(location)?;
        let (store, prefix) = options.build(&url, location)?;
        let store_url = store_root(&url);
        Ok(Self {
            store,
            store_url,
            prefix,
            options,
        })
    }

    /// Resolve `rel` against this location: an absolute URL or path stands alone, a
    /// relative one is joined under this prefix on the same store.
    pub fn resolve(&self, rel: &str) -> Result<Self> {
        if rel.contains("://") || std::path::Path::new(rel).is_absolute() {
            return Self::parse_with(rel, self.options.clone());
        }
        if self.store_url.scheme() == "file" {
            // Local paths may climb out of the warehouse (`../exports/`).
            return Self::parse_with(&format!("/{}/{rel}", self.prefix), self.options.clone());
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
            options: self.options.clone(),
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

    /// Write bytes only if nothing exists at `path` (a conditional PUT: `If-None-Match: *`
    /// on S3, an exclusive create on local disk). Returns false, writing nothing, when
    /// the object already exists.
    pub async fn put_new(&self, path: &Path, bytes: Vec<u8>) -> Result<bool> {
        let opts = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(source) => Err(Error::Store {
                location: self.url_of(path),
                source,
            }),
        }
    }

    /// Read an object with the version a conditional update needs; `None` when absent.
    pub async fn get_versioned(
        &self,
        path: &Path,
    ) -> Result<Option<(Vec<u8>, object_store::UpdateVersion)>> {
        let r = match self.store.get(path).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => {
                return Err(Error::Store {
                    location: self.url_of(path),
                    source,
                });
            }
        };
        let version = object_store::UpdateVersion {
            e_tag: r.meta.e_tag.clone(),
            version: r.meta.version.clone(),
        };
        let bytes = r.bytes().await.map_err(|source| Error::Store {
            location: self.url_of(path),
            source,
        })?;
        Ok(Some((bytes.to_vec(), version)))
    }

    /// Replace an object only if it is still what was read (`expected`, from
    /// [`Location::get_versioned`]), or create it only if it does not exist (`None`):
    /// compare-and-swap, `If-Match` / `If-None-Match: *` on S3. Returns false, writing
    /// nothing, when another writer got there first. The local file system has no
    /// conditional update (object_store: not implemented); there the replacement is a
    /// plain atomic PUT, which is safe for one machine writing at a time.
    pub async fn put_if_unchanged(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        expected: Option<object_store::UpdateVersion>,
    ) -> Result<bool> {
        let mode = match expected {
            None => return self.put_new(path, bytes).await,
            Some(v) => object_store::PutMode::Update(v),
        };
        let opts = object_store::PutOptions {
            mode,
            ..Default::default()
        };
        match self
            .store
            .put_opts(path, PutPayload::from(bytes.clone()), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented { .. }) => {
                self.put(path, bytes).await.map(|_| true)
            }
            Err(source) => Err(Error::Store {
                location: self.url_of(path),
                source,
            }),
        }
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
        let url = Url::parse(location).map_err(|e| Error::InvalidLocation {
            location: location.to_owned(),
            message: e.to_string(),
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            // Do not echo the location: it holds the credential.
            return Err(Error::InvalidLocation {
                location: format!("{}://…@{}", url.scheme(), url.host_str().unwrap_or("")),
                message: "credentials in URLs are refused: set them in the environment".into(),
            });
        }
        return Ok(url);
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
    /// The table's schema contract version (an integer per table, starting at 1; bumped
    /// whenever a column is renamed, retyped or removed; see docs/tables.md). `None` in
    /// manifests written before retain recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
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

/// The schema contract version of a table (`None` for a table without one).
pub type SchemaVersions = fn(&str) -> Option<u32>;

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

    #[test]
    fn credentials_in_urls_are_refused_without_echoing_them() {
        let err = Location::parse("s3://AKIA:supersecret@bucket/x").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("credentials in URLs are refused"), "{text}");
        assert!(!text.contains("supersecret"), "{text}");
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
