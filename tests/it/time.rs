//! The time rules (docs/storage.md, "Time"): staged tables do not depend on the as-of date
//! of the command that ingested them, an as-of date beyond the data is refused unless the
//! user allows it, and a published partition is reused only while what it was computed
//! from is unchanged. Each test is a reproduction from issue 19.

use std::path::Path;
use std::process::Output;

use crate::{read_tables, retain, run_ok};

fn synth(wh: &Path, customers: &str) {
    run_ok(
        retain()
            .args(["synth", "--customers", customers, "--out"])
            .arg(wh.join("raw")),
    );
}

/// `retain COMMAND pipelines/demo.toml --out WH ARGS...` (`score` and `actions` take the
/// pipeline as `--pipeline`).
fn cmd(command: &str, wh: &Path, args: &[&str]) -> Output {
    let mut c = retain();
    c.arg(command);
    if matches!(command, "score" | "actions") {
        c.arg("--pipeline");
    }
    c.arg("pipelines/demo.toml")
        .arg("--out")
        .arg(wh)
        .args(args)
        .output()
        .unwrap()
}

fn ok(command: &str, wh: &Path, args: &[&str]) -> String {
    let out = cmd(command, wh, args);
    assert!(
        out.status.success(),
        "retain {command} {args:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn content_hash(wh: &Path, partition: &str) -> String {
    read_tables(wh, &[partition])[partition]["content_hash"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn newest_run_record(wh: &Path) -> serde_json::Value {
    let mut records: Vec<_> = std::fs::read_dir(wh.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    records.sort();
    let newest = records.last().expect("a run record");
    serde_json::from_slice(&std::fs::read(newest).unwrap()).unwrap()
}

#[test]
fn staged_tables_are_the_same_whatever_the_as_of_of_the_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let (early, late) = (dir.path().join("early"), dir.path().join("late"));
    synth(&early, "600");
    synth(&late, "600");
    ok("ingest", &early, &["--as-of", "2026-05-01"]);
    ok("ingest", &late, &["--as-of", "2026-11-01"]);
    let (a, b) = (
        files_under(&early.join("staged")),
        files_under(&late.join("staged")),
    );
    assert_eq!(a.len(), 5, "one file per staged table: {a:?}");
    for ((name_a, bytes_a), (name_b, bytes_b)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert!(
            bytes_a == bytes_b,
            "{name_a} differs between an ingest as of 2026-05-01 and one as of 2026-11-01"
        );
    }
    // Nothing of the export (which ends on 2026-10-31) is in the future of its files.
    let record = newest_run_record(&early);
    assert!(
        record["quarantine_reasons"].get("future_date").is_none(),
        "{}",
        record["quarantine_reasons"]
    );
}

#[test]
fn a_score_after_an_earlier_ingest_is_what_a_fresh_warehouse_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let (used, fresh) = (dir.path().join("used"), dir.path().join("fresh"));
    for wh in [&used, &fresh] {
        synth(wh, "800");
        ok("run", wh, &["--as-of", "2026-11-01"]);
    }
    // A data scientist's backtest ingest rewinds nothing: the score of a later date on
    // this warehouse equals a fresh warehouse's.
    ok("ingest", &used, &["--as-of", "2026-05-01"]);
    for wh in [&used, &fresh] {
        let out = ok("score", wh, &["--as-of", "2026-10-18"]);
        assert!(out.contains("features computed"), "{out}");
    }
    for partition in [
        "features/customer/as_of=2026-10-18",
        "scores/customer_risk/as_of=2026-10-18",
    ] {
        assert_eq!(
            content_hash(&used, partition),
            content_hash(&fresh, partition),
            "{partition} after an ingest as of 2026-05-01 differs from a fresh warehouse's"
        );
    }
}

#[test]
fn an_as_of_beyond_the_data_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    synth(wh, "600");
    // The export ends on 2026-10-31; [quality] as-of-tolerance-days defaults to 3.
    ok("run", wh, &["--as-of", "2026-11-01"]);
    ok("score", wh, &["--as-of", "2026-11-04"]);
    for (command, date) in [
        ("score", "2030-01-01"),
        ("score", "2026-11-05"),
        ("run", "2030-01-01"),
        ("features", "2030-01-01"),
    ] {
        let out = cmd(command, wh, &["--as-of", date]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command} {date}: {stderr}");
        assert!(
            stderr.contains(&format!("as-of {date} is beyond the data"))
                && stderr.contains("2026-10-31")
                && stderr.contains("--allow-as-of-beyond-data"),
            "{stderr}"
        );
    }
    assert!(!wh.join("scores/customer_risk/as_of=2030-01-01").exists());

    ok(
        "score",
        wh,
        &["--as-of", "2030-01-01", "--allow-as-of-beyond-data"],
    );
    let record = newest_run_record(wh);
    let overrides = record["overrides"].as_array().expect("overrides recorded");
    assert_eq!(overrides.len(), 1, "{overrides:?}");
    let note = overrides[0].as_str().unwrap();
    assert!(
        note.contains("2030-01-01") && note.contains("orders 2026-10-31"),
        "{note}"
    );
    let page = std::fs::read_to_string(
        wh.join("runs")
            .join(format!("{}.html", record["run_id"].as_str().unwrap())),
    )
    .unwrap();
    assert!(
        page.contains("override"),
        "the run report shows the override"
    );
}

#[test]
fn a_partition_is_reused_only_while_its_inputs_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    synth(wh, "600");
    ok("run", wh, &["--as-of", "2026-11-01"]);

    let out = ok("score", wh, &["--as-of", "2026-10-25"]);
    assert!(out.contains("features computed"), "{out}");
    let features_before = content_hash(wh, "features/customer/as_of=2026-10-25");

    // The same raw files staged again: the same staged version, so the features stand.
    ok("ingest", wh, &["--as-of", "2026-11-01"]);
    let out = ok("score", wh, &["--as-of", "2026-10-25"]);
    assert!(out.contains("features reused"), "{out}");

    // A late-arriving order before the date: the staged tables change, and the features
    // as of the date are computed again, not reused.
    let orders = wh.join("raw/orders.csv");
    let mut text = std::fs::read_to_string(&orders).unwrap();
    let customer = text
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').nth(1))
        .unwrap()
        .to_owned();
    text.push_str(&format!(
        "LATE-1,{customer},2026-10-20T10:00:00Z,completed,250.00,0,EUR,web,sports,1\n"
    ));
    std::fs::write(&orders, text).unwrap();
    ok("ingest", wh, &["--as-of", "2026-11-01"]);
    let out = ok("score", wh, &["--as-of", "2026-10-25"]);
    assert!(out.contains("features computed"), "{out}");
    assert_ne!(
        features_before,
        content_hash(wh, "features/customer/as_of=2026-10-25"),
        "the late order is in the recomputed features"
    );

    // Features recomputed after the scores of a date: deciding from the two together
    // is refused, naming what to rerun.
    ok("features", wh, &["--as-of", "2026-10-25"]);
    let out = cmd("actions", wh, &["--as-of", "2026-10-25"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("scores/customer_risk/as_of=2026-10-25 was computed from features/customer/as_of=2026-10-25")
            && stderr.contains("retain score --as-of 2026-10-25"),
        "{stderr}"
    );
    ok("score", wh, &["--as-of", "2026-10-25"]);
    ok("actions", wh, &["--as-of", "2026-10-25"]);
}
