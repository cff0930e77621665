//! The whole pipeline on generated shops, read back with DuckDB and pyarrow.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::{
    assert_delta_agrees_with_manifests, json, published_file, read_datasets, read_tables, retain,
    run_ok,
};

const AS_OF: &str = "2026-11-01";
const SOURCES: [&str; 5] = [
    "customers",
    "orders",
    "support_tickets",
    "engagement_events",
    "contacts",
];

fn partitions() -> Vec<String> {
    let mut p: Vec<String> = Vec::new();
    for t in SOURCES {
        p.push(format!("staged/{t}"));
        p.push(format!("quarantine/{t}"));
    }
    for t in [
        "features/customer",
        "scores/customer_risk",
        "scores/next_best_action",
    ] {
        p.push(format!("{t}/as_of={AS_OF}"));
    }
    for t in ["training/churn", "training/repeat_purchase"] {
        p.push(format!("{t}/run_as_of={AS_OF}"));
    }
    p
}

fn tables_md() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/tables.md"))
        .expect("docs/tables.md")
}

/// The table a docs/tables.md heading names, `<table>`-style parts as `*`
/// (`## quarantine/&lt;table&gt;` → `quarantine/*`).
fn heading_table(h: &str) -> String {
    h.split('/')
        .take_while(|s| !s.contains("as_of"))
        .collect::<Vec<_>>()
        .join("/")
        .replace("&lt;table&gt;", "*")
        .replace("&lt;model&gt;", "*")
        .replace("&lt;spec&gt;", "*")
}

/// The `**schema_version N**` line of each table heading of docs/tables.md.
fn documented_schema_versions() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut current = None;
    for line in tables_md().lines() {
        if let Some(h) = line.strip_prefix("## ") {
            current = Some(heading_table(h));
        } else if let (Some(t), Some(rest)) = (&current, line.strip_prefix("**schema_version ")) {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            out.insert(t.clone(), n.parse().expect("a number after schema_version"));
        }
    }
    out
}

/// The documented schema version of a table path (`quarantine/orders` → the
/// `quarantine/<table>` section's).
fn documented_version(versions: &BTreeMap<String, u64>, table: &str) -> u64 {
    let key = match table.split_once('/') {
        Some((kind @ ("quarantine" | "training"), _)) => format!("{kind}/*"),
        _ => table.to_owned(),
    };
    *versions
        .get(&key)
        .unwrap_or_else(|| panic!("docs/tables.md states no schema_version for `{key}`"))
}

/// Column lists per table heading of docs/tables.md (`## staged/orders` → [...]).
fn documented_columns() -> BTreeMap<String, Vec<String>> {
    let doc = tables_md();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            current = Some(heading_table(h));
            continue;
        }
        if let (Some(t), Some(rest)) = (&current, line.strip_prefix("| `")) {
            let col = rest.split('`').next().unwrap().to_owned();
            out.entry(t.clone()).or_default().push(col);
        }
    }
    // The feature table's columns are documented, with their definitions, in
    // docs/features.md.
    out.insert(
        "features/customer".into(),
        crate::features::documented_features()
            .into_iter()
            .map(|(name, _)| name)
            .collect(),
    );
    out
}

