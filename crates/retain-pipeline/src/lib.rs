//! The pipeline: ingest → features → labels → train → score → next best action, each a
//! job that reads published tables and publishes tables under one warehouse.
//!
//! SQL jobs run through [`retain_sql::Engine`]; Rust here does only the glue SQL cannot:
//! registering sources and published partitions, splitting staged rows from quarantined
//! ones, choosing snapshot dates, fitting models and scoring.

mod actions;
pub mod clv;
pub mod contract;
mod features;
mod ingest;
mod model_report;
pub mod registry;
pub mod run_report;
mod runs;
pub mod schedule;
#[cfg(test)]
mod test_support;
mod train;
pub mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};
use futures::StreamExt;
use retain_config::{ModelSpec, PipelineConfig, Policy, Stage};
use retain_model::ModelArtifact;
use retain_sql::{Engine, EngineOptions, SqlSource, toml_value};
use retain_store::{InputEntry, Location, Manifest, PublishMeta, Warehouse};
use serde::Serialize;
use tracing::Instrument;

pub use actions::{ActionEffect, ActionEvaluation, load_policy, next_best_action_schema};
pub use ingest::{FileAccount, IngestReport};
pub use retain_policy::Summary as PolicySummary;
pub use retain_score::DriftRow;
pub use runs::{
    ActionRecord, ActionsRecord, DriftInput, DriftRecord, MODEL_SCORED, MODEL_TRAINED, ModelRecord,
    RUN_FORMAT, RunRecord, ShownRun, SourceRecord, runs_list, runs_show,
};
pub use train::{ModelReport, Promote};

/// Errors of a pipeline run. Each says which stage and table it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] retain_config::Error),
    #[error(transparent)]
    Store(#[from] retain_store::Error),
    #[error(transparent)]
    Sql(#[from] retain_sql::Error),
    #[error(transparent)]
    Model(#[from] retain_model::Error),
    #[error(transparent)]
    Score(#[from] retain_score::Error),
    /// A raw source could not be read.
    #[error("source `{table}` at `{location}`: {message}")]
    Source {
        table: String,
        location: String,
        message: String,
    },
    /// A staging query does not produce the canonical table.
    #[error("staging SQL `{origin}` for `{table}` {message}")]
    Contract {
        table: String,
        origin: String,
        message: String,
    },
    /// A stage's input or output breaks an assumption (empty training set, ...).
    #[error("{stage}: {message}")]
    Stage {
        stage: &'static str,
        message: String,
    },
    /// A configuration file (pipeline, model spec, policy) or command line that parsed
    /// but does not fit the data: a feature that is not a column, a policy expression
    /// that is not a boolean, a backfill that ends before it starts. Exit code 2.
    #[error("{stage}: {message}")]
    Invalid {
        stage: &'static str,
        message: String,
    },
    /// A source breached the quarantine threshold: nothing was published.
    #[error(
        "data quality: {message}; nothing was published (see docs/pipeline-file.md, [quality])"
    )]
    Quality { message: String },
    #[error("{context}: {source}")]
    DataFusion {
        context: String,
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn df_err(
    context: impl Into<String>,
) -> impl FnOnce(datafusion::error::DataFusionError) -> Error {
    let context = context.into();
    move |e| Error::DataFusion {
        context,
        source: Box::new(e),
    }
}

/// Everything a run needs, resolved from the pipeline file and the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub pipeline: PipelineConfig,
    /// Warehouse URL or path (the pipeline's, or the `--out` override).
    pub warehouse: String,
    /// The scoring date: features use facts strictly before it.
    pub as_of: NaiveDate,
    /// Written into manifests and score rows.
    pub run_id: String,
    /// Told the rows of each partition as they are written (the CLI's progress bars);
    /// `None` reports nothing.
    pub progress: Option<Arc<dyn retain_store::Progress>>,
}

impl Settings {
    /// Resolve settings: `warehouse` and `as_of` override the pipeline file's.
    pub fn resolve(
        pipeline: PipelineConfig,
        warehouse: Option<String>,
        as_of: Option<NaiveDate>,
    ) -> Result<Self> {
        let as_of = as_of.or(pipeline.as_of).ok_or_else(|| Error::Stage {
            stage: "settings",
            message: "no as-of date: pass --as-of YYYY-MM-DD or set `as-of` in the pipeline file"
                .into(),
        })?;
        Ok(Self {
            warehouse: warehouse.unwrap_or_else(|| pipeline.warehouse.clone()),
            pipeline,
            as_of,
            run_id: new_run_id(),
            progress: None,
        })
    }
}

/// A run id: UTC start time plus a few random-ish bits, sortable and unique per run.
pub fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%dT%H%M%SZ"))
}

/// How long a stage took and what it produced.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StageReport {
    pub stage: String,
    pub elapsed: Duration,
    pub rows: u64,
    pub detail: String,
}

