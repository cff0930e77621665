//! Runs over several as-of dates: what `retain run` would do before it does it (the
//! as-of dates of a backfill, which of them are already published, and each stage's
//! inputs and outputs, `--dry-run`), and the backfill itself ([`backfill`]), a
//! [`crate::commands::run`] per date on top of one ingest. Planning is read only: it
//! takes no lock and writes nothing.

use chrono::{Months, NaiveDate};
use retain_config::{ModelSpec, Stage};
use serde::Serialize;

use crate::kernel::Ctx;
use crate::{Error, Result, RunReport, Settings, registry};

/// The step between the dates of a backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Every {
    Day,
    Week,
    Month,
}

/// The as-of dates from `from` to `to` (both included) every `every`. A monthly
/// backfill keeps `from`'s day of the month, clamped to the month's last day (from
/// 2026-01-31: 02-28, 03-31, ...).
pub fn backfill_dates(from: NaiveDate, to: NaiveDate, every: Every) -> Result<Vec<NaiveDate>> {
    if from > to {
        return Err(Error::Invalid {
            stage: "backfill",
            message: format!("--from {from} is after --to {to}"),
        });
    }
    let mut out = Vec::new();
    for k in 0u32.. {
        let d = match every {
            Every::Day => from.checked_add_days(chrono::Days::new(u64::from(k))),
            Every::Week => from.checked_add_days(chrono::Days::new(7 * u64::from(k))),
            Every::Month => from.checked_add_months(Months::new(k)),
        };
        match d {
            Some(d) if d <= to => out.push(d),
            _ => break,
        }
    }
    Ok(out)
}

/// One as-of date of a run or backfill.
#[derive(Debug, Clone, Serialize)]
pub struct DatePlan {
    pub as_of: NaiveDate,
    /// The selected stages whose output for this date is already published (stages
    /// without an output per date, like ingest, are never listed).
    pub published: Vec<Stage>,
    /// Every selected stage with an output per date is published, and `--force` was not
    /// given: the date is skipped.
    pub skip: bool,
}

/// Where a stage reads and writes, for `--dry-run`.
#[derive(Debug, Clone, Serialize)]
pub struct StagePlan {
    pub stage: Stage,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// What `retain run` would do.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    pub pipeline: String,
    pub warehouse: String,
    pub stages: Vec<Stage>,
    pub dates: Vec<DatePlan>,
    /// In a backfill, ingest runs once, as of the last date to run (its staged tables
    /// hold every fact before it, and each later stage reads only facts before its own
    /// date); None when ingest is not selected or nothing is to run.
    pub ingest_as_of: Option<NaiveDate>,
    /// The stages of the first date to run, with their inputs and outputs (later dates
    /// differ only in the date).
    pub detail: Vec<StagePlan>,
}

impl RunPlan {
    /// The dates that will run.
    pub fn to_run(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.dates.iter().filter(|d| !d.skip).map(|d| d.as_of)
    }
}

