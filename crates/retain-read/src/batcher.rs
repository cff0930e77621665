//! Batches of text rows: [`Batcher`] appends the fields of CSV and NDJSON records with
//! their line and read error ([`RowError`]) and sends each full batch on; [`field_text`]
//! turns a raw field into text, reporting invalid UTF-8 and overlong fields.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::SchemaRef;

use crate::file::RawFile;
use crate::provenance::{file_column, reason};

/// What went wrong with one record.
pub(crate) struct RowError {
    /// One of the [`reason`] codes.
    pub(crate) reason: &'static str,
    pub(crate) column: Option<String>,
    pub(crate) detail: String,
}

/// Builds batches of text rows plus provenance, and hands each full one to `send`.
pub(crate) struct Batcher<'a> {
    schema: SchemaRef,
    values: Vec<StringBuilder>,
    file: String,
    rows: Int64Builder,
    error: StringBuilder,
    column: StringBuilder,
    detail: StringBuilder,
    len: usize,
    batch_size: usize,
    /// Takes a batch; false when the consumer went away.
    send: &'a dyn Fn(RecordBatch) -> bool,
}

impl<'a> Batcher<'a> {
    pub(crate) fn new(
        schema: &SchemaRef,
        columns: &[String],
        file: &RawFile,
        batch_size: usize,
        send: &'a dyn Fn(RecordBatch) -> bool,
    ) -> Self {
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
            send,
        }
    }

    /// Append one record, and send the batch when it is full; false when the consumer
    /// went away (stop reading).
    pub(crate) fn push<'v>(
        &mut self,
        values: impl Iterator<Item = Option<&'v str>>,
        row: u64,
        error: Option<RowError>,
    ) -> bool {
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
        if self.len < self.batch_size {
            return true;
        }
        let batch = self.finish();
        (self.send)(batch)
    }

    /// Send the last, partly filled batch, if any row is waiting.
    pub(crate) fn flush(&mut self) {
        if self.len > 0 {
            let batch = self.finish();
            let _ = (self.send)(batch);
        }
    }

    /// The rows appended since the last batch, as a batch.
    fn finish(&mut self) -> RecordBatch {
        let n = self.len;
        let mut cols: Vec<ArrayRef> = self
            .values
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        cols.push(file_column(&self.file, n));
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
pub(crate) fn field_text<'a>(
    raw: &'a [u8],
    column: &str,
    max: usize,
    error: &mut Option<RowError>,
) -> Cow<'a, str> {
    let mut text = String::from_utf8_lossy(raw);
    if matches!(text, Cow::Owned(_)) && error.is_none() {
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
        text = Cow::Owned(text[..cut].to_owned());
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
