//! Property-based fuzzing of the CSV and NDJSON readers (proptest, on every `cargo test`).
//!
//! The rule checked is the crate's: a record that cannot be parsed becomes a row that
//! says why, a file that cannot be read is one error naming it, and nothing panics or
//! disappears. The structured generators write files whose every record, fault and line
//! number they know, so each property counts rows exactly; the random-byte ones check
//! what holds for any input.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use futures::StreamExt;
use proptest::prelude::*;
use proptest::sample::Index;

use super::source;
use crate::{
    Format, READ_COLUMN, READ_DETAIL, READ_ERROR, ReadError, ReadOptions, SOURCE_FILE, SOURCE_ROW,
    reason,
};

/// The field limit of every fuzzed source: low, so that overlong fields are cheap.
const MAX_FIELD: usize = 64;
/// The most characters a quarantine detail may have.
const MAX_DETAIL: usize = 200;

/// One row of a read, its data columns in schema order.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    values: Vec<Option<String>>,
    line: i64,
    error: Option<String>,
    column: Option<String>,
    detail: Option<String>,
}

/// What reading one file gave.
#[derive(Debug)]
struct Outcome {
    /// The data columns, when the source opened.
    columns: Vec<String>,
    /// Every row delivered before the end (or before the error).
    rows: Vec<Row>,
    /// The error of `RawSource::open` or of the stream, if any.
    error: Option<ReadError>,
}

const URL_PREFIX: &str = "memory:///";

/// Open `bytes` as the one file `name` and read all of it; a stream that goes on after
/// its error fails the test.
fn read(name: &str, bytes: Vec<u8>, options: ReadOptions) -> Result<Outcome, TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(format!("no runtime: {e}")))?;
    runtime.block_on(async move {
        let src = match source(&[(name, bytes)], options).await {
            Ok(src) => src,
            Err(e) => {
                return Ok(Outcome {
                    columns: vec![],
                    rows: vec![],
                    error: Some(e),
                });
            }
        };
        let columns: Vec<String> = src
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| !n.starts_with("_source_") && !n.starts_with("_read_"))
            .collect();
        let mut rows = Vec::new();
        let mut error = None;
        let mut stream = src.stream(0);
        while let Some(item) = stream.next().await {
            prop_assert!(error.is_none(), "the stream went on after its error");
            match item {
                Ok(b) => rows.extend(batch_rows(&b, &columns)?),
                Err(e) => error = Some(e),
            }
        }
        Ok(Outcome {
            columns,
            rows,
            error,
        })
    })
}

fn batch_rows(b: &RecordBatch, columns: &[String]) -> Result<Vec<Row>, TestCaseError> {
    let text = |name: &str| -> Result<_, TestCaseError> {
        b.column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| TestCaseError::fail(format!("no text column `{name}`")))
    };
    let opt =
        |a: &arrow::array::StringArray, r: usize| a.is_valid(r).then(|| a.value(r).to_owned());
    let data: Vec<_> = columns.iter().map(|c| text(c)).collect::<Result<_, _>>()?;
    let (error, column, detail) = (text(READ_ERROR)?, text(READ_COLUMN)?, text(READ_DETAIL)?);
    let files = text(SOURCE_FILE)?;
    let lines = b
        .column_by_name(SOURCE_ROW)
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .ok_or_else(|| TestCaseError::fail("no row column"))?;
    let mut out = Vec::with_capacity(b.num_rows());
    for r in 0..b.num_rows() {
        prop_assert!(
            files.value(r).starts_with(URL_PREFIX),
            "row without its file"
        );
        prop_assert!(lines.is_valid(r), "row without its line");
        out.push(Row {
            values: data.iter().map(|a| opt(a, r)).collect(),
            line: lines.value(r),
            error: opt(error, r),
            column: opt(column, r),
            detail: opt(detail, r),
        });
    }
    Ok(out)
}

/// What the quarantine columns of any row must say: a known reason with a detail that
/// is non-empty, one line and short; a column exactly for the per-field reasons; nothing
/// at all when the row is fine.
fn check_quarantine(row: &Row, columns: &[String]) -> Result<(), TestCaseError> {
    let Some(reason) = &row.error else {
        prop_assert!(row.column.is_none() && row.detail.is_none(), "{row:?}");
        return Ok(());
    };
    let detail = row.detail.as_deref().unwrap_or_default();
    prop_assert!(!detail.trim().is_empty(), "no detail: {row:?}");
    prop_assert!(
        !detail.contains(['\n', '\r']),
        "detail of two lines: {row:?}"
    );
    prop_assert!(detail.chars().count() <= MAX_DETAIL, "long detail: {row:?}");
    let per_field = [reason::INVALID_UTF8, reason::FIELD_TOO_LONG];
    let per_record = [
        reason::WRONG_COLUMN_COUNT,
        reason::UNTERMINATED_QUOTE,
        reason::BROKEN_JSON,
        reason::INVALID_UTF8,
    ];
    match &row.column {
        Some(c) => prop_assert!(
            per_field.contains(&reason.as_str()) && columns.contains(c),
            "{row:?}"
        ),
        None => prop_assert!(per_record.contains(&reason.as_str()), "{row:?}"),
    }
    Ok(())
}