/// Plan a run of the settings' stages over `dates`: which dates are already published
/// (skipped unless `force`), and each stage's inputs and outputs.
pub async fn plan(settings: &Settings, dates: &[NaiveDate], force: bool) -> Result<RunPlan> {
    let ctx = Ctx::open(settings, "").await?;
    let stages = settings.pipeline.stages.clone();
    let specs_dir = settings.pipeline.models_dir.as_deref();
    let specs = [
        ModelSpec::load(&settings.pipeline.models.churn, specs_dir)?,
        ModelSpec::load(&settings.pipeline.models.repeat_purchase, specs_dir)?,
    ];
    let clv = settings.pipeline.clv.enabled;
    let mut registered: Vec<(String, Vec<NaiveDate>)> = Vec::new();
    for model in specs.iter().map(|s| s.name.as_str()).chain(["clv"]) {
        let days = registry::versions(&ctx.wh, model)
            .await?
            .into_iter()
            .map(|v| v.as_of)
            .collect();
        registered.push((model.to_owned(), days));
    }
    let registered_on = |model: &str, d: NaiveDate| {
        registered
            .iter()
            .any(|(m, days)| m == model && days.contains(&d))
    };
    let mut out = Vec::new();
    for &as_of in dates {
        let partition = format!("as_of={as_of}");
        let mut published = Vec::new();
        let mut keyed = 0;
        for &stage in &stages {
            let done = match stage {
                Stage::Ingest => continue,
                Stage::Clv if !clv => continue,
                // A store that does not answer fails the plan: it is not "unpublished".
                Stage::Features => ctx.wh.is_published("features/customer", &partition).await?,
                Stage::Clv => registered_on("clv", as_of),
                Stage::Train => specs.iter().all(|s| registered_on(&s.name, as_of)),
                Stage::Score => {
                    ctx.wh
                        .is_published("scores/customer_risk", &partition)
                        .await?
                }
                Stage::Actions => {
                    ctx.wh
                        .is_published("scores/next_best_action", &partition)
                        .await?
                }
            };
            keyed += 1;
            if done {
                published.push(stage);
            }
        }
        let skip = !force && keyed > 0 && published.len() == keyed;
        out.push(DatePlan {
            as_of,
            published,
            skip,
        });
    }
    let to_run: Vec<NaiveDate> = out.iter().filter(|d| !d.skip).map(|d| d.as_of).collect();
    let ingest_as_of = stages
        .contains(&Stage::Ingest)
        .then(|| to_run.last().copied())
        .flatten();
    let detail = match to_run.first() {
        Some(&d) => stages
            .iter()
            .map(|&s| stage_io(settings, &specs, s, d))
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    Ok(RunPlan {
        pipeline: settings.pipeline.name.clone(),
        warehouse: ctx.wh.root.url(),
        stages,
        dates: out,
        ingest_as_of,
        detail,
    })
}

/// One finished step of a [`backfill`], as it finishes (for progress output).
#[derive(Debug, Clone, Copy)]
pub enum BackfillStep<'a> {
    /// The single ingest, as of the plan's `ingest_as_of`.
    Ingest(&'a RunReport),
    /// The other stages as of one date.
    Date(&'a RunReport),
}

/// Run `plan` (from [`plan`] over the same settings): ingest once, as of the last date
/// to run, whose staged tables hold every fact each date's stages read (each reads only
/// facts before its own date); then the other selected stages per date to run, oldest
/// first, each date its own run with its own run id and record. `on_step` hears of each
/// step as it finishes. A failure stops the backfill with [`Error::Backfill`], which says
/// how many dates were done (a rerun resumes: published dates are skipped). Returns the
/// number of dates run.
pub async fn backfill(
    settings: &Settings,
    plan: &RunPlan,
    mut on_step: impl FnMut(BackfillStep<'_>),
) -> Result<usize> {
    let to_run: Vec<NaiveDate> = plan.to_run().collect();
    let with = |stages: Vec<Stage>| {
        let mut s = settings.clone();
        s.pipeline.stages = stages;
        s
    };
    if let Some(d) = plan.ingest_as_of {
        let report = crate::commands::run(&with(vec![Stage::Ingest]), d)
            .await
            .map_err(|e| Error::Backfill {
                date: None,
                ingest_as_of: Some(d),
                done: 0,
                total: to_run.len(),
                source: Box::new(e),
            })?;
        on_step(BackfillStep::Ingest(&report));
    }
    let rest: Vec<Stage> = plan
        .stages
        .iter()
        .copied()
        .filter(|s| *s != Stage::Ingest)
        .collect();
    if rest.is_empty() {
        return Ok(to_run.len());
    }
    let settings = with(rest);
    for (i, &d) in to_run.iter().enumerate() {
        let report = crate::commands::run(&settings, d)
            .await
            .map_err(|e| Error::Backfill {
                date: Some(d),
                ingest_as_of: plan.ingest_as_of,
                done: i,
                total: to_run.len(),
                source: Box::new(e),
            })?;
        on_step(BackfillStep::Date(&report));
    }
    Ok(to_run.len())
}

/// A stage's inputs and outputs as of `d`, as URLs or warehouse paths.
fn stage_io(
    settings: &Settings,
    specs: &[ModelSpec; 2],
    stage: Stage,
    d: NaiveDate,
) -> Result<StagePlan> {
    let p = &settings.pipeline;
    let part = format!("as_of={d}");
    let staged = || -> Vec<String> { p.sources.keys().map(|t| format!("staged/{t}")).collect() };
    let (inputs, outputs) = match stage {
        Stage::Ingest => {
            let root = retain_store::Location::parse(&settings.warehouse)?;
            let raw = root.resolve(&p.raw)?;
            let mut inputs = Vec::new();
            for (table, s) in &p.sources {
                inputs.push(format!("{table}: {}", raw.resolve(&s.path)?.url()));
            }
            let outputs = p
                .sources
                .keys()
                .flat_map(|t| [format!("staged/{t}"), format!("quarantine/{t}")])
                .collect();
            (inputs, outputs)
        }
        Stage::Features => (staged(), vec![format!("features/customer/{part}")]),
        Stage::Clv if !p.clv.enabled => (vec![], vec!["(disabled in [clv])".to_owned()]),
        Stage::Clv => (
            vec!["staged/orders".to_owned()],
            vec!["models/clv/<next version>".to_owned()],
        ),
        Stage::Train => (
            staged()
                .into_iter()
                .chain(["features/customer/as_of=<snapshot dates>".to_owned()])
                .collect(),
            specs
                .iter()
                .flat_map(|s| {
                    [
                        format!("training/{}/run_as_of={d}", s.name),
                        format!("models/{}/<next version> (champion if better)", s.name),
                    ]
                })
                .collect(),
        ),
        Stage::Score => (
            vec![
                format!("features/customer/{part}"),
                format!("models/{}/champion", specs[0].name),
                format!("models/{}/champion", specs[1].name),
            ],
            vec![format!("scores/customer_risk/{part}")],
        ),
        Stage::Actions => (
            vec![
                format!("scores/customer_risk/{part}"),
                format!("features/customer/{part}"),
                "staged/contacts".to_owned(),
                format!(
                    "policy {}",
                    p.policy.file.as_ref().map_or_else(
                        || "(embedded retention.toml)".to_owned(),
                        |f| f.display().to_string()
                    )
                ),
            ],
            vec![format!("scores/next_best_action/{part}")],
        ),
    };
    Ok(StagePlan {
        stage,
        inputs,
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn backfill_dates_include_both_ends_and_clamp_months() {
        assert_eq!(
            backfill_dates(d("2026-01-01"), d("2026-01-03"), Every::Day).unwrap(),
            vec![d("2026-01-01"), d("2026-01-02"), d("2026-01-03")]
        );
        assert_eq!(
            backfill_dates(d("2026-01-01"), d("2026-01-20"), Every::Week).unwrap(),
            vec![d("2026-01-01"), d("2026-01-08"), d("2026-01-15")]
        );
        assert_eq!(
            backfill_dates(d("2026-01-31"), d("2026-04-30"), Every::Month).unwrap(),
            vec![
                d("2026-01-31"),
                d("2026-02-28"),
                d("2026-03-31"),
                d("2026-04-30")
            ]
        );
        assert_eq!(
            backfill_dates(d("2026-01-01"), d("2026-01-01"), Every::Month).unwrap(),
            vec![d("2026-01-01")]
        );
        let err = backfill_dates(d("2026-02-01"), d("2026-01-01"), Every::Day).unwrap_err();
        assert!(
            err.to_string()
                .contains("--from 2026-02-01 is after --to 2026-01-01")
        );
    }
}
