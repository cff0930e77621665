//! Customer lifetime value: the buy-till-you-die models of `retain-clv` fitted on the
//! per-customer summary that `sql/features/clv_summary.sql` builds from the staged orders.
//!
//! - **Features.** For every feature date D the models are fitted on the summary as of D
//!   (facts strictly before D, like every feature) and give each customer with a completed
//!   order `p_alive`, `expected_purchases_90d` and `clv_12m`, appended to the feature table
//!   (`Ctx::features`). A fit that fails (a shop where nobody buys twice) leaves those
//!   columns NULL, with the reason logged and in the partition's manifest.
//! - **Registry.** `register` stores the fit as of the run's date as a version of the
//!   model `clv` (`models/clv/vNNNN/`: model.json, metrics.json, report.html,
//!   manifest.json) with the model checks analysts expect: the models refitted on the
//!   data before a holdout period, and their expected repeat purchases against the actual
//!   ones, per calibration frequency and cumulated over time.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Float64Type, Int64Type, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::common::ScalarValue;
use datafusion::prelude::DataFrame;
use retain_clv::{
    BgNbdFit, BgNbdParams, ClvHorizon, CustomerPrediction, GammaGammaFit, SpendSummary, Summary,
};
use retain_config::ClvConfig;
use retain_sql::Params;
use serde::{Deserialize, Serialize};

use crate::{Ctx, Error, Result, df_err};

/// The summary SQL, relative to the SQL directory.
pub const CLV_SUMMARY_SQL: &str = "features/clv_summary.sql";
const HOLDOUT_SQL: &str = "clv/holdout.sql";
const BY_DAY_SQL: &str = "clv/repeat_purchases_by_day.sql";

/// The feature columns this module appends, in order.
pub const CLV_COLUMNS: [&str; 3] = ["p_alive", "expected_purchases_90d", "clv_12m"];
/// Days of `expected_purchases_90d`.
const EXPECTED_PURCHASES_DAYS: f64 = 90.0;
/// Monthly periods of `clv_12m`.
const CLV_MONTHS: u32 = 12;
const DAYS_PER_MONTH: f64 = 365.25 / 12.0;
/// Format of `models/clv/<version>/model.json`.
pub const CLV_MODEL_FORMAT: &str = "retain.clv/1";

/// The summary as of one date: one row per customer with a completed order before it.
#[derive(Debug, Default)]
pub(crate) struct SummaryRows {
    pub ids: Vec<String>,
    pub first_day: Vec<NaiveDate>,
    pub x: Vec<f64>,
    pub t_x: Vec<f64>,
    pub t: Vec<f64>,
    /// Mean repeat spend; 0 when x = 0.
    pub zbar: Vec<f64>,
}

/// Shape of the summary a model was fitted on (for the report's axes and for readers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryStats {
    /// Customers with a completed order before the as-of date.
    pub customers: usize,
    /// Customers the BG/NBD was fitted on: those first seen before the last observed
    /// day (T > 0).
    pub fitted_customers: usize,
    /// Customers with at least one repeat purchase.
    pub repeat_customers: usize,
    pub mean_x: f64,
    pub max_x: f64,
    /// 99th percentile of x (nearest rank).
    pub p99_x: f64,
    /// Longest observation T, in the time unit.
    pub max_t: f64,
}

/// A fitted pair of models: `models/clv/<version>/model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClvModel {
    pub format: String,
    /// Facts strictly before this date were used.
    pub as_of: NaiveDate,
    /// Days per time unit of `t_x`, `T` and the fitted alpha.
    pub time_unit_days: u32,
    pub annual_discount_rate: f64,
    pub margin: f64,
    pub summary: SummaryStats,
    pub bg_nbd: BgNbdFit,
    /// None when the spend model could not be fitted (`gamma_gamma_error` says why):
    /// then `clv_12m` is NULL.
    pub gamma_gamma: Option<GammaGammaFit>,
    pub gamma_gamma_error: Option<String>,
}

impl ClvModel {
    /// The `clv_12m` horizon: 12 months of 365.25/12 days, discounted monthly at the
    /// monthly rate equivalent to the yearly one.
    fn horizon(&self) -> std::result::Result<ClvHorizon, retain_clv::Error> {
        ClvHorizon::with_annual_rate(
            CLV_MONTHS,
            DAYS_PER_MONTH / f64::from(self.time_unit_days),
            self.annual_discount_rate,
            12.0,
        )
    }

    /// Predictions for every row of a summary (T = 0 included).
    fn predict(
        &self,
        rows: &SummaryRows,
    ) -> std::result::Result<Vec<CustomerPrediction>, retain_clv::Error> {
        let unit = f64::from(self.time_unit_days);
        let mut out = retain_clv::predict_each(
            &self.bg_nbd.params,
            self.gamma_gamma.as_ref().map(|g| &g.params),
            &rows.x,
            &rows.t_x,
            &rows.t,
            &rows.zbar,
            EXPECTED_PURCHASES_DAYS / unit,
            &self.horizon()?,
        )?;
        for p in &mut out {
            p.clv = p.clv.map(|v| round_cents(v * self.margin));
        }
        Ok(out)
    }
}

