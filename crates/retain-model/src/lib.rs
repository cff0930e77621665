//! Model fitting, evaluation and the artifact format.
//!
//! Fitting is linfa's L2-regularised logistic regression on standardised features. This
//! crate adds what linfa does not: the standardiser, the class orientation (linfa's
//! `predict_probabilities` is the probability of the *more frequent* training class, see
//! [`fit_logistic`]), evaluation metrics ([`metrics`]), probability calibration
//! ([`calibration`]), per-feature contributions for reasons, and a stable JSON artifact
//! that scoring reads without linfa.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

pub mod calibration;
pub mod delong;
pub mod encoding;
pub mod forest;
pub mod gbdt;
pub mod metrics;
#[cfg(test)]
mod sklearn_agreement;
#[cfg(test)]
mod test_support;
pub mod tree;

pub use calibration::Calibration;
pub use encoding::{Encoding, Input};
pub use metrics::{Metrics, evaluate};
pub use tree::{Link, TreeModel};

/// Errors fitting or using a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The training set cannot be fitted (e.g. one class only, no rows).
    #[error("cannot train `{model}`: {message}")]
    Data { model: String, message: String },
    /// linfa refused or failed the fit.
    #[error("fitting `{model}` failed: {source}")]
    Fit {
        model: String,
        #[source]
        source: linfa_logistic::error::Error,
    },
    /// A tree learner refused or failed the fit.
    #[error("fitting `{model}` failed: {message}")]
    Trees { model: String, message: String },
    /// An artifact does not match what scoring expects.
    #[error("model artifact `{model}`: {message}")]
    Artifact { model: String, message: String },
    /// Metrics or calibration were given no rows.
    #[error("no rows to evaluate")]
    Empty,
    /// Metrics or calibration were given a different number of predictions and labels.
    #[error("{predictions} predictions but {labels} labels")]
    LengthMismatch { predictions: usize, labels: usize },
    /// A ranking score (AUC, average precision, lift) is NaN.
    #[error("score in row {index} is NaN")]
    InvalidScore { index: usize },
    /// A probability (log loss, Brier, calibration) is NaN or outside [0, 1].
    #[error("probability in row {index} is {value}, not in [0, 1]")]
    InvalidProbability { index: usize, value: f64 },
    /// A calibration cannot be fitted to the slice (one class only; for Platt scaling,
    /// labels that `p` separates perfectly, or a Newton fit that does not converge).
    #[error("cannot fit {method} calibration: {message}")]
    Calibration {
        method: &'static str,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A dense design matrix with its labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Column names, in the order of `x`'s columns.
    pub features: Vec<String>,
    /// Rows × features; NaN marks a missing value (imputed by the fit).
    pub x: Array2<f64>,
    /// One label per row.
    pub y: Vec<bool>,
}

impl Dataset {
    pub fn rows(&self) -> usize {
        self.x.nrows()
    }
    pub fn positives(&self) -> usize {
        self.y.iter().filter(|&&b| b).count()
    }
}

/// A fitted logistic model, in the form scoring needs: probabilities of `true` as
/// `sigmoid(intercept + Σ coef_i · (x_i − mean_i) / scale_i)`, where a missing `x_i`
/// (NaN) is replaced by `fill_i`, the feature's mean over the training rows that had it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    pub features: Vec<String>,
    /// Value used for a missing feature: its training mean (0 when no training row had
    /// it, e.g. a source the shop lacks; such a column is constant and contributes 0).
    #[serde(default)]
    pub fill: Vec<f64>,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
}

impl LogisticModel {
    /// Standardised contribution of each feature to the log-odds for one row.
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .zip(&self.coefficients)
            .enumerate()
            .map(|(j, (((x, m), s), c))| c * (self.value(j, *x) - m) / s)
            .collect()
    }

    /// `x` for feature `j`, or the training fill when it is missing (NaN).
    pub fn value(&self, j: usize, x: f64) -> f64 {
        if x.is_nan() {
            self.fill.get(j).copied().unwrap_or(0.0)
        } else {
            x
        }
    }

    /// Probability of the positive class for one row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        let z: f64 = self.intercept + self.contributions(row).iter().sum::<f64>();
        sigmoid(z)
    }

    /// Probabilities for every row of a matrix.
    pub fn predict_all(&self, x: &Array2<f64>) -> Vec<f64> {
        map_rows(x, |r| self.predict(r))
    }
}

