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
    /// Next-best-action policy parameters.
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

/// `[score]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ScoreConfig {
    /// churn_probability at or above this is risk tier `high`.
    #[serde(default = "default_high")]
    pub high_risk: f64,
    /// churn_probability at or above this (and below `high_risk`) is tier `medium`.
    #[serde(default = "default_medium")]
    pub medium_risk: f64,
    /// Number of reasons kept per customer.
    #[serde(default = "default_top_reasons")]
    pub top_reasons: usize,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        Self {
            high_risk: default_high(),
            medium_risk: default_medium(),
            top_reasons: default_top_reasons(),
        }
    }
}

fn default_high() -> f64 {
    0.7
}
fn default_medium() -> f64 {
    0.4
}
fn default_top_reasons() -> usize {
    3
}

/// `[policy]`: the next-best-action policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PolicyConfig {
    /// Policy SQL relative to the SQL directory; `actions/next_best_action.sql` when absent.
    #[serde(default)]
    pub sql: Option<String>,
    /// Parameters bound into the policy SQL.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
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

/// Parameters of `sql/actions/next_best_action.sql` when a pipeline does not set them.
const DEFAULT_POLICY_PARAMS: &str = r#"
high_risk = 0.7
medium_risk = 0.4
bad_csat = 2
welcome_window_days = 30
win_back_min_value = 150.0
exclusive_offer_min_value = 50.0
cross_sell_max_categories = 2
ambassador_min_value = 500.0
contact_cooldown_days = 14
valid_days = 14
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

    /// Policy SQL parameters: built-in defaults overlaid with `[policy.params]`.
    pub fn policy_params(&self) -> BTreeMap<String, toml::Value> {
        with_defaults(DEFAULT_POLICY_PARAMS, &self.policy.params)
    }

    /// Parse a pipeline from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let mut cfg: Self = toml::from_str(text).map_err(|e| Error::Parse {
            what: "pipeline file",
            path: origin.to_owned(),
            message: one_line(&e.to_string()),
        })?;
        cfg.validate(origin)?;
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
        Ok(())
    }
}

/// One `models/*.toml` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ModelSpec {
    /// Model name: the registry folder `models/<name>/`.
    pub name: String,
    /// Label SQL relative to the SQL directory.
    pub label_sql: String,
    /// Label horizon in days after the snapshot date.
    pub horizon_days: u32,
    /// Number of training snapshots before the out-of-time validation snapshot.
    pub training_snapshots: u32,
    /// Days between training snapshots.
    pub snapshot_spacing_days: u32,
    /// Feature columns the model uses, in order.
    pub features: Vec<String>,
    /// Parameters bound into the label SQL (besides `$as_of` and `$horizon_days`).
    #[serde(default)]
    pub label_params: BTreeMap<String, toml::Value>,
    /// The learning algorithm.
    pub algorithm: AlgorithmConfig,
}

/// `[algorithm]` of a model spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AlgorithmConfig {
    /// Only `logistic` (L2-regularised logistic regression on standardised features).
    pub kind: AlgorithmKind,
    /// L2 penalty.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Maximum optimiser iterations.
    #[serde(default = "default_max_iterations")]
    pub max_iterations: u64,
}

fn default_alpha() -> f64 {
    1.0
}
fn default_max_iterations() -> u64 {
    200
}

/// Supported learning algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlgorithmKind {
    Logistic,
}

impl ModelSpec {
    /// Parse a model spec from TOML text.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let spec: Self = toml::from_str(text).map_err(|e| Error::Parse {
            what: "model spec",
            path: origin.to_owned(),
            message: one_line(&e.to_string()),
        })?;
        let invalid = |message: &str| Error::Invalid {
            what: "model spec",
            path: origin.to_owned(),
            message: message.to_owned(),
        };
        if spec.horizon_days == 0 {
            return Err(invalid("horizon-days must be at least 1"));
        }
        if spec.training_snapshots == 0 || spec.snapshot_spacing_days == 0 {
            return Err(invalid(
                "training-snapshots and snapshot-spacing-days must be at least 1",
            ));
        }
        if spec.features.is_empty() {
            return Err(invalid("features must name at least one column"));
        }
        if spec.algorithm.alpha < 0.0 || !spec.algorithm.alpha.is_finite() {
            return Err(invalid("algorithm.alpha must be a finite number >= 0"));
        }
        Ok(spec)
    }

    /// Load spec `name` from `dir/<name>.toml` when a directory is given, else from the
    /// specs embedded in the binary.
    pub fn load(name: &str, dir: Option<&Path>) -> Result<Self> {
        if let Some(dir) = dir {
            let path = dir.join(format!("{name}.toml"));
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            return Self::from_toml(&text, &path.display().to_string());
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
        .filter(|l| !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^'))
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
        assert_eq!(p.policy_params()["valid_days"], toml::Value::Integer(14));
        // The demo file spells out the defaults: keep the two in step.
        let demo = PipelineConfig::demo();
        assert_eq!(
            demo.feature_params(),
            with_defaults(DEFAULT_FEATURE_PARAMS, &BTreeMap::new())
        );
        assert_eq!(
            demo.policy_params(),
            with_defaults(DEFAULT_POLICY_PARAMS, &BTreeMap::new())
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
