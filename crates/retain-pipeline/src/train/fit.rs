//! Choosing the feature columns, splitting fit and calibration rows, fitting the
//! spec's estimator, and the recency-only baseline it is compared with.

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Schema};

use ndarray::{Array2, Axis};
use retain_config::{AlgorithmKind, FeatureSelection, ModelSpec};
use retain_model::calibration::{self, Method};
use retain_model::forest::{ForestParams, TreeParams, fit_decision_tree, fit_random_forest};
use retain_model::gbdt::{GbdtParams, fit_gbdt};
use retain_model::{Dataset, Encoding, Estimator, evaluate, fit_logistic, metrics};
use serde::Serialize;

use crate::records::training::Baseline;
use crate::{Error, Result};

use super::*;

/// The feature columns a spec selects from the feature table's schema: a list is
/// checked column by column, `"all"` takes every numeric, boolean and string column but
/// the key (strings become one-hot categories).
pub(crate) fn resolve_features(spec: &ModelSpec, schema: &Schema) -> Result<Vec<String>> {
    let usable = |t: &DataType| {
        t.is_numeric() || matches!(t, DataType::Boolean | DataType::Utf8 | DataType::Utf8View)
    };
    let invalid = |message: String| Error::Invalid {
        stage: "train",
        message: format!("model spec {}: {message}", spec.origin),
    };
    for e in &spec.exclude {
        if schema.field_with_name(e).is_err() {
            return Err(invalid(format!(
                "exclude names `{e}`, which is not a column of the feature table (docs/features.md)"
            )));
        }
    }
    let chosen: Vec<String> = match &spec.features {
        FeatureSelection::All(_) => schema
            .fields()
            .iter()
            .filter(|f| usable(f.data_type()) && f.name() != "customer_id" && f.name() != "as_of")
            .map(|f| f.name().clone())
            .collect(),
        FeatureSelection::List(list) => {
            for name in list {
                let f = schema.field_with_name(name).map_err(|_| {
                    invalid(format!(
                        "feature `{name}` is not a column of the feature table (docs/features.md)"
                    ))
                })?;
                if !usable(f.data_type()) {
                    return Err(invalid(format!(
                        "feature `{name}` is {}, not a number, boolean or string (category)",
                        f.data_type()
                    )));
                }
            }
            list.clone()
        }
    };
    let chosen: Vec<String> = chosen
        .into_iter()
        .filter(|c| !spec.exclude.contains(c))
        .collect();
    if chosen.is_empty() {
        return Err(invalid("no feature columns left after `exclude`".into()));
    }
    Ok(chosen)
}

/// Labelled rows of one split.
#[derive(Default)]
pub(super) struct Split {
    pub(super) batches: Vec<RecordBatch>,
}

impl Split {
    pub(super) fn matrix(
        &self,
        encoding: &Encoding,
        spec: &ModelSpec,
    ) -> Result<(Array2<f64>, Vec<bool>)> {
        matrix(&self.batches, encoding, spec)
    }
    pub(super) fn customer_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        for b in &self.batches {
            if let Some(ids) = b
                .column_by_name("customer_id")
                .and_then(|c| c.as_string_opt::<i32>())
            {
                out.extend(ids.iter().map(|v| v.unwrap_or_default().to_owned()));
            }
        }
        out
    }
}

/// True when a customer falls in the calibration slice: a stable hash of the seed and
/// the customer id below `share`. By customer, so one customer's snapshots are all on
/// the same side.
pub(crate) fn in_holdout(customer_id: &str, seed: u64, share: f64) -> bool {
    share > 0.0 && retain_policy::stable_unit(seed, &[customer_id]) < share
}

pub(super) fn rows(x: &Array2<f64>, idx: &[usize]) -> Array2<f64> {
    x.select(Axis(0), idx)
}

