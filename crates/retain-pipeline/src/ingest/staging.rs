//! Planning a source's staging SQL and the one pass that splits its result into
//! staged, duplicate and quarantined rows, written aside until the commit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{DataFrame, ParquetReadOptions};
use futures::StreamExt;
use retain_config::SourceConfig;
use retain_read::ReadError;
use retain_sql::Params;
use retain_store::PublishMeta;

use crate::{Ctx, Error, Result, contract, df_err};

use super::source::{FilePartition, read_error};
use super::*;

/// The column a SQL job could not find, if that is why it failed to plan.
pub(super) fn missing_column(e: &retain_sql::Error) -> Option<String> {
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
pub(super) fn spills(plan: &Arc<dyn ExecutionPlan>) -> (usize, usize) {
    let own = plan
        .metrics()
        .map(|m| (m.spill_count().unwrap_or(0), m.spilled_bytes().unwrap_or(0)))
        .unwrap_or((0, 0));
    plan.children().into_iter().fold(own, |acc, c| {
        let (n, b) = spills(c);
        (acc.0 + n, acc.1 + b)
    })
}

pub(super) fn column<'a>(
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
    table: &'static str,
    source: &SourceConfig,
    opened: &Opened,
    has_customers: bool,
    progress: Option<Arc<ReadProgress>>,
) -> Result<(DataFrame, retain_sql::SqlFile, Schema, String)> {
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
    let micros = |t: DateTime<Utc>| {
        ScalarValue::TimestampMicrosecond(Some(t.timestamp_micros()), Some("UTC".into()))
    };
    let quality = &ctx.settings.pipeline.quality;
    let min_date = quality.min_date.and_time(NaiveTime::MIN).and_utc();
    // No as-of date here: every plausible row is staged, and each as-of reads the facts
    // before it. A row dated after its files were written (plus `future-days`) cannot
    // be real (docs/tables.md, "Quarantine reasons").
    let valid_until = opened.extracted_at + TimeDelta::days(i64::from(quality.future_days));
    let params = Params::new()
        .with("check_customers", ScalarValue::Boolean(Some(has_customers)))
        .with(
            "timestamp_format",
            ScalarValue::Utf8(Some(source.timestamp_format.clone().unwrap_or_default())),
        )
        .with("valid_from", micros(min_date))
        .with("valid_until", micros(valid_until));
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
    // Everything the staged rows follow from: the SQL, its bound parameters (the date
    // bounds included) and the raw files (with their ETags).
    let lineage = format!("{table}\0{}\0{params:?}\0{:?}", file.text, opened.inputs);
    Ok((df, file, produced, lineage))
}

pub(super) async fn stage(
    ctx: &mut Ctx,
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
    let (df, file, produced, lineage) =
        plan_staging(ctx, table, source, &opened, has_customers, progress.clone()).await?;
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
            lineage,
        },
        report,
    ))
}

/// The quarantine table: the staged columns (null where a value did not parse), then the
/// reason code, the column it concerns, a detail text, and the file and row the record
/// came from.
pub(super) fn quarantine_schema(produced: &Schema) -> Schema {
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
