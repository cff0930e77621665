//! One pipeline file (`pipelines/*.toml`): [`PipelineConfig`], how it is read, checked
//! and given its `${ENV_VAR}` values, and the defaults of the feature parameters. Its
//! sections (`[engine]`, `[sources.<table>]`, …) are in `sections`, the stages of a run
//! in `stage`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

use crate::env::{expand_env, holds_secret};
use crate::error::{Error, Result, toml_message};
use crate::units::Duration;

mod sections;
mod stage;

pub use sections::{
    ClvConfig, Compression, EngineConfig, FeaturesConfig, Format, ModelsConfig, PolicyConfig,
    QualityConfig, ScoreConfig, SourceConfig, StorageConfig, TierMethod,
};
pub use stage::Stage;

/// The pipeline file shipped as `pipelines/demo.toml`, embedded.
pub const DEMO_PIPELINE: &str = include_str!("../../../pipelines/demo.toml");

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

fn default_lock_stale_after() -> Duration {
    Duration(std::time::Duration::from_secs(2 * 3600))
}

fn default_raw() -> String {
    "raw/".to_owned()
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
            message: toml_message(&e.to_string()),
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
        if !(7..=3_650).contains(&clv.holdout_days) {
            return Err(invalid(
                "[clv] holdout-days must be between 7 and 3650 (10 years)".into(),
            ));
        }
        // Measured (docs/reliability.md, finding 12): at 32 MiB a 3,000-customer shop
        // failed ("Resources exhausted": a hash aggregation could not get 394 KB, the
        // pool being held by the sorts' spill reservations); 48 MiB ran it, spilling.
        const MIN_MEMORY: u64 = 48 << 20;
        if self.engine.memory_limit.0 < MIN_MEMORY {
            return Err(invalid(format!(
                "[engine] memory-limit must be at least 48MiB, not {} bytes: below it DataFusion's sorts and aggregations cannot share the pool (\"Resources exhausted\") even with spilling",
                self.engine.memory_limit.0
            )));
        }
        if let Some(n) = self.engine.target_partitions
            && !(1..=1_024).contains(&n)
        {
            return Err(invalid(format!(
                "[engine] target-partitions must be between 1 and 1024, not {n} (DataFusion plans that many partitions per operator; leave it out for the number of cores)"
            )));
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
            if holds_secret(key) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_parse() {
        let p = PipelineConfig::demo();
        assert_eq!(p.name, "demo");
        assert!(p.sources.contains_key("orders"));
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

    /// The time rules' two day counts: defaults, and a value out of range named with its
    /// key's line (a day count past u16 would overflow date arithmetic).
    #[test]
    fn quality_day_counts_default_and_refuse_out_of_range_values() {
        let src = "[sources.orders]\npath = \"o.csv\"\n";
        let q = with(src).unwrap().quality;
        assert_eq!((q.future_days, q.as_of_tolerance_days), (1, 3));
        let q = with(&format!(
            "{src}[quality]\nfuture-days = 0\nas-of-tolerance-days = 30\n"
        ))
        .unwrap()
        .quality;
        assert_eq!((q.future_days, q.as_of_tolerance_days), (0, 30));
        for bad in ["as-of-tolerance-days = 70000", "future-days = -1"] {
            let err = with(&format!("[quality]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("p.toml") && err.contains("line 7") && err.contains("expected u16"),
                "{bad}: {err}"
            );
        }
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
}
