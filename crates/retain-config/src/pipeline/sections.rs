//! The sections of a pipeline file, each a serde struct with its defaults, in the order
//! `PipelineConfig` lists them: `[engine]`, `[sources.<table>]`, `[features]`,
//! `[models]`, `[score]`, `[policy]`, `[clv]`, `[storage]` and `[quality]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::units::{ByteSize, Duration};

/// `[engine]`: the embedded DataFusion session.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EngineConfig {
    /// Memory pool size (`512MiB`, `2GiB`, or bytes). Beyond it, operators spill.
    #[serde(default = "default_memory_limit")]
    pub memory_limit: ByteSize,
    /// Directory for spill files; the system temp directory when absent.
    #[serde(default)]
    pub spill_dir: Option<PathBuf>,
    /// Number of partitions DataFusion plans for; the number of cores when absent.
    #[serde(default)]
    pub target_partitions: Option<usize>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            memory_limit: default_memory_limit(),
            spill_dir: None,
            target_partitions: None,
        }
    }
}

fn default_memory_limit() -> ByteSize {
    ByteSize(2 << 30)
}

/// File format of a raw source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Ndjson,
    Parquet,
}

/// Compression of a text source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// `[sources.<table>]`: one raw export.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SourceConfig {
    /// File, folder (ending in `/`) or glob (`exports/orders/*.csv.gz`), relative to `raw`
    /// unless it is an absolute URL or path. May reference `${ENV_VAR}`.
    #[serde(alias = "url")]
    pub path: String,
    /// File format; from the extension when absent (`.csv`, `.ndjson`/`.jsonl`/`.json`,
    /// `.parquet`, each optionally followed by `.gz` or `.zst`).
    #[serde(default)]
    pub format: Option<Format>,
    /// Compression of text files; from each file's extension when absent.
    #[serde(default)]
    pub compression: Option<Compression>,
    /// CSV field delimiter.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// CSV quote character.
    #[serde(default = "default_quote")]
    pub quote: char,
    /// The first CSV line names the columns.
    #[serde(default = "default_true")]
    pub header: bool,
    /// Column names of a CSV without a header line.
    #[serde(default)]
    pub columns: Vec<String>,
    /// A missing or unreadable source is a warning and the table is empty, not an error.
    #[serde(default)]
    pub optional: bool,
    /// chrono format of local timestamps in the export (`%d/%m/%Y %H:%M`), read as UTC;
    /// ISO-8601 timestamps with or without an offset are always accepted.
    #[serde(default)]
    pub timestamp_format: Option<String>,
    /// Overrides `[quality] max-quarantine-ratio` for this source.
    #[serde(default)]
    pub max_quarantine_ratio: Option<f64>,
    /// Staging SQL, relative to the SQL directory; `staging/<table>.sql` when absent.
    #[serde(default)]
    pub staging: Option<String>,
}

fn default_delimiter() -> char {
    ','
}
fn default_quote() -> char {
    '"'
}
fn default_true() -> bool {
    true
}

impl SourceConfig {
    /// The format, given or inferred from the path.
    pub fn format(&self) -> Result<Format, String> {
        if let Some(f) = self.format {
            return Ok(f);
        }
        let lower = self.path.to_ascii_lowercase();
        let stem = ["gz", "gzip", "zst", "zstd"]
            .iter()
            .find_map(|ext| lower.strip_suffix(&format!(".{ext}")))
            .unwrap_or(&lower);
        if stem.ends_with(".csv") || stem.ends_with(".tsv") {
            Ok(Format::Csv)
        } else if stem.ends_with(".ndjson") || stem.ends_with(".jsonl") || stem.ends_with(".json") {
            Ok(Format::Ndjson)
        } else if stem.ends_with(".parquet") {
            Ok(Format::Parquet)
        } else {
            Err(format!(
                "cannot tell the format of `{}` from its name: set `format = \"csv\" | \"ndjson\" | \"parquet\"`",
                self.path
            ))
        }
    }
}

/// `[features]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Feature SQL relative to the SQL directory; `features/customer.sql` when absent.
    #[serde(default)]
    pub sql: Option<String>,
    /// Parameters bound into the feature SQL (`$name`).
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
}

/// `[models]`: which spec plays each role.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ModelsConfig {
    /// Spec name (file stem in `models/`) of the churn model.
    pub churn: String,
    /// Spec name of the repeat-purchase model.
    pub repeat_purchase: String,
}

/// How risk tiers are cut.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierMethod {
    /// Fixed churn-probability thresholds (`high_risk`, `medium_risk`).
    #[default]
    Thresholds,
    /// Shares of the scored customers: the riskiest `high_share` are `high`, the next
    /// `medium_share` `medium`.
    Quantiles,
}

/// `[score]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ScoreConfig {
    /// `thresholds` (default) or `quantiles`.
    #[serde(default)]
    pub tiers: TierMethod,
    /// With `tiers = "quantiles"`: share of scored customers in tier `high`...
    #[serde(default = "default_high_share")]
    pub high_share: f64,
    /// ... and in tier `medium` (the next riskiest).
    #[serde(default = "default_medium_share")]
    pub medium_share: f64,
    /// churn_probability at or above this is risk tier `high`.
    #[serde(default = "default_high")]
    pub high_risk: f64,
    /// churn_probability at or above this (and below `high_risk`) is tier `medium`.
    #[serde(default = "default_medium")]
    pub medium_risk: f64,
    /// Number of reasons kept per customer.
    #[serde(default = "default_top_reasons")]
    pub top_reasons: usize,
    /// A model input whose mean over the scored customers moved more than this many
    /// training standard deviations is reported as drifted.
    #[serde(default = "default_drift_shift")]
    pub drift_shift: f64,
    /// ... and so is one whose share of missing values moved more than this.
    #[serde(default = "default_drift_null_share")]
    pub drift_null_share: f64,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        Self {
            tiers: TierMethod::default(),
            high_share: default_high_share(),
            medium_share: default_medium_share(),
            high_risk: default_high(),
            medium_risk: default_medium(),
            top_reasons: default_top_reasons(),
            drift_shift: default_drift_shift(),
            drift_null_share: default_drift_null_share(),
        }
    }
}

