//! Publishing a spec's training set and registering the trained version with its
//! promotion rule.

use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::array::{RecordBatch, StringArray};

use retain_config::ModelSpec;
use retain_model::delong;
use retain_store::{Manifest, PublishMeta};

use crate::error::RegistryError;
use crate::records::training::{ModelReport, SnapshotStats, Trained};
use crate::registry::ChampionAt;
use crate::{Ctx, Error, Result, registry};

use super::*;

#[allow(clippy::too_many_arguments)]
pub(super) async fn publish_training_set(
    ctx: &mut Ctx,
    as_of: NaiveDate,
    spec: &ModelSpec,
    train: &Split,
    validation: &Split,
    holdout: &[bool],
    train_dates: &[NaiveDate],
    validation_date: NaiveDate,
    stats: &[SnapshotStats],
    started: Instant,
) -> Result<Option<Manifest>> {
    // The calibration rows are marked `calibration` in the `split` column.
    let mut all = Vec::with_capacity(train.batches.len() + validation.batches.len());
    let mut offset = 0;
    for b in &train.batches {
        let n = b.num_rows();
        let split: StringArray = (0..n)
            .map(|i| {
                Some(if holdout[offset + i] {
                    "calibration"
                } else {
                    "train"
                })
            })
            .collect();
        offset += n;
        let idx = b
            .schema()
            .index_of("split")
            .map_err(|source| Error::Arrow {
                context: "train: training set".into(),
                source,
            })?;
        let mut cols = b.columns().to_vec();
        cols[idx] = std::sync::Arc::new(split);
        all.push(
            RecordBatch::try_new(b.schema(), cols).map_err(|source| Error::Arrow {
                context: "train: training set".into(),
                source,
            })?,
        );
    }
    all.extend(validation.batches.iter().cloned());
    let Some(first) = all.first() else {
        return Ok(None);
    };
    let schema = first.schema();
    let mut props = serde_json::Map::new();
    props.insert(
        "snapshots".into(),
        serde_json::json!(
            train_dates
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        ),
    );
    props.insert(
        "validation_snapshot".into(),
        validation_date.to_string().into(),
    );
    props.insert("label_sql".into(), spec.label_sql.clone().into());
    props.insert("spec".into(), spec.origin.clone().into());
    props.insert("horizon_days".into(), spec.horizon_days.into());
    props.insert("per_snapshot".into(), serde_json::json!(stats));
    let m = ctx
        .wh
        .publish(
            &format!("training/{}", spec_id(spec)),
            // Keyed `run_as_of`, not `as_of`: the rows carry their snapshot date in an
            // `as_of` column, which hive-partitioned readers (DuckDB, pyarrow, polars,
            // Spark) would overwrite with the folder's value.
            &format!("run_as_of={as_of}"),
            schema,
            futures::stream::iter(all.into_iter().map(Ok::<_, std::io::Error>)),
            PublishMeta {
                inputs: vec![],
                properties: props,
                elapsed_ms: started.elapsed().as_millis() as u64,
            },
        )
        .await?;
    Ok(Some(m))
}

