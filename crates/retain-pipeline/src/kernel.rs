//! The kernel every stage runs on: [`Settings`] (what the pipeline file and the command
//! line resolve to) and `Ctx` (the engine, the warehouse, the SQL source and the
//! settings of one run), with the table plumbing the stages share: reading and
//! registering published partitions, registering a source the shop lacks.
//!
//! Architecture invariant: the as-of date is not here. Every stage function and SQL job
//! that depends on it takes it as an argument, so it can be followed from `main` down.
//! Nothing a stage publishes or decides is kept here either: stages return it
//! (`run_log::RunLog` collects it for the run record).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};
use retain_config::PipelineConfig;
use retain_sql::{Engine, EngineOptions, SqlSource, toml_value};
use retain_store::{InputEntry, Location, Manifest, Warehouse};

use crate::contract;
use crate::error::FitResult;
use crate::error::{Error, Result, df_err};
use crate::records::clv::SummaryRows;

/// Everything a command needs, resolved from the pipeline file and the command line
/// (the as-of date is resolved separately: [`Settings::as_of`]).
#[derive(Debug, Clone)]
pub struct Settings {
    pub pipeline: PipelineConfig,
    /// Warehouse URL or path (the pipeline's, or the `--out` override).
    pub warehouse: String,
    /// Told the rows of each partition as they are written (the CLI's progress bars);
    /// `None` reports nothing.
    pub progress: Option<Arc<dyn retain_store::Progress>>,
    /// Go on with an as-of date beyond the staged data (`--allow-as-of-beyond-data`);
    /// the run record says so. Off by default: such a date is [`Error::BeyondData`].
    pub allow_as_of_beyond_data: bool,
    /// Which champion scores an as-of date: the one in force then (the default) or
    /// today's (`--champion latest`).
    pub champion_at: crate::registry::ChampionAt,
}

impl Settings {
    /// Resolve settings: `warehouse` overrides the pipeline file's.
    pub fn resolve(pipeline: PipelineConfig, warehouse: Option<String>) -> Self {
        Self {
            warehouse: warehouse.unwrap_or_else(|| pipeline.warehouse.clone()),
            pipeline,
            progress: None,
            allow_as_of_beyond_data: false,
            champion_at: crate::registry::ChampionAt::InForce,
        }
    }

    /// The as-of date: the command line's, else the pipeline file's `as-of`; neither is
    /// [`Error::NoAsOf`] (exit code 2).
    pub fn as_of(&self, cli: Option<NaiveDate>) -> Result<NaiveDate> {
        cli.or(self.pipeline.as_of).ok_or(Error::NoAsOf)
    }
}

/// A run id: UTC start time plus a few random-ish bits, sortable and unique per run.
pub fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%dT%H%M%SZ"))
}

/// One run's working set: the engine, the warehouse (which knows the run id its
/// manifests carry), the SQL source and the settings.
pub(crate) struct Ctx {
    pub engine: Engine,
    pub wh: Warehouse,
    pub sql: SqlSource,
    pub settings: Settings,
    /// Answers this run computed once and reuses (see [`Memo`]).
    pub(crate) memo: Memo,
}

/// What a run derives once and then reuses, each exactly what recomputing it would give
/// (the staged tables do not change during a run): a cache, never a way for one stage
/// to hand its results to another (stages return those).
#[derive(Default)]
pub(crate) struct Memo {
    /// Canonical tables the shop does not have (registered empty): their features are
    /// NULL, not 0.
    pub absent: BTreeSet<String>,
    /// Feature partitions this run published, by as-of date (a model's snapshots and the
    /// scoring date share them).
    pub features: HashMap<NaiveDate, Manifest>,
    /// The staged tables registered in the engine, by table, with the run that
    /// published them: the inputs every partition computed from them records.
    pub staged: BTreeMap<String, InputEntry>,
    /// The day of the latest staged fact, once a stage has asked.
    pub data_end: Option<crate::records::ingest::DataEnd>,
    /// CLV summaries and fits by as-of date (a feature date and the run's registry entry
    /// share one fit).
    pub clv_fits: BTreeMap<NaiveDate, (Arc<SummaryRows>, FitResult)>,
}

impl Ctx {
    /// Set up a run's context: the engine, the warehouse (its store options validated)
    /// and the SQL source. Takes no lock and cleans nothing: writing commands do that
    /// through [`crate::commands`].
    pub(crate) async fn open(settings: &Settings, run_id: &str) -> Result<Ctx> {
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
        let mut wh = Warehouse::new(root, run_id.to_owned())
            .with_schema_versions(contract::schema_version)
            .with_keep_replaced_files(storage.keep_replaced_files.0);
        if let Some(p) = &settings.progress {
            wh = wh.with_progress(p.clone());
        }
        Ok(Ctx {
            engine,
            wh,
            sql: SqlSource {
                dir: settings.pipeline.sql_dir.clone(),
            },
            settings: settings.clone(),
            memo: Memo::default(),
        })
    }

    pub fn df(&self) -> &SessionContext {
        self.engine.ctx()
    }

    /// The id of this run (in every manifest and score row it writes).
    pub fn run_id(&self) -> &str {
        &self.wh.run_id
    }

    /// The URL of a published partition.
    pub fn partition_url(&self, table: &str, partition: &str) -> String {
        self.wh
            .root
            .url_of(&self.wh.partition_path(table, partition))
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
            location: self.partition_url(table, partition),
            bytes: None,
            // A staged table's content version (the same raw files and SQL give the same
            // one), else the run that published it.
            version: Some(
                manifest
                    .properties
                    .get("version")
                    .and_then(|v| v.as_str())
                    .map_or(manifest.run_id.clone(), str::to_owned),
            ),
            table_version: manifest.table_version,
        })
    }

    /// Register an empty table (a source the shop does not have).
    pub fn register_empty(&mut self, name: &str) -> Result<()> {
        self.memo.absent.insert(name.to_owned());
        let schema = contract::required_schema(name)?;
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

    /// Register the staged tables a previous ingest published (no re-ingest); a source
    /// the pipeline does not configure is registered empty. A configured one that was
    /// never staged is an error that says which command stages it.
    pub(crate) async fn register_staged(&mut self) -> Result<()> {
        for table in contract::TABLES {
            if self.settings.pipeline.sources.contains_key(table) {
                let staged = format!("staged/{table}");
                let input =
                    self.register_published(table, &staged, "")
                        .await
                        .map_err(|e| match e {
                            Error::Store(retain_store::Error::NotPublished { .. }) => {
                                Error::NotStaged {
                                    table: staged.clone(),
                                    root: self.wh.root.url(),
                                }
                            }
                            e => e,
                        })?;
                self.memo.staged.insert(table.to_owned(), input);
            } else {
                self.register_empty(table)?;
            }
        }
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
    Error::Parameter {
        name: name.to_owned(),
        origin: origin.to_owned(),
        message: message.to_owned(),
    }
}