fn round_cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0 + 0.0
}

/// Why the CLV models of a date are not there: kept in the run's cache (hence Clone)
/// and recorded in the feature partition's manifest (`properties.clv.reason`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClvFitError {
    #[error(
        "the CLV models as of {as_of} cannot be fitted: no customer has a completed order before {as_of}"
    )]
    NoCustomers { as_of: NaiveDate },
    #[error("the CLV models as of {as_of} cannot be fitted: {source}")]
    Fit {
        as_of: NaiveDate,
        #[source]
        source: retain_clv::Error,
    },
    /// The holdout checks' calibration period has no customer.
    #[error("no customer before {date}")]
    NoCustomerBefore { date: NaiveDate },
    #[error("the CLV models as of {as_of} were fitted but cannot predict: {source}")]
    Predict {
        as_of: NaiveDate,
        #[source]
        source: retain_clv::Error,
    },
}

/// A CLV query's output the stage cannot read, a holdout computation that failed, or a
/// registered CLV version that is missing or unreadable.
#[derive(Debug, thiserror::Error)]
pub enum ClvError {
    /// The summary SQL's output (`origin`) is not what the fit reads.
    #[error("{origin}: {problem}")]
    Summary {
        origin: String,
        problem: SummaryProblem,
    },
    #[error("{origin} must return `{key}` and `{count}` (BIGINT), without NULLs")]
    CountShape {
        origin: String,
        key: String,
        count: String,
    },
    #[error("holdout expectation for {customer}: {source}")]
    Holdout {
        customer: String,
        #[source]
        source: retain_clv::Error,
    },
    #[error("E[X({days} days)]: {source}")]
    Expectation {
        days: usize,
        #[source]
        source: retain_clv::Error,
    },
    #[error("no CLV model in {root}: run `retain clv fit <pipeline.toml>` first")]
    NoModel { root: String },
    #[error("models/clv/champion has no `version`")]
    NoChampionVersion,
    #[error("no CLV model version `{version}` ({dir}/model.json)")]
    NoVersion { version: String, dir: String },
    #[error("{dir}/model.json has format `{found}`; this retain reads `{CLV_MODEL_FORMAT}`")]
    Format { dir: String, found: String },
    #[error("{dir}/metrics.json is missing")]
    NoMetrics { dir: String },
}

/// What is wrong with a CLV summary's rows.
#[derive(Debug, thiserror::Error)]
pub enum SummaryProblem {
    #[error("the summary has no column `{0}`")]
    NoColumn(String),
    #[error("column `{column}`: {source}")]
    Cast {
        column: String,
        #[source]
        source: ArrowError,
    },
    #[error("`{column}` must be {expected}")]
    Type {
        column: &'static str,
        expected: &'static str,
    },
    #[error("row {0} has a NULL customer_id, first_purchase_day, x, t_x or t")]
    Null(usize),
    #[error("`first_purchase_day` out of range")]
    DateOutOfRange,
}

