//! Ingest: raw exports → `staged/<table>/` and `quarantine/<table>/`.
//!
//! Each source is registered as `raw_<table>` (CSV with every column read as text, so a
//! malformed value becomes a quarantine row instead of a read error), its staging SQL
//! runs, and one pass over the result splits it: rows without `_reject_reason` are
//! staged, rows with `duplicate_key` are counted as duplicates removed, all others are
//! quarantined with their reason and column.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use retain_config::Format;
use retain_sql::Params;
use retain_store::{InputEntry, PublishMeta};
use serde::Serialize;

use crate::{Ctx, Error, Result, contract, df_err};

/// Row accounting of one source: `read = staged + quarantined + duplicates`.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub table: String,
    pub source: String,
    pub files: usize,
    pub read: u64,
    pub staged: u64,
    pub quarantined: u64,
    pub duplicates: u64,
    /// Quarantined rows by reason code.
    pub reasons: std::collections::BTreeMap<String, u64>,
}

pub(crate) async fn run(ctx: &mut Ctx) -> Result<Vec<IngestReport>> {
    let raw = ctx.wh.root.resolve(&ctx.settings.pipeline.raw)?;
    let has_customers = ctx.settings.pipeline.sources.contains_key("customers");
    let mut reports = Vec::new();
    for table in contract::TABLES {
        let Some(source) = ctx.settings.pipeline.sources.get(table).cloned() else {
            tracing::info!(table, "no source configured: registering an empty table");
            ctx.register_empty(table)?;
            continue;
        };
        let started = Instant::now();
        let loc = raw.resolve(&source.path)?;
        ctx.df()
            .register_object_store(&loc.store_url, loc.store.clone());
        let is_dir = source.path.ends_with('/');
        let url = if is_dir {
            format!("{}/", loc.url())
        } else {
            loc.url()
        };
        // Input fingerprint: every file with its size and ETag.
        let metas = if is_dir {
            loc.list(&loc.prefix).await?
        } else {
            let meta = loc
                .store
                .head(&loc.prefix)
                .await
                .map_err(|e| Error::Source {
                    table: table.into(),
                    location: url.clone(),
                    message: match e {
                        object_store::Error::NotFound { .. } => "file not found".into(),
                        other => other.to_string(),
                    },
                })?;
            vec![meta]
        };
        if metas.is_empty() {
            return Err(Error::Source {
                table: table.into(),
                location: url,
                message: "no files found".into(),
            });
        }
        let inputs: Vec<InputEntry> = metas
            .iter()
            .map(|m| InputEntry {
                location: loc.url_of(&m.location),
                bytes: Some(m.size),
                version: m.e_tag.clone(),
            })
            .collect();
        let raw_name = format!("raw_{table}");
        register_raw(ctx, table, &raw_name, &url, source.format).await?;

        let file = ctx.sql.load(
            source
                .staging
                .as_deref()
                .unwrap_or(&format!("staging/{table}.sql")),
        )?;
        let params = Params::new()
            .with_date("as_of", ctx.settings.as_of)
            .with("check_customers", ScalarValue::Boolean(Some(has_customers)));
        let df = ctx.engine.query(&file, &params).await?;
        let produced = df.schema().as_arrow().clone();
        contract::check(table, &produced).map_err(|message| Error::Contract {
            table: table.into(),
            origin: file.origin.clone(),
            message,
        })?;
        let staged_schema = contract::schema(table).ok_or_else(|| Error::Stage {
            stage: "ingest",
            message: format!("no contract for `{table}`"),
        })?;
        let n_staged = staged_schema.fields().len();
        let stream = df
            .execute_stream()
            .await
            .map_err(df_err(format!("staging {table}")))?;

        // One pass: staged rows stream to Parquet, rejected rows are kept aside.
        let mut rejected: Vec<RecordBatch> = Vec::new();
        let mut duplicates = 0u64;
        let mut reasons = std::collections::BTreeMap::new();
        let schema_for_split = staged_schema.clone();
        let split = stream.map(|batch| {
            let batch =
                batch.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let reason = batch.column(n_staged).as_string::<i32>();
            let ok: BooleanArray = reason.iter().map(|r| Some(r.is_none())).collect();
            let quarantine: BooleanArray = reason
                .iter()
                .map(|r| Some(matches!(r, Some(r) if r != "duplicate_key")))
                .collect();
            for r in reason.iter().flatten() {
                if r == "duplicate_key" {
                    duplicates += 1;
                } else {
                    *reasons.entry(r.to_owned()).or_insert(0u64) += 1;
                }
            }
            let bad = filter_record_batch(&batch, &quarantine)?;
            if bad.num_rows() > 0 {
                rejected.push(bad);
            }
            let good = filter_record_batch(&batch, &ok)?;
            // Drop the `_reject_*` columns and take the contract's exact field flags.
            let cols = good.columns()[..n_staged].to_vec();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(RecordBatch::try_new(
                schema_for_split.clone(),
                cols,
            )?)
        });
        let staged = ctx
            .wh
            .publish(
                &format!("staged/{table}"),
                "",
                staged_schema.clone(),
                split,
                PublishMeta {
                    inputs: inputs.clone(),
                    properties: [("sql".to_owned(), file.origin.clone().into())]
                        .into_iter()
                        .collect(),
                    elapsed_ms: 0,
                },
            )
            .await?;
        ctx.published(&staged);

        let q_schema = Arc::new(quarantine_schema(&produced));
        let quarantined: u64 = rejected.iter().map(|b| b.num_rows() as u64).sum();
        let rejected: Vec<_> = rejected
            .into_iter()
            .map(|b| RecordBatch::try_new(q_schema.clone(), b.columns().to_vec()))
            .collect();
        let q = ctx
            .wh
            .publish(
                &format!("quarantine/{table}"),
                "",
                q_schema,
                futures::stream::iter(rejected),
                PublishMeta {
                    inputs: inputs.clone(),
                    properties: [(
                        "reasons".to_owned(),
                        serde_json::to_value(&reasons).unwrap_or_default(),
                    )]
                    .into_iter()
                    .collect(),
                    elapsed_ms: 0,
                },
            )
            .await?;
        ctx.published(&q);

        ctx.register_published(table, &format!("staged/{table}"), "")
            .await?;
        let report = IngestReport {
            table: table.into(),
            source: url,
            files: inputs.len(),
            read: staged.rows + quarantined + duplicates,
            staged: staged.rows,
            quarantined,
            duplicates,
            reasons,
        };
        tracing::info!(
            table,
            read = report.read,
            staged = report.staged,
            quarantined = report.quarantined,
            duplicates = report.duplicates,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "staged"
        );
        reports.push(report);
    }
    Ok(reports)
}

