//! Tests of the generator: contract, determinism, dirty accounting and behaviour.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, Float64Array, StringArray, TimestampMicrosecondArray};
use chrono::{DateTime, NaiveDate};
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;
use crate::emit::{CONTACTS_HEADER, CUSTOMERS_HEADER, ORDERS_HEADER, TRUTH_HEADER};
use crate::model::{CATEGORIES, COUNTRIES, EventType, Status};

type Files = BTreeMap<String, Vec<u8>>;

fn opts(customers: u64) -> SynthOptions {
    SynthOptions {
        customers,
        ..SynthOptions::default()
    }
}

async fn read_all(store: &Arc<dyn ObjectStore>) -> Files {
    let metas: Vec<object_store::ObjectMeta> =
        store.list(None).try_collect().await.expect("list store");
    let mut files = Files::new();
    for m in metas {
        let bytes = store
            .get(&m.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        files.insert(m.location.to_string(), bytes.to_vec());
    }
    files
}

/// Generate into a fresh in-memory store under `shop/`.
async fn run_with(o: &SynthOptions, chunk: u64, rows_per_part: usize) -> (SynthSummary, Files) {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let summary = generate_chunked(
        Arc::clone(&store),
        &Path::from("shop"),
        o,
        chunk,
        rows_per_part,
    )
    .await
    .expect("generate");
    (summary, read_all(&store).await)
}

async fn run(o: &SynthOptions) -> (SynthSummary, Files) {
    run_with(o, CHUNK_CUSTOMERS, sink::PART_ROWS).await
}

fn text<'a>(files: &'a Files, name: &str) -> &'a str {
    let bytes = files
        .get(&format!("shop/{name}"))
        .unwrap_or_else(|| panic!("missing {name}"));
    std::str::from_utf8(bytes).expect("utf-8")
}

fn secs(ts: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(ts).ok().map(|d| d.timestamp())
}

fn window(o: &SynthOptions) -> (i64, i64) {
    let s = o
        .start
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc().timestamp());
    let e = o.end.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp());
    (s.unwrap_or_default(), e.unwrap_or_default())
}

