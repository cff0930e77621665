//! Model artifacts for the unit tests.

use retain_model::{
    Calibration, Encoding, Estimator, FeatureStats, LogisticModel, ModelArtifact, TrainingInfo,
};

/// A logistic model on already standardised inputs (mean 0, scale 1, fill 0) with the
/// given coefficients and training statistics.
pub(crate) fn logistic(
    name: &str,
    features: &[&str],
    coefficients: Vec<f64>,
    feature_stats: Vec<FeatureStats>,
) -> ModelArtifact {
    let names: Vec<String> = features.iter().map(|f| (*f).to_owned()).collect();
    let k = names.len();
    ModelArtifact {
        format: retain_model::ARTIFACT_FORMAT.into(),
        name: name.into(),
        version: "v0001".into(),
        encoding: Encoding::numbers(&names),
        estimator: Estimator::Logistic(LogisticModel {
            features: names,
            fill: vec![0.0; k],
            mean: vec![0.0; k],
            scale: vec![1.0; k],
            coefficients,
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
        feature_stats,
        reason_scales: Default::default(),
    }
}
