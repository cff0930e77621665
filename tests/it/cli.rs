//! The command line explains itself and fails in one clear line.

use std::collections::BTreeMap;

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

/// `retain tables` on a warehouse with nothing published says so; a table that is not
/// one, or a version it never had, is exit 1 in one line naming it.
#[test]
fn tables_on_an_empty_warehouse_and_a_wrong_table_or_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = retain()
        .arg("tables")
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("no published tables in file://"),
        "{out:?}"
    );
    for args in [
        vec!["tables", "scores/nosuch"],
        vec!["tables", "scores/nosuch", "--table-version", "3"],
    ] {
        let out = retain()
            .args(&args)
            .arg("--out")
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line:\n{err}"
        );
        assert!(err.contains("scores/nosuch"), "{args:?}: {err}");
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
    assert!(err.contains("not a date YYYY-MM-DD"), "{err}");
}

/// Issue 23: clap's hints (the command or flag meant, the values a flag takes) stay on
/// the one error line instead of being cut with the lines below it.
#[test]
fn a_typo_gets_clap_hints_on_its_one_line() {
    for (args, hint) in [
        (vec!["trian"], "did you mean 'train'?"),
        (
            vec!["demo", "--custmers", "5"],
            "did you mean '--customers'?",
        ),
        (
            vec!["run", "p.toml", "--as-off", "2026-11-01"],
            "did you mean '--as-of'?",
        ),
        (
            vec!["--log-format", "xml", "runs"],
            "possible values: pretty, json",
        ),
        (
            vec!["score", "--as-of", "2026-11-31"],
            "not a date YYYY-MM-DD",
        ),
    ] {
        let out = retain().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line:\n{err}"
        );
        assert!(err.contains(hint), "{args:?}: `{hint}` in {err}");
    }
}