/// Write the version's files, register it, and apply the promotion rule.
pub(super) async fn register(
    ctx: &mut Ctx,
    as_of: NaiveDate,
    spec: &ModelSpec,
    t: &Trained,
    validation: &Split,
    promote: Promote,
) -> Result<ModelReport> {
    let a = &t.artifact;
    let name = &spec.name;
    let version = &a.version;
    let what = |file: &str| format!("models/{name}/{version}/{file}");
    let importance: Vec<serde_json::Value> = a
        .features()
        .iter()
        .zip(a.estimator.importance())
        .zip(&a.feature_stats)
        .map(|((f, imp), s)| serde_json::json!({"name": f, "importance": imp, "training": s}))
        .collect();
    let html = crate::reports::model::html(t).map_err(|source| Error::Render {
        stage: "train",
        what: format!("the report of {name} {version}"),
        source,
    })?;
    let files = vec![
        ("model.json", registry::json_bytes(a, &what("model.json"))?),
        (
            "metrics.json",
            registry::json_bytes(&t.metrics, &what("metrics.json"))?,
        ),
        (
            "features.json",
            registry::json_bytes(&importance, &what("features.json"))?,
        ),
        ("spec.toml", spec.text.clone().into_bytes()),
        ("report.html", html.into_bytes()),
    ];
    let v = &t.metrics.validation;
    let summary = serde_json::json!({
        "algorithm": a.estimator.kind(),
        "spec": spec.origin,
        "validation_snapshot": t.metrics.validation_snapshot,
        "roc_auc": v.roc_auc,
        "pr_auc": v.pr_auc,
        "log_loss": v.log_loss,
        "ece": v.ece,
        "baseline_roc_auc": t.metrics.baseline.as_ref().and_then(|b| b.validation.roc_auc),
        "fit_rows": a.training.fit_rows,
        "fit_seconds": t.fit_seconds,
    });
    registry::register(&ctx.wh, name, version, as_of, files, summary).await?;
    let location = ctx
        .wh
        .root
        .url_of(&ctx.wh.root.child(&format!("models/{name}/{version}")));

    let current = registry::champion(&ctx.wh, name).await?;
    let (champion, promotion) = match (promote, &current) {
        (Promote::Always, _) => {
            registry::promote(&ctx.wh, name, version, "promoted on registration").await?;
            (Some(version.clone()), "promoted to champion".to_owned())
        }
        (Promote::IfBetter, None) => {
            registry::promote(&ctx.wh, name, version, "first version").await?;
            (
                Some(version.clone()),
                "champion (the model's first)".to_owned(),
            )
        }
        (Promote::Never, None) => (
            None,
            format!("not promoted; `retain models promote {name} {version}` makes it the champion"),
        ),
        (Promote::Never, Some(c)) => (
            Some(c.version.clone()),
            format!("not promoted; champion stays {}", c.version),
        ),
        (Promote::IfBetter, Some(_)) => {
            if_better(ctx, spec, name, version, as_of, a, t, validation).await?
        }
    };
    tracing::info!(model = %name, version = %version, algorithm = a.estimator.kind(), validation_auc = v.roc_auc, ece = v.ece, %promotion, "model registered");
    let report = ModelReport {
        name: name.clone(),
        spec: spec.origin.clone(),
        version: version.clone(),
        algorithm: a.estimator.kind().into(),
        training_snapshots: a.training.training_snapshots.len(),
        validation_snapshot: t.metrics.validation_snapshot,
        training_rows: a.training.fit_rows,
        calibration_rows: a.training.calibration_rows,
        validation_rows: v.rows,
        train_auc: t.metrics.train.roc_auc,
        validation_auc: v.roc_auc,
        validation_base_rate: v.base_rate,
        validation: v.clone(),
        uncalibrated: t.metrics.validation_uncalibrated.clone(),
        baseline: t.metrics.baseline.as_ref().map(|b| b.validation.clone()),
        fit_seconds: t.fit_seconds,
        champion,
        promotion,
        location,
    };
    Ok(report)
}

/// `--promote-if-better` when the model has a champion. Neither model's training data
/// (snapshots plus label horizons) may reach the validation snapshot the two are
/// compared on, so the opponent depends on when today's champion was trained:
/// - as of this version's date A or earlier: the champion in force at A, re-scored on
///   this version's validation rows (artifact against artifact);
/// - after A (a backfill or a backtest): its training window covers A − H, so its spec
///   is refitted on this version's window (the same training snapshots and validation
///   snapshot) and the specs are compared.
///
/// The new version wins only when DeLong's 95% interval of the AUC difference lies
/// above 0 (a tie keeps the champion). A winner trained as of today's champion's date or
/// later becomes today's champion; an older winner is recorded as in force from A, and
/// so is a version with no champion in force at A (dates from A on need one to score).
#[allow(clippy::too_many_arguments)]
async fn if_better(
    ctx: &mut Ctx,
    spec: &ModelSpec,
    name: &str,
    version: &str,
    as_of: NaiveDate,
    a: &ModelArtifact,
    t: &Trained,
    validation: &Split,
) -> Result<(Option<String>, String)> {
    let (in_force, current) =
        match registry::champion_version_at(&ctx.wh, name, as_of, ChampionAt::InForce).await {
            Ok((in_force, current)) => (Some(in_force), current),
            Err(Error::Registry(RegistryError::NoChampionAsOf { .. })) => {
                let (_, current) =
                    registry::champion_version_at(&ctx.wh, name, as_of, ChampionAt::Latest).await?;
                (None, current)
            }
            Err(e) => return Err(e),
        };
    let comparison = if current.as_of <= as_of {
        let opponent = in_force.as_ref().unwrap_or(&current);
        compare_artifact(ctx, name, &opponent.version, a, t, validation).await?
    } else {
        compare_spec(ctx, spec, name, &current.version, as_of, t).await?
    };
    let (better, cmp) = match comparison {
        Comparison::Done { better, text } => (better, text),
        Comparison::NotComparable(why) => (false, why),
    };
    if in_force.is_none() {
        let why = format!("the first version trained by {as_of}; {cmp}");
        registry::record_in_force(&ctx.wh, name, version, &why).await?;
        return Ok((
            Some(current.version.clone()),
            format!(
                "in force from {as_of} ({why}); today's champion {} (trained as of {}) stays",
                current.version, current.as_of
            ),
        ));
    }
    if !better {
        return Ok((
            Some(current.version.clone()),
            format!(
                "not promoted ({cmp}: not better beyond noise); champion stays {}",
                current.version
            ),
        ));
    }
    if as_of >= current.as_of {
        registry::promote(&ctx.wh, name, version, &format!("better: {cmp}")).await?;
        Ok((
            Some(version.to_owned()),
            format!("promoted to champion ({cmp})"),
        ))
    } else {
        registry::record_in_force(&ctx.wh, name, version, &format!("better: {cmp}")).await?;
        Ok((
            Some(current.version.clone()),
            format!(
                "in force from {as_of} ({cmp}); today's champion {} (trained as of {}) stays",
                current.version, current.as_of
            ),
        ))
    }
}