fn columns(v: &Value) -> Vec<String> {
    v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

fn expected_columns(docs: &BTreeMap<String, Vec<String>>, partition: &str) -> Vec<String> {
    let table = partition
        .split("/as_of=")
        .next()
        .unwrap()
        .split("/run_as_of=")
        .next()
        .unwrap();
    if let Some(t) = table.strip_prefix("quarantine/") {
        let mut c = docs[&format!("staged/{t}")].clone();
        c.extend(docs["quarantine/*"].iter().cloned());
        return c;
    }
    if table.starts_with("training/") {
        let mut c = docs["features/customer"].clone();
        c.extend(docs["training/*"].iter().cloned());
        return c;
    }
    docs.get(table)
        .unwrap_or_else(|| panic!("docs/tables.md has no section for `{table}`"))
        .clone()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// Every table with a published partition under `wh` (a folder holding `_manifest.json`,
/// or whose `KEY=value` subfolders do), outside `_tmp/`, `raw/` and `models/`.
fn published_tables(wh: &Path) -> Vec<String> {
    fn manifests(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                manifests(&p, base, out);
            } else if p.file_name().is_some_and(|n| n == "_manifest.json") {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut files = Vec::new();
    manifests(wh, wh, &mut files);
    files.sort();
    let mut tables: Vec<String> = files
        .iter()
        .filter_map(|f| f.strip_suffix("/_manifest.json"))
        .filter(|f| {
            !["_tmp/", "raw/", "models/"]
                .iter()
                .any(|p| f.starts_with(p))
        })
        .map(|dir| match dir.rsplit_once('/') {
            Some((table, last)) if last.contains('=') => table.to_owned(),
            _ => dir.to_owned(),
        })
        .collect();
    tables.dedup();
    tables
}

/// Open every published table as downstream tools do, without the manifests (DuckDB and
/// polars on `<table>/*/*.parquet` globs with hive partitioning, pyarrow.dataset on the
/// folder with hive partitioning), and check each against retain's manifests and
/// docs/tables.md: the same columns (plus the partition key), the same types (nested
/// ones element by element, against the files' own Arrow schema), the same rows in total
/// and per partition, the documented schema_version, and no column that the partition
/// key hides.
fn assert_every_table_reads_as_a_dataset(wh: &Path) {
    let docs = documented_columns();
    let versions = documented_schema_versions();
    let tables = published_tables(wh);
    let names: Vec<&str> = tables.iter().map(String::as_str).collect();
    for t in [
        "staged/orders",
        "quarantine/orders",
        "features/customer",
        "training/churn",
        "scores/customer_risk",
        "scores/next_best_action",
    ] {
        assert!(
            names.contains(&t),
            "{t} among the published tables {names:?}"
        );
    }
    let read = read_datasets(wh, &names);
    for table in &tables {
        let v = &read[table.as_str()];
        let m = &v["manifest"];
        let m_cols = strings(&m["columns"]);
        let m_types = strings(&m["types"]);
        assert_eq!(
            m_cols,
            expected_columns(&docs, table),
            "{table}: the manifest's columns differ from docs/tables.md"
        );
        // The files' own schema is the manifest's: the same columns, the same scalar
        // types, lists and structs where the manifest says so (their element types are
        // compared reader by reader below).
        let f_types = strings(&v["file"]["types"]);
        assert_eq!(
            strings(&v["file"]["columns"]),
            m_cols,
            "{table}: file columns"
        );
        for ((c, mt), ft) in m_cols.iter().zip(&m_types).zip(&f_types) {
            assert!(
                !mt.starts_with("other:"),
                "{table}: `{c}` has unmapped type {mt}"
            );
            assert!(
                !ft.contains("other:"),
                "{table}: `{c}` has unmapped type {ft}"
            );
            match mt.strip_suffix("<...>") {
                Some(nested) => assert!(
                    ft.starts_with(&format!("{nested}<")),
                    "{table}: `{c}` {mt} vs {ft}"
                ),
                None => assert_eq!(ft, mt, "{table}: `{c}`: the file's type vs the manifest's"),
            }
        }
        let expected_version = documented_version(&versions, table);
        for (part, version) in m["schema_versions"].as_object().unwrap() {
            assert_eq!(
                version.as_u64(),
                Some(expected_version),
                "{table}/{part}: manifest schema_version"
            );
        }
        let parts = m["partitions"].as_object().unwrap();
        let total: u64 = parts.values().map(|r| r.as_u64().unwrap()).sum();
        let key = v["partition_key"].as_str();
        let f_type: BTreeMap<&str, &str> = m_cols
            .iter()
            .map(String::as_str)
            .zip(f_types.iter().map(String::as_str))
            .collect();
        for reader in [
            "duckdb",
            "pyarrow",
            "polars",
            "deltalake",
            "polars_delta",
            "duckdb_delta",
        ] {
            let r = &v[reader];
            let cols = strings(&r["columns"]);
            let types = strings(&r["types"]);
            let without_key = |c: &[String]| -> Vec<String> {
                c.iter()
                    .filter(|c| Some(c.as_str()) != key)
                    .cloned()
                    .collect()
            };
            assert_eq!(
                without_key(&cols),
                without_key(&m_cols),
                "{table}: {reader}'s columns"
            );
            for (c, ty) in cols.iter().zip(&types) {
                let expected = if Some(c.as_str()) == key {
                    "date"
                } else {
                    f_type[c.as_str()]
                };
                assert_eq!(ty, expected, "{table}: {reader}'s type of `{c}`");
            }
            assert_eq!(r["rows"].as_u64(), Some(total), "{table}: {reader}'s rows");
            if let Some(k) = key {
                assert!(cols.iter().any(|c| c == k), "{table}: {reader} shows `{k}`");
                assert_eq!(
                    &r["partitions"], &m["partitions"],
                    "{table}: {reader}'s rows per {k}"
                );
            }
        }
        // A column named like the partition key must hold the folder's value: hive
        // readers replace it with the folder's value.
        if let Some(values) = v.get("file_key_values") {
            let folders: Vec<&String> = parts.keys().collect();
            assert_eq!(
                strings(values).iter().collect::<Vec<_>>(),
                folders,
                "{table}: its `{}` column differs from the partition folders, which hive readers show instead",
                key.unwrap_or_default()
            );
        }
    }
}

fn line_count(path: &Path) -> u64 {
    std::fs::read_to_string(path).unwrap().lines().count() as u64
}

fn champion(wh: &Path, model: &str) -> Value {
    champion_file(wh, model, "model.json")
}

/// A file of the champion version of `model`.
fn champion_file(wh: &Path, model: &str, file: &str) -> Value {
    let pointer = json(&wh.join(format!("models/{model}/champion")));
    let version = pointer["version"].as_str().unwrap();
    json(&wh.join(format!("models/{model}/{version}/{file}")))
}

/// Every published table is a Delta table whose log agrees with its manifests, and
/// `retain tables` lists them all and prints the files of a version.
fn assert_tables_lists_every_delta_table(wh: &Path) {
    let tables = published_tables(wh);
    let names: Vec<&str> = tables.iter().map(String::as_str).collect();
    assert_delta_agrees_with_manifests(wh, &names);
    let out = run_ok(retain().arg("tables").arg("--out").arg(wh));
    let listed = String::from_utf8_lossy(&out.stdout);
    let shown: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(shown, names, "retain tables:\n{listed}");
    let out = run_ok(
        retain()
            .args([
                "tables",
                "scores/customer_risk",
                "--table-version",
                "0",
                "--out",
            ])
            .arg(wh),
    );
    let files = String::from_utf8_lossy(&out.stdout);
    let risk = published_file(&wh.join("scores/customer_risk/as_of=2026-11-01"));
    assert!(
        files.starts_with("# scores/customer_risk at version 0: 1 files")
            && files.contains(&format!("as_of=2026-11-01\tfile://{}\t", risk.display())),
        "{files}"
    );
    let out = retain()
        .args([
            "tables",
            "scores/customer_risk",
            "--table-version",
            "99",
            "--out",
        ])
        .arg(wh)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.trim_end().lines().count() == 1 && err.contains("has no version 99: its newest is 0"),
        "{err}"
    );
}

/// Every published folder holds exactly its manifest and the files the manifest lists.
fn assert_no_stray_files(wh: &Path, partition: &str) {
    let dir = wh.join(partition);
    let manifest = json(&dir.join("_manifest.json"));
    let mut listed: Vec<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    listed.push("_manifest.json".into());
    listed.sort();
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    assert_eq!(present, listed, "{partition}");
}

#[test]
fn demo_runs_end_to_end_and_every_table_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let out = run_ok(
        retain()
            .args(["demo", "--customers", "5000", "--out"])
            .arg(wh),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "stages",
        "ingest",
        "models (out-of-time validation)",
        "customers per lifecycle stage",
        "customers per risk tier",
        "next best actions:",
        "tables under",
    ] {
        assert!(
            stdout.contains(needle),
            "summary lacks `{needle}`:\n{stdout}"
        );
    }

    let parts = partitions();
    let names: Vec<&str> = parts.iter().map(String::as_str).collect();
    let tables = read_tables(wh, &names);
    let docs = documented_columns();
    for p in &parts {
        let t = &tables[p.as_str()];
        assert_eq!(
            columns(t),
            expected_columns(&docs, p),
            "{p}: columns differ from docs/tables.md"
        );
        assert_eq!(t["rows"], t["manifest_rows"], "{p}: manifest row count");
        assert_no_stray_files(wh, p);
    }
    assert_every_table_reads_as_a_dataset(wh);
    assert_tables_lists_every_delta_table(wh);

    // Ingest accounting on clean data: every raw row is staged.
    let raw = wh.join("raw");
    let synth = json(&raw.join("_synth.json"));
    let summary = synth.get("summary").unwrap_or(&synth);
    let rows = |p: &str| tables[p]["rows"].as_u64().unwrap();
    assert_eq!(
        rows("staged/customers"),
        line_count(&raw.join("customers.csv")) - 1
    );
    assert_eq!(
        rows("staged/orders"),
        line_count(&raw.join("orders.csv")) - 1
    );
    assert_eq!(
        rows("staged/support_tickets"),
        line_count(&raw.join("support_tickets.ndjson"))
    );
    assert_eq!(
        rows("staged/contacts"),
        line_count(&raw.join("contacts.csv")) - 1
    );
    assert_eq!(
        Some(rows("staged/engagement_events")),
        summary["engagement_events"].as_u64()
    );
    for t in SOURCES {
        assert_eq!(
            rows(&format!("quarantine/{t}")),
            0,
            "clean data quarantines nothing ({t})"
        );
    }
    assert_eq!(rows("staged/customers"), 5000);

    // Every customer scored exactly once, and every scored customer has one action.
    let feat = &tables[format!("features/customer/as_of={AS_OF}").as_str()];
    let risk = &tables[format!("scores/customer_risk/as_of={AS_OF}").as_str()];
    let nba = &tables[format!("scores/next_best_action/as_of={AS_OF}").as_str()];
    assert_eq!(feat["rows"], 5000);
    assert_eq!(risk["rows"], 5000);
    assert_eq!(risk["distinct_customers"], 5000);
    assert_eq!(nba["rows"], 5000);
    assert_eq!(nba["distinct_customers"], 5000);
    for col in ["churn_probability", "repeat_purchase_probability"] {
        let s = &risk["stats"][col];
        assert!(s["min"].as_f64().unwrap() >= 0.0, "{col}: {s}");
        assert!(s["max"].as_f64().unwrap() <= 1.0, "{col}: {s}");
    }
    // A count the demo printed under `heading` (`customers per lifecycle stage`, ...).
    let printed = |heading: &str, key: &str| {
        stdout
            .lines()
            .skip_while(|l| !l.starts_with(heading))
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(key)).then(|| w.next().unwrap().parse::<u64>().unwrap())
            })
            .unwrap_or(0)
    };
    let stage_count = |stage: &str| printed("customers per lifecycle stage", stage);
    // Churn for the churn model's population only: not for prospects, nor for the
    // customers outside it (tier `lapsed`, or `unscored` like the prospects).
    let tier_count = |tier: &str| printed("customers per risk tier", tier);
    assert!(tier_count("lapsed") > 0, "{stdout}");
    assert!(
        tier_count("unscored") >= stage_count("prospect"),
        "{stdout}"
    );
    assert_eq!(
        risk["stats"]["churn_probability"]["nulls"].as_u64(),
        Some(tier_count("unscored") + tier_count("lapsed"))
    );
    // Repeat purchase for first-time customers in that model's population only.
    let with_repeat = 5000
        - risk["stats"]["repeat_purchase_probability"]["nulls"]
            .as_u64()
            .unwrap();
    assert!(
        with_repeat > 0 && with_repeat <= stage_count("first_time"),
        "{with_repeat} repeat-purchase probabilities for {} first-time customers",
        stage_count("first_time")
    );
    assert!(risk["stats"]["value_at_risk"]["min"].as_f64().unwrap() >= 0.0);

    // The CLV models were fitted as of D: their features are there for every customer
    // with a completed order, and the run registered them with their report.
    for col in ["p_alive", "expected_purchases_90d", "clv_12m"] {
        let s = &feat["stats"][col];
        assert!(s["min"].as_f64().unwrap() >= 0.0, "{col}: {s}");
        assert!(
            s["nulls"].as_u64().unwrap() < 5000 / 2,
            "{col}: most customers have a CLV: {s}"
        );
    }
    assert!(feat["stats"]["p_alive"]["max"].as_f64().unwrap() <= 1.0);
    assert_eq!(
        risk["stats"]["p_alive"]["nulls"], feat["stats"]["p_alive"]["nulls"],
        "customer_risk carries p_alive over"
    );
    assert!(risk["stats"]["expected_value"]["max"].as_f64().unwrap() > 0.0);
    let clv = champion(wh, "clv");
    assert_eq!(clv["as_of"], AS_OF);
    assert!(wh.join("models/clv/v0001/report.html").exists());
    assert!(stdout.contains("holdout repeat purchases"), "{stdout}");

    // Out-of-time AUC: clearly better than chance, and not suspiciously perfect.
    let churn = champion(wh, "churn");
    let auc = champion_file(wh, "churn", "metrics.json")["validation"]["roc_auc"]
        .as_f64()
        .unwrap();
    assert!((0.70..0.93).contains(&auc), "churn out-of-time AUC {auc}");
    assert!(
        churn["training"]["validation_snapshot"].as_str().unwrap()
            > churn["training"]["training_snapshots"][5].as_str().unwrap(),
        "validated on a later snapshot than any it was trained on"
    );
    let auc = champion_file(wh, "repeat_purchase", "metrics.json")["validation"]["roc_auc"]
        .as_f64()
        .unwrap();
    assert!(auc > 0.55, "repeat-purchase out-of-time AUC {auc}");

    // The training set's manifest accounts for it snapshot by snapshot.
    for model in ["churn", "repeat_purchase"] {
        let part = format!("training/{model}/run_as_of={AS_OF}");
        let m = json(&wh.join(&part).join("_manifest.json"));
        let per = m["properties"]["per_snapshot"].as_array().unwrap();
        assert_eq!(
            per.len(),
            7,
            "{model}: six training snapshots and the validation one"
        );
        let rows: u64 = per.iter().map(|s| s["rows"].as_u64().unwrap()).sum();
        assert_eq!(
            rows,
            tables[part.as_str()]["rows"].as_u64().unwrap(),
            "{model}"
        );
        for s in per {
            let (n, pos) = (
                s["rows"].as_f64().unwrap(),
                s["positives"].as_f64().unwrap(),
            );
            if n > 0.0 {
                assert!(
                    (s["label_rate"].as_f64().unwrap() - pos / n).abs() < 1e-12,
                    "{s}"
                );
            }
        }
        assert_eq!(per[6]["split"], "validation");
        assert_eq!(per[6]["as_of"], m["properties"]["validation_snapshot"]);
    }
}

fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, base, out);
        } else {
            out.insert(
                p.strip_prefix(base).unwrap().display().to_string(),
                std::fs::read(&p).unwrap(),
            );
        }
    }
}

#[test]
fn same_seed_gives_the_same_files_scores_and_models() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for wh in [a.path(), b.path()] {
        run_ok(
            retain()
                .args(["demo", "--customers", "2000", "--seed", "7", "--out"])
                .arg(wh),
        );
    }
    // Raw files: byte for byte.
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    walk(&a.path().join("raw"), a.path(), &mut fa);
    walk(&b.path().join("raw"), b.path(), &mut fb);
    assert!(fa.len() >= 5);
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(
            v == &fb[k],
            "{k} differs between two runs with the same seed"
        );
    }
    // Model artifacts (and the CLV report): byte for byte.
    for p in [
        "models/churn/v0001/model.json",
        "models/churn/v0001/metrics.json",
        "models/churn/v0001/report.html",
        "models/repeat_purchase/v0001/model.json",
        "models/repeat_purchase/v0001/metrics.json",
        "models/clv/v0001/model.json",
        "models/clv/v0001/report.html",
    ] {
        assert_eq!(
            std::fs::read(a.path().join(p)).unwrap(),
            std::fs::read(b.path().join(p)).unwrap(),
            "{p}"
        );
    }
    // Tables: the same rows (run ids aside) in both warehouses.
    let parts = partitions();
    let names: Vec<&str> = parts.iter().map(String::as_str).collect();
    let ta = read_tables(a.path(), &names);
    let tb = read_tables(b.path(), &names);
    for p in &parts {
        assert_eq!(
            ta[p.as_str()]["content_hash"],
            tb[p.as_str()]["content_hash"],
            "{p}"
        );
    }

    // A rerun in the same warehouse (the pipeline file, not the demo) replaces every
    // partition whole and registers a second model version, which does not beat the
    // identical champion, so the scores change in no row (run ids aside).
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/demo.toml");
    // Tables without a run id column must come back byte for byte.
    let data_bytes = |root: &Path| -> BTreeMap<String, Vec<u8>> {
        parts
            .iter()
            .filter(|p| {
                p.starts_with("staged/")
                    || p.starts_with("quarantine/")
                    || p.starts_with("features/")
            })
            .map(|p| {
                let f = published_file(&root.join(p));
                (
                    p.clone(),
                    std::fs::read(&f).unwrap_or_else(|e| panic!("{f:?}: {e}")),
                )
            })
            .collect()
    };
    let before = data_bytes(a.path());
    run_ok(
        retain()
            .arg("run")
            .arg(&pipeline)
            .args(["--as-of", AS_OF, "--out"])
            .arg(a.path()),
    );
    let after = data_bytes(a.path());
    assert!(before.len() >= 6, "{:?}", before.keys());
    for (p, bytes) in &before {
        assert!(bytes == &after[p], "{p}: the rerun wrote different bytes");
    }
    assert!(a.path().join("models/churn/v0002/model.json").exists());
    assert_eq!(
        json(&a.path().join("models/churn/v0001/model.json"))["estimator"],
        json(&a.path().join("models/churn/v0002/model.json"))["estimator"],
        "the same data gives the same model"
    );
    let pointer = json(&a.path().join("models/churn/champion"));
    assert_eq!(pointer["version"], "v0001", "{pointer}");
    let rerun = read_tables(a.path(), &names);
    for p in &parts {
        assert_no_stray_files(a.path(), p);
        if !p.starts_with("scores/customer_risk") {
            assert_eq!(
                rerun[p.as_str()]["content_hash"],
                tb[p.as_str()]["content_hash"],
                "{p}"
            );
        }
    }

    // A different seed gives a different shop.
    let c = tempfile::tempdir().unwrap();
    run_ok(
        retain()
            .args(["synth", "--customers", "200", "--seed", "8", "--out"])
            .arg(c.path()),
    );
    let d = tempfile::tempdir().unwrap();
    run_ok(
        retain()
            .args(["synth", "--customers", "200", "--seed", "7", "--out"])
            .arg(d.path()),
    );
    assert_ne!(
        std::fs::read(c.path().join("orders.csv")).unwrap(),
        std::fs::read(d.path().join("orders.csv")).unwrap()
    );
}

