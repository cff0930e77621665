//! Helpers for the unit tests that run the repository's SQL jobs on in-memory staged
//! tables (labels, features, the lifetime-value summary).

use std::sync::Arc;

use datafusion::arrow::array::{
    Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::datasource::MemTable;
use retain_sql::{Engine, EngineOptions, Params, SqlSource};

/// A staged `orders` batch, one order per `(customer, ordered_at µs UTC, status, net
/// amount)`; ids are `O0, O1, …` and the other columns are constant.
pub(crate) fn orders_batch(rows: &[(String, i64, &str, f64)]) -> RecordBatch {
    let n = rows.len();
    RecordBatch::try_new(
        crate::contract::schema("orders").unwrap(),
        vec![
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("O{i}")),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.0.as_str()),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(Float64Array::from(vec![0.0; n])),
            Arc::new(StringArray::from(vec!["EUR"; n])),
            Arc::new(StringArray::from(vec!["web"; n])),
            Arc::new(StringArray::from(vec!["books"; n])),
            Arc::new(Int64Array::from(vec![1; n])),
        ],
    )
    .unwrap()
}

/// An engine with each `(name, partitions)` registered as an in-memory table.
pub(crate) fn engine_with(
    tables: Vec<(&str, Vec<Vec<RecordBatch>>)>,
    target_partitions: Option<usize>,
) -> Engine {
    let engine = Engine::embedded(&EngineOptions {
        target_partitions,
        ..EngineOptions::default()
    })
    .unwrap();
    for (name, partitions) in tables {
        let schema = partitions[0][0].schema();
        let table = MemTable::try_new(schema, partitions).unwrap();
        engine.ctx().register_table(name, Arc::new(table)).unwrap();
    }
    engine
}

/// Run the embedded SQL file `rel` with `params` and collect its rows.
pub(crate) async fn run_sql(engine: &Engine, rel: &str, params: &Params) -> Vec<RecordBatch> {
    let file = SqlSource::default().load(rel).unwrap();
    engine
        .query(&file, params)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
}
