//! What the CLV stage reads and produced, as data: the summary of a date, `model.json` and
//! `metrics.json` of a version of
//! `models/clv/`, with the holdout checks. [`crate::clv`] builds them (and predicts with
//! [`ClvModel`]); [`crate::reports::clv`] and the CLI read them, so the page does not
//! depend on the stage.

use chrono::NaiveDate;
use retain_clv::{BgNbdFit, BgNbdParams, GammaGammaFit};
use serde::{Deserialize, Serialize};

/// Format of `models/clv/<version>/model.json`.
pub const CLV_MODEL_FORMAT: &str = "retain.clv/1";

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

/// The summary as of one date: one row per customer with a completed order before it.
#[derive(Debug, Default)]
pub struct SummaryRows {
    pub ids: Vec<String>,
    pub first_day: Vec<NaiveDate>,
    pub x: Vec<f64>,
    pub t_x: Vec<f64>,
    pub t: Vec<f64>,
    /// Mean repeat spend; 0 when x = 0.
    pub zbar: Vec<f64>,
}
