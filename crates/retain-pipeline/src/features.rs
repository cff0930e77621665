//! Point-in-time customer features: `sql/features/customer.sql` run as of a date.
//!
//! The SQL holds every definition (and the boundary rule, stated once at its top); this
//! module binds its parameters, including which sources the shop lacks, and publishes
//! `features/customer/as_of=D/`.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::common::ScalarValue;
use retain_config::PipelineConfig;
use retain_sql::Params;
use retain_store::PublishMeta;

use crate::{Ctx, Result, toml_params};

/// The feature job's SQL file when the pipeline does not name one.
pub const DEFAULT_FEATURE_SQL: &str = "features/customer.sql";

/// The sources whose absence the feature SQL is told about (`$has_<table>`).
const SOURCE_FLAGS: [&str; 4] = [
    "customers",
    "support_tickets",
    "engagement_events",
    "contacts",
];

/// Parameters of the feature SQL as of `date`: the pipeline's `[features.params]` over
/// the built-in defaults, and `$has_<source>` for every optional source.
pub(crate) fn feature_params(
    pipeline: &PipelineConfig,
    absent: &BTreeSet<String>,
    date: NaiveDate,
    origin: &str,
) -> Result<Params> {
    let mut params = Params::new()
        .with_date("as_of", date)
        .with_toml(&toml_params(&pipeline.feature_params(), origin)?);
    for table in SOURCE_FLAGS {
        params = params.with(
            &format!("has_{table}"),
            ScalarValue::Boolean(Some(!absent.contains(table))),
        );
    }
    Ok(params)
}

impl Ctx {
    /// Publish features as of `date` (once per run) and return the partition name.
    pub async fn features(&mut self, date: NaiveDate) -> Result<String> {
        let partition = format!("as_of={date}");
        if self.feature_dates.contains(&date) {
            return Ok(partition);
        }
        let started = Instant::now();
        let cfg = &self.settings.pipeline.features;
        let file = self
            .sql
            .load(cfg.sql.as_deref().unwrap_or(DEFAULT_FEATURE_SQL))?;
        let params = feature_params(&self.settings.pipeline, &self.absent, date, &file.origin)?;
        let df = self.engine.query(&file, &params).await?;
        let mut props = serde_json::Map::new();
        props.insert("sql".into(), file.origin.clone().into());
        props.insert(
            "absent_sources".into(),
            serde_json::json!(self.absent.iter().collect::<Vec<_>>()),
        );
        let meta = PublishMeta {
            inputs: vec![],
            properties: props,
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        let m = self
            .publish_df("features/customer", &partition, df, meta)
            .await?;
        tracing::info!(
            as_of = %date,
            rows = m.rows,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "features published"
        );
        self.feature_dates.push(date);
        Ok(partition)
    }
}
