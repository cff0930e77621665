//! Pipeline files (`pipelines/*.toml`) and model specifications (`models/*.toml`).
//!
//! Both are plain serde structs with unknown keys rejected: a typo in a pipeline file is
//! an error naming the key, never a silently ignored setting. The files shipped in the
//! repository are also embedded in the binary, so `retain demo` needs no checkout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

/// Errors reading or validating configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the expected keys and types.
    #[error("invalid {what} `{path}`: {message}")]
    Parse {
        what: &'static str,
        path: String,
        message: String,
    },
    /// A value parsed but makes no sense (e.g. a negative horizon).
    #[error("invalid {what} `{path}`: {message}")]
    Invalid {
        what: &'static str,
        path: String,
        message: String,
    },
    /// A model named by the pipeline is neither a file nor an embedded spec.
    #[error("model spec `{0}` not found (looked for models/{0}.toml and the embedded specs)")]
    UnknownModel(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub mod policy;
pub use policy::Policy;

/// The pipeline file shipped as `pipelines/demo.toml`, embedded.
pub const DEMO_PIPELINE: &str = include_str!("../../../pipelines/demo.toml");

/// Model specs shipped in `models/`, embedded: (name, TOML text).
pub const EMBEDDED_MODELS: &[(&str, &str)] = &[
    ("churn", include_str!("../../../models/churn.toml")),
    (
        "repeat_purchase",
        include_str!("../../../models/repeat_purchase.toml"),
    ),
];

/// One `pipelines/*.toml` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PipelineConfig {
    /// Name of the pipeline, recorded in manifests.
    pub name: String,
    /// Warehouse URL or path for every output (`./warehouse`, `file:///…`, `memory://…`).
    pub warehouse: String,
    /// Where the raw exports are; relative values resolve against the warehouse URL.
    #[serde(default = "default_raw")]
    pub raw: String,
    /// Default scoring date (`YYYY-MM-DD`) when the command line gives none.
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
    /// The stages `retain run` runs, in pipeline order whatever the order written here;
    /// all of them when absent. `retain run --stages` overrides it.
    #[serde(default = "Stage::all")]
    pub stages: Vec<Stage>,
    /// Directory holding `staging/`, `features/`, `labels/`, `actions/` SQL files. When
    /// absent the SQL embedded in the binary (the repository's `sql/`) is used.
    #[serde(default)]
    pub sql_dir: Option<PathBuf>,
    /// Directory holding model specs; when absent the embedded `models/` are used.
    #[serde(default)]
    pub models_dir: Option<PathBuf>,
    /// Query engine settings.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Raw sources by canonical table name. Only `orders` is required.
    pub sources: BTreeMap<String, SourceConfig>,
    /// Feature job settings.
    #[serde(default)]
    pub features: FeaturesConfig,
    /// Which model specs to train and score with: role (`churn`, `repeat_purchase`) to
    /// spec name.
    pub models: ModelsConfig,
    /// Scoring settings.
    #[serde(default)]
    pub score: ScoreConfig,
    /// Which next-best-action policy decides the actions.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Customer-lifetime models (BG/NBD, Gamma-Gamma) and the CLV features they give.
    #[serde(default)]
    pub clv: ClvConfig,
    /// How object stores are reached (endpoint, region, retries, timeouts).
    #[serde(default)]
    pub storage: StorageConfig,
    /// Data-quality limits.
    #[serde(default)]
    pub quality: QualityConfig,
    /// A warehouse write lock older than this is stale (its run crashed or was killed)
    /// and the next run takes it over (`30m`, `2h`).
    #[serde(default = "default_lock_stale_after")]
    pub lock_stale_after: Duration,
}

