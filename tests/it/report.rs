//! The run report: every writing command leaves `runs/<run_id>.html` beside its record,
//! succeeded or failed. On a real run of the synthetic shop (with dirty rows, so that
//! something is quarantined) every chart decodes in headless Chromium, every section is
//! there, and its numbers are the record's.
//!
//! `RETAIN_RUN_REPORT_SCREENSHOT=docs/images/run-report.png` also saves a screenshot of
//! the report (how the one in the docs was made).

use std::path::{Path, PathBuf};

use retain_pipeline::reports::run::SECTIONS;
use serde_json::Value;

use crate::{json, retain, run_ok};

const AS_OF: &str = "2026-11-01";

fn pipeline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/demo.toml")
}

/// The run ids recorded under `runs/`, oldest first.
fn run_ids(wh: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(wh.join("runs"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    ids.sort();
    ids
}

/// The record and report of the one run recorded since `before`, after checking that
/// every chart of the report decodes in Chromium.
fn new_run(wh: &Path, before: &[String]) -> (String, Value, String) {
    let new: Vec<String> = run_ids(wh)
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    let [id] = <[String; 1]>::try_from(new).unwrap_or_else(|n| panic!("one new run, not {n:?}"));
    let record = json(&wh.join(format!("runs/{id}.json")));
    let page_path = wh.join(format!("runs/{id}.html"));
    let html = std::fs::read_to_string(&page_path).expect("the run report beside the record");
    let check = retain_test::browser::check_page(&page_path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        check.title,
        format!("Run {id} (retain {})", record["command"].as_str().unwrap())
    );
    assert_eq!(
        check.images_loaded, check.images_total,
        "every chart decodes: {check:?}"
    );
    assert_eq!(check.images_total, html.matches("<img ").count());
    for h in SECTIONS {
        assert!(html.contains(&format!("<h2>{h}</h2>")), "no section `{h}`");
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    (id, record, html)
}

fn num(v: &Value) -> String {
    v.as_u64()
        .unwrap_or_else(|| panic!("a count: {v}"))
        .to_string()
}

/// `<tr><td>first</td><td class="num">n</td>…`: a table row that starts with these cells.
fn row(first: &[&str], numbers: &[String]) -> String {
    let mut s = String::from("<tr>");
    for c in first {
        s.push_str(&format!("<td>{c}</td>"));
    }
    for n in numbers {
        s.push_str(&format!("<td class=\"num\">{n}</td>"));
    }
    s
}

#[test]
fn every_run_writes_a_report_that_matches_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    run_ok(
        retain()
            .args([
                "synth",
                "--customers",
                "2000",
                "--seed",
                "7",
                "--dirty",
                "0.01",
            ])
            .arg("--out")
            .arg(wh.join("raw")),
    );
    run_ok(
        retain()
            .arg("run")
            .arg(pipeline())
            .args(["--as-of", AS_OF, "--out"])
            .arg(wh),
    );
    let (id, r, html) = new_run(wh, &[]);
    assert_eq!(r["status"], "succeeded");

    // Timings: one chart and one table row per stage, in order.
    let stages = r["stages"].as_array().unwrap();
    let names: Vec<&str> = stages
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ingest",
            "features",
            "clv",
            "train churn",
            "train repeat_purchase",
            "score",
            "next best action"
        ]
    );
    assert!(html.contains("alt=\"Time per stage\""));
    let mut at = 0;
    for s in stages {
        let name = s["stage"].as_str().unwrap();
        let found = html[at..]
            .find(&format!("<tr><td>{name}</td>"))
            .unwrap_or_else(|| panic!("no row for stage {name} (in order)"));
        at += found + 1;
    }

    // Rows in / staged / quarantined: the totals row is the record's, every source has a
    // row, and the dirty rows' reasons are listed.
    let sources = r["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 5, "{sources:?}");
    let staged: u64 = sources.iter().map(|s| s["staged"].as_u64().unwrap()).sum();
    assert_eq!(staged, r["rows_staged"].as_u64().unwrap());
    assert!(r["rows_quarantined"].as_u64().unwrap() > 0, "dirty rows");
    let duplicates: u64 = sources
        .iter()
        .map(|s| s["duplicates"].as_u64().unwrap())
        .sum();
    assert!(
        html.contains(&row(
            &["total"],
            &[
                num(&r["rows_read"]),
                num(&r["rows_staged"]),
                num(&r["rows_quarantined"]),
                duplicates.to_string()
            ]
        )),
        "no totals row matching the record"
    );
    for s in sources {
        let t = s["table"].as_str().unwrap();
        assert!(
            html.contains(&row(
                &[t],
                &[num(&s["read"]), num(&s["staged"]), num(&s["quarantined"])]
            )),
            "no row for source {t}"
        );
    }
    assert!(html.contains("alt=\"Rows per source\""));
    let (reason, n) = sources
        .iter()
        .flat_map(|s| {
            s["reasons"].as_object().unwrap().iter().map(move |(k, v)| {
                (
                    (s["table"].as_str().unwrap(), k.as_str()),
                    v.as_u64().unwrap(),
                )
            })
        })
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .expect("a quarantine reason");
    let top = html
        .find("Top quarantine reasons")
        .expect("the top reasons table");
    assert!(
        html[top..].contains(&row(&[reason.0, reason.1], &[n.to_string()])),
        "the most frequent reason {reason:?} ({n}) is listed"
    );

    // Null rates and drift: every input of both scoring models is in the table, the
    // drifted ones marked, and each model has its shift chart.
    let drift = &r["drift"];
    let inputs = drift["inputs"].as_array().unwrap();
    let churn_inputs = inputs.iter().filter(|i| i["model"] == "churn").count();
    assert!(churn_inputs > 20, "all inputs kept, not only drifted ones");
    assert!(inputs.iter().any(|i| i["model"] == "repeat_purchase"));
    let drifted = inputs.iter().filter(|i| i["drifted"] == true).count();
    assert!(
        html.contains(&format!("{drifted} of {} inputs", inputs.len())),
        "the drift summary counts the record's inputs"
    );
    let table = &html[html.find("Every model input").expect("the inputs table")..];
    assert_eq!(table.matches("<td>DRIFTED</td>").count(), drifted);
    for i in inputs {
        let cells = format!(
            "<tr><td>{}</td><td>{}</td>",
            i["model"].as_str().unwrap(),
            i["feature"].as_str().unwrap()
        );
        assert!(table.contains(&cells), "no row {cells}");
    }
    for m in ["churn", "repeat_purchase"] {
        assert!(html.contains(&format!("alt=\"Mean shift per input, {m}\"")));
    }
    assert_eq!(drift["shift_threshold"], 0.5, "[score] drift_shift default");
    assert!(html.contains("moved more than 0.5 training standard deviations"));

    // Model metrics: both models trained, then the champions scored with.
    let models = r["models"].as_array().unwrap();
    let roles: Vec<(&str, &str)> = models
        .iter()
        .map(|m| (m["model"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("churn", "trained"),
            ("repeat_purchase", "trained"),
            ("churn", "scored"),
            ("repeat_purchase", "scored")
        ]
    );
    for m in models {
        let role = if m["role"] == "trained" {
            "trained"
        } else {
            "scored with"
        };
        let (model, version) = (m["model"].as_str().unwrap(), m["version"].as_str().unwrap());
        let auc = |k: &str| format!("{:.4}", m[k].as_f64().expect("an AUC"));
        assert!(
            html.contains(&format!(
                "<tr><td>{model}</td><td>{version}</td><td>{role}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
                auc("validation_auc"),
                auc("baseline_auc"),
                auc("train_auc"),
            )),
            "no metrics row for {m}"
        );
        assert!(
            html.contains(&format!(
                "<tr><td>{model}</td><td>{version}</td><td>{role}</td><td>{}</td><td>{}</td>",
                m["algorithm"].as_str().unwrap(),
                m["validation_snapshot"].as_str().unwrap(),
            )),
            "no algorithm row for {m}"
        );
    }
    assert!(html.contains("alt=\"Out-of-time ROC AUC: model vs naive baseline\""));

    // Action mix: every action of the record with its counts, the total, the reasons.
    let actions = &r["actions"];
    let per_action = actions["actions"].as_object().unwrap();
    assert!(per_action.len() >= 5, "{per_action:?}");
    let mut selected = 0;
    for (name, a) in per_action {
        selected += a["selected"].as_u64().unwrap();
        assert!(
            html.contains(&row(
                &[name],
                &[num(&a["selected"]), num(&a["treated"]), num(&a["control"])]
            )),
            "no row for action {name}"
        );
    }
    let mix = html.split("<h2>Action mix</h2>").nth(1).unwrap();
    assert_eq!(
        mix.split("<h2>")
            .next()
            .unwrap()
            .matches("<tr><td>")
            .count(),
        per_action.len() + 1 + actions["no_action"].as_object().unwrap().len(),
        "one row per action, the total, one per no_action reason"
    );
    let without: u64 = actions["no_action"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        selected + without,
        actions["customers"].as_u64().unwrap(),
        "every customer is selected for one action or has a reason for none"
    );
    assert!(!per_action.contains_key("no_action"));
    assert!(html.contains(&row(&["total"], &[selected.to_string()])));
    assert!(html.contains(&format!(
        "Policy {}: {} customers",
        actions["policy"].as_str().unwrap(),
        num(&actions["customers"])
    )));
    let nba = json(&wh.join(format!(
        "scores/next_best_action/as_of={AS_OF}/_manifest.json"
    )));
    assert_eq!(
        nba["rows"], actions["customers"],
        "one decision per customer"
    );
    for alt in [
        "Customers per action",
        "Customers without an action, by reason",
    ] {
        assert!(html.contains(&format!("alt=\"{alt}\"")));
    }

    // Tables published: every partition the record lists (the run's own tables too).
    let tables = r["tables"].as_array().unwrap();
    assert!(
        tables
            .iter()
            .any(|t| t["table"] == "scores/next_best_action"),
        "{tables:?}"
    );
    let published = html.split("<h2>Tables published</h2>").nth(1).unwrap();
    for t in tables {
        let cells = format!(
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td>",
            t["table"].as_str().unwrap(),
            t["partition"].as_str().unwrap(),
            num(&t["rows"])
        );
        assert!(published.contains(&cells), "no row {cells}");
    }

    // `retain runs show` says where the report is.
    let out = run_ok(retain().args(["runs", "show", &id, "--out"]).arg(wh));
    let shown = String::from_utf8_lossy(&out.stdout);
    let url = format!("/runs/{id}.html");
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("report: file://") && l.ends_with(&url)),
        "{shown}"
    );

    if let Some(png) = std::env::var_os("RETAIN_RUN_REPORT_SCREENSHOT") {
        let png = Path::new(env!("CARGO_MANIFEST_DIR")).join(png);
        retain_test::browser::screenshot(&wh.join(format!("runs/{id}.html")), &png, 1000, 2800)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // A single-stage command records its stage: `retain score` on the features the run
    // published (reused, so no features stage), and did not ingest.
    let before = run_ids(wh);
    run_ok(
        retain()
            .args(["score", "--pipeline"])
            .arg(pipeline())
            .args(["--as-of", AS_OF, "--out"])
            .arg(wh),
    );
    let (_, r, html) = new_run(wh, &before);
    assert_eq!(r["command"], "score");
    let names: Vec<&str> = r["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["score"]);
    assert!(html.contains("This command did not ingest"));
    assert!(html.contains("This command decided no actions."));
    assert!(html.contains("alt=\"Mean shift per input, churn\""));
    let roles: Vec<&str> = r["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["scored", "scored"]);
}

#[test]
fn failed_runs_write_a_report_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();

    // Nothing to score with: fails at once, with the error and no stages.
    let out = retain()
        .args(["score", "--pipeline"])
        .arg(pipeline())
        .args(["--as-of", AS_OF, "--out"])
        .arg(wh)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let (_, r, html) = new_run(wh, &[]);
    assert_eq!(r["status"], "failed");
    assert!(html.contains("<td>status</td><td>failed</td>"));
    assert!(html.contains("model `churn` has no champion"), "the error");
    assert!(html.contains("No stage finished before the run failed"));
    assert_eq!(html.matches("<img ").count(), 0, "no empty charts");

    // A quarantine-threshold breach: nothing published, but the report shows what the
    // refused ingest counted and why it was refused.
    run_ok(
        retain()
            .args([
                "synth",
                "--customers",
                "300",
                "--seed",
                "3",
                "--dirty",
                "0.3",
            ])
            .arg("--out")
            .arg(wh.join("raw")),
    );
    let before = run_ids(wh);
    let out = retain()
        .arg("ingest")
        .arg(pipeline())
        .arg("--out")
        .arg(wh)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let (_, r, html) = new_run(wh, &before);
    assert_eq!(r["status"], "failed");
    assert!(r["error"].as_str().unwrap().contains("data quality"));
    assert!(r["rows_quarantined"].as_u64().unwrap() > 0, "{r}");
    assert!(html.contains("Top quarantine reasons"));
    assert!(html.contains(&row(
        &["total"],
        &[
            num(&r["rows_read"]),
            num(&r["rows_staged"]),
            num(&r["rows_quarantined"])
        ]
    )));
    assert!(html.contains("This command published no table."));
    assert!(!wh.join("staged").exists(), "nothing published");
}
