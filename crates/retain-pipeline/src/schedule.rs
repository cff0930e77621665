//! Runs over several as-of dates: what `retain run` would do before it does it (the
//! as-of dates of a backfill, which of them are published and still follow from their
//! inputs, and each stage's inputs and outputs, `--dry-run`), and the
//! backfill itself ([`backfill`]), a [`crate::commands::run`] per date on top of one
//! ingest. Planning is read only: it takes no lock and writes nothing.

use chrono::{Months, NaiveDate};
use retain_config::{ModelSpec, Stage};
use serde::Serialize;

use crate::kernel::Ctx;
use retain_store::Manifest;

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
    /// The selected stages whose output for this date is published and current: it
    /// records the inputs the warehouse holds now (stages without an output per date,
    /// like ingest, are never listed).
    pub published: Vec<Stage>,
    /// The selected stages whose output for this date is published but stale, each with
    /// the input that changed since it was computed (docs/storage.md, "Time").
    pub stale: Vec<(Stage, String)>,
    /// Every selected stage with an output per date is published and current, and
    /// `--force` was not given: the date is skipped.
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
    /// In a backfill, ingest runs once, first, labelled with the last date to run (staged
    /// tables do not depend on it: each later stage reads only facts before its own
    /// date), and the dates are checked again against what it staged; None when ingest
    /// is not selected or no date is to run.
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

