//! The commands a caller runs: the CLI, a scheduler, or any Rust program. Each takes
//! [`Settings`] and, when it depends on one, the as-of date; a writing command takes the
//! warehouse's write lock, runs its stages, adds what they return to its `RunLog` and
//! writes the run record and report whatever the outcome (`writing`). Read-only
//! commands open the warehouse without the lock.
//!
//! Architecture invariant: nothing here prints or parses arguments; the binary does.
mod inspect;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use retain_config::{ModelSpec, Policy, Stage};
use retain_model::ModelArtifact;
use retain_store::LockInfo;
use serde::Serialize;
use tracing::Instrument;

use crate::actions::{self, load_policy};
use crate::error::{Error, Result, one_line};
use crate::features::FeaturesAsOf;
use crate::horizon;
use crate::ingest::{self};
use crate::kernel::{Ctx, Settings, new_run_id};
use crate::records::ingest::IngestReport;
use crate::run_log::RunLog;
use crate::score::{self, Counts};
use crate::train::{self, Promote, TrainOutput};
use crate::{
    ActionEvaluation, ModelRecord, ModelReport, PolicySummary, RunReport, TableReport, clv,
    registry,
};

pub use inspect::{
    ModelVersion, ModelVersions, clv_show, models_list, models_promote, models_show,
};

/// Run `body` as a writing command: open a context with a new run id, take the
/// warehouse's write lock (`_lock.json`, docs/storage.md), remove what interrupted runs
/// left aside, run, then write the run record and report (with the error when it failed)
/// and release the lock (a failure to release is logged: the lock goes stale and the
/// next run takes it over).
async fn writing<T>(
    settings: &Settings,
    command: &str,
    run_id: &str,
    as_of: NaiveDate,
    selected_stages: Vec<Stage>,
    body: impl AsyncFnOnce(&mut Ctx, &mut RunLog) -> Result<T>,
) -> Result<T> {
    let mut signals = crate::interrupt::listen();
    if let Some(signal) = *signals.borrow() {
        // Stopped between two dates of a backfill: take nothing more.
        return Err(Error::Interrupted { signal });
    }
    let mut ctx = Ctx::open(settings, run_id).await?;
    let info = LockInfo::here(run_id, command, Some(as_of.to_string()));
    ctx.wh
        .lock(&info, settings.pipeline.lock_stale_after.0)
        .await?;
    let mut log = RunLog::new(run_id, command, as_of);
    log.selected_stages = selected_stages;
    let result = match ctx.wh.clean_leftovers().await {
        Ok(removed) => {
            if removed > 0 {
                tracing::info!(removed, "removed files an interrupted run left aside");
            }
            // A signal drops the body where it is: its partitions written aside are
            // not published, and the next run removes them.
            tokio::select! {
                r = body(&mut ctx, &mut log) => r,
                signal = crate::interrupt::stopped(&mut signals) => Err(Error::Interrupted { signal }),
            }
        }
        Err(e) => Err(e.into()),
    };
    if let Err(Error::Quality { counted, .. }) = &result {
        // The run record and report show what was refused, and why.
        log.ingest = counted.clone();
    }
    let error = result.as_ref().err().map(|e| one_line(e));
    log.write(&ctx.wh, &settings.pipeline.name, error).await;
    if let Err(e) = ctx.wh.unlock().await {
        tracing::warn!(error = %e, "could not release the warehouse lock");
    }
    result
}

/// A context for a command that only reads (no lock, no clean-up: another run may be
/// writing).
async fn reading(settings: &Settings) -> Result<Ctx> {
    Ctx::open(settings, &new_run_id()).await
}

/// Run only the ingest stage: stage every source and publish `staged/` and
/// `quarantine/` (all or nothing).
pub async fn ingest(settings: &Settings, as_of: NaiveDate) -> Result<Vec<IngestReport>> {
    let run_id = new_run_id();
    let span = tracing::info_span!("ingest", run_id = %run_id, as_of = %as_of);
    writing(
        settings,
        "ingest",
        &run_id,
        as_of,
        vec![],
        async |ctx, log| ingest_stage(ctx, log).await,
    )
    .instrument(span)
    .await
}