/// A published table, for the summary.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TableReport {
    pub table: String,
    pub partition: String,
    pub rows: u64,
    pub url: String,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub as_of: NaiveDate,
    pub warehouse: String,
    pub stages: Vec<StageReport>,
    pub ingest: Vec<IngestReport>,
    pub models: Vec<ModelReport>,
    /// The CLV models registered by this run; None when disabled or not identifiable.
    pub clv: Option<clv::ClvReport>,
    pub tables: Vec<TableReport>,
    pub lifecycle_stages: BTreeMap<String, u64>,
    pub shopper_types: BTreeMap<String, u64>,
    pub risk_tiers: BTreeMap<String, u64>,
    /// What the next-best-action policy decided: customers per action (`no_action`
    /// included), budget, controls, reasons; None when the run did not decide actions.
    pub policy: Option<PolicySummary>,
    /// Model inputs whose scored distribution moved away from the training data.
    pub drift: Vec<DriftRow>,
}

/// One run's shared state: engine, warehouse, SQL and the tables published so far.
pub(crate) struct Ctx {
    pub engine: Engine,
    pub wh: Warehouse,
    pub sql: SqlSource,
    pub settings: Settings,
    pub tables: Vec<TableReport>,
    /// Feature partitions published in this run (as-of dates).
    pub feature_dates: Vec<NaiveDate>,
    /// Canonical tables the shop does not have (registered empty): their features are
    /// NULL, not 0.
    pub absent: std::collections::BTreeSet<String>,
    /// The day of the latest staged fact, once a stage has asked (the staged tables do
    /// not change during a run).
    pub data_end: Option<Option<NaiveDate>>,
    /// This context holds the warehouse's write lock.
    pub locked: bool,
    /// For the run record (runs.rs): the command, when it started, what it did.
    pub command: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ingest_reports: Vec<IngestReport>,
    pub selected_stages: Vec<Stage>,
    pub stages: Vec<StageReport>,
    pub models_registered: BTreeMap<String, String>,
    pub models_used: BTreeMap<String, String>,
    /// For the run report: every scoring input against its training data, the models
    /// trained and scored with, the actions decided.
    pub drift: Option<DriftRecord>,
    pub model_records: Vec<ModelRecord>,
    pub actions: Option<ActionsRecord>,
    /// CLV summaries and fits by as-of date (a feature date and the run's registry entry
    /// share one fit).
    pub clv_fits: BTreeMap<
        NaiveDate,
        (
            Arc<clv::SummaryRows>,
            std::result::Result<clv::ClvModel, String>,
        ),
    >,
}

impl Ctx {
    /// A context with nothing published or recorded yet.
    pub(crate) fn new(engine: Engine, wh: Warehouse, sql: SqlSource, settings: Settings) -> Self {
        Ctx {
            engine,
            wh,
            sql,
            settings,
            tables: vec![],
            feature_dates: vec![],
            absent: Default::default(),
            data_end: None,
            locked: false,
            command: String::new(),
            started_at: chrono::Utc::now(),
            ingest_reports: Vec::new(),
            selected_stages: Vec::new(),
            stages: Vec::new(),
            models_registered: BTreeMap::new(),
            models_used: BTreeMap::new(),
            drift: None,
            model_records: Vec::new(),
            actions: None,
            clv_fits: BTreeMap::new(),
        }
    }

    pub fn df(&self) -> &SessionContext {
        self.engine.ctx()
    }

    /// End a writing command: write its run record (`runs/<run_id>.json`, with `error`
    /// when it failed) and its report (`runs/<run_id>.html`), and release the write lock
    /// (a failure is logged: the lock then goes stale and the next run takes it over).
    pub async fn close(&mut self, error: Option<String>) {
        if self.locked {
            self.write_record(error).await;
        }
        if std::mem::take(&mut self.locked)
            && let Err(e) = self.wh.unlock().await
        {
            tracing::warn!(error = %e, "could not release the warehouse lock");
        }
    }

    /// Record a publish for the summary.
    pub fn published(&mut self, m: &Manifest) {
        self.tables.push(TableReport {
            table: m.table.clone(),
            partition: m.partition.clone(),
            rows: m.rows,
            url: self
                .wh
                .root
                .url_of(&self.wh.partition_path(&m.table, &m.partition)),
        });
    }

    /// A DataFrame over exactly the files a published partition's manifest lists.
    pub async fn read_published(
        &self,
        table: &str,
        partition: &str,
    ) -> Result<(Manifest, DataFrame)> {
        let (manifest, urls) = self.wh.files(table, partition).await?;
        let df = self
            .df()
            .read_parquet(urls, ParquetReadOptions::default())
            .await
            .map_err(df_err(format!("reading {table}/{partition}")))?;
        Ok((manifest, df))
    }

    /// Register a published partition as a table name for SQL.
    pub async fn register_published(
        &self,
        name: &str,
        table: &str,
        partition: &str,
    ) -> Result<InputEntry> {
        let (manifest, df) = self.read_published(table, partition).await?;
        self.df()
            .deregister_table(name)
            .map_err(df_err("deregister"))?;
        self.df()
            .register_table(name, df.into_view())
            .map_err(df_err(format!("registering {name}")))?;
        Ok(InputEntry {
            location: self
                .wh
                .root
                .url_of(&self.wh.partition_path(table, partition)),
            bytes: None,
            version: Some(manifest.run_id),
        })
    }

    /// Register an empty table (a source the shop does not have).
    pub fn register_empty(&mut self, name: &str) -> Result<()> {
        self.absent.insert(name.to_owned());
        let schema = contract::schema(name).ok_or_else(|| Error::Stage {
            stage: "ingest",
            message: format!("no contract for `{name}`"),
        })?;
        self.register_schema(name, schema)
    }