#[test]
fn a_missing_pipeline_file_is_one_line_and_exit_2() {
    let out = retain()
        .args(["run", "no/such/pipeline.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
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
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line:\n{err}");
    assert!(err.contains("warehose"), "{err}");
}

/// Issue 20's findings 6 and 9: configuration values that crashed retain (date
/// overflow, huge partition counts, an expression deep enough to overflow the stack)
/// are refused in one line with exit code 2, and control characters or a huge value in
/// an error never reach the terminal raw or whole.
#[test]
fn hostile_configuration_is_refused_in_one_bounded_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let demo = std::fs::read_to_string("pipelines/demo.toml").unwrap();
    let write = |name: &str, text: String| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let refused = |pipeline: &std::path::Path, want: &str| {
        let out = retain()
            .arg("validate")
            .arg(pipeline)
            .arg("--out")
            .arg(d.join("wh"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let case = pipeline.display();
        assert_eq!(out.status.code(), Some(2), "{case}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{case}: one line:\n{err}"
        );
        assert!(err.contains(want), "{case}: `{want}` in {err}");
        assert!(err.len() < 6_000, "{} bytes", err.len());
        err
    };
    assert!(demo.contains("memory-limit = \"2GiB\"\n"));
    let p = write(
        "partitions.toml",
        demo.replace(
            "memory-limit = \"2GiB\"\n",
            "memory-limit = \"2GiB\"\ntarget-partitions = 4294967295\n",
        ),
    );
    refused(
        &p,
        "[engine] target-partitions must be between 1 and 1024, not 4294967295",
    );
    // Finding 12: a pool too small for the engine is refused before anything runs,
    // not failed half way with DataFusion's "Resources exhausted".
    let p = write(
        "memory.toml",
        demo.replace("memory-limit = \"2GiB\"\n", "memory-limit = \"16MiB\"\n"),
    );
    refused(
        &p,
        "[engine] memory-limit must be at least 48MiB, not 16777216 bytes",
    );
    assert!(demo.contains("holdout-days = 182\n"));
    let p = write(
        "holdout.toml",
        demo.replace("holdout-days = 182\n", "holdout-days = 4294967295\n"),
    );
    refused(&p, "[clv] holdout-days must be between 7 and 3650");
    let out = retain()
        .args(["evaluate-actions", "--horizon-days", "4294967295"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("4294967295 is not in 1..=3650"), "{err}");

    // A model spec whose horizon overflows the date arithmetic.
    let models = d.join("models");
    std::fs::create_dir_all(&models).unwrap();
    for f in ["churn.toml", "repeat_purchase.toml"] {
        std::fs::copy(format!("models/{f}"), models.join(f)).unwrap();
    }
    let churn = std::fs::read_to_string(models.join("churn.toml")).unwrap();
    std::fs::write(
        models.join("churn.toml"),
        churn.replace("horizon-days = 90", "horizon-days = 4294967295"),
    )
    .unwrap();
    let p = write(
        "horizon.toml",
        demo.replace(
            "as-of = \"2026-11-01\"",
            &format!(
                "as-of = \"2026-11-01\"\nmodels-dir = \"{}\"",
                models.display()
            ),
        ),
    );
    refused(&p, "the training reaches 8589934740 days back");

    // A policy: days that overflow, and an `eligible` of 5,000 ORed terms (with an
    // escape sequence in a string, which the error must not print raw).
    let policy = std::fs::read_to_string("pipelines/policies/retention.toml").unwrap();
    assert!(policy.contains("valid-days = "));
    let with_policy = |name: &str, text: String| {
        let file = write(&format!("{name}-policy.toml"), text);
        write(
            name,
            demo.replace(
                "\n[policy]\n",
                &format!("\n[policy]\nfile = \"{}\"\n", file.display()),
            ),
        )
    };
    assert!(policy.contains("valid-days = 14\n"));
    let days = policy.replace("valid-days = 14\n", "valid-days = 4294967295\n");
    refused(
        &with_policy("valid.toml", days),
        "valid-days must be between 0 and 3650 (10 years), not 4294967295",
    );
    let ors = vec!["churn_probability > 0.5"; 5_000].join(" OR ");
    let eligible = "eligible = \"lifecycle_stage = 'first_time' AND first_order_days <= 30\"";
    assert!(policy.contains(eligible));
    let hostile = policy.replace(
        eligible,
        &format!("eligible = \"lifecycle_stage = '\\u001b[31m' OR {ors}\""),
    );
    let err = refused(&with_policy("ors.toml", hostile), "is too large: it has");
    assert!(
        !err.contains('\u{1b}'),
        "a control character reached the terminal raw"
    );
    assert!(
        err.contains("\\u{1b}") && err.contains("more characters]"),
        "{err}"
    );
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
    let aside = crate::files_below(&dir.path().join("wh/_tmp"));
    assert!(
        aside.is_empty(),
        "files left aside ({leftovers} runs): {aside:?}"
    );
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
        "tables",
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

/// A small orders-only shop (pipelines/orders-only.toml reads `../warehouse/raw/`
/// relative to its warehouse `wh`): the temp dir, the pipeline file and the warehouse.
fn orders_only_shop(customers: u32) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    crate::run_ok(
        retain()
            .args(["synth", "--customers", &customers.to_string(), "--out"])
            .arg(dir.path().join("warehouse/raw")),
    );
    let pipeline =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/orders-only.toml");
    let wh = dir.path().join("wh");
    (dir, pipeline, wh)
}

#[test]
fn json_logs_are_one_object_per_line_with_rows_and_timings_per_stage() {
    let (_dir, pipeline, wh) = orders_only_shop(1500);
    let out = crate::run_ok(
        retain()
            .env_remove("RUST_LOG")
            .args(["--log-format", "json", "run"])
            .arg(&pipeline)
            .arg("--out")
            .arg(&wh),
    );
    // The result still goes to stdout as text.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stages (run "), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\x1b'), "no escape codes:\n{stderr}");
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    for e in &events {
        assert!(e["timestamp"].is_string(), "{e}");
        assert!(e["level"].is_string(), "{e}");
        assert!(e["fields"]["message"].is_string(), "{e}");
    }
    let stages: BTreeMap<&str, &serde_json::Value> = events
        .iter()
        .filter(|e| e["fields"]["message"] == "stage finished")
        .map(|e| (e["fields"]["stage"].as_str().unwrap(), e))
        .collect();
    assert_eq!(
        stages.keys().copied().collect::<Vec<_>>(),
        [
            "clv",
            "features",
            "ingest",
            "next best action",
            "score",
            "train churn",
            "train repeat_purchase"
        ]
    );
    for (stage, e) in &stages {
        assert!(e["fields"]["rows"].is_u64(), "{stage}: {e}");
        assert!(e["fields"]["elapsed_ms"].is_u64(), "{stage}: {e}");
        // Each stage runs in its own span, inside the run's, which says which run and
        // date the event belongs to.
        assert_eq!(e["span"]["name"], "stage", "{e}");
        assert_eq!(e["span"]["stage"], *stage, "{e}");
        assert_eq!(e["spans"][0]["name"], "run", "{e}");
        assert_eq!(e["spans"][0]["as_of"], "2026-11-01", "{e}");
        assert!(e["spans"][0]["run_id"].is_string(), "{e}");
    }
    // What a stage does is logged inside its span: the publish of customer_risk.
    let published = events
        .iter()
        .find(|e| {
            e["fields"]["message"] == "published" && e["fields"]["table"] == "scores/customer_risk"
        })
        .expect("a published event for customer_risk");
    assert_eq!(published["span"]["stage"], "score", "{published}");
    // Rows in the events are the rows published.
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(wh.join("scores/customer_risk/as_of=2026-11-01/_manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stages["score"]["fields"]["rows"], manifest["rows"]);
    // Each training job: one `trained` event with its rows and duration.
    let trained: Vec<&str> = events
        .iter()
        .filter(|e| e["fields"]["message"] == "trained")
        .inspect(|e| {
            assert!(e["fields"]["rows"].as_u64().unwrap() > 0, "{e}");
            assert!(e["fields"]["elapsed_ms"].is_u64(), "{e}");
        })
        .map(|e| e["fields"]["model"].as_str().unwrap())
        .collect();
    assert_eq!(trained, ["churn", "repeat_purchase"]);
    let staged_orders = events
        .iter()
        .find(|e| e["fields"]["message"] == "staged" && e["fields"]["table"] == "orders")
        .expect("a `staged` event for orders");
    assert!(staged_orders["fields"]["read"].as_u64().unwrap() > 0);
    let published: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["fields"]["message"] == "published")
        .collect();
    let risk = published
        .iter()
        .find(|e| e["fields"]["table"] == "scores/customer_risk")
        .expect("a `published` event for customer_risk");
    assert_eq!(risk["fields"]["rows"], manifest["rows"]);
    assert_eq!(risk["fields"]["schema_version"], 3);
    assert!(risk["fields"]["elapsed_ms"].is_u64());
}

#[test]
fn a_failure_in_json_mode_is_a_json_line_too() {
    let out = retain()
        .args(["--log-format", "json", "run", "no/such/pipeline.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line:\n{err}");
    let e: serde_json::Value = serde_json::from_str(err.trim_end()).unwrap();
    assert_eq!(e["level"], "ERROR");
    assert_eq!(e["fields"]["exit_code"], 2);
    assert!(
        e["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("no/such/pipeline.toml"),
        "{e}"
    );
}

#[test]
fn quiet_leaves_warnings_errors_and_the_result() {
    let (_dir, pipeline, wh) = orders_only_shop(300);
    let ingest = |args: &[&str], rust_log: Option<&str>| {
        let mut cmd = retain();
        cmd.env_remove("RUST_LOG");
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter);
        }
        crate::run_ok(
            cmd.args(args)
                .arg("ingest")
                .arg(&pipeline)
                .arg("--out")
                .arg(&wh),
        )
    };
    // Without --quiet: info lines, plain text (stderr is not a terminal here, so no
    // colours and no progress display).
    let out = ingest(&[], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" INFO "), "{stderr}");
    assert!(stderr.contains("staged"), "{stderr}");
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "no escape codes or redraws:\n{stderr:?}"
    );
    let loud = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(loud.contains("orders             read"), "{loud}");

    // --quiet (either side of the command, and even with RUST_LOG=debug): nothing on
    // stderr for a clean run, the same result on stdout.
    for (args, rust_log) in [
        (&["--quiet"][..], None),
        (&["-q", "--log", "debug"][..], Some("debug")),
    ] {
        let out = ingest(args, rust_log);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr, "", "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let accounting = |s: &str| {
            s.lines()
                .filter(|l| l.contains(" read "))
                .map(|l| l.split("files").next().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(accounting(&stdout), accounting(&loud), "{args:?}");
        assert!(!accounting(&stdout).is_empty());
    }
}

#[test]
fn a_bad_log_format_is_a_usage_error() {
    let out = retain()
        .args(["--log-format", "xml", "run", "p.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line:\n{err}");
    assert!(err.contains("invalid value 'xml'"), "{err}");
    assert!(err.contains("--log-format"), "{err}");
    let out = retain()
        .env("RETAIN_LOG_FORMAT", "yaml")
        .args(["run", "p.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn verbose_adds_the_causes_and_debug_logs_after_the_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let args = |verbose: bool| {
        let mut c = retain();
        c.env_remove("RUST_LOG");
        if verbose {
            c.arg("--verbose");
        }
        c.args([
            "run",
            "pipelines/demo.toml",
            "--stages",
            "features",
            "--out",
        ])
        .arg(dir.path());
        c.output().unwrap()
    };
    // Without: the error is one line (after the info logs).
    let out = args(false);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        !err.contains("caused by:") && !err.contains("DEBUG"),
        "{err}"
    );
    // With: the same line, then its causes one per line, and retain's debug logs before.
    let out = args(true);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(lines[at], errors[0], "the same one-line error");
    assert!(
        lines[at + 1..]
            .iter()
            .all(|l| l.starts_with("  caused by: "))
            && lines.len() > at + 1,
        "{err}"
    );
    assert!(
        lines[..at].iter().any(|l| l.contains("DEBUG")),
        "debug logs: {err}"
    );
    // An invalid --log filter is a usage error, not a silent fallback.
    let out = retain()
        .args(["--log", "a=b=c", "runs", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --log filter `a=b=c`"));
}
