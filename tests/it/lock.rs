//! The warehouse write lock: one writing run at a time, a stale lock taken over, the
//! lock released when a run ends.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{retain, run_ok};

fn synth(raw: &Path, customers: &str) {
    run_ok(
        retain()
            .args(["synth", "--customers", customers, "--out"])
            .arg(raw),
    );
}

fn lock_json(run_id: &str, hours_ago: i64) -> String {
    let at = chrono::Utc::now() - chrono::Duration::hours(hours_ago);
    format!(
        r#"{{"run_id":"{run_id}","command":"run","as_of":"2026-11-01","host":"elsewhere","pid":4242,"acquired_at":"{}"}}"#,
        at.to_rfc3339()
    )
}

#[test]
fn a_second_run_is_refused_while_the_first_holds_the_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    synth(&wh.join("raw"), "5000");
    let lock = wh.join("_lock.json");

    // A run in progress elsewhere: refused, in one line that names it.
    std::fs::write(&lock, lock_json("held-1", 0)).unwrap();
    let out = retain()
        .args(["ingest", "pipelines/demo.toml", "--out"])
        .arg(wh)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("in use by run held-1 (run, as of 2026-11-01, on elsewhere pid 4242")
            && stderr.contains("_lock.json"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!wh.join("staged").exists(), "nothing was written");

    // Three hours old (the default stale-after is 2h): taken over, and released at the end.
    std::fs::write(&lock, lock_json("crashed-1", 3)).unwrap();
    let out = run_ok(
        retain()
            .env("RUST_LOG", "warn")
            .args(["ingest", "pipelines/demo.toml", "--out"])
            .arg(wh),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("took over the warehouse lock")
            && stderr.contains("crashed-1")
            && stderr.contains("last refreshed 108"),
        "{stderr}"
    );
    assert!(!lock.exists(), "the run released its lock");

    // Two real runs at once: the second is refused while the first holds the lock.
    let mut first = retain()
        .args(["ingest", "pipelines/demo.toml", "--out"])
        .arg(wh)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !lock.exists() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let holder: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    let second = retain()
        .args(["ingest", "pipelines/demo.toml", "--out"])
        .arg(wh)
        .output()
        .unwrap();
    let first_ok = first.wait().unwrap().success();
    assert!(first_ok, "the first run finishes");
    assert_eq!(second.status.code(), Some(1), "the second run is refused");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!(
            "in use by run {}",
            holder["run_id"].as_str().unwrap()
        )),
        "{stderr}"
    );
    assert!(!lock.exists(), "released after the first run");

    // The history: the two ingests that ran (refused runs never started), then a failed
    // score (no champion), newest first.
    let failed = retain()
        .args(["score", "--as-of", "2026-11-01", "--out"])
        .arg(wh)
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let out = run_ok(retain().args(["runs", "--out"]).arg(wh));
    let listing = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = listing.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{listing}");
    assert!(
        rows[0].contains(" score ") && rows[0].contains(" failed "),
        "{listing}"
    );
    for r in &rows[1..] {
        assert!(
            r.contains(" ingest ") && r.contains(" succeeded "),
            "{listing}"
        );
        let w: Vec<&str> = r.split_whitespace().collect();
        let (read, staged): (u64, u64) = (w[5].parse().unwrap(), w[6].parse().unwrap());
        assert!(
            read > 5000 && read == staged,
            "clean data, all staged: {listing}"
        );
    }
    let id = rows[0].split_whitespace().next().unwrap();
    let out = run_ok(
        retain()
            .args(["runs", "show", id, "--json", "--out"])
            .arg(wh),
    );
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["format"], "retain.run/1");
    assert_eq!(record["status"], "failed");
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("model `churn` has no champion"),
        "{record}"
    );
    let ingest_id = rows[1].split_whitespace().next().unwrap();
    let out = run_ok(retain().args(["runs", "show", ingest_id, "--out"]).arg(wh));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("ingest:")
            && shown.contains("tables published:")
            && shown.contains("staged/orders"),
        "{shown}"
    );
    let out = retain()
        .args(["runs", "show", "no-such-run", "--out"])
        .arg(wh)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run `no-such-run`"));
}

/// Issue 20's finding 4: SIGTERM and Ctrl-C left `_lock.json` and no run record, so every
/// retry was refused for two hours. Now the run stops, says so in its record, releases
/// the lock and exits with 128 + the signal's number; a retry runs at once.
#[test]
fn a_stopped_run_releases_its_lock_and_records_why() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    synth(&wh.join("raw"), "20000");
    let lock = wh.join("_lock.json");
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let child = retain()
            .args(["run", "pipelines/demo.toml", "--out"])
            .arg(wh)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Signalled once it holds the lock, in the middle of its ingest.
        let started = Instant::now();
        while !lock.exists() && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(lock.exists(), "the run took the lock");
        std::thread::sleep(Duration::from_millis(300));
        let sent = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "stopped by SIG{signal}: nothing more was published"
            )),
            "{stderr}"
        );
        assert!(!lock.exists(), "SIG{signal}: the lock is released");
        assert!(!wh.join("staged/orders/_manifest.json").exists() || signal == "INT");
        let records: Vec<serde_json::Value> = std::fs::read_dir(wh.join("runs"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| crate::json(&p))
            .filter(|r| {
                r["error"]
                    .as_str()
                    .is_some_and(|e| e.contains(&format!("stopped by SIG{signal}")))
            })
            .collect();
        assert_eq!(records.len(), 1, "one failed record for SIG{signal}");
        assert_eq!(records[0]["status"], "failed");
    }
    // A retry is not refused: the ingest alone runs at once.
    run_ok(
        retain()
            .args(["ingest", "pipelines/demo.toml", "--out"])
            .arg(wh),
    );
}

/// Issue 20, finding 10: `demo` and `synth` write `raw/` under the warehouse lock, so a
/// shop is never written while another run reads or writes it (two demos at once
/// published orders from one shop and tickets from the other).
#[test]
fn synth_and_demo_wait_for_the_warehouse_lock() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    std::fs::write(wh.join("_lock.json"), lock_json("held-1", 0)).unwrap();
    let demo = retain()
        .args(["demo", "--customers", "300", "--out"])
        .arg(wh)
        .output()
        .unwrap();
    let synth_raw = retain()
        .args(["synth", "--customers", "300", "--out"])
        .arg(wh.join("raw"))
        .output()
        .unwrap();
    for out in [demo, synth_raw] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("in use by run held-1"), "{stderr}");
    }
    assert!(
        !wh.join("raw").exists(),
        "nothing written under a held lock"
    );

    // Free, synth takes and releases it; a folder not named raw has no warehouse.
    std::fs::remove_file(wh.join("_lock.json")).unwrap();
    synth(&wh.join("raw"), "300");
    assert!(wh.join("raw/orders.csv").exists() && !wh.join("_lock.json").exists());
    synth(&wh.join("elsewhere"), "300");
}
