//! Scoring: the champion models applied to the features as of D, giving for every
//! customer churn risk, repeat-purchase probability, risk tier, value at risk and the
//! reasons behind the risk.
//!
//! This is the part SQL cannot do (it needs the model's coefficients and a per-row
//! ranking of contributions). Scoring works batch by batch, so memory does not grow with
//! the number of customers; [`Drift`] gathers, along the way, the statistics that compare
//! the scored population with each model's training data.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Float64Builder, ListBuilder, RecordBatch,
    StringBuilder, StructBuilder,
};
use arrow::datatypes::{DataType, Date32Type, Field, Fields, Float64Type, Schema, SchemaRef};
use ndarray::Array2;
use retain_model::{FeatureStats, ModelArtifact};
use serde::Serialize;

mod reasons;
#[cfg(test)]
mod test_support;
pub use reasons::{Explainer, Reason, describe, reason_group};

/// Errors scoring.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The feature table lacks a column or has the wrong type.
    #[error("feature table: {0}")]
    Features(String),
    #[error(transparent)]
    Model(#[from] retain_model::Error),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Scoring settings (the pipeline's `[score]` plus the run).
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// churn_probability at or above this is tier `high`.
    pub high_risk: f64,
    /// churn_probability at or above this (and below `high_risk`) is tier `medium`.
    pub medium_risk: f64,
    /// Reasons kept per customer.
    pub top_reasons: usize,
    /// Written into every row.
    pub run_id: String,
    /// Version of the CLV models behind the features' `clv_12m`, if any.
    pub clv_version: Option<String>,
}

/// The fields of one reason: the group of inputs, the feature naming it, its value
/// (NULL when missing), the group's contribution to the churn score, and a sentence for
/// people.
pub fn reason_fields() -> Fields {
    Fields::from(vec![
        Field::new("group", DataType::Utf8, false),
        Field::new("feature", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("contribution", DataType::Float64, false),
        Field::new("text", DataType::Utf8, false),
    ])
}

/// The schema of `scores/customer_risk` (documented in docs/tables.md).
pub fn customer_risk_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("as_of", DataType::Date32, false),
        Field::new("lifecycle_stage", DataType::Utf8, false),
        Field::new("shopper_type", DataType::Utf8, false),
        Field::new("churn_probability", DataType::Float64, true),
        Field::new("risk_tier", DataType::Utf8, false),
        Field::new("score_status", DataType::Utf8, false),
        Field::new("repeat_purchase_probability", DataType::Float64, true),
        Field::new("p_alive", DataType::Float64, true),
        Field::new("expected_value", DataType::Float64, false),
        Field::new("value_source", DataType::Utf8, false),
        Field::new("value_at_risk", DataType::Float64, false),
        Field::new(
            "top_reasons",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(reason_fields()),
                true,
            ))),
            false,
        ),
        Field::new("churn_model_version", DataType::Utf8, false),
        Field::new("repeat_purchase_model_version", DataType::Utf8, false),
        Field::new("clv_model_version", DataType::Utf8, true),
        Field::new("run_id", DataType::Utf8, false),
    ]))
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::Features(format!("column `{name}` is missing")))
}

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::StringArray> {
    column(batch, name)?
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::Features(format!("column `{name}` is not a string column")))
}

fn float(batch: &RecordBatch, name: &str) -> Result<Float64Array> {
    let cast = arrow::compute::cast(column(batch, name)?, &DataType::Float64)?;
    Ok(cast.as_primitive::<Float64Type>().clone())
}

/// A float column the feature table may lack (older partitions, CLV disabled): all null.
fn optional_float(batch: &RecordBatch, name: &str) -> Result<Float64Array> {
    match batch.column_by_name(name) {
        Some(_) => float(batch, name),
        None => Ok(Float64Array::new_null(batch.num_rows())),
    }
}