/// A stage of `retain run`, in pipeline order (the derived `Ord` is that order).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Stage every source into `staged/` and `quarantine/`.
    Ingest,
    /// Publish `features/customer/as_of=D/`.
    Features,
    /// Fit and register the customer-lifetime models as of D.
    Clv,
    /// Train the churn and repeat-purchase specs and register them (champion if better).
    Train,
    /// Score every customer with the champions: `scores/customer_risk/as_of=D/`.
    Score,
    /// Decide next best actions: `scores/next_best_action/as_of=D/`.
    Actions,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 6] = [
        Stage::Ingest,
        Stage::Features,
        Stage::Clv,
        Stage::Train,
        Stage::Score,
        Stage::Actions,
    ];

    fn all() -> Vec<Stage> {
        Self::ALL.to_vec()
    }

    /// Its name in pipeline files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Features => "features",
            Stage::Clv => "clv",
            Stage::Train => "train",
            Stage::Score => "score",
            Stage::Actions => "actions",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown stage `{s}` (the stages are {})", names.join(", "))
            })
    }
}

fn default_lock_stale_after() -> Duration {
    Duration(std::time::Duration::from_secs(2 * 3600))
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
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            options: BTreeMap::new(),
            max_retries: default_max_retries(),
            retry_timeout: default_retry_timeout(),
            connect_timeout: default_connect_timeout(),
            timeout: default_request_timeout(),
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

/// Keys of `[storage.options]` that hold secrets: refused in a pipeline file.
const SECRET_KEYS: &[&str] = &[
    "secret",
    "token",
    "password",
    "access_key",
    "account_key",
    "service_account_key",
    "sas",
    "credential",
];

/// A duration written as `500ms`, `30s`, `2m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub std::time::Duration);

impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a duration like `500ms`, `30s` or `2m`"))?;
        let ms = match unit.trim() {
            "ms" => n,
            "s" => n * 1000,
            "m" | "min" => n * 60_000,
            "h" => n * 3_600_000,
            other => {
                return Err(format!(
                    "unknown duration unit `{other}` in `{s}` (ms, s, m, h)"
                ));
            }
        };
        Ok(Duration(std::time::Duration::from_millis(ms)))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// `[quality]`: when bad input fails the run.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct QualityConfig {
    /// A source whose quarantined rows exceed this share of its rows read fails the run
    /// (exit code 3) and nothing is published. Per-source `max-quarantine-ratio`
    /// overrides it. Rows dated after the as-of date (`future_date`) do not count: a
    /// backfill over a full export is not bad input.
    #[serde(default = "default_quarantine_ratio")]
    pub max_quarantine_ratio: f64,
    /// Timestamps before this date are implausible (`out_of_range_date`).
    #[serde(default = "default_min_date")]
    pub min_date: NaiveDate,
}

fn default_min_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default()
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            max_quarantine_ratio: default_quarantine_ratio(),
            min_date: default_min_date(),
        }
    }
}

fn default_quarantine_ratio() -> f64 {
    0.05
}