/// Fit the spec's algorithm; returns the estimator and its hyperparameters with every
/// default filled in (recorded in the artifact).
pub(super) fn fit_estimator(
    spec: &ModelSpec,
    data: &Dataset,
) -> Result<(Estimator, serde_json::Value)> {
    let a = &spec.algorithm;
    let name = &spec.name;
    match a.kind {
        AlgorithmKind::Logistic => {
            let alpha = a.alpha.unwrap_or(1.0);
            let max_iterations = a.max_iterations.unwrap_or(200);
            let m = fit_logistic(name, data, alpha, max_iterations)?;
            Ok((
                Estimator::Logistic(m),
                serde_json::json!({"kind": "logistic", "alpha": alpha, "max_iterations": max_iterations}),
            ))
        }
        AlgorithmKind::Gbdt => {
            let d = GbdtParams::default();
            let p = GbdtParams {
                trees: a.trees.unwrap_or(d.trees),
                learning_rate: a.learning_rate.unwrap_or(d.learning_rate),
                max_depth: a.max_depth.unwrap_or(d.max_depth),
                max_leaves: a.max_leaves.unwrap_or(d.max_leaves),
                min_samples_leaf: a.min_samples_leaf.unwrap_or(d.min_samples_leaf),
                l2: a.l2.unwrap_or(d.l2),
                bins: a.bins.unwrap_or(d.bins),
                subsample: a.subsample.unwrap_or(d.subsample),
                seed: spec.seed,
            };
            let m = fit_gbdt(name, data, &p)?;
            Ok((Estimator::Gbdt(m), with_kind("gbdt", &p)))
        }
        AlgorithmKind::DecisionTree => {
            let d = TreeParams::default();
            let p = TreeParams {
                max_depth: a.max_depth.unwrap_or(d.max_depth),
                min_samples_leaf: a.min_samples_leaf.unwrap_or(d.min_samples_leaf),
            };
            let m = fit_decision_tree(name, data, &p)?;
            Ok((Estimator::DecisionTree(m), with_kind("decision-tree", &p)))
        }
        AlgorithmKind::RandomForest => {
            let d = ForestParams::default();
            let p = ForestParams {
                trees: a.trees.unwrap_or(d.trees),
                max_depth: a.max_depth.unwrap_or(d.max_depth),
                min_samples_leaf: a.min_samples_leaf.unwrap_or(d.min_samples_leaf),
                bootstrap_share: a.bootstrap_share.unwrap_or(d.bootstrap_share),
                feature_share: a.feature_share.unwrap_or(d.feature_share),
                seed: spec.seed,
            };
            let m = fit_random_forest(name, data, &p)?;
            Ok((Estimator::RandomForest(m), with_kind("random-forest", &p)))
        }
    }
}

/// Hyperparameters as JSON, tagged with the algorithm's kind.
pub(super) fn with_kind(kind: &str, params: &impl Serialize) -> serde_json::Value {
    let mut v = serde_json::to_value(params).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("kind".into(), kind.into());
    }
    v
}

/// The recency-only baseline: oriented on the fit rows, isotonic-calibrated on the
/// calibration slice (the fit rows when there is none), measured on validation. Also
/// returns the validation rank scores, for the report's curves.
pub(super) fn baseline(
    fit: (&[f64], &[bool]),
    cal: (&[f64], &[bool]),
    val: (&[f64], &[bool]),
) -> Result<Option<(Baseline, Vec<f64>)>> {
    // A monotone map of days into [0, 1) (isotonic regression wants probabilities; only
    // the order matters). A missing recency takes the fit rows' mean.
    let present: Vec<f64> = fit.0.iter().copied().filter(|v| !v.is_nan()).collect();
    if present.is_empty() {
        return Ok(None);
    }
    let mean = present.iter().sum::<f64>() / present.len() as f64;
    let squash = |v: &[f64], flip: bool| -> Vec<f64> {
        v.iter()
            .map(|&d| {
                let d = if d.is_nan() { mean } else { d.max(0.0) };
                let t = d / (d + 30.0);
                if flip { 1.0 - t } else { t }
            })
            .collect()
    };
    let up = metrics::roc_auc(&squash(fit.0, false), fit.1)?.unwrap_or(0.5);
    let flip = up < 0.5;
    let (cal_x, cal_y) = if cal.0.is_empty() { fit } else { cal };
    let iso = match calibration::fit(Method::Isotonic, &squash(cal_x, flip), cal_y) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("naive baseline skipped: {e}");
            return Ok(None);
        }
    };
    let rank = squash(val.0, flip);
    let p = iso.apply_all(&rank);
    let mut m = evaluate(&p, val.1)?;
    let r = evaluate(&rank, val.1)?;
    m.roc_auc = r.roc_auc;
    m.pr_auc = r.pr_auc;
    m.lift_top_decile = r.lift_top_decile;
    m.capture_top_decile = r.capture_top_decile;
    Ok(Some((
        Baseline {
            feature: "recency_days".into(),
            direction: if flip { "lower" } else { "higher" }.into(),
            validation: m,
        },
        rank,
    )))
}