/// The quarantine table: the staged columns (null where a value did not parse) plus the
/// reason code and the column it concerns, all nullable.
fn quarantine_schema(produced: &Schema) -> Schema {
    Schema::new(
        produced
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    )
}

/// Register a raw source as `raw_<table>`. CSV columns are all read as text: the
/// staging SQL does the typing, so a bad value is a quarantine row, not a read error.
async fn register_raw(ctx: &Ctx, table: &str, name: &str, url: &str, format: Format) -> Result<()> {
    let df = ctx.df();
    df.deregister_table(name).map_err(df_err("deregister"))?;
    let source_err = |e: datafusion::error::DataFusionError| Error::Source {
        table: table.into(),
        location: url.into(),
        message: e.to_string(),
    };
    match format {
        Format::Csv => {
            // Read the header once to build an all-text schema.
            let inferred = df
                .read_csv(url, CsvReadOptions::new().has_header(true))
                .await
                .map_err(source_err)?;
            let text = Schema::new(
                inferred
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| Field::new(f.name(), DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            );
            df.register_csv(
                name,
                url,
                CsvReadOptions::new().has_header(true).schema(&text),
            )
            .await
            .map_err(source_err)?;
        }
        Format::Ndjson => {
            df.register_json(name, url, JsonReadOptions::default().file_extension(""))
                .await
                .map_err(source_err)?;
        }
        Format::Parquet => {
            df.register_parquet(name, url, ParquetReadOptions::default())
                .await
                .map_err(source_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Settings, new_run_id};
    use retain_config::PipelineConfig;
    use retain_sql::{Engine, EngineOptions, SqlSource};
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
        let settings = Settings {
            warehouse: "memory:///wh".into(),
            as_of: chrono::NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(),
            run_id: new_run_id(),
            pipeline,
        };
        let engine = Engine::embedded(&EngineOptions::default()).unwrap();
        engine
            .ctx()
            .register_object_store(&root.store_url, root.store.clone());
        let mut ctx = Ctx {
            engine,
            wh: Warehouse::new(root, settings.run_id.clone()),
            sql: SqlSource::default(),
            settings,
            tables: vec![],
            feature_dates: vec![],
        };
        let reports = run(&mut ctx).await.unwrap();
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
        assert_eq!(counts(c), ("customers".into(), 4, 2, 1, 1));
        assert_eq!(c.reasons.get("invalid_timestamp"), Some(&1));
        let o = &reports[1];
        assert_eq!(counts(o), ("orders".into(), 9, 1, 7, 1));
        let want: std::collections::BTreeMap<String, u64> = [
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
        // `| order_id | … | _reject_reason | _reject_column |`
        let reject = |order: &str| {
            let cells = line_of(order);
            (
                cells[cells.len() - 3].to_owned(),
                cells[cells.len() - 2].to_owned(),
            )
        };
        assert_eq!(
            reject("O3"),
            ("unknown_customer".into(), "customer_id".into())
        );
        assert_eq!(
            reject("O8"),
            ("invalid_item_count".into(), "item_count".into())
        );
        assert_eq!(
            reject("O6"),
            ("invalid_timestamp".into(), "ordered_at".into())
        );
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
}