/// Ingest, recorded as the `ingest` stage. Staging depends on no as-of date.
async fn ingest_stage(ctx: &mut Ctx, log: &mut RunLog) -> Result<Vec<IngestReport>> {
    let t = Instant::now();
    let ingested = ingest::run(ctx).await?;
    log.published(&ctx.wh, &ingested.published);
    let reports = ingested.reports;
    log.ingest = reports.clone();
    let staged = reports.iter().map(|r| r.staged).sum();
    let quarantined: u64 = reports.iter().map(|r| r.quarantined).sum();
    let detail = format!("{} sources, {quarantined} rows quarantined", reports.len());
    log.stage("ingest", t, staged, detail);
    Ok(reports)
}

/// Refuse an as-of date beyond the staged data, or record that the user allowed it
/// (docs/storage.md, "Time").
async fn within_data(ctx: &mut Ctx, log: &mut RunLog, as_of: NaiveDate) -> Result<()> {
    if let Some(note) = horizon::check_as_of(ctx, as_of).await? {
        log.overrides.push(note);
    }
    Ok(())
}

/// The features as of `date`, recorded as a `features` stage when this call published
/// them.
async fn features_stage(
    ctx: &mut Ctx,
    log: &mut RunLog,
    date: NaiveDate,
    t: Instant,
) -> Result<FeaturesAsOf> {
    let f = ctx.features(date).await?;
    if let Some(m) = &f.published {
        log.published(&ctx.wh, [m]);
        log.stage("features", t, m.rows, f.partition.clone());
    }
    Ok(f)
}

/// A training stage: train, evaluate and register one spec as of `as_of`, recorded.
async fn train_stage(
    ctx: &mut Ctx,
    log: &mut RunLog,
    spec: &ModelSpec,
    as_of: NaiveDate,
    promote: Promote,
) -> Result<TrainOutput> {
    let t = Instant::now();
    let out = train::train(ctx, spec, as_of, promote).await?;
    log.published(&ctx.wh, &out.published);
    let r = &out.report;
    log.models_registered
        .insert(r.name.clone(), r.version.clone());
    log.models.push(ModelRecord::trained(r));
    let rows = r.training_rows + r.validation_rows;
    log.stage(&format!("train {}", spec.name), t, rows, train_detail(r));
    Ok(out)
}

/// A training stage's detail in the run record.
fn train_detail(r: &ModelReport) -> String {
    format!(
        "{} {}, {} snapshots, out-of-time AUC {}",
        r.name,
        r.version,
        r.training_snapshots + 1,
        r.validation_auc
            .map_or_else(|| "n/a (one class)".into(), |a| format!("{a:.3}"))
    )
}

/// What `retain features` did: the ingest, then one feature partition per date.
#[derive(Debug, Clone, Serialize)]
pub struct FeaturesReport {
    pub ingest: Vec<IngestReport>,
    pub tables: Vec<TableReport>,
    /// Canonical sources the shop lacks: their features are NULL.
    pub absent_sources: Vec<String>,
}

/// Ingest as of `as_of`, then publish `features/customer/as_of=D/` for each of `dates`
/// (the features stage on its own, for analysts and for the feature tests).
pub async fn features(
    settings: &Settings,
    as_of: NaiveDate,
    dates: &[NaiveDate],
) -> Result<FeaturesReport> {
    let run_id = new_run_id();
    let span = tracing::info_span!("features", run_id = %run_id);
    writing(
        settings,
        "features",
        &run_id,
        as_of,
        vec![],
        async |ctx, log| {
            let ingest = ingest_stage(ctx, log).await?;
            let mut tables = Vec::new();
            for date in dates {
                within_data(ctx, log, *date).await?;
                let f = features_stage(ctx, log, *date, Instant::now()).await?;
                tables.extend(f.published.iter().map(|m| TableReport::of(&ctx.wh, m)));
            }
            Ok(FeaturesReport {
                ingest,
                tables,
                absent_sources: ctx.memo.absent.iter().cloned().collect(),
            })
        },
    )
    .instrument(span)
    .await
}

