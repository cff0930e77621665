//! Tolerant readers for raw exports.
//!
//! A shop's exports are CSV, NDJSON or Parquet files, plain or compressed (`.gz`, `.zst`),
//! on any object store. This crate turns each file into a stream of Arrow batches with
//! the file and the row of every record ([`SOURCE_FILE`], [`SOURCE_ROW`]), and turns a
//! record that cannot be parsed into a row that says why ([`READ_ERROR`],
//! [`READ_COLUMN`], [`READ_DETAIL`]) instead of failing the whole read. Staging SQL then
//! types and validates the rows, and quarantines those with a read error.
//!
//! Why not DataFusion's CSV and JSON readers: they fail the whole query on one line with
//! the wrong number of fields or one broken JSON line, and they do not report line
//! numbers. The parsing itself is `csv-core` (quoting, BOM) and `serde_json`; the
//! decompression is `flate2` and `zstd`; Parquet is the `parquet` crate. What is written
//! by hand here is only the record-to-batch loop, the line counting (the `csv` crate's
//! positions drift after blank lines and CRLF endings) and the decision of which records
//! are bad.
//!
//! Text formats (CSV, NDJSON) produce every data column as nullable `Utf8`; Parquet keeps
//! its own types. A file that cannot be read at all (not found, zero bytes, a missing
//! column, a corrupt footer, a truncated gzip stream) is a [`ReadError`] naming the file.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
// `ParquetObjectReader` is deprecated in parquet 59 in favour of hand-written
// `AsyncFileReader`s; it is still the maintained object_store adapter DataFusion 55's
// pin ships, so we keep it until the parquet bump.
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use tokio::sync::mpsc;

/// URL of the file a row came from.
pub const SOURCE_FILE: &str = "_source_file";
/// Line of the record in a CSV or NDJSON file (1-based, the header is line 1), or the
/// 1-based row number in a Parquet file.
pub const SOURCE_ROW: &str = "_source_row";
/// Reason code when the record could not be parsed, otherwise null.
pub const READ_ERROR: &str = "_read_error";
/// Column the read error concerns, when there is one.
pub const READ_COLUMN: &str = "_read_column";
/// Human-readable detail of the read error.
pub const READ_DETAIL: &str = "_read_detail";

/// Reason codes of records that could not be parsed.
pub mod reason {
    /// A CSV record with more or fewer fields than the header.
    pub const WRONG_COLUMN_COUNT: &str = "wrong_column_count";
    /// A quoted CSV field that never closes (it swallowed a line break).
    pub const UNTERMINATED_QUOTE: &str = "unterminated_quote";
    /// Bytes that are not UTF-8.
    pub const INVALID_UTF8: &str = "invalid_utf8";
    /// An NDJSON line that is not a JSON object.
    pub const BROKEN_JSON: &str = "broken_json";
    /// A field longer than the configured limit (kept truncated in the quarantine).
    pub const FIELD_TOO_LONG: &str = "field_too_long";
}

/// File format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
    Parquet,
}

/// Compression of a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From the file name: `.gz` is gzip, `.zst`/`.zstd` is zstd, anything else plain.
    pub fn from_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".gz") || lower.ends_with(".gzip") {
            Self::Gzip
        } else if lower.ends_with(".zst") || lower.ends_with(".zstd") {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// CSV dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub quote: u8,
    /// The first line names the columns.
    pub header: bool,
    /// Column names when there is no header line.
    pub columns: Vec<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: b',',
            quote: b'"',
            header: true,
            columns: Vec::new(),
        }
    }
}

/// How to read a source.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub format: Format,
    pub csv: CsvOptions,
    /// `None`: from each file's extension.
    pub compression: Option<Compression>,
    /// Rows per batch.
    pub batch_size: usize,
    /// Longer text fields are truncated and the row gets [`reason::FIELD_TOO_LONG`].
    pub max_field_bytes: usize,
}

impl ReadOptions {
    /// The compression of `file`: as configured, or from its name.
    pub fn compression_of(&self, file: &RawFile) -> Compression {
        self.compression
            .unwrap_or_else(|| Compression::from_name(&file.url))
    }