/// Replace every `${NAME}` with the environment variable `NAME`; an unset variable is an
/// error naming it. `$$` is a literal `$`.
pub fn expand_env(text: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            let name = &tail[..end];
            let value = std::env::var(name)
                .map_err(|_| format!("environment variable `{name}` is not set"))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn default_raw() -> String {
    "raw/".to_owned()
}

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

/// A byte count written as an integer or as `512MiB` / `2GiB` / `100MB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a size like `512MiB` or `2GiB`"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "kib" => 1 << 10,
            "mb" => 1_000_000,
            "mib" => 1 << 20,
            "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            other => return Err(format!("unknown size unit `{other}` in `{s}`")),
        };
        Ok(ByteSize((n * mult as f64) as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
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
    pub fn format(&self) -> std::result::Result<Format, String> {
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

/// Parameters of `sql/features/customer.sql` when a pipeline does not set them.
/// Each is documented in docs/features.md.
const DEFAULT_FEATURE_PARAMS: &str = r#"
lapsed_after_days = 180
lapsed_overdue_ratio = 3.0
lapsed_min_days = 60
ambassador_min_promotions = 2
transactional_min_discount_share = 0.5
transactional_min_offer_response = 0.5
offer_response_days = 14
relational_min_content_per_order = 3.0
relational_min_service_contacts = 2
"#;

/// The defaults overlaid with the pipeline's own values (which win).
fn with_defaults(
    defaults: &str,
    own: &BTreeMap<String, toml::Value>,
) -> BTreeMap<String, toml::Value> {
    let mut merged: BTreeMap<String, toml::Value> = toml::from_str(defaults)
        .unwrap_or_else(|e| unreachable!("built-in default parameters are invalid: {e}"));
    merged.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    merged
}

impl PipelineConfig {
    /// Feature SQL parameters: built-in defaults overlaid with `[features.params]`.
    pub fn feature_params(&self) -> BTreeMap<String, toml::Value> {
        with_defaults(DEFAULT_FEATURE_PARAMS, &self.features.params)
    }

    /// Parse a pipeline from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let mut cfg: Self = toml::from_str(text).map_err(|e| Error::Parse {
            what: "pipeline file",
            path: origin.to_owned(),
            message: one_line(&e.to_string()),
        })?;
        cfg.validate(origin)?;
        cfg.stages.sort();
        cfg.stages.dedup();
        cfg.expand_env().map_err(|message| Error::Invalid {
            what: "pipeline file",
            path: origin.to_owned(),
            message,
        })?;
        Ok(cfg)
    }

    /// Substitute `${ENV_VAR}` in locations and storage options.
    fn expand_env(&mut self) -> std::result::Result<(), String> {
        self.warehouse = expand_env(&self.warehouse)?;
        self.raw = expand_env(&self.raw)?;
        for (table, src) in &mut self.sources {
            src.path = expand_env(&src.path).map_err(|m| format!("[sources.{table}] path: {m}"))?;
        }
        for (key, value) in &mut self.storage.options {
            *value = expand_env(value).map_err(|m| format!("[storage.options] {key}: {m}"))?;
        }
        Ok(())
    }

    /// Read and parse a pipeline file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The embedded demo pipeline.
    pub fn demo() -> Self {
        // The embedded file is part of the binary and covered by a unit test.
        Self::from_toml(DEMO_PIPELINE, "pipelines/demo.toml (embedded)")
            .unwrap_or_else(|e| unreachable!("embedded demo pipeline is invalid: {e}"))
    }

    fn validate(&self, origin: &str) -> Result<()> {
        let invalid = |message: String| Error::Invalid {
            what: "pipeline file",
            path: origin.to_owned(),
            message,
        };
        if self.stages.is_empty() {
            return Err(invalid(
                "`stages` is empty: list at least one of ingest, features, clv, train, score, actions (or leave it out for all)".into(),
            ));
        }
        const TABLES: [&str; 5] = [
            "customers",
            "orders",
            "support_tickets",
            "engagement_events",
            "contacts",
        ];
        for table in self.sources.keys() {
            if !TABLES.contains(&table.as_str()) {
                return Err(invalid(format!(
                    "unknown source table `{table}` (expected one of {})",
                    TABLES.join(", ")
                )));
            }
        }
        if !self.sources.contains_key("orders") {
            return Err(invalid("the `orders` source is required".into()));
        }
        let clv = &self.clv;
        if clv.time_unit_days == 0 {
            return Err(invalid("[clv] time-unit-days must be at least 1".into()));
        }
        if !(clv.annual_discount_rate.is_finite() && clv.annual_discount_rate > -1.0) {
            return Err(invalid(
                "[clv] annual-discount-rate must be a number above -1 (0.1 is 10% a year)".into(),
            ));
        }
        if !(clv.margin.is_finite() && clv.margin > 0.0 && clv.margin <= 1.0) {
            return Err(invalid(
                "[clv] margin must be in (0, 1]: the share of revenue kept as profit".into(),
            ));
        }
        if clv.holdout_days < 7 {
            return Err(invalid("[clv] holdout-days must be at least 7".into()));
        }
        for (table, src) in &self.sources {
            src.format()
                .map_err(|m| invalid(format!("[sources.{table}]: {m}")))?;
            if !src.delimiter.is_ascii() || !src.quote.is_ascii() {
                return Err(invalid(format!(
                    "[sources.{table}]: delimiter and quote must be ASCII characters"
                )));
            }
            if !src.header && src.columns.is_empty() {
                return Err(invalid(format!(
                    "[sources.{table}]: `header = false` needs a `columns` list"
                )));
            }
            if let Some(r) = src.max_quarantine_ratio
                && !(0.0..=1.0).contains(&r)
            {
                return Err(invalid(format!(
                    "[sources.{table}]: max-quarantine-ratio must be between 0 and 1"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.quality.max_quarantine_ratio) {
            return Err(invalid(
                "[quality] max-quarantine-ratio must be between 0 and 1".into(),
            ));
        }
        for key in self.storage.options.keys() {
            let k = key.to_ascii_lowercase();
            if SECRET_KEYS.iter().any(|s| k.contains(s)) && !k.contains("endpoint") {
                return Err(invalid(format!(
                    "[storage.options] `{key}` holds a secret: pipeline files never do. Set it in the environment (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY, …) or use the provider's credential chain"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.score.medium_risk)
            || !(0.0..=1.0).contains(&self.score.high_risk)
            || self.score.medium_risk > self.score.high_risk
        {
            return Err(invalid(
                "score thresholds must satisfy 0 <= medium_risk <= high_risk <= 1".into(),
            ));
        }
        let (h, m) = (self.score.high_share, self.score.medium_share);
        if !(h.is_finite() && m.is_finite() && h >= 0.0 && m >= 0.0 && h + m <= 1.0) {
            return Err(invalid(
                "[score] high_share and medium_share must be ≥ 0 with high_share + medium_share ≤ 1"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// One `models/*.toml` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ModelSpec {
    /// Model name: the registry folder `models/<name>/`. Specs that share a name (e.g.
    /// `churn.toml` and `churn_gbdt.toml`) are candidates for the same champion.
    pub name: String,
    /// One line saying what this spec tries, shown by `retain train --compare`.
    #[serde(default)]
    pub description: Option<String>,
    /// Label SQL relative to the SQL directory: it defines the target and the population
    /// (which customers are labelled at a snapshot).
    pub label_sql: String,
    /// Label horizon in days after the snapshot date.
    pub horizon_days: u32,
    /// Number of training snapshots before the out-of-time validation snapshot.
    pub training_snapshots: u32,
    /// Days between training snapshots.
    pub snapshot_spacing_days: u32,
    /// An extra population filter: a SQL boolean expression over feature columns
    /// (e.g. `shopper_type = 'relational'`), applied at every snapshot and at scoring.
    #[serde(default)]
    pub population: Option<String>,
    /// Feature columns the model uses: a list (in order), or `"all"` for every numeric
    /// and boolean column of the feature table.
    pub features: FeatureSelection,
    /// Columns left out of `features` (useful with `"all"`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Seed for everything random in training (calibration slice, bootstrap, subsampling).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Parameters bound into the label SQL (besides `$as_of` and `$horizon_days`).
    #[serde(default)]
    pub label_params: BTreeMap<String, toml::Value>,
    /// The learning algorithm and its hyperparameters.
    pub algorithm: AlgorithmConfig,
    /// Probability calibration.
    #[serde(default)]
    pub calibration: CalibrationConfig,
    /// The spec's text, as read (stored in the registry beside the model).
    #[serde(skip)]
    pub text: String,
    /// Where the spec came from (a path, or `models/<name>.toml (embedded)`).
    #[serde(skip)]
    pub origin: String,
}

fn default_seed() -> u64 {
    42
}

/// `features = [...]` or `features = "all"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum FeatureSelection {
    /// `"all"` (the only string accepted).
    All(String),
    /// The listed columns, in order.
    List(Vec<String>),
}

/// `[calibration]` of a model spec.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CalibrationConfig {
    /// `platt` (default), `isotonic` or `none`.
    #[serde(default = "default_calibration_method")]
    pub method: CalibrationMethod,
    /// Share of the training customers held out (by a seeded hash of the customer id,
    /// across all training snapshots) to fit the calibration and the naive baseline on.
    /// Never the validation snapshot.
    #[serde(default = "default_holdout_share")]
    pub holdout_share: f64,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        Self {
            method: default_calibration_method(),
            holdout_share: default_holdout_share(),
        }
    }
}

fn default_calibration_method() -> CalibrationMethod {
    CalibrationMethod::Platt
}
fn default_holdout_share() -> f64 {
    0.2
}

/// Probability calibration methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CalibrationMethod {
    None,
    Platt,
    Isotonic,
}

/// `[algorithm]` of a model spec: `kind` and the hyperparameters that kind takes (a
/// key another kind takes is an error naming its line).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AlgorithmConfig {
    pub kind: AlgorithmKind,
    /// logistic: L2 penalty on the standardised coefficients (1.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// logistic: maximum optimiser iterations (200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u64>,
    /// trees: maximum depth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<usize>,
    /// trees: minimum training rows in a leaf.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_samples_leaf: Option<usize>,
    /// random-forest, gbdt: number of trees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trees: Option<usize>,
    /// random-forest: share of rows each tree is fitted on (bootstrap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_share: Option<f64>,
    /// random-forest: share of features each tree sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_share: Option<f64>,
    /// gbdt: shrinkage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// gbdt: maximum leaves per tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_leaves: Option<usize>,
    /// gbdt: L2 penalty on leaf values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l2: Option<f64>,
    /// gbdt: histogram bins per feature (2–255).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bins: Option<usize>,
    /// gbdt: share of rows each tree is fitted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsample: Option<f64>,
}

/// Supported learning algorithms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlgorithmKind {
    /// L2-regularised logistic regression on standardised features (linfa-logistic).
    #[default]
    Logistic,
    /// One CART tree (linfa-trees).
    DecisionTree,
    /// Bagged CART trees (linfa-ensemble).
    RandomForest,
    /// Histogram gradient-boosted trees (retain-model's own).
    Gbdt,
}

impl AlgorithmKind {
    /// The name used in specs and artifacts.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logistic => "logistic",
            Self::DecisionTree => "decision-tree",
            Self::RandomForest => "random-forest",
            Self::Gbdt => "gbdt",
        }
    }

    /// The `[algorithm]` keys this kind takes.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Self::Logistic => &["alpha", "max-iterations"],
            Self::DecisionTree => &["max-depth", "min-samples-leaf"],
            Self::RandomForest => &[
                "trees",
                "max-depth",
                "min-samples-leaf",
                "bootstrap-share",
                "feature-share",
            ],
            Self::Gbdt => &[
                "trees",
                "learning-rate",
                "max-depth",
                "max-leaves",
                "min-samples-leaf",
                "l2",
                "bins",
                "subsample",
            ],
        }
    }
}

impl AlgorithmConfig {
    /// The hyperparameters set in the file, by their spec key.
    fn set_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut add = |set: bool, k: &'static str| {
            if set {
                keys.push(k);
            }
        };
        add(self.alpha.is_some(), "alpha");
        add(self.max_iterations.is_some(), "max-iterations");
        add(self.max_depth.is_some(), "max-depth");
        add(self.min_samples_leaf.is_some(), "min-samples-leaf");
        add(self.trees.is_some(), "trees");
        add(self.bootstrap_share.is_some(), "bootstrap-share");
        add(self.feature_share.is_some(), "feature-share");
        add(self.learning_rate.is_some(), "learning-rate");
        add(self.max_leaves.is_some(), "max-leaves");
        add(self.l2.is_some(), "l2");
        add(self.bins.is_some(), "bins");
        add(self.subsample.is_some(), "subsample");
        keys
    }
}