/// A file error: it names the file, says something, adds no line break of its own (one
/// can only come from file text it quotes, such as a header name) and grows at most
/// linearly with the file. (The workspace's renderer, `retain_store::line`, makes every
/// error one line of at most 4,096 characters when it is shown.)
fn check_file_error(e: &ReadError, name: &str, input: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(&e.file, &format!("{URL_PREFIX}{name}"));
    prop_assert!(!e.message.trim().is_empty(), "empty message: {e}");
    if e.message.contains(['\n', '\r']) {
        prop_assert!(input.contains(&b'\n') || input.contains(&b'\r'), "{e}");
    }
    prop_assert!(e.message.len() <= 256 + 4 * input.len(), "{e}");
    Ok(())
}

/// The 1-based line at the end of `out`.
fn line_at(out: &[u8]) -> i64 {
    1 + out.iter().filter(|&&b| b == b'\n').count() as i64
}

/// The longest prefix of `s` within the field limit, as the reader keeps it.
fn within_limit(s: &str) -> String {
    let mut n = 0;
    s.chars()
        .take_while(|c| {
            n += c.len_utf8();
            n <= MAX_FIELD
        })
        .collect()
}

/// One expected row.
#[derive(Debug, Clone)]
struct Expect {
    line: i64,
    /// Data columns in schema order; `None` entries of a faulty row are not checked
    /// when `check_values` is false.
    values: Vec<Option<String>>,
    check_values: bool,
    /// The reasons it may carry; empty: none.
    reasons: Vec<&'static str>,
    column: Option<String>,
    /// The exact detail, when there is only one possibility.
    detail: Option<String>,
}

fn check_row(row: &Row, want: &Expect, columns: &[String]) -> Result<(), TestCaseError> {
    check_quarantine(row, columns)?;
    prop_assert_eq!(row.line, want.line, "{:?} / {:?}", row, want);
    if want.check_values {
        prop_assert_eq!(&row.values, &want.values, "{:?} / {:?}", row, want);
    }
    match &row.error {
        None => prop_assert!(
            want.reasons.is_empty(),
            "not quarantined: {row:?} / {want:?}"
        ),
        Some(r) => {
            prop_assert!(
                want.reasons.contains(&r.as_str()),
                "reason {r}: {row:?} / {want:?}"
            );
            prop_assert_eq!(&row.column, &want.column, "{:?} / {:?}", row, want);
            if let Some(d) = &want.detail {
                prop_assert_eq!(row.detail.as_ref(), Some(d), "{:?}", row);
            }
        }
    }
    Ok(())
}

fn options(format: Format, batch_size: usize) -> ReadOptions {
    let mut o = ReadOptions::new(format);
    o.batch_size = batch_size;
    o.max_field_bytes = MAX_FIELD;
    o
}

fn batch_size() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![1usize, 2, 3, 7, 8192])
}

/// Characters of a field: letters more than half the time, and everything CSV and
/// terminals care about.
const FIELD_CHARS: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', ',', ',', '"', '"', '\n', '\r', ' ', '\t', '\0', '\u{1b}',
    '\u{7f}', '\u{feff}', 'é', '€', '😀', '\u{2028}', ';', '\'', '\\', '{', '}',
];

/// A string of up to `max` characters drawn from `chars` (an index strategy: generating
/// through `prop_oneof!` or a regex costs ten times as much in a debug build).
fn text_of(chars: &'static [char], len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(0..chars.len(), len)
        .prop_map(move |v| v.into_iter().map(|i| chars[i]).collect())
}

/// A field value that fits the limit (at most 12 characters, 48 bytes).
fn field() -> impl Strategy<Value = String> {
    text_of(FIELD_CHARS, 0..12)
}

const ALNUM: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
];

/// Bytes from `table` seven times in eight, any byte the eighth.
fn bytes_from(table: &'static [u8], len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u16>(), len).prop_map(move |v| {
        v.into_iter()
            .map(|x| {
                if x % 8 == 0 {
                    (x >> 8) as u8
                } else {
                    table[usize::from(x >> 3) % table.len()]
                }
            })
            .collect()
    })
}

/// Byte sequences that are not UTF-8 wherever they are put at a character boundary.
fn not_utf8() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        vec![0xFF],
        vec![0x80],
        vec![0xC3],
        vec![0xC0, 0xAF],
        vec![0xED, 0xA0, 0x80],
        vec![0xF4, 0x90, 0x80, 0x80],
        vec![0xEF, 0xBB],
    ])
}

// ---------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------

const MAX_COLS: usize = 5;

/// What is wrong with one CSV record (`col` is taken modulo the column count).
#[derive(Debug, Clone)]
enum CsvFault {
    None,
    /// One field too many.
    ExtraField(String),
    /// The last field left out.
    MissingField,
    /// Bytes that are not UTF-8 inserted into a field.
    NotUtf8 {
        col: usize,
        at: usize,
        bytes: Vec<u8>,
    },
    /// A field past the limit.
    Huge {
        col: usize,
        len: usize,
        c: char,
    },
    /// A quote inside an unquoted field: text mid-file, an open quote in the last record.
    StrayQuote {
        col: usize,
        before: String,
        after: String,
    },
}

#[derive(Debug, Clone)]
struct CsvRecord {
    fields: Vec<String>,
    fault: CsvFault,
    quote_all: bool,
    crlf: bool,
    /// Blank lines after it (true: `\r\n`).
    blank: Vec<bool>,
}

