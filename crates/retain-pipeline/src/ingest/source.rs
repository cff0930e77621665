//! A source's files listed (one file, a folder or a glob), opened by `retain-read`'s
//! tolerant readers and served as a DataFusion streaming table, one partition per file.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use retain_config::{Format, SourceConfig};
use retain_read::{RawFile, RawSource, ReadError, ReadOptions};
use retain_store::{InputEntry, Location};

use crate::{Error, Result};

/// A source with its files listed and opened.
pub(crate) struct Opened {
    /// What the pipeline file says, resolved (for logs and reports).
    pub(crate) url: String,
    pub(crate) source: Arc<RawSource>,
    pub(super) inputs: Vec<InputEntry>,
    pub(super) etags: Vec<Option<String>>,
    /// The latest last-modified time of its files: the bound of `future_date`.
    pub(super) extracted_at: DateTime<Utc>,
}

pub(super) fn source_err(table: &str, location: &str) -> impl Fn(String) -> Error + use<> {
    let (table, location) = (table.to_owned(), location.to_owned());
    move |message| Error::Source {
        table: table.clone(),
        location: location.clone(),
        message,
    }
}

/// Characters that make a source path a glob.
pub(super) fn glob_start(path: &str) -> Option<usize> {
    path.find(['*', '?', '['])
}

/// List a source's files: one file, a folder (`…/`: every file below it, skipping names
/// that start with `_` or `.`), or a glob (`exports/*.csv.gz`, matched below its fixed
/// prefix; `*` does not cross `/`, `**` does).
pub(super) async fn list_files(
    raw: &Location,
    table: &str,
    path: &str,
) -> Result<(String, Location, Vec<object_store::ObjectMeta>)> {
    let visible = |m: &object_store::ObjectMeta, base: &Location| {
        m.location
            .prefix_match(&base.prefix)
            .map(|parts| {
                parts
                    .into_iter()
                    .all(|p| !p.as_ref().starts_with('_') && !p.as_ref().starts_with('.'))
            })
            .unwrap_or(false)
    };
    if let Some(g) = glob_start(path) {
        let base_rel = &path[..path[..g].rfind('/').map_or(0, |i| i + 1)];
        let pattern_text = &path[base_rel.len()..];
        let base = raw.resolve(if base_rel.is_empty() { "." } else { base_rel })?;
        let url = format!("{}/{pattern_text}", base.url());
        let err = source_err(table, &url);
        let pattern = glob::Pattern::new(pattern_text)
            .map_err(|e| err(format!("invalid glob pattern: {e}")))?;
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let metas = base
            .list(&base.prefix)
            .await
            .map_err(|e| err(store_message(&e)))?;
        let files = metas
            .into_iter()
            .filter(|m| visible(m, &base))
            .filter(|m| {
                m.location
                    .prefix_match(&base.prefix)
                    .map(|parts| {
                        let rel: Vec<String> = parts.map(|p| p.as_ref().to_owned()).collect();
                        pattern.matches_with(&rel.join("/"), opts)
                    })
                    .unwrap_or(false)
            })
            .collect();
        return Ok((url, base, files));
    }
    let loc = raw.resolve(path)?;
    if path.ends_with('/') {
        let url = format!("{}/", loc.url());
        let metas = loc
            .list(&loc.prefix)
            .await
            .map_err(|e| source_err(table, &url)(store_message(&e)))?;
        let files = metas.into_iter().filter(|m| visible(m, &loc)).collect();
        return Ok((url, loc, files));
    }
    let url = loc.url();
    let meta = loc.store.head(&loc.prefix).await.map_err(|e| {
        source_err(table, &url)(match e {
            object_store::Error::NotFound { .. } => "file not found".into(),
            other => retain_store::describe(&other),
        })
    })?;
    Ok((url, loc, vec![meta]))
}

