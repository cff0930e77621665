//! `retain validate`: everything a run would refuse, found without running it. The
//! pipeline file, model specs and policy are parsed; every source URL is resolved and its
//! files' headers read; every SQL job is planned by DataFusion (staging per source,
//! features, CLV summary, labels, policy input and expressions), each against the
//! schemas the stage before it declares: the staged tables' contracts
//! (`contract::schema`), the feature SQL's own output and `customer_risk`'s published
//! schema. Nothing is executed, written or locked.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::DataFrame;
use retain_config::ModelSpec;
use serde::Serialize;

use crate::{Ctx, Result, Settings, actions, clv, contract, df_err, ingest, toml_params, train};

/// One thing checked, for the report: what, and what was found.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub what: String,
    pub detail: String,
}

/// What `retain validate` found: every check passed (an error ends it), plus warnings
/// (an optional source that cannot be read: a run would publish it empty).
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub pipeline: String,
    pub as_of: chrono::NaiveDate,
    pub checks: Vec<Check>,
    pub warnings: Vec<String>,
}

/// Plan a query without running it: the physical plan catches what the logical one
/// lets through (a function without a kernel for the types, an unsupported cast).
async fn physical(df: DataFrame, what: &str) -> Result<()> {
    df.create_physical_plan()
        .await
        .map(|_| ())
        .map_err(df_err(format!("planning {what}")))
}

/// Validate the settings' pipeline as of `as_of` (see the module docs).
pub async fn validate(settings: &Settings, as_of: chrono::NaiveDate) -> Result<Validation> {
    let pipeline = &settings.pipeline;
    let mut checks = Vec::new();
    let mut warnings = Vec::new();
    let mut check = |what: String, detail: String| {
        tracing::debug!(what, detail, "checked");
        checks.push(Check { what, detail });
    };
    check(
        "pipeline file".into(),
        format!(
            "`{}`, stages {}",
            pipeline.name,
            pipeline
                .stages
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let specs_dir = pipeline.models_dir.as_deref();
    let specs = [
        ModelSpec::load(&pipeline.models.churn, specs_dir)?,
        ModelSpec::load(&pipeline.models.repeat_purchase, specs_dir)?,
    ];
    for s in &specs {
        check(
            format!("model spec {}", s.name),
            format!("{} ({})", s.origin, s.algorithm.kind.as_str()),
        );
    }
    let policy = actions::load_policy(settings)?;
    check(
        "policy".into(),
        format!("{} ({} actions)", policy.origin, policy.actions.len()),
    );

    let mut ctx = Ctx::open(settings, "").await?;
    // The warehouse answers (a listing; nothing is written).
    ctx.wh.root.list(&ctx.wh.root.child("runs")).await?;
    check("warehouse".into(), ctx.wh.root.url());

    // Sources: resolved, their files listed and headers read, staging SQL planned and
    // checked against the contract. Then the staged table is registered with its
    // contract schema for the jobs after.
    let raw = ctx.wh.root.resolve(&pipeline.raw)?;
    let mut has_customers = false;
    for table in contract::TABLES {
        let Some(source) = pipeline.sources.get(table).cloned() else {
            ctx.register_empty(table)?;
            continue;
        };
        let opened = match ingest::open_source(&raw, table, &source).await {
            Ok(o) => o,
            Err(e) if source.optional => {
                warnings.push(format!(
                    "optional source `{table}` cannot be read (a run publishes it empty): {e}"
                ));
                ctx.register_empty(table)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let (df, file, _, _) =
            ingest::plan_staging(&ctx, table, &source, &opened, has_customers, None).await?;
        physical(df, &file.origin).await?;
        let schema = contract::required_schema(table)?;
        ctx.register_schema(table, schema)?;
        check(
            format!("source {table}"),
            format!(
                "{} ({} file{}), staged by {}",
                opened.url,
                opened.source.files().len(),
                if opened.source.files().len() == 1 {
                    ""
                } else {
                    "s"
                },
                file.origin
            ),
        );
        if table == "customers" {
            has_customers = true;
        }
    }

    // Features: the feature SQL (and the CLV summary it is joined with).
    let (df, file) = ctx.feature_query(as_of).await?;
    let feature_schema: SchemaRef = Arc::new(clv::with_clv_fields(df.schema().as_arrow()));
    physical(df, &file.origin).await?;
    check(
        "features".into(),
        format!(
            "{} ({} columns)",
            file.origin,
            feature_schema.fields().len()
        ),
    );
    if pipeline.clv.enabled {
        let (df, origin) = ctx.clv_summary_query(as_of).await?;
        physical(df, &origin).await?;
        check("clv summary".into(), origin);
    }
    ctx.register_schema("features", feature_schema.clone())?;

    // Models: their features are columns of the feature table, their population filter
    // is a boolean over it, their label SQL plans.
    for spec in &specs {
        let inputs = train::resolve_features(spec, &feature_schema)?;
        let features = ctx
            .df()
            .table("features")
            .await
            .map_err(df_err("reading features"))?;
        train::population_filter(spec, &features)?;
        let file = ctx.sql.load(&spec.label_sql)?;
        let params = toml_params(&spec.label_params, &file.origin)?;
        let labels = train::label_query(&ctx, spec, &file, &params, as_of).await?;
        physical(labels, &file.origin).await?;
        check(
            format!("model {}", spec.name),
            format!("{} inputs, labels by {}", inputs.len(), file.origin),
        );
    }

    // The policy: its input SQL and every expression, against customer_risk's schema.
    ctx.register_schema("customer_risk", retain_score::customer_risk_schema())?;
    let input = actions::plan(&ctx, as_of, &policy).await?;
    physical(input, &policy.origin).await?;
    check(
        "policy expressions".into(),
        format!(
            "{} eligibility and {} consent expressions",
            policy.actions.len(),
            policy.consent.len()
        ),
    );
    // The evaluation of actions: outcomes.sql over the decisions and the staged orders.
    ctx.register_schema("decisions", actions::next_best_action_schema())?;
    let (outcomes, origin) =
        actions::outcomes_query(&ctx, as_of, policy.evaluation.horizon_days).await?;
    physical(outcomes, &origin).await?;
    check("evaluate-actions".into(), origin);
    Ok(Validation {
        pipeline: pipeline.name.clone(),
        as_of,
        checks,
        warnings,
    })
}