#[derive(Debug, Clone)]
struct CsvPlan {
    ncols: usize,
    bom: bool,
    header_quoted: bool,
    header_crlf: bool,
    records: Vec<CsvRecord>,
    /// A last record whose last field opens a quote that never closes (its text).
    open_quote: Option<String>,
    final_newline: bool,
    batch_size: usize,
}

fn csv_fault() -> impl Strategy<Value = CsvFault> {
    prop_oneof![
        8 => Just(CsvFault::None),
        1 => field().prop_map(CsvFault::ExtraField),
        1 => Just(CsvFault::MissingField),
        1 => (0..MAX_COLS, 0..16usize, not_utf8())
            .prop_map(|(col, at, bytes)| CsvFault::NotUtf8 { col, at, bytes }),
        1 => (0..MAX_COLS, 65..1500usize, prop::sample::select(vec!['x', 'é', '€', '😀']))
            .prop_map(|(col, len, c)| CsvFault::Huge { col, len, c }),
        1 => (0..MAX_COLS, text_of(ALNUM, 1..6), text_of(ALNUM, 0..6))
            .prop_map(|(col, before, after)| CsvFault::StrayQuote { col, before, after }),
    ]
}

fn csv_record(faults: bool) -> impl Strategy<Value = CsvRecord> {
    let fault = if faults {
        csv_fault().boxed()
    } else {
        Just(CsvFault::None).boxed()
    };
    (
        prop::collection::vec(field(), MAX_COLS),
        fault,
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 0..3),
    )
        .prop_map(|(fields, fault, quote_all, crlf, blank)| CsvRecord {
            fields,
            fault,
            quote_all,
            crlf,
            blank,
        })
}

/// A CSV file of 2 to 5 columns and up to 40 records; with `faults`, some records are
/// broken in known ways and the last may open a quote that never closes.
fn csv_plan(faults: bool) -> impl Strategy<Value = CsvPlan> {
    let open = if faults {
        prop::option::weighted(0.2, text_of(&['a', 'b', ' ', ',', '\n', '\r', 'é'], 0..10)).boxed()
    } else {
        Just(None).boxed()
    };
    (
        2..=MAX_COLS,
        any::<(bool, bool, bool, bool)>(),
        prop::collection::vec(csv_record(faults), 0..40),
        open,
        batch_size(),
    )
        .prop_map(
            |(
                ncols,
                (bom, header_quoted, header_crlf, final_newline),
                records,
                open_quote,
                batch_size,
            )| {
                CsvPlan {
                    ncols,
                    bom,
                    header_quoted,
                    header_crlf,
                    records,
                    open_quote,
                    final_newline,
                    batch_size,
                }
            },
        )
}

/// How a field is written: quoted when it must be, always, or as it is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Quote {
    Auto,
    Always,
    Raw,
}

fn put_field(out: &mut Vec<u8>, f: &[u8], quote: Quote) {
    let special = f.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if quote == Quote::Always || (quote == Quote::Auto && special) {
        out.push(b'"');
        for &b in f {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(f);
    }
}

/// One record; a lone empty field is quoted, since an empty line is no record.
fn put_record(out: &mut Vec<u8>, fields: &[Vec<u8>], quote: &[Quote]) {
    let lone_empty = fields.len() == 1 && fields[0].is_empty();
    for (i, (f, &q)) in fields.iter().zip(quote).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        put_field(out, f, if lone_empty { Quote::Always } else { q });
    }
}

/// The file's bytes, the byte where each data record's text ends (for truncation), the
/// header's end, and the expected rows.
struct CsvFile {
    bytes: Vec<u8>,
    header_end: usize,
    ends: Vec<usize>,
    rows: Vec<Expect>,
    names: Vec<String>,
}

