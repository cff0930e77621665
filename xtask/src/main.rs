//! `cargo xtask test`: provision what the tests need, then run them.
//!
//! The xtask pattern keeps the test command to one `cargo` invocation on a fresh machine:
//! - a project-local Python virtualenv (`.venv/`) with the readers downstream tools use
//!   (DuckDB, pyarrow, polars) and SeaweedFS's `weed` binary, pinned in `tests/py/requirements.txt`,
//!   reinstalled only when that file changes;
//! - a throwaway S3-compatible server (`weed mini`, see `s3.rs`) on loopback ports picked
//!   free, with bucket `retain-test` and a test identity, stopped and deleted afterwards
//!   whatever the result;
//! - the CDNOW data set (see `cdnow.rs`), unpacked from the `lifetimes` wheel into
//!   `target/cdnow/` and checked against its sha256s, for the lifetime-value model tests;
//! - headless Chromium for the reports' browser checks (`retain_test::browser`; see
//!   `chromium`): Debian's `chromium` package, installed with apt-get when
//!   `/usr/bin/chromium` is missing;
//! - then the whole workspace's tests, with `RETAIN_TEST_PYTHON` pointing at the venv,
//!   `RETAIN_TEST_CDNOW` at the CDNOW folder, `RETAIN_TEST_CHROMIUM` at Chromium and
//!   `RETAIN_TEST_S3_{ENDPOINT,BUCKET,ACCESS_KEY,SECRET_KEY,REGION}` at the server.
//!
//! `cargo xtask test -- <args>` passes `<args>` to the test runner (a filter, say).
//! `cargo xtask s3 -- <command> <args>` runs one command (`cargo nextest run -p <crate>`, say)
//! with the same environment; `cargo xtask s3` alone prints it as `export` lines and serves
//! until Enter or end of input. `cargo xtask venv` only provisions the virtualenv;
//! `cargo xtask cdnow` only provisions the CDNOW files and prints the `export` line.

mod cdnow;
mod s3;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::s3::S3Server;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("xtask: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask lives in <repo>/xtask")?
        .to_path_buf();
    match args.first().map(String::as_str) {
        Some("test") => test(&root, &args[1..]),
        Some("s3") => s3(&root, &args[1..]),
        Some("venv") => venv(&root).map(|_| ExitCode::SUCCESS),
        Some("cdnow") => cdnow_only(&root),
        _ => {
            say("usage: cargo xtask test [-- <test runner args>] \
                 | cargo xtask s3 [-- <command> <args>] | cargo xtask venv | cargo xtask cdnow");
            Ok(ExitCode::from(2))
        }
    }
}

#[allow(clippy::print_stderr)]
fn say(msg: &str) {
    eprintln!("xtask: {msg}");
}

/// `cargo`, without the environment `cargo run` gave this process (the package's
/// CARGO_* variables, the toolchain pin, a LD_LIBRARY_PATH into target/): with them the
/// nested build differs from a plain `cargo nextest run` and each switch between the two
/// rebuilt DataFusion (about 6 minutes on 2 cores).
fn cargo() -> Command {
    let mut cmd = Command::new("cargo");
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let from_cargo_run = key == "CARGO"
            || key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || key.starts_with("RUSTUP_TOOLCHAIN")
            || key == "RUST_RECURSION_COUNT";
        if from_cargo_run {
            cmd.env_remove(key);
        }
    }
    // `cargo run` prepends target/debug, target/debug/deps and the toolchain's lib dirs;
    // keep whatever the caller had beyond those.
    if let Some(path) = std::env::var_os("LD_LIBRARY_PATH") {
        let kept: Vec<_> = std::env::split_paths(&path)
            .filter(|p| {
                let s = p.to_string_lossy();
                !(s.ends_with("/debug") || s.ends_with("/debug/deps") || s.contains("/toolchains/"))
            })
            .collect();
        if kept.is_empty() {
            cmd.env_remove("LD_LIBRARY_PATH");
        } else if let Ok(joined) = std::env::join_paths(kept) {
            cmd.env("LD_LIBRARY_PATH", joined);
        }
    }
    cmd
}

fn status(cmd: &mut Command) -> Result<bool> {
    let shown = format!("{cmd:?}");
    let st = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    Ok(st.success())
}