#[test]
fn an_orders_only_shop_runs_through_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    // pipelines/orders-only.toml reads `../warehouse/raw/` relative to its warehouse.
    run_ok(
        retain()
            .args(["synth", "--customers", "1500", "--out"])
            .arg(dir.path().join("warehouse/raw")),
    );
    let wh = dir.path().join("wh");
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/orders-only.toml");
    let out = run_ok(retain().arg("run").arg(&pipeline).arg("--out").arg(&wh));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("orders             read"), "{stdout}");
    assert!(
        !wh.join("staged/customers").exists(),
        "no customers source, no staged table"
    );

    let feat = format!("features/customer/as_of={AS_OF}");
    let risk = format!("scores/customer_risk/as_of={AS_OF}");
    let nba = format!("scores/next_best_action/as_of={AS_OF}");
    let t = read_tables(&wh, &["staged/orders", &feat, &risk, &nba]);
    let orders = line_count(&dir.path().join("warehouse/raw/orders.csv")) - 1;
    assert_eq!(t["staged/orders"]["rows"], orders);
    // Customers come from the orders alone; each is scored once and gets one row.
    assert_eq!(t[feat.as_str()]["rows"], t[risk.as_str()]["rows"]);
    assert_eq!(
        t[risk.as_str()]["rows"],
        t[risk.as_str()]["distinct_customers"]
    );
    assert_eq!(t[nba.as_str()]["rows"], t[risk.as_str()]["rows"]);
    // Absent sources give NULL ("unknown"), never an error and never a made-up 0.
    let rows = t[feat.as_str()]["rows"].as_i64().unwrap();
    for col in [
        "tickets_90d",
        "email_opens_90d",
        "sessions_90d",
        "loyalty_member",
        "email_opt_in",
    ] {
        let s = &t[feat.as_str()]["stats"][col];
        assert_eq!(s["nulls"].as_i64(), Some(rows), "{col}: {s}");
    }
    // Order features are there for every customer with orders.
    assert_eq!(t[feat.as_str()]["stats"]["orders_placed"]["nulls"], 0);
    let churn = champion_file(&wh, "churn", "metrics.json");
    assert!(churn["validation"]["roc_auc"].as_f64().unwrap() > 0.6);
}

