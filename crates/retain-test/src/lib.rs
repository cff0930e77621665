//! Test support shared by the workspace's tests; a dev-dependency only, never part of
//! the shipped binary.
//!
//! - [`browser`]: load a report page in headless Chromium and count the images that
//!   decoded, or take a screenshot of it (retain-report's browser test and the `retain`
//!   integration tests).
//! - [`sample`]: a sample report with one chart of each kind (retain-report's tests and
//!   `examples/sample_report.rs`, which writes the docs screenshot).
//! - [`svg`]: the `<text>` elements of a chart's SVG, and a check that wanted ones are there.

pub mod browser;
pub mod sample;
pub mod svg;

use std::path::PathBuf;

/// Everything that can go wrong while checking a page in a browser.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No Chromium where [`browser::chromium`] looked.
    #[error(
        "chromium not found at {} ({how}): run the tests with `cargo xtask test`, which \
         installs it, or set RETAIN_TEST_CHROMIUM to a Chromium binary",
        path.display()
    )]
    ChromiumMissing { path: PathBuf, how: &'static str },
    /// Chromium did not finish within the time limit and was killed.
    #[error("chromium did not finish on {} within {timeout:?} and was killed", page.display())]
    ChromiumTimeout {
        page: PathBuf,
        timeout: std::time::Duration,
    },
    /// Chromium exited with an error, or exited without producing what was asked for.
    #[error("chromium failed on {}: {message}\nstderr:\n{stderr}", page.display())]
    ChromiumFailed {
        page: PathBuf,
        message: String,
        stderr: String,
    },
    /// The DOM Chromium dumped lacks what the page's script writes.
    #[error("the DOM dumped for {} has no {what}", page.display())]
    PageCheck { page: PathBuf, what: String },
    /// Reading or writing a file, or starting a process.
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Rendering a report (the [`sample`] one) failed.
    #[error(transparent)]
    Report(#[from] retain_report::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