    pub fn new(format: Format) -> Self {
        Self {
            format,
            csv: CsvOptions::default(),
            compression: None,
            batch_size: 8192,
            max_field_bytes: 64 * 1024,
        }
    }
}

/// One input file.
#[derive(Debug, Clone)]
pub struct RawFile {
    /// URL, as reported in errors and in [`SOURCE_FILE`].
    pub url: String,
    /// Path in the store.
    pub path: Path,
    /// Size in bytes (from the listing).
    pub size: u64,
}

/// A file that cannot be read at all.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot read `{file}`: {message}")]
pub struct ReadError {
    pub file: String,
    pub message: String,
}

impl ReadError {
    fn new(file: &RawFile, message: impl Into<String>) -> Self {
        Self {
            file: file.url.clone(),
            message: message.into(),
        }
    }
}

/// The files of one source, checked and with a common schema.
#[derive(Debug, Clone)]
pub struct RawSource {
    store: Arc<dyn ObjectStore>,
    files: Vec<RawFile>,
    options: ReadOptions,
    schema: SchemaRef,
    /// Data columns (the schema without the provenance columns).
    columns: Vec<String>,
}

impl RawSource {
    /// Check the files and find the schema: every file must be non-empty; CSV columns
    /// come from the first file's header (or the configured names), NDJSON columns from
    /// the keys of the first file's first 1,000 objects, Parquet columns from the first
    /// footer — and every Parquet footer is read here, so a corrupt one or a different
    /// schema fails before any row is staged.
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        files: Vec<RawFile>,
        options: ReadOptions,
    ) -> Result<Self, ReadError> {
        let first = files.first().cloned().ok_or_else(|| ReadError {
            file: String::new(),
            message: "no files".into(),
        })?;
        for f in &files {
            if f.size == 0 {
                return Err(ReadError::new(f, "empty file (0 bytes)"));
            }
        }
        let fields: Vec<Field> = match options.format {
            Format::Csv => {
                let names = if options.csv.header {
                    let (store, file, opts) = (store.clone(), first.clone(), options.clone());
                    blocking(&first, move |handle| {
                        csv_header(&store, &file, &opts, handle)
                    })
                    .await?
                } else if options.csv.columns.is_empty() {
                    return Err(ReadError::new(
                        &first,
                        "the source has `header = false` but no `columns` list",
                    ));
                } else {
                    options.csv.columns.clone()
                };
                text_fields(&first, &names)?
            }
            Format::Ndjson => {
                let (store, file, opts) = (store.clone(), first.clone(), options.clone());
                let names = blocking(&first, move |handle| {
                    ndjson_keys(&store, &file, &opts, handle)
                })
                .await?;
                text_fields(&first, &names)?
            }
            Format::Parquet => {
                let schema = parquet_schema(&store, &first).await?;
                for f in &files[1..] {
                    let other = parquet_schema(&store, f).await?;
                    same_parquet_schema(&schema, &other).map_err(|m| {
                        ReadError::new(f, format!("{m} (compared with `{}`)", first.url))
                    })?;
                }
                schema
                    .fields()
                    .iter()
                    .map(|f| Field::new(f.name(), f.data_type().clone(), true))
                    .collect()
            }
        };
        let columns = fields.iter().map(|f| f.name().clone()).collect();
        let mut all = fields;
        all.extend(provenance_fields());
        Ok(Self {
            store,
            files,
            options,
            schema: Arc::new(Schema::new(all)),
            columns,
        })
    }

    /// Data columns plus the provenance columns.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn files(&self) -> &[RawFile] {
        &self.files
    }

    /// The rows of file `index`, in file order.
    pub fn stream(&self, index: usize) -> BoxStream<'static, Result<RecordBatch, ReadError>> {
        let Some(file) = self.files.get(index).cloned() else {
            return futures::stream::empty().boxed();
        };
        let (tx, rx) = mpsc::channel::<Result<RecordBatch, ReadError>>(2);
        let store = self.store.clone();
        let options = self.options.clone();
        let columns = self.columns.clone();
        let schema = self.schema.clone();
        match self.options.format {
            Format::Parquet => {
                tokio::spawn(async move {
                    if let Err(e) = read_parquet(&store, &file, &schema, &options, &tx).await {
                        let _ = tx.send(Err(e)).await;
                    }
                });
            }
            Format::Csv | Format::Ndjson => {
                let handle = tokio::runtime::Handle::current();
                tokio::task::spawn_blocking(move || {
                    let mut out = Batcher::new(&schema, &columns, &file, options.batch_size);
                    let send = |batch: RecordBatch| tx.blocking_send(Ok(batch)).is_ok();
                    let result = open_text(&store, &file, &options, handle).and_then(|r| {
                        if options.format == Format::Csv {
                            read_csv(r, &file, &columns, &options, &mut out, &send)
                        } else {
                            read_ndjson(r, &file, &options, &mut out, &send)
                        }
                    });
                    match result {
                        Ok(()) => {
                            if out.len > 0 {
                                let _ = send(out.finish());
                            }
                        }
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                        }
                    }
                });
            }
        }
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
            .boxed()
    }
}