/// Score one batch of the feature table. A model scores only the customers of its
/// training population at D (`populations[0]` for churn, `populations[1]` for repeat
/// purchase, one flag per row), never extrapolates beyond it:
///
/// - `score_status` `scored`: in the churn model's population: churn probability, risk
///   tier high / medium / low, value at risk and reasons.
/// - `outside_population`: a customer with orders the churn model was not trained on
///   (by default: no completed order in the last `max_recency_days`, the lapsed):
///   churn probability null, value at risk 0, no reasons; risk tier `lapsed` when the
///   lifecycle stage is `lapsed` (the rule-based tier the win-back path reads), else
///   `unscored`.
/// - `prospect`: no completed order: probabilities null, tier `unscored`, values 0.
///
/// The repeat-purchase probability is given to first-time customers in that model's
/// population only.
///
/// The customer's value is `clv_12m` (12-month discounted CLV from the BG/NBD and
/// Gamma-Gamma models) when the features have it, else the last 365 days' revenue as a
/// stand-in (`value_source` says which); value at risk is churn probability × value.
///
/// When `drift` is given, the batch's model inputs are added to it: each model's over
/// the rows of its population.
pub fn score_batch(
    features: &RecordBatch,
    churn: &ModelArtifact,
    repeat: &ModelArtifact,
    opts: &ScoreOptions,
    populations: [&[bool]; 2],
    drift: Option<&mut Drift>,
) -> Result<RecordBatch> {
    let ids = strings(features, "customer_id")?;
    let stage = strings(features, "lifecycle_stage")?;
    let shopper = strings(features, "shopper_type")?;
    let as_of = column(features, "as_of")?
        .as_primitive_opt::<Date32Type>()
        .ok_or_else(|| Error::Features("column `as_of` is not a DATE".into()))?;
    let revenue_365d = float(features, "revenue_365d")?;
    let p_alive = optional_float(features, "p_alive")?;
    let clv_12m = optional_float(features, "clv_12m")?;
    let batch = std::slice::from_ref(features);
    let xc = churn.matrix(batch)?;
    let xr = repeat.matrix(batch)?;
    let n = features.num_rows();
    let [in_churn, in_repeat] = populations;
    if in_churn.len() != n || in_repeat.len() != n {
        return Err(Error::Features(format!(
            "population flags for {} and {} rows, the batch has {n}",
            in_churn.len(),
            in_repeat.len()
        )));
    }
    let prospect: Vec<bool> = (0..n).map(|i| stage.value(i) == "prospect").collect();
    let first_time: Vec<bool> = (0..n).map(|i| stage.value(i) == "first_time").collect();
    if let Some(d) = drift {
        d.add(0, &xc, in_churn);
        d.add(1, &xr, in_repeat);
    }

    let explainer = Explainer::new(churn);
    let mut churn_p = Float64Builder::with_capacity(n);
    let mut repeat_p = Float64Builder::with_capacity(n);
    let mut tier = StringBuilder::new();
    let mut status = StringBuilder::new();
    let mut alive = Float64Builder::with_capacity(n);
    let mut source = StringBuilder::new();
    let mut expected = Float64Builder::with_capacity(n);
    let mut at_risk = Float64Builder::with_capacity(n);
    let mut reasons = ListBuilder::new(StructBuilder::from_fields(reason_fields(), 0)).with_field(
        Arc::new(Field::new("item", DataType::Struct(reason_fields()), true)),
    );
    for i in 0..n {
        let (value, value_source) = if clv_12m.is_valid(i) {
            (clv_12m.value(i), "clv_12m")
        } else if revenue_365d.is_valid(i) {
            (revenue_365d.value(i), "revenue_365d")
        } else {
            (0.0, "revenue_365d")
        };
        alive.append_option(p_alive.is_valid(i).then(|| p_alive.value(i)));
        if prospect[i] {
            churn_p.append_null();
            repeat_p.append_null();
            tier.append_value("unscored");
            status.append_value("prospect");
            source.append_value("none");
            expected.append_value(0.0);
            at_risk.append_value(0.0);
            reasons.append(true);
            continue;
        }
        if !in_churn[i] {
            churn_p.append_null();
            repeat_p.append_option(
                (first_time[i] && in_repeat[i]).then(|| repeat.predict(&xr.row(i).to_vec())),
            );
            tier.append_value(if stage.value(i) == "lapsed" {
                "lapsed"
            } else {
                "unscored"
            });
            status.append_value("outside_population");
            source.append_value(value_source);
            expected.append_value(round2(value));
            at_risk.append_value(0.0);
            reasons.append(true);
            continue;
        }
        status.append_value("scored");
        let row_c = xc.row(i).to_vec();
        let p = churn.predict(&row_c);
        churn_p.append_value(p);
        if first_time[i] && in_repeat[i] {
            repeat_p.append_value(repeat.predict(&xr.row(i).to_vec()));
        } else {
            repeat_p.append_null();
        }
        tier.append_value(if p >= opts.high_risk {
            "high"
        } else if p >= opts.medium_risk {
            "medium"
        } else {
            "low"
        });
        source.append_value(value_source);
        expected.append_value(round2(value));
        at_risk.append_value(round2(p * value));
        for r in explainer.top_reasons(churn, &row_c, opts.top_reasons) {
            let item = reasons.values();
            let builder = || Error::Features("reason builder".into());
            for (field, text) in [(0, &r.group), (1, &r.feature), (4, &r.text)] {
                item.field_builder::<StringBuilder>(field)
                    .ok_or_else(builder)?
                    .append_value(text);
            }
            item.field_builder::<Float64Builder>(2)
                .ok_or_else(builder)?
                .append_option(r.value);
            item.field_builder::<Float64Builder>(3)
                .ok_or_else(builder)?
                .append_value(r.contribution);
            item.append(true);
        }
        reasons.append(true);
    }
    let as_of: ArrayRef = Arc::new(Date32Array::from(as_of.values().to_vec()));
    let constant = |s: &str| -> ArrayRef { Arc::new(arrow::array::StringArray::from(vec![s; n])) };
    Ok(RecordBatch::try_new(
        customer_risk_schema(),
        vec![
            Arc::new(ids.clone()),
            as_of,
            Arc::new(stage.clone()),
            Arc::new(shopper.clone()),
            Arc::new(churn_p.finish()),
            Arc::new(tier.finish()),
            Arc::new(status.finish()),
            Arc::new(repeat_p.finish()),
            Arc::new(alive.finish()),
            Arc::new(expected.finish()),
            Arc::new(source.finish()),
            Arc::new(at_risk.finish()),
            Arc::new(reasons.finish()),
            constant(&churn.version),
            constant(&repeat.version),
            Arc::new(arrow::array::StringArray::from(vec![
                opts.clv_version
                    .as_deref();
                n
            ])),
            constant(&opts.run_id),
        ],
    )?)
}

