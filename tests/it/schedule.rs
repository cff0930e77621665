//! What a scheduler calls: `retain run --stages`, backfills (`--from/--to/--every`,
//! skipping published dates, `--force`), `--dry-run`, `retain validate`, and the exit
//! codes of docs/cli.md, each produced for real.

use std::path::Path;
use std::process::Output;

use crate::{copy_dir, retain, run_ok};

fn synth(raw: &Path, customers: &str) {
    run_ok(
        retain()
            .args(["synth", "--customers", customers, "--out"])
            .arg(raw),
    );
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn run_records(wh: &Path) -> usize {
    files(&wh.join("runs"))
        .iter()
        .filter(|f| f.ends_with(".json"))
        .count()
}

/// `retain run PIPELINE --out WH ARGS...`
fn run(wh: &Path, args: &[&str]) -> Output {
    retain()
        .args(["run", "pipelines/demo.toml", "--out"])
        .arg(wh)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_backfill_runs_each_date_once_and_then_has_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    synth(&wh.join("raw"), "2000");
    let backfill = [
        "--stages",
        "ingest,features",
        "--from",
        "2026-10-11",
        "--to",
        "2026-10-25",
        "--every",
        "week",
    ];

    // The dry run names the dates, the single ingest, each stage's inputs and outputs,
    // and writes nothing at all.
    let out = run(wh, &[&backfill[..], &["--dry-run"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    for want in [
        "stages: ingest, features",
        "2026-10-11  run",
        "2026-10-18  run",
        "2026-10-25  run",
        "ingest runs once, first (its run labelled 2026-10-25)",
        "in   orders: file://",
        "out  staged/orders",
        "out  features/customer/as_of=2026-10-11",
    ] {
        assert!(plan.contains(want), "`{want}` missing from:\n{plan}");
    }
    assert_eq!(
        files(wh).iter().filter(|f| !f.starts_with("raw/")).count(),
        0,
        "a dry run writes nothing: {:?}",
        files(wh)
    );

    // The backfill: one ingest, then the features of each date, in order.
    let out = run(wh, &backfill);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("backfill of 3 dates (3 to run, 0 published and current)"),
        "{text}"
    );
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("`{s}` in:\n{text}"));
    assert!(at("\ningest as of 2026-10-25") < at("\nas of 2026-10-11 (run"));
    assert!(at("\nas of 2026-10-11 (run") < at("\nas of 2026-10-18 (run"));
    assert!(at("\nas of 2026-10-18 (run") < at("\nas of 2026-10-25 (run"));
    assert_eq!(text.matches("  ingest ").count(), 1, "ingest once:\n{text}");
    for d in ["2026-10-11", "2026-10-18", "2026-10-25"] {
        let manifest = wh.join(format!("features/customer/as_of={d}/_manifest.json"));
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        assert!(m["rows"].as_u64().unwrap() > 1000, "{d}: {m}");
    }
    // Each date is its own run, with its own record.
    assert_eq!(run_records(wh), 4);

    // Again: every date is published, so nothing to do, exit 4, nothing written.
    let before = files(wh);
    let out = run(wh, &backfill);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "nothing to do: all 3 dates from 2026-10-11 to 2026-10-25 are published and current (--force reruns them)"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(files(wh), before, "nothing to do writes nothing");

    // A date whose output went missing is the only one run again (and ingest with it).
    std::fs::remove_dir_all(wh.join("features/customer/as_of=2026-10-18")).unwrap();
    let out = run(wh, &[&backfill[..], &["--dry-run"]].concat());
    let plan = stdout(&out);
    assert!(
        plan.contains("2026-10-11  skip: published")
            && plan.contains("2026-10-18  run")
            && plan.contains("2026-10-25  skip: published")
            && plan.contains("ingest runs once, first (its run labelled 2026-10-18)"),
        "{plan}"
    );
    let out = run(wh, &backfill);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("(1 to run, 2 published and current)")
            && text.contains("as of 2026-10-18 (run"),
        "{text}"
    );
    assert!(!text.contains("as of 2026-10-11 (run"), "{text}");
    assert!(
        wh.join("features/customer/as_of=2026-10-18/_manifest.json")
            .exists()
    );
    assert_eq!(run_records(wh), 6);

    // --force reruns every date; the rows are the same (reruns are idempotent).
    let rows = |d: &str| -> serde_json::Value {
        let m: serde_json::Value = serde_json::from_slice(
            &std::fs::read(wh.join(format!("features/customer/as_of={d}/_manifest.json"))).unwrap(),
        )
        .unwrap();
        m["rows"].clone()
    };
    let first = rows("2026-10-11");
    let out = run(wh, &[&backfill[..], &["--force"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("(3 to run, 0 published and current)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(rows("2026-10-11"), first);
    // One record per run: the ingest and the three dates.
    assert_eq!(run_records(wh), 10);
}

/// Issue 19: a backfill skips a date only while its outputs follow from what the
/// warehouse holds now. A new export makes every date's features stale (found before
/// any ingest, from the raw files' ETags and sizes); a champion promoted in force from a
/// date makes the scores from that date on stale; an unchanged warehouse has nothing to
/// do and writes nothing.
#[test]
fn a_backfill_reruns_the_dates_whose_inputs_changed() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    synth(&wh.join("raw"), "1500");
    let out = run(wh, &["--as-of", "2026-10-04"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let backfill = [
        "--stages",
        "ingest,features,score,actions",
        "--from",
        "2026-10-11",
        "--to",
        "2026-10-25",
        "--every",
        "week",
    ];
    let out = run(wh, &backfill);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(wh, &backfill);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    let manifest = |table: &str, d: &str| -> serde_json::Value {
        crate::json(&wh.join(format!("{table}/as_of={d}/_manifest.json")))
    };
    let scored_from =
        manifest("scores/customer_risk", "2026-10-25")["inputs"][0]["version"].clone();

    // A late order of a known customer arrives in the export.
    let orders = wh.join("raw/orders.csv");
    let text = std::fs::read_to_string(&orders).unwrap();
    let customer = text
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .to_owned();
    let lifetime = |d: &str| -> u64 {
        let rows = crate::duckdb(&format!(
            "select orders_lifetime from read_parquet('{}/features/customer/as_of={d}/*.parquet') where customer_id = '{customer}'",
            wh.display()
        ));
        rows[0]["orders_lifetime"].as_u64().unwrap()
    };
    let (before, before_11) = (lifetime("2026-10-25"), lifetime("2026-10-11"));
    std::fs::write(
        &orders,
        format!("{text}O99999999,{customer},2026-10-15T10:00:00Z,completed,50.00,0.00,EUR,web,sports,1\n"),
    )
    .unwrap();
    let out = run(wh, &[&backfill[..], &["--dry-run"]].concat());
    let plan = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{plan}");
    for d in ["2026-10-11", "2026-10-18", "2026-10-25"] {
        assert!(
            plan.contains(&format!(
                "{d}  run; features stale: the raw files or the staging SQL changed since the last ingest; score stale: its features are stale; actions stale: its scores are stale"
            )),
            "{plan}"
        );
    }
    let out = run(wh, &backfill);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("(3 to run, 0 published and current)"),
        "{text}"
    );
    assert_eq!(
        lifetime("2026-10-25"),
        before + 1,
        "the late order is counted"
    );
    assert_eq!(
        lifetime("2026-10-11"),
        before_11,
        "an order after 10-11 is not"
    );
    let features = manifest("features/customer", "2026-10-25")["run_id"].clone();
    let scores = manifest("scores/customer_risk", "2026-10-25");
    assert_eq!(scores["inputs"][0]["version"], features);
    assert_ne!(scores["inputs"][0]["version"], scored_from);
    let actions = manifest("scores/next_best_action", "2026-10-25");
    assert!(
        actions["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["version"] == scores["run_id"]),
        "{actions}"
    );
    let out = run(wh, &backfill);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));

    // A churn champion trained as of 2026-10-18 and promoted: in force from that date,
    // so the scores (and actions) of 10-18 and 10-25 are stale, not those of 10-11.
    let out = retain()
        .args(["train", "--pipeline", "pipelines/demo.toml", "--out"])
        .arg(wh)
        .args(["models/churn.toml", "--as-of", "2026-10-18", "--promote"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(wh, &[&backfill[..], &["--dry-run"]].concat());
    let plan = stdout(&out);
    assert!(
        plan.contains("2026-10-11  skip: published and current"),
        "{plan}"
    );
    for d in ["2026-10-18", "2026-10-25"] {
        assert!(
            plan.contains(&format!("{d}  run (rerun: features published)"))
                && plan.contains("score stale: the champion of churn in force is v0002, it was scored with v0001; actions stale: its scores are stale"),
            "{plan}"
        );
    }
    let out = run(wh, &backfill);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        manifest("scores/customer_risk", "2026-10-25")["properties"]["models"]["churn"],
        "v0002"
    );
    assert_eq!(
        manifest("scores/customer_risk", "2026-10-11")["properties"]["models"]["churn"],
        "v0001"
    );
}

#[test]
fn stages_run_alone_read_what_earlier_runs_published() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    synth(&wh.join("raw"), "1500");

    // Features before any ingest: refused with the command that fixes it.
    let out = run(wh, &["--stages", "features"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(" is not in ") && stderr(&out).contains("run `retain ingest`"),
        "{}",
        stderr(&out)
    );

    // The pipeline file's own `stages`: only ingest.
    let text = std::fs::read_to_string("pipelines/demo.toml").unwrap();
    let only_ingest = wh.join("ingest-only.toml");
    std::fs::write(
        &only_ingest,
        text.replace(
            "as-of = \"2026-11-01\"",
            "as-of = \"2026-11-01\"\nstages = [\"ingest\"]",
        ),
    )
    .unwrap();
    let out = run_ok(retain().arg("run").arg(&only_ingest).arg("--out").arg(wh));
    let text = stdout(&out);
    assert!(text.contains("  ingest "), "{text}");
    assert!(!text.contains("  features "), "{text}");
    assert!(wh.join("staged/orders/_manifest.json").exists());
    assert!(!wh.join("features").exists());

    // Then features alone, on the staged tables: no ingest this time.
    let out = run_ok(&mut {
        let mut c = retain();
        c.args([
            "run",
            "pipelines/demo.toml",
            "--stages",
            "features",
            "--out",
        ])
        .arg(wh);
        c
    });
    let text = stdout(&out);
    assert!(text.contains("  features "), "{text}");
    assert!(!text.contains("  ingest "), "{text}");
    assert!(
        wh.join("features/customer/as_of=2026-11-01/_manifest.json")
            .exists()
    );

    // Scoring needs a champion, and deciding actions needs scores: each says which
    // command to run.
    let out = run(wh, &["--stages", "features,score"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("has no champion"), "{}", stderr(&out));
    // The failed run's record keeps the stage that finished before the failure.
    let listing = stdout(&run_ok(retain().args(["runs", "--out"]).arg(wh)));
    let failed = listing
        .lines()
        .find(|l| l.contains(" run:features,score ") && l.contains(" failed "))
        .unwrap_or_else(|| panic!("{listing}"));
    let id = failed.split_whitespace().next().unwrap();
    let shown = run_ok(
        retain()
            .args(["runs", "show", id, "--json", "--out"])
            .arg(wh),
    );
    let record: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let stages: Vec<&str> = record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["features"], "{record}");
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("has no champion"),
        "{record}"
    );
    let out = run(wh, &["--stages", "actions"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("run `retain score --as-of 2026-11-01` first"),
        "{}",
        stderr(&out)
    );

    // The run records say which stages each run ran.
    let out = run_ok(retain().args(["runs", "--out"]).arg(wh));
    let listing = stdout(&out);
    assert!(
        listing
            .lines()
            .any(|l| l.contains(" run:ingest ") && l.contains("succeeded")),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.contains(" run:features ") && l.contains("succeeded")),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.contains(" run:actions ") && l.contains("failed")),
        "{listing}"
    );
}

#[test]
fn validate_plans_everything_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    synth(&wh.join("raw"), "300");
    let validate = |pipeline: &Path| {
        retain()
            .arg("validate")
            .arg(pipeline)
            .arg("--out")
            .arg(wh)
            .output()
            .unwrap()
    };
    let demo = Path::new("pipelines/demo.toml");
    let out = validate(demo);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "is valid as of 2026-11-01",
        "ok  source orders",
        "raw/orders.csv (1 file)",
        "staged by sql/staging/orders.sql",
        "ok  features",
        "ok  model churn",
        "ok  policy expressions",
    ] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }
    assert_eq!(
        files(wh).iter().filter(|f| !f.starts_with("raw/")).count(),
        0,
        "validate writes nothing: {:?}",
        files(wh)
    );
    let json = retain()
        .args(["validate", "pipelines/demo.toml", "--json", "--out"])
        .arg(wh)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(v["checks"].as_array().unwrap().len() >= 10, "{v}");

    let demo_text = std::fs::read_to_string(demo).unwrap();
    let write = |name: &str, text: String| {
        let p = wh.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // A source whose files are not there: exit 1, naming the URL.
    let p = write(
        "missing.toml",
        demo_text.replace("path = \"orders.csv\"", "path = \"orders-2026.csv\""),
    );
    let out = validate(&p);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("raw/orders-2026.csv") && stderr(&out).contains("file not found"),
        "{}",
        stderr(&out)
    );
    // A feature SQL that reads a column the staged table does not have: DataFusion's
    // planning error, naming the column.
    let sql = wh.join("sql");
    copy_dir(Path::new("sql"), &sql);
    let feature_sql = sql.join("features/customer.sql");
    let text = std::fs::read_to_string(&feature_sql).unwrap();
    assert!(text.contains("o.gross_amount,"));
    std::fs::write(
        &feature_sql,
        text.replacen("o.gross_amount,", "o.gross_amont,", 1),
    )
    .unwrap();
    let p = write(
        "badsql.toml",
        demo_text.replace(
            "as-of = \"2026-11-01\"",
            &format!("as-of = \"2026-11-01\"\nsql-dir = \"{}\"", sql.display()),
        ),
    );
    let out = validate(&p);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("gross_amont"), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr(&out)
    );
    // A feature SQL that writes a file (`COPY ... TO`, issue 20's finding 7): not a
    // query, a configuration error, and nothing written.
    let leak = wh.join("leak.csv");
    std::fs::write(
        &feature_sql,
        format!("COPY (SELECT * FROM orders) TO '{}'", leak.display()),
    )
    .unwrap();
    let out = validate(&p);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a query: DML not supported: COPY")
            && stderr(&out).contains("retain runs only SELECT"),
        "{}",
        stderr(&out)
    );
    assert!(!leak.exists());
    // An edited outcomes.sql (what evaluate-actions reads) whose columns have the wrong
    // types: refused before it is read, naming what it must return.
    std::fs::write(&feature_sql, &text).unwrap();
    let outcomes = sql.join("actions/outcomes.sql");
    let o = std::fs::read_to_string(&outcomes).unwrap();
    assert!(o.contains("CAST(count(*) AS BIGINT)"));
    std::fs::write(
        &outcomes,
        o.replace("CAST(count(*) AS BIGINT)", "CAST(count(*) AS DOUBLE)"),
    )
    .unwrap();
    let out = validate(&p);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("must return (action Utf8, control Boolean, customers Int64")
            && stderr(&out).contains("customers Float64"),
        "{}",
        stderr(&out)
    );
    // A model population that is not a boolean over the feature columns (a misspelt
    // column, a number): a configuration error, as training would find it.
    let models = wh.join("models");
    copy_dir(Path::new("models"), &models);
    let churn = std::fs::read_to_string(models.join("churn.toml")).unwrap();
    assert!(churn.contains("horizon-days = 90\n"));
    let with_models = write(
        "models.toml",
        demo_text.replace(
            "as-of = \"2026-11-01\"",
            &format!(
                "as-of = \"2026-11-01\"\nmodels-dir = \"{}\"",
                models.display()
            ),
        ),
    );
    for (population, expected) in [
        ("shoper_type = 'relational'", "shoper_type"),
        ("tenure_days", "it is of type Float64"),
    ] {
        std::fs::write(
            models.join("churn.toml"),
            churn.replace(
                "horizon-days = 90\n",
                &format!("horizon-days = 90\npopulation = \"{population}\"\n"),
            ),
        )
        .unwrap();
        let out = validate(&with_models);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "population `{population}` is not a boolean expression over the feature columns"
            )) && stderr(&out).contains(expected),
            "{}",
            stderr(&out)
        );
    }
    // A policy expression over a column that does not exist: a configuration error.
    let policy = std::fs::read_to_string("pipelines/policies/retention.toml").unwrap();
    let bad_policy = write(
        "policy.toml",
        policy.replacen(
            "AND churn_probability >= 0.4",
            "AND churn_probabilty >= 0.4",
            1,
        ),
    );
    assert!(demo_text.contains("\n[policy]\n"));
    let p = write(
        "badpolicy.toml",
        demo_text.replace(
            "\n[policy]\n",
            &format!("\n[policy]\nfile = \"{}\"\n", bad_policy.display()),
        ),
    );
    let out = validate(&p);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Did you mean 'churn_probability'"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        files(wh)
            .iter()
            .filter(|f| {
                !f.starts_with("raw/")
                    && !f.starts_with("sql/")
                    && !f.starts_with("models/")
                    && !f.ends_with(".toml")
            })
            .count(),
        0,
        "failed validations write nothing either"
    );
}