fn provenance_fields() -> Vec<Field> {
    vec![
        Field::new(SOURCE_FILE, DataType::Utf8, false),
        Field::new(SOURCE_ROW, DataType::Int64, false),
        Field::new(READ_ERROR, DataType::Utf8, true),
        Field::new(READ_COLUMN, DataType::Utf8, true),
        Field::new(READ_DETAIL, DataType::Utf8, true),
    ]
}

fn text_fields(file: &RawFile, names: &[String]) -> Result<Vec<Field>, ReadError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for n in names {
        if n.is_empty() {
            return Err(ReadError::new(file, "the header has an empty column name"));
        }
        if n.starts_with("_source_") || n.starts_with("_read_") {
            return Err(ReadError::new(
                file,
                format!("column name `{n}` is reserved for provenance"),
            ));
        }
        if !seen.insert(n.clone()) {
            return Err(ReadError::new(
                file,
                format!("column `{n}` appears twice in the header"),
            ));
        }
        out.push(Field::new(n, DataType::Utf8, true));
    }
    Ok(out)
}

/// Run blocking reader code with the runtime handle (for [`tokio_util::io::SyncIoBridge`]).
async fn blocking<T: Send + 'static>(
    file: &RawFile,
    f: impl FnOnce(tokio::runtime::Handle) -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || f(handle))
        .await
        .map_err(|e| ReadError::new(file, format!("reader task failed: {e}")))?
}

/// A blocking reader over the object's bytes, decompressed by extension (or as
/// configured). The bytes stream from the store; nothing is held whole in memory.
fn open_text(
    store: &Arc<dyn ObjectStore>,
    file: &RawFile,
    options: &ReadOptions,
    handle: tokio::runtime::Handle,
) -> Result<Box<dyn Read + Send>, ReadError> {
    let get = handle
        .block_on(store.get(&file.path))
        .map_err(|e| ReadError::new(file, retain_store::one_line(&e)))?;
    let bytes = get
        .into_stream()
        .map_err(|e| std::io::Error::other(retain_store::one_line(&e)));
    let bridge = tokio_util::io::SyncIoBridge::new_with_handle(
        tokio_util::io::StreamReader::new(bytes),
        handle,
    );
    let raw = BufReader::with_capacity(256 * 1024, bridge);
    let compression = options.compression_of(file);
    Ok(match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw)
                .map_err(|e| ReadError::new(file, format!("zstd: {e}")))?,
        ),
    })
}

/// An I/O error while reading, with what it most likely means.
fn io_error(file: &RawFile, e: &std::io::Error, compression: Compression) -> ReadError {
    let what = match (compression, e.kind()) {
        (Compression::Gzip, std::io::ErrorKind::UnexpectedEof) => {
            "truncated gzip stream (the file ends before the compressed data does)".to_owned()
        }
        (Compression::Gzip, _) => format!("not valid gzip data: {e}"),
        (Compression::Zstd, _) => format!("not valid zstd data (truncated or corrupt): {e}"),
        _ => e.to_string(),
    };
    ReadError::new(file, what)
}

