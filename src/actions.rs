//! `retain score`, `retain actions` and `retain evaluate-actions`: scoring with the
//! champions, the next-best-action policy, and the measured effect of its actions.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;
use retain_pipeline::ActionEvaluation;

use crate::models::Place;
use crate::print::{print_drift, print_out, print_policy};

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    place: Place,
    /// Scoring date (YYYY-MM-DD); defaults to the pipeline's `as-of`.
    #[arg(value_parser = crate::cli::date, long)]
    as_of: Option<NaiveDate>,
    #[command(flatten)]
    horizon: crate::cli::HorizonArgs,
    /// Which champion scores the as-of date.
    #[arg(long, value_enum, default_value_t = crate::cli::ChampionArg::InForce)]
    champion: crate::cli::ChampionArg,
}

#[derive(Debug, Args)]
pub struct ActionsArgs {
    #[command(flatten)]
    place: Place,
    /// Date of the scores to decide on (YYYY-MM-DD); defaults to the pipeline's `as-of`.
    #[arg(value_parser = crate::cli::date, long)]
    as_of: Option<NaiveDate>,
    /// Policy file, overriding the pipeline's `[policy] file`.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    place: Place,
    /// Date of the next-best-action partition to evaluate (YYYY-MM-DD).
    #[arg(value_parser = crate::cli::date, long)]
    as_of: Option<NaiveDate>,
    /// Days after the date in which a completed order counts as the outcome; defaults to
    /// the policy's `[evaluation] horizon-days` (1 to 3650).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
    horizon_days: Option<u32>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn score(args: ScoreArgs) -> Result<ExitCode> {
    let mut settings = args.place.settings()?;
    settings.allow_as_of_beyond_data = args.horizon.allow_as_of_beyond_data;
    settings.champion_at = args.champion.at();
    let as_of = settings.as_of(args.as_of)?;
    let r = retain_pipeline::score_customers(&settings, as_of)
        .await
        .context("scoring failed")?;
    let mut out = String::new();
    let models: Vec<String> = r.models.iter().map(|(m, v)| format!("{m} {v}")).collect();
    let _ = writeln!(
        out,
        "scored {} customers as of {} with {} (features {}; run {})",
        r.table.rows,
        r.as_of,
        models.join(", "),
        if r.features_reused {
            "reused"
        } else {
            "computed from the staged tables"
        },
        r.run_id
    );
    let _ = writeln!(out, "\ncustomers per risk tier:");
    for (k, v) in &r.risk_tiers {
        let _ = writeln!(out, "  {k:<22} {v:>9}");
    }
    print_drift(&mut out, &r.drift);
    let _ = writeln!(out, "\n{} -> {}", r.table.table, r.table.url);
    print_out(out.trim_end());
    Ok(ExitCode::SUCCESS)
}

pub async fn actions(args: ActionsArgs) -> Result<ExitCode> {
    let mut settings = args.place.settings()?;
    let as_of = settings.as_of(args.as_of)?;
    if let Some(p) = args.policy {
        settings.pipeline.policy.file = Some(p);
    }
    // The pipeline's errors name the stage, the policy file and the action.
    let r = retain_pipeline::decide_actions(&settings, as_of).await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "next best actions as of {} (policy {}; run {}):",
        r.as_of, r.policy, r.run_id
    );
    print_policy(&mut out, &r.summary);
    let _ = writeln!(out, "\n{} -> {}", r.table.table, r.table.url);
    print_out(out.trim_end());
    Ok(ExitCode::SUCCESS)
}

pub async fn evaluate(args: EvaluateArgs) -> Result<ExitCode> {
    let settings = args.place.settings()?;
    let as_of = settings.as_of(args.as_of)?;
    let e = retain_pipeline::evaluate_actions(&settings, as_of, args.horizon_days)
        .await
        .context("evaluating the actions failed")?;
    if !e.complete {
        tracing::warn!(
            orders_until = ?e.orders_until,
            horizon_days = e.horizon_days,
            "the outcome window has not passed yet in the staged orders: the effects are partial"
        );
    }
    if args.json {
        let text = serde_json::to_string_pretty(&e).context("serialising the evaluation")?;
        print_out(&text);
    } else {
        print_out(print_evaluation(&e).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn print_evaluation(e: &ActionEvaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "actions as of {} (run {}): completed orders in the {} days after, treated vs control",
        e.as_of, e.decisions_run_id, e.horizon_days
    );
    let _ = writeln!(
        out,
        "orders staged up to {}{}",
        e.orders_until
            .map_or_else(|| "(none)".into(), |d| d.to_string()),
        if e.complete {
            ""
        } else {
            " - the window is not over: partial"
        }
    );
    let _ = writeln!(
        out,
        "\n  {:<22} {:>8} {:>8} {:>9} {:>9} {:>24} {:>30}",
        "action",
        "treated",
        "control",
        "bought(t)",
        "bought(c)",
        "uplift [95% CI]",
        "revenue/customer [95% CI]"
    );
    for a in &e.actions {
        let uplift = match (a.uplift, a.uplift_ci) {
            (Some(u), Some((lo, hi))) => format!(
                "{:+.1} pts [{:+.1}, {:+.1}]",
                100.0 * u,
                100.0 * lo,
                100.0 * hi
            ),
            _ => "no control group".into(),
        };
        let revenue = match (a.revenue_uplift, a.revenue_uplift_ci) {
            (Some(u), Some((lo, hi))) => format!("{u:+.2} [{lo:+.2}, {hi:+.2}]"),
            _ => "n/a".into(),
        };
        let _ = writeln!(
            out,
            "  {:<22} {:>8} {:>8} {:>9} {:>9} {:>24} {:>30}",
            a.action,
            a.treated,
            a.control,
            pct(a.treated_rate),
            pct(a.control_rate),
            uplift,
            revenue
        );
    }
    out
}
