//! Bad input, one defect at a time: every case is a small valid shop plus one defect, run
//! through `retain_pipeline::ingest` on its own warehouse. The whole catalogue is one
//! snapshot (`snapshots/it__bad_input__catalogue.snap`), one line per case:
//!
//! `case | outcome | accounting`
//!
//! - outcome of a row-level defect: `quarantine <reason> <column> <file> line <n>` for
//!   every quarantined row (`row <n>` for Parquet, `-` when the reason concerns no single
//!   column), `duplicate ×<n> (staged once)` for exact copies, `ok` when nothing was
//!   rejected; then `staged +K`/`staged -K` when the staged keys differ from the base
//!   shop's;
//! - outcome of a file-level defect: `error: <message>` (the message names the file);
//! - accounting: `read = staged + quarantined + duplicates` of the table the case is
//!   about, or `nothing published` after an error.
//!
//! Besides the snapshot, every case checks: the accounting adds up for every source and
//! every file, the other (clean) sources reject nothing, the quarantine's reasons match
//! the report, a quarantined row's key is not staged (a `duplicate_key` row's key is
//! staged once, from the other version), and an error publishes nothing and leaves no
//! file under `_tmp/`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{files_below, published_file};

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use retain_config::PipelineConfig;
use retain_pipeline::{Error, IngestReport, Settings};

const AS_OF: NaiveDate = match NaiveDate::from_ymd_opt(2025, 6, 1) {
    Some(d) => d,
    None => panic!("invalid as-of date"),
};

// The base shop. Line 1 is the header, so C1/O1 are on line 2; T1 is line 1 of the
// NDJSON file and E1 row 1 of the Parquet file.
const CUSTOMERS: &str = "\
customer_id,signup_at,country,birth_date,email_opt_in,sms_opt_in,loyalty_member
C1,2025-01-01T10:00:00Z,DE,1990-05-01,true,false,false
C2,2025-02-01T10:00:00Z,FR,,false,false,true
C3,2025-03-01T10:00:00Z,NL,1985-12-24,true,true,false
";
const ORDERS_HEADER: &str = "order_id,customer_id,ordered_at,status,gross_amount,discount_amount,currency,channel,category,item_count";
const ORDERS: &str = "\
order_id,customer_id,ordered_at,status,gross_amount,discount_amount,currency,channel,category,item_count
O1,C1,2025-03-01T12:00:00Z,completed,100.00,10.00,EUR,web,shoes,2
O2,C2,2025-03-02T12:00:00Z,returned,20.00,0,EUR,app,bags,1
O3,C3,2025-04-01T12:00:00Z,completed,35.50,5.00,EUR,web,shoes,1
";
const TICKETS: &str = r#"{"ticket_id":"T1","customer_id":"C1","opened_at":"2025-03-05T09:00:00Z","resolved_at":"2025-03-06T09:00:00Z","channel":"email","topic":"delivery","priority":"low","csat_score":4,"reopened_count":0}
{"ticket_id":"T2","customer_id":"C2","opened_at":"2025-03-07T09:00:00Z","resolved_at":null,"channel":"chat","topic":"refund","priority":"high","csat_score":null,"reopened_count":1}
"#;
const CONTACTS: &str = "\
customer_id,action,contacted_at
C1,win_back,2025-04-01T08:00:00Z
C2,welcome,2025-02-02T08:00:00Z
";

/// An engagement event for the Parquet files.
#[derive(Clone, Copy)]
struct Event(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<f64>,
);

const EVENTS: [Event; 2] = [
    Event("E1", "C1", "2025-03-10T08:00:00Z", "email_open", None),
    Event(
        "E2",
        "C2",
        "2025-03-11T09:30:00Z",
        "web_session",
        Some(12.5),
    ),
];

/// Engagement events as Parquet, with the types the synthetic shop writes.
fn events_parquet(events: &[Event]) -> Vec<u8> {
    let micros = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .expect("fixture timestamp")
            .timestamp_micros()
    };
    let strings = |f: fn(&Event) -> &'static str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(events.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        strings(|e| e.0),
        strings(|e| e.1),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| micros(e.2)))
                .with_timezone("UTC"),
        ),
        strings(|e| e.3),
        strings(|e| if e.3 == "web_session" { "web" } else { "email" }),
        Arc::new(Float64Array::from_iter(events.iter().map(|e| e.4))),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "occurred_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
    ]));
    parquet_bytes(RecordBatch::try_new(schema, columns).expect("events batch"))
}

fn parquet_bytes(batch: RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).expect("parquet writer");
    w.write(&batch).expect("write parquet");
    w.close().expect("close parquet");
    out
}

/// Text encoded as Latin-1 (every character below U+0100), as old exports are.
fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character"))
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// A zstd frame (RFC 8878) of raw, uncompressed blocks: valid for every zstd decoder and
/// small enough to write here instead of adding a compressor to the test's dependencies.
fn zstd_stored(data: &[u8]) -> Vec<u8> {
    let mut out = 0xFD2F_B528u32.to_le_bytes().to_vec();
    // Frame header: single segment, 4-byte content size, no checksum, no dictionary.
    out.push(0b1010_0000);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    let blocks: Vec<&[u8]> = data.chunks(128 * 1024).collect();
    for (i, block) in blocks.iter().enumerate() {
        let last = u32::from(i + 1 == blocks.len());
        // Block header: last-block bit, type 0 (raw), size.
        let header = last | ((block.len() as u32) << 3);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(block);
    }
    out
}