/// Fit both models on a summary. `Err` only when the purchase model cannot be fitted; a
/// spend model that cannot is recorded in the result.
pub(crate) fn fit(rows: &SummaryRows, cfg: &ClvConfig, as_of: NaiveDate) -> FitResult {
    let n = rows.x.len();
    if n == 0 {
        return Err(ClvFitError::NoCustomers { as_of });
    }
    // T = 0 (first purchase on the last observed day) says nothing about rates yet and
    // is outside the likelihood's domain: such customers are predicted, not fitted on.
    let keep: Vec<usize> = (0..n).filter(|&i| rows.t[i] > 0.0).collect();
    let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let (x, t_x, t) = (pick(&rows.x), pick(&rows.t_x), pick(&rows.t));
    let context = |source| ClvFitError::Fit { as_of, source };
    let summary = Summary::new(&x, &t_x, &t).map_err(context)?;
    let bg_nbd = BgNbdFit::fit(&summary, &Default::default()).map_err(context)?;

    let (xr, zr): (Vec<f64>, Vec<f64>) = (0..n)
        .filter(|&i| rows.x[i] > 0.0 && rows.zbar[i] > 0.0)
        .map(|i| (rows.x[i], rows.zbar[i]))
        .unzip();
    let (gamma_gamma, gamma_gamma_error) = match SpendSummary::new(&xr, &zr)
        .and_then(|s| GammaGammaFit::fit(&s, &Default::default()))
        .and_then(|g| g.params.mean_spend().map(|_| g))
    {
        Ok(g) => (Some(g), None),
        Err(retain_clv::Error::Empty) => (
            None,
            Some(format!(
                "Gamma-Gamma as of {as_of}: no customer with a paid repeat purchase"
            )),
        ),
        Err(e) => (None, Some(format!("Gamma-Gamma as of {as_of}: {e}"))),
    };

    let mut sorted = rows.x.clone();
    sorted.sort_by(f64::total_cmp);
    let p99 = sorted[((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1];
    Ok(ClvModel {
        format: CLV_MODEL_FORMAT.into(),
        as_of,
        time_unit_days: cfg.time_unit_days,
        annual_discount_rate: cfg.annual_discount_rate,
        margin: cfg.margin,
        summary: SummaryStats {
            customers: n,
            fitted_customers: keep.len(),
            repeat_customers: rows.x.iter().filter(|&&x| x > 0.0).count(),
            mean_x: rows.x.iter().sum::<f64>() / n as f64,
            max_x: sorted[n - 1],
            p99_x: p99,
            max_t: rows.t.iter().copied().fold(0.0, f64::max),
        },
        bg_nbd,
        gamma_gamma,
        gamma_gamma_error,
    })
}

/// The CLV feature columns of one date: per customer, or the reason there are none.
pub(crate) struct ClvColumns {
    by_customer: HashMap<String, [Option<f64>; 3]>,
    /// Recorded in the feature partition's manifest (`properties.clv`).
    pub manifest: serde_json::Value,
}

impl ClvColumns {
    /// Append the three columns to a batch of the feature table.
    pub fn append(&self, batch: &RecordBatch) -> std::result::Result<RecordBatch, ArrowError> {
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
            return ClvColumns {
                by_customer: HashMap::new(),
                manifest: serde_json::json!({ "status": "not fitted", "reason": reason.to_string() }),
            };
        }
    };
    let predictions = match model.predict(rows) {
        Ok(p) => p,
        Err(reason) => {
            tracing::warn!(as_of = %date, "CLV predictions failed: {reason}; the CLV features are NULL");
            return ClvColumns {
                by_customer: HashMap::new(),
                manifest: serde_json::json!({ "status": "not predicted", "reason": reason.to_string() }),
            };
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

/// The CLV models fitted as of a date, or why they could not be.
pub(crate) type FitResult = std::result::Result<ClvModel, ClvFitError>;

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
            return Ok(ClvColumns {
                by_customer: HashMap::new(),
                manifest: serde_json::json!({ "status": "disabled" }),
            });
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

/// One calibration-frequency group of the holdout check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrequencyCheck {
    /// Repeat purchases in the calibration period: `0` … `6`, then `7+`.
    pub frequency: String,
    pub customers: usize,
    /// Mean repeat purchases in the holdout period.
    pub actual: f64,
    /// Mean of E[Y(holdout) | x, t_x, T] under the calibration fit.
    pub expected: f64,
}

/// Cumulative repeat purchases of the calibration cohort up to (not including) `day`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingPoint {
    pub day: NaiveDate,
    pub actual: f64,
    pub expected: f64,
}

/// P(alive) of the registered fit over frequency (rows) and recency (columns) for a
/// customer observed for `t` time units; `None` where no history exists (x = 0 with a
/// recency above 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PAliveGrid {
    pub t: f64,
    pub frequencies: Vec<u32>,
    pub recencies: Vec<f64>,
    pub values: Vec<Vec<Option<f64>>>,
}

/// The model checks: the purchase model refitted on the data before the holdout
/// period, against what the customers then did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClvChecks {
    /// First day of the holdout period (the calibration fit's as-of date).
    pub calibration_end: NaiveDate,
    pub holdout_days: u32,
    pub calibration_fit: BgNbdParams,
    /// Customers with a completed order before `calibration_end`.
    pub calibration_customers: usize,
    pub holdout_actual_total: f64,
    pub holdout_expected_total: f64,
    pub by_frequency: Vec<FrequencyCheck>,
    /// Weekly, from the first purchase to the as-of date.
    pub tracking: Vec<TrackingPoint>,
}

/// `models/clv/<version>/metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClvMetrics {
    pub as_of: NaiveDate,
    pub bg_nbd_log_likelihood: f64,
    pub gamma_gamma_log_likelihood: Option<f64>,
    /// Pearson correlation of frequency and mean repeat spend over the spend model's
    /// customers; the Gamma-Gamma model assumes it is near 0.
    pub frequency_spend_correlation: Option<f64>,
    /// Mean and total `clv_12m` over the customers as of the date.
    pub mean_clv_12m: Option<f64>,
    pub total_clv_12m: Option<f64>,
    pub p_alive: PAliveGrid,
    /// None when the data before the holdout period could not be fitted
    /// (`checks_error` says why).
    pub checks: Option<ClvChecks>,
    pub checks_error: Option<String>,
    pub run_id: String,
}

/// What `register` stored.
#[derive(Debug, Clone, Serialize)]
pub struct ClvReport {
    pub version: String,
    /// URL of `models/clv/<version>/`.
    pub location: String,
    pub model: ClvModel,
    pub metrics: ClvMetrics,
}

/// The frequency group of a calibration x.
fn frequency_group(x: f64) -> usize {
    (x as usize).min(7)
}

/// The P(alive) grid of a model: frequencies 0 up to the 99th percentile (at least 1, at
/// most 20), eleven recencies from 0 to the longest observation.
fn p_alive_grid(model: &ClvModel) -> PAliveGrid {
    let t = model.summary.max_t;
    let top = (model.summary.p99_x as u32).clamp(1, 20);
    let frequencies: Vec<u32> = (0..=top).collect();
    let recencies: Vec<f64> = (0..=10).map(|k| t * f64::from(k) / 10.0).collect();
    let values = frequencies
        .iter()
        .map(|&x| {
            recencies
                .iter()
                .map(|&t_x| {
                    let valid = if x == 0 { t_x == 0.0 } else { t_x > 0.0 };
                    valid.then(|| {
                        model
                            .bg_nbd
                            .params
                            .probability_alive_one(f64::from(x), t_x, t)
                    })
                })
                .collect()
        })
        .collect();
    PAliveGrid {
        t,
        frequencies,
        recencies,
        values,
    }
}

