//! The single integration-test binary: it runs the real `retain` binary and reads what it
//! publishes with the readers downstream tools use (DuckDB, pyarrow and polars, from the
//! venv that `cargo xtask test` provisions).

mod actions;
mod bad_input;
mod cli;
mod clv;
mod features;
mod kill;
mod lock;
mod pipeline;
mod reasons;
mod report;
mod s3;
mod schedule;
mod time;
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

/// A JSON file the warehouse holds (a manifest, a run record, a model file), parsed.
pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The venv Python that `cargo xtask test` provisions. Tests that read tables as
/// downstream tools do need it and fail (never skip) without it.
pub fn python() -> PathBuf {
    let p = std::env::var_os("RETAIN_TEST_PYTHON").expect(
        "RETAIN_TEST_PYTHON is not set: run the tests with `cargo xtask test`, which creates .venv with DuckDB and pyarrow",
    );
    PathBuf::from(p)
}

/// Run a script of `tests/py/` with the venv Python and parse the JSON it prints.
fn python_json(script: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let out = Command::new(python())
        .arg(path)
        .args(args)
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{script} prints JSON: {e}"))
}

/// Describe published partitions with DuckDB + pyarrow (tests/py/read_tables.py).
pub fn read_tables(warehouse: &Path, partitions: &[&str]) -> serde_json::Value {
    let mut args = vec![warehouse.as_os_str()];
    args.extend(partitions.iter().map(std::ffi::OsStr::new));
    python_json("read_tables.py", &args)
}

/// Open whole tables as downstream tools do (globs, hive partitions) with DuckDB,
/// pyarrow.dataset and polars (tests/py/read_datasets.py); `tables` are table paths such
/// as `scores/customer_risk`.
pub fn read_datasets(warehouse: &Path, tables: &[&str]) -> serde_json::Value {
    let mut args = vec![warehouse.as_os_str()];
    args.extend(tables.iter().map(std::ffi::OsStr::new));
    python_json("read_datasets.py", &args)
}

/// The data file a published partition's `_manifest.json` lists (one per partition).
pub fn published_file(partition_dir: &Path) -> PathBuf {
    let manifest = partition_dir.join("_manifest.json");
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&manifest).unwrap_or_else(|e| panic!("{manifest:?}: {e}")),
    )
    .expect("manifest JSON");
    let files = m["files"].as_array().expect("manifest files");
    assert_eq!(files.len(), 1, "{manifest:?}: one file");
    partition_dir.join(files[0]["path"].as_str().expect("file path"))
}

/// Every table's Delta log lists exactly the files its partitions' manifests list, the
/// Delta reader returns the manifests' rows, and every manifest names a version the log
/// has (tests/py/read_delta.py, delta-rs's Python package).
pub fn assert_delta_agrees_with_manifests(warehouse: &Path, tables: &[&str]) {
    let mut args = vec![warehouse.as_os_str()];
    args.extend(tables.iter().map(std::ffi::OsStr::new));
    let read = python_json("read_delta.py", &args);
    for t in tables {
        let d = &read[*t];
        assert_eq!(
            d["delta_files"], d["manifest_files"],
            "{t}: Delta log vs manifests"
        );
        assert_eq!(
            d["delta_rows"], d["manifest_rows"],
            "{t}: Delta rows vs manifests"
        );
        let newest = d["version"].as_u64().expect("a Delta version");
        for (part, v) in d["manifest_versions"].as_object().expect("versions") {
            let v = v
                .as_u64()
                .unwrap_or_else(|| panic!("{t}/{part}: no table_version"));
            assert!(
                v <= newest,
                "{t}/{part}: table_version {v} > newest {newest}"
            );
        }
    }
}

/// Rows of a DuckDB query (tests/py/query.py), as JSON objects.
pub fn duckdb(sql: &str) -> Vec<serde_json::Value> {
    match python_json("query.py", &[std::ffi::OsStr::new(sql)]) {
        serde_json::Value::Array(rows) => rows,
        other => panic!("query.py prints a list of rows, not {other}"),
    }
}

/// Every file below `dir`, relative to it (none if it does not exist).
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(dir)
                        .expect("below dir")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    out.sort();
    out
}

/// Copy a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}
