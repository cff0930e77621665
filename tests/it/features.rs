//! The customer feature table: the golden shop (values worked out by hand in
//! tests/data/golden-shop/expected.toml), absent sources, and docs/features.md kept in
//! step with the real schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::{retain, run_ok};

/// The golden shop's snapshot date; staging runs as of a month later so that the rows
/// after D reach the feature SQL (staging quarantines rows dated after its own as-of).
const D: &str = "2026-06-01";
/// Every source of the golden shop.
const ALL_SOURCES: &[&str] = &[
    "customers",
    "orders",
    "support_tickets",
    "engagement_events",
    "contacts",
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden-shop")
}

/// A pipeline over the golden shop's files with the given sources.
fn golden_pipeline(dir: &Path, sources: &[&str]) -> PathBuf {
    let mut text = format!(
        "name = \"golden-shop\"\nwarehouse = \"{}\"\nraw = \"{}/\"\n",
        dir.join("wh").display(),
        golden_dir().display()
    );
    for s in sources {
        text.push_str(&format!("[sources.{s}]\npath = \"{s}.csv\"\n"));
    }
    text.push_str("[models]\nchurn = \"churn\"\nrepeat_purchase = \"repeat_purchase\"\n");
    let path = dir.join("golden.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Run `retain features` and read the partition as of D.
fn features_as_of_d(dir: &Path, sources: &[&str]) -> Vec<RecordBatch> {
    let pipeline = golden_pipeline(dir, sources);
    run_ok(retain().arg("features").arg(&pipeline).args(["--as-of", D]));
    read_partition(&dir.join(format!("wh/features/customer/as_of={D}")))
}

pub fn read_partition(dir: &Path) -> Vec<RecordBatch> {
    let files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(!files.is_empty(), "no Parquet files in {}", dir.display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        SessionContext::new()
            .read_parquet(files, ParquetReadOptions::default())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    })
}

/// One cell as a comparable value.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Num(f64),
    Text(String),
}

/// customer_id → column → value.
fn rows_by_customer(batches: &[RecordBatch]) -> BTreeMap<String, BTreeMap<String, Cell>> {
    let mut out: BTreeMap<String, BTreeMap<String, Cell>> = BTreeMap::new();
    for b in batches {
        let ids = cast(b.column_by_name("customer_id").unwrap(), &DataType::Utf8).unwrap();
        let ids = ids.as_string::<i32>();
        for (field, col) in b.schema().fields().iter().zip(b.columns()) {
            let numeric = field.data_type().is_numeric();
            let values = if numeric {
                cast(col, &DataType::Float64).unwrap()
            } else {
                cast(col, &DataType::Utf8).unwrap()
            };
            for i in 0..b.num_rows() {
                let cell = if values.is_null(i) {
                    Cell::Null
                } else if numeric {
                    Cell::Num(values.as_primitive::<Float64Type>().value(i))
                } else {
                    Cell::Text(values.as_string::<i32>().value(i).to_owned())
                };
                out.entry(ids.value(i).to_owned())
                    .or_default()
                    .insert(field.name().clone(), cell);
            }
        }
    }
    out
}