impl Ctx {
    /// Run one of the CLV check jobs and read its (key, BIGINT count) rows; `key` reads
    /// a key cell (None when the column has another type or the cell is null).
    async fn counts<K>(
        &self,
        rel: &str,
        params: &Params,
        key_column: &str,
        count_column: &str,
        key: impl Fn(&ArrayRef, usize) -> Option<K>,
    ) -> Result<Vec<(K, f64)>> {
        let file = self.sql.load(rel)?;
        let batches = self
            .engine
            .query(&file, params)
            .await?
            .collect()
            .await
            .map_err(df_err(format!("running {}", file.origin)))?;
        let mut out = Vec::new();
        for b in &batches {
            let bad = || ClvError::CountShape {
                origin: file.origin.clone(),
                key: key_column.to_string(),
                count: count_column.to_string(),
            };
            let (Some(keys), Some(n)) = (
                b.column_by_name(key_column),
                b.column_by_name(count_column)
                    .and_then(|c| c.as_primitive_opt::<Int64Type>()),
            ) else {
                return Err(bad().into());
            };
            for i in 0..b.num_rows() {
                let k = key(keys, i).filter(|_| keys.is_valid(i)).ok_or_else(bad)?;
                out.push((k, n.value(i) as f64));
            }
        }
        Ok(out)
    }

    /// The holdout and tracking checks of the models as of `as_of`.
    async fn clv_checks(
        &mut self,
        as_of: NaiveDate,
    ) -> Result<std::result::Result<ClvChecks, ClvFitError>> {
        let holdout_days = self.settings.pipeline.clv.holdout_days;
        let unit = f64::from(self.settings.pipeline.clv.time_unit_days);
        let calibration_end = as_of - Duration::days(i64::from(holdout_days));
        let (rows, model) = self.clv_fit(calibration_end).await?;
        let model = match model {
            Ok(m) => m,
            Err(reason) => return Ok(Err(reason)),
        };
        let params = Params::new()
            .with_as_of(as_of)
            .with_date("calibration_end", calibration_end);

        // Expected vs actual holdout purchases, per calibration frequency.
        let actual: HashMap<String, f64> = self
            .counts(
                HOLDOUT_SQL,
                &params,
                "customer_id",
                "holdout_purchases",
                |c, i| c.as_string_opt::<i32>().map(|s| s.value(i).to_owned()),
            )
            .await?
            .into_iter()
            .collect();
        let horizon = f64::from(holdout_days) / unit;
        let mut groups = [(0usize, 0.0f64, 0.0f64); 8];
        let p = &model.bg_nbd.params;
        for i in 0..rows.ids.len() {
            let expected = p
                .conditional_expected_purchases_one(horizon, rows.x[i], rows.t_x[i], rows.t[i])
                .map_err(|source| ClvError::Holdout {
                    customer: rows.ids[i].clone(),
                    source,
                })?;
            let g = &mut groups[frequency_group(rows.x[i])];
            g.0 += 1;
            g.1 += actual.get(rows.ids[i].as_str()).copied().unwrap_or(0.0);
            g.2 += expected;
        }
        let holdout_actual_total = groups.iter().map(|g| g.1).sum();
        let holdout_expected_total = groups.iter().map(|g| g.2).sum();
        let by_frequency = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.0 > 0)
            .map(|(k, g)| FrequencyCheck {
                frequency: if k == 7 { "7+".into() } else { k.to_string() },
                customers: g.0,
                actual: g.1 / g.0 as f64,
                expected: g.2 / g.0 as f64,
            })
            .collect();

        // Cumulative repeat purchases of the calibration cohort, weekly.
        let mut per_day: Vec<(NaiveDate, f64)> = self
            .counts(BY_DAY_SQL, &params, "day", "repeat_purchases", |c, i| {
                c.as_primitive_opt::<Date32Type>()
                    .and_then(|d| d.value_as_date(i))
            })
            .await?;
        per_day.sort_by_key(|(d, _)| *d);
        let mut cohorts: std::collections::BTreeMap<NaiveDate, f64> = Default::default();
        for d in &rows.first_day {
            *cohorts.entry(*d).or_default() += 1.0;
        }
        let Some(start) = cohorts.keys().next().copied() else {
            return Ok(Err(ClvFitError::NoCustomerBefore {
                date: calibration_end,
            }));
        };
        // E[X(k days)] for every whole number of days k the grid needs.
        let span = (as_of - start).num_days().max(0) as usize;
        let mut unconditional = Vec::with_capacity(span + 1);
        for k in 0..=span {
            unconditional.push(
                p.expected_purchases(k as f64 / unit)
                    .map_err(|source| ClvError::Expectation { days: k, source })?,
            );
        }
        let mut tracking = Vec::new();
        let mut day = start;
        let mut cumulative = 0.0;
        let mut next = 0;
        loop {
            while next < per_day.len() && per_day[next].0 < day {
                cumulative += per_day[next].1;
                next += 1;
            }
            // A customer first seen on day c can have repeated by the end of day `day − 1`,
            // (day − 1 − c) days later.
            let expected: f64 = cohorts
                .range(..day)
                .map(|(c, n)| n * unconditional[((day - *c).num_days() - 1).max(0) as usize])
                .sum();
            tracking.push(TrackingPoint {
                day,
                actual: cumulative,
                expected,
            });
            if day >= as_of {
                break;
            }
            day = (day + Duration::days(7)).min(as_of);
        }
        Ok(Ok(ClvChecks {
            calibration_end,
            holdout_days,
            calibration_fit: model.bg_nbd.params,
            calibration_customers: rows.ids.len(),
            holdout_actual_total,
            holdout_expected_total,
            by_frequency,
            tracking,
        }))
    }
}

