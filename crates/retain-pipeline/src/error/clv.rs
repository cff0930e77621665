//! Why a CLV fit, a CLV query or a registered CLV version failed.

use chrono::NaiveDate;
use datafusion::arrow::error::ArrowError;

use crate::records::clv::{CLV_MODEL_FORMAT, ClvModel};

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

/// The CLV models fitted as of a date, or why they could not be.
pub type FitResult = Result<ClvModel, ClvFitError>;
