//! Ingest: raw exports → `staged/<table>/` and `quarantine/<table>/`.
//!
//! Each source's files are listed (one file, a folder, or a glob), opened by the tolerant
//! readers of `retain-read` and registered as `raw_<table>`, a DataFusion streaming table
//! with one partition per file whose rows carry their file and line. The staging SQL types,
//! validates and deduplicates them; one pass over its result splits it: rows without a
//! reason are staged, `exact_duplicate` rows are counted as duplicates removed, all others
//! are quarantined with reason, column, detail, file and row.
//!
//! Nothing is visible until every source has passed: staged and quarantine partitions are
//! written aside, the quarantine threshold is checked per source, and only then are all
//! partitions committed. A breach publishes nothing and fails with
//! [`Error::Quality`](crate::Error::Quality).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::NaiveDate;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::prelude::{DataFrame, ParquetReadOptions};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use retain_config::{Format, SourceConfig};
use retain_read::{RawFile, RawSource, ReadError, ReadOptions};
use retain_sql::Params;
use retain_store::{InputEntry, Location, Manifest, Pending, PublishMeta};
use serde::Serialize;

use crate::{Ctx, Error, Result, contract, df_err};

/// Reason of rows that are removed as copies of a staged row (not quarantined).
pub const EXACT_DUPLICATE: &str = "exact_duplicate";
/// Reason of rows dated after the as-of date: quarantined, but not counted against the
/// quarantine threshold (a backfill over a full export is not bad input).
pub const FUTURE_DATE: &str = "future_date";

/// Row accounting of one source file: `read = staged + quarantined + duplicates`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FileAccount {
    pub file: String,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub read: u64,
    pub staged: u64,
    pub quarantined: u64,
    pub duplicates: u64,
}

/// Row accounting of one source: `read = staged + quarantined + duplicates`, in total and
/// for every file.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub table: String,
    pub source: String,
    pub files: Vec<FileAccount>,
    pub read: u64,
    pub staged: u64,
    pub quarantined: u64,
    pub duplicates: u64,
    /// Quarantined rows by reason code.
    pub reasons: BTreeMap<String, u64>,
    /// Times the staging query spilled to disk, and bytes spilled.
    pub spills: usize,
    pub spilled_bytes: usize,
    pub elapsed_ms: u64,
}

/// A source written aside: its staged and quarantine partitions.
struct Written {
    table: &'static str,
    staged: Pending,
    quarantine: Pending,
}

/// What ingest published: every source's staged and quarantine partitions, committed
/// together, and each source's accounting.
pub(crate) struct Ingested {
    pub reports: Vec<IngestReport>,
    pub published: Vec<Manifest>,
}

/// Stage every configured source as of `as_of` (all or nothing) and register the staged
/// tables for the stages after it; sources the pipeline does not configure are registered
/// empty.
pub(crate) async fn run(ctx: &mut Ctx, as_of: NaiveDate) -> Result<Ingested> {
    let raw = ctx.wh.root.resolve(&ctx.settings.pipeline.raw)?;
    let mut reports = Vec::new();
    let mut written: Vec<Written> = Vec::new();
    let mut breaches = Vec::new();
    let mut has_customers = false;
    for table in contract::TABLES {
        let Some(source) = ctx.settings.pipeline.sources.get(table).cloned() else {
            tracing::info!(table, "no source configured: registering an empty table");
            ctx.register_empty(table)?;
            continue;
        };
        let started = Instant::now();
        let opened = match open_source(&raw, table, &source).await {
            Ok(opened) => opened,
            Err(e) if source.optional => {
                tracing::warn!(table, error = %e, "optional source unavailable: publishing it empty");
                // Publish it empty (not nothing): a partition left from an earlier run
                // would otherwise still be there for readers of the warehouse.
                match skip(ctx, table, &e).await {
                    Ok((w, report)) => {
                        written.push(w);
                        reports.push(report);
                        continue;
                    }
                    Err(e) => {
                        abort_all(ctx, written).await;
                        return Err(e);
                    }
                }
            }
            Err(e) => {
                abort_all(ctx, written).await;
                return Err(e);
            }
        };
        let result = stage(ctx, as_of, table, &source, opened, has_customers, started).await;
        let (w, report) = match result {
            Ok(x) => x,
            Err(e) => {
                abort_all(ctx, written).await;
                return Err(e);
            }
        };
        let limit = source
            .max_quarantine_ratio
            .unwrap_or(ctx.settings.pipeline.quality.max_quarantine_ratio);
        let counted: u64 = report
            .reasons
            .iter()
            .filter(|(r, _)| r.as_str() != FUTURE_DATE)
            .map(|(_, n)| n)
            .sum();
        if report.read > 0 && counted as f64 > limit * report.read as f64 {
            let top: Vec<String> = {
                let mut r: Vec<_> = report.reasons.iter().collect();
                r.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                r.iter().take(3).map(|(k, v)| format!("{k} {v}")).collect()
            };
            breaches.push(format!(
                "source `{table}`: {counted} of {} rows quarantined ({:.1}%), above the limit of {:.1}% (top reasons: {})",
                report.read,
                100.0 * counted as f64 / report.read as f64,
                100.0 * limit,
                top.join(", ")
            ));
        }
        if table == "customers" {
            has_customers = true;
        }
        written.push(w);
        reports.push(report);
    }
    if !breaches.is_empty() {
        abort_all(ctx, written).await;
        return Err(Error::Quality {
            message: breaches.join("; "),
            counted: reports,
        });
    }
    let mut published = Vec::new();
    for w in written {
        published.push(ctx.wh.commit(w.staged).await?);
        published.push(ctx.wh.commit(w.quarantine).await?);
        ctx.register_published(w.table, &format!("staged/{}", w.table), "")
            .await?;
    }
    Ok(Ingested { reports, published })
}