pub(super) fn store_message(e: &retain_store::Error) -> String {
    match e {
        retain_store::Error::Store { source, .. } => retain_store::describe(source),
        other => other.to_string(),
    }
}

pub(crate) async fn open_source(
    raw: &Location,
    table: &str,
    source: &SourceConfig,
) -> Result<Opened> {
    let (url, base, metas) = list_files(raw, table, &source.path).await?;
    let err = source_err(table, &url);
    if metas.is_empty() {
        return Err(err("no files found".into()));
    }
    let format = source.format().map_err(&err)?;
    let mut options = ReadOptions::new(match format {
        Format::Csv => retain_read::Format::Csv,
        Format::Ndjson => retain_read::Format::Ndjson,
        Format::Parquet => retain_read::Format::Parquet,
    });
    options.csv.delimiter = source.delimiter as u8;
    options.csv.quote = source.quote as u8;
    options.csv.header = source.header;
    options.csv.columns = source.columns.clone();
    options.compression = source.compression.map(|c| match c {
        retain_config::Compression::None => retain_read::Compression::None,
        retain_config::Compression::Gzip => retain_read::Compression::Gzip,
        retain_config::Compression::Zstd => retain_read::Compression::Zstd,
    });
    let files: Vec<RawFile> = metas
        .iter()
        .map(|m| RawFile {
            url: base.url_of(&m.location),
            path: m.location.clone(),
            size: m.size,
        })
        .collect();
    let inputs = metas
        .iter()
        .map(|m| InputEntry {
            location: base.url_of(&m.location),
            bytes: Some(m.size),
            version: m.e_tag.clone(),
            table_version: None,
        })
        .collect();
    let etags = metas.iter().map(|m| m.e_tag.clone()).collect();
    // When the files were written: no row of them can be later (an empty source has no
    // rows to check, so any time will do).
    let extracted_at = metas
        .iter()
        .map(|m| m.last_modified)
        .max()
        .unwrap_or_else(Utc::now);
    let raw_source = RawSource::open(base.store.clone(), files, options)
        .await
        .map_err(|e| Error::Source {
            table: table.into(),
            location: e.file,
            message: e.message,
        })?;
    Ok(Opened {
        url,
        source: Arc::new(raw_source),
        inputs,
        etags,
        extracted_at,
    })
}

/// Rows read from a source's raw files so far, for progress displays (the step
/// `read <source>`; files are read concurrently, so the count is shared).
#[derive(Debug)]
pub(crate) struct ReadProgress {
    pub(super) step: String,
    pub(super) rows: AtomicU64,
    pub(super) sink: Arc<dyn retain_store::Progress>,
}

/// One file of a raw source as a DataFusion partition.
#[derive(Debug)]
pub(super) struct FilePartition {
    pub(super) source: Arc<RawSource>,
    pub(super) schema: SchemaRef,
    pub(super) index: usize,
    pub(super) progress: Option<Arc<ReadProgress>>,
}

impl PartitionStream for FilePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }
    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let progress = self.progress.clone();
        let stream = self
            .source
            .stream(self.index)
            .inspect_ok(move |b| {
                if let Some(p) = &progress {
                    let n = b.num_rows() as u64;
                    let total = p.rows.fetch_add(n, Ordering::Relaxed) + n;
                    p.sink.rows(&p.step, total);
                }
            })
            .map_err(|e| DataFusionError::External(Box::new(e)));
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// The reader error at the root of a failed query, if that is what failed.
pub(super) fn read_error(e: &DataFusionError) -> Option<ReadError> {
    let mut current: &dyn std::error::Error = e;
    loop {
        if let Some(r) = current.downcast_ref::<ReadError>() {
            return Some(r.clone());
        }
        if let Some(DataFusionError::External(inner)) = current.downcast_ref::<DataFusionError>()
            && let Some(r) = inner.downcast_ref::<ReadError>()
        {
            return Some(r.clone());
        }
        current = current.source()?;
    }
}