/// Churn probabilities of the customers of a batch in the churn model's population
/// (`in_population`, one flag per row), for cutting risk tiers by quantiles before the
/// scoring pass.
pub fn churn_probabilities(
    features: &RecordBatch,
    churn: &ModelArtifact,
    in_population: &[bool],
) -> Result<Vec<f64>> {
    let x = churn.matrix(std::slice::from_ref(features))?;
    Ok((0..features.num_rows())
        .filter(|&i| in_population.get(i).copied().unwrap_or(false))
        .map(|i| churn.predict(&x.row(i).to_vec()))
        .collect())
}

/// A histogram of probabilities in 100,000 bins: constant memory whatever the number of
/// customers, quantiles to 1e-5.
#[derive(Debug, Clone)]
pub struct ProbabilityHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for ProbabilityHistogram {
    fn default() -> Self {
        Self {
            counts: vec![0; Self::BINS],
            total: 0,
        }
    }
}

impl ProbabilityHistogram {
    const BINS: usize = 100_000;

    pub fn add(&mut self, p: f64) {
        if p.is_nan() {
            return;
        }
        let b = ((p.clamp(0.0, 1.0) * Self::BINS as f64) as usize).min(Self::BINS - 1);
        self.counts[b] += 1;
        self.total += 1;
    }