fn default_high() -> f64 {
    0.7
}
fn default_high_share() -> f64 {
    0.1
}
fn default_medium_share() -> f64 {
    0.2
}
fn default_medium() -> f64 {
    0.4
}
fn default_top_reasons() -> usize {
    3
}
fn default_drift_shift() -> f64 {
    0.5
}
fn default_drift_null_share() -> f64 {
    0.1
}

/// `[policy]`: the next-best-action policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PolicyConfig {
    /// Policy file (docs/policy.md); the embedded `pipelines/policies/retention.toml`
    /// when absent.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// SQL giving the policy's input columns, relative to the SQL directory;
    /// `actions/policy_input.sql` when absent.
    #[serde(default)]
    pub input_sql: Option<String>,
}

/// `[clv]`: the buy-till-you-die models fitted as of each feature date (docs/clv.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClvConfig {
    /// Fit the models and add `p_alive`, `expected_purchases_90d` and `clv_12m` to the
    /// features; when false those columns are NULL.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Summary SQL relative to the SQL directory; `features/clv_summary.sql` when absent.
    #[serde(default)]
    pub sql: Option<String>,
    /// Days in the models' time unit (7: weeks, as in the papers). The fitted alpha and
    /// gamma are in this unit; the feature columns do not depend on it.
    #[serde(default = "default_time_unit_days")]
    pub time_unit_days: u32,
    /// Yearly discount rate of `clv_12m` (12 monthly periods, each discounted at its end).
    #[serde(default = "default_annual_discount_rate")]
    pub annual_discount_rate: f64,
    /// Share of revenue kept as profit; 1 makes `clv_12m` expected revenue.
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// Days held out at the end of the data for the model checks of the CLV report
    /// (expected against actual repeat purchases).
    #[serde(default = "default_holdout_days")]
    pub holdout_days: u32,
}

impl Default for ClvConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            sql: None,
            time_unit_days: default_time_unit_days(),
            annual_discount_rate: default_annual_discount_rate(),
            margin: default_margin(),
            holdout_days: default_holdout_days(),
        }
    }
}

fn default_time_unit_days() -> u32 {
    7
}
fn default_annual_discount_rate() -> f64 {
    0.10
}
fn default_margin() -> f64 {
    1.0
}
fn default_holdout_days() -> u32 {
    182
}

/// `[storage]`: settings of the object stores behind `warehouse` and the sources.
/// Credentials are never set here: they come from the environment and the providers'
/// standard chains.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StorageConfig {
    /// object_store configuration keys (`aws_endpoint`, `aws_region`,
    /// `aws_virtual_hosted_style_request`, `allow_http`, `google_bucket`, …); values may
    /// reference `${ENV_VAR}`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Retries of a failed request (connection errors, 5xx, throttling).
    #[serde(default = "default_max_retries")]
    pub max_retries: usize,
    /// No retry starts after this long from the first attempt (`30s`, `2m`, `500ms`).
    #[serde(default = "default_retry_timeout")]
    pub retry_timeout: Duration,
    /// Timeout of the connect phase of one request.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Duration,
    /// Timeout of one whole request.
    #[serde(default = "default_request_timeout")]
    pub timeout: Duration,
    /// How long a data file a commit replaced stays for Delta readers of older table
    /// versions before a Delta VACUUM deletes it (`0s`: at once).
    #[serde(default)]
    pub keep_replaced_files: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            options: BTreeMap::new(),
            max_retries: default_max_retries(),
            retry_timeout: default_retry_timeout(),
            connect_timeout: default_connect_timeout(),
            timeout: default_request_timeout(),
            keep_replaced_files: Duration::default(),
        }
    }
}

fn default_max_retries() -> usize {
    3
}
fn default_retry_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(30))
}
fn default_connect_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(5))
}
fn default_request_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(120))
}

/// `[quality]`: when bad input fails the run.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct QualityConfig {
    /// A source whose quarantined rows exceed this share of its rows read fails the run
    /// (exit code 3) and nothing is published. Per-source `max-quarantine-ratio`
    /// overrides it.
    #[serde(default = "default_quarantine_ratio")]
    pub max_quarantine_ratio: f64,
    /// Timestamps before this date are implausible (`out_of_range_date`).
    #[serde(default = "default_min_date")]
    pub min_date: NaiveDate,
    /// Timestamps later than the source files' last modification plus this many days
    /// cannot have been extracted with them (`future_date`). Staging does not depend on
    /// any as-of date: every other row is staged, and each as-of reads the facts before it.
    #[serde(default = "default_future_days")]
    pub future_days: u16,
    /// An as-of date more than this many days after the staged data's last fact (the
    /// latest order, ticket, event or contact) is refused (exit code 2): its scores would
    /// describe a time the data does not reach. `--allow-as-of-beyond-data` overrides it.
    #[serde(default = "default_as_of_tolerance_days")]
    pub as_of_tolerance_days: u16,
}

fn default_min_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default()
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            max_quarantine_ratio: default_quarantine_ratio(),
            min_date: default_min_date(),
            future_days: default_future_days(),
            as_of_tolerance_days: default_as_of_tolerance_days(),
        }
    }
}

fn default_future_days() -> u16 {
    1
}

fn default_as_of_tolerance_days() -> u16 {
    3
}

fn default_quarantine_ratio() -> f64 {
    0.05
}
