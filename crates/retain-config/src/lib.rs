//! Pipeline files (`pipelines/*.toml`) and model specifications (`models/*.toml`).
//!
//! Both are plain serde structs with unknown keys rejected: a typo in a pipeline file is
//! an error naming the key, never a silently ignored setting. The files shipped in the
//! repository are also embedded in the binary, so `retain demo` needs no checkout.
//!
//! Modules (everything is re-exported here; only `policy` is a public path as well):
//! - `pipeline`: [`PipelineConfig`] and its loading and checks; `pipeline/sections.rs`
//!   its sections (`[engine]`, `[sources.<table>]`, `[score]`, …), `pipeline/stage.rs`
//!   the [`Stage`]s of a run.
//! - `model_spec`: [`ModelSpec`], its `[algorithm]` and `[calibration]`, the embedded
//!   specs.
//! - [`policy`]: next-best-action policy files.
//! - `units`: [`Duration`] and [`ByteSize`] as written in the files.
//! - `env`: `${ENV_VAR}` expansion and the storage keys that hold secrets.
//! - `error`: [`Error`] and [`Result`].

mod env;
mod error;
mod model_spec;
mod pipeline;
pub mod policy;
mod units;

pub use env::expand_env;
pub use error::{Error, Result};
pub use model_spec::{
    AlgorithmConfig, AlgorithmKind, CalibrationConfig, CalibrationMethod, EMBEDDED_MODELS,
    FeatureSelection, ModelSpec,
};
pub use pipeline::{
    ClvConfig, Compression, DEMO_PIPELINE, EngineConfig, FeaturesConfig, Format, ModelsConfig,
    PipelineConfig, PolicyConfig, QualityConfig, ScoreConfig, SourceConfig, Stage, StorageConfig,
    TierMethod,
};
pub use policy::Policy;
pub use units::{ByteSize, Duration};

#[cfg(test)]
mod fuzz;
