//! The kill harness (issue 20, docs/reliability.md): `retain run` is killed with SIGKILL
//! at seeded points from its start to its end (ingest, features, training, scoring,
//! actions, the commits between them), and the next run must, without anyone touching
//! the warehouse, take the dead run's lock over at once (its process is gone), complete
//! or clean up what it left, exit 0 and publish what an uninterrupted run publishes.
//!
//! A run of the demo pipeline takes about 30 s in a debug build whatever the shop's size
//! (11 feature dates, two model fits), and each point costs a killed run and a whole
//! one: CI runs `RETAIN_KILL_POINTS` = 3 points (the default), `just reliability` 20.

use std::path::Path;
use std::time::Instant;

use crate::{
    assert_delta_agrees_with_manifests, copy_dir, duckdb, files_below, read_tables, retain, run_ok,
};

const AS_OF: &str = "2026-11-01";

fn run(wh: &Path) -> std::process::Command {
    let mut c = retain();
    c.args(["run", "pipelines/demo.toml", "--out"]).arg(wh);
    c
}

/// What a run published that does not depend on which run published it: staged tables
/// and features by content (run ids left out), scores and actions by content without
/// run ids and model version labels (a killed run may have registered a version the
/// rerun then numbers one higher, with the same fitted model).
/// Every table a run publishes.
const TABLES: [&str; 14] = [
    "staged/customers",
    "staged/orders",
    "staged/support_tickets",
    "staged/engagement_events",
    "staged/contacts",
    "quarantine/customers",
    "quarantine/orders",
    "quarantine/support_tickets",
    "quarantine/engagement_events",
    "quarantine/contacts",
    "features/customer",
    "training/churn",
    "scores/customer_risk",
    "scores/next_best_action",
];

fn published(wh: &Path) -> Vec<String> {
    let staged = [
        "staged/customers",
        "staged/orders",
        "staged/support_tickets",
        "staged/engagement_events",
        "staged/contacts",
        "features/customer/as_of=2026-11-01",
    ];
    let described = read_tables(wh, &staged);
    let mut out: Vec<String> = staged
        .iter()
        .map(|t| format!("{t} {}", described[*t]["content_hash"]))
        .collect();
    for t in ["scores/customer_risk", "scores/next_best_action"] {
        let dir = wh.join(format!("{t}/as_of={AS_OF}"));
        let rows = duckdb(&format!(
            "SELECT count(*) AS n, sum(hash(*COLUMNS(lambda c: c <> 'run_id' AND c NOT LIKE '%model_version%'))::HUGEINT)::VARCHAR AS h \
             FROM read_parquet('{}/*.parquet')",
            dir.display()
        ));
        out.push(format!("{t} {} {}", rows[0]["n"], rows[0]["h"]));
    }
    out
}

#[test]
fn a_run_killed_anywhere_is_repaired_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    run_ok(
        retain()
            .args(["synth", "--customers", "1500", "--seed", "5", "--out"])
            .arg(shop.join("raw")),
    );

    let reference = dir.path().join("reference");
    copy_dir(&shop, &reference);
    let started = Instant::now();
    run_ok(&mut run(&reference));
    let whole = started.elapsed();
    let want = published(&reference);

    // Kill points spread over the first 90% of the reference run's length (later runs
    // can be faster: at 20 points over the whole length the last two landed after the
    // run ended), each moved by a seeded fraction of its slot (a small LCG).
    let points: u32 = std::env::var("RETAIN_KILL_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut seed: u64 = 20;
    let mut killed_during = Vec::new();
    for k in 0..points {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let jitter = (seed >> 33) as f64 / (1u64 << 31) as f64;
        let at = whole.mul_f64(0.9 * (f64::from(k) + jitter) / f64::from(points));
        let wh = dir.path().join(format!("killed-{k}"));
        copy_dir(&shop, &wh);
        let mut child = run(&wh)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();
        if !finished {
            killed_during.push(k);
        }

        let out = run_ok(&mut run(&wh));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !wh.join("_lock.json").exists(),
            "kill {k} at {at:?}: the lock is released"
        );
        assert_eq!(
            published(&wh),
            want,
            "kill {k} at {at:?}: the next run publishes what an uninterrupted run does\n{stderr}"
        );
        let left = files_below(&wh.join("_tmp"));
        assert!(left.is_empty(), "kill {k}: left under _tmp: {left:?}");
        assert_delta_agrees_with_manifests(&wh, &TABLES);
        std::fs::remove_dir_all(&wh).unwrap();
    }
    // The points fall inside the run (a late one may land after a faster run ended).
    assert!(
        4 * killed_during.len() >= 3 * points as usize,
        "killed during the run at {killed_during:?} of {points} (the run takes {whole:?})"
    );
}
