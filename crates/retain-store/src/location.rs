//! Locations: parsing paths and URLs, building their object stores from the environment
//! and [`StoreOptions`], and reading and writing objects under them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use url::Url;

use crate::error::{Error, Result, describe};

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
            message: describe(&e),
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
                // Listings resume after a broken body (list_retry.rs).
                Arc::new(crate::list_retry::ListRetry::new(
                    Arc::new(b.build().map_err(invalid)?),
                    self.max_retries,
                ))
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

/// What a conditional PUT did ([`Location::put_conditional`]).
pub(crate) enum Conditional {
    /// Written: the new version.
    Written(object_store::UpdateVersion),
    /// Not written: the object exists (create) or changed (update).
    Refused,
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
        match self
            .put_conditional(path, bytes, object_store::PutMode::Create)
            .await
        {
            Ok(Conditional::Written(_)) => Ok(true),
            Ok(_) => Ok(false),
            Err(source) => Err(Error::Store {
                location: self.url_of(path),
                source,
            }),
        }
    }

    /// A conditional PUT (`mode`: create-only or update-if-unchanged) whose answer may be
    /// lost. object_store does not retry a conditional PUT once it was sent (the server
    /// may have applied it), and a stalled or reset connection then failed a run (the
    /// fault proxy's `chaos` mode). After such a failure the object is read back: our
    /// bytes mean the PUT landed; still absent (create) or still the expected version
    /// (update) means it did not, and it is sent again, up to `max-retries`; anything
    /// else is another writer's, as if the condition had failed. A refusal
    /// (`AlreadyExists`, `Precondition`) is read back too: object_store itself sends a
    /// conditional PUT again after a 5xx, so it may be our own bytes that refused it.
    /// `NotFound` and `NotImplemented` are returned as they are.
    pub(crate) async fn put_conditional(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        mode: object_store::PutMode,
    ) -> std::result::Result<Conditional, object_store::Error> {
        use object_store::Error as E;
        let mut attempt = 0;
        loop {
            let opts = object_store::PutOptions {
                mode: mode.clone(),
                ..Default::default()
            };
            let source = match self
                .store
                .put_opts(path, PutPayload::from(bytes.clone()), opts)
                .await
            {
                Ok(r) => {
                    return Ok(Conditional::Written(object_store::UpdateVersion {
                        e_tag: r.e_tag,
                        version: r.version,
                    }));
                }
                Err(e @ (E::AlreadyExists { .. } | E::Precondition { .. })) => {
                    // object_store sends a conditional PUT again after a 5xx or a
                    // connection closed mid-request, and an earlier send of ours may have
                    // landed: then the refusal is of our own bytes.
                    return match self.get_versioned(path).await {
                        Ok(Some((b, v))) if b == bytes => Ok(Conditional::Written(v)),
                        Ok(_) => Ok(Conditional::Refused),
                        Err(_) => Err(e),
                    };
                }
                Err(e @ (E::NotFound { .. } | E::NotImplemented { .. })) => return Err(e),
                Err(e) => e,
            };
            let unchanged = match (self.get_versioned(path).await, &mode) {
                (Ok(Some((b, v))), _) if b == bytes => return Ok(Conditional::Written(v)),
                (Ok(None), object_store::PutMode::Create) => true,
                (Ok(Some((_, v))), object_store::PutMode::Update(expected)) => {
                    v.e_tag == expected.e_tag && v.version == expected.version
                }
                (Ok(_), _) => return Ok(Conditional::Refused),
                (Err(_), _) => false,
            };
            if !unchanged || attempt >= self.options.max_retries {
                return Err(source);
            }
            attempt += 1;
            tracing::info!(
                location = %self.url_of(path),
                attempt,
                "a conditional PUT got no answer ({source}) and did not land; sending it again"
            );
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
        match self.put_conditional(path, bytes.clone(), mode).await {
            Ok(Conditional::Written(_)) => Ok(true),
            Ok(Conditional::Refused) => Ok(false),
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A conditional PUT refused by an object holding our own bytes (an earlier send of
    /// ours that landed, its answer lost) wrote them; one refused by another writer's
    /// did not. On memory and on local disk, for create-only and update-if-unchanged.
    #[tokio::test]
    async fn a_refusal_of_our_own_bytes_is_a_write() {
        let dir = tempfile::tempdir().unwrap();
        for root in [
            Location::parse("memory:///wh").unwrap(),
            Location::parse(&dir.path().display().to_string()).unwrap(),
        ] {
            let path = root.child("_lock.json");
            let ours = b"run A".to_vec();
            root.put(&path, ours.clone()).await.unwrap();
            let again = root
                .put_conditional(&path, ours.clone(), object_store::PutMode::Create)
                .await
                .unwrap();
            assert!(matches!(again, Conditional::Written(_)), "{root:?}");
            let other = root
                .put_conditional(&path, b"run B".to_vec(), object_store::PutMode::Create)
                .await
                .unwrap();
            assert!(matches!(other, Conditional::Refused), "{root:?}");
            assert!(!root.put_new(&path, b"run B".to_vec()).await.unwrap());
            assert!(root.put_new(&path, ours.clone()).await.unwrap());
        }
        // Update-if-unchanged (memory: the local disk has none): a stale version
        // refused by our own bytes is a write, by another's is not.
        let root = Location::parse("memory:///wh").unwrap();
        let path = root.child("x.json");
        root.put(&path, b"v1".to_vec()).await.unwrap();
        let (_, v1) = root.get_versioned(&path).await.unwrap().unwrap();
        root.put(&path, b"v2".to_vec()).await.unwrap();
        assert!(
            root.put_if_unchanged(&path, b"v2".to_vec(), Some(v1.clone()))
                .await
                .unwrap()
        );
        assert!(
            !root
                .put_if_unchanged(&path, b"v3".to_vec(), Some(v1))
                .await
                .unwrap()
        );
    }
}