#[test]
fn a_bare_transaction_log_runs_through_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("warehouse/raw");
    run_ok(
        retain()
            .args(["synth", "--customers", "1500", "--out"])
            .arg(&raw),
    );
    // Keep only what a bare log has: who, when (a date), how much.
    let orders = std::fs::read_to_string(raw.join("orders.csv")).unwrap();
    let mut log = String::from("customer_id,ordered_at,amount\n");
    let mut lines = 0u64;
    for line in orders.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[3] == "completed" {
            log.push_str(&format!("{},{},{}\n", f[1], &f[2][..10], f[4]));
            lines += 1;
        }
    }
    std::fs::write(raw.join("transactions.csv"), log).unwrap();
    let wh = dir.path().join("wh");
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/transactions.toml");
    run_ok(retain().arg("run").arg(&pipeline).arg("--out").arg(&wh));

    let risk = format!("scores/customer_risk/as_of={AS_OF}");
    let t = read_tables(&wh, &["staged/orders", "quarantine/orders", &risk]);
    assert_eq!(t["staged/orders"]["rows"], lines);
    assert_eq!(t["quarantine/orders"]["rows"], 0);
    assert_eq!(
        t[risk.as_str()]["rows"],
        t[risk.as_str()]["distinct_customers"]
    );
    let churn = champion_file(&wh, "churn", "metrics.json");
    assert!(churn["validation"]["roc_auc"].as_f64().unwrap() > 0.6);
}