    /// The threshold t with at most `share` of the probabilities at or above it, as low
    /// as the data allow ("the riskiest `share` of customers have p ≥ t"): the lower
    /// edge of the lowest occupied bin that fits. 1.0 (nobody) for a share of 0.
    pub fn top_threshold(&self, share: f64) -> f64 {
        let budget = (share * self.total as f64).floor() as u64;
        let mut taken = 0;
        let mut edge = Self::BINS;
        for b in (0..Self::BINS).rev() {
            if taken + self.counts[b] > budget {
                break;
            }
            if self.counts[b] > 0 {
                taken += self.counts[b];
                edge = b;
            }
        }
        if edge == Self::BINS {
            1.0
        } else {
            edge as f64 / Self::BINS as f64
        }
    }
}

/// Running statistics of each model's inputs over the rows it scores, to compare with
/// the statistics of its training data (`features.json`).
#[derive(Debug, Clone)]
pub struct Drift {
    /// Per model: per input (count, nulls, sum, sum of squares).
    models: Vec<Vec<[f64; 4]>>,
}

/// One model input compared with its training data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DriftRow {
    pub model: String,
    pub feature: String,
    pub training_mean: f64,
    pub scoring_mean: Option<f64>,
    pub training_null_share: f64,
    pub scoring_null_share: f64,
    /// |scoring mean − training mean| / training standard deviation.
    pub shift: Option<f64>,
    /// Beyond a threshold: the warning's subject.
    pub drifted: bool,
}

/// When an input counts as drifted.
#[derive(Debug, Clone, Copy)]
pub struct DriftThresholds {
    /// Mean shift in training standard deviations.
    pub shift: f64,
    /// Change of the null share (absolute).
    pub null_share: f64,
}

impl Drift {
    /// For models with these numbers of inputs (churn, repeat purchase).
    pub fn new(inputs: &[usize]) -> Self {
        Self {
            models: inputs.iter().map(|&n| vec![[0.0; 4]; n]).collect(),
        }
    }

    /// Add the rows of `x` where `keep` is true to model `m`.
    pub fn add(&mut self, m: usize, x: &Array2<f64>, keep: &[bool]) {
        let Some(stats) = self.models.get_mut(m) else {
            return;
        };
        for (row, _) in x.rows().into_iter().zip(keep).filter(|(_, k)| **k) {
            for (s, v) in stats.iter_mut().zip(row) {
                if v.is_nan() {
                    s[1] += 1.0;
                } else {
                    s[0] += 1.0;
                    s[2] += v;
                    s[3] += v * v;
                }
            }
        }
    }

    /// Compare model `m` (named `name`) with its training statistics.
    pub fn compare(
        &self,
        m: usize,
        name: &str,
        training: &[FeatureStats],
        t: DriftThresholds,
    ) -> Vec<DriftRow> {
        let Some(stats) = self.models.get(m) else {
            return Vec::new();
        };
        stats
            .iter()
            .zip(training)
            .map(|(s, tr)| {
                let rows = s[0] + s[1];
                let mean = (s[0] > 0.0).then(|| s[2] / s[0]);
                let null_share = if rows > 0.0 { s[1] / rows } else { 0.0 };
                let shift = mean.and_then(|m| {
                    if tr.std > 0.0 {
                        Some((m - tr.mean).abs() / tr.std)
                    } else if (m - tr.mean).abs() < 1e-12 {
                        Some(0.0)
                    } else {
                        None
                    }
                });
                let drifted = rows > 0.0
                    && (shift.is_none_or(|x| x > t.shift)
                        || (null_share - tr.null_share).abs() > t.null_share);
                DriftRow {
                    model: name.to_owned(),
                    feature: tr.name.clone(),
                    training_mean: tr.mean,
                    scoring_mean: mean,
                    training_null_share: tr.null_share,
                    scoring_null_share: null_share,
                    shift,
                    drifted,
                }
            })
            .collect()
    }
}

