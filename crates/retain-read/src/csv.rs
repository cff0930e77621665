//! CSV: records parsed by `csv-core` with the exact line of each ([`CsvRecords`]), the
//! column names from the header line or the configuration, and the record-to-row loop
//! that names wrong column counts and unterminated quotes.

use std::borrow::Cow;
use std::io::{BufRead, BufReader};
use std::sync::Arc;

use object_store::ObjectStore;

use crate::batcher::{Batcher, RowError, field_text};
use crate::compression::{TextReader, io_error, with_text};
use crate::file::{RawFile, ReadError};
use crate::options::ReadOptions;
use crate::provenance::reason;

/// The column names of a CSV source: the first file's header line, or the configured
/// names when the files have no header.
pub(crate) async fn columns(
    store: &Arc<dyn ObjectStore>,
    first: &RawFile,
    options: &ReadOptions,
) -> Result<Vec<String>, ReadError> {
    if options.csv.header {
        with_text(store, first, options, header).await
    } else if options.csv.columns.is_empty() {
        Err(ReadError::new(
            first,
            "the source has `header = false` but no `columns` list",
        ))
    } else {
        Ok(options.csv.columns.clone())
    }
}

/// The column names in the header line of `file`.
fn header(r: TextReader, file: &RawFile, options: &ReadOptions) -> Result<Vec<String>, ReadError> {
    let input = BufReader::new(r);
    header_names(&mut CsvRecords::new(input, options), file, options)
}

/// The rows of one CSV file, `columns` (the first file's) matched by name to this
/// file's header, sent batch by batch through `out`; stops early when the consumer went
/// away.
pub(crate) fn read_csv(
    r: TextReader,
    file: &RawFile,
    columns: &[String],
    options: &ReadOptions,
    out: &mut Batcher<'_>,
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
        if info.text_after_multiline_quote {
            error = Some(RowError {
                reason: reason::UNTERMINATED_QUOTE,
                column: None,
                detail: format!(
                    "a quoted field opened on line {line} runs over line breaks and has text after its closing quote: a quote left open there made the lines after it part of this one record"
                ),
            });
        } else if unclosed || (n != expected && breaks) {
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
        let texts: Vec<Option<Cow<'_, str>>> = index
            .iter()
            .zip(columns)
            .map(|(&i, c)| {
                records
                    .get(i)
                    .map(|raw| field_text(raw, c, options.max_field_bytes, &mut error))
            })
            .collect();
        if !out.push(texts.iter().map(|t| t.as_deref()), line, error) {
            return Ok(()); // the consumer went away
        }
    }
    Ok(())
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
    delimiter: u8,
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
    /// A quoted field ran over a line break and had text after its closing quote (see
    /// [`QuoteScan`]).
    text_after_multiline_quote: bool,
}

/// The quoting of one record's raw bytes, scanned as csv-core reads them. csv-core
/// accepts text after a closing quote (`"a"b` is `ab`), and so a quote left open on one
/// line and closed by a stray quote on a later one made one well-formed-looking record
/// of every line between (`1,"24 monitor,9.99` … `3,27" monitor,19.99`: three fields, an
/// even number of quotes), and the lines in between vanished without a word. In CSV
/// only a delimiter or the record's end may follow a closing quote; a field that ran
/// over a line break and breaks that rule is that case. Written by hand: csv-core
/// exposes no such flag. (A single-line field with text after its quote stays kept, as
/// before: it cannot have swallowed other records.)
#[derive(Default)]
struct QuoteScan {
    /// Inside a quoted field.
    quoted: bool,
    /// Inside a quoted field, just after a quote (closing, or the first of `""`).
    after_quote: bool,
    /// The current quoted field holds a line break.
    broke: bool,
    /// Not at the start of a field.
    inside: bool,
    /// Text followed the closing quote of a field that held a line break.
    flagged: bool,
}

impl QuoteScan {
    fn feed(&mut self, bytes: &[u8], quote: u8, delimiter: u8) {
        for &b in bytes {
            if self.quoted {
                if self.after_quote {
                    self.after_quote = false;
                    if b == quote {
                        continue; // `""`: an escaped quote
                    }
                    self.quoted = false;
                    if b != delimiter && b != b'\n' && b != b'\r' && self.broke {
                        self.flagged = true;
                    }
                } else {
                    if b == quote {
                        self.after_quote = true;
                    } else if b == b'\n' || b == b'\r' {
                        self.broke = true;
                    }
                    continue;
                }
            }
            if b == delimiter {
                self.inside = false;
            } else if !self.inside && b == quote {
                self.quoted = true;
                self.broke = false;
                self.inside = true;
            } else {
                self.inside = true;
            }
        }
    }
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
            delimiter: options.csv.delimiter,
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
        let mut scan = QuoteScan::default();
        loop {
            let buf = self.input.fill_buf()?;
            let (res, nin, nout, nend) =
                self.core
                    .read_record(buf, &mut self.out[outlen..], &mut self.ends[endlen..]);
            let used = &buf[..nin];
            self.line += used.iter().filter(|&&b| b == b'\n').count() as u64;
            quotes += used.iter().filter(|&&b| b == self.quote).count();
            scan.feed(used, self.quote, self.delimiter);
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
                    return Ok(Some(RecordInfo {
                        line,
                        quotes,
                        last,
                        text_after_multiline_quote: scan.flagged,
                    }));
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