    /// Register an empty table with `schema` as `name`: a source the shop lacks, or (in
    /// `retain validate`) what an earlier stage would have published.
    pub(crate) fn register_schema(&self, name: &str, schema: SchemaRef) -> Result<()> {
        let table = MemTable::try_new(schema, vec![vec![]]).map_err(df_err("empty table"))?;
        self.df()
            .deregister_table(name)
            .map_err(df_err("deregister"))?;
        self.df()
            .register_table(name, Arc::new(table))
            .map_err(df_err(format!("registering empty {name}")))?;
        Ok(())
    }
}

/// Convert TOML parameter values to SQL parameter values; arrays and tables are refused.
pub(crate) fn toml_params(
    values: &BTreeMap<String, toml::Value>,
    origin: &str,
) -> Result<BTreeMap<String, toml_value::Value>> {
    values
        .iter()
        .map(|(k, v)| {
            let value = match v {
                toml::Value::Integer(i) => toml_value::Value::Integer(*i),
                toml::Value::Float(f) => toml_value::Value::Float(*f),
                toml::Value::Boolean(b) => toml_value::Value::Boolean(*b),
                toml::Value::String(s) => toml_value::Value::String(s.clone()),
                toml::Value::Datetime(d) => {
                    let date = d.to_string().parse::<NaiveDate>().map_err(|_| {
                        param_err(k, origin, "only plain dates (YYYY-MM-DD) are supported")
                    })?;
                    toml_value::Value::Date(date)
                }
                toml::Value::Array(_) | toml::Value::Table(_) => {
                    return Err(param_err(
                        k,
                        origin,
                        "arrays and tables cannot be SQL parameters",
                    ));
                }
            };
            Ok((k.clone(), value))
        })
        .collect()
}

fn param_err(name: &str, origin: &str, message: &str) -> Error {
    Error::Stage {
        stage: "parameters",
        message: format!("parameter `{name}` for `{origin}`: {message}"),
    }
}

/// Set up a run that writes: the engine, the warehouse (its store options validated),
/// the SQL source, and the warehouse's write lock (`_lock.json`, docs/storage.md), then
/// removes what interrupted runs left aside. Every caller ends with [`Ctx::close`].
async fn open(settings: &Settings, command: &str) -> Result<Ctx> {
    let mut ctx = open_with(settings).await?;
    ctx.command = command.to_owned();
    let info =
        retain_store::LockInfo::here(&settings.run_id, command, Some(settings.as_of.to_string()));
    ctx.wh
        .lock(&info, settings.pipeline.lock_stale_after.0)
        .await?;
    ctx.locked = true;
    let removed = match ctx.wh.clean_leftovers().await {
        Ok(n) => n,
        Err(e) => {
            let e = Error::from(e);
            ctx.close(Some(one_line(&e))).await;
            return Err(e);
        }
    };
    if removed > 0 {
        tracing::info!(removed, "removed files an interrupted run left aside");
    }
    Ok(ctx)
}

/// Run `body` on a writing context ([`open`]) and release the lock whatever it returns.
macro_rules! with_lock {
    ($settings:expr, $command:expr, |$ctx:ident| $body:block) => {{
        let mut $ctx = open($settings, $command).await?;
        let result = async { $body }.await;
        $ctx.close(result.as_ref().err().map(|e| one_line(e))).await;
        result
    }};
}

/// An error's chain in one line, for run records.
fn one_line(e: &Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        source = inner.source();
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`open`] without the lock, for readers (no clean-up: another run may be writing).
async fn open_with(settings: &Settings) -> Result<Ctx> {
    let engine_cfg = &settings.pipeline.engine;
    let engine = Engine::embedded(&EngineOptions {
        memory_limit: engine_cfg.memory_limit.0 as usize,
        spill_dir: engine_cfg.spill_dir.clone(),
        target_partitions: engine_cfg.target_partitions,
    })?;
    let storage = &settings.pipeline.storage;
    let options = retain_store::StoreOptions {
        options: storage.options.clone(),
        max_retries: storage.max_retries,
        retry_timeout: storage.retry_timeout.0,
        connect_timeout: storage.connect_timeout.0,
        timeout: storage.timeout.0,
    };
    options.validate()?;
    let root = Location::parse_with(&settings.warehouse, Arc::new(options))?;
    engine
        .ctx()
        .register_object_store(&root.store_url, root.store.clone());
    let mut wh = Warehouse::new(root, settings.run_id.clone())
        .with_schema_versions(contract::schema_version);
    if let Some(p) = &settings.progress {
        wh = wh.with_progress(p.clone());
    }
    Ok(Ctx::new(
        engine,
        wh,
        SqlSource {
            dir: settings.pipeline.sql_dir.clone(),
        },
        settings.clone(),
    ))
}

/// Run only the ingest stage: stage every source and publish `staged/` and
/// `quarantine/` (all or nothing).
#[tracing::instrument(skip_all, fields(run_id = %settings.run_id, as_of = %settings.as_of))]
pub async fn ingest(settings: Settings) -> Result<Vec<IngestReport>> {
    with_lock!(&settings, "ingest", |ctx| { ingest_stage(&mut ctx).await })
}