/// The 1-based line of `key = …` in `section` (`[section]`) of a TOML text, for errors.
fn line_of(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            current = name.trim().to_owned();
            continue;
        }
        if current == section
            && let Some(rest) = t.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(i + 1);
        }
    }
    None
}

impl ModelSpec {
    /// Parse a model spec from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let mut spec: Self = toml::from_str(text).map_err(|e| Error::Parse {
            what: "model spec",
            path: origin.to_owned(),
            message: one_line(&e.to_string()),
        })?;
        spec.text = text.to_owned();
        spec.origin = origin.to_owned();
        let invalid = |message: String| Error::Invalid {
            what: "model spec",
            path: origin.to_owned(),
            message,
        };
        let at = |section: &str, key: &str| {
            line_of(text, section, key).map_or_else(String::new, |l| format!("line {l}: "))
        };
        if spec.horizon_days == 0 {
            return Err(invalid(format!(
                "{}horizon-days must be at least 1",
                at("", "horizon-days")
            )));
        }
        if spec.training_snapshots == 0 || spec.snapshot_spacing_days == 0 {
            return Err(invalid(
                "training-snapshots and snapshot-spacing-days must be at least 1".into(),
            ));
        }
        match &spec.features {
            FeatureSelection::All(s) if s != "all" => {
                return Err(invalid(format!(
                    "{}features must be a list of columns or \"all\", not \"{s}\"",
                    at("", "features")
                )));
            }
            FeatureSelection::List(l) if l.is_empty() => {
                return Err(invalid(format!(
                    "{}features must name at least one column",
                    at("", "features")
                )));
            }
            _ => {}
        }
        let kind = spec.algorithm.kind;
        for key in spec.algorithm.set_keys() {
            if !kind.keys().contains(&key) {
                return Err(invalid(format!(
                    "{}[algorithm] `{key}` does not apply to kind \"{}\" (it takes {})",
                    at("algorithm", key),
                    kind.as_str(),
                    kind.keys().join(", ")
                )));
            }
        }
        let a = &spec.algorithm;
        let share = |v: Option<f64>, key: &str| -> Result<()> {
            match v {
                Some(v) if !(v > 0.0 && v <= 1.0) => Err(invalid(format!(
                    "{}[algorithm] {key} must be in (0, 1], not {v}",
                    at("algorithm", key)
                ))),
                _ => Ok(()),
            }
        };
        share(a.bootstrap_share, "bootstrap-share")?;
        share(a.feature_share, "feature-share")?;
        share(a.subsample, "subsample")?;
        share(a.learning_rate, "learning-rate")?;
        for (v, key) in [(a.alpha, "alpha"), (a.l2, "l2")] {
            if let Some(v) = v
                && !(v >= 0.0 && v.is_finite())
            {
                return Err(invalid(format!(
                    "{}[algorithm] {key} must be a finite number >= 0",
                    at("algorithm", key)
                )));
            }
        }
        for (v, key, min) in [
            (a.max_depth, "max-depth", 1),
            (a.min_samples_leaf, "min-samples-leaf", 1),
            (a.trees, "trees", 1),
            (a.max_leaves, "max-leaves", 2),
            (a.bins, "bins", 2),
        ] {
            if let Some(v) = v
                && v < min
            {
                return Err(invalid(format!(
                    "{}[algorithm] {key} must be at least {min}",
                    at("algorithm", key)
                )));
            }
        }
        if let Some(b) = a.bins
            && b > 255
        {
            return Err(invalid(format!(
                "{}[algorithm] bins must be at most 255",
                at("algorithm", "bins")
            )));
        }
        let h = spec.calibration.holdout_share;
        if !(0.0..0.9).contains(&h) {
            return Err(invalid(format!(
                "{}[calibration] holdout-share must be in [0, 0.9), not {h}",
                at("calibration", "holdout-share")
            )));
        }
        if h == 0.0 && spec.calibration.method != CalibrationMethod::None {
            return Err(invalid(format!(
                "{}[calibration] holdout-share 0 leaves no rows to calibrate on: use method = \"none\" or a share above 0",
                at("calibration", "holdout-share")
            )));
        }
        Ok(spec)
    }

    /// Read a spec file.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Load spec `name` from `dir/<name>.toml` when a directory is given, else from the
    /// specs embedded in the binary.
    pub fn load(name: &str, dir: Option<&Path>) -> Result<Self> {
        if let Some(dir) = dir {
            return Self::from_path(&dir.join(format!("{name}.toml")));
        }
        let (_, text) = EMBEDDED_MODELS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::UnknownModel(name.to_owned()))?;
        Self::from_toml(text, &format!("models/{name}.toml (embedded)"))
    }
}