/// Plan a run of the settings' stages over `dates`: which dates are published and
/// current (skipped unless `force`), which outputs are stale and why, and each stage's
/// inputs and outputs.
pub async fn plan(settings: &Settings, dates: &[NaiveDate], force: bool) -> Result<RunPlan> {
    let mut ctx = Ctx::open(settings, "").await?;
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
    // What the features of each date must have been computed from: the staged tables
    // published now, or, when this run ingests and the raw files (or the staging SQL)
    // changed since they were staged, what the ingest will stage.
    let staged = match ctx.register_staged().await {
        Ok(()) => Staged::Published,
        Err(Error::NotStaged { .. }) => Staged::Nothing,
        Err(e) => return Err(e),
    };
    let staged = if staged == Staged::Published && stages.contains(&Stage::Ingest) {
        let recorded = ctx.memo.staged.values().find_map(|i| i.version.clone());
        match crate::ingest::version_now(&mut ctx).await? {
            Some(now) if Some(&now) == recorded.as_ref() => Staged::Published,
            _ => Staged::Changing,
        }
    } else {
        staged
    };
    let policy = if stages.contains(&Stage::Actions) {
        Some(crate::actions::load_policy(settings)?.fingerprint())
    } else {
        None
    };
    let mut out = Vec::new();
    for &as_of in dates {
        let mut published = Vec::new();
        let mut stale = Vec::new();
        let mut keyed = 0;
        let mut lineage = Lineage::new(&ctx, &specs, as_of, staged);
        for &stage in &stages {
            let state = match stage {
                Stage::Ingest => continue,
                Stage::Clv if !clv => continue,
                Stage::Clv => registered_on("clv", as_of).then_some(Ok(())),
                Stage::Train => specs
                    .iter()
                    .all(|s| registered_on(&s.name, as_of))
                    .then_some(Ok(())),
                Stage::Features => lineage.features().await?,
                Stage::Score => lineage.scores().await?,
                Stage::Actions => lineage.actions(policy.as_deref().unwrap_or("")).await?,
            };
            keyed += 1;
            match state {
                Some(Ok(())) => published.push(stage),
                Some(Err(why)) => stale.push((stage, why)),
                None => {}
            }
        }
        let skip = !force && keyed > 0 && published.len() == keyed;
        out.push(DatePlan {
            as_of,
            published,
            stale,
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

/// What a [`backfill`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillDone {
    /// Dates run.
    pub ran: usize,
    /// Dates skipped: published and current (after the ingest, when it ran).
    pub skipped: usize,
}

/// Run `plan` (from [`plan`] over the same settings): ingest once, first, when it is
/// selected; then, the dates checked again against what the ingest staged (a changed
/// raw file makes the partitions computed from the old staged tables stale), the other
/// selected stages per date to run, oldest first, each date its own run with its own run
/// id and record. `on_step` hears of each step as it finishes. A failure stops the
/// backfill with [`Error::Backfill`], which says how many dates were done (a rerun
/// resumes: published, current dates are skipped).
pub async fn backfill(
    settings: &Settings,
    plan: &RunPlan,
    force: bool,
    mut on_step: impl FnMut(BackfillStep<'_>),
) -> Result<BackfillDone> {
    let with = |stages: Vec<Stage>| {
        let mut s = settings.clone();
        s.pipeline.stages = stages;
        s
    };
    let rest: Vec<Stage> = plan
        .stages
        .iter()
        .copied()
        .filter(|s| *s != Stage::Ingest)
        .collect();
    let dates: Vec<NaiveDate> = plan.dates.iter().map(|d| d.as_of).collect();
    let mut to_run: Vec<NaiveDate> = plan.to_run().collect();
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
        if !rest.is_empty() {
            to_run = self::plan(&with(rest.clone()), &dates, force)
                .await?
                .to_run()
                .collect();
        }
    }
    let skipped = dates.len() - to_run.len();
    if rest.is_empty() {
        return Ok(BackfillDone {
            ran: to_run.len(),
            skipped,
        });
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
    Ok(BackfillDone {
        ran: to_run.len(),
        skipped,
    })
}

/// Whether the published partitions as of one date still follow from what the warehouse
/// holds now: the features from the staged tables and the feature SQL
/// ([`Ctx::current_features`]), the scores from those features and the champions in
/// force, the actions from those scores and features and the policy. Each answer is None
/// (not published), `Ok` (current) or `Err` with the input that changed.
struct Lineage<'a> {
    ctx: &'a Ctx,
    specs: &'a [ModelSpec; 2],
    as_of: NaiveDate,
    staged: Staged,
    partition: String,
    features: Option<Option<Manifest>>,
    scores: Option<Option<Manifest>>,
    /// The scores' own state, when the score stage is selected and was checked.
    scores_state: Option<State>,
}

type State = Option<std::result::Result<(), String>>;

/// The staged tables a plan checks the features against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Staged {
    /// As published, and this run's ingest (if any) would stage the same.
    Published,
    /// This run's ingest will stage other tables (the raw files changed).
    Changing,
    /// Nothing is staged yet.
    Nothing,
}

impl<'a> Lineage<'a> {
    fn new(ctx: &'a Ctx, specs: &'a [ModelSpec; 2], as_of: NaiveDate, staged: Staged) -> Self {
        Self {
            ctx,
            specs,
            as_of,
            staged,
            partition: format!("as_of={as_of}"),
            features: None,
            scores: None,
            scores_state: None,
        }
    }

    async fn manifest(&self, table: &str) -> Result<Option<Manifest>> {
        match self.ctx.wh.manifest(table, &self.partition).await {
            Ok(m) => Ok(Some(m)),
            Err(retain_store::Error::NotPublished { .. }) => Ok(None),
            // A store that does not answer fails the plan: it is not "unpublished".
            Err(e) => Err(e.into()),
        }
    }

    /// The current features manifest, read once.
    async fn current_features(&mut self) -> Result<Option<Manifest>> {
        if self.features.is_none() {
            let current = match self.staged {
                Staged::Published => self.ctx.current_features(self.as_of).await?,
                Staged::Changing | Staged::Nothing => None,
            };
            self.features = Some(current);
        }
        Ok(self.features.clone().flatten())
    }

    async fn features(&mut self) -> Result<State> {
        if self.current_features().await?.is_some() {
            return Ok(Some(Ok(())));
        }
        let why = match self.staged {
            Staged::Published => "the staged tables or the feature SQL changed",
            Staged::Changing => "the raw files or the staging SQL changed since the last ingest",
            Staged::Nothing => "nothing is staged",
        };
        Ok(self
            .manifest("features/customer")
            .await?
            .map(|_| Err(why.to_owned())))
    }

    /// Whether `m` records `input` (a published partition) at the version `m2` holds.
    fn reads(&self, m: &Manifest, table: &str, current: &Manifest) -> bool {
        let url = self.ctx.partition_url(table, &self.partition);
        m.inputs
            .iter()
            .any(|i| i.location == url && i.version.as_deref() == Some(current.run_id.as_str()))
    }

    async fn scores(&mut self) -> Result<State> {
        let state = self.scores_state().await?;
        self.scores_state = Some(state.clone());
        Ok(state)
    }

    async fn scores_state(&mut self) -> Result<State> {
        let Some(scores) = self.manifest("scores/customer_risk").await? else {
            self.scores = Some(None);
            return Ok(None);
        };
        self.scores = Some(Some(scores.clone()));
        let Some(features) = self.current_features().await? else {
            return Ok(Some(Err("its features are stale".to_owned())));
        };
        if !self.reads(&scores, "features/customer", &features) {
            return Ok(Some(Err("the features were computed again".to_owned())));
        }
        for spec in self.specs {
            let at = self.ctx.settings.champion_at;
            let chosen =
                match registry::champion_version_at(&self.ctx.wh, &spec.name, self.as_of, at).await
                {
                    Ok((chosen, _)) => chosen.version,
                    Err(Error::Registry(_)) => {
                        return Ok(Some(Err(format!("no champion of {} scores it", spec.name))));
                    }
                    Err(e) => return Err(e),
                };
            let used = scores.properties["models"][spec.name.as_str()].as_str();
            if used != Some(chosen.as_str()) {
                return Ok(Some(Err(format!(
                    "the champion of {} in force is {chosen}, it was scored with {}",
                    spec.name,
                    used.unwrap_or("none")
                ))));
            }
        }
        Ok(Some(Ok(())))
    }

    async fn actions(&mut self, policy: &str) -> Result<State> {
        let Some(actions) = self.manifest("scores/next_best_action").await? else {
            return Ok(None);
        };
        if self.scores.is_none() {
            // Score is not selected: the published scores are what actions read.
            self.scores = Some(self.manifest("scores/customer_risk").await?);
        }
        let Some(scores) = self.scores.clone().flatten() else {
            return Ok(Some(Err("its scores are not published".to_owned())));
        };
        // Scores that this run recomputes make the actions from them stale too.
        if let Some(Some(Err(_))) = self.scores_state {
            return Ok(Some(Err("its scores are stale".to_owned())));
        }
        let Some(features) = self.current_features().await? else {
            return Ok(Some(Err("its features are stale".to_owned())));
        };
        if !self.reads(&actions, "scores/customer_risk", &scores)
            || !self.reads(&actions, "features/customer", &features)
        {
            return Ok(Some(Err(
                "its scores or features were computed again".to_owned()
            )));
        }
        if actions.properties["policy"]["fingerprint"].as_str() != Some(policy) {
            return Ok(Some(Err("the policy changed".to_owned())));
        }
        Ok(Some(Ok(())))
    }
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