/// `f` of every row of a matrix, as a slice.
pub(crate) fn map_rows(x: &Array2<f64>, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    x.rows()
        .into_iter()
        .map(|r| match r.as_slice() {
            Some(s) => f(s),
            None => f(&r.to_vec()),
        })
        .collect()
}

/// Non-negative weights as shares of their total (unchanged when the total is 0).
pub(crate) fn shares(mut v: Vec<f64>) -> Vec<f64> {
    let total: f64 = v.iter().sum();
    if total > 0.0 {
        v.iter_mut().for_each(|x| *x /= total);
    }
    v
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Fit an L2-regularised logistic regression on standardised features.
///
/// linfa maps the *more frequent* class of the targets to its positive label, so
/// `predict_probabilities` means P(true) for one class balance and P(false) for the
/// other. We read `labels()` and flip the coefficients when the positive label is
/// `false`, so [`LogisticModel::predict`] is always P(true).
pub fn fit_logistic(
    model: &str,
    data: &Dataset,
    alpha: f64,
    max_iterations: u64,
) -> Result<LogisticModel> {
    check_trainable(model, data)?;
    let (mut z, fill) = impute(&data.x);
    let (mean, scale) = standardiser(&z);
    for mut row in z.rows_mut() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (*v - mean[j]) / scale[j];
        }
    }
    let targets = Array1::from(data.y.clone());
    let ds = linfa::Dataset::new(z, targets);
    let fitted = LogisticRegression::default()
        .alpha(alpha)
        .max_iterations(max_iterations)
        .with_intercept(true)
        .fit(&ds)
        .map_err(|source| Error::Fit {
            model: model.into(),
            source,
        })?;
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    Ok(LogisticModel {
        features: data.features.clone(),
        fill,
        mean,
        scale,
        coefficients: fitted.params().iter().map(|c| sign * c).collect(),
        intercept: sign * fitted.intercept(),
    })
}

/// The matrix with every missing value (NaN) replaced by its column's fill (the mean
/// of the values present, 0 for a column with none), and the fills.
pub fn impute(x: &Array2<f64>) -> (Array2<f64>, Vec<f64>) {
    let fill = fill_values(x);
    let mut z = x.clone();
    for mut row in z.rows_mut() {
        for (j, v) in row.iter_mut().enumerate() {
            if v.is_nan() {
                *v = fill[j];
            }
        }
    }
    (z, fill)
}

/// Check a training set has rows of both classes.
pub(crate) fn check_trainable(model: &str, data: &Dataset) -> Result<()> {
    let n = data.rows();
    if n == 0 {
        return Err(Error::Data {
            model: model.into(),
            message: "the training set is empty".into(),
        });
    }
    let pos = data.positives();
    if pos == 0 || pos == n {
        return Err(Error::Data {
            model: model.into(),
            message: format!(
                "all {n} training rows have label {}: nothing to learn",
                pos == n
            ),
        });
    }
    Ok(())
}

/// Per column, the mean of the values present (NaN is missing); 0 for a column with none.
fn fill_values(x: &Array2<f64>) -> Vec<f64> {
    x.columns()
        .into_iter()
        .map(|col| {
            let (sum, n) = col
                .iter()
                .filter(|v| !v.is_nan())
                .fold((0.0, 0u64), |(s, n), v| (s + v, n + 1));
            if n == 0 { 0.0 } else { sum / n as f64 }
        })
        .collect()
}

/// Column means and standard deviations (1 for constant columns, so they contribute 0).
fn standardiser(x: &Array2<f64>) -> (Vec<f64>, Vec<f64>) {
    let n = x.nrows().max(1) as f64;
    let mut mean = Vec::with_capacity(x.ncols());
    let mut scale = Vec::with_capacity(x.ncols());
    for col in x.columns() {
        let m = col.sum() / n;
        let var = col.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
        mean.push(m);
        scale.push(if var > 1e-12 { var.sqrt() } else { 1.0 });
    }
    (mean, scale)
}

