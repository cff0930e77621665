//! The time rules (docs/storage.md, "Time"): staged tables do not depend on the as-of date
//! of the command that ingested them, an as-of date beyond the data is refused unless the
//! user allows it, and a published partition is reused only while what it was computed
//! from is unchanged. Each test is a reproduction from issue 19.

use std::path::Path;
use std::process::Output;

use crate::{json, read_tables, retain, run_ok};

fn synth(wh: &Path, customers: &str) {
    run_ok(
        retain()
            .args(["synth", "--customers", customers, "--out"])
            .arg(wh.join("raw")),
    );
}

/// `retain COMMAND pipelines/demo.toml --out WH ARGS...` (`score`, `actions` and
/// `train` take the pipeline as `--pipeline`).
fn command(command: &str, wh: &Path, args: &[&str]) -> std::process::Command {
    let mut c = retain();
    c.arg(command);
    if matches!(command, "score" | "actions" | "train") {
        c.arg("--pipeline");
    }
    c.arg("pipelines/demo.toml").arg("--out").arg(wh).args(args);
    c
}

fn cmd(name: &str, wh: &Path, args: &[&str]) -> Output {
    command(name, wh, args).output().unwrap()
}

/// Run it, fail the test with its output unless it succeeds, and return its stdout.
fn ok(name: &str, wh: &Path, args: &[&str]) -> String {
    String::from_utf8_lossy(&run_ok(&mut command(name, wh, args)).stdout).into_owned()
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
                // The folder, not the file name: names carry the run id.
                let folder = p.parent().unwrap().strip_prefix(dir).unwrap();
                out.push((folder.display().to_string(), std::fs::read(&p).unwrap()));
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

/// The one run record that `pick` selects (run ids of one second sort by their salt, not
/// by time, so "the newest" is not a file-name order).
fn run_record(wh: &Path, pick: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let records: Vec<serde_json::Value> = std::fs::read_dir(wh.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| json(&p))
        .filter(|r| pick(r))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    records.into_iter().next().unwrap()
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
    let record = run_record(&early, |r| r["command"] == "ingest");
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
    // Today's champions (trained as of 2026-11-01) on an earlier date: asked for explicitly.
    for wh in [&used, &fresh] {
        let out = ok(
            "score",
            wh,
            &["--as-of", "2026-10-18", "--champion", "latest"],
        );
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
    let record = run_record(wh, |r| {
        r["as_of"] == "2030-01-01" && r["status"] == "succeeded"
    });
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

    let latest = ["--as-of", "2026-10-25", "--champion", "latest"];
    let out = ok("score", wh, &latest);
    assert!(out.contains("features computed"), "{out}");
    let features_before = content_hash(wh, "features/customer/as_of=2026-10-25");

    // The same raw files staged again: the same staged version, so the features stand.
    ok("ingest", wh, &["--as-of", "2026-11-01"]);
    let out = ok("score", wh, &latest);
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
    let out = ok("score", wh, &latest);
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
    ok("score", wh, &latest);
    ok("actions", wh, &["--as-of", "2026-10-25"]);
}

fn champion(wh: &Path, model: &str) -> serde_json::Value {
    json(&wh.join(format!("models/{model}/champion")))
}

/// `retain train SPEC --as-of AS_OF --promote-if-better`, which must succeed: its stdout.
fn train_if_better(wh: &Path, spec: &str, as_of: &str) -> String {
    ok(
        "train",
        wh,
        &[spec, "--as-of", as_of, "--promote-if-better"],
    )
}

fn scored_with(wh: &Path, as_of: &str) -> serde_json::Value {
    json(&wh.join(format!("scores/customer_risk/as_of={as_of}/_manifest.json")))["properties"]
        ["models"]
        .clone()
}

/// Issue 19's champion leak: a champion trained as of a later date never judges a
/// challenger on an earlier validation snapshot, and never scores an earlier date unless
/// asked; a tie keeps the champion.
#[test]
fn a_champion_trained_later_never_judges_or_scores_an_earlier_date() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    synth(wh, "800");
    ok("run", wh, &["--as-of", "2026-11-01"]);
    assert_eq!(champion(wh, "churn")["version"], "v0001");

    // The same spec trained again on the same data: the same AUC, a tie, no promotion.
    let out = train_if_better(wh, "models/churn.toml", "2026-11-01");
    assert!(out.contains("not better beyond noise"), "{out}");
    assert!(out.contains("DeLong"), "{out}");
    assert_eq!(champion(wh, "churn")["version"], "v0001");

    // A backtest as of 2026-05-01: its versions are compared with the champion in force
    // then (none), not with today's, which was trained on the backtest's validation
    // period. They are in force from 2026-05-01 and score that date; today's champion
    // stays.
    let out = ok(
        "run",
        wh,
        &["--as-of", "2026-05-01", "--stages", "train,score"],
    );
    assert!(
        out.contains("in force from 2026-05-01") && out.contains("today's champion v0001"),
        "{out}"
    );
    let pointer = champion(wh, "churn");
    assert_eq!(pointer["version"], "v0001", "{pointer}");
    let history: Vec<(String, String)> = pointer["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["version"].as_str().unwrap().to_owned(),
                p["as_of"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        history,
        vec![
            ("v0001".to_owned(), "2026-11-01".to_owned()),
            ("v0003".to_owned(), "2026-05-01".to_owned()),
        ]
    );
    assert_eq!(scored_with(wh, "2026-05-01")["churn"], "v0003");

    // A later date scores with today's champion; an earlier one has none in force.
    ok("score", wh, &["--as-of", "2026-11-01"]);
    assert_eq!(scored_with(wh, "2026-11-01")["churn"], "v0001");
    let out = cmd("score", wh, &["--as-of", "2026-04-01"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no champion of model `churn` was in force on 2026-04-01")
            && stderr.contains("--champion latest"),
        "{stderr}"
    );
    // Today's champion on that date, asked for, and said so in the run record.
    ok(
        "score",
        wh,
        &["--as-of", "2026-04-01", "--champion", "latest"],
    );
    assert_eq!(scored_with(wh, "2026-04-01")["churn"], "v0001");
    let record = run_record(wh, |r| {
        r["as_of"] == "2026-04-01" && r["status"] == "succeeded"
    });
    let overrides: Vec<&str> = record["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert!(
        overrides
            .iter()
            .any(|o| o.contains("today's champion of churn (v0001, trained as of 2026-11-01")),
        "{overrides:?}"
    );
}

/// When today's champion was trained after a challenger's date, its training window
/// covers the challenger's validation snapshot: the comparison refits the champion's
/// spec on the challenger's window (specs, not artifacts), and an honest challenger that
/// is better wins there and against the artifact.
#[test]
fn a_champion_that_saw_the_validation_period_is_compared_by_its_spec_refitted() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    synth(wh, "800");
    // A weak champion: the shipped churn spec on one uninformative input.
    let shipped = std::fs::read_to_string("models/churn.toml").unwrap();
    let (head, rest) = shipped.split_once("features = [").unwrap();
    let (_, tail) = rest.split_once("\n]\n").unwrap();
    let weak = wh.join("churn_weak.toml");
    std::fs::write(&weak, format!("{head}features = [\"age_years\"]\n{tail}")).unwrap();
    let weak = weak.to_str().unwrap();
    ok("train", wh, &[weak, "--as-of", "2026-11-01", "--promote"]);
    assert_eq!(champion(wh, "churn")["version"], "v0001");

    // The shipped spec as of 2026-08-01: v0001 was trained on outcomes up to
    // 2026-11-01, so it is refitted on the challenger's window, loses clearly, and the
    // challenger is in force from its date (no version was before); today's stays.
    let out = train_if_better(wh, "models/churn.toml", "2026-08-01");
    assert!(
        out.contains("vs champion v0001's spec refitted on this window")
            && out.contains("in force from 2026-08-01"),
        "{out}"
    );
    assert_eq!(champion(wh, "churn")["version"], "v0001");
    // The weak spec again, on that window: the refit of the champion's spec is the very
    // same model, so the difference is exactly 0, a tie, and nothing is recorded.
    let out = train_if_better(wh, weak, "2026-08-01");
    assert!(
        out.contains("vs champion v0001's spec refitted on this window")
            && out.contains("difference +0.0000")
            && out.contains("not better beyond noise"),
        "{out}"
    );
    let history = champion(wh, "churn")["history"].as_array().unwrap().len();
    assert_eq!(history, 2);

    // As of 2026-11-01 today's champion never saw the validation period: artifact
    // against artifact, and the better challenger becomes the champion.
    let out = train_if_better(wh, "models/churn.toml", "2026-11-01");
    assert!(
        out.contains("vs champion v0001 ") && out.contains("promoted to champion"),
        "{out}"
    );
    assert_eq!(champion(wh, "churn")["version"], "v0004");
}

/// Issue 19's finding 4: the churn model trains on customers with a completed order in
/// the last 180 days; before, it scored everyone with an order, and 79% of the demo's
/// `high` tier were lapsed customers it never saw. Now no customer outside its
/// population gets a probability, a value at risk or reasons.
#[test]
fn scores_stay_inside_the_population_the_model_was_trained_on() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    synth(wh, "800");
    ok("run", wh, &["--as-of", "2026-11-01"]);
    let risk = format!(
        "read_parquet('{}/scores/customer_risk/as_of=2026-11-01/*.parquet')",
        wh.display()
    );
    let features = format!(
        "read_parquet('{}/features/customer/as_of=2026-11-01/*.parquet')",
        wh.display()
    );
    let rows = crate::duckdb(&format!(
        "SELECT r.score_status, r.risk_tier, \
                count(*) AS n, \
                count(r.churn_probability) AS with_probability, \
                sum(r.value_at_risk) AS value_at_risk, \
                sum(len(r.top_reasons)) AS reasons, \
                min(f.recency_days) AS min_recency, max(f.recency_days) AS max_recency \
         FROM {risk} r JOIN {features} f USING (customer_id) \
         GROUP BY ALL ORDER BY ALL"
    ));
    let mut seen = std::collections::BTreeSet::new();
    for r in &rows {
        let status = r["score_status"].as_str().unwrap();
        let tier = r["risk_tier"].as_str().unwrap();
        seen.insert(status.to_owned());
        let n = r["n"].as_u64().unwrap();
        match status {
            "scored" => {
                assert!(["high", "medium", "low"].contains(&tier), "{r}");
                assert_eq!(r["with_probability"].as_u64(), Some(n), "{r}");
                // The population: a completed order in the last 180 days.
                assert!(r["max_recency"].as_f64().unwrap() <= 180.0, "{r}");
            }
            "outside_population" => {
                assert!(["lapsed", "unscored"].contains(&tier), "{r}");
                assert_eq!(r["with_probability"].as_u64(), Some(0), "{r}");
                assert_eq!(r["value_at_risk"].as_f64(), Some(0.0), "{r}");
                assert_eq!(r["reasons"].as_u64(), Some(0), "{r}");
                assert!(r["min_recency"].as_f64().unwrap() > 180.0, "{r}");
            }
            "prospect" => assert_eq!(tier, "unscored", "{r}"),
            other => panic!("unknown score_status {other}: {r}"),
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["outside_population", "prospect", "scored"],
        "{rows:?}"
    );
}

/// A copy of a warehouse folder, file times kept (`cp -a`), so its raw files keep their
/// ETags and its staged tables their versions.
fn copy_warehouse(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success(), "cp -a {from:?} {to:?}");
}

/// The published partitions of the date-partitioned tables, as `table/as_of=D`.
fn dated_partitions(wh: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["features/customer", "scores/customer_risk"] {
        let Ok(entries) = std::fs::read_dir(wh.join(table)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("as_of=") && e.path().join("_manifest.json").exists() {
                out.push(format!("{table}/{name}"));
            }
        }
    }
    out.sort();
    out
}

const DATES: [&str; 4] = ["2026-06-01", "2026-08-15", "2026-10-01", "2026-11-01"];

/// One command of a random sequence: which, and as of which of [`DATES`].
#[derive(Debug, Clone, Copy)]
enum Step {
    Ingest(usize),
    Features(usize),
    Score(usize),
    /// A backfill of ingest + features, weekly over two weeks from the date.
    Backfill(usize),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    (0..4usize, 0..DATES.len()).prop_map(|(kind, d)| match kind {
        0 => Step::Ingest(d),
        1 => Step::Features(d),
        2 => Step::Score(d),
        _ => Step::Backfill(d),
    })
}

fn apply(wh: &Path, step: Step) {
    match step {
        Step::Ingest(d) => {
            ok("ingest", wh, &["--as-of", DATES[d]]);
        }
        Step::Features(d) => {
            ok("features", wh, &["--as-of", DATES[d]]);
        }
        Step::Score(d) => {
            ok("score", wh, &["--as-of", DATES[d], "--champion", "latest"]);
        }
        Step::Backfill(d) => {
            let from = chrono::NaiveDate::parse_from_str(DATES[d], "%Y-%m-%d").unwrap();
            let to = (from + chrono::TimeDelta::days(14)).min(
                chrono::NaiveDate::parse_from_str(DATES[DATES.len() - 1], "%Y-%m-%d").unwrap(),
            );
            let (from, to) = (from.to_string(), to.to_string());
            let out = cmd(
                "run",
                wh,
                &[
                    "--from",
                    &from,
                    "--to",
                    &to,
                    "--every",
                    "week",
                    "--stages",
                    "ingest,features",
                ],
            );
            // 4: every date published and current.
            assert!(
                matches!(out.status.code(), Some(0 | 4)),
                "backfill {from}..{to}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Issue 19's property: whatever commands ran before, in whatever order and as of
/// whatever dates, every feature and score partition as of D holds what a fresh copy of
/// the warehouse (same raw files, same models) publishes for D. Training is left out of
/// the sequences: it changes the models, which the property holds fixed.
#[test]
fn any_sequence_of_commands_publishes_what_a_fresh_warehouse_would() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template");
    synth(&template, "400");
    ok("run", &template, &["--as-of", "2026-11-01"]);

    // Few cases: each is a handful of real commands; failures print the sequence.
    let mut runner = TestRunner::new(Config {
        cases: 3,
        max_shrink_iters: 0,
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..Config::default()
    });
    let case = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&proptest::collection::vec(step(), 2..5), |steps| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let wh = dir.path().join(format!("case{n}"));
            copy_warehouse(&template, &wh);
            for s in &steps {
                apply(&wh, *s);
            }
            let partitions = dated_partitions(&wh);
            let mut dates: Vec<&str> = partitions
                .iter()
                .filter_map(|p| p.rsplit("as_of=").next())
                .collect();
            dates.sort();
            dates.dedup();
            for d in dates {
                let fresh = dir.path().join(format!("case{n}-fresh-{d}"));
                copy_warehouse(&template, &fresh);
                ok("score", &fresh, &["--as-of", d, "--champion", "latest"]);
                for p in partitions
                    .iter()
                    .filter(|p| p.ends_with(&format!("as_of={d}")))
                {
                    prop_assert_eq!(
                        content_hash(&wh, p),
                        content_hash(&fresh, p),
                        "{} after {:?}",
                        p,
                        steps
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}