/// Round to cents; `+ 0.0` turns a negative zero into zero.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, StringArray};

    fn artifact(name: &str, coef: Vec<f64>) -> ModelArtifact {
        test_support::logistic(name, &["recency_days", "tickets_90d"], coef, vec![])
    }

    fn features() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("as_of", DataType::Date32, false),
            Field::new("lifecycle_stage", DataType::Utf8, false),
            Field::new("shopper_type", DataType::Utf8, false),
            Field::new("revenue_365d", DataType::Float64, false),
            Field::new("recency_days", DataType::Float64, true),
            Field::new("tickets_90d", DataType::Float64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["a", "b", "c"])),
                Arc::new(Date32Array::from(vec![20000; 3])),
                Arc::new(StringArray::from(vec!["returning", "prospect", "lapsed"])),
                Arc::new(StringArray::from(vec![
                    "relational",
                    "unknown",
                    "transactional",
                ])),
                Arc::new(Float64Array::from(vec![100.0, 0.0, 200.0])),
                Arc::new(Float64Array::from(vec![Some(0.0), None, Some(3.0)])),
                Arc::new(Float64Array::from(vec![0.0, 0.0, 1.0])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn scores_tiers_values_and_reasons() {
        let churn = artifact("churn", vec![1.0, 0.5]);
        let repeat = artifact("repeat_purchase", vec![-1.0, 0.0]);
        let opts = ScoreOptions {
            high_risk: 0.9,
            medium_risk: 0.5,
            top_reasons: 1,
            run_id: "r1".into(),
            clv_version: None,
        };
        // Rows a and c are in both populations; b is a prospect.
        let out = score_batch(
            &features(),
            &churn,
            &repeat,
            &opts,
            [&[true, true, true], &[true, true, true]],
            None,
        )
        .unwrap();
        assert_eq!(out.num_rows(), 3);
        let p = out.column(4).as_primitive::<Float64Type>();
        assert_eq!(p.value(0), 0.5); // sigmoid(0)
        assert!(p.is_null(1), "prospects are not scored");
        let z: f64 = 3.0 + 0.5;
        let expected = 1.0 / (1.0 + (-z).exp());
        assert!((p.value(2) - expected).abs() < 1e-12);
        let tier = out.column(5).as_string::<i32>();
        assert_eq!(
            (tier.value(0), tier.value(1), tier.value(2)),
            ("medium", "unscored", "high")
        );
        let by = |name: &str| out.column_by_name(name).unwrap().clone();
        let var = by("value_at_risk");
        let var = var.as_primitive::<Float64Type>();
        assert_eq!(var.value(0), 50.0);
        assert_eq!(var.value(2), round2(expected * 200.0));
        let source = by("value_source");
        let source = source.as_string::<i32>();
        assert_eq!(
            (source.value(0), source.value(1), source.value(2)),
            ("revenue_365d", "none", "revenue_365d"),
            "without CLV features the value is the last year's revenue"
        );
        assert!(by("clv_model_version").is_null(0));
        let reasons = by("top_reasons");
        let reasons = reasons.as_list::<i32>();
        let r2 = reasons.value(2);
        let r2 = r2.as_struct();
        assert_eq!(r2.column(0).as_string::<i32>().value(0), "purchases");
        assert_eq!(r2.column(1).as_string::<i32>().value(0), "recency_days");
        assert_eq!(r2.column(2).as_primitive::<Float64Type>().value(0), 3.0);
        assert_eq!(r2.column(3).as_primitive::<Float64Type>().value(0), 3.0);
        assert_eq!(
            r2.column(4).as_string::<i32>().value(0),
            "last order 3 days ago (+3.00)"
        );
        let repeat_p = by("repeat_purchase_probability");
        assert!(
            repeat_p.is_null(0) && repeat_p.is_null(2),
            "the repeat-purchase model scores first-time customers only"
        );
        assert_eq!(
            reasons.value(0).len(),
            0,
            "no positive contribution, no reason"
        );
    }

    /// With CLV features, the value is clv_12m, the value at risk churn × clv_12m, and a
    /// customer without a CLV (its fit failed) falls back to the revenue.
    #[test]
    fn clv_features_value_the_risk() {
        let base = features();
        let mut fields: Vec<Field> = base
            .schema()
            .fields()
            .iter()
            .map(|f| (**f).clone())
            .collect();
        fields.push(Field::new("p_alive", DataType::Float64, true));
        fields.push(Field::new("clv_12m", DataType::Float64, true));
        let mut columns = base.columns().to_vec();
        columns.push(Arc::new(Float64Array::from(vec![Some(0.8), None, None])));
        columns.push(Arc::new(Float64Array::from(vec![Some(300.0), None, None])));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let opts = ScoreOptions {
            high_risk: 0.9,
            medium_risk: 0.5,
            top_reasons: 1,
            run_id: "r1".into(),
            clv_version: Some("v0003".into()),
        };
        let churn = artifact("churn", vec![1.0, 0.5]);
        let repeat = artifact("repeat_purchase", vec![-1.0, 0.0]);
        let out = score_batch(
            &batch,
            &churn,
            &repeat,
            &opts,
            [&[true, true, true], &[true, true, true]],
            None,
        )
        .unwrap();
        let by = |name: &str| out.column_by_name(name).unwrap().clone();
        let value = by("expected_value");
        let value = value.as_primitive::<Float64Type>();
        let var = by("value_at_risk");
        let var = var.as_primitive::<Float64Type>();
        let source = by("value_source");
        let source = source.as_string::<i32>();
        let alive = by("p_alive");
        let alive = alive.as_primitive::<Float64Type>();
        // Customer a: churn probability 0.5, CLV 300.
        assert_eq!(
            (value.value(0), var.value(0), source.value(0)),
            (300.0, 150.0, "clv_12m")
        );
        assert_eq!(alive.value(0), 0.8);
        // Customer c: no CLV, so last year's revenue.
        assert_eq!((value.value(2), source.value(2)), (200.0, "revenue_365d"));
        assert!(alive.is_null(2));
        assert_eq!(by("clv_model_version").as_string::<i32>().value(0), "v0003");
    }

    /// Drift compares each input's mean (in training standard deviations) and null share
    /// with the training statistics, over the rows each model scores.
    #[test]
    fn drift_flags_a_shifted_mean_and_a_new_null_share() {
        let stats = |name: &str, mean: f64, std: f64, null_share: f64| FeatureStats {
            name: name.into(),
            count: 100,
            null_share,
            mean,
            std,
            min: None,
            max: None,
            label_correlation: None,
        };
        let training = vec![stats("a", 10.0, 2.0, 0.0), stats("b", 0.0, 1.0, 0.0)];
        let mut d = Drift::new(&[2, 1]);
        let x = ndarray::array![[11.0, f64::NAN], [13.0, 0.5], [99.0, 99.0]];
        d.add(0, &x, &[true, true, false]);
        let t = DriftThresholds {
            shift: 0.5,
            null_share: 0.1,
        };
        let rows = d.compare(0, "churn", &training, t);
        assert_eq!(rows[0].scoring_mean, Some(12.0));
        assert_eq!(rows[0].shift, Some(1.0));
        assert!(rows[0].drifted, "a mean one standard deviation away");
        assert_eq!(rows[1].scoring_null_share, 0.5);
        assert_eq!(rows[1].shift, Some(0.5));
        assert!(
            rows[1].drifted,
            "half the rows null where training had none"
        );
        let calm = d.compare(
            0,
            "churn",
            &training,
            DriftThresholds {
                shift: 2.0,
                null_share: 0.6,
            },
        );
        assert!(calm.iter().all(|r| !r.drifted));
        // Model 1 scored no rows: nothing to compare, nothing drifted.
        assert!(!d.compare(1, "repeat", &training[..1], t)[0].drifted);
    }

    /// The test batch with other lifecycle stages.
    fn with_stages(stages: [&str; 3]) -> RecordBatch {
        let base = features();
        let mut columns = base.columns().to_vec();
        columns[2] = Arc::new(StringArray::from(stages.to_vec()));
        RecordBatch::try_new(base.schema(), columns).unwrap()
    }

    fn options(top_reasons: usize) -> ScoreOptions {
        ScoreOptions {
            high_risk: 0.9,
            medium_risk: 0.5,
            top_reasons,
            run_id: "r1".into(),
            clv_version: None,
        }
    }

    /// A customer with orders outside the churn model's population (the lapsed) gets no
    /// extrapolated probability: status `outside_population`, tier `lapsed`, value at
    /// risk 0, no reasons; its value stays for the win-back path.
    #[test]
    fn customers_outside_the_population_are_not_extrapolated() {
        let batch = with_stages(["returning", "prospect", "lapsed"]);
        let opts = options(3);
        let churn = artifact("churn", vec![1.0, 0.5]);
        let repeat = artifact("repeat_purchase", vec![-1.0, 0.0]);
        let out = score_batch(
            &batch,
            &churn,
            &repeat,
            &opts,
            [&[true, false, false], &[false, false, false]],
            None,
        )
        .unwrap();
        let by = |name: &str| out.column_by_name(name).unwrap().clone();
        let status = by("score_status");
        let status = status.as_string::<i32>();
        assert_eq!(
            (status.value(0), status.value(1), status.value(2)),
            ("scored", "prospect", "outside_population")
        );
        let tier = by("risk_tier");
        let tier = tier.as_string::<i32>();
        assert_eq!((tier.value(1), tier.value(2)), ("unscored", "lapsed"));
        assert!(by("churn_probability").is_null(2));
        let var = by("value_at_risk");
        assert_eq!(var.as_primitive::<Float64Type>().value(2), 0.0);
        let value = by("expected_value");
        assert_eq!(value.as_primitive::<Float64Type>().value(2), 200.0);
        let reasons = by("top_reasons");
        assert_eq!(reasons.as_list::<i32>().value(2).len(), 0);
        // Flags that do not match the batch are an error, not a silent misalignment.
        assert!(score_batch(&batch, &churn, &repeat, &opts, [&[true], &[true]], None).is_err());
    }

    #[test]
    fn first_time_customers_get_a_repeat_purchase_probability() {
        let batch = with_stages(["first_time", "prospect", "lapsed"]);
        let opts = options(3);
        let churn = artifact("churn", vec![1.0, 0.5]);
        let repeat = artifact("repeat_purchase", vec![-1.0, 0.0]);
        let mut drift = Drift::new(&[2, 2]);
        let masks: [&[bool]; 2] = [&[true, false, true], &[true, false, false]];
        let out = score_batch(&batch, &churn, &repeat, &opts, masks, Some(&mut drift)).unwrap();
        let r = out.column_by_name("repeat_purchase_probability").unwrap();
        let r = r.as_primitive::<Float64Type>();
        assert_eq!(r.value(0), 0.5);
        assert!(r.is_null(1) && r.is_null(2));
        let stats = |name: &str| FeatureStats {
            name: name.into(),
            count: 1,
            null_share: 0.0,
            mean: 0.0,
            std: 1.0,
            min: None,
            max: None,
            label_correlation: None,
        };
        let training = [stats("recency_days"), stats("tickets_90d")];
        let t = DriftThresholds {
            shift: 100.0,
            null_share: 1.0,
        };
        // The masks put the first-time and the lapsed customer (recency 0 and 3) in the
        // churn model's population, only the first-time one in the repeat model's.
        assert_eq!(
            drift.compare(0, "churn", &training, t)[0].scoring_mean,
            Some(1.5)
        );
        assert_eq!(
            drift.compare(1, "repeat", &training, t)[0].scoring_mean,
            Some(0.0)
        );
    }

    #[test]
    fn quantile_thresholds_cut_the_riskiest_shares() {
        let mut h = ProbabilityHistogram::default();
        for i in 0..1000 {
            h.add(i as f64 / 1000.0);
        }
        let t = h.top_threshold(0.1);
        assert!((t - 0.9).abs() < 1e-9, "{t}");
        assert_eq!((0..1000).filter(|i| *i as f64 / 1000.0 >= t).count(), 100);
        let t = h.top_threshold(0.3);
        assert!((t - 0.7).abs() < 1e-9, "{t}");
        assert_eq!(h.top_threshold(0.0), 1.0);
        assert_eq!(h.top_threshold(1.0), 0.0);
    }
}
