//! [`RawSource`]: the files of one source, opened and checked together (one schema for
//! all of them), and each file's rows as a stream of batches, read by the format's
//! module.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::ObjectStore;
use tokio::sync::mpsc;

use crate::batcher::Batcher;
use crate::compression::open_text;
use crate::file::{RawFile, ReadError};
use crate::options::{Format, ReadOptions};
use crate::provenance::{provenance_fields, text_fields};
use crate::{csv, ndjson, parquet};

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
        let Some((first, others)) = files.split_first() else {
            return Err(ReadError {
                file: String::new(),
                message: "no files".into(),
            });
        };
        for f in &files {
            if f.size == 0 {
                return Err(ReadError::new(f, "empty file (0 bytes)"));
            }
        }
        let fields: Vec<Field> = match options.format {
            Format::Csv => text_fields(first, &csv::columns(&store, first, &options).await?)?,
            Format::Ndjson => text_fields(first, &ndjson::columns(&store, first, &options).await?)?,
            Format::Parquet => parquet::fields(&store, first, others).await?,
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
                    if let Err(e) =
                        parquet::read_parquet(&store, &file, &schema, &options, &tx).await
                    {
                        let _ = tx.send(Err(e)).await;
                    }
                });
            }
            Format::Csv | Format::Ndjson => {
                let handle = tokio::runtime::Handle::current();
                tokio::task::spawn_blocking(move || {
                    let send = |batch: RecordBatch| tx.blocking_send(Ok(batch)).is_ok();
                    let mut out = Batcher::new(&schema, &columns, &file, options.batch_size, &send);
                    let read = if options.format == Format::Csv {
                        csv::read_csv
                    } else {
                        ndjson::read_ndjson
                    };
                    let result = open_text(&store, &file, &options, handle)
                        .and_then(|r| read(r, &file, &columns, &options, &mut out));
                    match result {
                        Ok(()) => out.flush(),
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