/// What `retain clv fit` did.
#[derive(Debug, Clone, Serialize)]
pub struct ClvRun {
    pub ingest: Vec<IngestReport>,
    pub report: clv::ClvReport,
}

/// Ingest, fit the customer-lifetime models as of `as_of`, check them on a holdout
/// period and register them as the champion of `models/clv/`.
pub async fn clv_fit(settings: &Settings, as_of: NaiveDate) -> Result<ClvRun> {
    let run_id = new_run_id();
    let span = tracing::info_span!("clv_fit", run_id = %run_id, as_of = %as_of);
    writing(
        settings,
        "clv fit",
        &run_id,
        as_of,
        vec![],
        async |ctx, log| {
            let ingest = ingest_stage(ctx, log).await?;
            within_data(ctx, log, as_of).await?;
            let t = Instant::now();
            let report = clv::register(ctx, as_of).await?;
            let detail = format!("models/clv/{}", report.version);
            log.stage("clv", t, report.model.summary.customers as u64, detail);
            Ok(ClvRun { ingest, report })
        },
    )
    .instrument(span)
    .await
}

/// What `retain train` did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainRun {
    pub ingest: Vec<IngestReport>,
    /// One per spec, in the order given.
    pub models: Vec<ModelReport>,
}

/// Ingest, then train, evaluate and register each spec as of `as_of` on the same data
/// (the same snapshots and feature partitions), applying `promote` to each in turn: with
/// [`Promote::IfBetter`] the best of them that beats the champion ends up champion.
pub async fn train_models(
    settings: &Settings,
    as_of: NaiveDate,
    specs: &[ModelSpec],
    promote: Promote,
) -> Result<TrainRun> {
    let run_id = new_run_id();
    let span = tracing::info_span!("train_models", run_id = %run_id, as_of = %as_of);
    writing(
        settings,
        "train",
        &run_id,
        as_of,
        vec![],
        async |ctx, log| {
            let ingest = ingest_stage(ctx, log).await?;
            let mut models = Vec::new();
            for spec in specs {
                models.push(train_stage(ctx, log, spec, as_of, promote).await?.report);
            }
            Ok(TrainRun { ingest, models })
        },
    )
    .instrument(span)
    .await
}

/// A registered model and its versions, for `retain models list`.
/// What `retain score` did.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreRun {
    pub run_id: String,
    pub as_of: NaiveDate,
    /// The features as of D were already published (and reused), not computed.
    pub features_reused: bool,
    /// Champion versions used, by model.
    pub models: BTreeMap<String, String>,
    pub table: TableReport,
    pub lifecycle_stages: BTreeMap<String, u64>,
    pub shopper_types: BTreeMap<String, u64>,
    pub risk_tiers: BTreeMap<String, u64>,
    pub drift: Vec<retain_score::DriftRow>,
}

/// The CLV version whose fit gave the features as of `as_of`, when the registry has it.
async fn clv_version_as_of(ctx: &Ctx, as_of: NaiveDate) -> Option<String> {
    if !ctx.settings.pipeline.clv.enabled {
        return None;
    }
    match clv::load(ctx, None).await {
        Ok(r) if r.model.as_of == as_of => Some(r.version),
        _ => None,
    }
}

/// The published customer_risk as of `as_of`, which deciding actions reads; its absence
/// is an error naming the command that publishes it.
async fn require_scores(ctx: &Ctx, as_of: NaiveDate) -> Result<()> {
    let partition = format!("as_of={as_of}");
    if ctx
        .wh
        .is_published("scores/customer_risk", &partition)
        .await?
    {
        return Ok(());
    }
    Err(Error::NoScores {
        partition,
        root: ctx.wh.root.url(),
        as_of,
    })
}

