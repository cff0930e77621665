//! The CLV feature columns appended to every feature partition.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;

use super::*;

/// The CLV feature columns of one date: per customer, or the reason there are none.
pub(crate) struct ClvColumns {
    by_customer: HashMap<String, [Option<f64>; 3]>,
    /// Recorded in the feature partition's manifest (`properties.clv`).
    pub manifest: serde_json::Value,
}

impl ClvColumns {
    /// No values: the columns are NULL for every customer, for the reason in `manifest`.
    pub(super) fn none(manifest: serde_json::Value) -> Self {
        ClvColumns {
            by_customer: HashMap::new(),
            manifest,
        }
    }

    /// Append the three columns to a batch of the feature table.
    pub fn append(&self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let ids = batch
            .column_by_name("customer_id")
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| {
                ArrowError::SchemaError("the feature SQL must return a string `customer_id`".into())
            })?;
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for k in 0..CLV_COLUMNS.len() {
            let values: Float64Array = (0..batch.num_rows())
                .map(|i| {
                    if ids.is_null(i) {
                        return None;
                    }
                    self.by_customer.get(ids.value(i)).and_then(|v| v[k])
                })
                .collect();
            columns.push(Arc::new(values));
        }
        RecordBatch::try_new(Arc::new(with_clv_fields(&batch.schema())), columns)
    }
}

/// The feature columns of every customer of a summary, from a fit on it (or the reason
/// there is none, recorded in the manifest).
pub(crate) fn columns(rows: &SummaryRows, model: &FitResult, date: NaiveDate) -> ClvColumns {
    let model = match model {
        Ok(m) => m,
        Err(reason) => {
            tracing::warn!(as_of = %date, "{reason}; the CLV features are NULL");
            return ClvColumns::none(
                serde_json::json!({ "status": "not fitted", "reason": reason.to_string() }),
            );
        }
    };
    let predictions = match model.predict(rows) {
        Ok(p) => p,
        Err(reason) => {
            tracing::warn!(as_of = %date, "CLV predictions failed: {reason}; the CLV features are NULL");
            return ClvColumns::none(
                serde_json::json!({ "status": "not predicted", "reason": reason.to_string() }),
            );
        }
    };
    let by_customer = rows
        .ids
        .iter()
        .zip(&predictions)
        .map(|(id, p)| {
            (
                id.clone(),
                [Some(p.p_alive), Some(p.expected_purchases), p.clv],
            )
        })
        .collect();
    ClvColumns {
        by_customer,
        manifest: serde_json::json!({
            "status": "fitted",
            "bg_nbd": model.bg_nbd.params,
            "gamma_gamma": model.gamma_gamma.as_ref().map(|g| g.params),
            "gamma_gamma_error": model.gamma_gamma_error,
            "time_unit_days": model.time_unit_days,
            "customers": model.summary.customers,
        }),
    }
}

/// The feature table's schema with the CLV columns appended.
pub(crate) fn with_clv_fields(schema: &Schema) -> Schema {
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.extend(
        CLV_COLUMNS
            .iter()
            .map(|name| Arc::new(Field::new(*name, DataType::Float64, true))),
    );
    Schema::new_with_metadata(fields, schema.metadata().clone())
}