/// The outcome of a champion/challenger comparison.
enum Comparison {
    /// Compared: whether the new version is better beyond noise, and the line saying so.
    Done { better: bool, text: String },
    /// Another label, horizon or population: not comparable (the champion stays).
    NotComparable(String),
}

/// The new version against a registered champion artifact, on the new version's
/// validation rows.
async fn compare_artifact(
    ctx: &Ctx,
    name: &str,
    opponent: &str,
    a: &ModelArtifact,
    t: &Trained,
    validation: &Split,
) -> Result<Comparison> {
    let champ = registry::load_artifact(&ctx.wh, name, opponent).await?;
    let label = |m: &ModelArtifact| {
        (
            m.training.label_sql.clone(),
            m.training.horizon_days,
            m.training.population.clone(),
        )
    };
    if label(&champ) != label(a) {
        return Ok(Comparison::NotComparable(format!(
            "champion {opponent} has another label or population, so the two are not comparable"
        )));
    }
    let x = champ.matrix(&validation.batches)?;
    let theirs = champ.predict_all(&x);
    delong_line(t, &theirs, &format!("champion {opponent}"))
}

/// The new version against today's champion's spec, refitted on the new version's
/// window (its `spec.toml` from the registry, hash-checked).
async fn compare_spec(
    ctx: &mut Ctx,
    spec: &ModelSpec,
    name: &str,
    champion: &str,
    as_of: NaiveDate,
    t: &Trained,
) -> Result<Comparison> {
    let file = format!("models/{name}/{champion}/spec.toml");
    let bytes = registry::read_verified(&ctx.wh, name, champion, "spec.toml").await?;
    let text = String::from_utf8_lossy(&bytes);
    let theirs = ModelSpec::from_toml(&text, &file)?;
    let label = |s: &ModelSpec| (s.label_sql.clone(), s.horizon_days, s.population.clone());
    if label(&theirs) != label(spec) {
        return Ok(Comparison::NotComparable(format!(
            "champion {champion}'s spec has another label or population, so the two are not comparable"
        )));
    }
    let (train_dates, validation_date) = snapshot_dates(spec, as_of);
    tracing::info!(model = %name, champion, %as_of, "today's champion was trained after this window: refitting its spec on it to compare");
    let (p, y) = refit_validation(ctx, &theirs, &train_dates, validation_date).await?;
    if y != t.y_val {
        return Ok(Comparison::NotComparable(format!(
            "champion {champion}'s spec selects other validation rows, so the two are not comparable"
        )));
    }
    delong_line(
        t,
        &p,
        &format!("champion {champion}'s spec refitted on this window"),
    )
}

/// DeLong's comparison of the new version's validation AUC with the opponent's
/// probabilities on the same rows, as one line.
fn delong_line(t: &Trained, theirs: &[f64], opponent: &str) -> Result<Comparison> {
    let auc = |m: Option<f64>| m.map_or_else(|| "n/a".to_owned(), |a| format!("{a:.4}"));
    let diff = delong::auc_difference(&t.p_val, theirs, &t.y_val)?;
    Ok(match diff {
        Some(d) => Comparison::Done {
            better: d.a_is_better(),
            text: format!(
                "validation AUC {} vs {opponent} {} on {}: difference {:+.4}, 95% interval {:+.4} to {:+.4} (DeLong)",
                auc(Some(d.auc_a)),
                auc(Some(d.auc_b)),
                t.metrics.validation_snapshot,
                d.difference,
                d.low,
                d.high
            ),
        },
        None => Comparison::Done {
            better: t.metrics.validation.roc_auc.is_some(),
            text: format!(
                "validation AUC {} vs {opponent} n/a on {}",
                auc(t.metrics.validation.roc_auc),
                t.metrics.validation_snapshot
            ),
        },
    })
}
