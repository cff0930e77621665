//! Customer-lifetime models through the CLI: `retain clv fit` registers a version with
//! its checks and a report that renders in Chromium, `retain clv report` reads it back,
//! and a shop the models cannot describe gets a clear error and NULL features.

use std::path::Path;

use datafusion::arrow::array::{Array, AsArray};
use serde_json::Value;

use crate::features::read_partition;
use crate::{json, retain, run_ok};

fn demo_pipeline() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/demo.toml")
}

/// The CLV section of the CLI's output (from its heading to the report line).
fn clv_section(stdout: &str) -> String {
    let start = stdout.find("CLV models").expect("a CLV section");
    let end = stdout[start..].find("report: ").map(|i| start + i).unwrap();
    stdout[start..end].to_owned()
}

#[test]
fn clv_fit_registers_a_checked_version_and_report_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    run_ok(
        retain()
            .args(["synth", "--customers", "2000", "--out"])
            .arg(wh.join("raw")),
    );
    let fit = |expect: &str| {
        let out = run_ok(
            retain()
                .args(["clv", "fit"])
                .arg(demo_pipeline())
                .arg("--out")
                .arg(wh),
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        for needle in [
            "BG/NBD purchases",
            "Gamma-Gamma spend",
            "correlation of frequency and mean spend",
            "holdout check",
            expect,
        ] {
            assert!(stdout.contains(needle), "no `{needle}` in:\n{stdout}");
        }
        stdout
    };
    let first = fit("CLV models v0001");

    let v1 = wh.join("models/clv/v0001");
    let model = json(&v1.join("model.json"));
    assert_eq!(model["format"], "retain.clv/1");
    assert_eq!(model["as_of"], "2026-11-01");
    for p in ["r", "alpha", "a", "b"] {
        assert!(model["bg_nbd"]["params"][p].as_f64().unwrap() > 0.0, "{p}");
    }
    assert_eq!(json(&wh.join("models/clv/champion"))["version"], "v0001");

    // The holdout check accounts for every calibration customer, and the model, fitted
    // before the holdout period, predicts its repeat purchases within 15%.
    let metrics = json(&v1.join("metrics.json"));
    let checks = &metrics["checks"];
    let groups = checks["by_frequency"].as_array().unwrap();
    let customers: u64 = groups
        .iter()
        .map(|g| g["customers"].as_u64().unwrap())
        .sum();
    assert_eq!(customers, checks["calibration_customers"].as_u64().unwrap());
    let actual = checks["holdout_actual_total"].as_f64().unwrap();
    let expected = checks["holdout_expected_total"].as_f64().unwrap();
    assert!(actual > 100.0, "holdout repeat purchases {actual}");
    assert!(
        (expected / actual - 1.0).abs() < 0.15,
        "expected {expected} vs actual {actual} repeat purchases in the holdout period"
    );
    // Cumulative purchases only grow, and end above the holdout's own.
    let tracking = checks["tracking"].as_array().unwrap();
    assert!(tracking.len() > 50, "weekly points over two years");
    for w in tracking.windows(2) {
        for k in ["actual", "expected"] {
            assert!(w[1][k].as_f64() >= w[0][k].as_f64(), "{k}: {w:?}");
        }
    }
    assert!(tracking.last().unwrap()["actual"].as_f64().unwrap() >= actual);
    // P(alive) rises with the recency of the last purchase, whatever the frequency.
    for (x, row) in metrics["p_alive"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let values: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert!(
            values.iter().all(|p| (0.0..=1.0).contains(p)),
            "x = {x}: {values:?}"
        );
        assert!(
            values.windows(2).all(|w| w[1] >= w[0]),
            "x = {x}: {values:?}"
        );
    }

    // The report is self-contained and every chart decodes in a browser.
    let html = std::fs::read_to_string(v1.join("report.html")).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resource"
    );
    let page = retain_test::browser::check_page(&v1.join("report.html")).unwrap();
    assert_eq!(page.title, "CLV models v0001, as of 2026-11-01");
    assert_eq!(
        (page.images_loaded, page.images_total),
        (4, 4),
        "holdout bars, tracking lines, P(alive) heat map, CLV histogram"
    );

    // `clv report` reads back what `clv fit` printed.
    let out = run_ok(
        retain()
            .args(["clv", "report"])
            .arg(demo_pipeline())
            .arg("--out")
            .arg(wh),
    );
    assert_eq!(
        clv_section(&String::from_utf8_lossy(&out.stdout)),
        clv_section(&first)
    );

    // Refitting the same data registers v0002 as champion, with the same model bytes and
    // the same report.
    fit("CLV models v0002");
    let v2 = wh.join("models/clv/v0002");
    assert_eq!(json(&wh.join("models/clv/champion"))["version"], "v0002");
    for f in ["model.json", "report.html"] {
        assert!(
            std::fs::read(v1.join(f)).unwrap() == std::fs::read(v2.join(f)).unwrap()
                || f == "report.html" && differs_only_in_version(&v1.join(f), &v2.join(f)),
            "{f} differs between two fits of the same data"
        );
    }

    // An unknown version is one clear line and exit 1.
    let out = retain()
        .args(["clv", "report"])
        .arg(demo_pipeline())
        .arg("--out")
        .arg(wh)
        .arg("v0009")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no CLV model version `v0009`"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// The two reports differ only where they name their own version.