/// Ingest, recorded as the `ingest` stage of the run record (`retain run` times its stages
/// itself).
async fn ingest_stage(ctx: &mut Ctx) -> Result<Vec<IngestReport>> {
    let t = Instant::now();
    let reports = ingest::run(ctx).await?;
    let staged = reports.iter().map(|r| r.staged).sum();
    let quarantined: u64 = reports.iter().map(|r| r.quarantined).sum();
    let detail = format!("{} sources, {quarantined} rows quarantined", reports.len());
    ctx.stage_done("ingest", t, staged, detail);
    Ok(reports)
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

/// Ingest, then publish `features/customer/as_of=D/` for each date (the features stage
/// on its own, for analysts and for the feature tests).
#[tracing::instrument(skip_all, fields(run_id = %settings.run_id))]
pub async fn features(settings: Settings, dates: &[NaiveDate]) -> Result<FeaturesReport> {
    with_lock!(&settings, "features", |ctx| {
        let ingest = ingest_stage(&mut ctx).await?;
        let first = ctx.tables.len();
        for date in dates {
            let t = Instant::now();
            let partition = ctx.features(*date).await?;
            let rows = ctx.tables.last().map_or(0, |p| p.rows);
            ctx.stage_done("features", t, rows, partition);
        }
        Ok(FeaturesReport {
            ingest,
            tables: ctx.tables[first..].to_vec(),
            absent_sources: ctx.absent.iter().cloned().collect(),
        })
    })
}

/// What `retain clv fit` did.
#[derive(Debug, Clone, Serialize)]
pub struct ClvRun {
    pub ingest: Vec<IngestReport>,
    pub report: clv::ClvReport,
}

/// Ingest, fit the customer-lifetime models as of the settings' date, check them on a
/// holdout period and register them as the champion of `models/clv/`.
#[tracing::instrument(skip_all, fields(run_id = %settings.run_id, as_of = %settings.as_of))]
pub async fn clv_fit(settings: Settings) -> Result<ClvRun> {
    with_lock!(&settings, "clv fit", |ctx| {
        let ingest = ingest_stage(&mut ctx).await?;
        let t = Instant::now();
        let report = clv::register(&mut ctx, settings.as_of).await?;
        let detail = format!("models/clv/{}", report.version);
        ctx.stage_done("clv", t, report.model.summary.customers as u64, detail);
        Ok(ClvRun { ingest, report })
    })
}

/// A registered CLV model version (the champion when `version` is None).
pub async fn clv_show(settings: Settings, version: Option<&str>) -> Result<clv::ClvReport> {
    // Read only: no ingest, and nothing another run may be writing is touched.
    let ctx = open_with(&settings).await?;
    clv::load(&ctx, version).await
}

/// What `retain train` did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainRun {
    pub ingest: Vec<IngestReport>,
    /// One per spec, in the order given.
    pub models: Vec<ModelReport>,
}

/// Ingest, then train, evaluate and register each spec on the same data (the same
/// snapshots and feature partitions), applying `promote` to each in turn: with
/// [`Promote::IfBetter`] the best of them that beats the champion ends up champion.
#[tracing::instrument(skip_all, fields(run_id = %settings.run_id, as_of = %settings.as_of))]
pub async fn train_models(
    settings: Settings,
    specs: &[ModelSpec],
    promote: Promote,
) -> Result<TrainRun> {
    with_lock!(&settings, "train", |ctx| {
        let ingest = ingest_stage(&mut ctx).await?;
        let mut models = Vec::new();
        for spec in specs {
            let t = Instant::now();
            let report = train::train(&mut ctx, spec, promote).await?.1;
            let rows = report.training_rows + report.validation_rows;
            ctx.stage_done(
                &format!("train {}", spec.name),
                t,
                rows,
                train_detail(&report),
            );
            models.push(report);
        }
        Ok(TrainRun { ingest, models })
    })
}

/// A registered model and its versions, for `retain models list`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelVersions {
    pub model: String,
    pub champion: Option<registry::Champion>,
    pub versions: Vec<registry::VersionManifest>,
}

/// Every registered model with its versions (read only).
pub async fn models_list(settings: Settings) -> Result<Vec<ModelVersions>> {
    let ctx = open_with(&settings).await?;
    let mut out = Vec::new();
    for model in registry::models(&ctx.wh).await? {
        out.push(ModelVersions {
            champion: registry::champion(&ctx.wh, &model).await?,
            versions: registry::versions(&ctx.wh, &model).await?,
            model,
        });
    }
    Ok(out)
}

/// One registered version, every file hash-verified, for `retain models show`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelVersion {
    pub manifest: registry::VersionManifest,
    pub champion: Option<registry::Champion>,
    /// `metrics.json`.
    pub metrics: serde_json::Value,
    /// Where the version's files (and report.html) are.
    pub location: String,
}

