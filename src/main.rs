//! `retain`: the command line. Parses flags (clap), sets up logging (tracing), resolves
//! settings and calls the library crates; everything else lives in `crates/`.
//! The flags are in `cli`, the commands in `pipeline`, `models`, `actions` and `runs`, and
//! the tables they print in `print`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use crate::cli::{Cli, ClvCommand, Command};
use crate::print::write_stdout;

mod actions;
mod cli;
mod models;
mod output;
mod pipeline;
mod print;
mod runs;
mod settings;
mod tables;

/// A command line that parsed but makes no sense (exit 2, like clap's own errors).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `--verbose`'s log filter: debug from retain's crates, info from the libraries.
const VERBOSE_FILTER: &str = "info,retain=debug,retain_pipeline=debug,retain_store=debug,retain_sql=debug,retain_read=debug,retain_model=debug,retain_score=debug,retain_policy=debug";

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // A filter that does not parse is a usage error, not a silent fallback.
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&cli.log) {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "error: invalid --log filter `{}`: {e} (see `retain --help`)",
                cli.log
            );
        }
        return ExitCode::from(2);
    }
    let filter = if cli.verbose && cli.log == "info" {
        VERBOSE_FILTER.to_owned()
    } else {
        cli.log.clone()
    };
    let bars = output::init(&output::LogOptions {
        filter,
        format: cli.log_format,
        quiet: cli.quiet,
    });
    if let Some(bars) = bars {
        let _ = settings::PROGRESS.set(bars);
    }
    let json = cli.log_format == output::LogFormat::Json;
    let verbose = cli.verbose;
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // One line, whatever the error chain: some DataFusion messages span several.
            let line = retain_pipeline::one_line(err.as_ref());
            let code = exit_code(&err);
            // With --verbose, the causes one per line, outermost first.
            let causes: Vec<String> = if verbose {
                err.chain().skip(1).map(|c| c.to_string()).collect()
            } else {
                Vec::new()
            };
            #[allow(clippy::print_stderr)]
            if json {
                // Every stderr line stays a JSON object for the log shipper, shaped like
                // the log events (written directly: a log filter must not hide it).
                let event = serde_json::json!({
                    "timestamp": chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "level": "ERROR",
                    "fields": {"message": line, "exit_code": code, "causes": causes},
                });
                eprintln!("{event}");
            } else {
                eprintln!("error: {line}");
                for c in &causes {
                    eprintln!(
                        "  caused by: {}",
                        retain_pipeline::error::collapse_whitespace(c)
                    );
                }
            }
            ExitCode::from(code)
        }
    }
}

/// Exit codes (docs/cli.md): 0 success, 1 failure, 2 usage or configuration error
/// (a pipeline file, model spec or policy that does not parse or does not fit the data),
/// 3 data-quality threshold breached (nothing published), 4 nothing to do.
fn exit_code(err: &anyhow::Error) -> u8 {
    use retain_pipeline::error::{EXIT_FAILURE, EXIT_USAGE};
    for e in err.chain() {
        if let Some(e) = e.downcast_ref::<retain_pipeline::Error>() {
            return e.exit_code();
        }
        if e.downcast_ref::<UsageError>().is_some()
            || e.downcast_ref::<retain_config::Error>().is_some()
        {
            return EXIT_USAGE;
        }
    }
    EXIT_FAILURE
}

/// Help and version print as clap renders them; a usage error is one line and exit 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.exit_code() == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .next()
        .unwrap_or("error: invalid arguments");
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{first}{} (see `retain --help`)", usage_hints(&e));
    }
    ExitCode::from(2)
}

/// What clap would print under its error, kept on the one line: the command or flag
/// meant (`did you mean 'train'?`) and the values a flag takes.
fn usage_hints(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let quoted = |v: &ContextValue| match v {
        ContextValue::String(s) => Some(format!("'{s}'")),
        ContextValue::Strings(v) if !v.is_empty() => Some(
            v.iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(" or "),
        ),
        _ => None,
    };
    let mut hints = Vec::new();
    for kind in [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
    ] {
        if let Some(meant) = e.get(kind).and_then(quoted) {
            hints.push(format!("did you mean {meant}?"));
        }
    }
    if let Some(ContextValue::Strings(values)) = e.get(ContextKind::ValidValue)
        && !values.is_empty()
    {
        hints.push(format!("possible values: {}", values.join(", ")));
    }
    if hints.is_empty() {
        String::new()
    } else {
        format!("; {}", hints.join("; "))
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    // The top-level future runs on the thread that calls `block_on`, and DataFusion plans
    // there: give it the same stack as the runtime's workers, whatever the platform's
    // main-thread stack (`ulimit -s`, 1 MiB on Windows).
    let worker = std::thread::Builder::new()
        .name("retain".into())
        .stack_size(retain_sql::STACK_BYTES)
        .spawn(move || run_on_runtime(cli))
        .context("starting the main thread")?;
    match worker.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn run_on_runtime(cli: Cli) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // DataFusion plans recursively: the largest expressions configuration may hold
        // need this stack (retain_sql::STACK_BYTES; tokio's default is 2 MiB).
        .thread_stack_size(retain_sql::STACK_BYTES)
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        match cli.command {
            Command::Demo(args) => pipeline::demo(args).await,
            Command::Synth(args) => pipeline::synth(args).await,
            Command::Run(args) => pipeline::run_pipeline(args).await,
            Command::Validate(args) => pipeline::validate(args).await,
            Command::Ingest(args) => pipeline::ingest(args).await,
            Command::Features(args) => pipeline::features(args).await,
            Command::Clv(ClvCommand::Fit(args)) => pipeline::clv_fit(args).await,
            Command::Clv(ClvCommand::Report(args)) => pipeline::clv_report(args).await,
            Command::Train(args) => models::train(args).await,
            Command::Models(cmd) => models::models(cmd).await,
            Command::Score(args) => actions::score(args).await,
            Command::Actions(args) => actions::actions(args).await,
            Command::EvaluateActions(args) => actions::evaluate(args).await,
            Command::Runs(args) => runs::runs(args).await,
            Command::Tables(args) => tables::tables(args).await,
            Command::Completions { shell } => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                // Into memory first: clap_complete panics on a failed write.
                let mut out = Vec::new();
                clap_complete::generate(shell, &mut cmd, "retain", &mut out);
                write_stdout(&out)
            }
            Command::Man => {
                let cmd = <Cli as clap::CommandFactory>::command();
                let mut out = Vec::new();
                clap_mangen::Man::new(cmd)
                    .render(&mut out)
                    .context("rendering the man page")?;
                write_stdout(&out)
            }
        }
    })
}