/// The champions that score as of `as_of` (hash-verified): by default those in force
/// then (trained as of `as_of` or earlier, see [`registry::ChampionAt`]); with
/// `--champion latest` today's, which the run record then notes when they were trained
/// after `as_of`.
async fn champions(ctx: &Ctx, log: &mut RunLog, as_of: NaiveDate) -> Result<[ModelArtifact; 2]> {
    let specs_dir = ctx.settings.pipeline.models_dir.as_deref();
    let at = ctx.settings.champion_at;
    let mut champion = async |name: &str| -> Result<ModelArtifact> {
        let spec = ModelSpec::load(name, specs_dir)?;
        let (chosen, current) =
            registry::champion_version_at(&ctx.wh, &spec.name, as_of, at).await?;
        if chosen.version != current.version {
            tracing::info!(
                model = %spec.name,
                version = %chosen.version,
                trained_as_of = %chosen.as_of,
                current = %current.version,
                current_as_of = %current.as_of,
                "scoring with the champion in force on {as_of}, not today's (trained as of {})",
                current.as_of
            );
        }
        if chosen.as_of > as_of {
            let note = format!(
                "scored as of {as_of} with today's champion of {} ({}, trained as of {}: it has seen outcomes after {as_of}), as --champion latest asked",
                spec.name, chosen.version, chosen.as_of
            );
            tracing::warn!("{note}");
            log.overrides.push(note);
        }
        registry::load_artifact(&ctx.wh, &spec.name, &chosen.version).await
    };
    let models = &ctx.settings.pipeline.models;
    Ok([
        champion(&models.churn).await?,
        champion(&models.repeat_purchase).await?,
    ])
}

/// The score stage: `champions` score the features as of `as_of` (published, else
/// computed now from the staged tables, and then recorded as a `features` stage when
/// `features_as_stage`), with the CLV version given, else the registry's when it was
/// fitted as of `as_of`. Returns what it scored and whether the features were reused.
async fn score_stage(
    ctx: &mut Ctx,
    log: &mut RunLog,
    as_of: NaiveDate,
    [churn, repeat]: [ModelArtifact; 2],
    clv_version: Option<String>,
    features_as_stage: bool,
) -> Result<(score::Scored, bool)> {
    let t = Instant::now();
    let partition = format!("as_of={as_of}");
    // The features as of D: this run's, else published from the same staged tables and
    // SQL, else computed now.
    let reused =
        !ctx.memo.features.contains_key(&as_of) && ctx.current_features(as_of).await?.is_some();
    if !reused {
        let f = ctx.features(as_of).await?;
        if let Some(m) = &f.published {
            log.published(&ctx.wh, [m]);
            if features_as_stage {
                log.stage("features", t, m.rows, partition.clone());
            }
        }
    }
    let clv_version = match clv_version {
        Some(v) => Some(v),
        None => clv_version_as_of(ctx, as_of).await,
    };
    let t = if features_as_stage { Instant::now() } else { t };
    let scored = score::score(ctx, as_of, &partition, &churn, &repeat, clv_version).await?;
    log.published(&ctx.wh, [&scored.manifest]);
    log.drift = Some(scored.drift_record.clone());
    for m in &scored.models {
        log.models_used.insert(m.model.clone(), m.version.clone());
    }
    log.models.extend(scored.models.iter().cloned());
    log.stage(
        "score",
        t,
        scored.manifest.rows,
        format!("scores/customer_risk/{partition}"),
    );
    Ok((scored, reused))
}

/// Score every customer as of `as_of` with the champion models (no ingest, no
/// training): publishes `scores/customer_risk/as_of=D/`, batch by batch.
pub async fn score_customers(settings: &Settings, as_of: NaiveDate) -> Result<ScoreRun> {
    let run_id = new_run_id();
    let span = tracing::info_span!("score_customers", run_id = %run_id, as_of = %as_of);
    writing(
        settings,
        "score",
        &run_id,
        as_of,
        vec![],
        async |ctx, log| {
            let champions = champions(ctx, log, as_of).await?;
            // The staged tables give each model's population at D (and the features, when
            // D has none published yet).
            ctx.register_staged().await?;
            within_data(ctx, log, as_of).await?;
            let (scored, features_reused) =
                score_stage(ctx, log, as_of, champions, None, true).await?;
            Ok(ScoreRun {
                run_id: ctx.run_id().to_owned(),
                as_of,
                features_reused,
                models: scored
                    .models
                    .iter()
                    .map(|m| (m.model.clone(), m.version.clone()))
                    .collect(),
                table: TableReport::of(&ctx.wh, &scored.manifest),
                lifecycle_stages: scored.counts.0,
                shopper_types: scored.counts.1,
                risk_tiers: scored.counts.2,
                drift: scored.drift,
            })
        },
    )
    .instrument(span)
    .await
}

