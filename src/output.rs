//! What goes to stderr: tracing logs (human-readable or JSON lines, filtered by
//! `RUST_LOG` / `--log`, capped at warnings by `--quiet`) and, on a terminal only,
//! progress bars for long steps. stdout carries only the command's result.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines look on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event (coloured on a terminal).
    Pretty,
    /// One JSON object per line (timestamp, level, fields, span, spans), for log shippers.
    Json,
}

/// The logging flags, resolved.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Default `EnvFilter` directives when `RUST_LOG` is unset or invalid.
    pub filter: String,
    pub format: LogFormat,
    /// Only warnings and errors, and no progress bars.
    pub quiet: bool,
}

/// `filter` with delta-rs and its kernel at `warn` unless it names them: at `info` they
/// log every snapshot load, which is not news to a retain user.
fn quiet_dependencies(filter: &str) -> String {
    let mut out = filter.to_owned();
    for target in ["deltalake_core", "buoyant_kernel", "buoyant_kernel_engine"] {
        if !filter.contains(target) {
            out.push_str(&format!(",{target}=warn"));
        }
    }
    out
}

/// Install the global tracing subscriber. Returns the progress display when one should
/// be drawn: stderr is a terminal, the format is pretty, not `--quiet`, and `CI` is unset.
pub fn init(opts: &LogOptions) -> Option<Arc<Bars>> {
    let terminal = std::io::stderr().is_terminal();
    let ci = std::env::var_os("CI").is_some();
    let bars = wants_progress(opts, terminal, ci).then(|| Arc::new(Bars::new()));
    // RUST_LOG wins when set to a valid filter; set but empty it counts as unset (an
    // empty EnvFilter would silence everything but errors).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(quiet_dependencies(&v)).ok())
        .or_else(|| EnvFilter::try_new(quiet_dependencies(&opts.filter)).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let cap = if opts.quiet {
        LevelFilter::WARN
    } else {
        LevelFilter::TRACE
    };
    let multi = bars.as_ref().map(|b| b.multi.clone());
    let writer = move || Stderr(multi.clone());
    let layer = match opts.format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_target(false)
            .with_ansi(terminal && std::env::var_os("NO_COLOR").is_none())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(cap)
        .with(layer)
        .init();
    bars
}

/// Progress is drawn for a person watching a terminal: not into pipes or files, not
/// between JSON lines, not when asked to be quiet, not on CI.
fn wants_progress(opts: &LogOptions, terminal: bool, ci: bool) -> bool {
    terminal && opts.format == LogFormat::Pretty && !opts.quiet && !ci
}

/// stderr, with the progress bars (if any) lifted out of the way while a line is written.
struct Stderr(Option<MultiProgress>);

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 {
            Some(m) => m.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        // The fmt layer writes each formatted line with one write_all.
        match &self.0 {
            Some(m) => m.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Spinners on stderr, one per running step (`read orders`, `write staged/orders`,
/// `write scores/customer_risk/as_of=…`), showing rows done and the time taken; each
/// vanishes when its step finishes, so the terminal keeps only the log lines.
#[derive(Debug)]
pub struct Bars {
    multi: MultiProgress,
    running: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Self {
        Self {
            multi: MultiProgress::new(),
            running: Mutex::new(HashMap::new()),
        }
    }

    fn style() -> ProgressStyle {
        // No `{per_sec}`: indicatif prints it with a dozen decimals.
        ProgressStyle::with_template("{spinner} {prefix:<44} {human_pos:>12} rows  {elapsed:>4}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
    }
}

impl retain_store::Progress for Bars {
    fn rows(&self, step: &str, rows: u64) {
        // A poisoned lock only means another thread panicked mid-update: keep drawing.
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let bar = running.entry(step.to_owned()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(Self::style());
            bar.set_prefix(step.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        bar.set_position(rows);
    }

    fn finished(&self, step: &str) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = running.remove(step) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_only_for_a_person_at_a_terminal() {
        let opts = |format, quiet| LogOptions {
            filter: "info".into(),
            format,
            quiet,
        };
        let pretty = opts(LogFormat::Pretty, false);
        assert!(wants_progress(&pretty, true, false));
        assert!(!wants_progress(&pretty, false, false), "not a terminal");
        assert!(!wants_progress(&pretty, true, true), "CI");
        assert!(!wants_progress(&opts(LogFormat::Json, false), true, false));
        assert!(!wants_progress(&opts(LogFormat::Pretty, true), true, false));
    }
}
