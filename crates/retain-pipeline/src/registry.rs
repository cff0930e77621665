//! The model registry: `models/<model>/<version>/` in the warehouse, with a champion
//! pointer per model.
//!
//! A version is a folder of files (`model.json`, `metrics.json`, `report.html`, …) and a
//! `manifest.json` listing each file's SHA-256 and size. Files are written with a
//! conditional create, so a version is never overwritten (two trainers racing for the
//! same number: the second fails cleanly); the manifest is written last, so a version
//! without one is incomplete and ignored. Readers verify the hash of what they load.
//! `models/<model>/champion` names the version scoring uses; it is replaced with one PUT.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use retain_model::ModelArtifact;
use retain_store::Warehouse;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Format of [`VersionManifest`].
pub const MANIFEST_FORMAT: &str = "retain.registry/1";
const MANIFEST: &str = "manifest.json";

/// One registered file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileDigest {
    pub sha256: String,
    pub bytes: u64,
}

/// `models/<model>/<version>/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionManifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    pub model: String,
    pub version: String,
    /// When the version was registered (UTC, RFC 3339).
    pub created_at: String,
    pub run_id: String,
    /// The run's as-of date.
    pub as_of: NaiveDate,
    /// Every file of the version but the manifest, by name.
    pub files: BTreeMap<String, FileDigest>,
    /// What `retain models list` shows: algorithm, validation snapshot, headline metrics.
    #[serde(default)]
    pub summary: serde_json::Value,
}

/// `models/<model>/champion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Champion {
    pub version: String,
    #[serde(default)]
    pub promoted_at: Option<String>,
    /// Why: `first version`, `better on …`, `promoted by hand`.
    #[serde(default)]
    pub reason: Option<String>,
    /// The champion it replaced.
    #[serde(default)]
    pub previous: Option<String>,
    /// Every promotion of this model, oldest first, this one last (pointers written
    /// before retain kept it start with the promotion they record).
    #[serde(default)]
    pub history: Vec<Promotion>,
}

/// One promotion of a model's champion pointer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    pub version: String,
    /// The as-of date of the run that trained the version: it knows nothing of later
    /// facts, and is in force for scoring as of this date and after.
    pub as_of: NaiveDate,
    #[serde(default)]
    pub promoted_at: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Which champion scores an as-of date D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChampionAt {
    /// The champion in force at D: the latest promoted version trained as of D or
    /// earlier, so a backfill scores each date with what was knowable then.
    #[default]
    InForce,
    /// Today's champion, whatever it was trained on (`--champion latest`).
    Latest,
}

/// The version that scores `model` as of `d`: with [`ChampionAt::InForce`] the latest
/// promotion whose version was trained as of `d` or earlier, else an error naming the
/// earliest date the history covers; with [`ChampionAt::Latest`] the current champion.
/// Also returns the current champion's version and training as-of date.
pub async fn champion_version_at(
    wh: &Warehouse,
    model: &str,
    d: NaiveDate,
    at: ChampionAt,
) -> Result<(Promotion, Promotion)> {
    let Some(c) = champion(wh, model).await? else {
        return Err(RegistryError::NoChampion {
            model: model.to_owned(),
            root: wh.root.url(),
        }
        .into());
    };
    let history = history(wh, model, &c).await?;
    let current = history
        .iter()
        .rev()
        .find(|p| p.version == c.version)
        .cloned()
        .ok_or_else(|| RegistryError::History {
            model: model.to_owned(),
            version: c.version.clone(),
        })?;
    let chosen = match at {
        ChampionAt::Latest => current.clone(),
        // The entry with the latest training as-of date not after `d`; of equal dates the
        // one recorded last.
        ChampionAt::InForce => history
            .iter()
            .enumerate()
            .filter(|(_, p)| p.as_of <= d)
            .max_by_key(|(i, p)| (p.as_of, *i))
            .map(|(_, p)| p.clone())
            .ok_or_else(|| RegistryError::NoChampionAsOf {
                model: model.to_owned(),
                as_of: d,
                earliest: history
                    .iter()
                    .map(|p| p.as_of)
                    .min()
                    .unwrap_or(current.as_of),
                current: current.version.clone(),
                current_as_of: current.as_of,
            })?,
    };
    Ok((chosen, current))
}

/// A registry document as pretty JSON ending in a newline; `what` names it in the error.
pub fn json_bytes(value: &impl Serialize, what: &str) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(serialise(what))?;
    bytes.push(b'\n');
    Ok(bytes)
}

