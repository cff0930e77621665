//! retain on a real S3-compatible server (SeaweedFS, started by `cargo xtask test` on a
//! free loopback port). These tests fail, never skip, when the server is not there.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::{python, read_tables, retain, run_ok};

/// The server `cargo xtask test` started.
struct S3 {
    endpoint: String,
    bucket: String,
    access_key: String,
    secret_key: String,
    region: String,
}

fn s3() -> S3 {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run the tests with `cargo xtask test`, which starts the S3 server (SeaweedFS)")
        })
    };
    S3 {
        endpoint: var("RETAIN_TEST_S3_ENDPOINT"),
        bucket: var("RETAIN_TEST_S3_BUCKET"),
        access_key: var("RETAIN_TEST_S3_ACCESS_KEY"),
        secret_key: var("RETAIN_TEST_S3_SECRET_KEY"),
        region: var("RETAIN_TEST_S3_REGION"),
    }
}

/// A prefix no other test (or earlier run) uses.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// `retain` with credentials in the environment, as a scheduler would set them. The
/// endpoint is not in the environment: the pipeline files name it through `${…}`.
fn retain_s3(s3: &S3) -> Command {
    let mut cmd = retain();
    cmd.env("AWS_ACCESS_KEY_ID", &s3.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
        .env("AWS_REGION", &s3.region)
        .env("RETAIN_S3_ENDPOINT", &s3.endpoint)
        .env_remove("AWS_ENDPOINT")
        .env_remove("AWS_SESSION_TOKEN");
    cmd
}

/// The demo pipeline with its warehouse and raw exports moved to `warehouse` / `raw`,
/// and an `[storage]` section for the S3 server.
fn pipeline_file(dir: &Path, name: &str, warehouse: &str, raw: &str, storage: &str) -> String {
    let demo =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/demo.toml"))
            .unwrap();
    let text = demo
        .replace(
            "warehouse = \"./warehouse\"",
            &format!("warehouse = \"{warehouse}\""),
        )
        .replace("raw = \"raw/\"", &format!("raw = \"{raw}\""))
        + storage;
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const S3_STORAGE: &str = r#"
[storage]
max-retries = 2
retry-timeout = "10s"
[storage.options]
aws_endpoint = "${RETAIN_S3_ENDPOINT}"
allow_http = "true"
aws_virtual_hosted_style_request = "false"
"#;

/// The same synthetic shop (`synth` arguments up to `--out`) written to `{root}/raw` on
/// S3 and to `local_raw`.
fn synth_on_s3_and_disk(s3: &S3, root: &str, local_raw: &Path, synth: &[&str]) {
    run_ok(
        retain_s3(s3)
            .env("AWS_ENDPOINT", &s3.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .args(synth)
            .arg(format!("{root}/raw")),
    );
    run_ok(retain().args(synth).arg(local_raw));
}

/// Copy an S3 prefix to a local folder with pyarrow's own S3 client; returns the keys.
fn s3_copy(s3: &S3, prefix: &str, dest: &Path) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/s3_copy.py");
    let out = Command::new(python())
        .arg(script)
        .arg(format!("{}/{prefix}", s3.bucket))
        .arg(dest)
        .env("RETAIN_TEST_S3_ENDPOINT", &s3.endpoint)
        .env("RETAIN_TEST_S3_ACCESS_KEY", &s3.access_key)
        .env("RETAIN_TEST_S3_SECRET_KEY", &s3.secret_key)
        .env("RETAIN_TEST_S3_REGION", &s3.region)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "s3_copy.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_demo_pipeline_on_s3_publishes_what_it_publishes_locally() {
    let s3 = s3();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("e2e");
    let root = format!("s3://{}/{prefix}", s3.bucket);

    // The same synthetic shop, on S3 and on disk.
    let synth = [
        "synth",
        "--customers",
        "3000",
        "--seed",
        "7",
        "--dirty",
        "0.02",
        "--out",
    ];
    let local_raw = dir.path().join("raw");
    synth_on_s3_and_disk(&s3, &root, &local_raw, &synth);

    // S3 run, logging everything at debug level to check that no secret leaks.
    let s3_pipeline = pipeline_file(
        dir.path(),
        "s3",
        &format!("{root}/wh"),
        &format!("{root}/raw/"),
        S3_STORAGE,
    );
    let out = run_ok(
        retain_s3(&s3)
            .env("RUST_LOG", "debug")
            .args(["run", &s3_pipeline]),
    );
    let logs = text(&out);
    assert!(logs.contains("staged"), "debug logs were captured:\n{logs}");
    assert!(
        !logs.contains(&s3.secret_key),
        "the secret key appears in the logs"
    );

    let local_wh = dir.path().join("local-wh");
    let local_pipeline = pipeline_file(
        dir.path(),
        "local",
        &local_wh.display().to_string(),
        &format!("{}/", local_raw.display()),
        "",
    );
    run_ok(retain().args(["run", &local_pipeline]));

    // Read back what was written to S3 with an independent client.
    let copied = dir.path().join("s3-wh");
    let keys = s3_copy(&s3, &format!("{prefix}/wh"), &copied);
    assert!(
        keys.iter().all(|k| !k.starts_with("_tmp/")),
        "files left aside on S3: {keys:?}"
    );
    for k in keys.iter().filter(|k| k.ends_with(".json")) {
        let body = std::fs::read_to_string(copied.join(k)).unwrap();
        assert!(!body.contains(&s3.secret_key), "secret in {k}");
    }
    let partitions: Vec<String> = keys
        .iter()
        .filter_map(|k| k.strip_suffix("/_manifest.json"))
        .filter(|p| !p.starts_with("models/"))
        .map(str::to_owned)
        .collect();
    assert!(partitions.len() >= 10, "{partitions:?}");
    let names: Vec<&str> = partitions.iter().map(String::as_str).collect();
    let on_s3 = read_tables(&copied, &names);
    let on_disk = read_tables(&local_wh, &names);
    for p in &names {
        assert_eq!(on_s3[p]["rows"], on_disk[p]["rows"], "{p}: rows");
        assert_eq!(
            on_s3[p]["content_hash"], on_disk[p]["content_hash"],
            "{p}: contents differ between S3 and the local run"
        );
    }
    // Dirty rows were quarantined on S3 too, with their S3 file named.
    let q = &on_s3["quarantine/orders"];
    assert!(q["rows"].as_u64().unwrap() > 0, "{q}");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(copied.join("staged/orders/_manifest.json")).unwrap(),
    )
    .unwrap();
    let files = &manifest["properties"]["accounting"]["files"];
    assert_eq!(
        files[0]["file"],
        format!("{root}/raw/orders.csv"),
        "{manifest}"
    );
    assert!(files[0]["etag"].is_string(), "{manifest}");
}

/// One line on stderr, exit code 1, and the given text in it; never the secret.
fn fails_with(out: &Output, s3: &S3, wanted: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line:\n{err}");
    assert!(err.contains(wanted), "expected `{wanted}` in:\n{err}");
    assert!(!err.contains(&s3.secret_key), "secret in: {err}");
}

fn tiny_pipeline(dir: &Path, warehouse: &str, storage: &str) -> String {
    let path = dir.join("p.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"t\"\nwarehouse = \"{warehouse}\"\nas-of = \"2026-11-01\"\n[sources.orders]\npath = \"orders.csv\"\n[models]\nchurn = \"churn\"\nrepeat_purchase = \"repeat_purchase\"\n{storage}"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn wrong_credentials_are_one_clear_line() {
    let s3 = s3();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = tiny_pipeline(
        dir.path(),
        &format!("s3://{}/{}", s3.bucket, unique("creds")),
        S3_STORAGE,
    );
    let out = retain_s3(&s3)
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret-0123456789")
        .args(["run", &pipeline])
        .output()
        .unwrap();
    fails_with(&out, &s3, "access denied");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("not-the-secret-0123456789"),
        "the wrong secret is echoed"
    );
}

#[test]
fn a_missing_bucket_is_one_clear_line() {
    let s3 = s3();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = tiny_pipeline(dir.path(), "s3://no-such-bucket-retain/wh", S3_STORAGE);
    let out = retain_s3(&s3).args(["run", &pipeline]).output().unwrap();
    fails_with(&out, &s3, "bucket does not exist");
}

#[test]
fn an_unreachable_endpoint_is_one_clear_line_after_bounded_retries() {
    let s3 = s3();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1; two quick retries, then the error.
    let storage = r#"
[storage]
max-retries = 2
retry-timeout = "3s"
connect-timeout = "1s"
[storage.options]
aws_endpoint = "http://127.0.0.1:1"
allow_http = "true"
"#;
    let pipeline = tiny_pipeline(dir.path(), &format!("s3://{}/x", s3.bucket), storage);
    let started = std::time::Instant::now();
    let out = retain_s3(&s3).args(["run", &pipeline]).output().unwrap();
    fails_with(&out, &s3, "cannot reach the storage endpoint");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "retries are bounded by the configured policy"
    );
}

#[test]
fn a_secret_in_the_pipeline_file_is_refused() {
    let s3 = s3();
    let dir = tempfile::tempdir().unwrap();
    let storage = format!(
        "[storage.options]\naws_secret_access_key = \"{}\"\n",
        s3.secret_key
    );
    let pipeline = tiny_pipeline(dir.path(), "s3://x/wh", &storage);
    let out = retain_s3(&s3).args(["run", &pipeline]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // A configuration error: exit 2.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("holds a secret"), "{err}");
    assert!(!err.contains(&s3.secret_key), "secret echoed: {err}");
}

/// Issue 20, finding 1, on the real server: with a lock three hours old and four runs
/// starting together, exactly one takes it over (a PUT with `If-Match` on the ETag
/// read), in each of 25 trials.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_runs_taking_over_a_stale_lock_on_s3_exactly_one_wins() {
    use retain_store::{LOCK, Location, LockInfo, StoreOptions, Warehouse};
    let s3 = s3();
    let options = [
        ("aws_endpoint", s3.endpoint.as_str()),
        ("aws_access_key_id", s3.access_key.as_str()),
        ("aws_secret_access_key", s3.secret_key.as_str()),
        ("aws_region", s3.region.as_str()),
        ("allow_http", "true"),
        ("aws_virtual_hosted_style_request", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let opts = StoreOptions {
        options,
        ..StoreOptions::default()
    };
    let url = format!("s3://{}/{}", s3.bucket, unique("lock"));
    let root = Location::parse_with(&url, std::sync::Arc::new(opts)).unwrap();
    let hour = std::time::Duration::from_secs(3600);
    for trial in 0..25 {
        let mut dead = LockInfo::here("dead", "run", None);
        dead.host = "elsewhere".into();
        dead.acquired_at -= chrono::Duration::hours(3);
        root.put(&root.child(LOCK), serde_json::to_vec(&dead).unwrap())
            .await
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..4 {
            let wh = Warehouse::new(root.clone(), format!("t{trial}-{k}"));
            tasks.spawn(async move {
                let won = wh
                    .lock(&LockInfo::here(&wh.run_id, "run", None), hour)
                    .await;
                (wh, won)
            });
        }
        let mut winners = Vec::new();
        for (wh, won) in tasks.join_all().await {
            match won {
                Ok(()) => winners.push(wh),
                Err(retain_store::Error::Locked { .. }) => {}
                Err(e) => panic!("trial {trial}: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "trial {trial}");
        let held: LockInfo = winners[0].get_json(LOCK).await.unwrap().unwrap();
        assert_eq!(held.run_id, winners[0].run_id, "trial {trial}");
        winners[0].unlock().await.unwrap();
    }
}

/// A fault-injecting proxy (tests/py/faulty_proxy.py) in front of the S3 server; killed
/// when dropped. `requests()` is how many requests it has seen.
struct FaultyProxy {
    child: std::process::Child,
    log: std::path::PathBuf,
    endpoint: String,
}

impl FaultyProxy {
    fn start(s3: &S3, dir: &Path, mode: &str, n: usize, stall: &str) -> Self {
        use std::io::BufRead;
        let log = dir.join(format!("proxy-{mode}-{n}.log"));
        let mut child = Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/faulty_proxy.py"))
            .args([s3.endpoint.as_str(), mode, &n.to_string(), stall])
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{}", port.trim());
        FaultyProxy {
            child,
            log,
            endpoint,
        }
    }

    /// Requests seen, and how many of them got each injected fault (`503`, `500`,
    /// `reset`, `stall`, `truncated`).
    fn requests(&self) -> (usize, BTreeMap<String, usize>) {
        let log = std::fs::read_to_string(&self.log).unwrap();
        // One numbered line per request (a client closing a kept-alive connection can
        // add a traceback of the standard library's server between them).
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.split(' ')
                    .next()
                    .is_some_and(|n| n.parse::<usize>().is_ok())
            })
            .collect();
        let mut faults = BTreeMap::new();
        for l in &lines {
            let said = l.rsplit(' ').next().unwrap_or_default();
            if said != "forwarded" {
                *faults.entry(said.to_string()).or_insert(0) += 1;
            }
        }
        (lines.len(), faults)
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 20: object storage that misbehaves or goes away. Behind a proxy that answers
/// every 7th request with a fault (once: its retry goes through), taking turns: `503
/// SlowDown`, a connection reset, a stall past the client's 2 s timeout, a GET body cut
/// in half), a run retries and publishes what a run on a healthy store publishes. Behind
/// one that fails every request after half a run, the run fails with one line naming the
/// request and the server's answer, and the next run on the healthy store repairs the
/// warehouse: the same tables, Delta logs that agree with the manifests, nothing left
/// aside.
#[test]
fn storage_that_throttles_or_fails_never_publishes_a_mixed_warehouse() {
    let s3 = s3();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("faults");
    let root = format!("s3://{}/{prefix}", s3.bucket);
    let synth = ["synth", "--customers", "300", "--seed", "9", "--out"];
    let local_raw = dir.path().join("raw");
    synth_on_s3_and_disk(&s3, &root, &local_raw, &synth);
    let local_wh = dir.path().join("local-wh");
    let local = pipeline_file(
        dir.path(),
        "local",
        &local_wh.display().to_string(),
        &format!("{}/", local_raw.display()),
        "",
    );
    run_ok(retain().args(["run", &local]));

    let through = |name: &str, wh: &str, endpoint: &str, extra: &str| {
        let storage = S3_STORAGE.replace("${RETAIN_S3_ENDPOINT}", endpoint);
        let storage = storage.replace("[storage]\n", &format!("[storage]\n{extra}"));
        pipeline_file(
            dir.path(),
            name,
            &format!("{root}/{wh}"),
            &format!("{root}/raw/"),
            &storage,
        )
    };
    // The warehouse on S3 is what the local run published, and whole.
    let check = |wh: &str| {
        let copied = dir.path().join(wh);
        let keys = s3_copy(&s3, &format!("{prefix}/{wh}"), &copied);
        assert!(
            keys.iter().all(|k| !k.starts_with("_tmp/")),
            "{wh}: left aside: {keys:?}"
        );
        let partitions: Vec<&str> = keys
            .iter()
            .filter_map(|k| k.strip_suffix("/_manifest.json"))
            .filter(|p| !p.starts_with("models/"))
            .collect();
        let on_s3 = read_tables(&copied, &partitions);
        let on_disk = read_tables(&local_wh, &partitions);
        for p in &partitions {
            assert_eq!(
                on_s3[p]["content_hash"], on_disk[p]["content_hash"],
                "{wh}: {p} differs from the run on a healthy local disk"
            );
        }
        let mut tables: Vec<&str> = partitions
            .iter()
            .map(|p| {
                p.split("/as_of=")
                    .next()
                    .unwrap()
                    .split("/run_as_of=")
                    .next()
                    .unwrap()
            })
            .collect();
        tables.dedup();
        assert!(tables.len() >= 14, "{tables:?}");
        crate::assert_delta_agrees_with_manifests(&copied, &tables);
    };

    // Faults of every kind: retried, and the run publishes what a healthy one does.
    let chaos = FaultyProxy::start(&s3, dir.path(), "chaos", 7, "4");
    run_ok(retain_s3(&s3).args([
        "run",
        &through("chaos", "wh-chaos", &chaos.endpoint, "timeout = \"2s\"\n"),
    ]));
    let (requests, faults) = chaos.requests();
    let injected: usize = faults.values().sum();
    for kind in ["503", "reset", "stall", "truncated"] {
        assert!(
            faults.get(kind).is_some_and(|&n| n >= 3),
            "{kind}: {faults:?} of {requests}"
        );
    }
    assert!(injected <= requests / 7, "{faults:?} of {requests}");
    drop(chaos);
    check("wh-chaos");

    // An outage half way through: one line, exit 1, then the next run repairs.
    let outage = FaultyProxy::start(&s3, dir.path(), "outage", (requests - injected) / 2, "0");
    let out = retain_s3(&s3)
        .args(["run", &through("outage", "wh-outage", &outage.endpoint, "")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ")
            && last.matches("the storage server answered").count() == 1
            && last.contains(" with 500 Internal Server Error")
            && last.contains("after 2 retries")
            && last.len() < 600,
        "{err}"
    );
    drop(outage);
    run_ok(retain_s3(&s3).args(["run", &through("repair", "wh-outage", &s3.endpoint, "")]));
    check("wh-outage");
}