/// docs/cli.md's exit codes, each produced by a real command line (3, a breached
/// quarantine threshold, is produced in cli.rs's quarantine test; asserted here again
/// on its own small shop).
#[test]
fn exit_codes_are_the_documented_ones() {
    let doc = std::fs::read_to_string("docs/cli.md").unwrap();
    for (code, meaning) in [
        (0, "success"),
        (1, "failure"),
        (2, "usage or configuration error"),
        (3, "data-quality threshold breached"),
        (4, "nothing to do"),
    ] {
        assert!(
            doc.contains(&format!("| {code} | {meaning}")),
            "docs/cli.md does not document exit code {code} ({meaning})"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let code = |out: Output| {
        let err = stderr(&out);
        if !matches!(out.status.code(), Some(0 | 4)) {
            assert_eq!(err.trim_end().lines().count(), 1, "one line:\n{err}");
            assert!(err.starts_with("error: "), "{err}");
        }
        out.status.code()
    };
    // 1: a failure (no raw files where the pipeline says).
    assert_eq!(code(run(wh, &["--stages", "ingest"])), Some(1));
    // 2: usage and configuration errors.
    assert_eq!(code(run(wh, &["--stages", "nope"])), Some(2));
    assert_eq!(
        code(run(wh, &["--from", "2026-10-02", "--to", "2026-10-01"])),
        Some(2)
    );
    assert_eq!(
        code(retain().args(["run", "no/such.toml"]).output().unwrap()),
        Some(2)
    );
    // No as-of date anywhere: neither `--as-of` nor the pipeline's `as-of` key.
    let demo = std::fs::read_to_string("pipelines/demo.toml").unwrap();
    let undated = wh.join("undated.toml");
    std::fs::write(
        &undated,
        demo.lines()
            .filter(|l| !l.starts_with("as-of"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    // Ingest is the exception: staging knows no as-of date, and an undated ingest is
    // labelled with the day it ran. Here it fails on the missing raw files, not the date.
    let out = retain()
        .arg("ingest")
        .arg(&undated)
        .arg("--out")
        .arg(wh)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("no as-of date"), "{err}");
    assert_eq!(code(out), Some(1), "{err}");
    for command in ["run", "validate", "score"] {
        let mut cmd = retain();
        if command == "score" {
            cmd.args([command, "--pipeline"]);
        } else {
            cmd.arg(command);
        }
        let out = cmd.arg(&undated).arg("--out").arg(wh).output().unwrap();
        let err = stderr(&out);
        assert!(
            err.contains("no as-of date: pass --as-of"),
            "{command}: {err}"
        );
        assert_eq!(code(out), Some(2), "{command} without an as-of date");
    }
    let typo = wh.join("typo.toml");
    std::fs::write(&typo, "name = \"x\"\nwarehouse = \"w\"\nstages = []\n").unwrap();
    assert_eq!(
        code(retain().arg("validate").arg(&typo).output().unwrap()),
        Some(2)
    );
    // 3: a breached quarantine threshold.
    run_ok(
        retain()
            .args(["synth", "--customers", "300", "--dirty", "0.2", "--out"])
            .arg(wh.join("raw")),
    );
    assert_eq!(code(run(wh, &["--stages", "ingest"])), Some(3));
    // 0, then 4: a backfill of ingest and features over one day, then again.
    std::fs::remove_dir_all(wh.join("raw")).unwrap();
    synth(&wh.join("raw"), "300");
    let backfill = [
        "--stages",
        "ingest,features",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-01",
    ];
    assert_eq!(code(run(wh, &backfill)), Some(0));
    assert_eq!(code(run(wh, &backfill)), Some(4));
}