/// Store the models fitted as of `as_of` as the next version of `models/clv/`, with
/// their checks, and make it the champion.
pub(crate) async fn register(ctx: &mut Ctx, as_of: NaiveDate) -> Result<ClvReport> {
    let started = std::time::Instant::now();
    let (rows, model) = ctx.clv_fit(as_of).await?;
    let model = model?;
    let predictions = model
        .predict(&rows)
        .map_err(|source| ClvFitError::Predict { as_of, source })?;
    let clvs: Vec<f64> = predictions.iter().filter_map(|p| p.clv).collect();
    let (mean_clv_12m, total_clv_12m) = if clvs.is_empty() {
        (None, None)
    } else {
        let total: f64 = clvs.iter().sum();
        (
            Some(round_cents(total / clvs.len() as f64)),
            Some(round_cents(total)),
        )
    };
    let (checks, checks_error) = match ctx.clv_checks(as_of).await? {
        Ok(c) => (Some(c), None),
        Err(reason) => {
            tracing::warn!("CLV holdout checks skipped: {reason}");
            (None, Some(reason.to_string()))
        }
    };
    let metrics = ClvMetrics {
        as_of,
        bg_nbd_log_likelihood: model.bg_nbd.report.log_likelihood,
        gamma_gamma_log_likelihood: model.gamma_gamma.as_ref().map(|g| g.report.log_likelihood),
        frequency_spend_correlation: model
            .gamma_gamma
            .as_ref()
            .and_then(|g| g.frequency_spend_correlation),
        mean_clv_12m,
        total_clv_12m,
        p_alive: p_alive_grid(&model),
        checks,
        checks_error,
        run_id: ctx.run_id().to_owned(),
    };
    let version = crate::registry::next_version(&ctx.wh, "clv").await?;
    let dir = format!("models/clv/{version}");
    let html = report_html(&version, &model, &metrics, &clvs).map_err(|source| Error::Render {
        stage: "clv",
        what: format!("{dir}/report.html"),
        source,
    })?;
    let files = vec![
        (
            "model.json",
            crate::registry::json_bytes(&model, &format!("{dir}/model.json"))?,
        ),
        (
            "metrics.json",
            crate::registry::json_bytes(&metrics, &format!("{dir}/metrics.json"))?,
        ),
        ("report.html", html.into_bytes()),
    ];
    let summary = serde_json::json!({
        "algorithm": "bg-nbd + gamma-gamma",
        "customers": model.summary.customers,
        "mean_clv_12m": metrics.mean_clv_12m,
    });
    crate::registry::register(&ctx.wh, "clv", &version, as_of, files, summary).await?;
    // The pointer is written last: a reader never sees a champion whose files are missing.
    crate::registry::promote(&ctx.wh, "clv", &version, "fitted by the run").await?;
    let location = ctx.wh.root.url_of(&ctx.wh.root.child(&dir));
    tracing::info!(
        version = %version,
        %location,
        customers = model.summary.customers,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "CLV models registered as champion"
    );
    Ok(ClvReport {
        version,
        location,
        model,
        metrics,
    })
}