/// Create `.venv` and install the pinned test requirements when they changed.
fn venv(root: &Path) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    let req = root.join("tests/py/requirements.txt");
    let wanted =
        std::fs::read_to_string(&req).with_context(|| format!("reading {}", req.display()))?;
    let stamp = venv.join(".retain-requirements");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    say("creating the test virtualenv .venv (DuckDB, pyarrow, polars, SeaweedFS)");
    let sys_python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    if !python.exists() && !status(Command::new(&sys_python).args(["-m", "venv"]).arg(&venv))? {
        bail!("`{sys_python} -m venv .venv` failed: is python3 (with venv) installed?");
    }
    if !status(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&req),
    )? {
        bail!("installing {} into .venv failed", req.display());
    }
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

fn test(root: &Path, extra: &[String]) -> Result<ExitCode> {
    let python = venv(root)?;
    let nextest = cargo()
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let mut cmd = cargo();
    if nextest {
        cmd.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        say("cargo-nextest not found: using cargo test");
        cmd.args(["test", "--workspace", "--no-fail-fast"]);
    }
    let extra: Vec<&String> = extra.iter().skip_while(|a| a.as_str() == "--").collect();
    let cdnow = cdnow::provision(&python, &root.join("target"))?;
    let chromium = chromium()?;
    let server = S3Server::start(&python, &root.join("target"))?;
    cmd.args(extra)
        .current_dir(root)
        .env("RETAIN_TEST_PYTHON", &python)
        .env(cdnow::ENV, &cdnow)
        .env(CHROMIUM_ENV, &chromium)
        .envs(server.env());
    // The crates have no doc tests (nextest would not run them): the runner's summary is
    // the last thing printed.
    let passed = status(&mut cmd);
    drop(server);
    Ok(if passed? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Where the report tests look for Chromium (`retain_test::browser::chromium`).
const CHROMIUM_ENV: &str = "RETAIN_TEST_CHROMIUM";

/// Headless Chromium for the report tests: `$RETAIN_TEST_CHROMIUM` when the caller set it,
/// else Debian's package at `/usr/bin/chromium`, installed when missing. The package
/// lists are refreshed only when the first install fails (a fresh image may have none).
fn chromium() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(CHROMIUM_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let path = PathBuf::from("/usr/bin/chromium");
    if path.is_file() {
        return Ok(path);
    }
    if !Path::new("/etc/debian_version").exists() {
        bail!(
            "{} is missing and this is not Debian: install Chromium and set {CHROMIUM_ENV}",
            path.display()
        );
    }
    say("installing chromium with apt-get, for the report tests");
    let install = || {
        status(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if !install()? {
        say("apt-get install failed: updating the package lists and trying again");
        if !status(Command::new("apt-get").arg("update"))? || !install()? {
            bail!("`apt-get install chromium` failed (are we root?)");
        }
    }
    if !path.is_file() {
        bail!(
            "apt-get installed chromium, but there is no {}",
            path.display()
        );
    }
    Ok(path)
}

/// Provision the CDNOW files and print where they are, as an `export` line.
fn cdnow_only(root: &Path) -> Result<ExitCode> {
    let python = venv(root)?;
    let dir = cdnow::provision(&python, &root.join("target"))?;
    #[allow(clippy::print_stderr)]
    {
        eprintln!("export {}={}", cdnow::ENV, dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Serve the test S3 bucket to one command, or to the developer's shell until Enter.
fn s3(root: &Path, args: &[String]) -> Result<ExitCode> {
    let command = match args {
        [dashes, rest @ ..] if dashes == "--" => rest,
        _ => args,
    };
    let python = venv(root)?;
    let cdnow = cdnow::provision(&python, &root.join("target"))?;
    let server = S3Server::start(&python, &root.join("target"))?;
    let mut env = server.env();
    env.push(("RETAIN_TEST_PYTHON", python.display().to_string()));
    env.push((cdnow::ENV, cdnow.display().to_string()));
    #[allow(clippy::print_stderr)]
    for (var, value) in &env {
        eprintln!("export {var}={value}");
    }
    let Some((program, program_args)) = command.split_first() else {
        say("serving until Enter or end of input");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        return Ok(ExitCode::SUCCESS);
    };
    let st = Command::new(program)
        .args(program_args)
        .envs(env)
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    drop(server);
    Ok(match st.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