/// Build the dense matrix of `features` (in that order) from Arrow batches. Every
/// numeric or boolean column is cast to Float64; a null becomes NaN, "missing", which
/// the fit imputes with the training mean and scoring with the same stored value.
pub fn design_matrix(batches: &[RecordBatch], features: &[String]) -> Result<Array2<f64>> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut x = Array2::from_elem((rows, features.len()), f64::NAN);
    let mut offset = 0;
    for batch in batches {
        for (j, name) in features.iter().enumerate() {
            let col = batch.column_by_name(name).ok_or_else(|| Error::Data {
                model: String::new(),
                message: format!("feature column `{name}` is missing from the feature table"),
            })?;
            let cast = arrow::compute::cast(col, &DataType::Float64).map_err(|e| Error::Data {
                model: String::new(),
                message: format!("feature column `{name}` is not numeric: {e}"),
            })?;
            let values = cast.as_primitive::<Float64Type>();
            for i in 0..values.len() {
                if values.is_valid(i) {
                    x[[offset + i, j]] = values.value(i);
                }
            }
        }
        offset += batch.num_rows();
    }
    Ok(x)
}

/// A fitted model of any supported algorithm, tagged by `kind` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Estimator {
    /// L2-regularised logistic regression (linfa-logistic).
    Logistic(LogisticModel),
    /// One CART tree (linfa-trees); leaves hold the training positive rate.
    DecisionTree(TreeModel),
    /// Bagged CART trees (linfa-ensemble); the mean of the trees' leaf rates.
    RandomForest(TreeModel),
    /// Histogram gradient-boosted trees (retain-model's own, `gbdt.rs`).
    Gbdt(TreeModel),
}

/// Per-feature contributions to one prediction, and the unit they are in.
#[derive(Debug, Clone, PartialEq)]
pub struct Contributions {
    /// `log-odds` (logistic, gbdt) or `probability` (decision tree, random forest).
    pub unit: &'static str,
    /// The output before any feature speaks (intercept, root value or base score).
    pub bias: f64,
    /// One value per feature, in the model's feature order.
    pub values: Vec<f64>,
}

impl Estimator {
    /// The algorithm's name, as in specs (`logistic`, `decision-tree`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Logistic(_) => "logistic",
            Self::DecisionTree(_) => "decision-tree",
            Self::RandomForest(_) => "random-forest",
            Self::Gbdt(_) => "gbdt",
        }
    }

    /// Feature columns, in the order rows must have them.
    pub fn features(&self) -> &[String] {
        match self {
            Self::Logistic(m) => &m.features,
            Self::DecisionTree(m) | Self::RandomForest(m) | Self::Gbdt(m) => &m.features,
        }
    }

    /// P(true) for one row, before calibration.
    pub fn predict(&self, row: &[f64]) -> f64 {
        match self {
            Self::Logistic(m) => m.predict(row),
            Self::DecisionTree(m) | Self::RandomForest(m) | Self::Gbdt(m) => m.predict(row),
        }
    }

    /// P(true) for every row of a matrix, before calibration.
    pub fn predict_all(&self, x: &Array2<f64>) -> Vec<f64> {
        map_rows(x, |r| self.predict(r))
    }

    /// Why a row scores what it does: coefficient × standardised value for logistic
    /// regression, per-path (Saabas) contributions for trees.
    pub fn contributions(&self, row: &[f64]) -> Contributions {
        match self {
            Self::Logistic(m) => Contributions {
                unit: "log-odds",
                bias: m.intercept,
                values: m.contributions(row),
            },
            Self::DecisionTree(m) | Self::RandomForest(m) | Self::Gbdt(m) => {
                let (bias, values) = m.contributions(row);
                Contributions {
                    unit: match m.link {
                        Link::Mean => "probability",
                        Link::Logit { .. } => "log-odds",
                    },
                    bias,
                    values,
                }
            }
        }
    }

    /// Feature importance, normalised to sum to 1: |coefficient| on the standardised
    /// scale for logistic regression, total split gain for trees.
    pub fn importance(&self) -> Vec<f64> {
        match self {
            Self::Logistic(m) => shares(m.coefficients.iter().map(|c| c.abs()).collect()),
            Self::DecisionTree(m) | Self::RandomForest(m) | Self::Gbdt(m) => m.importance(),
        }
    }
}