#[test]
fn golden_shop_features_match_the_hand_worked_values() {
    let dir = tempfile::tempdir().unwrap();
    let batches = features_as_of_d(dir.path(), ALL_SOURCES);
    let got = rows_by_customer(&batches);
    let expected: toml::Table =
        toml::from_str(&std::fs::read_to_string(golden_dir().join("expected.toml")).unwrap())
            .unwrap();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "one row per customer known before D (C14 joined after D)"
    );
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (customer, features) in &expected {
        let row = &got[customer];
        for (feature, want) in features.as_table().unwrap() {
            let have = row
                .get(feature)
                .unwrap_or_else(|| panic!("no feature column `{feature}`"));
            let ok = match (want, have) {
                (toml::Value::String(s), Cell::Null) => s == "null",
                (toml::Value::String(s), Cell::Text(t)) => s == t,
                (toml::Value::Float(f), Cell::Num(n)) => (f - n).abs() < 1e-9,
                (toml::Value::Integer(i), Cell::Num(n)) => *i as f64 == *n,
                _ => false,
            };
            checked += 1;
            if !ok {
                wrong.push(format!(
                    "{customer}.{feature}: expected {want}, got {have:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked > 150, "only {checked} values checked");
}

/// Features of the sources a shop lacks are NULL ("unknown"), not 0 ("none"); the order
/// features are the same as in the full shop.
#[test]
fn an_orders_only_shop_leaves_the_other_sources_features_null() {
    let full_dir = tempfile::tempdir().unwrap();
    let full = rows_by_customer(&features_as_of_d(full_dir.path(), ALL_SOURCES));
    let dir = tempfile::tempdir().unwrap();
    let only = rows_by_customer(&features_as_of_d(dir.path(), &["orders"]));
    // Without a customers table, only customers with an order before D are known.
    let with_orders: Vec<&String> = full
        .iter()
        .filter(|(_, r)| r["orders_placed"] != Cell::Num(0.0))
        .map(|(c, _)| c)
        .collect();
    assert_eq!(only.keys().collect::<Vec<_>>(), with_orders);
    let null_when_absent = [
        "tickets_lifetime",
        "open_tickets",
        "worst_csat_90d_or_5",
        "first_order_ticket",
        "email_opens_90d",
        "sessions_90d",
        "engagement_trend",
        "days_since_engagement",
        "unsubscribed",
        "offers_received",
        "offer_response_rate",
        "loyalty_member",
        "email_opt_in",
        "age_years",
        "days_to_birthday",
    ];
    let order_features = [
        "orders_placed",
        "orders_lifetime",
        "recency_days",
        "revenue_lifetime",
        "sd_days_between_orders",
        "discount_share",
        "failed_order_share",
        "category_count",
        "first_order_discounted",
    ];
    for (customer, row) in &only {
        for f in null_when_absent {
            assert_eq!(row[f], Cell::Null, "{customer}.{f}");
        }
        for f in order_features {
            assert_eq!(row[f], full[customer][f], "{customer}.{f}");
        }
    }
}

/// `| `name` | type | ...` rows of the `## Columns` table in docs/features.md.
pub fn documented_features() -> Vec<(String, String)> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/features.md"))
            .expect("docs/features.md");
    doc.lines()
        .skip_while(|l| *l != "## Columns")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|rest| {
            let mut cells = rest.split('|');
            let name = cells
                .next()
                .unwrap()
                .trim()
                .trim_end_matches('`')
                .to_owned();
            let ty = cells.next().unwrap_or("").trim().to_owned();
            (name, ty)
        })
        .collect()
}

fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "string".into(),
        DataType::Float64 => "double".into(),
        DataType::Int64 => "int64".into(),
        DataType::Int32 => "int32".into(),
        DataType::Date32 => "date32".into(),
        DataType::Boolean => "bool".into(),
        other => format!("{other}"),
    }
}

#[test]
fn every_feature_column_is_documented_with_its_type() {
    let dir = tempfile::tempdir().unwrap();
    let batches = features_as_of_d(dir.path(), &["customers", "orders"]);
    let schema = batches[0].schema();
    let real: Vec<(String, String)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), type_name(f.data_type())))
        .collect();
    let documented = documented_features();
    let missing: Vec<_> = real.iter().filter(|c| !documented.contains(c)).collect();
    let stale: Vec<_> = documented.iter().filter(|c| !real.contains(c)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/features.md is out of step with sql/features/customer.sql\n\
         undocumented (name, type): {missing:?}\ndocumented but not produced: {stale:?}"
    );
    assert_eq!(
        real.iter().map(|c| &c.0).collect::<Vec<_>>(),
        documented.iter().map(|c| &c.0).collect::<Vec<_>>(),
        "docs/features.md lists the columns in the table's order"
    );
}

/// Training as of a date whose labels would need orders the data does not have yet is
/// refused, in one line that names the latest usable date, and registers no model.
#[test]
fn a_horizon_past_the_end_of_the_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = golden_pipeline(dir.path(), ALL_SOURCES);
    // The golden shop's last fact is C14's order on 2026-06-12. As of 2026-06-14 (within
    // the data: [quality] as-of-tolerance-days) the churn validation snapshot is
    // 2026-03-16, whose 90-day horizon runs to 2026-06-13.
    // Errors only: on 14 customers the CLV models cannot be fitted, which is a warning.
    let out = retain()
        .env("RUST_LOG", "error")
        .arg("run")
        .arg(&pipeline)
        .args(["--as-of", "2026-06-14"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(
            "model `churn`: snapshot 2026-03-16 needs orders through 2026-06-13 for its 90-day \
             horizon, but the data ends on 2026-06-12; use an as-of date of at most 2026-06-13"
        ),
        "{stderr}"
    );
    assert!(
        !dir.path().join("wh/models").exists(),
        "no model registered"
    );
}