/// CSV records over a byte stream, parsed by `csv-core` with the line of each record
/// counted exactly: the `csv` crate's record positions are taken before it skips blank
/// lines and the `\n` of a CRLF ending, so they drift; here the bytes consumed are
/// counted as they go. The quote characters of each record are counted too, so a quote
/// that never closes is recognised even when it swallowed nothing.
struct CsvRecords<R: BufRead> {
    input: R,
    core: csv_core::Reader,
    quote: u8,
    /// Line of the next unread byte (1-based).
    line: u64,
    out: Vec<u8>,
    ends: Vec<usize>,
    fields: usize,
}

/// One record's place in the file.
struct RecordInfo {
    line: u64,
    /// Quote characters in the record's bytes: odd means a quote never closed.
    quotes: usize,
    /// Nothing but line breaks follows it.
    last: bool,
}

impl<R: BufRead> CsvRecords<R> {
    fn new(input: R, options: &ReadOptions) -> Self {
        Self {
            input,
            core: csv_core::ReaderBuilder::new()
                .delimiter(options.csv.delimiter)
                .quote(options.csv.quote)
                .build(),
            quote: options.csv.quote,
            line: 1,
            out: vec![0; 4096],
            ends: vec![0; 64],
            fields: 0,
        }
    }

    /// Skip line breaks between records (blank lines, the `\n` of `\r\n`); true at the
    /// end of the input.
    fn skip_breaks(&mut self) -> std::io::Result<bool> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(true);
            }
            let skip = buf
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            self.line += buf[..skip].iter().filter(|&&b| b == b'\n').count() as u64;
            let rest = skip < buf.len();
            self.input.consume(skip);
            if rest {
                return Ok(false);
            }
        }
    }

    /// The next record, or `None` at the end of the input.
    fn next(&mut self) -> std::io::Result<Option<RecordInfo>> {
        if self.skip_breaks()? {
            return Ok(None);
        }
        let line = self.line;
        let (mut outlen, mut endlen, mut quotes) = (0, 0, 0);
        loop {
            let buf = self.input.fill_buf()?;
            let (res, nin, nout, nend) =
                self.core
                    .read_record(buf, &mut self.out[outlen..], &mut self.ends[endlen..]);
            let used = &buf[..nin];
            self.line += used.iter().filter(|&&b| b == b'\n').count() as u64;
            quotes += used.iter().filter(|&&b| b == self.quote).count();
            self.input.consume(nin);
            outlen += nout;
            endlen += nend;
            match res {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    let n = self.out.len() * 2;
                    self.out.resize(n, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.fields = endlen;
                    let last = self.skip_breaks()?;
                    return Ok(Some(RecordInfo { line, quotes, last }));
                }
                csv_core::ReadRecordResult::End => return Ok(None),
            }
        }
    }

    fn len(&self) -> usize {
        self.fields
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.fields {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.out[start..self.ends[i]])
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.fields).filter_map(|i| self.get(i))
    }
}

/// The column names: the first record when the file has a header line, else the
/// configured names.
fn header_names<R: BufRead>(
    records: &mut CsvRecords<R>,
    file: &RawFile,
    options: &ReadOptions,
) -> Result<Vec<String>, ReadError> {
    if !options.csv.header {
        return Ok(options.csv.columns.clone());
    }
    match records.next() {
        Ok(Some(_)) => Ok(records
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_owned())
            .collect()),
        Ok(None) => Err(ReadError::new(
            file,
            "no header line (the file has no lines)",
        )),
        Err(e) => Err(io_error(file, &e, options.compression_of(file))),
    }
}

fn csv_header(
    store: &Arc<dyn ObjectStore>,
    file: &RawFile,
    options: &ReadOptions,
    handle: tokio::runtime::Handle,
) -> Result<Vec<String>, ReadError> {
    let input = BufReader::new(open_text(store, file, options, handle)?);
    header_names(&mut CsvRecords::new(input, options), file, options)
}

