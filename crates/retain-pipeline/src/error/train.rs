//! Why a model cannot be trained on this data.

use chrono::NaiveDate;

/// Why a model cannot be trained on this data ([`Error::Train`](super::Error::Train) names the model).
#[derive(Debug, thiserror::Error)]
pub enum TrainProblem {
    #[error("the validation snapshot {date} has no labelled customers")]
    NoValidationLabels { date: NaiveDate },
    #[error(
        "the calibration slice ({rows} rows, holdout-share {share}) cannot be calibrated: {source}"
    )]
    Calibration {
        rows: usize,
        share: f64,
        #[source]
        source: retain_model::Error,
    },
    #[error("there are no staged orders to label")]
    NoOrders,
    #[error(
        "snapshot {snapshot} needs orders through {through} for its {horizon_days}-day horizon, \
         but the data ends on {last_day}; use an as-of date of at most {latest_as_of} \
         (the validation snapshot is as-of minus horizon-days) or a shorter horizon-days"
    )]
    PastTheData {
        snapshot: NaiveDate,
        through: NaiveDate,
        horizon_days: u32,
        last_day: NaiveDate,
        latest_as_of: NaiveDate,
    },
    #[error("label SQL `{sql}` must return a BOOLEAN `label`")]
    LabelType { sql: String },
}
