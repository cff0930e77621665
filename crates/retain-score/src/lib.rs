//! Scoring: the champion models applied to the features as of D, giving for every
//! customer churn risk, repeat-purchase probability, risk tier, value at risk and the
//! reasons behind the risk.
//!
//! This is the part SQL cannot do (it needs the model's coefficients and a per-row
//! ranking of contributions); the next-best-action policy that reads its output is SQL
//! again (`sql/actions/next_best_action.sql`).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Float64Builder, ListBuilder, RecordBatch,
    StringBuilder,
};
use arrow::datatypes::{DataType, Date32Type, Field, Float64Type, Schema, SchemaRef};
use retain_model::ModelArtifact;

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

/// The schema of `scores/customer_risk` (documented in docs/tables.md).
pub fn customer_risk_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("as_of", DataType::Date32, false),
        Field::new("lifecycle_stage", DataType::Utf8, false),
        Field::new("shopper_type", DataType::Utf8, false),
        Field::new("churn_probability", DataType::Float64, true),
        Field::new("risk_tier", DataType::Utf8, false),
        Field::new("repeat_purchase_probability", DataType::Float64, true),
        Field::new("p_alive", DataType::Float64, true),
        Field::new("expected_value", DataType::Float64, false),
        Field::new("value_source", DataType::Utf8, false),
        Field::new("value_at_risk", DataType::Float64, false),
        Field::new(
            "top_reasons",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
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

/// Score one batch of the feature table. Prospects (no completed order) are not in any
/// model's population: their probabilities are null, their tier `unscored`, their
/// values 0.
///
/// The customer's value is `clv_12m` (12-month discounted CLV from the BG/NBD and
/// Gamma-Gamma models) when the features have it, else the last 365 days' revenue as a
/// stand-in (`value_source` says which); value at risk is churn probability × value.
pub fn score_batch(
    features: &RecordBatch,
    churn: &ModelArtifact,
    repeat: &ModelArtifact,
    opts: &ScoreOptions,
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
    let mut churn_p = Float64Builder::with_capacity(n);
    let mut repeat_p = Float64Builder::with_capacity(n);
    let mut tier = StringBuilder::new();
    let mut alive = Float64Builder::with_capacity(n);
    let mut source = StringBuilder::new();
    let mut expected = Float64Builder::with_capacity(n);
    let mut at_risk = Float64Builder::with_capacity(n);
    let mut reasons = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        let (value, value_source) = if clv_12m.is_valid(i) {
            (clv_12m.value(i), "clv_12m")
        } else if revenue_365d.is_valid(i) {
            (revenue_365d.value(i), "revenue_365d")
        } else {
            (0.0, "revenue_365d")
        };
        alive.append_option(p_alive.is_valid(i).then(|| p_alive.value(i)));
        if stage.value(i) == "prospect" {
            churn_p.append_null();
            repeat_p.append_null();
            tier.append_value("unscored");
            source.append_value("none");
            expected.append_value(0.0);
            at_risk.append_value(0.0);
            reasons.append(true);
            continue;
        }
        let row_c = xc.row(i).to_vec();
        let p = churn.predict(&row_c);
        let r = repeat.predict(&xr.row(i).to_vec());
        churn_p.append_value(p);
        repeat_p.append_value(r);
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
        for reason in top_reasons(churn, &row_c, opts.top_reasons) {
            reasons.values().append_value(reason);
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

/// The features pushing this customer's churn risk up most, strongest first, as
/// `feature=value (+contribution)`: to the log-odds for logistic regression and boosted
/// trees, to the probability for a tree or forest (per-path contributions). Only
/// positive contributions count: a reason explains risk, never safety.
pub fn top_reasons(model: &ModelArtifact, row: &[f64], k: usize) -> Vec<String> {
    let contrib = model.estimator.contributions(row).values;
    let mut idx: Vec<usize> = (0..contrib.len()).filter(|&j| contrib[j] > 0.0).collect();
    // Deterministic: by contribution, then by feature position.
    idx.sort_by(|&a, &b| contrib[b].total_cmp(&contrib[a]).then(a.cmp(&b)));
    idx.into_iter()
        .take(k)
        .map(|j| {
            let name = &model.features()[j];
            if name.contains('=') {
                // A one-hot indicator (`age_band=65+`): the name says the value.
                format!("{name} (+{:.2})", contrib[j])
            } else {
                format!("{name}={} (+{:.2})", trim_number(row[j]), contrib[j])
            }
        })
        .collect()
}

fn trim_number(v: f64) -> String {
    if v.is_nan() {
        "missing".to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
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
    use retain_model::{Calibration, Estimator, LogisticModel, TrainingInfo};

    fn artifact(name: &str, coef: Vec<f64>) -> ModelArtifact {
        ModelArtifact {
            format: retain_model::ARTIFACT_FORMAT.into(),
            name: name.into(),
            version: "v0001".into(),
            encoding: retain_model::Encoding::numbers(&[
                "recency_days".into(),
                "tickets_90d".into(),
            ]),
            estimator: Estimator::Logistic(LogisticModel {
                features: vec!["recency_days".into(), "tickets_90d".into()],
                fill: vec![0.0, 0.0],
                mean: vec![0.0, 0.0],
                scale: vec![1.0, 1.0],
                coefficients: coef,
                intercept: 0.0,
            }),
            calibration: Calibration::None,
            training: TrainingInfo {
                training_snapshots: vec![],
                validation_snapshot: String::new(),
                horizon_days: 90,
                label_sql: "labels/churn.sql".into(),
                population: None,
                seed: 42,
                fit_rows: 0,
                calibration_rows: 0,
                hyperparameters: Default::default(),
            },
            feature_stats: vec![],
        }
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
        let out = score_batch(&features(), &churn, &repeat, &opts).unwrap();
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
        assert_eq!(r2.as_string::<i32>().value(0), "recency_days=3 (+3.00)");
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
        let out = score_batch(&batch, &churn, &repeat, &opts).unwrap();
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
}
