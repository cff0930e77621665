//! The command line explains itself and fails in one clear line.

use crate::retain;

#[test]
fn help_explains_every_subcommand() {
    let out = retain().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["demo", "synth", "run", "train", "models"] {
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

#[test]
fn a_quarantine_breach_is_exit_3_one_line_and_publishes_nothing() {
    // A line with the wrong number of fields is quarantined; one bad row in two is far
    // above the 5% threshold, so the run fails with exit code 3 and publishes nothing.
    let dir = tempfile::tempdir().unwrap();
    // pipelines/orders-only.toml reads `../warehouse/raw/` relative to its warehouse.
    let raw = dir.path().join("warehouse/raw");
    std::fs::create_dir_all(&raw).unwrap();
    std::fs::write(
        raw.join("orders.csv"),
        "order_id,customer_id,ordered_at,status,gross_amount,discount_amount,currency,channel,category,item_count\n\
         O1,C1,2025-03-01T12:00:00Z,completed,100.00,10.00,EUR,web,shoes,2\n\
         O2,C1,2025-03-02T12:00:00Z,completed,5.00\n",
    )
    .unwrap();
    let pipeline =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/orders-only.toml");
    let out = retain()
        .arg("run")
        .arg(&pipeline)
        .arg("--out")
        .arg(dir.path().join("wh"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line:\n{err}");
    assert_eq!(
        err.trim_end(),
        "error: pipeline run failed: data quality: source `orders`: 1 of 2 rows quarantined (50.0%), above the limit of 5.0% (top reasons: wrong_column_count 1); nothing was published (see docs/pipeline-file.md, [quality])"
    );
    for table in ["staged/orders", "quarantine/orders"] {
        assert!(
            !dir.path()
                .join(format!("wh/{table}/_manifest.json"))
                .exists(),
            "{table} was published"
        );
    }
    let leftovers = std::fs::read_dir(dir.path().join("wh/_tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    let aside: Vec<_> = walk(&dir.path().join("wh/_tmp"));
    assert!(
        aside.is_empty(),
        "files left aside ({leftovers} runs): {aside:?}"
    );
}

/// Every file below `dir` (none if it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn completions_and_the_man_page_come_from_the_clap_definitions() {
    let subcommands = [
        "demo",
        "synth",
        "run",
        "ingest",
        "features",
        "clv",
        "train",
        "models",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = retain().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for sub in subcommands {
            assert!(text.contains(sub), "{shell} completion lacks `{sub}`");
        }
        assert!(text.contains("promote-if-better"), "{shell}: train's flags");
    }
    let out = retain().arg("man").output().unwrap();
    assert!(out.status.success());
    let man = String::from_utf8_lossy(&out.stdout);
    assert!(man.contains(".TH retain 1"), "{man}");
    for sub in subcommands {
        assert!(man.contains(sub), "the man page lacks `{sub}`");
    }
    let out = retain().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'tcsh'"));
}