fn ndjson_keys(
    store: &Arc<dyn ObjectStore>,
    file: &RawFile,
    options: &ReadOptions,
    handle: tokio::runtime::Handle,
) -> Result<Vec<String>, ReadError> {
    let compression = options.compression_of(file);
    let mut r = BufReader::new(open_text(store, file, options, handle)?);
    let mut keys: Vec<String> = Vec::new();
    let mut buf = Vec::new();
    let mut objects = 0;
    for _ in 0..1000 {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| io_error(file, &e, compression))?;
        if n == 0 {
            break;
        }
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(strip_bom(&buf)) {
            objects += 1;
            for k in map.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    if objects == 0 {
        return Err(ReadError::new(
            file,
            "no JSON object in the first 1,000 lines (is it NDJSON?)",
        ));
    }
    Ok(keys)
}

fn strip_bom(line: &[u8]) -> &[u8] {
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
}

/// Builds batches of text rows plus provenance.
struct Batcher {
    schema: SchemaRef,
    values: Vec<StringBuilder>,
    file: String,
    rows: Int64Builder,
    error: StringBuilder,
    column: StringBuilder,
    detail: StringBuilder,
    len: usize,
    batch_size: usize,
}

/// What went wrong with one record.
struct RowError {
    reason: &'static str,
    column: Option<String>,
    detail: String,
}

impl Batcher {
    fn new(schema: &SchemaRef, columns: &[String], file: &RawFile, batch_size: usize) -> Self {
        Self {
            schema: schema.clone(),
            values: columns.iter().map(|_| StringBuilder::new()).collect(),
            file: file.url.clone(),
            rows: Int64Builder::new(),
            error: StringBuilder::new(),
            column: StringBuilder::new(),
            detail: StringBuilder::new(),
            len: 0,
            batch_size: batch_size.max(1),
        }
    }

    /// Append one record; returns a full batch when one is ready.
    fn push<'a>(
        &mut self,
        values: impl Iterator<Item = Option<&'a str>>,
        row: u64,
        error: Option<RowError>,
    ) -> Option<RecordBatch> {
        for (b, v) in self.values.iter_mut().zip(values) {
            b.append_option(v);
        }
        self.rows.append_value(row as i64);
        match error {
            Some(e) => {
                self.error.append_value(e.reason);
                self.column.append_option(e.column);
                self.detail.append_value(e.detail);
            }
            None => {
                self.error.append_null();
                self.column.append_null();
                self.detail.append_null();
            }
        }
        self.len += 1;
        (self.len >= self.batch_size).then(|| self.finish())
    }

    fn finish(&mut self) -> RecordBatch {
        let n = self.len;
        let mut cols: Vec<ArrayRef> = self
            .values
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let mut file = StringBuilder::new();
        for _ in 0..n {
            file.append_value(&self.file);
        }
        cols.push(Arc::new(file.finish()));
        cols.push(Arc::new(self.rows.finish()));
        cols.push(Arc::new(self.error.finish()));
        cols.push(Arc::new(self.column.finish()));
        cols.push(Arc::new(self.detail.finish()));
        self.len = 0;
        // The columns are built to the schema; a mismatch is a bug here, not bad input.
        RecordBatch::try_new(self.schema.clone(), cols)
            .unwrap_or_else(|e| panic!("reader built a batch off its own schema: {e}"))
    }
}

/// Text of a field: invalid UTF-8 is replaced (and reported), overlong fields truncated
/// (and reported).
fn field_text<'a>(
    raw: &'a [u8],
    column: &str,
    max: usize,
    error: &mut Option<RowError>,
) -> std::borrow::Cow<'a, str> {
    let mut text = String::from_utf8_lossy(raw);
    if matches!(text, std::borrow::Cow::Owned(_)) && error.is_none() {
        let at = std::str::from_utf8(raw)
            .err()
            .map(|e| e.valid_up_to())
            .unwrap_or_default();
        *error = Some(RowError {
            reason: reason::INVALID_UTF8,
            column: Some(column.to_owned()),
            detail: format!("bytes that are not UTF-8 at offset {at} of the field"),
        });
    }
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let len = text.len();
        text = std::borrow::Cow::Owned(text[..cut].to_owned());
        if error.is_none() {
            *error = Some(RowError {
                reason: reason::FIELD_TOO_LONG,
                column: Some(column.to_owned()),
                detail: format!("{len} bytes, more than the limit of {max}"),
            });
        }
    }
    text
}

