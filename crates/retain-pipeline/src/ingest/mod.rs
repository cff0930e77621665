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
mod source;
mod staging;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use retain_store::{Manifest, Pending, PublishMeta};

use crate::{Ctx, Error, Result, contract};

pub(crate) use crate::records::ingest::{FileAccount, IngestReport};
pub(crate) use source::{Opened, ReadProgress, open_source};
pub(crate) use staging::plan_staging;
use staging::{quarantine_schema, stage};

/// Reason of rows that are removed as copies of a staged row (not quarantined).
pub const EXACT_DUPLICATE: &str = "exact_duplicate";

/// A source written aside: its staged and quarantine partitions.
struct Written {
    table: &'static str,
    staged: Pending,
    quarantine: Pending,
    /// What the staged rows follow from (SQL, parameters, raw files), for the version.
    lineage: String,
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
pub(crate) async fn run(ctx: &mut Ctx) -> Result<Ingested> {
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
        let result = stage(ctx, table, &source, opened, has_customers, started).await;
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
        let counted: u64 = report.reasons.values().sum();
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
    let version = staged_version(written.iter().map(|w| w.lineage.as_str()));
    let mut tables = Vec::new();
    let mut pending = Vec::new();
    for mut w in written {
        w.staged
            .manifest
            .properties
            .insert("version".into(), version.clone().into());
        tables.push(w.table);
        pending.push(w.staged);
        pending.push(w.quarantine);
    }
    // One commit for every source's partitions: a run stopped half-way is completed by
    // the next one, so the staged tables always come from one ingest.
    let published = ctx.wh.commit_all(pending).await?;
    for table in tables {
        let input = ctx
            .register_published(table, &format!("staged/{table}"), "")
            .await?;
        ctx.memo.staged.insert(table.to_owned(), input);
    }
    Ok(Ingested { reports, published })
}

/// The version an ingest would give the staged tables now (the raw files as listed,
/// with their ETags and sizes, and the staging SQL and parameters), computed the way
/// [`run`] computes it but without reading a row: a backfill compares it with the staged
/// tables' version to tell whether its ingest would change them. None when a required
/// source cannot be opened (the ingest would fail, and say why).
pub(crate) async fn version_now(ctx: &mut Ctx) -> Result<Option<String>> {
    let raw = ctx.wh.root.resolve(&ctx.settings.pipeline.raw)?;
    let mut lineages = Vec::new();
    let mut has_customers = false;
    for table in contract::TABLES {
        let Some(source) = ctx.settings.pipeline.sources.get(table).cloned() else {
            continue;
        };
        let opened = match open_source(&raw, table, &source).await {
            Ok(opened) => opened,
            Err(e) if source.optional => {
                lineages.push(skipped_lineage(table, &e));
                continue;
            }
            Err(_) => return Ok(None),
        };
        let (_, _, _, lineage) =
            plan_staging(ctx, table, &source, &opened, has_customers, None).await?;
        lineages.push(lineage);
        if table == "customers" {
            has_customers = true;
        }
    }
    Ok(Some(staged_version(lineages.iter().map(String::as_str))))
}

/// One version for an ingest's staged tables: the hash of what every source followed
/// from, in order (a source's rows depend on the ones staged before it, through the
/// customer references). The same raw files and SQL give the same version, so
/// partitions computed from them stay current (`properties.version`, docs/storage.md).
fn staged_version<'a>(lineages: impl Iterator<Item = &'a str>) -> String {
    crate::registry::fingerprint(std::iter::once(env!("CARGO_PKG_VERSION")).chain(lineages))
}

fn skipped_lineage(table: &str, why: &Error) -> String {
    format!("{table}\0skipped\0{why}")
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
            lineage: skipped_lineage(table, why),
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
        let reports = run(&mut ctx).await.unwrap().reports;
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
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        // 20 MB of CSV is well over the 48 MiB pool as Arrow text columns, sorted twice.
        assert!(csv.len() > 16 << 20, "input of {} bytes", csv.len());
        let reports = crate::ingest(&settings, as_of).await.unwrap();
        let r = &reports[0];
        assert_eq!((r.read, r.staged, r.quarantined), (n as u64, n as u64, 0));
        assert!(r.spills > 0, "no spill reported: {r:?}");
        assert!(r.spilled_bytes > 0, "{r:?}");
    }
}