fn differs_only_in_version(a: &Path, b: &Path) -> bool {
    let a = std::fs::read_to_string(a)
        .unwrap()
        .replace("v0001", "vXXXX");
    let b = std::fs::read_to_string(b)
        .unwrap()
        .replace("v0002", "vXXXX");
    a == b
}

#[test]
fn a_shop_where_nobody_buys_twice_gets_null_clv_features_and_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let mut orders = String::from(
        "order_id,customer_id,ordered_at,status,gross_amount,discount_amount,currency,channel,category,item_count\n",
    );
    for i in 0..40 {
        orders.push_str(&format!(
            "O{i},C{i},2026-0{}-{:02}T10:00:00Z,completed,{}.00,0.00,EUR,web,shoes,1\n",
            1 + i % 5,
            1 + i % 28,
            20 + i
        ));
    }
    std::fs::write(raw.join("orders.csv"), orders).unwrap();
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            "name = \"one-order-each\"\nwarehouse = \"{}\"\nraw = \"{}/\"\nas-of = \"2026-05-26\"\n\
             [sources.orders]\npath = \"orders.csv\"\n\
             [models]\nchurn = \"churn\"\nrepeat_purchase = \"repeat_purchase\"\n",
            dir.path().join("wh").display(),
            raw.display()
        ),
    )
    .unwrap();

    let out = retain()
        .args(["clv", "fit"])
        .arg(&pipeline)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no customer made a repeat purchase"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        !dir.path().join("wh/models/clv").exists(),
        "nothing registered"
    );

    // The features are still published, with NULL CLV columns and the reason recorded.
    run_ok(retain().arg("features").arg(&pipeline));
    let part = dir.path().join("wh/features/customer/as_of=2026-05-26");
    let manifest = json(&part.join("_manifest.json"));
    let clv = &manifest["properties"]["clv"];
    assert_eq!(clv["status"], "not fitted");
    assert!(
        clv["reason"].as_str().unwrap().contains("repeat purchase"),
        "{clv}"
    );
    let batches = read_partition(&part);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 40);
    for b in &batches {
        for c in ["p_alive", "expected_purchases_90d", "clv_12m"] {
            let col = b.column_by_name(c).unwrap_or_else(|| panic!("no {c}"));
            assert_eq!(col.null_count(), col.len(), "{c}");
        }
        // The order features are there.
        let orders = b.column_by_name("orders_lifetime").unwrap();
        assert_eq!(orders.null_count(), 0);
        assert!(
            orders
                .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
                .is_some()
        );
    }
}