/// Training statistics of one feature (raw values, before imputation): the reference
/// scoring checks drift against, and the direction reason codes must agree with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    pub name: String,
    /// Rows with a value.
    pub count: u64,
    /// Share of rows without one (imputed with `mean`).
    pub null_share: f64,
    /// Mean and population standard deviation of the values present (0 when none).
    pub mean: f64,
    pub std: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Pearson correlation of the values present with the label (1 = true) over the
    /// training rows: what the feature does in the data on its own, whatever sign the
    /// model gives it next to correlated inputs. None when the feature or the label is
    /// constant, and in artifacts written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_correlation: Option<f64>,
}

/// Statistics of every column of `x` (NaN is missing), with each column's correlation
/// with `y` when labels are given (one per row).
pub fn feature_stats(
    features: &[String],
    x: &Array2<f64>,
    y: Option<&[bool]>,
) -> Vec<FeatureStats> {
    let rows = x.nrows();
    features
        .iter()
        .zip(x.columns())
        .map(|(name, col)| {
            let (mut n, mut sum, mut min, mut max) = (0u64, 0.0, f64::INFINITY, f64::NEG_INFINITY);
            for &v in col.iter().filter(|v| !v.is_nan()) {
                n += 1;
                sum += v;
                min = min.min(v);
                max = max.max(v);
            }
            let mean = if n == 0 { 0.0 } else { sum / n as f64 };
            let var = if n == 0 {
                0.0
            } else {
                col.iter()
                    .filter(|v| !v.is_nan())
                    .map(|v| (v - mean) * (v - mean))
                    .sum::<f64>()
                    / n as f64
            };
            FeatureStats {
                name: name.clone(),
                count: n,
                null_share: if rows == 0 {
                    0.0
                } else {
                    1.0 - n as f64 / rows as f64
                },
                mean,
                std: var.sqrt(),
                min: (n > 0).then_some(min),
                max: (n > 0).then_some(max),
                label_correlation: y.and_then(|y| correlation(col.iter().copied(), y)),
            }
        })
        .collect()
}