/// `report.html` of a registered version: parameters, the holdout and tracking checks,
/// P(alive) over frequency and recency, and the distribution of `clv_12m`.
pub fn report_html(
    version: &str,
    model: &ClvModel,
    metrics: &ClvMetrics,
    clv_12m: &[f64],
) -> std::result::Result<String, retain_report::Error> {
    use retain_report::{BarChart, Chart, HeatMap, Histogram, LineChart, Report, Series, fmt_num};
    let s = &model.summary;
    let mut r = Report::new(format!("CLV models {version}, as of {}", model.as_of));
    r.paragraph(&format!(
        "BG/NBD (purchases) and Gamma-Gamma (spend per purchase) fitted on the completed \
         orders before {}: {} customers, {} of them with repeat purchases. Times are in units \
         of {} days; a purchase is a customer's day with at least one completed order.",
        model.as_of, s.customers, s.repeat_customers, model.time_unit_days
    ));
    r.heading("Parameters");
    let se = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "n/a".into());
    let bg = &model.bg_nbd;
    let bse = bg.standard_errors;
    let mut rows = vec![
        vec![
            "BG/NBD".into(),
            "r".into(),
            fmt_num(bg.params.r),
            se(bse.map(|p| p.r)),
        ],
        vec![
            "BG/NBD".into(),
            "alpha".into(),
            fmt_num(bg.params.alpha),
            se(bse.map(|p| p.alpha)),
        ],
        vec![
            "BG/NBD".into(),
            "a".into(),
            fmt_num(bg.params.a),
            se(bse.map(|p| p.a)),
        ],
        vec![
            "BG/NBD".into(),
            "b".into(),
            fmt_num(bg.params.b),
            se(bse.map(|p| p.b)),
        ],
        vec![
            "BG/NBD".into(),
            "log-likelihood".into(),
            format!("{:.1}", bg.report.log_likelihood),
            String::new(),
        ],
    ];
    if let Some(g) = &model.gamma_gamma {
        let gse = g.standard_errors;
        rows.extend([
            vec![
                "Gamma-Gamma".into(),
                "p".into(),
                fmt_num(g.params.p),
                se(gse.map(|p| p.p)),
            ],
            vec![
                "Gamma-Gamma".into(),
                "q".into(),
                fmt_num(g.params.q),
                se(gse.map(|p| p.q)),
            ],
            vec![
                "Gamma-Gamma".into(),
                "gamma".into(),
                fmt_num(g.params.gamma),
                se(gse.map(|p| p.gamma)),
            ],
            vec![
                "Gamma-Gamma".into(),
                "log-likelihood".into(),
                format!("{:.1}", g.report.log_likelihood),
                String::new(),
            ],
        ]);
    }
    r.table(
        "Fitted parameters",
        &["model", "parameter", "value", "standard error"],
        &rows,
    );
    match (&model.gamma_gamma, &model.gamma_gamma_error) {
        (Some(g), _) => {
            r.paragraph(&format!(
                "The spend model assumes spend independent of purchase frequency. Correlation \
                 of frequency and mean repeat spend over its {} customers: {}.",
                g.report.n_customers,
                g.frequency_spend_correlation
                    .map(|c| format!("{c:.3}"))
                    .unwrap_or_else(|| "undefined (no variation)".into())
            ));
        }
        (None, Some(reason)) => {
            r.paragraph(&format!(
                "The spend model was not fitted: {reason}. clv_12m is null."
            ));
        }
        (None, None) => {}
    }
    match (&metrics.checks, &metrics.checks_error) {
        (Some(c), _) => {
            r.heading("Holdout check");
            r.paragraph(&format!(
                "The purchase model refitted on the orders before {} ({} customers), against \
                 the repeat purchases those customers made in the {} days from then: {:.0} \
                 expected, {:.0} actual.",
                c.calibration_end,
                c.calibration_customers,
                c.holdout_days,
                c.holdout_expected_total,
                c.holdout_actual_total
            ));
            r.chart(&Chart::Bars(BarChart {
                title: "Repeat purchases in the holdout period, per calibration frequency".into(),
                x_label: "repeat purchases before the holdout period".into(),
                y_label: "mean repeat purchases in the holdout period".into(),
                categories: c.by_frequency.iter().map(|f| f.frequency.clone()).collect(),
                series: vec![
                    (
                        "actual".into(),
                        c.by_frequency.iter().map(|f| f.actual).collect(),
                    ),
                    (
                        "expected".into(),
                        c.by_frequency.iter().map(|f| f.expected).collect(),
                    ),
                ],
            }))?;
            let rows: Vec<Vec<String>> = c
                .by_frequency
                .iter()
                .map(|f| {
                    vec![
                        f.frequency.clone(),
                        f.customers.to_string(),
                        format!("{:.3}", f.actual),
                        format!("{:.3}", f.expected),
                    ]
                })
                .collect();
            r.table(
                "Holdout repeat purchases per customer",
                &["frequency", "customers", "actual", "expected"],
                &rows,
            );
            if let Some(first) = c.tracking.first() {
                let day = |d: NaiveDate| (d - first.day).num_days() as f64;
                let top = c
                    .tracking
                    .iter()
                    .map(|p| p.actual.max(p.expected))
                    .fold(0.0, f64::max);
                r.chart(&Chart::Line(LineChart {
                    title: "Cumulative repeat purchases of the calibration customers".into(),
                    x_label: format!("days since {}", first.day),
                    y_label: "repeat purchases".into(),
                    series: vec![
                        Series {
                            name: "actual".into(),
                            points: c.tracking.iter().map(|p| (day(p.day), p.actual)).collect(),
                        },
                        Series {
                            name: "expected".into(),
                            points: c
                                .tracking
                                .iter()
                                .map(|p| (day(p.day), p.expected))
                                .collect(),
                        },
                        Series {
                            name: format!("holdout starts ({})", c.calibration_end),
                            points: vec![
                                (day(c.calibration_end), 0.0),
                                (day(c.calibration_end), top),
                            ],
                        },
                    ],
                    diagonal: false,
                }))?;
            }
        }
        (None, Some(reason)) => {
            r.heading("Holdout check");
            r.paragraph(&format!("Not possible: {reason}."));
        }
        (None, None) => {}
    }
    let g = &metrics.p_alive;
    r.heading("P(alive)");
    r.paragraph(&format!(
        "P(alive) of a customer observed for {:.1} time units (the longest history), by \
         repeat purchases and the time of the last one. A customer without repeat purchases \
         has P(alive) = 1 in the BG/NBD model.",
        g.t
    ));
    r.chart(&Chart::HeatMap(HeatMap {
        title: "P(alive) by frequency and recency".into(),
        x_label: format!(
            "time of the last purchase since the first ({} days)",
            model.time_unit_days
        ),
        y_label: "repeat purchases".into(),
        x_labels: g.recencies.iter().map(|t| format!("{t:.0}")).collect(),
        y_labels: g.frequencies.iter().map(|x| x.to_string()).collect(),
        values: g
            .values
            .iter()
            .map(|row| row.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
            .collect(),
        value_label: "P(alive)".into(),
    }))?;
    if clv_12m.len() >= 2 {
        let mut sorted = clv_12m.to_vec();
        sorted.sort_by(f64::total_cmp);
        // Up to the 99th percentile, so a few large customers do not flatten the rest.
        let top = sorted[((sorted.len() as f64 * 0.99) as usize).min(sorted.len() - 1)];
        if top > 0.0 {
            let bins: Vec<f64> = (0..=25).map(|k| top * f64::from(k) / 25.0).collect();
            let mut counts = vec![0.0; 25];
            for v in clv_12m {
                let k = ((v / top * 25.0) as usize).min(24);
                counts[k] += 1.0;
            }
            r.heading("Customer lifetime value");
            r.paragraph(&format!(
                "clv_12m: discounted expected revenue{} in the 12 months after {}, at {:.0}% a \
                 year. Mean {}, total {} over {} customers; the chart stops at the 99th \
                 percentile (the last bin holds the rest).",
                if model.margin < 1.0 {
                    format!(" × margin {}", model.margin)
                } else {
                    String::new()
                },
                model.as_of,
                100.0 * model.annual_discount_rate,
                metrics.mean_clv_12m.map(fmt_num).unwrap_or_default(),
                metrics
                    .total_clv_12m
                    .map(|v| format!("{v:.0}"))
                    .unwrap_or_default(),
                clv_12m.len()
            ));
            r.chart(&Chart::Histogram(Histogram {
                title: "Distribution of clv_12m".into(),
                x_label: "clv_12m".into(),
                bins,
                series: vec![("customers".into(), counts)],
            }))?;
        }
    }
    Ok(r.to_html())
}

