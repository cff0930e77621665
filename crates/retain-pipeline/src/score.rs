//! The score job: the champion models score every customer's features as of a date, batch
//! by batch, into `scores/customer_risk/as_of=D/`, with risk tiers, value at risk, top
//! reasons and drift against each champion's training data (retain-score does the
//! arithmetic; this module streams the partition through it and publishes).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use futures::StreamExt;
use retain_config::ModelSpec;
use retain_model::ModelArtifact;
use retain_score::DriftRow;
use retain_store::{InputEntry, Manifest, PublishMeta};

use crate::runs::{DriftRecord, ModelRecord};
use crate::{Ctx, Result, df_err, registry, train};

pub(crate) type Counts = (
    BTreeMap<String, u64>,
    BTreeMap<String, u64>,
    BTreeMap<String, u64>,
);

/// Count the values of a string column.
fn count_values(counts: &mut BTreeMap<String, u64>, batch: &RecordBatch, column: &str) {
    if let Some(col) = batch
        .column_by_name(column)
        .and_then(|c| c.as_string_opt::<i32>())
    {
        for v in col.iter().flatten() {
            *counts.entry(v.to_owned()).or_default() += 1;
        }
    }
}

/// Columns scoring adds to the features: the churn / repeat-purchase champion's
/// `population` filter (its label SQL's population is a set of ids beside).
const POPULATION_FLAGS: [&str; 2] = ["__churn_population", "__repeat_population"];

/// Per row of a feature batch: is the customer in model `m`'s population at D (its spec's
/// `population` filter, flagged in [`POPULATION_FLAGS`], and its label SQL's population,
/// the ids in `populations[m]`)?
fn in_population(
    b: &RecordBatch,
    m: usize,
    populations: &[std::collections::HashSet<String>],
) -> Vec<bool> {
    let ids = b
        .column_by_name("customer_id")
        .and_then(|c| c.as_string_opt::<i32>());
    let filter = b
        .column_by_name(POPULATION_FLAGS[m])
        .and_then(|c| c.as_boolean_opt());
    match (ids, filter) {
        (Some(ids), Some(filter)) => (0..b.num_rows())
            .map(|i| {
                filter.is_valid(i)
                    && filter.value(i)
                    && ids.is_valid(i)
                    && populations[m].contains(ids.value(i))
            })
            .collect(),
        _ => vec![false; b.num_rows()],
    }
}

/// What the scoring stage published and saw.
pub(crate) struct Scored {
    pub manifest: Manifest,
    pub counts: Counts,
    /// The inputs that drifted.
    pub drift: Vec<DriftRow>,
    /// Every input against its training data, for the run record.
    pub drift_record: DriftRecord,
    /// The champions it scored with, with their metrics.
    pub models: Vec<ModelRecord>,
}

