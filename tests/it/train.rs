//! Training from the CLI: `retain train` evaluates out of time against the naive
//! baseline and registers an immutable, hash-checked version with a report that renders
//! in Chromium; `--compare` trains challengers side by side; `retain models` lists,
//! shows and promotes.

use std::path::{Path, PathBuf};

use crate::{json, retain, run_ok};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `retain <args> --pipeline pipelines/demo.toml --out <wh>`.
fn cmd(wh: &Path, args: &[&str]) -> std::process::Command {
    let mut c = retain();
    c.args(args)
        .arg("--pipeline")
        .arg(root().join("pipelines/demo.toml"))
        .arg("--out")
        .arg(wh);
    c
}

fn spec(name: &str) -> String {
    root()
        .join("models")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn train_beats_the_naive_baseline_and_the_registry_keeps_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    run_ok(
        retain()
            .args(["synth", "--customers", "5000", "--out"])
            .arg(wh.join("raw")),
    );

    // One spec: registered, not promoted (no flag), with the comparison table.
    let out = stdout(&run_ok(&mut cmd(wh, &["train", &spec("churn.toml")])));
    for needle in [
        "churn v0001 (logistic",
        "naive baseline",
        "ROC AUC",
        "ECE (10 bins)",
        "lift, top decile",
        "not promoted; `retain models promote churn v0001` makes it the champion",
    ] {
        assert!(out.contains(needle), "no `{needle}` in:\n{out}");
    }
    let v1 = wh.join("models/churn/v0001");
    let m = json(&v1.join("metrics.json"));
    let auc = m["validation"]["roc_auc"].as_f64().unwrap();
    let base_auc = m["baseline"]["validation"]["roc_auc"].as_f64().unwrap();
    let lift = m["validation"]["lift_top_decile"].as_f64().unwrap();
    let base_lift = m["baseline"]["validation"]["lift_top_decile"]
        .as_f64()
        .unwrap();
    let ece = m["validation"]["ece"].as_f64().unwrap();
    assert!(
        auc > base_auc + 0.03,
        "the model adds to recency alone: AUC {auc} vs {base_auc}"
    );
    assert!(lift > base_lift, "top-decile lift {lift} vs {base_lift}");
    assert!(ece < 0.05, "calibrated: ECE {ece}");
    assert_eq!(m["baseline"]["direction"], "higher", "{}", m["baseline"]);
    let artifact = json(&v1.join("model.json"));
    assert_eq!(artifact["format"], "retain.model/2");
    assert_eq!(artifact["estimator"]["kind"], "logistic");
    let inputs = artifact["encoding"]["inputs"].as_array().unwrap();
    let shopper = inputs
        .iter()
        .find(|i| i["column"] == "shopper_type")
        .unwrap();
    assert_eq!(shopper["kind"], "one-hot");
    assert_eq!(
        shopper["categories"],
        serde_json::json!(["relational", "transactional", "unknown"])
    );
    assert!(
        artifact["estimator"]["features"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("shopper_type=relational"))
    );
    assert!(
        artifact["training"]["calibration_rows"].as_u64().unwrap() > 500,
        "a held-out slice of training customers: {}",
        artifact["training"]
    );
    assert_eq!(
        artifact["feature_stats"].as_array().unwrap().len(),
        artifact["estimator"]["features"].as_array().unwrap().len()
    );
    assert!(!wh.join("models/churn/champion").exists());
    // The training table marks the calibration rows.
    let training = json(&wh.join("training/churn/run_as_of=2026-11-01/_manifest.json"));
    assert!(training["rows"].as_u64().unwrap() > 5000, "{training}");

    // The manifest records every file's SHA-256.
    let manifest = json(&v1.join("manifest.json"));
    for f in [
        "model.json",
        "metrics.json",
        "features.json",
        "spec.toml",
        "report.html",
    ] {
        let bytes = std::fs::read(v1.join(f)).unwrap();
        assert_eq!(
            manifest["files"][f]["bytes"].as_u64().unwrap(),
            bytes.len() as u64,
            "{f}"
        );
        assert_eq!(manifest["files"][f]["sha256"].as_str().unwrap().len(), 64);
    }
    assert_eq!(
        std::fs::read_to_string(v1.join("spec.toml")).unwrap(),
        std::fs::read_to_string(spec("churn.toml")).unwrap()
    );

    // The report: self-contained, every chart decodes in Chromium.
    let html = std::fs::read_to_string(v1.join("report.html")).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"));
    for needle in [
        "naive baseline",
        "ROC curve",
        "Calibration",
        "Feature importance",
    ] {
        assert!(html.contains(needle), "report lacks `{needle}`");
    }
    let page = retain_test::browser::check_page(&v1.join("report.html")).unwrap();
    assert_eq!(page.title, "churn v0001 (logistic)");
    assert_eq!(
        (page.images_loaded, page.images_total),
        (6, 6),
        "ROC, PR, gains, calibration, score histogram, importance"
    );

    // Promote by hand; then challengers on identical data, the best one promoted.
    let out = stdout(&run_ok(&mut cmd(
        wh,
        &["models", "promote", "churn", "v0001"],
    )));
    assert!(
        out.contains("churn champion is now v0001 (was none)"),
        "{out}"
    );
    let out = stdout(&run_ok(&mut cmd(
        wh,
        &[
            "train",
            "--compare",
            "--promote-if-better",
            &spec("churn_tree.toml"),
            &spec("churn_forest.toml"),
            &spec("churn_gbdt.toml"),
        ],
    )));
    for needle in [
        "churn_tree v0002",
        "churn_forest v0003",
        "churn_gbdt v0004",
        "decision-tree",
        "random-forest",
        "gbdt",
        "recency rank",
        "all validated out of time on 2026-08-03",
    ] {
        assert!(out.contains(needle), "no `{needle}` in:\n{out}");
    }
    let aucs: Vec<(String, f64)> = (1..=4)
        .map(|i| {
            let v = format!("v{i:04}");
            let m = json(&wh.join(format!("models/churn/{v}/metrics.json")));
            (v, m["validation"]["roc_auc"].as_f64().unwrap())
        })
        .collect();
    for (v, a) in &aucs[1..] {
        let m = json(&wh.join(format!("models/churn/{v}/metrics.json")));
        let base = m["baseline"]["validation"]["roc_auc"].as_f64().unwrap();
        assert!(*a > base, "{v}: AUC {a} vs baseline {base}");
        assert_eq!(
            m["validation_snapshot"], "2026-08-03",
            "identical validation data"
        );
    }
    let best = aucs
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(v, _)| v.clone())
        .unwrap();
    let pointer = json(&wh.join("models/churn/champion"));
    assert_eq!(pointer["version"], best, "{aucs:?} {pointer}");

    // list and show read it back.
    let out = stdout(&run_ok(&mut cmd(wh, &["models", "list"])));
    assert!(out.contains(&format!("churn (champion {best})")), "{out}");
    assert!(out.contains(&format!("* {best}")), "{out}");
    for v in ["v0001", "v0002", "v0003", "v0004"] {
        assert!(out.contains(v), "{out}");
    }
    let out = stdout(&run_ok(&mut cmd(wh, &["models", "show", "churn"])));
    assert!(out.contains(&format!("churn {best} (champion)")), "{out}");
    assert!(out.contains("files (SHA-256 verified)"), "{out}");

    // A population filter over feature columns trains on fewer rows and is not compared
    // with a champion trained on everyone; a filter that does not parse is named.
    let relational = wh.join("relational.toml");
    let churn = std::fs::read_to_string(spec("churn.toml")).unwrap();
    std::fs::write(
        &relational,
        churn.replace(
            "horizon-days = 90\n",
            "horizon-days = 90\npopulation = \"shopper_type = 'relational'\"\n",
        ),
    )
    .unwrap();
    let out = stdout(&run_ok(&mut cmd(
        wh,
        &["train", "--promote-if-better", relational.to_str().unwrap()],
    )));
    assert!(out.contains("another label or population"), "{out}");
    let v5 = json(&wh.join("models/churn/v0005/model.json"));
    assert_eq!(v5["training"]["population"], "shopper_type = 'relational'");
    assert!(
        v5["training"]["fit_rows"].as_u64().unwrap()
            < artifact["training"]["fit_rows"].as_u64().unwrap()
    );
    std::fs::write(
        &relational,
        churn.replace(
            "horizon-days = 90\n",
            "horizon-days = 90\npopulation = \"shoper_type = 'relational'\"\n",
        ),
    )
    .unwrap();
    let out = cmd(wh, &["train", relational.to_str().unwrap()])
        .output()
        .unwrap();
    // A configuration error: exit 2.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("population `shoper_type = 'relational'` is not a boolean expression over the feature columns"),
        "{err}"
    );

    // A registered file edited afterwards is refused, in one line.
    let tampered = wh.join("models/churn/v0001/model.json");
    let mut text = std::fs::read_to_string(&tampered).unwrap();
    text.push(' ');
    std::fs::write(&tampered, text).unwrap();
    let out = cmd(wh, &["models", "show", "churn", "v0001"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("changed after it was registered"), "{err}");
    // An unknown version names the registered ones.
    let out = cmd(wh, &["models", "promote", "churn", "v0042"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("registered: v0001, v0002, v0003, v0004, v0005"),
        "{err}"
    );
}

#[test]
fn bad_specs_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let bad = wh.join("bad.toml");
    let churn = std::fs::read_to_string(spec("churn.toml")).unwrap();
    std::fs::write(
        &bad,
        churn.replace("kind = \"logistic\"", "kind = \"logistic\"\nmax-depth = 3"),
    )
    .unwrap();
    let out = cmd(wh, &["train", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("[algorithm] `max-depth` does not apply to kind \"logistic\""),
        "{err}"
    );
    assert!(err.contains("line "), "{err}");
    // Several specs without --compare: a usage error.
    let out = cmd(
        wh,
        &["train", &spec("churn.toml"), &spec("churn_gbdt.toml")],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("add --compare"), "{err}");
    // An empty warehouse has nothing to show, and says how to get something.
    let out = stdout(&run_ok(&mut cmd(wh, &["models", "list"])));
    assert!(out.contains("no registered models"), "{out}");
    let out = cmd(wh, &["models", "show", "churn"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no champion"));
}