/// Pearson correlation of `x` (NaN skipped) with `y` as 0/1, in two passes for
/// accuracy; None when either side is constant over the pairs.
fn correlation(x: impl Iterator<Item = f64> + Clone, y: &[bool]) -> Option<f64> {
    let pairs = || x.clone().zip(y).filter(|(v, _)| !v.is_nan());
    let n = pairs().count() as f64;
    if n < 2.0 {
        return None;
    }
    let mx = pairs().map(|(v, _)| v).sum::<f64>() / n;
    let my = pairs().filter(|&(_, &l)| l).count() as f64 / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (v, &l) in pairs() {
        let (dx, dy) = (v - mx, f64::from(u8::from(l)) - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Where the training data came from and how it was split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Snapshot dates of the training rows.
    pub training_snapshots: Vec<String>,
    /// The later, out-of-time snapshot the metrics are measured on.
    pub validation_snapshot: String,
    pub horizon_days: u32,
    /// The label SQL (target and population) and the spec's extra population filter.
    pub label_sql: String,
    pub population: Option<String>,
    pub seed: u64,
    /// Training rows the estimator was fitted on.
    pub fit_rows: u64,
    /// Training rows held out (by customer) to fit the calibration and the baseline.
    pub calibration_rows: u64,
    /// The `[algorithm]` table with every default filled in.
    pub hyperparameters: serde_json::Value,
}

/// Format of [`ModelArtifact`].
pub const ARTIFACT_FORMAT: &str = "retain.model/2";

/// `models/<name>/<version>/model.json`: everything scoring needs, no linfa types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    /// [`ARTIFACT_FORMAT`].
    pub format: String,
    pub name: String,
    pub version: String,
    /// How feature-table columns become the estimator's columns (one-hot categories).
    pub encoding: Encoding,
    pub estimator: Estimator,
    /// Applied to the estimator's probability.
    pub calibration: Calibration,
    pub training: TrainingInfo,
    /// Training statistics per feature, in the estimator's feature order.
    pub feature_stats: Vec<FeatureStats>,
    /// Per reason group (retain-score's `reason_group`), the standard deviation of the
    /// group's summed contribution over the fit rows: reasons are ranked in these units.
    /// Empty in artifacts written before it was recorded (reasons then rank by the raw
    /// contribution).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub reason_scales: std::collections::BTreeMap<String, f64>,
}

impl ModelArtifact {
    /// The estimator's columns (numbers, and `column=category` indicators), in the order
    /// of [`ModelArtifact::matrix`]'s columns.
    pub fn features(&self) -> &[String] {
        self.estimator.features()
    }

    /// The estimator's design matrix of feature-table batches.
    pub fn matrix(&self, batches: &[RecordBatch]) -> Result<Array2<f64>> {
        self.encoding.matrix(batches)
    }

    /// Calibrated P(true) for one row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.calibration.apply(self.estimator.predict(row))
    }

    /// Calibrated probabilities for every row of a matrix.
    pub fn predict_all(&self, x: &Array2<f64>) -> Vec<f64> {
        self.calibration.apply_all(&self.estimator.predict_all(x))
    }

    /// Check the format and that the artifact scores the features it is given.
    pub fn check_features(&self, available: &[String]) -> Result<()> {
        if self.format != ARTIFACT_FORMAT {
            return Err(Error::Artifact {
                model: format!("{}@{}", self.name, self.version),
                message: format!(
                    "format `{}` is not `{ARTIFACT_FORMAT}`: retrain it with this version of retain",
                    self.format
                ),
            });
        }
        if self.encoding.columns() != self.features() {
            return Err(Error::Artifact {
                model: format!("{}@{}", self.name, self.version),
                message: "its encoding and its estimator disagree on the columns".into(),
            });
        }
        for f in self.encoding.source_columns() {
            if !available.iter().any(|a| a == f) {
                return Err(Error::Artifact {
                    model: format!("{}@{}", self.name, self.version),
                    message: format!("feature `{f}` is not in the feature table"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Lcg;

    fn auc(p: &[f64], y: &[bool]) -> f64 {
        metrics::roc_auc(p, y).unwrap().unwrap()
    }

    /// y = 1 with probability sigmoid(2·x0 − 1·x1 + b): b sets the class balance.
    fn data(n: usize, bias: f64, seed: u64) -> Dataset {
        let mut g = Lcg(seed);
        let mut x = Array2::zeros((n, 3));
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let (a, b, c) = (
                g.next_f64() * 4.0 - 2.0,
                g.next_f64() * 4.0 - 2.0,
                g.next_f64(),
            );
            x[[i, 0]] = a;
            x[[i, 1]] = b * 10.0 + 100.0; // unstandardised on purpose
            x[[i, 2]] = c;
            let p = sigmoid(2.0 * a - 1.0 * b + bias);
            y.push(g.next_f64() < p);
        }
        Dataset {
            features: vec!["a".into(), "b".into(), "noise".into()],
            x,
            y,
        }
    }

    #[test]
    fn orientation_is_p_true_for_both_class_balances() {
        // Minority positive (~15%) and majority positive (~85%): linfa's internal
        // positive class differs between them; ours must not.
        for bias in [-2.5, 2.5] {
            let d = data(4000, bias, 7);
            let m = fit_logistic("t", &d, 0.1, 200).unwrap();
            let p = m.predict_all(&d.x);
            let a = auc(&p, &d.y);
            assert!(a > 0.8, "bias {bias}: auc {a}");
            assert!(
                m.coefficients[0] > 0.5,
                "a raises P(true): {:?}",
                m.coefficients
            );
            assert!(
                m.coefficients[1] < -0.5,
                "b lowers P(true): {:?}",
                m.coefficients
            );
            let mean_p = p.iter().sum::<f64>() / p.len() as f64;
            let rate = d.positives() as f64 / d.rows() as f64;
            assert!(
                (mean_p - rate).abs() < 0.05,
                "calibrated: {mean_p} vs {rate}"
            );
        }
    }

    #[test]
    fn missing_values_take_the_training_mean_and_an_all_missing_column_is_inert() {
        let mut d = data(2000, 0.0, 11);
        // Every third `a` is missing; `noise` is missing everywhere (an absent source).
        let present: Vec<f64> = (0..d.rows())
            .filter(|i| i % 3 != 0)
            .map(|i| d.x[[i, 0]])
            .collect();
        let mean_a = present.iter().sum::<f64>() / present.len() as f64;
        for i in 0..d.rows() {
            if i % 3 == 0 {
                d.x[[i, 0]] = f64::NAN;
            }
            d.x[[i, 2]] = f64::NAN;
        }
        let m = fit_logistic("t", &d, 0.1, 200).unwrap();
        assert!((m.fill[0] - mean_a).abs() < 1e-12, "{:?}", m.fill);
        assert_eq!(m.fill[2], 0.0);
        assert_eq!(m.coefficients[2], 0.0, "a constant column learns nothing");
        let row_missing = [f64::NAN, 100.0, f64::NAN];
        let row_mean = [mean_a, 100.0, 0.0];
        assert_eq!(m.predict(&row_missing), m.predict(&row_mean));
        assert!(m.predict_all(&d.x).iter().all(|p| p.is_finite()));
        // Still learns from the rows that have `a`.
        assert!(auc(&m.predict_all(&d.x), &d.y) > 0.8);
    }

    #[test]
    fn single_class_is_a_clear_error() {
        let mut d = data(100, 0.0, 1);
        d.y = vec![true; 100];
        let err = fit_logistic("churn", &d, 1.0, 100).unwrap_err();
        assert!(err.to_string().contains("nothing to learn"), "{err}");
    }

    #[test]
    fn same_data_gives_the_same_model() {
        let d = data(1000, 0.0, 3);
        let a = fit_logistic("t", &d, 1.0, 100).unwrap();
        let b = fit_logistic("t", &d, 1.0, 100).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn label_correlation_is_the_data_direction_even_where_a_coefficient_reads_backwards() {
        // y depends on `recent − all`; `all` (lifetime orders, say) moves with `recent`
        // (90-day orders) so strongly that on its own it goes with y, while the model,
        // seeing both, gives it a negative coefficient.
        let mut g = Lcg(5);
        let n = 4000;
        let mut x = Array2::zeros((n, 3));
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let recent = g.next_f64() * 10.0;
            let all = 0.9 * recent + g.next_f64() * 2.0;
            x[[i, 0]] = recent;
            x[[i, 1]] = all;
            x[[i, 2]] = if i % 4 == 0 { f64::NAN } else { 3.0 };
            y.push(g.next_f64() < sigmoid(3.0 * (recent - all) + 0.5));
        }
        let d = Dataset {
            features: vec!["recent".into(), "all".into(), "flat".into()],
            x,
            y,
        };
        let m = fit_logistic("t", &d, 0.01, 200).unwrap();
        assert!(m.coefficients[1] < 0.0, "{:?}", m.coefficients);
        let stats = feature_stats(&d.features, &d.x, Some(&d.y));
        let r = |j: usize| stats[j].label_correlation;
        assert!(r(0).is_some_and(|r| r > 0.0), "{:?}", r(0));
        assert!(r(1).is_some_and(|r| r > 0.0), "backwards: {:?}", r(1));
        assert_eq!(r(2), None, "a constant column has no direction");
        assert_eq!(stats[2].count, 3000);
        assert!(
            feature_stats(&d.features, &d.x, None)
                .iter()
                .all(|s| s.label_correlation.is_none())
        );
        // Against numpy.corrcoef's definition, on a small case by hand: x = 1, 2, 3, 4,
        // y = 0, 0, 1, 1 gives r = 2/sqrt(5 · 1) ≈ 0.894427.
        let r = correlation(
            [1.0, 2.0, 3.0, 4.0].into_iter(),
            &[false, false, true, true],
        );
        assert!((r.unwrap() - 2.0 / 5f64.sqrt()).abs() < 1e-12);
    }
}