/// toml's errors span several lines with a source excerpt; the CLI prints one line.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('|')
                && !l.chars().all(|c| c == '^')
                && !l
                    .split_once(" |")
                    .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_parse() {
        let p = PipelineConfig::demo();
        assert_eq!(p.name, "demo");
        assert!(p.sources.contains_key("orders"));
        for (name, _) in EMBEDDED_MODELS {
            let spec = ModelSpec::load(name, None).expect("embedded spec parses");
            assert_eq!(&spec.name, name);
        }
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let text = DEMO_PIPELINE.replace("name = \"demo\"", "name = \"demo\"\nwarehose = \"x\"");
        let err = PipelineConfig::from_toml(&text, "p.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("warehose"), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }

    const MINIMAL: &str = "name = \"m\"\nwarehouse = \"w\"\n[models]\nchurn = \"churn\"\nrepeat_purchase = \"repeat_purchase\"\n";

    fn with(extra: &str) -> Result<PipelineConfig> {
        PipelineConfig::from_toml(&format!("{MINIMAL}{extra}"), "p.toml")
    }

    #[test]
    fn env_references_expand_and_an_unset_one_is_named() {
        // SAFETY: tests in this crate do not read this variable concurrently.
        unsafe { std::env::set_var("RETAIN_CONFIG_TEST_BUCKET", "shop-exports") };
        let p = with("[sources.orders]\npath = \"s3://${RETAIN_CONFIG_TEST_BUCKET}/orders/*.csv.gz\"\n[storage.options]\naws_region = \"${RETAIN_CONFIG_TEST_BUCKET}\"\n").unwrap();
        assert_eq!(
            p.sources["orders"].path,
            "s3://shop-exports/orders/*.csv.gz"
        );
        assert_eq!(p.sources["orders"].format(), Ok(Format::Csv));
        assert_eq!(p.storage.options["aws_region"], "shop-exports");
        let err = with("[sources.orders]\npath = \"${RETAIN_CONFIG_TEST_UNSET}/o.csv\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`RETAIN_CONFIG_TEST_UNSET` is not set"),
            "{err}"
        );
        assert_eq!(expand_env("a$$b").unwrap(), "a$b");
    }

    #[test]
    fn secrets_and_unknown_formats_are_refused() {
        let err = with("[sources.orders]\npath = \"o.csv\"\n[storage.options]\naws_secret_access_key = \"abc\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds a secret"), "{err}");
        assert!(!err.contains("abc\""), "{err}");
        let err = with("[sources.orders]\npath = \"orders.xlsx\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot tell the format"), "{err}");
        let p = with("[sources.orders]\npath = \"exports/\"\nformat = \"parquet\"\n[storage]\nretry-timeout = \"2m\"\n").unwrap();
        assert_eq!(
            p.storage.retry_timeout.0,
            std::time::Duration::from_secs(120)
        );
        assert_eq!(p.quality.max_quarantine_ratio, 0.05);
        let err = with("[sources.orders]\npath = \"o.csv\"\n[storage]\ntimeout = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a duration"), "{err}");
    }

    #[test]
    fn orders_source_is_required() {
        let text = DEMO_PIPELINE.replace("[sources.orders]", "[sources.orderz]");
        let err = PipelineConfig::from_toml(&text, "p.toml").unwrap_err();
        assert!(err.to_string().contains("orderz"), "{err}");
    }

    #[test]
    fn parameters_default_and_can_be_overridden() {
        let minimal = "name = \"m\"\nwarehouse = \"w\"\n[sources.orders]\npath = \"o.csv\"\nformat = \"csv\"\n[models]\nchurn = \"churn\"\nrepeat_purchase = \"repeat_purchase\"\n[features.params]\nlapsed_after_days = 90\n";
        let p = PipelineConfig::from_toml(minimal, "m.toml").unwrap();
        let f = p.feature_params();
        assert_eq!(f["lapsed_after_days"], toml::Value::Integer(90));
        assert_eq!(f["ambassador_min_promotions"], toml::Value::Integer(2));
        // The demo file spells out the defaults: keep the two in step.
        let demo = PipelineConfig::demo();
        assert_eq!(
            demo.feature_params(),
            with_defaults(DEFAULT_FEATURE_PARAMS, &BTreeMap::new())
        );
    }

    #[test]
    fn byte_sizes() {
        assert_eq!("512MiB".parse::<ByteSize>(), Ok(ByteSize(512 << 20)));
        assert_eq!("2GiB".parse::<ByteSize>(), Ok(ByteSize(2 << 30)));
        assert_eq!("1000".parse::<ByteSize>(), Ok(ByteSize(1000)));
        assert!("12 parsecs".parse::<ByteSize>().is_err());
    }

    #[test]
    fn every_shipped_spec_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let spec = ModelSpec::from_path(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!spec.text.is_empty());
                n += 1;
            }
        }
        assert!(n >= 5, "{n} specs");
    }

    #[test]
    fn every_shipped_policy_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/policies");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Policy::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 1, "{n} policies");
    }

    #[test]
    fn model_spec_errors_name_the_line() {
        let churn = EMBEDDED_MODELS[0].1;
        let line_of_kind = churn.lines().position(|l| l.starts_with("kind =")).unwrap() + 1;
        // A typo: toml names the line.
        let text = churn.replace("kind = \"logistic\"", "kind = \"logistic\"\nalpah = 2.0");
        let err = ModelSpec::from_toml(&text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("alpah"), "{err}");
        assert!(err.contains(&format!("line {}", line_of_kind + 1)), "{err}");
        assert!(!err.contains('\n'), "{err}");
        // A real key of another algorithm: our check names the line too.
        let text = churn.replace(
            "kind = \"logistic\"",
            "kind = \"logistic\"\nlearning-rate = 0.1",
        );
        let err = ModelSpec::from_toml(&text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "line {}: [algorithm] `learning-rate` does not apply to kind \"logistic\"",
                line_of_kind + 1
            )),
            "{err}"
        );
        let text = churn.replace("kind = \"logistic\"", "kind = \"gbdt\"\nsubsample = 1.5");
        let text = text
            .replace("alpha = 1.0\n", "")
            .replace("max-iterations = 200\n", "");
        let err = ModelSpec::from_toml(&text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("subsample must be in (0, 1]"), "{err}");
        let err = ModelSpec::from_toml(
            &churn.replace("kind = \"logistic\"", "kind = \"svm\""),
            "m.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("svm") && err.contains("gbdt"), "{err}");
    }

    #[test]
    fn model_spec_features_all_and_calibration() {
        let text = "name = \"m\"\nlabel-sql = \"labels/churn.sql\"\nhorizon-days = 90\ntraining-snapshots = 2\nsnapshot-spacing-days = 30\nfeatures = \"all\"\nexclude = [\"p_alive\"]\n[algorithm]\nkind = \"random-forest\"\ntrees = 5\n[calibration]\nmethod = \"platt\"\n";
        let spec = ModelSpec::from_toml(text, "m.toml").unwrap();
        assert_eq!(spec.features, FeatureSelection::All("all".into()));
        assert_eq!(spec.exclude, vec!["p_alive".to_owned()]);
        assert_eq!(spec.algorithm.kind, AlgorithmKind::RandomForest);
        assert_eq!(spec.calibration.method, CalibrationMethod::Platt);
        assert_eq!(spec.calibration.holdout_share, 0.2);
        let text = text.replace("method = \"platt\"", "method = \"isotonic\"");
        let spec = ModelSpec::from_toml(&text, "m.toml").unwrap();
        assert_eq!(spec.calibration.method, CalibrationMethod::Isotonic);
        assert_eq!(spec.seed, 42);
        assert_eq!(spec.text, text);
        let err = ModelSpec::from_toml(&text.replace("\"all\"", "\"everything\""), "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 6: features must be a list"), "{err}");
        let err = ModelSpec::from_toml(&format!("{text}holdout-share = 0\n"), "m.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 13: [calibration] holdout-share 0"),
            "{err}"
        );
    }

    #[test]
    fn bad_model_spec_values() {
        let text = EMBEDDED_MODELS[0]
            .1
            .replace("horizon-days = 90", "horizon-days = 0");
        let err = ModelSpec::from_toml(&text, "m.toml").unwrap_err();
        assert!(err.to_string().contains("horizon-days"), "{err}");
        assert!(matches!(
            ModelSpec::load("nope", None),
            Err(Error::UnknownModel(_))
        ));
    }
}
