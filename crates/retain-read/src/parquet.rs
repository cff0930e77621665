//! Parquet: the source's columns from the footers (every file's footer is read and
//! compared with the first's when the source opens), and the rows of a file with their
//! 1-based row numbers. Parquet keeps its own types.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::StreamExt;
use object_store::ObjectStore;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
// `ParquetObjectReader` is deprecated in parquet 59 in favour of hand-written
// `AsyncFileReader`s; it is still the maintained object_store adapter DataFusion 55's
// pin ships, so we keep it until the parquet bump.
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use tokio::sync::mpsc;

use crate::file::{RawFile, ReadError};
use crate::options::ReadOptions;
use crate::provenance::{file_column, provenance_fields};

/// The data columns of a Parquet source (all nullable): the first file's, which every
/// other file must have with the same types.
pub(crate) async fn fields(
    store: &Arc<dyn ObjectStore>,
    first: &RawFile,
    others: &[RawFile],
) -> Result<Vec<Field>, ReadError> {
    let schema = parquet_schema(store, first).await?;
    for f in others {
        let other = parquet_schema(store, f).await?;
        same_parquet_schema(&schema, &other)
            .map_err(|m| ReadError::new(f, format!("{m} (compared with `{}`)", first.url)))?;
    }
    Ok(schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), f.data_type().clone(), true))
        .collect())
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

/// The rows of one Parquet file, with the provenance columns of `schema`, sent batch by
/// batch until the receiver goes away.
pub(crate) async fn read_parquet(
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
        cols.push(file_column(&file.url, n));
        cols.push(Arc::new(Int64Array::from_iter_values(
            (row + 1)..=(row + n as i64),
        )));
        row += n as i64;
        for _ in 0..3 {
            cols.push(new_null_array(&DataType::Utf8, n));
        }
        let out = RecordBatch::try_new(schema.clone(), cols)
            .map_err(|e| ReadError::new(file, format!("unexpected column types: {e}")))?;
        if tx.send(Ok(out)).await.is_err() {
            break;
        }
    }
    Ok(())
}