pub use crate::error::RegistryError;

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hex SHA-256 of several parts, each ended by a NUL byte (so `("ab", "c")` and
/// `("a", "bc")` differ): the fingerprint of what a partition was computed from.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex(&h.finalize())
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn serialise(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> Error {
    let what = what.into();
    move |source| Error::Serialise {
        stage: "registry",
        what,
        source,
    }
}

/// The next free version `vNNNN` under `models/<model>/` (counting incomplete ones).
pub async fn next_version(wh: &Warehouse, model: &str) -> Result<String> {
    let max = versions_on_store(wh, model)
        .await?
        .into_iter()
        .filter_map(|v| v.strip_prefix('v').and_then(|n| n.parse::<u32>().ok()))
        .max()
        .unwrap_or(0);
    Ok(format!("v{:04}", max + 1))
}

/// Every `vNNNN` folder name under `models/<model>/`, complete or not.
async fn versions_on_store(wh: &Warehouse, model: &str) -> Result<Vec<String>> {
    let prefix = wh.root.child(&format!("models/{model}"));
    let mut out = Vec::new();
    for meta in wh.root.list(&prefix).await? {
        if let Some(rest) = meta.location.prefix_match(&prefix)
            && let Some(seg) = rest.into_iter().next()
            && seg.as_ref().starts_with('v')
            && !out.iter().any(|v: &String| v == seg.as_ref())
        {
            out.push(seg.as_ref().to_owned());
        }
    }
    Ok(out)
}

/// Register a version: write every file (never replacing one), then the manifest.
pub async fn register(
    wh: &Warehouse,
    model: &str,
    version: &str,
    as_of: NaiveDate,
    files: Vec<(&str, Vec<u8>)>,
    summary: serde_json::Value,
) -> Result<VersionManifest> {
    let dir = format!("models/{model}/{version}");
    let mut digests = BTreeMap::new();
    for (name, bytes) in files {
        digests.insert(
            name.to_owned(),
            FileDigest {
                sha256: sha256_hex(&bytes),
                bytes: bytes.len() as u64,
            },
        );
        let path = wh.root.child(&format!("{dir}/{name}"));
        if !wh.root.put_new(&path, bytes).await? {
            return Err(RegistryError::VersionTaken {
                path: wh.root.url_of(&path),
                model: model.to_owned(),
                version: version.to_owned(),
            }
            .into());
        }
    }
    let manifest = VersionManifest {
        format: MANIFEST_FORMAT.into(),
        model: model.to_owned(),
        version: version.to_owned(),
        created_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        run_id: wh.run_id.clone(),
        as_of,
        files: digests,
        summary,
    };
    let bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(serialise(format!("the manifest of {dir}")))?;
    let path = wh.root.child(&format!("{dir}/{MANIFEST}"));
    if !wh.root.put_new(&path, bytes).await? {
        return Err(RegistryError::ManifestTaken {
            path: wh.root.url_of(&path),
            model: model.to_owned(),
            version: version.to_owned(),
        }
        .into());
    }
    Ok(manifest)
}

/// The manifest of a registered version; an error naming the model's versions when it
/// is not registered.
pub async fn manifest(wh: &Warehouse, model: &str, version: &str) -> Result<VersionManifest> {
    let rel = format!("models/{model}/{version}/{MANIFEST}");
    match wh.get_json::<VersionManifest>(&rel).await? {
        Some(m) => Ok(m),
        None => {
            let known: Vec<String> = versions(wh, model)
                .await?
                .into_iter()
                .map(|m| m.version)
                .collect();
            Err(if known.is_empty() {
                RegistryError::NoVersions {
                    model: model.to_owned(),
                    root: wh.root.url(),
                }
            } else {
                RegistryError::NoSuchVersion {
                    model: model.to_owned(),
                    version: version.to_owned(),
                    registered: known,
                }
            }
            .into())
        }
    }
}

/// A registered file, checked against the SHA-256 in the version's manifest.
pub async fn read_verified(
    wh: &Warehouse,
    model: &str,
    version: &str,
    file: &str,
) -> Result<Vec<u8>> {
    let m = manifest(wh, model, version).await?;
    let digest = m
        .files
        .get(file)
        .ok_or_else(|| RegistryError::NotInManifest {
            model: model.to_owned(),
            version: version.to_owned(),
            file: file.to_owned(),
        })?;
    let path = wh.root.child(&format!("models/{model}/{version}/{file}"));
    let bytes = wh.root.get(&path).await?;
    let actual = sha256_hex(&bytes);
    if actual != digest.sha256 {
        return Err(RegistryError::Tampered {
            path: wh.root.url_of(&path),
            actual,
            recorded: digest.sha256.clone(),
        }
        .into());
    }
    Ok(bytes)
}

/// A registered classifier artifact, hash-verified.
pub async fn load_artifact(wh: &Warehouse, model: &str, version: &str) -> Result<ModelArtifact> {
    let bytes = read_verified(wh, model, version, "model.json").await?;
    serde_json::from_slice(&bytes).map_err(|source| {
        RegistryError::Unreadable {
            path: format!("models/{model}/{version}/model.json"),
            expected: "a model artifact this retain reads",
            source,
        }
        .into()
    })
}

/// The champion pointer of a model, if any.
pub async fn champion(wh: &Warehouse, model: &str) -> Result<Option<Champion>> {
    Ok(wh.get_json(&format!("models/{model}/champion")).await?)
}

/// Point the champion at `version` after verifying every file of it. The pointer is
/// swapped with a conditional write against the one read, so two concurrent promotions
/// cannot both win silently: the loser gets an error naming the new champion. The
/// promotion is appended to the pointer's `history`.
pub async fn promote(wh: &Warehouse, model: &str, version: &str, reason: &str) -> Result<Champion> {
    update_pointer(wh, model, version, reason, true).await
}

/// Record that `version` is in force for scoring from its training as-of date on,
/// without moving today's champion: a version trained as of a date before the current
/// champion's (a backfill, a backtest) that beat the champion in force at its own date.
/// With no champion yet, it becomes the champion.
pub async fn record_in_force(
    wh: &Warehouse,
    model: &str,
    version: &str,
    reason: &str,
) -> Result<Champion> {
    update_pointer(wh, model, version, reason, false).await
}

/// A pointer's promotions, oldest first: its `history`, or for a pointer written before
/// retain kept one, the promotion it records.
async fn history(wh: &Warehouse, model: &str, c: &Champion) -> Result<Vec<Promotion>> {
    if !c.history.is_empty() {
        return Ok(c.history.clone());
    }
    Ok(vec![Promotion {
        as_of: manifest(wh, model, &c.version).await?.as_of,
        version: c.version.clone(),
        promoted_at: c.promoted_at.clone(),
        reason: c.reason.clone(),
    }])
}

async fn update_pointer(
    wh: &Warehouse,
    model: &str,
    version: &str,
    reason: &str,
    move_pointer: bool,
) -> Result<Champion> {
    let m = manifest(wh, model, version).await?;
    for file in m.files.keys() {
        read_verified(wh, model, version, file).await?;
    }
    let path = wh.root.child(&format!("models/{model}/champion"));
    let current = wh.root.get_versioned(&path).await?;
    let (old, mut history, expected) = match current {
        Some((bytes, v)) => {
            let c: Champion =
                serde_json::from_slice(&bytes).map_err(|source| RegistryError::Unreadable {
                    path: wh.root.url_of(&path),
                    expected: "a champion pointer",
                    source,
                })?;
            let history = history(wh, model, &c).await?;
            (Some(c), history, Some(v))
        }
        None => (None, Vec::new(), None),
    };
    let promoted_at = Some(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    history.push(Promotion {
        version: version.to_owned(),
        as_of: m.as_of,
        promoted_at: promoted_at.clone(),
        reason: Some(reason.to_owned()),
    });
    let c = match old {
        Some(old) if !move_pointer => Champion { history, ..old },
        old => Champion {
            version: version.to_owned(),
            promoted_at,
            reason: Some(reason.to_owned()),
            previous: old.map(|c| c.version),
            history,
        },
    };
    let bytes = serde_json::to_vec_pretty(&c).map_err(serialise("the champion pointer"))?;
    // Not from a run whose write lock was taken over.
    wh.check_lock()?;
    if !wh.root.put_if_unchanged(&path, bytes, expected).await? {
        let now = champion(wh, model).await?.map(|c| c.version);
        return Err(RegistryError::PromotionRace {
            model: model.to_owned(),
            version: version.to_owned(),
            now,
        }
        .into());
    }
    if c.version == version {
        tracing::info!(model, version, reason, "champion promoted");
    } else {
        tracing::info!(model, version, as_of = %m.as_of, reason, champion = %c.version, "in force from its as-of date; today's champion unchanged");
    }
    Ok(c)
}

/// Complete versions of a model, oldest first.
pub async fn versions(wh: &Warehouse, model: &str) -> Result<Vec<VersionManifest>> {
    let mut out = Vec::new();
    let mut names = versions_on_store(wh, model).await?;
    names.sort();
    for v in names {
        if let Some(m) = wh
            .get_json::<VersionManifest>(&format!("models/{model}/{v}/{MANIFEST}"))
            .await?
        {
            out.push(m);
        }
    }
    Ok(out)
}

/// Every model with registered versions, by name.
pub async fn models(wh: &Warehouse) -> Result<Vec<String>> {
    let prefix = wh.root.child("models");
    let mut out: Vec<String> = Vec::new();
    for meta in wh.root.list(&prefix).await? {
        if let Some(rest) = meta.location.prefix_match(&prefix) {
            let parts: Vec<_> = rest.collect();
            if parts.len() == 3
                && parts[2].as_ref() == MANIFEST
                && !out.iter().any(|m| m == parts[0].as_ref())
            {
                out.push(parts[0].as_ref().to_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use retain_store::Location;

    use super::*;

    fn warehouse(dir: &std::path::Path) -> Warehouse {
        let loc = Location::parse(&dir.display().to_string()).unwrap();
        Warehouse::new(loc, "run-1")
    }

    #[tokio::test]
    async fn versions_are_immutable_hash_checked_and_promoted_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let wh = warehouse(dir.path());
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(next_version(&wh, "m").await.unwrap(), "v0001");
        let files = || {
            vec![
                ("model.json", b"{}".to_vec()),
                ("metrics.json", b"[]".to_vec()),
            ]
        };
        let m = register(&wh, "m", "v0001", day, files(), serde_json::json!({}))
            .await
            .unwrap();
        assert_eq!(
            m.files["model.json"].sha256,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(next_version(&wh, "m").await.unwrap(), "v0002");
        // Registering the same version again fails and changes nothing.
        let again = vec![("model.json", b"{\"x\":1}".to_vec())];
        let e = register(&wh, "m", "v0001", day, again, serde_json::json!({}))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("never overwritten"), "{e}");
        assert_eq!(
            std::fs::read(dir.path().join("models/m/v0001/model.json")).unwrap(),
            b"{}"
        );
        // No champion yet: the error says how to make one.
        let d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let e = champion_version_at(&wh, "m", d, ChampionAt::Latest)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("retain models promote m"), "{e}");
        let c = promote(&wh, "m", "v0001", "first version").await.unwrap();
        assert_eq!(c.previous, None);
        assert_eq!(champion(&wh, "m").await.unwrap().unwrap().version, "v0001");
        // An unknown version names the known ones.
        let e = promote(&wh, "m", "v0009", "x")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("registered: v0001"), "{e}");
        // A file changed after registration is refused on load and on promotion.
        std::fs::write(dir.path().join("models/m/v0001/metrics.json"), b"[1]").unwrap();
        let e = promote(&wh, "m", "v0001", "x")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("changed after it was registered"), "{e}");
        // A version folder without a manifest (an interrupted registration) is skipped
        // by listings but still takes its number.
        std::fs::create_dir_all(dir.path().join("models/m/v0002")).unwrap();
        std::fs::write(dir.path().join("models/m/v0002/model.json"), b"{}").unwrap();
        assert_eq!(versions(&wh, "m").await.unwrap().len(), 1);
        assert_eq!(next_version(&wh, "m").await.unwrap(), "v0003");
        assert_eq!(models(&wh).await.unwrap(), vec!["m".to_owned()]);
    }

    /// A compare-and-swap against a stale read loses and writes nothing (in-memory
    /// store here, which has conditional updates like S3; the S3 tests run the same
    /// path against SeaweedFS).
    #[tokio::test]
    async fn a_stale_champion_swap_loses() {
        let wh = Warehouse::new(Location::parse("memory:///wh").unwrap(), "run-1");
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        for v in ["v0001", "v0002"] {
            register(
                &wh,
                "m",
                v,
                day,
                vec![("model.json", b"{}".to_vec())],
                serde_json::json!({}),
            )
            .await
            .unwrap();
        }
        promote(&wh, "m", "v0001", "first").await.unwrap();
        let path = wh.root.child("models/m/champion");
        let (_, stale) = wh.root.get_versioned(&path).await.unwrap().unwrap();
        let c = promote(&wh, "m", "v0002", "better").await.unwrap();
        assert_eq!(c.previous.as_deref(), Some("v0001"));
        let swapped = wh
            .root
            .put_if_unchanged(&path, b"{\"version\": \"v0001\"}".to_vec(), Some(stale))
            .await
            .unwrap();
        assert!(!swapped, "a write based on a stale read must lose");
        assert_eq!(champion(&wh, "m").await.unwrap().unwrap().version, "v0002");
        // Creating a pointer that already exists loses too.
        assert!(
            !wh.root
                .put_if_unchanged(&path, b"{}".to_vec(), None)
                .await
                .unwrap()
        );
    }
}