fn read_csv(
    r: Box<dyn Read + Send>,
    file: &RawFile,
    columns: &[String],
    options: &ReadOptions,
    out: &mut Batcher,
    send: &dyn Fn(RecordBatch) -> bool,
) -> Result<(), ReadError> {
    let compression = options.compression_of(file);
    let mut records = CsvRecords::new(BufReader::with_capacity(256 * 1024, r), options);
    // Which field of this file feeds each schema column.
    let names = header_names(&mut records, file, options)?;
    let mut index = Vec::with_capacity(columns.len());
    for c in columns {
        let Some(i) = names.iter().position(|n| n == c) else {
            return Err(ReadError::new(
                file,
                format!(
                    "missing column `{c}` (its header has: {}; the first file's has: {})",
                    names.join(", "),
                    columns.join(", ")
                ),
            ));
        };
        index.push(i);
    }
    let expected = names.len();
    loop {
        let info = match records.next() {
            Ok(Some(info)) => info,
            Ok(None) => break,
            Err(e) => return Err(io_error(file, &e, compression)),
        };
        let line = info.line;
        let n = records.len();
        let breaks = records
            .iter()
            .any(|f| f.contains(&b'\n') || f.contains(&b'\r'));
        // A quote that never closes: an odd number of quote characters in a record that
        // ends the file, or that swallowed line breaks into the wrong number of fields.
        // (A stray quote inside an unquoted field is literal text in CSV: a record with
        // the right number of fields that does not end the file is kept.)
        let unclosed = info.quotes % 2 == 1 && (info.last || n != expected || breaks);
        let mut error = None;
        if unclosed || (n != expected && breaks) {
            error = Some(RowError {
                reason: reason::UNTERMINATED_QUOTE,
                column: None,
                detail: format!(
                    "a quoted field opened on line {line} is never closed ({n} fields, expected {expected})"
                ),
            });
        } else if n != expected {
            error = Some(RowError {
                reason: reason::WRONG_COLUMN_COUNT,
                column: None,
                detail: format!("expected {expected} fields, found {n}"),
            });
        }
        let texts: Vec<Option<std::borrow::Cow<'_, str>>> = index
            .iter()
            .zip(columns)
            .map(|(&i, c)| {
                records
                    .get(i)
                    .map(|raw| field_text(raw, c, options.max_field_bytes, &mut error))
            })
            .collect();
        if let Some(batch) = out.push(texts.iter().map(|t| t.as_deref()), line, error)
            && !send(batch)
        {
            return Ok(()); // the consumer went away
        }
    }
    Ok(())
}