/// The raw files of one case and the pipeline that reads them.
#[derive(Clone)]
struct Shop {
    /// Files under `raw/`.
    files: BTreeMap<String, Vec<u8>>,
    /// `[sources.<table>]` bodies.
    sources: BTreeMap<&'static str, String>,
    /// `[quality]` body.
    quality: String,
}

impl Shop {
    /// Customers and orders (orders are required; customers make references checked).
    fn base() -> Self {
        let mut s = Self {
            files: BTreeMap::new(),
            sources: BTreeMap::new(),
            quality: "max-quarantine-ratio = 1.0\n".into(),
        };
        s.files.insert("customers.csv".into(), CUSTOMERS.into());
        s.files.insert("orders.csv".into(), ORDERS.into());
        s.sources.insert(
            "customers",
            "path = \"customers.csv\"\nformat = \"csv\"\n".into(),
        );
        s.sources
            .insert("orders", "path = \"orders.csv\"\nformat = \"csv\"\n".into());
        s
    }

    fn tickets(mut self) -> Self {
        self.files
            .insert("support_tickets.ndjson".into(), TICKETS.into());
        self.sources.insert(
            "support_tickets",
            "path = \"support_tickets.ndjson\"\nformat = \"ndjson\"\n".into(),
        );
        self
    }

    fn events(mut self) -> Self {
        self.files.insert(
            "engagement_events/part-1.parquet".into(),
            events_parquet(&EVENTS),
        );
        self.sources.insert(
            "engagement_events",
            "path = \"engagement_events/\"\nformat = \"parquet\"\n".into(),
        );
        self
    }

    fn contacts(mut self) -> Self {
        self.files.insert("contacts.csv".into(), CONTACTS.into());
        self.sources.insert(
            "contacts",
            "path = \"contacts.csv\"\nformat = \"csv\"\n".into(),
        );
        self
    }

    /// Append one line (and a line break) to a text file.
    fn append(mut self, file: &str, line: impl AsRef<[u8]>) -> Self {
        let f = self.files.get_mut(file).expect("file of the base shop");
        f.extend_from_slice(line.as_ref());
        f.push(b'\n');
        self
    }

    /// Replace text in a file.
    fn edit(mut self, file: &str, from: &str, to: &str) -> Self {
        let f = self.files.get_mut(file).expect("file of the base shop");
        let text = String::from_utf8(f.clone()).expect("text file");
        assert!(text.contains(from), "`{from}` is not in {file}");
        *f = text.replacen(from, to, 1).into_bytes();
        self
    }

    fn file(mut self, name: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.files.insert(name.into(), bytes.into());
        self
    }

    fn remove(mut self, name: &str) -> Self {
        self.files.remove(name).expect("file of the base shop");
        self
    }

    /// Replace a source's settings.
    fn source(mut self, table: &'static str, toml: &str) -> Self {
        self.sources.insert(table, toml.into());
        self
    }

    /// Add a line to a source's settings.
    fn set(mut self, table: &'static str, line: &str) -> Self {
        let s = self.sources.get_mut(table).expect("configured source");
        s.push_str(line);
        s.push('\n');
        self
    }

    fn quality(mut self, toml: &str) -> Self {
        self.quality = toml.into();
        self
    }

    fn pipeline(&self) -> String {
        // One partition: the inputs are tiny, and planning for more only costs time.
        let mut p = String::from(
            "name = \"bad-input\"\nwarehouse = \"unused\"\n[engine]\ntarget-partitions = 1\n",
        );
        for (table, body) in &self.sources {
            p.push_str(&format!("\n[sources.{table}]\n{body}"));
        }
        p.push_str("\n[models]\nchurn = \"churn\"\nrepeat_purchase = \"repeat_purchase\"\n");
        p.push_str(&format!("\n[quality]\n{}", self.quality));
        p
    }
}

struct Case {
    name: &'static str,
    /// The source the case is about.
    table: &'static str,
    shop: Shop,
}

/// Key of a staged or quarantined row.
fn key_columns(table: &str) -> &'static [&'static str] {
    match table {
        "customers" => &["customer_id"],
        "orders" => &["order_id"],
        "support_tickets" => &["ticket_id"],
        "engagement_events" => &["event_id"],
        "contacts" => &["customer_id", "action", "contacted_at"],
        other => panic!("no key for {other}"),
    }
}

/// Keys the base shop stages for a table.
fn base_keys(table: &str) -> BTreeSet<String> {
    let keys: &[&str] = match table {
        "customers" => &["C1", "C2", "C3"],
        "orders" => &["O1", "O2", "O3"],
        "support_tickets" => &["T1", "T2"],
        "engagement_events" => &["E1", "E2"],
        "contacts" => &[
            "C1/win_back/2025-04-01T08:00:00Z",
            "C2/welcome/2025-02-02T08:00:00Z",
        ],
        other => panic!("no base for {other}"),
    };
    keys.iter().map(|k| (*k).to_owned()).collect()
}

/// Rows of a Parquet file as text (`None` for null), by column name.
fn read_rows(path: &Path) -> Vec<BTreeMap<String, Option<String>>> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet footer")
        .build()
        .expect("parquet reader");
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.expect("parquet batch");
        for i in 0..batch.num_rows() {
            let row = batch
                .schema()
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| {
                    let v = (!c.is_null(i))
                        .then(|| array_value_to_string(c, i).expect("displayable value"));
                    (f.name().clone(), v)
                })
                .collect();
            rows.push(row);
        }
    }
    rows
}

fn key_of(table: &str, row: &BTreeMap<String, Option<String>>) -> Option<String> {
    let parts: Vec<String> = key_columns(table)
        .iter()
        .map(|c| row[*c].clone().unwrap_or_default())
        .collect();
    parts.iter().any(|p| !p.is_empty()).then(|| parts.join("/"))
}

