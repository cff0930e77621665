//! The summary SQL as of a date, and the fit on it (once per run per date).

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::prelude::DataFrame;
use retain_sql::Params;

use super::*;
use crate::{Ctx, Error, Result, df_err};

impl Ctx {
    /// The CLV models fitted as of `date` (once per run per date).
    pub(crate) async fn clv_fit(
        &mut self,
        date: NaiveDate,
    ) -> Result<(Arc<SummaryRows>, FitResult)> {
        if let Some(hit) = self.memo.clv_fits.get(&date) {
            return Ok(hit.clone());
        }
        let started = std::time::Instant::now();
        let rows = Arc::new(self.clv_summary(date).await?);
        let summary_ms = started.elapsed().as_millis() as u64;
        let cfg = self.settings.pipeline.clv.clone();
        let model = {
            let rows = rows.clone();
            // A fit whose predictions cannot be computed (parameters so extreme that 2F1
            // does not converge, as on a handful of customers) counts as not fitted.
            tokio::task::spawn_blocking(move || {
                fit(&rows, &cfg, date).and_then(|m| match m.predict(&rows) {
                    Ok(_) => Ok(m),
                    Err(source) => Err(ClvFitError::Predict {
                        as_of: date,
                        source,
                    }),
                })
            })
            .await
            .map_err(|source| Error::Stopped {
                stage: "clv",
                what: format!("the CLV fit as of {date}"),
                source,
            })?
        };
        match &model {
            Ok(m) => tracing::info!(
                as_of = %date,
                customers = m.summary.customers,
                r = m.bg_nbd.params.r,
                alpha = m.bg_nbd.params.alpha,
                a = m.bg_nbd.params.a,
                b = m.bg_nbd.params.b,
                spend_model = m.gamma_gamma.is_some(),
                summary_ms,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "CLV models fitted"
            ),
            Err(reason) => tracing::debug!(as_of = %date, "{reason}"),
        }
        if let Ok(m) = &model
            && let Some(reason) = &m.gamma_gamma_error
        {
            tracing::warn!(as_of = %date, "{reason}; clv_12m is NULL");
        }
        self.memo
            .clv_fits
            .insert(date, (rows.clone(), model.clone()));
        Ok((rows, model))
    }

    /// The feature columns as of `date`, from the models fitted as of `date`.
    pub(crate) async fn clv_columns(&mut self, date: NaiveDate) -> Result<ClvColumns> {
        if !self.settings.pipeline.clv.enabled {
            return Ok(ClvColumns::none(
                serde_json::json!({ "status": "disabled" }),
            ));
        }
        let (rows, model) = self.clv_fit(date).await?;
        Ok(columns(&rows, &model, date))
    }

    /// The summary SQL as of `date`, planned (not run), with its file's origin.
    pub(crate) async fn clv_summary_query(&self, date: NaiveDate) -> Result<(DataFrame, String)> {
        let cfg = &self.settings.pipeline.clv;
        let file = self
            .sql
            .load(cfg.sql.as_deref().unwrap_or(CLV_SUMMARY_SQL))?;
        let params = Params::new().with_as_of(date).with(
            "time_unit_days",
            ScalarValue::Int64(Some(i64::from(cfg.time_unit_days))),
        );
        Ok((self.engine.query(&file, &params).await?, file.origin))
    }

    /// Run the summary SQL as of `date`.
    async fn clv_summary(&self, date: NaiveDate) -> Result<SummaryRows> {
        let (query, origin) = self.clv_summary_query(date).await?;
        let batches = query
            .collect()
            .await
            .map_err(df_err(format!("running {origin}")))?;
        summary_rows(&batches).map_err(|problem| {
            ClvError::Summary {
                origin: origin.to_string(),
                problem,
            }
            .into()
        })
    }
}

/// Read the summary SQL's output (customer_id, first_purchase_day, x, t_x, t,
/// monetary_value).
pub(crate) fn summary_rows(
    batches: &[RecordBatch],
) -> std::result::Result<SummaryRows, SummaryProblem> {
    let mut rows = SummaryRows::default();
    for b in batches {
        let col = |name: &str| {
            b.column_by_name(name)
                .ok_or_else(|| SummaryProblem::NoColumn(name.to_owned()))
        };
        let float = |name: &str| -> std::result::Result<Float64Array, SummaryProblem> {
            let c =
                cast(col(name)?, &DataType::Float64).map_err(|source| SummaryProblem::Cast {
                    column: name.to_owned(),
                    source,
                })?;
            Ok(c.as_primitive::<Float64Type>().clone())
        };
        let ids = col("customer_id")?
            .as_string_opt::<i32>()
            .ok_or(SummaryProblem::Type {
                column: "customer_id",
                expected: "a string",
            })?;
        let first = col("first_purchase_day")?
            .as_primitive_opt::<Date32Type>()
            .ok_or(SummaryProblem::Type {
                column: "first_purchase_day",
                expected: "a DATE",
            })?;
        let (x, t_x, t, m) = (
            float("x")?,
            float("t_x")?,
            float("t")?,
            float("monetary_value")?,
        );
        for i in 0..b.num_rows() {
            if ids.is_null(i) || first.is_null(i) || x.is_null(i) || t_x.is_null(i) || t.is_null(i)
            {
                return Err(SummaryProblem::Null(rows.x.len()));
            }
            rows.ids.push(ids.value(i).to_owned());
            rows.first_day.push(
                first
                    .value_as_date(i)
                    .ok_or(SummaryProblem::DateOutOfRange)?,
            );
            rows.x.push(x.value(i));
            rows.t_x.push(t_x.value(i));
            rows.t.push(t.value(i));
            rows.zbar.push(if m.is_null(i) { 0.0 } else { m.value(i) });
        }
    }
    Ok(rows)
}
