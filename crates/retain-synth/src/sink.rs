//! Streaming writers over `object_store`: text files through `BufWriter`, the engagement
//! events through parquet's `AsyncArrowWriter`, rolled over into parts.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tokio::io::AsyncWriteExt;

use crate::{Error, Result};

/// Multipart chunk size and in-flight parts per file: bounds memory per writer to about
/// `BUF_CAPACITY × (1 + MAX_CONCURRENCY)`.
const BUF_CAPACITY: usize = 8 * 1024 * 1024;
const MAX_CONCURRENCY: usize = 2;

/// Rows per Parquet row group and per part file.
pub(crate) const ROW_GROUP_ROWS: usize = 100_000;
pub(crate) const PART_ROWS: usize = 5_000_000;

fn buf_writer(store: &Arc<dyn ObjectStore>, path: Path) -> BufWriter {
    BufWriter::with_capacity(Arc::clone(store), path, BUF_CAPACITY)
        .with_max_concurrency(MAX_CONCURRENCY)
}

/// One streamed text object.
pub(crate) struct TextSink {
    path: Path,
    writer: Option<BufWriter>,
}

impl TextSink {
    pub(crate) fn new(store: &Arc<dyn ObjectStore>, path: Path) -> Self {
        let writer = Some(buf_writer(store, path.clone()));
        TextSink { path, writer }
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.to_string(),
            source,
        }
    }

    pub(crate) async fn write(&mut self, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let Some(w) = self.writer.as_mut() else {
            return Err(Error::Internal(format!(
                "write to `{}` after it was closed",
                self.path
            )));
        };
        if let Err(e) = w.write_all(data).await {
            return Err(self.io_error(e));
        }
        Ok(())
    }

    /// Complete the upload: the object appears whole.
    pub(crate) async fn finish(&mut self) -> Result<()> {
        if let Some(mut w) = self.writer.take()
            && let Err(e) = w.shutdown().await
        {
            return Err(self.io_error(e));
        }
        Ok(())
    }

    /// Best effort: drop a partial multipart upload.
    pub(crate) async fn abort(&mut self) {
        if let Some(mut w) = self.writer.take()
            && let Err(e) = w.abort().await
        {
            tracing::warn!(path = %self.path, error = %e, "could not abort upload");
        }
    }
}

/// The `engagement_events/part-NNNNN.parquet` files.
pub(crate) struct EventSink {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    schema: SchemaRef,
    props: WriterProperties,
    writer: Option<(Path, AsyncArrowWriter<BufWriter>)>,
    rows_in_part: usize,
    rows_per_part: usize,
    /// Names of the parts written so far, relative to `dir`.
    pub(crate) parts: Vec<String>,
}

fn parquet_error(path: &Path, source: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        path: path.to_string(),
        source,
    }
}

impl EventSink {
    pub(crate) fn new(
        store: &Arc<dyn ObjectStore>,
        dir: Path,
        schema: SchemaRef,
        rows_per_part: usize,
    ) -> Self {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        EventSink {
            store: Arc::clone(store),
            dir,
            schema,
            props,
            writer: None,
            rows_in_part: 0,
            rows_per_part: rows_per_part.max(1),
            parts: Vec::new(),
        }
    }

    fn open(&mut self) -> Result<()> {
        let name = format!("part-{:05}.parquet", self.parts.len());
        let path = self.dir.clone().join(name.as_str());
        let w = AsyncArrowWriter::try_new(
            buf_writer(&self.store, path.clone()),
            Arc::clone(&self.schema),
            Some(self.props.clone()),
        )
        .map_err(|e| parquet_error(&path, e))?;
        self.parts.push(name);
        self.writer = Some((path, w));
        self.rows_in_part = 0;
        Ok(())
    }

    async fn close_part(&mut self) -> Result<()> {
        if let Some((path, w)) = self.writer.take() {
            w.close().await.map_err(|e| parquet_error(&path, e))?;
        }
        Ok(())
    }

    pub(crate) async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.writer.is_none() {
                self.open()?;
            }
            let take = (self.rows_per_part - self.rows_in_part).min(batch.num_rows() - offset);
            if let Some((path, w)) = self.writer.as_mut() {
                w.write(&batch.slice(offset, take))
                    .await
                    .map_err(|e| parquet_error(path, e))?;
            }
            self.rows_in_part += take;
            offset += take;
            if self.rows_in_part >= self.rows_per_part {
                self.close_part().await?;
            }
        }
        Ok(())
    }

    /// Close the last part; a shop without events still gets an empty `part-00000`.
    pub(crate) async fn finish(&mut self) -> Result<()> {
        if self.parts.is_empty() {
            self.open()?;
        }
        self.close_part().await
    }

    pub(crate) async fn abort(&mut self) {
        if let Some((path, w)) = self.writer.take() {
            let mut inner = w.into_inner();
            if let Err(e) = inner.abort().await {
                tracing::warn!(path = %path, error = %e, "could not abort upload");
            }
        }
    }
}
