//! The command line explains itself and fails in one clear line.

use crate::retain;

#[test]
fn help_explains_every_subcommand() {
    let out = retain().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["demo", "synth", "run"] {
        assert!(text.contains(sub), "--help lists `{sub}`:\n{text}");
        let out = retain().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub} --help");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Usage: retain"), "{sub} --help:\n{help}");
        assert!(
            help.lines().count() > 5,
            "{sub} --help explains its flags:\n{help}"
        );
    }
}

#[test]
fn a_wrong_flag_is_one_line_and_exit_2() {
    let out = retain().args(["demo", "--custmers", "5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line:\n{err}");
    assert!(
        err.starts_with("error: unexpected argument '--custmers'"),
        "{err}"
    );
}

#[test]
fn a_bad_value_names_the_flag() {
    let out = retain()
        .args(["synth", "--start", "2025-13-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line:\n{err}");
    assert!(err.contains("--start"), "{err}");
}

#[test]
fn a_missing_pipeline_file_is_one_line_and_exit_1() {
    let out = retain()
        .args(["run", "no/such/pipeline.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line:\n{err}");
    assert!(err.contains("no/such/pipeline.toml"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_pipeline_with_a_typo_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(&p, "name = \"x\"\nwarehouse = \"w\"\nwarehose = \"typo\"\n").unwrap();
    let out = retain().arg("run").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line:\n{err}");
    assert!(err.contains("warehose"), "{err}");
}

#[test]
fn invalid_synth_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = retain()
        .args(["synth", "--customers", "10", "--dirty", "0.9", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dirty"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