fn check_accounting(r: &IngestReport) {
    assert_eq!(
        r.read,
        r.staged + r.quarantined + r.duplicates,
        "{}: read = staged + quarantined + duplicates",
        r.table
    );
    for f in &r.files {
        assert_eq!(
            f.read,
            f.staged + f.quarantined + f.duplicates,
            "{}: accounting of {}",
            r.table,
            f.file
        );
    }
    let sum = |g: fn(&retain_pipeline::FileAccount) -> u64| r.files.iter().map(g).sum::<u64>();
    assert_eq!(
        (
            sum(|f| f.read),
            sum(|f| f.staged),
            sum(|f| f.quarantined),
            sum(|f| f.duplicates)
        ),
        (r.read, r.staged, r.quarantined, r.duplicates),
        "{}: the files add up to the source",
        r.table
    );
    assert_eq!(
        r.reasons.values().sum::<u64>(),
        r.quarantined,
        "{}: reasons add up",
        r.table
    );
}

/// Run one case; returns its snapshot line.
async fn run_case(case: &Case) -> String {
    let tmp = tempfile::tempdir().expect("temp dir");
    let wh: PathBuf = tmp.path().to_path_buf();
    for (name, bytes) in &case.shop.files {
        let path = wh.join("raw").join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write fixture");
    }
    let pipeline = PipelineConfig::from_toml(&case.shop.pipeline(), case.name)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let settings = Settings::resolve(pipeline, Some(wh.display().to_string()));
    let result = retain_pipeline::ingest(&settings, AS_OF).await;
    let name = case.name;
    // The command's run record (the only one: each case has its own warehouse).
    let records: Vec<String> = files_below(&wh)
        .into_iter()
        .filter(|f| f.starts_with("runs/") && f.ends_with(".json"))
        .collect();
    assert_eq!(records.len(), 1, "{name}: one run record, got {records:?}");
    let record = records[0].clone();
    let report = record.replace(".json", ".html");
    let reports = match result {
        Err(e) => {
            // Only the run's own record and its report, which say it failed and why.
            let published: Vec<String> = files_below(&wh)
                .into_iter()
                .filter(|f| !f.starts_with("raw/") && *f != record && *f != report)
                .collect();
            assert!(
                published.is_empty(),
                "{name}: an error must publish nothing and leave nothing aside: {published:?}"
            );
            let r: serde_json::Value =
                serde_json::from_slice(&std::fs::read(wh.join(&record)).expect("run record"))
                    .expect("run record is JSON");
            assert_eq!(r["status"], "failed", "{name}");
            assert!(r["error"].as_str().is_some_and(|m| !m.is_empty()), "{name}");
            let page = std::fs::read_to_string(wh.join(&report)).expect("the run report");
            assert!(page.contains("<td>status</td><td>failed</td>"), "{name}");
            if let Error::Source {
                table, location, ..
            } = &e
            {
                assert_eq!(table, case.table, "{name}: the error names the source");
                assert!(
                    location.contains("/raw/"),
                    "{name}: the error names the file: {location}"
                );
            }
            let message = e
                .to_string()
                .replace(&wh.display().to_string(), "<wh>")
                .replace('\n', " ");
            return format!("{name} | error: {message} | nothing published");
        }
        Ok(reports) => reports,
    };
    for r in &reports {
        check_accounting(r);
        for kind in ["staged", "quarantine"] {
            let manifest = wh.join(kind).join(&r.table).join("_manifest.json");
            assert!(
                manifest.exists(),
                "{name}: {} published",
                manifest.display()
            );
        }
        if r.table != case.table {
            assert_eq!(
                (r.quarantined, r.duplicates),
                (0, 0),
                "{name}: the clean source {} rejects nothing: {:?}",
                r.table,
                r.reasons
            );
        }
    }
    assert!(
        files_below(&wh.join("_tmp")).is_empty(),
        "{name}: nothing is left under _tmp/"
    );
    let Some(report) = reports.iter().find(|r| r.table == case.table) else {
        assert!(
            !wh.join("staged").join(case.table).exists(),
            "{name}: no report, nothing published"
        );
        return format!(
            "{name} | ok: empty table (source skipped, no report, staged/{} not published) | -",
            case.table
        );
    };

    let table = case.table;
    let staged_rows = read_rows(&published_file(&wh.join(format!("staged/{table}"))));
    let quarantined = read_rows(&published_file(&wh.join(format!("quarantine/{table}"))));
    assert_eq!(
        staged_rows.len() as u64,
        report.staged,
        "{name}: staged rows"
    );
    assert_eq!(
        quarantined.len() as u64,
        report.quarantined,
        "{name}: quarantined rows"
    );
    let staged: BTreeSet<String> = staged_rows
        .iter()
        .map(|r| key_of(table, r).expect("staged rows have a key"))
        .collect();
    assert_eq!(
        staged.len(),
        staged_rows.len(),
        "{name}: staged keys are unique"
    );

    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut lines: Vec<(String, i64, String)> = Vec::new();
    for q in &quarantined {
        let text = |c: &str| q[c].clone().unwrap_or_else(|| "-".into());
        let reason = text("_reject_reason");
        *reasons.entry(reason.clone()).or_default() += 1;
        if let Some(key) = key_of(table, q) {
            if reason == "duplicate_key" {
                assert!(
                    staged.contains(&key),
                    "{name}: the other version of {key} is staged"
                );
            } else {
                assert!(
                    !staged.contains(&key),
                    "{name}: quarantined {key} is not staged"
                );
            }
        }
        let url = text("_source_file");
        let file = url
            .split_once("/raw/")
            .map_or(url.as_str(), |(_, f)| f)
            .to_owned();
        let row: i64 = text("_source_row").parse().expect("source row");
        let unit = if file.ends_with(".parquet") {
            "row"
        } else {
            "line"
        };
        lines.push((
            file.clone(),
            row,
            format!(
                "quarantine {reason} {} {file} {unit} {row}",
                text("_reject_column")
            ),
        ));
    }
    assert_eq!(
        reasons, report.reasons,
        "{name}: quarantine matches the report"
    );
    lines.sort();
    let mut outcome: Vec<String> = lines.into_iter().map(|(_, _, l)| l).collect();
    if report.duplicates > 0 {
        outcome.push(format!("duplicate ×{} (staged once)", report.duplicates));
    }
    if outcome.is_empty() {
        outcome.push("ok".into());
    }
    let base = base_keys(table);
    let diff: Vec<String> = staged
        .difference(&base)
        .map(|k| format!("+{k}"))
        .chain(base.difference(&staged).map(|k| format!("-{k}")))
        .collect();
    if !diff.is_empty() {
        outcome.push(format!("staged {}", diff.join(" ")));
    }
    format!(
        "{name} | {} | {} read = {} staged + {} quarantined + {} duplicates",
        outcome.join("; "),
        report.read,
        report.staged,
        report.quarantined,
        report.duplicates
    )
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let mut case = |name: &'static str, table: &'static str, shop: Shop| {
        v.push(Case { name, table, shop });
    };
    let base = Shop::base;
    let o = "orders.csv";
    let c = "customers.csv";

    // --- CSV structure ---------------------------------------------------------------
    case("orders: the base shop", "orders", base());
    case(
        "orders: quote never closed mid-file (swallows the rest)",
        "orders",
        base().edit(o, "O2,C2,2025", "O2,C2,\"2025"),
    );
    case(
        "orders: stray quotes inside a field mid-file",
        "orders",
        base().edit(o, "app,bags", "app,\"b\"ag\"s\""),
    );
    case(
        "orders: unterminated quote on the last line",
        "orders",
        base().append(
            o,
            "O4,\"C1,2025-03-03T12:00:00Z,completed,10.00,0,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: unterminated quote, no final line break",
        "orders",
        base().file(
            o,
            format!("{ORDERS}O4,\"C1,2025-03-03T12:00:00Z,completed,10.00,0,EUR,web,shoes,1"),
        ),
    );
    case(
        "orders: one field too many",
        "orders",
        base().append(
            o,
            "O4,C1,2025-03-03T12:00:00Z,completed,10.00,0,EUR,web,shoes,1,n/a",
        ),
    );
    case(
        "orders: one field too few",
        "orders",
        base().append(
            o,
            "O4,C1,2025-03-03T12:00:00Z,completed,10.00,0,EUR,web,shoes",
        ),
    );
    case(
        "orders: quoted fields with commas and escaped quotes",
        "orders",
        base().append(
            o,
            "\"O4\",C1,2025-03-03T12:00:00Z,completed,10.00,0,EUR,web,\"shoes, \"\"boots\"\"\",1",
        ),
    );
    case(
        "customers: UTF-8 BOM before the header",
        "customers",
        base().file(c, format!("\u{feff}{CUSTOMERS}")),
    );
    case(
        "orders: Latin-1 byte in a field",
        "orders",
        base().append(
            o,
            latin1(
                "O4,C1,2025-03-03T12:00:00Z,completed,10.00,0,EUR,web,chaussures d\u{e9}t\u{e9},1",
            ),
        ),
    );
    case(
        "orders: header only",
        "orders",
        base().file(o, format!("{ORDERS_HEADER}\n")),
    );
    case("orders: empty file (0 bytes)", "orders", base().file(o, ""));
    case(
        "orders: missing column `status`",
        "orders",
        base().file(
            o,
            "order_id,customer_id,ordered_at,gross_amount,discount_amount,currency,channel,category,item_count
O1,C1,2025-03-01T12:00:00Z,100.00,10.00,EUR,web,shoes,2
",
        ),
    );
    case(
        "orders: extra unknown column",
        "orders",
        base().file(
            o,
            ORDERS
                .replace("item_count\n", "item_count,coupon\n")
                .replace(",2\n", ",2,SPRING\n")
                .replace(",1\n", ",1,\n"),
        ),
    );
    case(
        "orders: renamed column `order_id` -> `order_ref`",
        "orders",
        base().edit(o, "order_id,", "order_ref,"),
    );
    case(
        "orders: columns in another order",
        "orders",
        base().file(
            o,
            "item_count,category,channel,currency,discount_amount,gross_amount,status,ordered_at,customer_id,order_id
2,shoes,web,EUR,10.00,100.00,completed,2025-03-01T12:00:00Z,C1,O1
1,bags,app,EUR,0,20.00,returned,2025-03-02T12:00:00Z,C2,O2
1,shoes,web,EUR,5.00,35.50,completed,2025-04-01T12:00:00Z,C3,O3
",
        ),
    );
    case(
        "orders: whitespace around every field",
        "orders",
        base().append(
            o,
            "  O4 , C1 , 2025-03-03T12:00:00Z , Completed , 10.00 , 0 , eur , Web , Shoes , 1 ",
        ),
    );
    case(
        "orders: empty lines, then a bad row",
        "orders",
        base().append(
            o,
            "\n\nO4,C1,2025-03-03T12:00:00Z,completed,-1.00,0,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: CRLF line ends, then a bad row",
        "orders",
        base().file(o, ORDERS.replace('\n', "\r\n")).append(
            o,
            "O4,C1,2025-03-03T12:00:00Z,lost,1.00,0,EUR,web,shoes,1\r",
        ),
    );
    case(
        "orders: quoted line break in a field, then a bad row",
        "orders",
        base()
            .append(
                o,
                "O4,C1,2025-03-03T12:00:00Z,completed,10.00,0,EUR,web,\"shoes\nand boots\",1",
            )
            .append(o, "O5,C1,2025-03-04T12:00:00Z,lost,10.00,0,EUR,web,shoes,1"),
    );
    case(
        "orders: only blank lines",
        "orders",
        base().file(o, "\n\n\n"),
    );
    case(
        "orders: enormous field (70,000 bytes)",
        "orders",
        base().append(
            o,
            format!(
                "O4,C1,2025-03-03T12:00:00Z,completed,10.00,0,EUR,web,{},1",
                "x".repeat(70_000)
            ),
        ),
    );

    // --- values ----------------------------------------------------------------------
    case(
        "orders: empty order_id",
        "orders",
        base().append(
            o,
            ",C1,2025-03-03T12:00:00Z,completed,10.00,0,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: text in gross_amount",
        "orders",
        base().append(
            o,
            "O4,C1,2025-03-03T12:00:00Z,completed,ten,0,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: NaN amount",
        "orders",
        base().append(
            o,
            "O4,C1,2025-03-03T12:00:00Z,completed,NaN,0,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: inf amount",
        "orders",
        base().append(
            o,
            "O4,C1,2025-03-03T12:00:00Z,completed,inf,0,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: 1e300 amount",
        "orders",
        base().append(
            o,
            "O4,C1,2025-03-03T12:00:00Z,completed,1e300,0,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: negative amount",
        "orders",
        base().append(
            o,
            "O4,C1,2025-03-03T12:00:00Z,completed,-5.00,0,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: discount above gross",
        "orders",
        base().append(
            o,
            "O4,C1,2025-03-03T12:00:00Z,completed,10.00,12.00,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: item_count 0",
        "orders",
        base().append(
            o,
            "O4,C1,2025-03-03T12:00:00Z,completed,10.00,0,EUR,web,shoes,0",
        ),
    );
    case(
        "orders: unknown status",
        "orders",
        base().append(o, "O4,C1,2025-03-03T12:00:00Z,lost,10.00,0,EUR,web,shoes,1"),
    );
    case(
        "customers: bad boolean",
        "customers",
        base().append(c, "C4,2025-03-02T10:00:00Z,DE,,maybe,false,false"),
    );
    case(
        "customers: bad date of birth",
        "customers",
        base().append(c, "C4,2025-03-02T10:00:00Z,DE,1990-02-30,true,false,false"),
    );
    case(
        "customers: signup before [quality] min-date",
        "customers",
        base().append(c, "C4,1989-12-31T23:59:59Z,DE,,true,false,false"),
    );

    // --- dates -----------------------------------------------------------------------
    case(
        "orders: year 0001",
        "orders",
        base().append(
            o,
            "O4,C1,0001-01-01T00:00:00Z,completed,10.00,0,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: year 9999",
        "orders",
        base().append(
            o,
            "O4,C1,9999-12-31T23:59:59Z,completed,10.00,0,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: a day after the as-of (staged: no as-of in staging)",
        "orders",
        base().append(
            o,
            "O4,C1,2025-06-02T00:00:00Z,completed,10.00,0,EUR,web,shoes,1",
        ),
    );
    // The files are written now: a row dated two days later than that (past `[quality]
    // future-days = 1`) cannot have been exported with them.
    let in_two_days =
        (chrono::Utc::now() + chrono::TimeDelta::days(2)).format("%Y-%m-%dT%H:%M:%SZ");
    case(
        "orders: two days after the files were written",
        "orders",
        base().append(
            o,
            format!("O4,C1,{in_two_days},completed,10.00,0,EUR,web,shoes,1"),
        ),
    );
    case(
        "orders: ISO timestamp with an offset",
        "orders",
        base().append(
            o,
            "O4,C1,2025-03-03T12:00:00+02:00,completed,10.00,0,EUR,web,shoes,1",
        ),
    );
    case(
        "orders: 01/03/2025",
        "orders",
        base().append(o, "O4,C1,01/03/2025,completed,10.00,0,EUR,web,shoes,1"),
    );
    case(
        "orders: 01/03/2025 with timestamp-format = \"%d/%m/%Y\"",
        "orders",
        base()
            .append(o, "O4,C1,01/03/2025,completed,10.00,0,EUR,web,shoes,1")
            .set("orders", "timestamp-format = \"%d/%m/%Y\""),
    );
    case(
        "orders: 2025-02-30",
        "orders",
        base().append(
            o,
            "O4,C1,2025-02-30T12:00:00Z,completed,10.00,0,EUR,web,shoes,1",
        ),
    );

    // --- duplicates and references ---------------------------------------------------
    case(
        "orders: same order_id, conflicting values",
        "orders",
        base().append(
            o,
            "O1,C1,2025-03-01T12:00:00Z,completed,100.00,10.00,EUR,web,shoes,3",
        ),
    );
    case(
        "orders: exact duplicate",
        "orders",
        base().append(
            o,
            "O1,C1,2025-03-01T12:00:00Z,completed,100.00,10.00,EUR,web,shoes,2",
        ),
    );
    case(
        "customers: same customer_id, conflicting values (AT ranks first)",
        "customers",
        base().append(c, "C1,2025-01-01T10:00:00Z,AT,1990-05-01,true,false,false"),
    );
    case(
        "orders: unknown customer",
        "orders",
        base().append(
            o,
            "O4,C9,2025-03-03T12:00:00Z,completed,10.00,0,EUR,web,shoes,1",
        ),
    );
    case(
        "support_tickets: unknown customer",
        "support_tickets",
        base().tickets().append(
            "support_tickets.ndjson",
            r#"{"ticket_id":"T3","customer_id":"C9","opened_at":"2025-03-08T09:00:00Z","resolved_at":null,"channel":"chat","topic":"refund","priority":"low","csat_score":null,"reopened_count":0}"#,
        ),
    );
    case(
        "engagement_events: unknown customer",
        "engagement_events",
        base().events().file(
            "engagement_events/part-1.parquet",
            events_parquet(&[
                EVENTS[0],
                EVENTS[1],
                Event("E3", "C9", "2025-03-12T10:00:00Z", "email_open", None),
            ]),
        ),
    );
    case(
        "engagement_events: NaN value",
        "engagement_events",
        base().events().file(
            "engagement_events/part-1.parquet",
            events_parquet(&[
                EVENTS[0],
                EVENTS[1],
                Event(
                    "E3",
                    "C1",
                    "2025-03-12T10:00:00Z",
                    "web_session",
                    Some(f64::NAN),
                ),
            ]),
        ),
    );
    case(
        "contacts: unknown customer",
        "contacts",
        base()
            .contacts()
            .append("contacts.csv", "C9,win_back,2025-04-02T08:00:00Z"),
    );
    case(
        "contacts: exact duplicate",
        "contacts",
        base()
            .contacts()
            .append("contacts.csv", "C1,win_back,2025-04-01T08:00:00Z"),
    );

    // --- support tickets (NDJSON) ------------------------------------------------------
    let t = "support_tickets.ndjson";
    let ticket = |fields: &str| {
        format!(
            r#"{{"ticket_id":"T3","customer_id":"C1","channel":"chat","topic":"refund","priority":"low","reopened_count":0,{fields}}}"#
        )
    };
    case(
        "support_tickets: resolved before opened",
        "support_tickets",
        base().tickets().append(
            t,
            ticket(r#""opened_at":"2025-03-08T09:00:00Z","resolved_at":"2025-03-08T08:59:59Z","csat_score":3"#),
        ),
    );
    case(
        "support_tickets: CSAT 0",
        "support_tickets",
        base().tickets().append(
            t,
            ticket(r#""opened_at":"2025-03-08T09:00:00Z","resolved_at":"2025-03-09T09:00:00Z","csat_score":0"#),
        ),
    );
    case(
        "support_tickets: CSAT 7",
        "support_tickets",
        base().tickets().append(
            t,
            ticket(r#""opened_at":"2025-03-08T09:00:00Z","resolved_at":"2025-03-09T09:00:00Z","csat_score":"7""#),
        ),
    );
    case(
        "support_tickets: broken JSON line",
        "support_tickets",
        base().tickets().append(
            t,
            r#"{"ticket_id":"T3","customer_id":"C1","opened_at":"2025-03"#,
        ),
    );
    case(
        "support_tickets: a line that is an array",
        "support_tickets",
        base()
            .tickets()
            .append(t, r#"["T3","C1","2025-03-08T09:00:00Z"]"#),
    );
    case(
        "support_tickets: Latin-1 byte in a line",
        "support_tickets",
        base().tickets().append(
            t,
            latin1(
                &ticket(
                    r#""opened_at":"2025-03-08T09:00:00Z","resolved_at":null,"csat_score":null"#,
                )
                .replace("refund", "d\u{e9}lai"),
            ),
        ),
    );
    case(
        "support_tickets: exact duplicate",
        "support_tickets",
        base()
            .tickets()
            .append(t, TICKETS.lines().next().expect("T1")),
    );
    case(
        "support_tickets: blank lines, then a bad line",
        "support_tickets",
        base().tickets().append(t, "\n  \r").append(
            t,
            ticket(r#""opened_at":"2025-03-08T09:00:00Z","resolved_at":null,"csat_score":null"#)
                .replace(r#""customer_id":"C1""#, r#""customer_id":"C9""#),
        ),
    );
    case(
        "support_tickets: a JSON array on one line, not NDJSON",
        "support_tickets",
        base()
            .tickets()
            .file(t, format!("[{}]\n", TICKETS.trim_end().replace('\n', ","))),
    );
    case(
        "support_tickets: a pretty-printed JSON array",
        "support_tickets",
        base()
            .tickets()
            .file(t, "[\n  {\"ticket_id\": \"T1\"}\n]\n"),
    );

    // --- Parquet -----------------------------------------------------------------------
    // A second file whose occurred_at is text, not a timestamp.
    let text_times = {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "event_id",
                Arc::new(StringArray::from(vec!["E3"])) as ArrayRef,
            ),
            ("customer_id", Arc::new(StringArray::from(vec!["C1"]))),
            (
                "occurred_at",
                Arc::new(StringArray::from(vec!["2025-03-20T08:00:00Z"])),
            ),
            (
                "event_type",
                Arc::new(StringArray::from(vec!["email_open"])),
            ),
            ("channel", Arc::new(StringArray::from(vec!["email"]))),
            ("value", Arc::new(Float64Array::from(vec![None::<f64>]))),
        ])
        .expect("batch");
        parquet_bytes(batch)
    };
    case(
        "engagement_events: two Parquet files, different schemas",
        "engagement_events",
        base()
            .events()
            .file("engagement_events/part-2.parquet", text_times),
    );
    case(
        "engagement_events: corrupt Parquet footer",
        "engagement_events",
        base().events().file("engagement_events/part-1.parquet", {
            let mut b = events_parquet(&EVENTS);
            let n = b.len();
            // The file no longer ends in the `PAR1` magic.
            b[n - 4..].copy_from_slice(b"PARX");
            b
        }),
    );

    // --- compression and dialects -------------------------------------------------------
    case(
        "orders: valid gzip CSV",
        "orders",
        base()
            .remove(o)
            .file("orders.csv.gz", gzip(ORDERS.as_bytes()))
            .source("orders", "path = \"orders.csv.gz\"\n"),
    );
    case(
        "orders: truncated gzip CSV",
        "orders",
        base()
            .remove(o)
            .file("orders.csv.gz", {
                let g = gzip(ORDERS.as_bytes());
                g[..g.len() / 2].to_vec()
            })
            .source("orders", "path = \"orders.csv.gz\"\n"),
    );
    case(
        "orders: .gz file that is not gzip",
        "orders",
        base()
            .remove(o)
            .file("orders.csv.gz", ORDERS)
            .source("orders", "path = \"orders.csv.gz\"\n"),
    );
    case(
        "orders: valid zstd CSV",
        "orders",
        base()
            .remove(o)
            .file("orders.csv.zst", zstd_stored(ORDERS.as_bytes()))
            .source("orders", "path = \"orders.csv.zst\"\n"),
    );
    case(
        "orders: truncated zstd CSV",
        "orders",
        base()
            .remove(o)
            .file("orders.csv.zst", {
                let z = zstd_stored(ORDERS.as_bytes());
                z[..z.len() - 20].to_vec()
            })
            .source("orders", "path = \"orders.csv.zst\"\n"),
    );
    case(
        "orders: `;` delimiter with delimiter = \";\"",
        "orders",
        base()
            .file(o, ORDERS.replace(',', ";"))
            .set("orders", "delimiter = \";\""),
    );
    case(
        "orders: `;` delimiter, not configured",
        "orders",
        base().file(o, ORDERS.replace(',', ";")),
    );
    case(
        "orders: no header, header = false + columns",
        "orders",
        base()
            .file(o, ORDERS.split_once('\n').expect("header").1)
            .set("orders", "header = false")
            .set(
                "orders",
                &format!(
                    "columns = [{}]",
                    ORDERS_HEADER
                        .split(',')
                        .map(|c| format!("\"{c}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
    );
    case(
        "orders: second file of a folder lacks `status`",
        "orders",
        base()
            .remove(o)
            .file("orders/part-1.csv", ORDERS)
            .file(
                "orders/part-2.csv",
                "order_id,customer_id,ordered_at,gross_amount,discount_amount,currency,channel,category,item_count\nO4,C1,2025-03-03T12:00:00Z,1.00,0,EUR,web,shoes,1\n",
            )
            .source("orders", "path = \"orders/\"\nformat = \"csv\"\n"),
    );
    case(
        "orders: bad row in the second file of a folder",
        "orders",
        base()
            .remove(o)
            .file("orders/part-1.csv", ORDERS)
            .file(
                "orders/part-2.csv",
                format!("{ORDERS_HEADER}\nO4,C1,2025-03-03T12:00:00Z,completed,-1.00,0,EUR,web,shoes,1\n"),
            )
            .source("orders", "path = \"orders/\"\nformat = \"csv\"\n"),
    );

    // --- missing files, thresholds -------------------------------------------------------
    case(
        "support_tickets: missing file",
        "support_tickets",
        base().tickets().remove(t),
    );
    case(
        "support_tickets: missing file, optional = true",
        "support_tickets",
        base()
            .tickets()
            .remove(t)
            .set("support_tickets", "optional = true"),
    );
    case(
        "support_tickets: empty file, optional = true",
        "support_tickets",
        base()
            .tickets()
            .file(t, "")
            .set("support_tickets", "optional = true"),
    );
    case(
        "engagement_events: not a Parquet file, optional = true",
        "engagement_events",
        base()
            .events()
            .file("engagement_events/part-1.parquet", "PAR1 not really PAR1")
            .set("engagement_events", "optional = true"),
    );
    case(
        "orders: truncated gzip (found at open), optional = true",
        "orders",
        base()
            .remove(o)
            .file("orders.csv.gz", {
                let g = gzip(ORDERS.as_bytes());
                g[..g.len() / 2].to_vec()
            })
            .source("orders", "path = \"orders.csv.gz\"\noptional = true\n"),
    );
    case(
        "orders: gzip truncated mid-stream, optional = true",
        "orders",
        base()
            .remove(o)
            .file("orders.csv.gz", {
                // Far more than the header read decompresses: the truncation shows only
                // while the rows stream.
                let mut text = String::from(ORDERS);
                for i in 0..5_000 {
                    text.push_str(&format!(
                        "P{i:05},C1,2025-03-03T12:00:00Z,completed,{}.00,0,EUR,web,shoes,1\n",
                        i % 97 + 1
                    ));
                }
                let g = gzip(text.as_bytes());
                g[..g.len() * 4 / 5].to_vec()
            })
            .source("orders", "path = \"orders.csv.gz\"\noptional = true\n"),
    );
    case(
        "orders: glob that matches nothing",
        "orders",
        base().source(
            "orders",
            "path = \"exports/orders-*.csv\"\nformat = \"csv\"\n",
        ),
    );
    case(
        "orders: 2 of 5 rows bad, default max-quarantine-ratio",
        "orders",
        base()
            .quality("")
            .append(
                o,
                "O4,C1,2025-03-03T12:00:00Z,completed,-5.00,0,EUR,web,shoes,1",
            )
            .append(
                o,
                "O5,C9,2025-03-03T12:00:00Z,completed,5.00,0,EUR,web,shoes,1",
            ),
    );
    case(
        "orders: 2 of 5 rows after as-of, default max-quarantine-ratio",
        "orders",
        base()
            .quality("")
            .append(
                o,
                "O4,C1,2025-07-03T12:00:00Z,completed,5.00,0,EUR,web,shoes,1",
            )
            .append(
                o,
                "O5,C1,2025-08-03T12:00:00Z,completed,5.00,0,EUR,web,shoes,1",
            ),
    );
    case(
        "orders: 2 of 5 rows in 9999, default max-quarantine-ratio",
        "orders",
        base()
            .quality("")
            .append(
                o,
                "O4,C1,9999-07-03T12:00:00Z,completed,5.00,0,EUR,web,shoes,1",
            )
            .append(
                o,
                "O5,C1,9999-08-03T12:00:00Z,completed,5.00,0,EUR,web,shoes,1",
            ),
    );
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_catalogue() {
    let cases = cases();
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    // A few cases at a time: each is mostly small files and planning, not CPU-bound work.
    let total = cases.len();
    let queue = Arc::new(Mutex::new(cases.into_iter().enumerate()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let queue = queue.clone();
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let next = queue.lock().expect("case queue").next();
                let Some((i, case)) = next else {
                    return done;
                };
                done.push((i, run_case(&case).await));
            }
        });
    }
    let mut lines = Vec::with_capacity(total);
    while let Some(done) = workers.join_next().await {
        match done {
            Ok(done) => lines.extend(done),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    lines.sort();
    let lines: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
    // Align the columns.
    let width = lines
        .iter()
        .map(|l| l.split(" | ").next().map_or(0, str::len))
        .max()
        .unwrap_or(0);
    let table: Vec<String> = lines
        .iter()
        .map(|l| {
            let (name, rest) = l.split_once(" | ").expect("case | outcome");
            format!("{name:<width$} | {rest}")
        })
        .collect();
    insta::assert_snapshot!("catalogue", table.join("\n"));
}

/// The synthetic shop's injected bad rows are all caught: in every table each injected
/// row is quarantined under the matching reason, or, for an exact copy, counted as a
/// duplicate; every clean row is staged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_dirty_rows_are_all_accounted() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let wh = tmp.path().display().to_string();
    let raw = retain_store::Location::parse(&wh)
        .and_then(|l| l.resolve("raw"))
        .expect("raw location");
    let opts = retain_synth::SynthOptions {
        customers: 300,
        dirty_rate: 0.05,
        ..Default::default()
    };
    let summary = retain_synth::generate(raw.store.clone(), &raw.prefix, &opts)
        .await
        .expect("generate a dirty shop");
    let mut pipeline = PipelineConfig::demo();
    pipeline.warehouse = wh.clone();
    pipeline.quality.max_quarantine_ratio = 1.0;
    let settings = Settings::resolve(pipeline, Some(wh));
    let reports = retain_pipeline::ingest(&settings, opts.end)
        .await
        .expect("ingest the dirty shop");
    let tables: Vec<&str> = reports.iter().map(|r| r.table.as_str()).collect();
    assert_eq!(
        tables,
        [
            "customers",
            "orders",
            "support_tickets",
            "engagement_events",
            "contacts"
        ]
    );
    for r in &reports {
        check_accounting(r);
        let table = r.table.as_str();
        // Injected rows by our reason code: dates of year 0001 are out of range, of year
        // 9999 in the future, so the two are compared together.
        let mut injected: BTreeMap<String, u64> = BTreeMap::new();
        for (key, n) in &summary.dirty {
            let Some(kind) = key.strip_prefix(&format!("{table}.")) else {
                continue;
            };
            let ours = match kind {
                "unparseable_date" => "invalid_timestamp",
                "out_of_range_date" => "out_of_range_date|future_date",
                other => other,
            };
            *injected.entry(ours.to_owned()).or_default() += n;
        }
        let exact = injected.remove("exact_duplicate").unwrap_or(0);
        let mut caught: BTreeMap<String, u64> = BTreeMap::new();
        for (reason, n) in &r.reasons {
            let ours = match reason.as_str() {
                "out_of_range_date" | "future_date" => "out_of_range_date|future_date",
                other => other,
            };
            *caught.entry(ours.to_owned()).or_default() += n;
        }
        let total: u64 = injected.values().sum::<u64>() + exact;
        assert!(total > 0, "{table}: the shop has injected rows");
        assert_eq!(
            r.quarantined + r.duplicates,
            total,
            "{table}: every injected row is quarantined or a counted duplicate \
             (injected {injected:?} + {exact} exact copies, quarantined {:?} + {} duplicates)",
            r.reasons,
            r.duplicates
        );
        assert_eq!(r.duplicates, exact, "{table}: exact copies are duplicates");
        assert_eq!(
            caught, injected,
            "{table}: quarantined under the injected reason"
        );
        let clean = match table {
            "customers" => summary.customers,
            "orders" => summary.orders,
            "support_tickets" => summary.support_tickets,
            "engagement_events" => summary.engagement_events,
            "contacts" => summary.contacts,
            other => panic!("unexpected table {other}"),
        };
        assert_eq!(r.staged, clean, "{table}: every clean row is staged");
    }
}