/// A registered version of `models/clv/`: the champion when `version` is None.
pub(crate) async fn load(ctx: &Ctx, version: Option<&str>) -> Result<ClvReport> {
    let version = match version {
        Some(v) => v.to_owned(),
        None => {
            let pointer: serde_json::Value = ctx
                .wh
                .get_json("models/clv/champion")
                .await?
                .ok_or_else(|| ClvError::NoModel {
                    root: ctx.wh.root.url(),
                })?;
            pointer
                .get("version")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or(ClvError::NoChampionVersion)?
        }
    };
    let dir = format!("models/clv/{version}");
    let model: ClvModel = ctx
        .wh
        .get_json(&format!("{dir}/model.json"))
        .await?
        .ok_or_else(|| ClvError::NoVersion {
            version: version.clone(),
            dir: dir.clone(),
        })?;
    if model.format != CLV_MODEL_FORMAT {
        return Err(ClvError::Format {
            dir,
            found: model.format,
        }
        .into());
    }
    let metrics: ClvMetrics = ctx
        .wh
        .get_json(&format!("{dir}/metrics.json"))
        .await?
        .ok_or_else(|| ClvError::NoMetrics { dir: dir.clone() })?;
    Ok(ClvReport {
        location: ctx.wh.root.url_of(&ctx.wh.root.child(&dir)),
        version,
        model,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use chrono::NaiveDate;
    use datafusion::arrow::array::{Array, AsArray, RecordBatch};
    use datafusion::arrow::datatypes::{Float64Type, Int64Type};
    use datafusion::common::ScalarValue;
    use retain_sql::Params;

    use super::*;
    use crate::test_support::{engine_with, orders_batch, run_sql};

    /// The CDNOW files `cargo xtask test` provides (fails, never skips, without them).
    fn cdnow_dir() -> PathBuf {
        PathBuf::from(std::env::var_os("RETAIN_TEST_CDNOW").unwrap_or_else(|| {
            panic!(
                "RETAIN_TEST_CDNOW is not set: run the tests with `cargo xtask test`, or run \
                 `cargo xtask cdnow` and point RETAIN_TEST_CDNOW at the folder it prints"
            )
        }))
    }

    /// CDNOW_sample.txt as staged orders: one completed order per transaction line
    /// (`master_id sample_id YYYYMMDD cds dollars`), the customer being the sample id.
    fn cdnow_orders() -> RecordBatch {
        let text = std::fs::read_to_string(cdnow_dir().join("CDNOW_sample.txt")).unwrap();
        let rows: Vec<(String, i64, &str, f64)> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let day = NaiveDate::parse_from_str(f[2], "%Y%m%d").unwrap();
                let at = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
                let customer = f[1].parse::<u32>().unwrap().to_string();
                (
                    customer,
                    at.timestamp_micros(),
                    "completed",
                    f[4].parse().unwrap(),
                )
            })
            .collect();
        orders_batch(&rows)
    }

    /// Built from the raw CDNOW transactions with the papers' conventions (39-week
    /// calibration period ending 1997-09-30, one transaction per customer and day, weeks),
    /// the summary equals the published cdnow_customers_summary_with_transactions.csv for
    /// every one of the 2,357 customers, to the two decimals it is printed with (x exactly).
    #[tokio::test]
    async fn the_summary_sql_reproduces_the_published_cdnow_summary() {
        let engine = engine_with(vec![("orders", vec![vec![cdnow_orders()]])], None);
        let params = Params::new()
            .with_as_of(NaiveDate::from_ymd_opt(1997, 10, 1).unwrap())
            .with("time_unit_days", ScalarValue::Int64(Some(7)));
        let batches = run_sql(&engine, CLV_SUMMARY_SQL, &params).await;
        let mut got: BTreeMap<String, (i64, f64, f64, f64)> = BTreeMap::new();
        for b in &batches {
            let col = |n: &str| b.column_by_name(n).unwrap().clone();
            let ids = col("customer_id");
            let x = col("x");
            let (tx, t, m) = (col("t_x"), col("t"), col("monetary_value"));
            for i in 0..b.num_rows() {
                let money = m.as_primitive::<Float64Type>();
                got.insert(
                    ids.as_string::<i32>().value(i).to_owned(),
                    (
                        x.as_primitive::<Int64Type>().value(i),
                        tx.as_primitive::<Float64Type>().value(i),
                        t.as_primitive::<Float64Type>().value(i),
                        if money.is_null(i) {
                            0.0
                        } else {
                            money.value(i)
                        },
                    ),
                );
            }
        }
        let published = std::fs::read_to_string(
            cdnow_dir().join("cdnow_customers_summary_with_transactions.csv"),
        )
        .unwrap();
        let mut compared = 0;
        let mut wrong = Vec::new();
        for line in published.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.trim().split(',').collect();
            let want = (
                f[1].parse::<i64>().unwrap(),
                f[2].parse::<f64>().unwrap(),
                f[3].parse::<f64>().unwrap(),
                f[4].parse::<f64>().unwrap(),
            );
            let Some(have) = got.get(f[0]) else {
                wrong.push(format!("customer {} missing", f[0]));
                continue;
            };
            // The file prints two decimals, rounding halves up (32.535 as 32.54): a
            // value matches when it is within half a cent of the printed one.
            let close = |a: f64, b: f64| (a - b).abs() <= 0.005 + 1e-9;
            let same = have.0 == want.0
                && close(have.1, want.1)
                && close(have.2, want.2)
                && close(have.3, want.3);
            if !same {
                wrong.push(format!(
                    "customer {}: got {have:?}, published {want:?}",
                    f[0]
                ));
            }
            compared += 1;
        }
        assert_eq!(compared, 2357);
        assert_eq!(got.len(), 2357, "one row per customer with a purchase");
        assert!(
            wrong.is_empty(),
            "{} differ:\n{}",
            wrong.len(),
            wrong[..wrong.len().min(10)].join("\n")
        );

        // And the models fitted on the SQL's summary give the published parameters.
        let col = |k: usize| -> Vec<f64> {
            got.values()
                .map(|v| [v.0 as f64, v.1, v.2, v.3][k])
                .collect()
        };
        let (x, t_x, t, zbar) = (col(0), col(1), col(2), col(3));
        let summary = Summary::new(&x, &t_x, &t).unwrap();
        let bg = BgNbdFit::fit(&summary, &Default::default()).unwrap();
        let paper = retain_clv::published::CDNOW_BG_NBD;
        for (name, fitted, published) in [
            ("r", bg.params.r, paper.r),
            ("alpha", bg.params.alpha, paper.alpha),
            ("a", bg.params.a, paper.a),
            ("b", bg.params.b, paper.b),
        ] {
            assert!(
                (fitted / published - 1.0).abs() < 0.01,
                "{name} = {fitted}, published {published}"
            );
        }
        let ll = bg.report.log_likelihood;
        let paper_ll = retain_clv::published::CDNOW_BG_NBD_LOG_LIKELIHOOD;
        assert!((ll - paper_ll).abs() < 0.1, "log-likelihood {ll}");
        let (xr, zr): (Vec<f64>, Vec<f64>) = x
            .iter()
            .zip(&zbar)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, z)| (*x, *z))
            .unzip();
        assert_eq!(xr.len(), 946, "repeat customers");
        let spend = SpendSummary::new(&xr, &zr).unwrap();
        let gg = GammaGammaFit::fit(&spend, &Default::default()).unwrap();
        let paper = retain_clv::published::CDNOW_GAMMA_GAMMA;
        for (name, fitted, published) in [
            ("p", gg.params.p, paper.p),
            ("q", gg.params.q, paper.q),
            ("gamma", gg.params.gamma, paper.gamma),
        ] {
            assert!(
                (fitted / published - 1.0).abs() < 0.01,
                "{name} = {fitted}, published {published}"
            );
        }
    }
}