fn read_ndjson(
    r: Box<dyn Read + Send>,
    file: &RawFile,
    options: &ReadOptions,
    out: &mut Batcher,
    send: &dyn Fn(RecordBatch) -> bool,
) -> Result<(), ReadError> {
    let compression = options.compression_of(file);
    let columns: Vec<String> = out
        .schema
        .fields()
        .iter()
        .take(out.values.len())
        .map(|f| f.name().clone())
        .collect();
    let mut r = BufReader::with_capacity(256 * 1024, r);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| io_error(file, &e, compression))?;
        if n == 0 {
            break;
        }
        line += 1;
        let raw = strip_bom(&buf);
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue; // blank line: no record
        }
        let mut error = None;
        let values: Vec<Option<String>> = match std::str::from_utf8(raw) {
            Err(e) => {
                error = Some(RowError {
                    reason: reason::INVALID_UTF8,
                    column: None,
                    detail: format!("bytes that are not UTF-8 at offset {}", e.valid_up_to()),
                });
                vec![None; columns.len()]
            }
            Ok(text) => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(map)) => columns
                    .iter()
                    .map(|c| {
                        let t = match map.get(c) {
                            None | Some(serde_json::Value::Null) => return None,
                            Some(serde_json::Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                        };
                        Some(
                            field_text(t.as_bytes(), c, options.max_field_bytes, &mut error)
                                .into_owned(),
                        )
                    })
                    .collect(),
                Ok(other) => {
                    error = Some(RowError {
                        reason: reason::BROKEN_JSON,
                        column: None,
                        detail: format!("a JSON {} where an object was expected", kind(&other)),
                    });
                    vec![None; columns.len()]
                }
                Err(e) => {
                    error = Some(RowError {
                        reason: reason::BROKEN_JSON,
                        column: None,
                        detail: e.to_string(),
                    });
                    vec![None; columns.len()]
                }
            },
        };
        if let Some(batch) = out.push(values.iter().map(|v| v.as_deref()), line, error)
            && !send(batch)
        {
            return Ok(());
        }
    }
    Ok(())
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[allow(deprecated)]
async fn parquet_builder(
    store: &Arc<dyn ObjectStore>,
    file: &RawFile,
) -> Result<ParquetRecordBatchStreamBuilder<ParquetObjectReader>, ReadError> {
    let reader =
        ParquetObjectReader::new(store.clone(), file.path.clone()).with_file_size(file.size);
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| ReadError::new(file, format!("not a readable Parquet file: {e}")))
}

async fn parquet_schema(
    store: &Arc<dyn ObjectStore>,
    file: &RawFile,
) -> Result<SchemaRef, ReadError> {
    Ok(parquet_builder(store, file).await?.schema().clone())
}

/// Same column names and types (nullability and metadata aside); extra columns are
/// allowed (they are not read).
fn same_parquet_schema(first: &Schema, other: &Schema) -> Result<(), String> {
    for f in first.fields() {
        match other.field_with_name(f.name()) {
            Err(_) => return Err(format!("missing column `{}`", f.name())),
            Ok(o) if o.data_type() != f.data_type() => {
                return Err(format!(
                    "column `{}` is {} here but {} in the first file",
                    f.name(),
                    o.data_type(),
                    f.data_type()
                ));
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

async fn read_parquet(
    store: &Arc<dyn ObjectStore>,
    file: &RawFile,
    schema: &SchemaRef,
    options: &ReadOptions,
    tx: &mpsc::Sender<Result<RecordBatch, ReadError>>,
) -> Result<(), ReadError> {
    let mut stream = parquet_builder(store, file)
        .await?
        .with_batch_size(options.batch_size)
        .build()
        .map_err(|e| ReadError::new(file, e.to_string()))?;
    let n_data = schema.fields().len() - provenance_fields().len();
    let mut row = 0i64;
    while let Some(batch) = stream.next().await {
        let batch =
            batch.map_err(|e| ReadError::new(file, format!("corrupt Parquet data: {e}")))?;
        let n = batch.num_rows();
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for f in schema.fields().iter().take(n_data) {
            let c = batch
                .column_by_name(f.name())
                .ok_or_else(|| ReadError::new(file, format!("missing column `{}`", f.name())))?;
            cols.push(c.clone());
        }
        let mut files = StringBuilder::with_capacity(n, n * file.url.len());
        for _ in 0..n {
            files.append_value(&file.url);
        }
        cols.push(Arc::new(files.finish()));
        cols.push(Arc::new(arrow::array::Int64Array::from_iter_values(
            (row + 1)..=(row + n as i64),
        )));
        row += n as i64;
        for _ in 0..3 {
            cols.push(arrow::array::new_null_array(&DataType::Utf8, n));
        }
        let out = RecordBatch::try_new(schema.clone(), cols)
            .map_err(|e| ReadError::new(file, format!("unexpected column types: {e}")))?;
        if tx.send(Ok(out)).await.is_err() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