/// What `retain actions` did.
#[derive(Debug, Clone, Serialize)]
pub struct ActionsRun {
    pub run_id: String,
    pub as_of: NaiveDate,
    pub policy: String,
    pub table: TableReport,
    pub summary: PolicySummary,
}

/// The next-best-action stage, recorded.
async fn actions_stage(
    ctx: &mut Ctx,
    log: &mut RunLog,
    as_of: NaiveDate,
    policy: &Policy,
) -> Result<(TableReport, PolicySummary)> {
    let t = Instant::now();
    let partition = format!("as_of={as_of}");
    let decided = actions::next_best_action(ctx, as_of, &partition, policy).await?;
    let table = TableReport::of(&ctx.wh, &decided.manifest);
    log.published(&ctx.wh, [&decided.manifest]);
    log.actions = Some(decided.record);
    log.stage(
        "next best action",
        t,
        decided.manifest.rows,
        format!("scores/next_best_action/{partition}"),
    );
    Ok((table, decided.summary))
}

/// Decide the next best actions as of `as_of` from the published customer_risk and
/// features of that date (re-deciding after a policy edit needs no re-scoring):
/// publishes `scores/next_best_action/as_of=D/`.
pub async fn decide_actions(settings: &Settings, as_of: NaiveDate) -> Result<ActionsRun> {
    let run_id = new_run_id();
    let span = tracing::info_span!("decide_actions", run_id = %run_id, as_of = %as_of);
    writing(
        settings,
        "actions",
        &run_id,
        as_of,
        vec![],
        async |ctx, log| {
            let policy = load_policy(settings)?;
            require_scores(ctx, as_of).await?;
            ctx.register_staged().await?;
            let (table, summary) = actions_stage(ctx, log, as_of, &policy).await?;
            Ok(ActionsRun {
                run_id: ctx.run_id().to_owned(),
                as_of,
                policy: policy.origin.clone(),
                table,
                summary,
            })
        },
    )
    .instrument(span)
    .await
}

/// Compare treated and control customers of the next-best-action partition as of
/// `as_of` on the completed orders staged since (run `retain ingest` first to stage
/// them).
pub async fn evaluate_actions(
    settings: &Settings,
    as_of: NaiveDate,
    horizon_days: Option<u32>,
) -> Result<ActionEvaluation> {
    let mut ctx = reading(settings).await?;
    let horizon = match horizon_days {
        Some(h) => h,
        None => load_policy(settings)?.evaluation.horizon_days,
    };
    actions::evaluate(&mut ctx, as_of, horizon).await
}

/// Run the pipeline's stages (`settings.pipeline.stages`, in pipeline order) as of
/// `as_of`. A stage that is not run is not redone: the stages after it read what earlier
/// runs published (the staged tables, the features as of D when published, the
/// champions, the scores).
pub async fn run(settings: &Settings, as_of: NaiveDate) -> Result<RunReport> {
    let stages = settings.pipeline.stages.clone();
    // A policy file that does not parse fails the run before any work, not after it.
    let policy = if stages.contains(&Stage::Actions) {
        Some(load_policy(settings)?)
    } else {
        None
    };
    let run_id = new_run_id();
    let span = tracing::info_span!("run", run_id = %run_id, as_of = %as_of);
    writing(settings, "run", &run_id, as_of, stages, async |ctx, log| {
        run_stages(ctx, log, as_of, policy.as_ref()).await
    })
    .instrument(span)
    .await
}

