//! What training a model produced, as data: the report of a registered version, its
//! `metrics.json`, the per-snapshot label statistics and the validation predictions the
//! model page charts. [`crate::train`] builds them; [`crate::reports::model`] and the run
//! record read them, so neither depends on the other.

use chrono::NaiveDate;
use retain_model::{Metrics, ModelArtifact};
use serde::Serialize;

/// What training a model produced.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub name: String,
    /// The spec file (path, or `models/<name>.toml (embedded)`).
    pub spec: String,
    pub version: String,
    pub algorithm: String,
    pub training_snapshots: usize,
    pub validation_snapshot: NaiveDate,
    /// Rows the estimator was fitted on.
    pub training_rows: u64,
    /// Training rows held out to fit the calibration and the baseline.
    pub calibration_rows: u64,
    pub validation_rows: u64,
    /// ROC AUC on the rows it was fitted on; `None` with one class only.
    pub train_auc: Option<f64>,
    /// ROC AUC on the validation snapshot; `None` when it has one class only.
    pub validation_auc: Option<f64>,
    pub validation_base_rate: f64,
    /// Out-of-time metrics of the calibrated model, the uncalibrated one, and the
    /// recency-only baseline.
    pub validation: Metrics,
    pub uncalibrated: Metrics,
    pub baseline: Option<Metrics>,
    /// Seconds spent fitting the estimator.
    pub fit_seconds: f64,
    /// The champion after this training, and what happened to it.
    pub champion: Option<String>,
    pub promotion: String,
    /// Where the version's files are.
    pub location: String,
}

/// `metrics.json` of a version: out-of-time metrics of the model, the uncalibrated
/// model and the naive baseline, plus the in-sample ones. No timestamps or run ids, so
/// the same data, spec and seed give the same bytes.
#[derive(Debug, Clone, Serialize)]
pub struct ModelMetrics {
    pub model: String,
    pub version: String,
    pub algorithm: String,
    pub validation_snapshot: NaiveDate,
    /// Calibrated probabilities on the validation snapshot: the model's numbers.
    pub validation: Metrics,
    pub validation_uncalibrated: Metrics,
    pub baseline: Option<Baseline>,
    /// Rows the estimator was fitted on (in-sample).
    pub train: Metrics,
    /// The held-out calibration slice, after calibration.
    pub calibration: Option<Metrics>,
    pub snapshots: Vec<SnapshotStats>,
}

/// The naive baseline: customers ranked by days since their last order alone, turned
/// into probabilities by an isotonic fit on the calibration slice.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    pub feature: String,
    /// `higher` when more days since the last order means the label is more likely.
    pub direction: String,
    /// Ranking metrics (ROC/PR AUC, lift, capture) of the raw rank; probability metrics
    /// (log loss, Brier, ECE) of the isotonic probabilities.
    pub validation: Metrics,
}

/// Everything one training produced, for the registry and the report.
pub(crate) struct Trained {
    pub artifact: ModelArtifact,
    pub metrics: ModelMetrics,
    /// Validation labels and scores (calibrated, raw, baseline) for the report's curves.
    pub y_val: Vec<bool>,
    pub p_val: Vec<f64>,
    pub raw_val: Vec<f64>,
    pub baseline_val: Option<Vec<f64>>,
    pub fit_seconds: f64,
}

/// Rows and label rate of one labelled snapshot (in the training set's manifest).
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotStats {
    pub as_of: NaiveDate,
    pub split: &'static str,
    pub rows: u64,
    pub positives: u64,
    /// Share of positive labels; null for a snapshot without rows.
    pub label_rate: Option<f64>,
}
