//! The single integration-test binary: it runs the real `retain` binary and reads what it
//! publishes with the readers downstream tools use (DuckDB, pyarrow and polars, from the
//! venv that `cargo xtask test` provisions).

mod bad_input;
mod cli;
mod clv;
mod features;
mod pipeline;
mod s3;
mod train;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `retain` binary under test.
pub fn retain() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_retain"));
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// Run and return the output, with stdout/stderr shown on failure.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn retain");
    assert!(
        out.status.success(),
        "{cmd:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The venv Python that `cargo xtask test` provisions. Tests that read tables as
/// downstream tools do need it and fail (never skip) without it.
pub fn python() -> PathBuf {
    let p = std::env::var_os("RETAIN_TEST_PYTHON").expect(
        "RETAIN_TEST_PYTHON is not set: run the tests with `cargo xtask test`, which creates .venv with DuckDB and pyarrow",
    );
    PathBuf::from(p)
}

/// Describe published partitions with DuckDB + pyarrow (tests/py/read_tables.py).
pub fn read_tables(warehouse: &Path, partitions: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/read_tables.py");
    let out = Command::new(python())
        .arg(script)
        .arg(warehouse)
        .args(partitions)
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "read_tables.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("read_tables.py prints JSON")
}

/// Open whole tables as downstream tools do (globs, hive partitions) with DuckDB,
/// pyarrow.dataset and polars (tests/py/read_datasets.py); `tables` are table paths such
/// as `scores/customer_risk`.
pub fn read_datasets(warehouse: &Path, tables: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/read_datasets.py");
    let out = Command::new(python())
        .arg(script)
        .arg(warehouse)
        .args(tables)
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "read_datasets.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("read_datasets.py prints JSON")
}