/// Score the features as of `as_of` (partition `partition`) with `churn` and `repeat`,
/// and publish `scores/customer_risk/<partition>`.
pub(crate) async fn score(
    ctx: &Ctx,
    as_of: NaiveDate,
    partition: &str,
    churn: &ModelArtifact,
    repeat: &ModelArtifact,
    clv_version: Option<String>,
) -> Result<Scored> {
    let started = Instant::now();
    let (fm, df) = ctx.read_published("features/customer", partition).await?;
    let available: Vec<String> = fm.schema.iter().map(|c| c.name.clone()).collect();
    churn.check_features(&available)?;
    repeat.check_features(&available)?;
    // Each champion's training population at D (its own spec, from the registry), so
    // drift compares like with like.
    let mut df = df;
    let mut populations = Vec::new();
    for (model, flag) in [(churn, POPULATION_FLAGS[0]), (repeat, POPULATION_FLAGS[1])] {
        let text =
            registry::read_verified(&ctx.wh, &model.name, &model.version, "spec.toml").await?;
        let spec = ModelSpec::from_toml(
            &String::from_utf8_lossy(&text),
            &format!("models/{}/{}/spec.toml", model.name, model.version),
        )?;
        let (ids, with_flag) = train::population(ctx, &spec, as_of, df, flag).await?;
        populations.push(ids);
        df = with_flag;
    }
    let score_cfg = ctx.settings.pipeline.score.clone();
    // Risk tiers: fixed thresholds, or the thresholds that cut the configured shares of
    // this date's scored customers (a first pass over the features, in constant memory).
    let (high_risk, medium_risk) = match score_cfg.tiers {
        retain_config::TierMethod::Thresholds => (score_cfg.high_risk, score_cfg.medium_risk),
        retain_config::TierMethod::Quantiles => {
            // Over the churn model's population only: the customers that get a tier.
            let mut hist = retain_score::ProbabilityHistogram::default();
            let mut stream = df
                .clone()
                .execute_stream()
                .await
                .map_err(df_err("reading features for the risk quantiles"))?;
            while let Some(b) = stream.next().await {
                let b = b.map_err(df_err("reading features for the risk quantiles"))?;
                let in_churn = in_population(&b, 0, &populations);
                for p in retain_score::churn_probabilities(&b, churn, &in_churn)? {
                    hist.add(p);
                }
            }
            let high = hist.top_threshold(score_cfg.high_share);
            let medium = hist.top_threshold(score_cfg.high_share + score_cfg.medium_share);
            tracing::info!(high, medium, "risk tier thresholds from the quantiles");
            (high, medium.min(high))
        }
    };
    let opts = retain_score::ScoreOptions {
        high_risk,
        medium_risk,
        top_reasons: score_cfg.top_reasons,
        run_id: ctx.run_id().to_owned(),
        clv_version: clv_version.clone(),
    };
    let thresholds = retain_score::DriftThresholds {
        shift: score_cfg.drift_shift,
        null_share: score_cfg.drift_null_share,
    };
    let stream = df
        .execute_stream()
        .await
        .map_err(df_err("reading features for scoring"))?;
    let mut counts: Counts = Default::default();
    let mut drift = retain_score::Drift::new(&[churn.features().len(), repeat.features().len()]);
    // Batch by batch: memory does not grow with the number of customers.
    let scored = stream.map(|b| {
        let b = b.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
        let (mc, mr) = (
            in_population(&b, 0, &populations),
            in_population(&b, 1, &populations),
        );
        let out = retain_score::score_batch(&b, churn, repeat, &opts, [&mc, &mr], Some(&mut drift))
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
        count_values(&mut counts.0, &out, "lifecycle_stage");
        count_values(&mut counts.1, &out, "shopper_type");
        count_values(&mut counts.2, &out, "risk_tier");
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(out)
    });
    let mut props = serde_json::Map::new();
    props.insert(
        "models".into(),
        serde_json::json!({
            churn.name.clone(): churn.version,
            repeat.name.clone(): repeat.version,
            "clv": clv_version,
        }),
    );
    props.insert(
        "risk_tiers".into(),
        serde_json::json!({
            "method": match score_cfg.tiers {
                retain_config::TierMethod::Thresholds => "thresholds",
                retain_config::TierMethod::Quantiles => "quantiles",
            },
            "high_threshold": high_risk,
            "medium_threshold": medium_risk,
        }),
    );
    props.insert(
        "contribution_unit".into(),
        churn
            .estimator
            .contributions(&vec![f64::NAN; churn.features().len()])
            .unit
            .into(),
    );
    let meta = PublishMeta {
        inputs: vec![InputEntry {
            location: ctx.partition_url("features/customer", partition),
            bytes: None,
            version: Some(fm.run_id.clone()),
            table_version: fm.table_version,
        }],
        properties: props,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    let schema = retain_score::customer_risk_schema();
    let mut pending = ctx
        .wh
        .write("scores/customer_risk", partition, schema, scored, meta)
        .await?;
    // Drift against each champion's training data, known once every row is scored.
    let mut rows = drift.compare(0, &churn.name, &churn.feature_stats, thresholds);
    rows.extend(drift.compare(1, &repeat.name, &repeat.feature_stats, thresholds));
    let drift_record = DriftRecord::new(thresholds, &rows);
    let drifted: Vec<DriftRow> = rows.into_iter().filter(|r| r.drifted).collect();
    for r in &drifted {
        tracing::warn!(
            model = %r.model,
            feature = %r.feature,
            training_mean = r.training_mean,
            scoring_mean = ?r.scoring_mean,
            shift_in_sd = ?r.shift,
            training_null_share = r.training_null_share,
            scoring_null_share = r.scoring_null_share,
            "feature drift against the champion's training data"
        );
    }
    pending.manifest.properties.insert(
        "drift".into(),
        serde_json::json!({
            "thresholds": { "shift": thresholds.shift, "null_share": thresholds.null_share },
            "drifted": serde_json::to_value(&drifted).unwrap_or_default(),
        }),
    );
    let m = ctx.wh.commit(pending).await?;
    let mut models = Vec::new();
    for model in [churn, repeat] {
        models.push(ModelRecord::scored(ctx, model).await);
    }
    Ok(Scored {
        manifest: m,
        counts,
        drift: drifted,
        drift_record,
        models,
    })
}