fn csv_file(plan: &CsvPlan) -> CsvFile {
    let n = plan.ncols;
    let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let mut out = Vec::new();
    if plan.bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let header: Vec<Vec<u8>> = names.iter().map(|s| s.clone().into_bytes()).collect();
    let always = |q: bool| if q { Quote::Always } else { Quote::Auto };
    put_record(&mut out, &header, &vec![always(plan.header_quoted); n]);
    let header_end = out.len();
    out.extend_from_slice(if plan.header_crlf { b"\r\n" } else { b"\n" });
    let (mut ends, mut rows) = (Vec::new(), Vec::new());
    let count = plan.records.len();
    for (i, r) in plan.records.iter().enumerate() {
        let last = i + 1 == count && plan.open_quote.is_none();
        let line = line_at(&out);
        let mut fields: Vec<Vec<u8>> = r.fields[..n]
            .iter()
            .map(|f| f.as_bytes().to_vec())
            .collect();
        let mut quote = vec![always(r.quote_all); n];
        let mut values: Vec<Option<String>> = r.fields[..n].iter().cloned().map(Some).collect();
        let breaks = |fs: &[Vec<u8>]| fs.iter().any(|f| f.contains(&b'\n') || f.contains(&b'\r'));
        let count_reasons = |fs: &[Vec<u8>]| {
            if breaks(fs) {
                vec![reason::WRONG_COLUMN_COUNT, reason::UNTERMINATED_QUOTE]
            } else {
                vec![reason::WRONG_COLUMN_COUNT]
            }
        };
        let (reasons, column, detail) = match &r.fault {
            CsvFault::None => (vec![], None, None),
            CsvFault::ExtraField(s) => {
                fields.push(s.clone().into_bytes());
                quote.push(always(r.quote_all));
                let reasons = count_reasons(&fields);
                let detail =
                    (reasons.len() == 1).then(|| format!("expected {n} fields, found {}", n + 1));
                (reasons, None, detail)
            }
            CsvFault::MissingField => {
                fields.pop();
                quote.pop();
                values[n - 1] = None;
                let reasons = count_reasons(&fields);
                let detail =
                    (reasons.len() == 1).then(|| format!("expected {n} fields, found {}", n - 1));
                (reasons, None, detail)
            }
            CsvFault::NotUtf8 { col, at, bytes } => {
                let c = col % n;
                let f = &r.fields[c];
                let mut at = (*at).min(f.len());
                while !f.is_char_boundary(at) {
                    at -= 1;
                }
                let mut b = f.as_bytes()[..at].to_vec();
                b.extend_from_slice(bytes);
                b.extend_from_slice(&f.as_bytes()[at..]);
                values[c] = Some(String::from_utf8_lossy(&b).into_owned());
                fields[c] = b;
                let detail = format!("bytes that are not UTF-8 at offset {at} of the field");
                (
                    vec![reason::INVALID_UTF8],
                    Some(names[c].clone()),
                    Some(detail),
                )
            }
            CsvFault::Huge { col, len, c: ch } => {
                let c = col % n;
                let s: String = std::iter::repeat_n(*ch, *len).collect();
                values[c] = Some(within_limit(&s));
                let detail = format!("{} bytes, more than the limit of {MAX_FIELD}", s.len());
                fields[c] = s.into_bytes();
                (
                    vec![reason::FIELD_TOO_LONG],
                    Some(names[c].clone()),
                    Some(detail),
                )
            }
            CsvFault::StrayQuote { col, before, after } => {
                let c = col % n;
                let s = format!("{before}\"{after}");
                values[c] = Some(s.clone());
                fields[c] = s.into_bytes();
                quote[c] = Quote::Raw;
                // Mid-file it is text; in the record that ends the file, or beside a
                // field holding a line break, the reader takes it for a quote that never
                // closed (an odd number of quotes there).
                if last || breaks(&fields) {
                    let d = format!(
                        "a quoted field opened on line {line} is never closed ({n} fields, expected {n})"
                    );
                    (vec![reason::UNTERMINATED_QUOTE], None, Some(d))
                } else {
                    (vec![], None, None)
                }
            }
        };
        put_record(&mut out, &fields, &quote);
        ends.push(out.len());
        if !last || plan.final_newline {
            out.extend_from_slice(if r.crlf { b"\r\n" } else { b"\n" });
            for &crlf in &r.blank {
                out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
        }
        rows.push(Expect {
            line,
            values,
            check_values: true,
            reasons,
            column,
            detail,
        });
    }
    if let Some(text) = &plan.open_quote {
        let line = line_at(&out);
        let mut values: Vec<Option<String>> = (0..n - 1).map(|i| Some(format!("o{i}"))).collect();
        for v in &values {
            out.extend_from_slice(v.as_deref().unwrap_or_default().as_bytes());
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        let mut swallowed = text.clone();
        if plan.final_newline {
            out.push(b'\n');
            swallowed.push('\n');
        }
        values.push(Some(swallowed));
        ends.push(out.len());
        rows.push(Expect {
            line,
            values,
            check_values: true,
            reasons: vec![reason::UNTERMINATED_QUOTE],
            column: None,
            detail: Some(format!(
                "a quoted field opened on line {line} is never closed ({n} fields, expected {n})"
            )),
        });
    }
    CsvFile {
        bytes: out,
        header_end,
        ends,
        rows,
        names,
    }
}

fn csv_options(batch_size: usize) -> ReadOptions {
    options(Format::Csv, batch_size)
}

/// Bytes that CSV cares about (any byte too, through [`bytes_from`]).
const CSV_BYTES: &[u8] =
    b"aaaabbbbccddee,,,,,,\n\n\n\n\r\"\"\"\"  \x00\x1b\xEF\xBB\xBF\xFF\xC3\x80";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    /// Fuzzes the CSV reader with generated files whose records are broken in known
    /// ways (a field too many or too few, bytes that are not UTF-8, an overlong field, a
    /// stray quote, a quote never closed at the end) among valid records full of quotes,
    /// delimiters, line breaks, control characters, BOMs, CRLF and blank lines.
    /// Property: one row per record, in order, on its exact line; valid records keep
    /// every value; each broken one is quarantined with its reason, column and detail.
    #[test]
    fn csv_every_record_is_one_row_kept_or_quarantined(plan in csv_plan(true)) {
        let file = csv_file(&plan);
        let out = read("fuzz.csv", file.bytes.clone(), csv_options(plan.batch_size))?;
        prop_assert!(out.error.is_none(), "{:?}", out.error);
        prop_assert_eq!(&out.columns, &file.names);
        prop_assert_eq!(out.rows.len(), file.rows.len(), "{:?}", out.rows);
        for (row, want) in out.rows.iter().zip(&file.rows) {
            check_row(row, want, &out.columns)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Fuzzes the CSV reader with a valid file cut at any byte.
    /// Property: every record that ends before the cut is read exactly as written; the
    /// record the cut falls in gives at most one row, on its line; a cut inside the
    /// header gives no rows or a file error; no byte count gives a panic.
    #[test]
    fn csv_truncated_anywhere_keeps_every_complete_record(plan in csv_plan(false), cut in any::<Index>()) {
        let file = csv_file(&plan);
        let cut = cut.index(file.bytes.len() + 1);
        let bytes = file.bytes[..cut].to_vec();
        let out = read("cut.csv", bytes.clone(), csv_options(plan.batch_size))?;
        if let Some(e) = &out.error {
            check_file_error(e, "cut.csv", &bytes)?;
            prop_assert!(cut < file.header_end, "a file error after the header: {e}");
            return Ok(());
        }
        if cut < file.header_end {
            prop_assert!(out.rows.is_empty(), "{:?}", out.rows);
            return Ok(());
        }
        let complete = file.ends.iter().filter(|&&end| end <= cut).count();
        prop_assert!(
            out.rows.len() == complete || out.rows.len() == complete + 1,
            "{} rows for {} complete records: {:?}", out.rows.len(), complete, out.rows
        );
        for (i, row) in out.rows.iter().enumerate() {
            if i < complete {
                check_row(row, &file.rows[i], &out.columns)?;
            } else {
                check_quarantine(row, &out.columns)?;
                prop_assert_eq!(row.line, file.rows[i].line);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Fuzzes gzip and zstd CSV files cut at any byte of the compressed stream.
    /// Property: the read either returns every row of the file, or ends in one error
    /// naming the file after a prefix of the file's rows: never fewer rows silently.
    #[test]
    fn csv_truncated_compressed_stream_is_an_error_never_fewer_rows(
        plan in csv_plan(false),
        zstd in any::<bool>(),
        cut in any::<Index>(),
    ) {
        use std::io::Write;
        let file = csv_file(&plan);
        let (name, packed) = if zstd {
            ("cut.csv.zst", zstd::encode_all(&file.bytes[..], 1).map_err(|e| TestCaseError::fail(e.to_string()))?)
        } else {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&file.bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            ("cut.csv.gz", e.finish().map_err(|e| TestCaseError::fail(e.to_string()))?)
        };
        let cut = cut.index(packed.len() + 1);
        let bytes = packed[..cut].to_vec();
        let out = read(name, bytes.clone(), csv_options(plan.batch_size))?;
        if cut == packed.len() {
            prop_assert!(out.error.is_none(), "{:?}", out.error);
        }
        match &out.error {
            None => prop_assert_eq!(out.rows.len(), file.rows.len(), "rows lost without an error"),
            Some(e) => {
                check_file_error(e, name, &bytes)?;
                prop_assert!(out.rows.len() <= file.rows.len());
            }
        }
        for (row, want) in out.rows.iter().zip(&file.rows) {
            check_row(row, want, &out.columns)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Fuzzes the CSV reader with random bytes (biased to delimiters, quotes, line
    /// breaks, BOM and non-UTF-8 bytes), after a valid header or not.
    /// Property: no panic; a file error or rows on non-decreasing lines within the
    /// file, each quarantine well formed. Without quote characters the accounting is
    /// exact: one row per non-empty line segment after the header, on its line, and a
    /// row kept without error holds its segment's text exactly.
    #[test]
    fn csv_random_bytes_are_rows_or_a_file_error(
        quotes in any::<bool>(),
        header in any::<bool>(),
        body in bytes_from(CSV_BYTES, 0..1500),
        batch in batch_size(),
    ) {
        let mut bytes: Vec<u8> = if header { b"id,name,x\n".to_vec() } else { vec![] };
        bytes.extend(body.iter().map(|&b| if !quotes && b == b'"' { b'q' } else { b }));
        let out = read("r.csv", bytes.clone(), csv_options(batch))?;
        if let Some(e) = &out.error {
            prop_assert!(out.rows.is_empty());
            return check_file_error(e, "r.csv", &bytes);
        }
        let last_line = line_at(&bytes);
        let mut prev = 1;
        for row in &out.rows {
            check_quarantine(row, &out.columns)?;
            prop_assert_eq!(row.values.len(), out.columns.len());
            prop_assert!(row.line >= prev && row.line <= last_line, "line {} after {}", row.line, prev);
            prev = row.line;
        }
        if !quotes {
            // Segments between line breaks, with the line each starts on.
            // (csv-core drops a BOM at the start.)
            let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
            let mut segments = Vec::new();
            for (line, part) in (1i64..).zip(text.split(|&b| b == b'\n')) {
                for seg in part.split(|&b| b == b'\r').filter(|s| !s.is_empty()) {
                    segments.push((line, seg));
                }
            }
            prop_assert_eq!(out.rows.len(), segments.len().saturating_sub(1), "{:?}", out.rows);
            for (row, (line, seg)) in out.rows.iter().zip(segments.iter().skip(1)) {
                prop_assert_eq!(row.line, *line);
                if row.error.is_none() {
                    let joined: Vec<&str> = row.values.iter().map(|v| v.as_deref().unwrap_or_default()).collect();
                    let joined = joined.join(",");
                    prop_assert_eq!(joined.as_bytes(), *seg);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// NDJSON
// ---------------------------------------------------------------------------------------

use serde_json::{Map, Value};

/// What is wrong with one NDJSON line.
#[derive(Debug, Clone)]
enum JsonFault {
    None,
    /// The line cut at a byte (at least one byte kept).
    Truncate(Index),
    /// Bytes that are not UTF-8 inserted anywhere.
    NotUtf8(Index, Vec<u8>),
    /// Valid JSON that is not an object.
    NotObject(&'static str),
    /// `{"<key>": [[[…]]]}` nested this deep.
    Deep(usize),
    /// A raw control byte inside a string.
    RawControl(u8),
    /// A number JSON can or cannot hold: `{"<key>": <text>}`.
    Number(&'static str),
    /// Text after the object.
    Trailing(&'static str),
}

#[derive(Debug, Clone)]
struct JsonRecord {
    /// Per key: absent, or a value.
    values: Vec<Option<Value>>,
    fault: JsonFault,
    bom: bool,
    crlf: bool,
    /// Blank lines after it.
    blank: Vec<&'static str>,
}

#[derive(Debug, Clone)]
struct JsonPlan {
    keys: Vec<String>,
    /// The first line: an object with every key.
    first: Vec<Value>,
    records: Vec<JsonRecord>,
    final_newline: bool,
    batch_size: usize,
}

fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => field(),
        1 => (65..1000usize, prop::sample::select(vec!['x', 'é', '😀', '"', '\\', '\n']))
            .prop_map(|(n, c)| std::iter::repeat_n(c, n).collect()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        6 => json_string().prop_map(Value::String),
        2 => prop_oneof![
            any::<i64>(),
            prop::sample::select(vec![-1i64, 0, 4_294_967_295, 4_294_967_296, i64::MAX, i64::MIN]),
        ]
        .prop_map(Value::from),
        1 => Just(Value::from(u64::MAX)),
        1 => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text_of(ALNUM, 1..4), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn json_fault() -> impl Strategy<Value = JsonFault> {
    prop_oneof![
        8 => Just(JsonFault::None),
        1 => any::<Index>().prop_map(JsonFault::Truncate),
        1 => (any::<Index>(), not_utf8()).prop_map(|(i, b)| JsonFault::NotUtf8(i, b)),
        1 => prop::sample::select(vec!["[1,2]", "\"text\"", "42", "null", "true", "[]"])
            .prop_map(JsonFault::NotObject),
        1 => prop_oneof![1..140usize, 120..3000usize].prop_map(JsonFault::Deep),
        1 => (0u8..0x20).prop_filter("not a line break", |b| *b != b'\n')
            .prop_map(JsonFault::RawControl),
        1 => prop::sample::select(vec![
            "-1", "4294967295", "18446744073709551615", "18446744073709551616",
            "-9223372036854775809", "1e400", "-1e400", "1e-400", "0.1e1", "-0", "01", "1.",
            "NaN", "Infinity",
        ])
        .prop_map(JsonFault::Number),
        1 => prop::sample::select(vec![" x", "}", ",", " {}", "\u{feff}"]).prop_map(JsonFault::Trailing),
    ]
}

const KEYS: [&str; 8] = ["id", "k 1", "ключ", "a\"b", "x.y", "n", "😀", "\\"];

fn json_plan() -> impl Strategy<Value = JsonPlan> {
    (
        prop::sample::subsequence(KEYS.to_vec(), 1..=4),
        any::<bool>(),
        batch_size(),
    )
        .prop_flat_map(|(keys, final_newline, batch_size)| {
            let n = keys.len();
            let record = (
                prop::collection::vec(prop::option::weighted(0.8, json_value()), n),
                json_fault(),
                any::<bool>(),
                any::<bool>(),
                prop::collection::vec(
                    prop::sample::select(vec!["", "  ", "\t", "\r", "\u{feff}", " \r"]),
                    0..2,
                ),
            )
                .prop_map(|(values, fault, bom, crlf, blank)| JsonRecord {
                    values,
                    fault,
                    bom,
                    crlf,
                    blank,
                });
            (
                Just(keys.into_iter().map(str::to_owned).collect::<Vec<_>>()),
                prop::collection::vec(json_value(), n),
                prop::collection::vec(record, 0..40),
                Just(final_newline),
                Just(batch_size),
            )
                .prop_map(|(keys, first, records, final_newline, batch_size)| {
                    JsonPlan {
                        keys,
                        first,
                        records,
                        final_newline,
                        batch_size,
                    }
                })
        })
}

/// The text a reader keeps of a JSON value.
fn json_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The file's bytes, the end of each line's text (the first line's at index 0) and the
/// expected rows: for a valid object its values by key, uncut (the schema's order, which
/// decides the overlong column named, is applied by [`json_expects`]).
struct JsonFile {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    rows: Vec<(Expect, Option<ByKey>)>,
}

/// A valid object's values by key (`None`: absent or null).
type ByKey = Vec<(String, Option<String>)>;

fn no_error(line: i64) -> Expect {
    Expect {
        line,
        values: vec![],
        check_values: false,
        reasons: vec![],
        column: None,
        detail: None,
    }
}

fn by_key(keys: &[String], values: &[Option<Value>]) -> ByKey {
    keys.iter()
        .zip(values)
        .map(|(k, v)| (k.clone(), v.as_ref().and_then(json_text)))
        .collect()
}

fn json_file(plan: &JsonPlan) -> JsonFile {
    let keys = &plan.keys;
    let object = |values: &[Option<Value>]| -> Value {
        let map: Map<String, Value> = keys
            .iter()
            .zip(values)
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        Value::Object(map)
    };
    let first: Vec<Option<Value>> = plan.first.iter().cloned().map(Some).collect();
    let mut out = object(&first).to_string().into_bytes();
    let mut ends = vec![out.len()];
    let mut rows = vec![(no_error(1), Some(by_key(keys, &first)))];
    out.push(b'\n');
    let count = plan.records.len();
    for (i, r) in plan.records.iter().enumerate() {
        let line = line_at(&out);
        let text = object(&r.values).to_string().into_bytes();
        let key = serde_json::to_string(&keys[0]).unwrap_or_default();
        // A line the test writes by hand: valid or not as serde_json says.
        let judged = |t: String| {
            let v = serde_json::from_str::<Value>(&t).ok();
            let reasons = if v.is_some() {
                vec![]
            } else {
                vec![reason::BROKEN_JSON]
            };
            let values = v.map(|v| {
                let values: Vec<Option<Value>> = keys.iter().map(|k| v.get(k).cloned()).collect();
                by_key(keys, &values)
            });
            (t.into_bytes(), reasons, None, values)
        };
        let (bytes, reasons, detail, values): (Vec<u8>, Vec<&'static str>, Option<String>, _) =
            match &r.fault {
                JsonFault::None => (text, vec![], None, Some(by_key(keys, &r.values))),
                JsonFault::Truncate(at) => {
                    let cut = 1 + at.index(text.len() - 1);
                    let reasons = vec![reason::BROKEN_JSON, reason::INVALID_UTF8];
                    (text[..cut].to_vec(), reasons, None, None)
                }
                JsonFault::NotUtf8(at, bad) => {
                    let at = at.index(text.len() + 1);
                    let mut b = text[..at].to_vec();
                    b.extend_from_slice(bad);
                    b.extend_from_slice(&text[at..]);
                    (b, vec![reason::INVALID_UTF8], None, None)
                }
                JsonFault::NotObject(t) => {
                    let kind = match serde_json::from_str::<Value>(t) {
                        Ok(Value::Array(_)) => "array",
                        Ok(Value::String(_)) => "string",
                        Ok(Value::Number(_)) => "number",
                        Ok(Value::Bool(_)) => "boolean",
                        _ => "null",
                    };
                    let d = format!("a JSON {kind} where an object was expected");
                    (
                        t.as_bytes().to_vec(),
                        vec![reason::BROKEN_JSON],
                        Some(d),
                        None,
                    )
                }
                JsonFault::Deep(depth) => judged(format!(
                    "{{{key}:{}{}}}",
                    "[".repeat(*depth),
                    "]".repeat(*depth)
                )),
                JsonFault::RawControl(c) => {
                    let mut t = format!("{{{key}:\"ab").into_bytes();
                    t.push(*c);
                    t.extend_from_slice(b"cd\"}");
                    (t, vec![reason::BROKEN_JSON], None, None)
                }
                JsonFault::Number(n) => judged(format!("{{{key}:{n}}}")),
                JsonFault::Trailing(tail) => {
                    let mut t = text;
                    t.extend_from_slice(tail.as_bytes());
                    (t, vec![reason::BROKEN_JSON], None, None)
                }
            };
        if r.bom {
            out.extend_from_slice(b"\xEF\xBB\xBF");
        }
        out.extend_from_slice(&bytes);
        ends.push(out.len());
        if i + 1 < count || plan.final_newline {
            out.extend_from_slice(if r.crlf { b"\r\n" } else { b"\n" });
            for b in &r.blank {
                out.extend_from_slice(b.as_bytes());
                out.push(b'\n');
            }
        }
        let expect = Expect {
            reasons,
            detail,
            ..no_error(line)
        };
        rows.push((expect, values));
    }
    JsonFile {
        bytes: out,
        ends,
        rows,
    }
}

/// Expected rows in the schema's column order: a valid object's values, cut to the
/// limit, with the first overlong one in that order named; a broken line's values null.
fn json_expects(
    plan: &JsonPlan,
    file: &JsonFile,
    columns: &[String],
) -> Result<Vec<Expect>, TestCaseError> {
    let mut sorted = columns.to_vec();
    sorted.sort();
    let mut keys = plan.keys.clone();
    keys.sort();
    prop_assert_eq!(sorted, keys, "the columns are the first object's keys");
    let mut out = Vec::new();
    for (expect, values) in &file.rows {
        let mut e = expect.clone();
        e.check_values = true;
        let Some(values) = values else {
            e.values = vec![None; columns.len()];
            out.push(e);
            continue;
        };
        let full: Vec<Option<String>> = columns
            .iter()
            .map(|c| {
                values
                    .iter()
                    .find(|(k, _)| k == c)
                    .and_then(|(_, v)| v.clone())
            })
            .collect();
        if let Some((c, Some(v))) = columns
            .iter()
            .zip(&full)
            .find(|(_, v)| v.as_ref().is_some_and(|v| v.len() > MAX_FIELD))
        {
            e.reasons = vec![reason::FIELD_TOO_LONG];
            e.column = Some(c.clone());
            e.detail = Some(format!(
                "{} bytes, more than the limit of {MAX_FIELD}",
                v.len()
            ));
        }
        e.values = full
            .into_iter()
            .map(|v| v.map(|v| within_limit(&v)))
            .collect();
        out.push(e);
    }
    Ok(out)
}

/// Bytes that JSON cares about (any byte too, through [`bytes_from`]).
const JSON_BYTES: &[u8] =
    b"{{{}}}[[]]\"\"\"\"::,,abcdeflnrstu0123456789.-+eE\n\n\n\n \t\r\\\x00\xEF\xBB\xBF\xFF\xC3\x80";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Fuzzes the NDJSON reader with generated files: objects with odd keys and values
    /// (control characters, quotes, huge strings, 64-bit extremes, nested values) among
    /// lines broken in known ways (cut short, not UTF-8, not an object, nested past the
    /// parser's limit, raw control bytes, out-of-range numbers, trailing text), with
    /// BOMs, CRLF and blank lines.
    /// Property: one row per non-blank line, on its exact line; valid objects keep every
    /// value (overlong ones cut and named); each broken line is quarantined with its
    /// reason and all its values null.
    #[test]
    fn ndjson_every_line_is_one_row_kept_or_quarantined(plan in json_plan()) {
        let file = json_file(&plan);
        let out = read("fuzz.ndjson", file.bytes.clone(), options(Format::Ndjson, plan.batch_size))?;
        prop_assert!(out.error.is_none(), "{:?}", out.error);
        let expects = json_expects(&plan, &file, &out.columns)?;
        prop_assert_eq!(out.rows.len(), expects.len(), "{:?}", out.rows);
        for (row, want) in out.rows.iter().zip(&expects) {
            check_row(row, want, &out.columns)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Fuzzes the NDJSON reader with a valid file cut at any byte.
    /// Property: every line that ends before the cut is read exactly as written; the
    /// line the cut falls in is at most one row, quarantined; a cut inside the first
    /// line (the only source of columns) is a file error.
    #[test]
    fn ndjson_truncated_anywhere_keeps_every_complete_line(mut plan in json_plan(), cut in any::<Index>()) {
        for r in &mut plan.records {
            r.fault = JsonFault::None;
            r.bom = false;
        }
        let file = json_file(&plan);
        let cut = cut.index(file.bytes.len() + 1);
        let bytes = file.bytes[..cut].to_vec();
        let out = read("cut.ndjson", bytes.clone(), options(Format::Ndjson, plan.batch_size))?;
        if cut < file.ends[0] {
            let e = out.error.as_ref().ok_or_else(|| TestCaseError::fail("no error for a cut first line"))?;
            return check_file_error(e, "cut.ndjson", &bytes);
        }
        prop_assert!(out.error.is_none(), "{:?}", out.error);
        let expects = json_expects(&plan, &file, &out.columns)?;
        let complete = file.ends.iter().filter(|&&end| end <= cut).count();
        prop_assert!(
            out.rows.len() == complete || out.rows.len() == complete + 1,
            "{} rows for {} complete lines", out.rows.len(), complete
        );
        for (i, row) in out.rows.iter().enumerate() {
            if i < complete {
                check_row(row, &expects[i], &out.columns)?;
            } else {
                // The cut line: the next record, or a blank line cut inside its BOM.
                check_quarantine(row, &out.columns)?;
                prop_assert!(row.error.is_some(), "a cut line kept as valid: {row:?}");
                let after = if i == 0 { 0 } else { expects[i - 1].line };
                prop_assert!(row.line > after && row.line <= line_at(&bytes));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Fuzzes the NDJSON reader with random bytes (biased to JSON punctuation, line
    /// breaks, BOM and non-UTF-8 bytes), after a valid first object or not.
    /// Property: no panic; a file error, or exactly one row per non-blank line, on its
    /// line; a row is kept without error only when its line is a JSON object, and a
    /// quarantined one has every value null and a well-formed reason.
    #[test]
    fn ndjson_random_bytes_are_one_row_per_line_or_a_file_error(
        first in any::<bool>(),
        body in bytes_from(JSON_BYTES, 0..1500),
        batch in batch_size(),
    ) {
        let mut bytes: Vec<u8> = if first { b"{\"id\":\"1\",\"n\":2}\n".to_vec() } else { vec![] };
        bytes.extend(&body);
        let out = read("r.ndjson", bytes.clone(), options(Format::Ndjson, batch))?;
        if let Some(e) = &out.error {
            // Even after a valid first object: a later one can hold an empty key.
            prop_assert!(out.rows.is_empty());
            return check_file_error(e, "r.ndjson", &bytes);
        }
        let lines: Vec<(i64, &[u8])> = bytes
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, l)| (i as i64 + 1, l))
            .map(|(i, l)| (i, l.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(l)))
            .map(|(i, l)| (i, l.strip_suffix(b"\r").unwrap_or(l)))
            .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
            .collect();
        prop_assert_eq!(out.rows.len(), lines.len(), "{:?}", out.rows);
        for (row, (line, text)) in out.rows.iter().zip(&lines) {
            check_quarantine(row, &out.columns)?;
            prop_assert_eq!(row.line, *line);
            let object = std::str::from_utf8(text)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .is_some_and(|v| v.is_object());
            match row.error.as_deref() {
                None | Some(reason::FIELD_TOO_LONG) => {
                    prop_assert!(object, "{:?}", String::from_utf8_lossy(text));
                }
                Some(_) => {
                    prop_assert!(!object);
                    prop_assert!(row.values.iter().all(Option::is_none));
                }
            }
        }
    }
}