/// An optional source that could not be read: empty staged and quarantine partitions
/// whose manifests say why.
async fn skip(ctx: &mut Ctx, table: &'static str, why: &Error) -> Result<(Written, IngestReport)> {
    ctx.register_empty(table)?;
    let schema = contract::required_schema(table)?;
    let mut properties = serde_json::Map::new();
    properties.insert(
        "skipped".into(),
        format!("optional source unavailable: {why}").into(),
    );
    let meta = || PublishMeta {
        inputs: vec![],
        properties: properties.clone(),
        elapsed_ms: 0,
    };
    let none = || futures::stream::empty::<std::result::Result<RecordBatch, std::io::Error>>();
    let staged = ctx
        .wh
        .write(
            &format!("staged/{table}"),
            "",
            schema.clone(),
            none(),
            meta(),
        )
        .await?;
    let q_schema = Arc::new(quarantine_schema(&schema));
    let quarantine = ctx
        .wh
        .write(&format!("quarantine/{table}"), "", q_schema, none(), meta())
        .await?;
    let report = IngestReport {
        table: table.into(),
        source: format!("skipped: {why}"),
        files: vec![],
        read: 0,
        staged: 0,
        quarantined: 0,
        duplicates: 0,
        reasons: BTreeMap::new(),
        spills: 0,
        spilled_bytes: 0,
        elapsed_ms: 0,
    };
    Ok((
        Written {
            table,
            staged,
            quarantine,
        },
        report,
    ))
}

async fn abort_all(ctx: &Ctx, written: Vec<Written>) {
    for w in written {
        for p in [w.staged, w.quarantine] {
            if let Err(e) = ctx.wh.abort(p).await {
                tracing::warn!(error = %e, "could not remove a partition written aside; the next run removes it");
            }
        }
    }
}

/// A source with its files listed and opened.
pub(crate) struct Opened {
    /// What the pipeline file says, resolved (for logs and reports).
    pub(crate) url: String,
    pub(crate) source: Arc<RawSource>,
    inputs: Vec<InputEntry>,
    etags: Vec<Option<String>>,
}

fn source_err(table: &str, location: &str) -> impl Fn(String) -> Error + use<> {
    let (table, location) = (table.to_owned(), location.to_owned());
    move |message| Error::Source {
        table: table.clone(),
        location: location.clone(),
        message,
    }
}

/// Characters that make a source path a glob.
fn glob_start(path: &str) -> Option<usize> {
    path.find(['*', '?', '['])
}

/// List a source's files: one file, a folder (`…/`: every file below it, skipping names
/// that start with `_` or `.`), or a glob (`exports/*.csv.gz`, matched below its fixed
/// prefix; `*` does not cross `/`, `**` does).
async fn list_files(
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

fn store_message(e: &retain_store::Error) -> String {
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
        })
        .collect();
    let etags = metas.iter().map(|m| m.e_tag.clone()).collect();
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
    })
}

