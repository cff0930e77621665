//! What can be wrong in the model registry.

/// What can be wrong in the model registry. Each names the model, version or file.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No promoted version was trained as of the scoring date or earlier.
    #[error(
        "no champion of model `{model}` was in force on {as_of}: its promotions cover as-of dates from {earliest} (the current champion {current} was trained as of {current_as_of}); train as of {as_of} (`retain train --as-of {as_of} --promote-if-better`), or score with today's champion with `--champion latest`"
    )]
    NoChampionAsOf {
        model: String,
        as_of: chrono::NaiveDate,
        earliest: chrono::NaiveDate,
        current: String,
        current_as_of: chrono::NaiveDate,
    },
    /// The champion pointer's history does not end with the champion it names.
    #[error(
        "models/{model}/champion names {version}, but its history ends elsewhere: promote a version again to repair it"
    )]
    History { model: String, version: String },
    /// A registry file that exists but does not parse as what it should be.
    #[error("{path} is not {expected}: {source}")]
    Unreadable {
        path: String,
        expected: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{path} already exists: another run registered {model} {version} at the same time; versions are never overwritten, so train again"
    )]
    VersionTaken {
        path: String,
        model: String,
        version: String,
    },
    #[error("{path} already exists: {model} {version} was registered concurrently")]
    ManifestTaken {
        path: String,
        model: String,
        version: String,
    },
    #[error("model `{model}` has no registered versions in {root}")]
    NoVersions { model: String, root: String },
    #[error("model `{model}` has no version `{version}` (registered: {})", registered.join(", "))]
    NoSuchVersion {
        model: String,
        version: String,
        registered: Vec<String>,
    },
    #[error("models/{model}/{version} has no `{file}` in its manifest")]
    NotInManifest {
        model: String,
        version: String,
        file: String,
    },
    #[error(
        "{path} has SHA-256 {actual}, but the registry recorded {recorded}: the file changed after it was registered; refusing to use it"
    )]
    Tampered {
        path: String,
        actual: String,
        recorded: String,
    },
    #[error(
        "model `{model}` has no champion in {root}: train one with `retain train models/{model}.toml --promote-if-better`, or promote a version with `retain models promote {model} <version>` (see `retain models list`)"
    )]
    NoChampion { model: String, root: String },
    /// `retain models show <model>` without a version, and no champion to default to.
    #[error("model `{model}` has no champion; name a version (see `retain models list`)")]
    NoChampionToShow { model: String },
    #[error(
        "the champion of `{model}` changed while promoting {version} (it is now {}); nothing was changed by this promotion, check `retain models list` and retry",
        now.as_deref().unwrap_or("none")
    )]
    PromotionRace {
        model: String,
        version: String,
        now: Option<String>,
    },
}