/// A registered version (the champion when `version` is None), read only.
pub async fn models_show(
    settings: Settings,
    model: &str,
    version: Option<&str>,
) -> Result<ModelVersion> {
    let ctx = open_with(&settings).await?;
    let champion = registry::champion(&ctx.wh, model).await?;
    let version = match (version, &champion) {
        (Some(v), _) => v.to_owned(),
        (None, Some(c)) => c.version.clone(),
        (None, None) => {
            return Err(Error::Stage {
                stage: "registry",
                message: format!(
                    "model `{model}` has no champion; name a version (see `retain models list`)"
                ),
            });
        }
    };
    let manifest = registry::manifest(&ctx.wh, model, &version).await?;
    for file in manifest.files.keys() {
        registry::read_verified(&ctx.wh, model, &version, file).await?;
    }
    let metrics = registry::read_verified(&ctx.wh, model, &version, "metrics.json").await?;
    let metrics = serde_json::from_slice(&metrics).map_err(|e| Error::Stage {
        stage: "registry",
        message: format!("models/{model}/{version}/metrics.json: {e}"),
    })?;
    Ok(ModelVersion {
        location: ctx
            .wh
            .root
            .url_of(&ctx.wh.root.child(&format!("models/{model}/{version}"))),
        manifest,
        champion,
        metrics,
    })
}

/// Make `version` the champion of `model` (after verifying its files).
pub async fn models_promote(
    settings: Settings,
    model: &str,
    version: &str,
) -> Result<registry::Champion> {
    let ctx = open_with(&settings).await?;
    registry::promote(&ctx.wh, model, version, "promoted by hand").await
}

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
    pub drift: Vec<DriftRow>,
}

/// Register the staged tables a previous ingest published (no re-ingest); a source the
/// pipeline does not configure is registered empty. A configured one that was never
/// staged is an error that says which command stages it.
async fn register_staged(ctx: &mut Ctx) -> Result<()> {
    for table in contract::TABLES {
        if ctx.settings.pipeline.sources.contains_key(table) {
            let staged = format!("staged/{table}");
            ctx.register_published(table, &staged, "")
                .await
                .map_err(|e| match e {
                    Error::Store(retain_store::Error::NotPublished { .. }) => Error::Stage {
                        stage: "staged tables",
                        message: format!(
                            "{staged} is not in {}: run `retain ingest` (or `retain run`) first",
                            ctx.wh.root.url()
                        ),
                    },
                    e => e,
                })?;
        } else {
            ctx.register_empty(table)?;
        }
    }
    Ok(())
}

/// The features as of the settings' date: the published partition when there is one,
/// else computed from the staged tables (registered first). Returns the partition and
/// whether it was reused.
async fn features_as_of(ctx: &mut Ctx) -> Result<(String, bool)> {
    let as_of = ctx.settings.as_of;
    let partition = format!("as_of={as_of}");
    if ctx.wh.is_published("features/customer", &partition).await? {
        Ok((partition, true))
    } else {
        Ok((ctx.features(as_of).await?, false))
    }
}

/// The CLV version whose fit gave the features as of D, when the registry has it.
async fn clv_version_as_of(ctx: &Ctx) -> Option<String> {
    if !ctx.settings.pipeline.clv.enabled {
        return None;
    }
    match clv::load(ctx, None).await {
        Ok(r) if r.model.as_of == ctx.settings.as_of => Some(r.version),
        _ => None,
    }
}

/// The published customer_risk as of D, which deciding actions reads; its absence is an
/// error naming the command that publishes it.
async fn require_scores(ctx: &Ctx) -> Result<()> {
    let as_of = ctx.settings.as_of;
    let partition = format!("as_of={as_of}");
    if ctx
        .wh
        .is_published("scores/customer_risk", &partition)
        .await?
    {
        return Ok(());
    }
    Err(Error::Stage {
        stage: "next best action",
        message: format!(
            "no scores/customer_risk/{partition} in {}: run `retain score --as-of {as_of}` first",
            ctx.wh.root.url(),
        ),
    })
}

/// The champions of the pipeline's churn and repeat-purchase models (hash-verified).
async fn champions(ctx: &Ctx) -> Result<[ModelArtifact; 2]> {
    let specs_dir = ctx.settings.pipeline.models_dir.as_deref();
    let mut out = Vec::new();
    for name in [
        &ctx.settings.pipeline.models.churn,
        &ctx.settings.pipeline.models.repeat_purchase,
    ] {
        let spec = ModelSpec::load(name, specs_dir)?;
        out.push(registry::load_champion(&ctx.wh, &spec.name).await?);
    }
    let [churn, repeat]: [ModelArtifact; 2] = out.try_into().map_err(|_| Error::Stage {
        stage: "score",
        message: "two models expected".into(),
    })?;
    Ok([churn, repeat])
}

/// Score every customer as of D with the champion models (no ingest, no training):
/// publishes `scores/customer_risk/as_of=D/`, batch by batch.
#[tracing::instrument(skip_all, fields(run_id = %settings.run_id, as_of = %settings.as_of))]
pub async fn score_customers(settings: Settings) -> Result<ScoreRun> {
    let mut ctx = open(&settings, "score").await?;
    let result = score_customers_in(&mut ctx, &settings).await;
    ctx.close(result.as_ref().err().map(one_line)).await;
    result
}

