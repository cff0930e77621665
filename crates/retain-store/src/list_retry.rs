//! Listings that survive a broken response body.
//!
//! object_store retries a request whose answer does not arrive (connection errors, 5xx,
//! throttling) and resumes a GET whose body breaks off, but a LIST whose body breaks off
//! after a `200 OK` fails at once: `aws/client.rs` reads the body after `send_retry` has
//! returned (`Error getting list response body`, object_store 0.13.2). The fault proxy
//! test (`tests/py/faulty_proxy.py`, `chaos` mode) found it: a Delta log listing cut in
//! half failed the run. [`ListRetry`] wraps a cloud store and, when a listing fails
//! with a transport error, lists again from after the last key it yielded
//! (`list_with_offset`; S3, GCS and Azure list in key order), with the store's own retry
//! count and backoff. Written by hand because object_store has no such layer; every
//! other call goes to the inner store unchanged.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, stream};
use object_store::path::Path;
use object_store::{
    BackoffConfig, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// A store whose `list` and `list_with_offset` resume after a transport error.
#[derive(Debug)]
pub struct ListRetry {
    inner: Arc<dyn ObjectStore>,
    max_retries: usize,
    backoff: BackoffConfig,
}

impl ListRetry {
    pub fn new(inner: Arc<dyn ObjectStore>, max_retries: usize) -> Self {
        Self {
            inner,
            max_retries,
            backoff: BackoffConfig::default(),
        }
    }

    /// Listing from after `offset` (from the start when `None`), resumed after the last
    /// key yielded when a page fails in transport.
    fn resuming(
        &self,
        prefix: Option<&Path>,
        offset: Option<Path>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        struct State {
            inner: Arc<dyn ObjectStore>,
            prefix: Option<Path>,
            last: Option<Path>,
            listing: BoxStream<'static, Result<ObjectMeta>>,
            retries: usize,
            max_retries: usize,
            backoff: BackoffConfig,
            done: bool,
        }
        let open =
            |inner: &Arc<dyn ObjectStore>, prefix: Option<&Path>, last: Option<&Path>| match last {
                Some(k) => inner.list_with_offset(prefix, k),
                None => inner.list(prefix),
            };
        let state = State {
            listing: open(&self.inner, prefix, offset.as_ref()),
            inner: self.inner.clone(),
            prefix: prefix.cloned(),
            last: offset,
            retries: 0,
            max_retries: self.max_retries,
            backoff: self.backoff.clone(),
            done: false,
        };
        stream::unfold(state, move |mut st| async move {
            loop {
                if st.done {
                    return None;
                }
                match st.listing.next().await {
                    Some(Ok(meta)) => {
                        st.last = Some(meta.location.clone());
                        return Some((Ok(meta), st));
                    }
                    Some(Err(e)) if st.retries < st.max_retries && transport(&e) => {
                        st.retries += 1;
                        let wait = backoff(&st.backoff, st.retries);
                        tracing::info!(
                            retry = st.retries,
                            max_retries = st.max_retries,
                            wait_ms = wait.as_millis() as u64,
                            "a listing broke off ({e}); listing again after the last key read"
                        );
                        tokio::time::sleep(wait).await;
                        st.listing = open(&st.inner, st.prefix.as_ref(), st.last.as_ref());
                    }
                    Some(Err(e)) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                    None => return None,
                }
            }
        })
        .boxed()
    }
}

/// Whether a listing failed while its answer's body was read: object_store's error
/// holds the store's error, which holds the [`object_store::client::HttpError`]
/// directly. A request that failed before an answer came (refused connection, timeout)
/// holds it deeper, under object_store's retry error: that one was retried already, so
/// is not retried again here.
fn transport(e: &object_store::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    for _depth in 0..=2 {
        let Some(s) = source else { return false };
        if s.downcast_ref::<object_store::client::HttpError>()
            .is_some()
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// The `n`th wait of an exponential backoff (object_store's defaults: 100 ms doubling,
/// at most 15 s), without jitter.
fn backoff(cfg: &BackoffConfig, n: usize) -> std::time::Duration {
    let factor = cfg.base.powi(n.saturating_sub(1).min(30) as i32);
    cfg.init_backoff.mul_f64(factor).min(cfg.max_backoff)
}

impl std::fmt::Display for ListRetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListRetry({})", self.inner)
    }
}

#[async_trait::async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for ListRetry {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.resuming(prefix, None)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.resuming(prefix, Some(offset.clone()))
    }

    /// One request: retried whole.
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut retries = 0;
        loop {
            match self.inner.list_with_delimiter(prefix).await {
                Err(e) if retries < self.max_retries && transport(&e) => {
                    retries += 1;
                    let wait = backoff(&self.backoff, retries);
                    tracing::info!(
                        retry = retries,
                        max_retries = self.max_retries,
                        wait_ms = wait.as_millis() as u64,
                        "a listing broke off ({e}); listing again"
                    );
                    tokio::time::sleep(wait).await;
                }
                r => return r,
            }
        }
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}
