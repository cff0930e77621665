//! Registering the fit as a version of the model `clv`, and loading a registered one.

use chrono::NaiveDate;

use super::checks::p_alive_grid;
use super::model::round_cents;
use super::*;
use crate::{Ctx, Error, Result};

/// Store the models fitted as of `as_of` as the next version of `models/clv/`, with
/// their checks, and make it the champion.
pub(crate) async fn register(ctx: &mut Ctx, as_of: NaiveDate) -> Result<ClvReport> {
    let started = std::time::Instant::now();
    let (rows, model) = ctx.clv_fit(as_of).await?;
    let model = model?;
    let predictions = model
        .predict(&rows)
        .map_err(|source| ClvFitError::Predict { as_of, source })?;
    let clvs: Vec<f64> = predictions.iter().filter_map(|p| p.clv).collect();
    let (mean_clv_12m, total_clv_12m) = if clvs.is_empty() {
        (None, None)
    } else {
        let total: f64 = clvs.iter().sum();
        (
            Some(round_cents(total / clvs.len() as f64)),
            Some(round_cents(total)),
        )
    };
    let (checks, checks_error) = match ctx.clv_checks(as_of).await? {
        Ok(c) => (Some(c), None),
        Err(reason) => {
            tracing::warn!("CLV holdout checks skipped: {reason}");
            (None, Some(reason.to_string()))
        }
    };
    let metrics = ClvMetrics {
        as_of,
        bg_nbd_log_likelihood: model.bg_nbd.report.log_likelihood,
        gamma_gamma_log_likelihood: model.gamma_gamma.as_ref().map(|g| g.report.log_likelihood),
        frequency_spend_correlation: model
            .gamma_gamma
            .as_ref()
            .and_then(|g| g.frequency_spend_correlation),
        mean_clv_12m,
        total_clv_12m,
        p_alive: p_alive_grid(&model),
        checks,
        checks_error,
        run_id: ctx.run_id().to_owned(),
    };
    let version = crate::registry::next_version(&ctx.wh, "clv").await?;
    let dir = format!("models/clv/{version}");
    let html = crate::reports::clv::html(&version, &model, &metrics, &clvs).map_err(|source| {
        Error::Render {
            stage: "clv",
            what: format!("{dir}/report.html"),
            source,
        }
    })?;
    let files = vec![
        (
            "model.json",
            crate::registry::json_bytes(&model, &format!("{dir}/model.json"))?,
        ),
        (
            "metrics.json",
            crate::registry::json_bytes(&metrics, &format!("{dir}/metrics.json"))?,
        ),
        ("report.html", html.into_bytes()),
    ];
    let summary = serde_json::json!({
        "algorithm": "bg-nbd + gamma-gamma",
        "customers": model.summary.customers,
        "mean_clv_12m": metrics.mean_clv_12m,
    });
    crate::registry::register(&ctx.wh, "clv", &version, as_of, files, summary).await?;
    // The pointer is written last: a reader never sees a champion whose files are missing.
    crate::registry::promote(&ctx.wh, "clv", &version, "fitted by the run").await?;
    let location = ctx.wh.root.url_of(&ctx.wh.root.child(&dir));
    tracing::info!(
        version = %version,
        %location,
        customers = model.summary.customers,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "CLV models registered as champion"
    );
    Ok(ClvReport {
        version,
        location,
        model,
        metrics,
    })
}

/// A registered version of `models/clv/`: the champion when `version` is None.
pub(crate) async fn load(ctx: &Ctx, version: Option<&str>) -> Result<ClvReport> {
    let version = match version {
        Some(v) => v.to_owned(),
        None => {
            let pointer: serde_json::Value = ctx
                .wh
                .get_json("models/clv/champion")
                .await?
                .ok_or_else(|| ClvError::NoModel {
                    root: ctx.wh.root.url(),
                })?;
            pointer
                .get("version")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or(ClvError::NoChampionVersion)?
        }
    };
    let dir = format!("models/clv/{version}");
    let model: ClvModel = ctx
        .wh
        .get_json(&format!("{dir}/model.json"))
        .await?
        .ok_or_else(|| ClvError::NoVersion {
            version: version.clone(),
            dir: dir.clone(),
        })?;
    if model.format != CLV_MODEL_FORMAT {
        return Err(ClvError::Format {
            dir,
            found: model.format,
        }
        .into());
    }
    let metrics: ClvMetrics = ctx
        .wh
        .get_json(&format!("{dir}/metrics.json"))
        .await?
        .ok_or_else(|| ClvError::NoMetrics { dir: dir.clone() })?;
    Ok(ClvReport {
        location: ctx.wh.root.url_of(&ctx.wh.root.child(&dir)),
        version,
        model,
        metrics,
    })
}