/// The stages of [`run`]. Each is recorded as it finishes, so a failed run's record
/// keeps the stages before the failure.
async fn run_stages(
    ctx: &mut Ctx,
    log: &mut RunLog,
    as_of: NaiveDate,
    policy: Option<&Policy>,
) -> Result<RunReport> {
    let stages = ctx.settings.pipeline.stages.clone();
    let selected = |s: Stage| stages.contains(&s);

    // Ingest, or the staged tables an earlier run published.
    let ingest = if selected(Stage::Ingest) {
        ingest_stage(ctx, log)
            .instrument(stage_span("ingest"))
            .await?
    } else {
        ctx.register_staged().await?;
        Vec::new()
    };
    // Every later stage describes the shop as of D: D must lie within the data.
    if stages.iter().any(|s| *s != Stage::Ingest) {
        within_data(ctx, log, as_of).await?;
    }

    // Features as of the scoring date.
    if selected(Stage::Features) {
        features_stage(ctx, log, as_of, Instant::now())
            .instrument(stage_span("features"))
            .await?;
    }

    // Customer-lifetime models: the fit the features as of D used, registered with its
    // checks. A shop the models cannot describe (nobody buys twice) gets NULL CLV
    // features and no registry entry, not a failed run.
    let clv_report = if selected(Stage::Clv) && ctx.settings.pipeline.clv.enabled {
        async {
            let t = Instant::now();
            Ok::<_, Error>(match ctx.clv_fit(as_of).await?.1 {
                Ok(_) => {
                    let r = clv::register(ctx, as_of).await?;
                    let detail = format!("models/clv/{}", r.version);
                    log.stage("clv", t, r.model.summary.customers as u64, detail);
                    Some(r)
                }
                Err(reason) => {
                    log.stage("clv", t, 0, format!("not fitted: {reason}"));
                    None
                }
            })
        }
        .instrument(stage_span("clv"))
        .await?
    } else {
        None
    };

    // Labels + training, per model.
    let mut models = Vec::new();
    if selected(Stage::Train) {
        let pipeline = &ctx.settings.pipeline;
        let specs_dir = pipeline.models_dir.as_deref();
        let churn_spec = ModelSpec::load(&pipeline.models.churn, specs_dir)?;
        let repeat_spec = ModelSpec::load(&pipeline.models.repeat_purchase, specs_dir)?;
        for spec in [&churn_spec, &repeat_spec] {
            let span = stage_span(&format!("train {}", spec.name));
            let out = train_stage(ctx, log, spec, as_of, Promote::IfBetter)
                .instrument(span)
                .await?;
            models.push(out.report);
        }
    }

    // Score, with the champions (hash-verified), which may be older versions when the
    // new ones did not beat them.
    let mut scored = None;
    if selected(Stage::Score) {
        let clv_version = clv_report.as_ref().map(|r| r.version.clone());
        let (s, _) = async {
            let champions = champions(ctx, log, as_of).await?;
            score_stage(ctx, log, as_of, champions, clv_version, false).await
        }
        .instrument(stage_span("score"))
        .await?;
        scored = Some(s);
    }

    // Next best action, from this run's scores or those published for D.
    let mut summary = None;
    if let Some(policy) = policy.filter(|_| selected(Stage::Actions)) {
        let scored_now = scored.is_some();
        let s = async {
            if !scored_now {
                require_scores(ctx, as_of).await?;
            }
            Ok::<_, Error>(actions_stage(ctx, log, as_of, policy).await?.1)
        }
        .instrument(stage_span("next best action"))
        .await?;
        summary = Some(s);
    }

    let (counts, drift) = match scored {
        Some(s) => (s.counts, s.drift),
        None => (Counts::default(), Vec::new()),
    };
    Ok(RunReport {
        run_id: ctx.run_id().to_owned(),
        as_of,
        warehouse: ctx.wh.root.url(),
        stages: log.stages.clone(),
        ingest,
        models,
        clv: clv_report,
        // A copy: the run record, written when the command ends, lists them too.
        tables: log.tables.clone(),
        lifecycle_stages: counts.0,
        shopper_types: counts.1,
        risk_tiers: counts.2,
        policy: summary,
        drift,
    })
}

/// The span a stage of `retain run` runs in: every event of the stage (files read,
/// partitions published, its `stage finished` with rows and elapsed_ms) carries it,
/// inside the run's span (run_id, as_of).
fn stage_span(name: &str) -> tracing::Span {
    tracing::info_span!("stage", stage = name)
}
