//! Pipeline settings as the commands resolve them: the pipeline file, `--out`, and the
//! progress display `main` installs with the logging.

use std::sync::Arc;

use anyhow::Result;
use retain_config::PipelineConfig;
use retain_pipeline::Settings;

use crate::output;

/// The progress display, when stderr is a terminal that wants one (see `output::init`).
pub(crate) static PROGRESS: std::sync::OnceLock<Arc<output::Bars>> = std::sync::OnceLock::new();

/// [`Settings::resolve`], with the progress display attached when there is one.
pub(crate) fn resolve_settings(pipeline: PipelineConfig, out: Option<String>) -> Settings {
    let mut settings = Settings::resolve(pipeline, out);
    if let Some(bars) = PROGRESS.get() {
        settings.progress = Some(bars.clone() as Arc<dyn retain_store::Progress>);
    }
    settings
}

/// Load a pipeline file and resolve its settings with `--out`.
pub(crate) fn load_settings(pipeline: &std::path::Path, out: Option<String>) -> Result<Settings> {
    Ok(resolve_settings(PipelineConfig::load(pipeline)?, out))
}