async fn score_customers_in(ctx: &mut Ctx, settings: &Settings) -> Result<ScoreRun> {
    let [churn, repeat] = champions(ctx).await?;
    // The staged tables give each model's population at D (and the features, when D has
    // none published yet).
    register_staged(ctx).await?;
    let t = Instant::now();
    let (partition, features_reused) = features_as_of(ctx).await?;
    if !features_reused {
        let rows = ctx.tables.last().map_or(0, |p| p.rows);
        ctx.stage_done("features", t, rows, partition.clone());
    }
    let clv_version = clv_version_as_of(ctx).await;
    let t = Instant::now();
    let scored = score(ctx, &partition, &churn, &repeat, clv_version).await?;
    let table = ctx.tables.last().cloned().ok_or_else(|| Error::Stage {
        stage: "score",
        message: "nothing published".into(),
    })?;
    ctx.stage_done(
        "score",
        t,
        table.rows,
        format!("scores/customer_risk/{partition}"),
    );
    Ok(ScoreRun {
        run_id: settings.run_id.clone(),
        as_of: settings.as_of,
        features_reused,
        models: BTreeMap::from([
            (churn.name.clone(), churn.version.clone()),
            (repeat.name.clone(), repeat.version.clone()),
        ]),
        table,
        lifecycle_stages: scored.counts.0,
        shopper_types: scored.counts.1,
        risk_tiers: scored.counts.2,
        drift: scored.drift,
    })
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

/// Decide the next best actions as of D from the published customer_risk and features
/// of D (re-deciding after a policy edit needs no re-scoring): publishes
/// `scores/next_best_action/as_of=D/`.
#[tracing::instrument(skip_all, fields(run_id = %settings.run_id, as_of = %settings.as_of))]
pub async fn decide_actions(settings: Settings) -> Result<ActionsRun> {
    let mut ctx = open(&settings, "actions").await?;
    let result = decide_actions_in(&mut ctx, &settings).await;
    ctx.close(result.as_ref().err().map(one_line)).await;
    result
}

async fn decide_actions_in(ctx: &mut Ctx, settings: &Settings) -> Result<ActionsRun> {
    let policy = load_policy(settings)?;
    let partition = format!("as_of={}", settings.as_of);
    require_scores(ctx).await?;
    register_staged(ctx).await?;
    let t = Instant::now();
    let (_, summary) = actions::next_best_action(ctx, &partition, &policy).await?;
    let table = ctx.tables.last().cloned().ok_or_else(|| Error::Stage {
        stage: "next best action",
        message: "nothing published".into(),
    })?;
    let detail = format!("scores/next_best_action/{partition}");
    ctx.stage_done("next best action", t, table.rows, detail);
    Ok(ActionsRun {
        run_id: settings.run_id.clone(),
        as_of: settings.as_of,
        policy: policy.origin.clone(),
        table,
        summary,
    })
}

/// Compare treated and control customers of the next-best-action partition as of D on
/// the completed orders staged since (run `retain ingest` first to stage them).
pub async fn evaluate_actions(
    settings: Settings,
    horizon_days: Option<u32>,
) -> Result<ActionEvaluation> {
    let mut ctx = open_with(&settings).await?;
    let horizon = match horizon_days {
        Some(h) => h,
        None => load_policy(&settings)?.evaluation.horizon_days,
    };
    actions::evaluate(&mut ctx, horizon).await
}

/// Run the pipeline's stages (`settings.pipeline.stages`, in pipeline order). A stage
/// that is not run is not redone: the stages after it read what earlier runs published
/// (the staged tables, the features as of D when published, the champions, the scores).
#[tracing::instrument(skip_all, fields(run_id = %settings.run_id, as_of = %settings.as_of))]
pub async fn run(settings: Settings) -> Result<RunReport> {
    let stages = &settings.pipeline.stages;
    // A policy file that does not parse fails the run before any work, not after it.
    let policy = if stages.contains(&Stage::Actions) {
        Some(load_policy(&settings)?)
    } else {
        None
    };
    let mut ctx = open(&settings, "run").await?;
    ctx.selected_stages = stages.clone();
    let result = run_in(&mut ctx, &settings, policy.as_ref()).await;
    ctx.close(result.as_ref().err().map(one_line)).await;
    result
}

async fn run_in(ctx: &mut Ctx, settings: &Settings, policy: Option<&Policy>) -> Result<RunReport> {
    let selected = |s: Stage| settings.pipeline.stages.contains(&s);
    // Each stage is recorded as it finishes (Ctx::stage_done), so a failed run's record
    // keeps the stages before the failure.
    let as_of = settings.as_of;
    let partition = format!("as_of={as_of}");

    // Ingest, or the staged tables an earlier run published.
    let ingest = if selected(Stage::Ingest) {
        ingest_stage(ctx).instrument(stage_span("ingest")).await?
    } else {
        register_staged(ctx).await?;
        Vec::new()
    };

    // Features as of the scoring date.
    if selected(Stage::Features) {
        async {
            let t = Instant::now();
            ctx.features(as_of).await?;
            let feature_rows = ctx.tables.last().map(|t| t.rows).unwrap_or(0);
            ctx.stage_done("features", t, feature_rows, partition.clone());
            Ok::<_, Error>(())
        }
        .instrument(stage_span("features"))
        .await?;
    }

    // Customer-lifetime models: the fit the features as of D used, registered with its
    // checks. A shop the models cannot describe (nobody buys twice) gets NULL CLV
    // features and no registry entry, not a failed run.
    let clv_report = if selected(Stage::Clv) && settings.pipeline.clv.enabled {
        async {
            let t = Instant::now();
            Ok::<_, Error>(match ctx.clv_fit(as_of).await?.1 {
                Ok(_) => {
                    let r = clv::register(ctx, as_of).await?;
                    ctx.stage_done(
                        "clv",
                        t,
                        r.model.summary.customers as u64,
                        format!("models/clv/{}", r.version),
                    );
                    Some(r)
                }
                Err(reason) => {
                    ctx.stage_done("clv", t, 0, format!("not fitted: {reason}"));
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
        let specs_dir = settings.pipeline.models_dir.as_deref();
        let churn_spec = ModelSpec::load(&settings.pipeline.models.churn, specs_dir)?;
        let repeat_spec = ModelSpec::load(&settings.pipeline.models.repeat_purchase, specs_dir)?;
        for spec in [&churn_spec, &repeat_spec] {
            let name = format!("train {}", spec.name);
            let span = stage_span(&name);
            let report = async {
                let t = Instant::now();
                let (_, report) = train::train(ctx, spec, Promote::IfBetter).await?;
                ctx.stage_done(
                    &name,
                    t,
                    report.training_rows + report.validation_rows,
                    train_detail(&report),
                );
                Ok::<_, Error>(report)
            }
            .instrument(span)
            .await?;
            models.push(report);
        }
    }

    // Score, with the champions (hash-verified), which may be older versions when the
    // new ones did not beat them.
    let mut scored = None;
    if selected(Stage::Score) {
        let s = async {
            let [churn, repeat] = champions(ctx).await?;
            let t = Instant::now();
            // The features as of D: this run's, else published, else computed now.
            let (partition, _) = features_as_of(ctx).await?;
            let clv_version = match &clv_report {
                Some(r) => Some(r.version.clone()),
                None => clv_version_as_of(ctx).await,
            };
            let s = score(ctx, &partition, &churn, &repeat, clv_version).await?;
            ctx.stage_done(
                "score",
                t,
                s.manifest.rows,
                format!("scores/customer_risk/{partition}"),
            );
            Ok::<_, Error>(s)
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
            let t = Instant::now();
            if !scored_now {
                require_scores(ctx).await?;
            }
            let (nba, s) = actions::next_best_action(ctx, &partition, policy).await?;
            ctx.stage_done(
                "next best action",
                t,
                nba.rows,
                format!("scores/next_best_action/{partition}"),
            );
            Ok::<_, Error>(s)
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
        run_id: settings.run_id.clone(),
        as_of,
        warehouse: ctx.wh.root.url(),
        stages: ctx.stages.clone(),
        ingest,
        models,
        clv: clv_report,
        // A copy: the run record, written when the context closes, lists them too.
        tables: ctx.tables.clone(),
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

type Counts = (
    BTreeMap<String, u64>,
    BTreeMap<String, u64>,
    BTreeMap<String, u64>,
);

/// Count the values of a string column.
fn count_values(counts: &mut BTreeMap<String, u64>, batch: &RecordBatch, column: &str) {
    if let Some(col) = batch
        .column_by_name(column)
        .and_then(|c| c.as_string_opt::<i32>())
    {
        for v in col.iter().flatten() {
            *counts.entry(v.to_owned()).or_default() += 1;
        }
    }
}

/// Columns scoring adds to the features: the churn / repeat-purchase champion's
/// `population` filter (its label SQL's population is a set of ids beside).
const POPULATION_FLAGS: [&str; 2] = ["__churn_population", "__repeat_population"];

/// What the scoring stage published and saw.
pub(crate) struct Scored {
    manifest: Manifest,
    counts: Counts,
    drift: Vec<DriftRow>,
}

async fn score(
    ctx: &mut Ctx,
    partition: &str,
    churn: &ModelArtifact,
    repeat: &ModelArtifact,
    clv_version: Option<String>,
) -> Result<Scored> {
    let started = Instant::now();
    let (fm, df) = ctx.read_published("features/customer", partition).await?;
    let available: Vec<String> = fm.schema.iter().map(|c| c.name.clone()).collect();
    churn.check_features(&available)?;
    repeat.check_features(&available)?;
    // Each champion's training population at D (its own spec, from the registry), so
    // drift compares like with like.
    let mut df = df;
    let mut populations = Vec::new();
    for (model, flag) in [(churn, POPULATION_FLAGS[0]), (repeat, POPULATION_FLAGS[1])] {
        let text =
            registry::read_verified(&ctx.wh, &model.name, &model.version, "spec.toml").await?;
        let spec = ModelSpec::from_toml(
            &String::from_utf8_lossy(&text),
            &format!("models/{}/{}/spec.toml", model.name, model.version),
        )?;
        let (ids, with_flag) = train::population(ctx, &spec, ctx.settings.as_of, df, flag).await?;
        populations.push(ids);
        df = with_flag;
    }
    let score_cfg = ctx.settings.pipeline.score.clone();
    // Risk tiers: fixed thresholds, or the thresholds that cut the configured shares of
    // this date's scored customers (a first pass over the features, in constant memory).
    let (high_risk, medium_risk) = match score_cfg.tiers {
        retain_config::TierMethod::Thresholds => (score_cfg.high_risk, score_cfg.medium_risk),
        retain_config::TierMethod::Quantiles => {
            let mut hist = retain_score::ProbabilityHistogram::default();
            let (_, first) = ctx.read_published("features/customer", partition).await?;
            let mut stream = first
                .execute_stream()
                .await
                .map_err(df_err("reading features for the risk quantiles"))?;
            while let Some(b) = stream.next().await {
                let b = b.map_err(df_err("reading features for the risk quantiles"))?;
                for p in retain_score::churn_probabilities(&b, churn)? {
                    hist.add(p);
                }
            }
            let high = hist.top_threshold(score_cfg.high_share);
            let medium = hist.top_threshold(score_cfg.high_share + score_cfg.medium_share);
            tracing::info!(high, medium, "risk tier thresholds from the quantiles");
            (high, medium.min(high))
        }
    };
    let opts = retain_score::ScoreOptions {
        high_risk,
        medium_risk,
        top_reasons: score_cfg.top_reasons,
        run_id: ctx.settings.run_id.clone(),
        clv_version: clv_version.clone(),
    };
    let thresholds = retain_score::DriftThresholds {
        shift: score_cfg.drift_shift,
        null_share: score_cfg.drift_null_share,
    };
    let stream = df
        .execute_stream()
        .await
        .map_err(df_err("reading features for scoring"))?;
    let mut counts: Counts = Default::default();
    let mut drift = retain_score::Drift::new(&[churn.features().len(), repeat.features().len()]);
    // Batch by batch: memory does not grow with the number of customers.
    let scored = stream.map(|b| {
        let b = b.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
        let ids = b
            .column_by_name("customer_id")
            .and_then(|c| c.as_string_opt::<i32>());
        let mask = |m: usize| -> Vec<bool> {
            match (
                ids,
                b.column_by_name(POPULATION_FLAGS[m])
                    .and_then(|c| c.as_boolean_opt()),
            ) {
                (Some(ids), Some(filter)) => (0..b.num_rows())
                    .map(|i| {
                        filter.is_valid(i)
                            && filter.value(i)
                            && ids.is_valid(i)
                            && populations[m].contains(ids.value(i))
                    })
                    .collect(),
                _ => vec![false; b.num_rows()],
            }
        };
        let (mc, mr) = (mask(0), mask(1));
        let out =
            retain_score::score_batch(&b, churn, repeat, &opts, Some((&mut drift, [&mc, &mr])))
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
        count_values(&mut counts.0, &out, "lifecycle_stage");
        count_values(&mut counts.1, &out, "shopper_type");
        count_values(&mut counts.2, &out, "risk_tier");
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(out)
    });
    let mut props = serde_json::Map::new();
    props.insert(
        "models".into(),
        serde_json::json!({
            churn.name.clone(): churn.version,
            repeat.name.clone(): repeat.version,
            "clv": clv_version,
        }),
    );
    props.insert(
        "risk_tiers".into(),
        serde_json::json!({
            "method": match score_cfg.tiers {
                retain_config::TierMethod::Thresholds => "thresholds",
                retain_config::TierMethod::Quantiles => "quantiles",
            },
            "high_threshold": high_risk,
            "medium_threshold": medium_risk,
        }),
    );
    props.insert(
        "contribution_unit".into(),
        churn
            .estimator
            .contributions(&vec![f64::NAN; churn.features().len()])
            .unit
            .into(),
    );
    let meta = PublishMeta {
        inputs: vec![InputEntry {
            location: ctx
                .wh
                .root
                .url_of(&ctx.wh.partition_path("features/customer", partition)),
            bytes: None,
            version: Some(fm.run_id.clone()),
        }],
        properties: props,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    let schema = retain_score::customer_risk_schema();
    let mut pending = ctx
        .wh
        .write("scores/customer_risk", partition, schema, scored, meta)
        .await?;
    // Drift against each champion's training data, known once every row is scored.
    let mut rows = drift.compare(0, &churn.name, &churn.feature_stats, thresholds);
    rows.extend(drift.compare(1, &repeat.name, &repeat.feature_stats, thresholds));
    ctx.drift = Some(DriftRecord::new(thresholds, &rows));
    let drifted: Vec<DriftRow> = rows.into_iter().filter(|r| r.drifted).collect();
    for r in &drifted {
        tracing::warn!(
            model = %r.model,
            feature = %r.feature,
            training_mean = r.training_mean,
            scoring_mean = ?r.scoring_mean,
            shift_in_sd = ?r.shift,
            training_null_share = r.training_null_share,
            scoring_null_share = r.scoring_null_share,
            "feature drift against the champion's training data"
        );
    }
    pending.manifest.properties.insert(
        "drift".into(),
        serde_json::json!({
            "thresholds": { "shift": thresholds.shift, "null_share": thresholds.null_share },
            "drifted": serde_json::to_value(&drifted).unwrap_or_default(),
        }),
    );
    let m = ctx.wh.commit(pending).await?;
    ctx.published(&m);
    for model in [churn, repeat] {
        ctx.models_used
            .insert(model.name.clone(), model.version.clone());
        let record = ModelRecord::scored(ctx, model).await;
        ctx.model_records.push(record);
    }
    Ok(Scored {
        manifest: m,
        counts,
        drift: drifted,
    })
}