/// Data lines of a CSV text (header skipped).
fn rows(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
struct EventRow {
    id: String,
    customer: String,
    micros: i64,
    kind: String,
    channel: String,
    value: Option<f64>,
}

fn events(files: &Files) -> Vec<EventRow> {
    let mut out = Vec::new();
    let schema = emit::events_schema();
    for (name, bytes) in files {
        if !name.starts_with("shop/engagement_events/") {
            continue;
        }
        let mut file = tempfile::tempfile().expect("tempfile");
        std::io::Write::write_all(&mut file, bytes).expect("write tempfile");
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
        assert_eq!(builder.schema().fields(), schema.fields(), "{name}");
        for rg in builder.metadata().row_groups() {
            assert!(rg.num_rows() <= sink::ROW_GROUP_ROWS as i64);
        }
        for batch in builder.build().expect("reader") {
            let batch = batch.expect("batch");
            let col = |i: usize| batch.column(i);
            let ids = col(0).as_any().downcast_ref::<StringArray>().expect("ids");
            let cust = col(1).as_any().downcast_ref::<StringArray>().expect("cust");
            let at = col(2)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .expect("at");
            let kind = col(3).as_any().downcast_ref::<StringArray>().expect("kind");
            let ch = col(4).as_any().downcast_ref::<StringArray>().expect("ch");
            let val = col(5).as_any().downcast_ref::<Float64Array>().expect("val");
            for i in 0..batch.num_rows() {
                out.push(EventRow {
                    id: ids.value(i).to_owned(),
                    customer: cust.value(i).to_owned(),
                    micros: at.value(i),
                    kind: kind.value(i).to_owned(),
                    channel: ch.value(i).to_owned(),
                    value: (!val.is_null(i)).then(|| val.value(i)),
                });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn same_options_give_identical_bytes_whatever_the_chunking() {
    let o = SynthOptions {
        dirty_rate: 0.05,
        write_truth: true,
        ..opts(1_200)
    };
    let (s1, a) = run(&o).await;
    let (_, b) = run(&o).await;
    assert_eq!(a, b, "two runs differ");
    // tiny chunks and tiny parts: same rows in the same order; parts are cut at fixed
    // row counts, so their bytes also match a run with the same part size
    let (s3, c) = run_with(&o, 7, 20_000).await;
    let (_, d) = run_with(&o, 500, 20_000).await;
    assert_eq!(c, d, "chunk size changed the output");
    for name in [
        "customers.csv",
        "orders.csv",
        "support_tickets.ndjson",
        "contacts.csv",
        "_truth/customers.csv",
    ] {
        assert_eq!(text(&a, name), text(&c, name), "{name}");
    }
    assert_eq!(events(&a), events(&c));
    assert_eq!(s1.engagement_events, s3.engagement_events);
    assert!(s3.files.len() > s1.files.len(), "expected several parts");

    let (_, other) = run(&SynthOptions {
        seed: 43,
        ..o.clone()
    })
    .await;
    for name in ["customers.csv", "orders.csv", "support_tickets.ndjson"] {
        assert_ne!(
            text(&a, name),
            text(&other, name),
            "{name} ignores the seed"
        );
    }
}

#[tokio::test]
async fn dirty_mode_only_adds_rows() {
    let clean = opts(1_500);
    let dirty = SynthOptions {
        dirty_rate: 0.2,
        ..clean.clone()
    };
    let (sc, c) = run(&clean).await;
    let (sd, d) = run(&dirty).await;
    assert!(sc.dirty.is_empty());
    assert_eq!(
        (
            sc.customers,
            sc.orders,
            sc.support_tickets,
            sc.engagement_events,
            sc.contacts
        ),
        (
            sd.customers,
            sd.orders,
            sd.support_tickets,
            sd.engagement_events,
            sd.contacts
        )
    );
    for name in [
        "customers.csv",
        "orders.csv",
        "support_tickets.ndjson",
        "contacts.csv",
    ] {
        let mut dirty_lines = text(&d, name).lines();
        for line in text(&c, name).lines() {
            assert!(
                dirty_lines.any(|l| l == line),
                "{name}: clean line missing or out of order: {line}"
            );
        }
    }
    let ce = events(&c);
    let de = events(&d);
    let mut it = de.iter();
    for e in &ce {
        assert!(it.any(|x| x == e), "clean event missing: {e:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Contract
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn clean_files_follow_the_contract() {
    let o = SynthOptions {
        write_truth: true,
        ..opts(3_000)
    };
    let (summary, files) = run(&o).await;
    let (start, end) = window(&o);
    let in_window = |s: i64| (start..end).contains(&s);

    // customers.csv
    let customers = text(&files, "customers.csv");
    assert_eq!(customers.lines().next(), Some(CUSTOMERS_HEADER));
    let countries: HashSet<&str> = COUNTRIES.iter().map(|c| c.0).collect();
    let mut signup: HashMap<String, i64> = HashMap::new();
    let mut missing_birth = 0;
    for (i, r) in rows(customers).iter().enumerate() {
        assert_eq!(r.len(), 7);
        assert_eq!(r[0], format!("C{:07}", i + 1));
        let s = secs(r[1]).expect("signup_at");
        assert!(r[1].ends_with('Z') && r[1].len() == 20);
        assert!(in_window(s), "signup {}", r[1]);
        assert!(countries.contains(r[2]));
        if r[3].is_empty() {
            missing_birth += 1;
        } else {
            let b = NaiveDate::parse_from_str(r[3], "%Y-%m-%d").expect("birth_date");
            assert!(b < o.start);
        }
        for b in &r[4..7] {
            assert!(*b == "true" || *b == "false");
        }
        signup.insert(r[0].to_owned(), s);
    }
    assert_eq!(signup.len() as u64, summary.customers);
    assert_eq!(summary.customers, o.customers);
    let missing = f64::from(missing_birth) / o.customers as f64;
    assert!(
        (0.10..0.20).contains(&missing),
        "missing birth dates {missing}"
    );

    // orders.csv
    let orders = text(&files, "orders.csv");
    assert_eq!(orders.lines().next(), Some(ORDERS_HEADER));
    let statuses: HashSet<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    let mut last_per_customer: HashMap<&str, i64> = HashMap::new();
    let order_rows = rows(orders);
    for (i, r) in order_rows.iter().enumerate() {
        assert_eq!(r.len(), 10);
        assert_eq!(r[0], format!("O{:08}", i + 1));
        let s = secs(r[2]).expect("ordered_at");
        assert!(in_window(s));
        let su = signup
            .get(r[1])
            .copied()
            .expect("order for an unknown customer");
        assert!(s >= su, "order before sign-up");
        let prev = last_per_customer.insert(r[1], s).unwrap_or(i64::MIN);
        assert!(s >= prev, "orders of a customer not in time order");
        assert!(statuses.contains(r[3]));
        for a in [r[4], r[5]] {
            let (_, cents) = a.split_once('.').expect("two decimals");
            assert_eq!(cents.len(), 2, "{a}");
        }
        let gross: f64 = r[4].parse().expect("gross");
        let discount: f64 = r[5].parse().expect("discount");
        assert!(gross > 0.0 && discount >= 0.0 && discount <= gross);
        assert_eq!(r[6], "EUR");
        assert!(["web", "app", "marketplace"].contains(&r[7]));
        assert!(CATEGORIES.contains(&r[8]));
        assert!(r[9].parse::<u32>().expect("items") >= 1);
    }
    assert_eq!(order_rows.len() as u64, summary.orders);

    // support_tickets.ndjson
    let tickets = text(&files, "support_tickets.ndjson");
    let mut n_tickets = 0;
    for (i, line) in tickets.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let obj = v.as_object().expect("object");
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut expected = vec![
            "ticket_id",
            "customer_id",
            "opened_at",
            "resolved_at",
            "channel",
            "topic",
            "priority",
            "csat_score",
            "reopened_count",
        ];
        expected.sort_unstable();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        assert_eq!(keys_sorted, expected);
        assert_eq!(v["ticket_id"], format!("T{:07}", i + 1));
        let c = v["customer_id"].as_str().expect("customer_id");
        let su = signup
            .get(c)
            .copied()
            .expect("ticket for an unknown customer");
        let opened = secs(v["opened_at"].as_str().expect("opened_at")).expect("rfc3339");
        assert!(in_window(opened) && opened >= su);
        if !v["resolved_at"].is_null() {
            let r = secs(v["resolved_at"].as_str().expect("str")).expect("rfc3339");
            assert!(in_window(r) && r >= opened);
        }
        assert!(["email", "chat", "phone"].contains(&v["channel"].as_str().expect("channel")));
        assert!(
            ["delivery", "return", "payment", "product", "account"]
                .contains(&v["topic"].as_str().expect("topic"))
        );
        assert!(["low", "normal", "high"].contains(&v["priority"].as_str().expect("priority")));
        if !v["csat_score"].is_null() {
            let c = v["csat_score"].as_u64().expect("integer csat");
            assert!((1..=5).contains(&c));
        }
        assert!(v["reopened_count"].as_u64().is_some());
        n_tickets += 1;
    }
    assert_eq!(n_tickets, summary.support_tickets);

    // engagement_events
    let ev = events(&files);
    assert_eq!(ev.len() as u64, summary.engagement_events);
    let kinds: HashSet<&str> = EventType::ALL.iter().map(|k| k.as_str()).collect();
    for (i, e) in ev.iter().enumerate() {
        assert_eq!(e.id, format!("E{:09}", i + 1));
        let s = e.micros / 1_000_000;
        assert_eq!(e.micros % 1_000_000, 0);
        assert!(in_window(s));
        let su = signup
            .get(&e.customer)
            .copied()
            .expect("event of an unknown customer");
        assert!(s >= su);
        assert!(kinds.contains(e.kind.as_str()));
        let expected_channel: &[&str] = match e.kind.as_str() {
            "email_open" | "email_click" | "unsubscribe" => &["email"],
            "web_session" => &["web"],
            "app_session" => &["app"],
            _ => &["web", "app"],
        };
        assert!(expected_channel.contains(&e.channel.as_str()), "{e:?}");
        match e.kind.as_str() {
            "review" => {
                let v = e.value.expect("stars");
                assert!((1.0..=5.0).contains(&v) && v.fract() == 0.0);
            }
            "web_session" | "app_session" | "loyalty_redeem" => {
                assert!(e.value.is_some_and(|v| v > 0.0), "{e:?}");
            }
            _ => assert!(e.value.is_none(), "{e:?}"),
        }
    }

    // contacts.csv
    let contacts = text(&files, "contacts.csv");
    assert_eq!(contacts.lines().next(), Some(CONTACTS_HEADER));
    let contact_rows = rows(contacts);
    for r in &contact_rows {
        assert_eq!(r.len(), 3);
        let su = signup
            .get(r[0])
            .copied()
            .expect("contact of an unknown customer");
        assert!(
            [
                "welcome_offer",
                "exclusive_offer",
                "personal_newsletter",
                "win_back"
            ]
            .contains(&r[1])
        );
        let s = secs(r[2]).expect("contacted_at");
        assert!(in_window(s) && s >= su);
    }
    assert_eq!(contact_rows.len() as u64, summary.contacts);

    // truth and manifest
    let truth = text(&files, "_truth/customers.csv");
    assert_eq!(truth.lines().next(), Some(TRUTH_HEADER));
    assert_eq!(rows(truth).len() as u64, o.customers);
    let manifest: serde_json::Value =
        serde_json::from_str(text(&files, "_synth.json")).expect("manifest");
    assert_eq!(manifest["summary"]["orders"], summary.orders);
    assert_eq!(manifest["options"]["start"], "2024-11-01");
    let listed: BTreeMap<String, ()> = summary
        .files
        .iter()
        .map(|f| (format!("shop/{f}"), ()))
        .collect();
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        files.keys().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn writes_to_a_local_directory_and_replaces_stale_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> =
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).expect("fs"));
    let prefix = Path::from("raw");
    let o = SynthOptions {
        write_truth: true,
        ..opts(400)
    };
    let big = generate_chunked(Arc::clone(&store), &prefix, &o, 100, 2_000)
        .await
        .expect("generate");
    assert!(big.files.iter().filter(|f| f.contains("part-")).count() > 2);
    assert!(dir.path().join("raw/_truth/customers.csv").exists());
    let small = generate(
        Arc::clone(&store),
        &prefix,
        &SynthOptions {
            write_truth: false,
            ..o.clone()
        },
    )
    .await
    .expect("regenerate");
    assert_eq!(small.engagement_events, big.engagement_events);
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.path().join("raw/engagement_events"))
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, vec!["part-00000.parquet".to_owned()]);
    assert!(!dir.path().join("raw/_truth/customers.csv").exists());
    let manifest = std::fs::read_to_string(dir.path().join("raw/_synth.json")).expect("json");
    assert!(manifest.contains("\"write_truth\": false"));
}

#[tokio::test]
async fn tiny_shop_works() {
    let o = SynthOptions {
        dirty_rate: 0.5,
        ..opts(1)
    };
    let (summary, files) = run(&o).await;
    assert_eq!(summary.customers, 1);
    assert!(files.contains_key("shop/engagement_events/part-00000.parquet"));
    assert!(text(&files, "customers.csv").starts_with(CUSTOMERS_HEADER));
}

#[tokio::test]
async fn invalid_options_are_errors_and_write_nothing() {
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
    let cases = [
        (opts(0), "customers must be at least 1"),
        (
            SynthOptions {
                start: d(2026, 1, 1),
                end: d(2026, 1, 1),
                ..opts(10)
            },
            "must be before end",
        ),
        (
            SynthOptions {
                start: d(2026, 1, 2),
                end: d(2025, 1, 1),
                ..opts(10)
            },
            "must be before end",
        ),
        (
            SynthOptions {
                dirty_rate: 0.6,
                ..opts(10)
            },
            "dirty_rate",
        ),
        (
            SynthOptions {
                dirty_rate: -0.1,
                ..opts(10)
            },
            "dirty_rate",
        ),
        (
            SynthOptions {
                dirty_rate: f64::NAN,
                ..opts(10)
            },
            "dirty_rate",
        ),
        (
            SynthOptions {
                start: d(1900, 1, 1),
                ..opts(10)
            },
            "must lie between",
        ),
    ];
    for (o, needle) in cases {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let err = generate(Arc::clone(&store), &Path::from("x"), &o)
            .await
            .expect_err("invalid options accepted");
        assert!(matches!(err, Error::InvalidOptions(_)), "{err:?}");
        assert!(err.to_string().contains(needle), "{err} (wanted {needle})");
        assert!(read_all(&store).await.is_empty(), "wrote files for {o:?}");
    }
    assert!(SynthOptions::default().validate().is_ok());
}

// ---------------------------------------------------------------------------------------
// Dirty accounting
// ---------------------------------------------------------------------------------------

/// Injected lines of `name`: the lines of the dirty file that are not the next clean line.
fn injected_lines<'a>(clean: &'a str, dirty: &'a str) -> Vec<(Option<&'a str>, &'a str)> {
    let mut clean_lines = clean.lines().peekable();
    let mut prev = None;
    let mut out = Vec::new();
    for line in dirty.lines() {
        if clean_lines.peek() == Some(&line) {
            clean_lines.next();
            prev = Some(line);
        } else {
            out.push((prev, line));
        }
    }
    assert!(clean_lines.next().is_none(), "clean lines missing");
    out
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    *map.entry(key.to_owned()).or_default() += 1;
}

#[tokio::test]
async fn dirty_counts_match_what_the_files_contain() {
    let clean_opts = opts(2_500);
    let o = SynthOptions {
        dirty_rate: 0.08,
        ..clean_opts.clone()
    };
    let (_, clean) = run(&clean_opts).await;
    let (summary, dirty) = run(&o).await;
    let (start, end) = window(&o);
    let known: HashSet<String> = (1..=o.customers).map(|n| format!("C{n:07}")).collect();
    let mut found: BTreeMap<String, u64> = BTreeMap::new();

    // line counts: header + clean + injected
    for (name, stem, header) in [
        ("customers.csv", "customers", 1),
        ("orders.csv", "orders", 1),
        ("support_tickets.ndjson", "support_tickets", 0),
        ("contacts.csv", "contacts", 1),
    ] {
        let injected: u64 = summary
            .dirty
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{stem}.")))
            .map(|(_, v)| v)
            .sum();
        let clean_rows = match stem {
            "customers" => summary.customers,
            "orders" => summary.orders,
            "support_tickets" => summary.support_tickets,
            _ => summary.contacts,
        };
        assert!(injected > 0, "{name}: nothing injected");
        assert_eq!(
            text(&dirty, name).lines().count() as u64,
            header + clean_rows + injected,
            "{name}"
        );
    }

    let date_kind = |s: &str| match secs(s) {
        None => "unparseable_date",
        Some(t) if !(start..end).contains(&t) => "out_of_range_date",
        Some(_) => "",
    };

    // customers.csv
    let clean_ids: HashSet<&str> = text(&clean, "customers.csv")
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    for (prev, line) in injected_lines(text(&clean, "customers.csv"), text(&dirty, "customers.csv"))
    {
        let f: Vec<&str> = line.split(',').collect();
        let kind = if line.contains('"') {
            "unterminated_quote"
        } else if f.len() != 7 {
            "wrong_column_count"
        } else if prev == Some(line) {
            "exact_duplicate"
        } else if clean_ids.contains(f[0]) {
            "duplicate_key"
        } else {
            date_kind(f[1])
        };
        bump(&mut found, &format!("customers.{kind}"));
    }

    // orders.csv
    let clean_orders: HashSet<&str> = text(&clean, "orders.csv")
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    for (prev, line) in injected_lines(text(&clean, "orders.csv"), text(&dirty, "orders.csv")) {
        let f: Vec<&str> = line.split(',').collect();
        let kind = if line.contains('"') {
            "unterminated_quote"
        } else if f.len() != 10 {
            "wrong_column_count"
        } else if prev == Some(line) {
            "exact_duplicate"
        } else if clean_orders.contains(f[0]) {
            "duplicate_key"
        } else if !known.contains(f[1]) {
            "unknown_customer"
        } else if f[4].starts_with('-') {
            "negative_amount"
        } else {
            date_kind(f[2])
        };
        bump(&mut found, &format!("orders.{kind}"));
    }

    // support_tickets.ndjson
    let clean_tickets: HashSet<String> = text(&clean, "support_tickets.ndjson")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["ticket_id"].as_str().map(str::to_owned))
        .collect();
    for (prev, line) in injected_lines(
        text(&clean, "support_tickets.ndjson"),
        text(&dirty, "support_tickets.ndjson"),
    ) {
        let kind = match serde_json::from_str::<serde_json::Value>(line) {
            Err(_) => "broken_json",
            Ok(_) if prev == Some(line) => "exact_duplicate",
            Ok(v) if clean_tickets.contains(v["ticket_id"].as_str().unwrap_or_default()) => {
                "duplicate_key"
            }
            Ok(v) if !known.contains(v["customer_id"].as_str().unwrap_or_default()) => {
                "unknown_customer"
            }
            Ok(v) if matches!(v["csat_score"].as_u64(), Some(0 | 6..)) => "csat_out_of_range",
            Ok(v) => {
                let opened = v["opened_at"].as_str().unwrap_or_default();
                match date_kind(opened) {
                    "" => {
                        let r = v["resolved_at"].as_str().and_then(secs);
                        assert!(r < secs(opened), "no defect found in {line}");
                        "resolved_before_opened"
                    }
                    k => k,
                }
            }
        };
        bump(&mut found, &format!("support_tickets.{kind}"));
    }

    // contacts.csv
    for (prev, line) in injected_lines(text(&clean, "contacts.csv"), text(&dirty, "contacts.csv")) {
        let f: Vec<&str> = line.split(',').collect();
        let kind = if line.contains('"') {
            "unterminated_quote"
        } else if f.len() != 3 {
            "wrong_column_count"
        } else if prev == Some(line) {
            "exact_duplicate"
        } else if !known.contains(f[0]) {
            "unknown_customer"
        } else {
            date_kind(f[2])
        };
        bump(&mut found, &format!("contacts.{kind}"));
    }

    // engagement_events
    let ce = events(&clean);
    let de = events(&dirty);
    let clean_ids: HashSet<&str> = ce.iter().map(|e| e.id.as_str()).collect();
    let mut ci = ce.iter().peekable();
    let mut prev: Option<&EventRow> = None;
    for e in &de {
        if ci.peek() == Some(&e) {
            ci.next();
            prev = Some(e);
            continue;
        }
        let kind = if prev == Some(e) {
            "exact_duplicate"
        } else if clean_ids.contains(e.id.as_str()) {
            "duplicate_key"
        } else if !known.contains(&e.customer) {
            "unknown_customer"
        } else {
            let s = e.micros.div_euclid(1_000_000);
            assert!(!(start..end).contains(&s), "no defect found in {e:?}");
            "out_of_range_date"
        };
        bump(&mut found, &format!("engagement_events.{kind}"));
    }

    assert_eq!(found, summary.dirty);
    // every kind shows up at this rate
    for key in [
        "customers.unterminated_quote",
        "orders.negative_amount",
        "orders.unterminated_quote",
        "support_tickets.csat_out_of_range",
        "support_tickets.resolved_before_opened",
        "support_tickets.broken_json",
        "engagement_events.duplicate_key",
        "contacts.wrong_column_count",
    ] {
        assert!(summary.dirty.contains_key(key), "{key} missing");
    }
    // about dirty_rate of the rows of each file
    let orders_injected: u64 = summary
        .dirty
        .iter()
        .filter(|(k, _)| k.starts_with("orders."))
        .map(|(_, v)| v)
        .sum();
    let rate = orders_injected as f64 / summary.orders as f64;
    assert!((0.06..0.10).contains(&rate), "orders dirty rate {rate}");
}

// ---------------------------------------------------------------------------------------
// Behaviour
// ---------------------------------------------------------------------------------------

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

#[derive(Debug, Default)]
struct Latent {
    stype: String,
    ambassador: bool,
    bad_first: bool,
    death: Option<i64>,
}

#[tokio::test]
async fn behaviour_follows_the_latent_variables() {
    let o = SynthOptions {
        write_truth: true,
        ..opts(5_000)
    };
    let (summary, files) = run(&o).await;
    let (_, end) = window(&o);
    let truth: HashMap<String, Latent> = rows(text(&files, "_truth/customers.csv"))
        .into_iter()
        .map(|r| {
            (
                r[0].to_owned(),
                Latent {
                    stype: r[1].to_owned(),
                    death: secs(r[4]),
                    ambassador: r[5] == "true",
                    bad_first: r[6] == "true",
                },
            )
        })
        .collect();
    let ty = |c: &str| truth.get(c).map_or("", |l| l.stype.as_str());
    let signup: HashMap<String, i64> = rows(text(&files, "customers.csv"))
        .into_iter()
        .map(|r| (r[0].to_owned(), secs(r[1]).unwrap_or_default()))
        .collect();

    // orders per customer
    let mut orders: HashMap<&str, Vec<(i64, bool)>> = HashMap::new();
    let (mut disc, mut total): (HashMap<&str, f64>, HashMap<&str, f64>) = Default::default();
    let mut weekday = [0u32; 7];
    let (mut peak, mut rest) = (0u32, 0u32);
    for r in rows(text(&files, "orders.csv")) {
        let s = secs(r[2]).unwrap_or_default();
        let discounted = r[5] != "0.00";
        orders.entry(r[1]).or_default().push((s, discounted));
        *total.entry(ty(r[1])).or_default() += 1.0;
        if discounted {
            *disc.entry(ty(r[1])).or_default() += 1.0;
        }
        let dt = DateTime::from_timestamp(s, 0).unwrap_or_default();
        weekday[chrono::Datelike::weekday(&dt).num_days_from_monday() as usize] += 1;
        // 31 days of year-end peak vs the 31 days a month before (the base grows slowly)
        let day = dt.date_naive();
        if (ymd(2025, 11, 20)..ymd(2025, 12, 21)).contains(&day) {
            peak += 1;
        } else if (ymd(2025, 10, 10)..ymd(2025, 11, 10)).contains(&day) {
            rest += 1;
        }
    }
    let share =
        |t: &str| disc.get(t).copied().unwrap_or(0.0) / total.get(t).copied().unwrap_or(1.0);
    let (dt, dr) = (share("transactional"), share("relational"));
    assert!(dt > 3.0 * dr, "discount share T {dt:.3} vs R {dr:.3}");

    // prospects and ambassadors
    let prospects = 1.0 - orders.len() as f64 / o.customers as f64;
    assert!(
        (0.18..0.28).contains(&prospects),
        "prospect share {prospects:.3}"
    );
    let ambassadors = truth.values().filter(|l| l.ambassador).count() as f64 / o.customers as f64;
    assert!(
        (0.025..0.06).contains(&ambassadors),
        "ambassador share {ambassadors:.3}"
    );

    // the first order decides
    let second = |bad: bool| {
        let (mut n, mut k) = (0.0, 0.0);
        for (c, os) in &orders {
            if truth.get(*c).is_some_and(|l| l.bad_first == bad) && os[0].0 < end - 90 * 86_400 {
                n += 1.0;
                if os.len() > 1 {
                    k += 1.0;
                }
            }
        }
        k / n
    };
    let (good, bad) = (second(false), second(true));
    assert!(
        bad < 0.6 * good,
        "second-order rate bad {bad:.3} vs good {good:.3}"
    );

    // seasonality: weekend uplift; late Nov–mid Dec busier per day than March/October
    let weekend = f64::from(weekday[5] + weekday[6]) / 2.0;
    let weekdays = f64::from(weekday[..5].iter().sum::<u32>()) / 5.0;
    assert!(
        weekend > 1.15 * weekdays,
        "weekend {weekend} vs weekday {weekdays}"
    );
    assert!(f64::from(peak) > 1.3 * f64::from(rest), "{peak} vs {rest}");

    // engagement by type, and around dropout
    let ev = events(&files);
    let mut opens: HashMap<&str, f64> = HashMap::new();
    let mut count_type: HashMap<&str, f64> = HashMap::new();
    for l in truth.values() {
        *count_type.entry(l.stype.as_str()).or_default() += 1.0;
    }
    let (mut before, mut after, mut unsub_near, mut unsub_all) = (0.0, 0.0, 0.0, 0.0);
    let (mut amb_promo, mut other_promo) = (0.0, 0.0);
    for e in &ev {
        let l = truth.get(&e.customer);
        if e.kind == "email_open" {
            *opens.entry(ty(&e.customer)).or_default() += 1.0;
        }
        if e.kind == "review" || e.kind == "referral" {
            if l.is_some_and(|l| l.ambassador) {
                amb_promo += 1.0;
            } else {
                other_promo += 1.0;
            }
        }
        let Some(death) = l.and_then(|l| l.death) else {
            continue;
        };
        let s = e.micros / 1_000_000;
        // activity per day in the 30 days after dropout vs 60-120 days before it, for
        // customers who had signed up by then
        let signed_up = signup.get(e.customer.as_str()).copied().unwrap_or(i64::MAX);
        if death + 30 * 86_400 < end && death - 120 * 86_400 >= signed_up {
            if (death..death + 30 * 86_400).contains(&s) {
                after += 1.0 / 30.0;
            } else if (death - 120 * 86_400..death - 60 * 86_400).contains(&s) {
                before += 1.0 / 60.0;
            }
        }
        if e.kind == "unsubscribe" {
            unsub_all += 1.0;
            if (s - death).abs() < 30 * 86_400 {
                unsub_near += 1.0;
            }
        }
    }
    let per = |m: &HashMap<&str, f64>, t: &str| m.get(t).copied().unwrap_or(0.0) / count_type[t];
    let (ot, or) = (per(&opens, "transactional"), per(&opens, "relational"));
    assert!(
        or > 2.0 * ot,
        "email opens per customer R {or:.2} vs T {ot:.2}"
    );
    assert!(
        after < 0.4 * before,
        "activity after dropout {after:.1} vs before {before:.1}"
    );
    assert!(
        unsub_near > 0.3 * unsub_all,
        "{unsub_near} of {unsub_all} unsubscribes near dropout"
    );
    let n_amb = truth.values().filter(|l| l.ambassador).count() as f64;
    assert!(
        amb_promo / n_amb > 5.0 * other_promo / (o.customers as f64 - n_amb),
        "ambassador reviews/referrals"
    );

    // transactional shoppers answer offers: their order rate in the week after an
    // exclusive offer is well above the week before
    let (mut wk_after, mut wk_before) = (0.0, 0.0);
    for r in rows(text(&files, "contacts.csv")) {
        if r[1] != "exclusive_offer" || ty(r[0]) != "transactional" {
            continue;
        }
        let c = secs(r[2]).unwrap_or_default();
        for &(s, _) in orders.get(r[0]).map_or(&[][..], Vec::as_slice) {
            if (c..c + 7 * 86_400).contains(&s) {
                wk_after += 1.0;
            } else if (c - 7 * 86_400..c).contains(&s) {
                wk_before += 1.0;
            }
        }
    }
    assert!(
        wk_after > 1.5 * wk_before,
        "orders after offers {wk_after} vs before {wk_before}"
    );

    // support experience drives churn: dropout within 60 days of a ticket with low CSAT
    // is more common than after a ticket with a good score
    let (mut low, mut low_dead, mut high, mut high_dead) = (0.0, 0.0, 0.0, 0.0);
    for line in text(&files, "support_tickets.ndjson").lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let Some(csat) = v["csat_score"].as_u64() else {
            continue;
        };
        let c = v["customer_id"].as_str().unwrap_or_default();
        let opened = v["opened_at"].as_str().and_then(secs).unwrap_or_default();
        if opened > end - 60 * 86_400 {
            continue;
        }
        let dead = truth
            .get(c)
            .and_then(|l| l.death)
            .is_some_and(|d| (opened..opened + 60 * 86_400).contains(&d));
        if csat <= 2 {
            low += 1.0;
            low_dead += f64::from(u8::from(dead));
        } else if csat >= 4 {
            high += 1.0;
            high_dead += f64::from(u8::from(dead));
        }
    }
    assert!(
        low_dead / low > 2.0 * high_dead / high,
        "dropout after low CSAT {:.3} vs high {:.3}",
        low_dead / low,
        high_dead / high
    );
    assert!(summary.support_tickets > 0);
}

#[test]
fn generate_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let prefix = Path::from("x");
    let o = opts(1);
    let fut = generate(store, &prefix, &o);
    assert_send(&fut);
}