/// Rows read from a source's raw files so far, for progress displays (the step
/// `read <source>`; files are read concurrently, so the count is shared).
#[derive(Debug)]
pub(crate) struct ReadProgress {
    step: String,
    rows: AtomicU64,
    sink: Arc<dyn retain_store::Progress>,
}

/// One file of a raw source as a DataFusion partition.
#[derive(Debug)]
struct FilePartition {
    source: Arc<RawSource>,
    schema: SchemaRef,
    index: usize,
    progress: Option<Arc<ReadProgress>>,
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
fn read_error(e: &DataFusionError) -> Option<ReadError> {
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

/// The column a SQL job could not find, if that is why it failed to plan.
fn missing_column(e: &retain_sql::Error) -> Option<String> {
    let retain_sql::Error::Job { source, .. } = e else {
        return None;
    };
    match source.find_root() {
        DataFusionError::SchemaError(err, _) => match err.as_ref() {
            datafusion::common::SchemaError::FieldNotFound { field, .. } => {
                Some(field.name.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

/// Spills of a finished plan, summed over its operators.
fn spills(plan: &Arc<dyn ExecutionPlan>) -> (usize, usize) {
    let own = plan
        .metrics()
        .map(|m| (m.spill_count().unwrap_or(0), m.spilled_bytes().unwrap_or(0)))
        .unwrap_or((0, 0));
    plan.children().into_iter().fold(own, |acc, c| {
        let (n, b) = spills(c);
        (acc.0 + n, acc.1 + b)
    })
}

fn column<'a>(
    batch: &'a RecordBatch,
    name: &str,
    origin: &str,
) -> std::result::Result<&'a Arc<dyn Array>, Box<dyn std::error::Error + Send + Sync>> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("staging SQL `{origin}` does not produce `{name}`").into())
}

/// Run one source's staging SQL and write its staged and quarantine partitions aside.
/// Register a source's raw files as `raw_<table>` and plan its staging SQL: the query
/// (not run), its SQL file, and the schema it produces, checked against the contract.
/// `retain validate` stops here; ingest goes on to run it.
pub(crate) async fn plan_staging(
    ctx: &Ctx,
    as_of: NaiveDate,
    table: &'static str,
    source: &SourceConfig,
    opened: &Opened,
    has_customers: bool,
    progress: Option<Arc<ReadProgress>>,
) -> Result<(DataFrame, retain_sql::SqlFile, Schema)> {
    let raw_name = format!("raw_{table}");
    let schema = opened.source.schema();
    let partitions: Vec<Arc<dyn PartitionStream>> = (0..opened.source.files().len())
        .map(|index| {
            Arc::new(FilePartition {
                source: opened.source.clone(),
                schema: schema.clone(),
                index,
                progress: progress.clone(),
            }) as Arc<dyn PartitionStream>
        })
        .collect();
    let provider = StreamingTable::try_new(schema, partitions).map_err(df_err("raw table"))?;
    ctx.df()
        .deregister_table(&raw_name)
        .map_err(df_err("deregister"))?;
    ctx.df()
        .register_table(&raw_name, Arc::new(provider))
        .map_err(df_err(format!("registering {raw_name}")))?;

    let file = ctx.sql.load(
        source
            .staging
            .as_deref()
            .unwrap_or(&format!("staging/{table}.sql")),
    )?;
    let micros = |d: NaiveDate| {
        ScalarValue::TimestampMicrosecond(
            d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_micros()),
            Some("UTC".into()),
        )
    };
    let params = Params::new()
        .with_as_of(as_of)
        .with("check_customers", ScalarValue::Boolean(Some(has_customers)))
        .with(
            "timestamp_format",
            ScalarValue::Utf8(Some(source.timestamp_format.clone().unwrap_or_default())),
        )
        .with("valid_from", micros(ctx.settings.pipeline.quality.min_date))
        .with("valid_until", micros(as_of + chrono::Days::new(1)));
    let df = ctx.engine.query(&file, &params).await.map_err(|e| {
        // A column the SQL reads that the export lacks is the common case: say so plainly.
        let message = match missing_column(&e) {
            Some(column) => {
                let has: Vec<String> = opened
                    .source
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .filter(|n| !n.starts_with('_'))
                    .collect();
                format!(
                    "no column `{column}`, which {} reads (the export has: {})",
                    file.origin,
                    has.join(", ")
                )
            }
            None => e.to_string(),
        };
        Error::Source {
            table: table.into(),
            location: opened.url.clone(),
            message,
        }
    })?;
    // The deduplication and reject columns, written once from the table's contract.
    let df = contract::staging_tail(table, df).map_err(|message| Error::Contract {
        table: table.into(),
        origin: file.origin.clone(),
        message,
    })?;
    let produced = df.schema().as_arrow().clone();
    contract::check(table, &produced).map_err(|message| Error::Contract {
        table: table.into(),
        origin: file.origin.clone(),
        message,
    })?;
    Ok((df, file, produced))
}

async fn stage(
    ctx: &mut Ctx,
    as_of: NaiveDate,
    table: &'static str,
    source: &SourceConfig,
    opened: Opened,
    has_customers: bool,
    started: Instant,
) -> Result<(Written, IngestReport)> {
    let progress = ctx.settings.progress.clone().map(|sink| {
        Arc::new(ReadProgress {
            step: format!("read {table}"),
            rows: AtomicU64::new(0),
            sink,
        })
    });
    let (df, file, produced) = plan_staging(
        ctx,
        as_of,
        table,
        source,
        &opened,
        has_customers,
        progress.clone(),
    )
    .await?;
    let staged_schema = contract::required_schema(table)?;
    let n_staged = staged_schema.fields().len();
    let plan = df
        .create_physical_plan()
        .await
        .map_err(df_err(format!("planning the staging of {table}")))?;
    tracing::debug!(
        table,
        plan = %datafusion::physical_plan::displayable(plan.as_ref()).indent(false),
        "staging plan"
    );
    let stream = datafusion::physical_plan::execute_stream(plan.clone(), ctx.df().task_ctx())
        .map_err(df_err(format!("staging {table}")))?;

    // One pass: staged rows stream to Parquet, rejected rows are kept aside, every row is
    // counted against its file.
    let mut accounts: BTreeMap<String, FileAccount> = opened
        .source
        .files()
        .iter()
        .zip(&opened.etags)
        .map(|(f, etag)| {
            (
                f.url.clone(),
                FileAccount {
                    file: f.url.clone(),
                    bytes: f.size,
                    etag: etag.clone(),
                    ..Default::default()
                },
            )
        })
        .collect();
    let mut rejected: Vec<RecordBatch> = Vec::new();
    let mut reasons = BTreeMap::new();
    let mut failure: Option<ReadError> = None;
    let q_schema = Arc::new(quarantine_schema(&produced));
    let origin = file.origin.clone();
    let split = stream.map(|batch| {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                failure = read_error(&e);
                return Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            }
        };
        let reason = column(&batch, "_reject_reason", &origin)?.as_string::<i32>();
        let files = column(&batch, "_source_file", &origin)?.as_string::<i32>();
        let mut ok = Vec::with_capacity(batch.num_rows());
        let mut quarantine = Vec::with_capacity(batch.num_rows());
        for (r, f) in reason.iter().zip(files.iter()) {
            let account = accounts
                .entry(f.unwrap_or_default().to_owned())
                .or_default();
            account.read += 1;
            match r {
                None => {
                    account.staged += 1;
                    ok.push(true);
                    quarantine.push(false);
                }
                Some(EXACT_DUPLICATE) => {
                    account.duplicates += 1;
                    ok.push(false);
                    quarantine.push(false);
                }
                Some(r) => {
                    account.quarantined += 1;
                    *reasons.entry(r.to_owned()).or_insert(0u64) += 1;
                    ok.push(false);
                    quarantine.push(true);
                }
            }
        }
        let bad = filter_record_batch(&batch, &BooleanArray::from(quarantine))?;
        if bad.num_rows() > 0 {
            let cols = q_schema
                .fields()
                .iter()
                .map(|f| column(&bad, f.name(), &origin).cloned())
                .collect::<std::result::Result<Vec<_>, _>>()?;
            rejected.push(RecordBatch::try_new(q_schema.clone(), cols)?);
        }
        let good = filter_record_batch(&batch, &BooleanArray::from(ok))?;
        // Keep the contract's columns, with the contract's exact field flags.
        let cols = good.columns()[..n_staged].to_vec();
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(RecordBatch::try_new(
            staged_schema.clone(),
            cols,
        )?)
    });
    // Properties (the row accounting) are only known once the rows have streamed: they
    // are set on the pending manifest below.
    let meta = PublishMeta {
        inputs: opened.inputs.clone(),
        ..Default::default()
    };
    let staged = ctx
        .wh
        .write(
            &format!("staged/{table}"),
            "",
            staged_schema.clone(),
            split,
            meta,
        )
        .await;
    if let Some(p) = &progress {
        p.sink.finished(&p.step);
    }
    let staged = match staged {
        Ok(p) => p,
        Err(e) => {
            return Err(match failure {
                Some(r) => Error::Source {
                    table: table.into(),
                    location: r.file,
                    message: r.message,
                },
                None => e.into(),
            });
        }
    };
    let (spills, spilled_bytes) = spills(&plan);
    let accounts: Vec<FileAccount> = accounts.into_values().collect();
    let quarantined: u64 = accounts.iter().map(|a| a.quarantined).sum();
    let duplicates: u64 = accounts.iter().map(|a| a.duplicates).sum();
    let read: u64 = accounts.iter().map(|a| a.read).sum();
    let staged_rows = staged.manifest.rows;
    if read != staged_rows + quarantined + duplicates {
        return Err(Error::Accounting {
            table: table.to_owned(),
            read,
            staged: staged_rows,
            quarantined,
            duplicates,
        });
    }
    let mut properties = serde_json::Map::new();
    properties.insert("sql".into(), file.origin.clone().into());
    properties.insert(
        "accounting".into(),
        serde_json::json!({
            "read": read,
            "staged": staged_rows,
            "quarantined": quarantined,
            "duplicates": duplicates,
            "reasons": reasons,
            "files": accounts,
        }),
    );
    let mut staged = staged;
    staged.manifest.properties = properties.clone();
    let quarantine = ctx
        .wh
        .write(
            &format!("quarantine/{table}"),
            "",
            q_schema,
            futures::stream::iter(rejected.into_iter().map(Ok::<_, std::io::Error>)),
            PublishMeta {
                inputs: opened.inputs,
                properties,
                elapsed_ms: 0,
            },
        )
        .await?;
    // Later sources check their references against this one before anything is
    // committed: register the staged rows from where they were written.
    let df = ctx
        .df()
        .read_parquet(ctx.wh.pending_urls(&staged), ParquetReadOptions::default())
        .await
        .map_err(df_err(format!("reading staged {table}")))?;
    ctx.df()
        .deregister_table(table)
        .map_err(df_err("deregister"))?;
    ctx.df()
        .register_table(table, df.into_view())
        .map_err(df_err(format!("registering {table}")))?;

    let elapsed_ms = started.elapsed().as_millis() as u64;
    staged.manifest.elapsed_ms = elapsed_ms;
    let report = IngestReport {
        table: table.into(),
        source: opened.url,
        files: accounts,
        read,
        staged: staged_rows,
        quarantined,
        duplicates,
        reasons,
        spills,
        spilled_bytes,
        elapsed_ms,
    };
    tracing::info!(
        table,
        files = report.files.len(),
        read = report.read,
        staged = report.staged,
        quarantined = report.quarantined,
        duplicates = report.duplicates,
        spills,
        elapsed_ms,
        rows_per_sec = (read as f64 / (elapsed_ms.max(1) as f64 / 1000.0)) as u64,
        "staged"
    );
    Ok((
        Written {
            table,
            staged,
            quarantine,
        },
        report,
    ))
}

/// The quarantine table: the staged columns (null where a value did not parse), then the
/// reason code, the column it concerns, a detail text, and the file and row the record
/// came from.
fn quarantine_schema(produced: &Schema) -> Schema {
    let mut fields: Vec<Field> = produced
        .fields()
        .iter()
        .filter(|f| !f.name().starts_with('_'))
        .map(|f| Field::new(f.name(), f.data_type().clone(), true))
        .collect();
    for (name, dt) in [
        ("_reject_reason", DataType::Utf8),
        ("_reject_column", DataType::Utf8),
        ("_reject_detail", DataType::Utf8),
        ("_source_file", DataType::Utf8),
        ("_source_row", DataType::Int64),
    ] {
        fields.push(Field::new(name, dt, true));
    }
    Schema::new(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Settings, new_run_id};
    use retain_config::PipelineConfig;
    use retain_store::{Location, Warehouse};

    const CUSTOMERS: &str =
        "customer_id,signup_at,country,birth_date,email_opt_in,sms_opt_in,loyalty_member
C1,2025-01-01T10:00:00Z,de,1990-05-01,true,false,false
C2,2025-02-01T10:00:00+02:00,FR,,false,false,true
C3,not a date,DE,,true,true,true
C2,2025-03-01T00:00:00Z,FR,,false,false,true
";
    const ORDERS: &str = "order_id,customer_id,ordered_at,status,gross_amount,discount_amount,currency,channel,category,item_count
O1,C1,2025-03-01T12:00:00Z,completed,100.00,10.00,EUR,web,shoes,2
O2,C1,2025-03-02T12:00:00Z,completed,-5.00,0,EUR,web,shoes,1
O3,C9,2025-03-03T12:00:00Z,completed,20.00,0,EUR,web,shoes,1
O4,C2,2025-03-04T12:00:00Z,lost,20.00,0,EUR,web,shoes,1
O5,C2,2025-03-05T12:00:00Z,returned,20.00,30.00,EUR,web,shoes,1
O1,C1,2025-03-01T12:00:00Z,completed,100.00,10.00,EUR,web,shoes,2
O6,C2,2025-13-45T12:00:00Z,completed,20.00,0,EUR,web,shoes,1
O7,C2,2025-03-06T12:00:00Z,completed,NaN,0,EUR,web,shoes,1
O8,C2,2025-03-07T12:00:00Z,completed,15.5,0,EUR,app,bags,0
";

    async fn ingest_memory(pipeline: &str) -> (Ctx, Vec<IngestReport>) {
        let root = Location::parse("memory:///wh").unwrap();
        root.put(
            &root.child("raw/customers.csv"),
            CUSTOMERS.as_bytes().to_vec(),
        )
        .await
        .unwrap();
        root.put(&root.child("raw/orders.csv"), ORDERS.as_bytes().to_vec())
            .await
            .unwrap();
        let pipeline = PipelineConfig::from_toml(pipeline, "test.toml").unwrap();
        let settings = Settings::resolve(pipeline, Some("memory:///wh".into()));
        let mut ctx = Ctx::open(&settings, &new_run_id()).await.unwrap();
        // The test's store, not a new in-memory one: it holds the raw files.
        ctx.engine
            .ctx()
            .register_object_store(&root.store_url, root.store.clone());
        ctx.wh = Warehouse::new(root, ctx.run_id().to_owned());
        let as_of = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        let reports = run(&mut ctx, as_of).await.unwrap().reports;
        (ctx, reports)
    }

    /// A published table as a pretty-printed text table, ordered by its first column.
    async fn pretty(ctx: &Ctx, table: &str) -> String {
        let (_, df) = ctx.read_published(table, "").await.unwrap();
        let first = df.schema().field(0).name().clone();
        let batches = df
            .sort(vec![datafusion::prelude::col(first).sort(true, false)])
            .unwrap()
            .collect()
            .await
            .unwrap();
        arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
    }

    const PIPELINE: &str = r#"
name = "t"
warehouse = "memory:///wh"
[sources.customers]
path = "customers.csv"
format = "csv"
[sources.orders]
path = "orders.csv"
format = "csv"
[models]
churn = "churn"
repeat_purchase = "repeat_purchase"
[quality]
max-quarantine-ratio = 1.0
"#;

    #[tokio::test]
    async fn every_row_is_staged_quarantined_or_a_counted_duplicate() {
        let (ctx, reports) = ingest_memory(PIPELINE).await;
        // (table, read, staged, quarantined, duplicates)
        let counts = |r: &IngestReport| {
            (
                r.table.clone(),
                r.read,
                r.staged,
                r.quarantined,
                r.duplicates,
            )
        };
        let c = &reports[0];
        // C2's second row conflicts with the first: quarantined, not silently dropped.
        assert_eq!(counts(c), ("customers".into(), 4, 2, 2, 0));
        assert_eq!(c.reasons.get("invalid_timestamp"), Some(&1));
        assert_eq!(c.reasons.get("duplicate_key"), Some(&1));
        let o = &reports[1];
        assert_eq!(counts(o), ("orders".into(), 9, 1, 7, 1));
        let want: BTreeMap<String, u64> = [
            ("negative_amount", 1),
            ("unknown_customer", 1),
            ("unknown_status", 1),
            ("invalid_discount", 1),
            ("invalid_timestamp", 1),
            ("invalid_number", 1),
            ("invalid_item_count", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(o.reasons, want);
        // The staged customer C2 is the earlier of its two rows, with its offset
        // normalised to UTC, and country upper-cased.
        let text = pretty(&ctx, "staged/customers").await;
        assert!(
            text.contains("| C2          | 2025-02-01T08:00:00Z | FR "),
            "{text}"
        );
        assert!(
            text.contains("| C1          | 2025-01-01T10:00:00Z | DE "),
            "{text}"
        );
        // The quarantine names the column of each reason.
        let text = pretty(&ctx, "quarantine/orders").await;
        let line_of = |order: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("| {order} ")))
                .unwrap_or_else(|| panic!("{order} not quarantined:\n{text}"))
                .split('|')
                .map(str::trim)
                .collect::<Vec<_>>()
        };
        // `| order_id | … | _reject_reason | _reject_column | _reject_detail | _source_file | _source_row |`
        let reject = |order: &str| {
            let cells = line_of(order);
            let n = cells.len();
            (
                cells[n - 6].to_owned(),
                cells[n - 5].to_owned(),
                cells[n - 3].to_owned(),
                cells[n - 2].to_owned(),
            )
        };
        assert_eq!(
            reject("O3"),
            (
                "unknown_customer".into(),
                "customer_id".into(),
                "memory:///wh/raw/orders.csv".into(),
                "4".into()
            )
        );
        assert_eq!(reject("O8").0, "invalid_item_count");
        assert_eq!(reject("O8").1, "item_count");
        assert_eq!(reject("O6").0, "invalid_timestamp");
        assert_eq!(reject("O6").3, "8");
    }

    #[tokio::test]
    async fn without_customers_references_are_not_checked() {
        let pipeline = PIPELINE.replace(
            "[sources.customers]\npath = \"customers.csv\"\nformat = \"csv\"\n",
            "",
        );
        let (_, reports) = ingest_memory(&pipeline).await;
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].reasons.get("unknown_customer"), None);
        assert_eq!(reports[0].staged, 2, "O1 and O3 (C9 is not checked)");
    }

    /// Staging a source larger than the memory pool completes by spilling its sort.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_source_larger_than_the_memory_limit_spills_and_completes() {
        use std::fmt::Write;
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        std::fs::create_dir_all(&raw).unwrap();
        let n = 250_000;
        let mut csv = String::from(
            "order_id,customer_id,ordered_at,status,gross_amount,discount_amount,currency,channel,category,item_count\n",
        );
        for i in 0..n {
            // Customers in reverse order of orders, so the staging sort has work to do.
            let _ = writeln!(
                csv,
                "O{i:07},C{:06},2025-{:02}-{:02}T12:00:00Z,completed,{}.50,0,EUR,web,shoes,1",
                (n - i) % 50_000,
                1 + i % 12,
                1 + i % 28,
                10 + i % 90
            );
        }
        std::fs::write(raw.join("orders.csv"), &csv).unwrap();
        let text = format!(
            "name = \"spill\"\nwarehouse = \"{}\"\n[engine]\nmemory-limit = \"48MiB\"\ntarget-partitions = 1\n[sources.orders]\npath = \"orders.csv\"\n[models]\nchurn = \"churn\"\nrepeat_purchase = \"repeat_purchase\"\n",
            dir.path().display()
        );
        let settings = Settings::resolve(
            PipelineConfig::from_toml(&text, "spill.toml").unwrap(),
            Some(dir.path().display().to_string()),
        );
        let as_of = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        // 20 MB of CSV is well over the 48 MiB pool as Arrow text columns, sorted twice.
        assert!(csv.len() > 16 << 20, "input of {} bytes", csv.len());
        let reports = crate::ingest(&settings, as_of).await.unwrap();
        let r = &reports[0];
        assert_eq!((r.read, r.staged, r.quarantined), (n as u64, n as u64, 0));
        assert!(r.spills > 0, "no spill reported: {r:?}");
        assert!(r.spilled_bytes > 0, "{r:?}");
    }
}
