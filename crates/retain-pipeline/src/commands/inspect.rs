//! The registry commands: read a registered model or CLV version, list them, and move a
//! champion pointer. They run no stage; only the move takes the write lock.

use serde::Serialize;

use crate::error::Result;
use crate::kernel::Settings;
use crate::{clv, registry};

use super::reading;

/// A registered CLV model version (the champion when `version` is None).
pub async fn clv_show(settings: &Settings, version: Option<&str>) -> Result<clv::ClvReport> {
    // Read only: no ingest, and nothing another run may be writing is touched.
    let ctx = reading(settings).await?;
    clv::load(&ctx, version).await
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelVersions {
    pub model: String,
    pub champion: Option<registry::Champion>,
    pub versions: Vec<registry::VersionManifest>,
}

/// Every registered model with its versions (read only).
pub async fn models_list(settings: &Settings) -> Result<Vec<ModelVersions>> {
    let ctx = reading(settings).await?;
    let mut out = Vec::new();
    for model in registry::models(&ctx.wh).await? {
        out.push(ModelVersions {
            champion: registry::champion(&ctx.wh, &model).await?,
            versions: registry::versions(&ctx.wh, &model).await?,
            model,
        });
    }
    Ok(out)
}

/// One registered version, every file hash-verified, for `retain models show`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelVersion {
    pub manifest: registry::VersionManifest,
    pub champion: Option<registry::Champion>,
    /// `metrics.json`.
    pub metrics: serde_json::Value,
    /// Where the version's files (and report.html) are.
    pub location: String,
}

/// A registered version (the champion when `version` is None), read only.
pub async fn models_show(
    settings: &Settings,
    model: &str,
    version: Option<&str>,
) -> Result<ModelVersion> {
    let ctx = reading(settings).await?;
    let champion = registry::champion(&ctx.wh, model).await?;
    let version = match (version, &champion) {
        (Some(v), _) => v.to_owned(),
        (None, Some(c)) => c.version.clone(),
        (None, None) => {
            return Err(registry::RegistryError::NoChampionToShow {
                model: model.to_owned(),
            }
            .into());
        }
    };
    let manifest = registry::manifest(&ctx.wh, model, &version).await?;
    for file in manifest.files.keys() {
        registry::read_verified(&ctx.wh, model, &version, file).await?;
    }
    let metrics = registry::read_verified(&ctx.wh, model, &version, "metrics.json").await?;
    let metrics =
        serde_json::from_slice(&metrics).map_err(|source| registry::RegistryError::Unreadable {
            path: format!("models/{model}/{version}/metrics.json"),
            expected: "a metrics file this retain reads",
            source,
        })?;
    Ok(ModelVersion {
        location: ctx
            .wh
            .root
            .url_of(&ctx.wh.root.child(&format!("models/{model}/{version}"))),
        manifest,
        champion,
        metrics,
    })
}

/// Make `version` the champion of `model` (after verifying its files).
pub async fn models_promote(
    settings: &Settings,
    model: &str,
    version: &str,
) -> Result<registry::Champion> {
    // Under the write lock: a run in progress reads the champions it scores with.
    let ctx = reading(settings).await?;
    let info = retain_store::LockInfo::here(&ctx.wh.run_id, "models promote", None);
    ctx.wh
        .lock(&info, settings.pipeline.lock_stale_after.0)
        .await?;
    let promoted = registry::promote(&ctx.wh, model, version, "promoted by hand").await;
    if let Err(e) = ctx.wh.unlock().await {
        tracing::warn!(error = %e, "could not release the warehouse lock");
    }
    promoted
}
