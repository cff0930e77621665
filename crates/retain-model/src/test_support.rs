//! Test helpers shared by the crate's unit tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tiny deterministic generator, enough for test data without a rand dependency.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The venv Python that `cargo xtask test` provisions; the reference tests fail (never
/// skip) without it, as the integration tests do.
fn python() -> PathBuf {
    let p = std::env::var_os("RETAIN_TEST_PYTHON").expect(
        "RETAIN_TEST_PYTHON is not set: run the tests with `cargo xtask test`, which creates \
         .venv with scikit-learn (tests/py/requirements.txt), or point it at a Python \
         that has those packages",
    );
    PathBuf::from(p)
}

/// Run `tests/py/<script>` on `input` (passed as a JSON file) and parse what it prints.
pub fn run_python(script: &str, input: &serde_json::Value) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("input.json");
    std::fs::write(&path, input.to_string()).expect("write input");
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/py")
        .join(script);
    let out = Command::new(python())
        .arg(&script_path)
        .arg(&path)
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from python")
}
