//! SQL jobs on DataFusion: the one place a `SessionContext` is made, the SQL files of
//! `sql/` (embedded in the binary, or read from a directory the pipeline names, with
//! their `-- @include` lines expanded), and parameter binding.
//!
//! Jobs never build their own session: they ask [`Engine`] for one, so the Ballista
//! engine planned in DESIGN.md plugs in here without touching the jobs.

mod bounded;
pub mod udf;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

/// Errors running SQL jobs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A SQL file named by the pipeline does not exist.
    #[error("SQL file `{0}` not found")]
    MissingSql(String),
    /// An `-- @include` line names a file that itself includes another (one level only).
    #[error("SQL file `{origin}` includes `{included}`, which has its own `-- @include`")]
    NestedInclude { origin: String, included: String },
    /// Reading a SQL file from disk failed.
    #[error("cannot read SQL file `{path}`")]
    ReadSql {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Planning or running a SQL file failed.
    #[error("SQL job `{origin}` failed: {source}")]
    Job {
        origin: String,
        #[source]
        source: Box<DataFusionError>,
    },
    /// A SQL file holds a statement that is not a query (DDL, DML, COPY, SET, ...):
    /// retain runs only queries, so a user's `sql-dir` cannot write files or change the
    /// session.
    #[error(
        "SQL job `{origin}` is not a query: {what}; retain runs only SELECT (or WITH ... SELECT) statements from SQL files"
    )]
    NotAQuery { origin: String, what: String },
    /// A parameter value in the configuration has a type SQL cannot take.
    #[error("parameter `{name}`: {message}")]
    Param { name: String, message: String },
    /// Other DataFusion errors (registering tables, building the session).
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the embedded engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Memory pool in bytes; operators that can spill do so beyond it.
    pub memory_limit: usize,
    /// Spill directory; the OS temp directory when `None`.
    pub spill_dir: Option<PathBuf>,
    /// Planned parallelism; the number of cores when `None`.
    pub target_partitions: Option<usize>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            memory_limit: 2 << 30,
            spill_dir: None,
            target_partitions: None,
        }
    }
}

/// Where SQL jobs run.
#[derive(Clone)]
pub struct Engine {
    ctx: SessionContext,
}

impl Engine {
    /// An in-process DataFusion session with a fair spill pool of `memory_limit` bytes
    /// and a disk manager, so large sorts and aggregations spill instead of failing.
    pub fn embedded(opts: &EngineOptions) -> Result<Self> {
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            // Timestamps without an offset are read as UTC.
            .set_str("datafusion.execution.time_zone", "UTC")
            // Published tables use plain Utf8: every Parquet reader (Spark, older pyarrow,
            // BI tools) understands it, while Utf8View is Arrow-only.
            .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
            .set_bool(
                "datafusion.execution.parquet.schema_force_view_types",
                false,
            );
        // Each sort sets aside this much of the pool to be able to spill (10 MiB by
        // default); with several sorts in one plan a small pool is used up by the
        // reservations alone, so scale it down with the pool.
        let reservation = (10usize << 20).min(opts.memory_limit / 32).max(256 << 10);
        config = config.set_usize(
            "datafusion.execution.sort_spill_reservation_bytes",
            reservation,
        );
        // A sort that spilled merges its spill files holding one batch of each in memory:
        // with a small pool, smaller batches keep that merge within it.
        if opts.memory_limit <= 256 << 20 {
            config = config.with_batch_size(1024);
        }
        if let Some(n) = opts.target_partitions {
            config = config.with_target_partitions(n.max(1));
        }
        let mode = match &opts.spill_dir {
            Some(dir) => DiskManagerMode::Directories(vec![dir.clone()]),
            None => DiskManagerMode::OsTmpDirectory,
        };
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(opts.memory_limit)))
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(mode))
            .build_arc()?;
        tracing::debug!(
            memory_limit = opts.memory_limit,
            target_partitions = config.target_partitions(),
            "embedded DataFusion engine"
        );
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        for f in udf::all()
            .into_iter()
            .chain(bounded::all(opts.memory_limit))
        {
            ctx.register_udf(f);
        }
        Ok(Self { ctx })
    }

    /// The session jobs run in.
    pub fn ctx(&self) -> &SessionContext {
        &self.ctx
    }

    /// Plan one SQL file with its parameters bound. The result is lazy: execute or
    /// stream it.
    pub async fn query(&self, sql: &SqlFile, params: &Params) -> Result<DataFrame> {
        let wrap = |e: DataFusionError| Error::Job {
            origin: sql.origin.clone(),
            source: Box::new(e),
        };
        // Queries only: no CREATE / DROP, INSERT, COPY ... TO or SET from a SQL file
        // (DataFusion checks the plan before anything runs).
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = match self.ctx.sql_with_options(&sql.text, options).await {
            Ok(df) => df,
            Err(e) => {
                let refused = match e.find_root() {
                    DataFusionError::Plan(m) if m.contains("not supported") => Some(m.clone()),
                    _ => None,
                };
                return Err(match refused {
                    Some(what) => Error::NotAQuery {
                        origin: sql.origin.clone(),
                        what,
                    },
                    None => wrap(e),
                });
            }
        };
        if params.0.is_empty() {
            return Ok(df);
        }
        df.with_param_values(params.to_param_values()).map_err(wrap)
    }
}

/// The most tokens an expression from configuration (a policy's `eligible` or consent,
/// a model's `population`) may have.
pub const MAX_EXPRESSION_TOKENS: usize = 4_096;
/// The most chaining operators (AND, OR, `+`, `-`, `*`, `/`, `%`, `||`) such an
/// expression may have. Each nests the expression tree one level deeper and DataFusion
/// walks trees recursively: a policy of about 5,000 ORed terms overflowed the stack, and
/// so did 100 `+` on a 2 MiB thread (comparisons are not counted: they do not chain).
pub const MAX_EXPRESSION_OPERATORS: usize = 256;
/// The stack of every thread retain plans on (the CLI's runtime threads): at
/// [`MAX_EXPRESSION_OPERATORS`] an expression plans with room to spare; at twice that it
/// overflowed (debug build, measured).
pub const STACK_BYTES: usize = 8 << 20;
/// The deepest parentheses such an expression may nest.
pub const MAX_EXPRESSION_PARENS: usize = 32;

/// Whether an expression from configuration is small enough to plan, checked on its
/// tokens before DataFusion parses it: None when it is, else which bound it passes.
pub fn expression_too_large(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    // A tokenizer error is left for the parser to report.
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    let (mut n, mut operators, mut depth, mut deepest) = (0usize, 0usize, 0usize, 0usize);
    for t in &tokens {
        match t {
            Token::Whitespace(_) => continue,
            Token::Word(w) if matches!(w.keyword, Keyword::AND | Keyword::OR) => operators += 1,
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::StringConcat => operators += 1,
            Token::LParen => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            Token::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        n += 1;
    }
    if n > MAX_EXPRESSION_TOKENS {
        Some(format!(
            "it has {n} tokens, more than the {MAX_EXPRESSION_TOKENS} allowed"
        ))
    } else if operators > MAX_EXPRESSION_OPERATORS {
        Some(format!(
            "it has {operators} operators (AND, OR, +, -, *, /, %, ||), more than the {MAX_EXPRESSION_OPERATORS} allowed (a long list of alternatives reads better as `column IN (...)`)"
        ))
    } else if deepest > MAX_EXPRESSION_PARENS {
        Some(format!(
            "it nests parentheses {deepest} deep, more than the {MAX_EXPRESSION_PARENS} allowed"
        ))
    } else {
        None
    }
}

/// The SQL files of the repository's `sql/` folder, compiled into the binary.
pub const EMBEDDED_SQL: &[(&str, &str)] = &[
    (
        "staging/customers.sql",
        include_str!("../../../sql/staging/customers.sql"),
    ),
    (
        "staging/orders.sql",
        include_str!("../../../sql/staging/orders.sql"),
    ),
    (
        "staging/orders_from_transactions.sql",
        include_str!("../../../sql/staging/orders_from_transactions.sql"),
    ),
    (
        "staging/support_tickets.sql",
        include_str!("../../../sql/staging/support_tickets.sql"),
    ),
    (
        "staging/engagement_events.sql",
        include_str!("../../../sql/staging/engagement_events.sql"),
    ),
    (
        "staging/contacts.sql",
        include_str!("../../../sql/staging/contacts.sql"),
    ),
    (
        "features/customer.sql",
        include_str!("../../../sql/features/customer.sql"),
    ),
    (
        "features/purchase_days.sql",
        include_str!("../../../sql/features/purchase_days.sql"),
    ),
    (
        "features/clv_summary.sql",
        include_str!("../../../sql/features/clv_summary.sql"),
    ),
    (
        "clv/holdout.sql",
        include_str!("../../../sql/clv/holdout.sql"),
    ),
    (
        "clv/repeat_purchases_by_day.sql",
        include_str!("../../../sql/clv/repeat_purchases_by_day.sql"),
    ),
    (
        "labels/churn.sql",
        include_str!("../../../sql/labels/churn.sql"),
    ),
    (
        "labels/repeat_purchase.sql",
        include_str!("../../../sql/labels/repeat_purchase.sql"),
    ),
    (
        "actions/contact_history.sql",
        include_str!("../../../sql/actions/contact_history.sql"),
    ),
    (
        "actions/policy_input.sql",
        include_str!("../../../sql/actions/policy_input.sql"),
    ),
    (
        "actions/outcomes.sql",
        include_str!("../../../sql/actions/outcomes.sql"),
    ),
];

/// One SQL job: its text and where it came from (for error messages and manifests).
#[derive(Debug, Clone)]
pub struct SqlFile {
    /// `sql/features/customer.sql (embedded)` or the file's path.
    pub origin: String,
    pub text: String,
}

/// Where SQL files are looked up: a directory, or the embedded copy.
#[derive(Debug, Clone, Default)]
pub struct SqlSource {
    /// Directory to read from; `None` means the embedded files.
    pub dir: Option<PathBuf>,
}

impl SqlSource {
    /// Load `rel` (e.g. `features/customer.sql`), with every `-- @include <rel>` line
    /// replaced by the text of that file, looked up in the same place.
    pub fn load(&self, rel: &str) -> Result<SqlFile> {
        let mut file = self.load_one(rel)?;
        if !file.text.lines().any(|l| include_target(l).is_some()) {
            return Ok(file);
        }
        let mut text = String::with_capacity(file.text.len());
        for line in file.text.split_inclusive('\n') {
            let Some(included) = include_target(line) else {
                text.push_str(line);
                continue;
            };
            let part = self.load_one(included)?;
            if part.text.lines().any(|l| include_target(l).is_some()) {
                return Err(Error::NestedInclude {
                    origin: file.origin,
                    included: part.origin,
                });
            }
            text.push_str(&part.text);
            if !part.text.ends_with('\n') {
                text.push('\n');
            }
        }
        file.text = text;
        Ok(file)
    }

    /// One file as it is, includes not expanded.
    fn load_one(&self, rel: &str) -> Result<SqlFile> {
        match &self.dir {
            Some(dir) => {
                let path = dir.join(rel);
                let text = std::fs::read_to_string(&path).map_err(|source| {
                    if source.kind() == std::io::ErrorKind::NotFound {
                        Error::MissingSql(path.display().to_string())
                    } else {
                        Error::ReadSql {
                            path: path.clone(),
                            source,
                        }
                    }
                })?;
                Ok(SqlFile {
                    origin: path.display().to_string(),
                    text,
                })
            }
            None => EMBEDDED_SQL
                .iter()
                .find(|(name, _)| *name == rel)
                .map(|(name, text)| SqlFile {
                    origin: format!("sql/{name} (embedded)"),
                    text: (*text).to_owned(),
                })
                .ok_or_else(|| Error::MissingSql(format!("sql/{rel} (embedded)"))),
        }
    }
}

/// The file an `-- @include features/purchase_days.sql` line names: a line of its own,
/// a SQL comment (so the including file stays valid SQL to editors), replaced by that
/// file's text when the file is loaded.
fn include_target(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("--")?.trim_start();
    let target = rest.strip_prefix("@include")?.trim();
    (!target.is_empty()).then_some(target)
}

/// Named parameters bound into SQL as `$name`. Values are typed: dates bind as DATE,
/// so the SQL never receives pasted text.
#[derive(Debug, Clone, Default)]
pub struct Params(pub BTreeMap<String, ScalarValue>);

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one parameter.
    pub fn with(mut self, name: &str, value: ScalarValue) -> Self {
        self.0.insert(name.to_owned(), value);
        self
    }

    /// Add a date parameter.
    pub fn with_date(self, name: &str, date: chrono::NaiveDate) -> Self {
        let days = (date - chrono::NaiveDate::default()).num_days() as i32;
        self.with(name, ScalarValue::Date32(Some(days)))
    }

    /// Add the as-of date D: `$as_of` (DATE) and `$as_of_s`, D 00:00 UTC in seconds
    /// since the epoch as a DOUBLE, the value and type of
    /// `date_part('epoch', <D as a UTC timestamp>)`, against which the SQL compares
    /// `date_part('epoch', <timestamp>)`.
    pub fn with_as_of(self, date: chrono::NaiveDate) -> Self {
        let seconds = (date - chrono::NaiveDate::default()).num_seconds() as f64;
        self.with_date("as_of", date)
            .with("as_of_s", ScalarValue::Float64(Some(seconds)))
    }

    /// Add parameters from configuration values: integers bind as BIGINT, floats as
    /// DOUBLE, booleans as BOOLEAN, strings as VARCHAR and TOML dates as DATE.
    pub fn with_toml(mut self, values: &BTreeMap<String, toml_value::Value>) -> Self {
        for (name, v) in values {
            let scalar = match v {
                toml_value::Value::Integer(i) => ScalarValue::Int64(Some(*i)),
                toml_value::Value::Float(f) => ScalarValue::Float64(Some(*f)),
                toml_value::Value::Boolean(b) => ScalarValue::Boolean(Some(*b)),
                toml_value::Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
                toml_value::Value::Date(d) => {
                    let days = (*d - chrono::NaiveDate::default()).num_days() as i32;
                    ScalarValue::Date32(Some(days))
                }
            };
            self.0.insert(name.clone(), scalar);
        }
        self
    }

    fn to_param_values(&self) -> datafusion::common::ParamValues {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
            .into()
    }
}

/// The plain values a configuration file can hold for a SQL parameter. Kept free of the
/// TOML crate: the pipeline converts its values into these.
pub mod toml_value {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        Integer(i64),
        Float(f64),
        Boolean(bool),
        String(String),
        Date(chrono::NaiveDate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;

    #[test]
    fn every_embedded_file_is_found() {
        let src = SqlSource::default();
        for (name, _) in EMBEDDED_SQL {
            assert!(!src.load(name).unwrap().text.is_empty());
        }
        assert!(matches!(src.load("nope.sql"), Err(Error::MissingSql(_))));
    }

    /// Issue 20's finding 7: a feature SQL of `COPY (...) TO '/some/path.csv'` wrote
    /// staged data outside the warehouse. A SQL file may only be a query.
    #[tokio::test]
    async fn a_sql_file_that_is_not_a_query_is_refused_before_it_runs() {
        let engine = Engine::embedded(&EngineOptions::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("leak.csv");
        for (text, kind) in [
            (
                format!("COPY (SELECT 1 AS x) TO '{}'", target.display()),
                "COPY",
            ),
            (
                "CREATE TABLE t AS SELECT 1 AS x".to_owned(),
                "CreateMemoryTable",
            ),
            ("CREATE VIEW v AS SELECT 1 AS x".to_owned(), "CreateView"),
            (
                "SET datafusion.execution.batch_size = 1".to_owned(),
                "SetVariable",
            ),
        ] {
            let sql = SqlFile {
                origin: "features/customer.sql".into(),
                text,
            };
            let err = engine.query(&sql, &Params::new()).await.unwrap_err();
            assert!(matches!(err, Error::NotAQuery { .. }), "{err}");
            let msg = err.to_string();
            assert!(
                msg.starts_with("SQL job `features/customer.sql` is not a query")
                    && msg.contains(kind)
                    && msg.contains("retain runs only SELECT"),
                "{msg}"
            );
        }
        assert!(!target.exists(), "nothing was written");
        assert!(engine.ctx().table("t").await.is_err() && engine.ctx().table("v").await.is_err());
        // A query still runs, WITH included.
        let ok = SqlFile {
            origin: "q".into(),
            text: "WITH a AS (SELECT 1 AS x) SELECT x FROM a".into(),
        };
        assert_eq!(
            engine
                .query(&ok, &Params::new())
                .await
                .unwrap()
                .count()
                .await
                .unwrap(),
            1
        );
    }

    #[test]
    fn expressions_from_configuration_are_bounded() {
        assert_eq!(
            expression_too_large("churn_probability >= 0.4 AND NOT unsubscribed"),
            None
        );
        let ors = vec!["x = 1"; 5_000].join(" OR ");
        let why = expression_too_large(&ors).unwrap();
        assert!(why.contains("tokens"), "{why}");
        let ors = vec!["x = 1"; 300].join(" OR ");
        let why = expression_too_large(&ors).unwrap();
        assert!(why.starts_with("it has 299 operators (AND, OR"), "{why}");
        let ok = vec!["x = 1"; 257].join(" OR ");
        assert_eq!(expression_too_large(&ok), None);
        let deep = format!("{}x{}", "(".repeat(40), ")".repeat(40));
        assert!(expression_too_large(&deep).unwrap().contains("40 deep"));
        // Keywords inside strings are not operators.
        let s = format!("x = '{}'", " OR ".repeat(1_000));
        assert_eq!(expression_too_large(&s), None);
    }

    #[tokio::test]
    async fn parameters_are_bound_typed() {
        let engine = Engine::embedded(&EngineOptions::default()).unwrap();
        let sql = SqlFile {
            origin: "test".into(),
            text:
                "SELECT CAST($d AS DATE) + INTERVAL '1 day' < DATE '2026-01-03' AS ok, $n + 1 AS n"
                    .into(),
        };
        let params = Params::new()
            .with_date("d", chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
            .with("n", ScalarValue::Int64(Some(41)));
        let batches = engine
            .query(&sql, &params)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert!(batches[0].column(0).as_boolean().value(0));
        assert_eq!(
            batches[0].column(1).as_primitive::<Int64Type>().value(0),
            42
        );
    }

    /// `$as_of_s` is what the SQL used to compute from `$as_of`: the same type and
    /// value, so the arithmetic on it gives the same bytes. A bound parameter the query
    /// does not use is accepted (most queries use only one of the two).
    #[tokio::test]
    async fn as_of_s_equals_the_epoch_of_as_of() {
        use datafusion::arrow::datatypes::{DataType, Float64Type};
        let engine = Engine::embedded(&EngineOptions::default()).unwrap();
        for date in [
            "1969-12-31",
            "1970-01-01",
            "1997-10-01",
            "2026-11-01",
            "2400-02-29",
        ] {
            let date: chrono::NaiveDate = date.parse().unwrap();
            let sql = SqlFile {
                origin: "test".into(),
                text: "SELECT date_part('epoch', arrow_cast(CAST($as_of AS DATE), \
                       'Timestamp(Microsecond, Some(\"UTC\"))')) AS old, \
                       CAST($as_of_s AS DOUBLE) AS new"
                    .into(),
            };
            let batches = engine
                .query(&sql, &Params::new().with_as_of(date))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let b = &batches[0];
            assert_eq!(b.column(0).data_type(), &DataType::Float64);
            assert_eq!(b.column(1).data_type(), &DataType::Float64);
            let old = b.column(0).as_primitive::<Float64Type>().value(0);
            let new = b.column(1).as_primitive::<Float64Type>().value(0);
            assert_eq!(old.to_bits(), new.to_bits(), "{date}");
        }
        let only_date = SqlFile {
            origin: "test".into(),
            text: "SELECT CAST($as_of AS DATE) AS d".into(),
        };
        let d = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let batches = engine
            .query(&only_date, &Params::new().with_as_of(d))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(batches[0].num_rows(), 1);
    }

    #[test]
    fn include_lines_are_expanded_from_the_same_place() {
        let dir = std::env::temp_dir().join(format!("retain-sql-include-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("a/part.sql"), "part AS (SELECT 1 AS x)").unwrap();
        std::fs::write(
            dir.join("a/job.sql"),
            "WITH\n  -- @include a/part.sql\nSELECT x FROM part\n",
        )
        .unwrap();
        std::fs::write(dir.join("a/nested.sql"), "-- @include a/job.sql\n").unwrap();
        std::fs::write(dir.join("a/missing.sql"), "-- @include a/nope.sql\n").unwrap();
        let src = SqlSource {
            dir: Some(dir.clone()),
        };
        let job = src.load("a/job.sql").unwrap();
        assert_eq!(
            job.text,
            "WITH\npart AS (SELECT 1 AS x)\nSELECT x FROM part\n"
        );
        assert!(job.origin.ends_with("job.sql"), "{}", job.origin);
        assert!(matches!(
            src.load("a/nested.sql"),
            Err(Error::NestedInclude { .. })
        ));
        assert!(
            matches!(src.load("a/missing.sql"), Err(Error::MissingSql(m)) if m.ends_with("nope.sql"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
        // The embedded files' includes resolve among the embedded files.
        for (name, text) in EMBEDDED_SQL {
            let loaded = SqlSource::default().load(name).unwrap();
            assert!(
                !loaded.text.lines().any(|l| include_target(l).is_some()),
                "{name}"
            );
            assert!(loaded.text.len() >= text.len());
        }
    }

    #[test]
    fn an_include_line_is_a_comment_of_its_own() {
        assert_eq!(
            include_target("  -- @include features/purchase_days.sql  \n"),
            Some("features/purchase_days.sql")
        );
        assert_eq!(include_target("--@include x.sql"), Some("x.sql"));
        assert_eq!(include_target("-- @include"), None);
        assert_eq!(include_target("-- include x.sql"), None);
        assert_eq!(include_target("SELECT 1 -- @include x.sql"), None);
    }

    #[tokio::test]
    async fn a_bad_query_names_its_file() {
        let engine = Engine::embedded(&EngineOptions::default()).unwrap();
        let sql = SqlFile {
            origin: "sql/x.sql".into(),
            text: "SELECT * FROM no_such_table".into(),
        };
        let err = engine.query(&sql, &Params::new()).await.unwrap_err();
        assert!(err.to_string().contains("sql/x.sql"), "{err}");
    }

    /// Issue 20's finding 6: `length(repeat(customer_id, 100000000))` in a feature SQL
    /// asked the allocator for 8.9 TB and aborted the process (lpad and rpad to a huge
    /// length too). Now each is an error naming the function; ordinary calls give
    /// DataFusion's answers.
    #[tokio::test]
    async fn a_function_asked_for_terabytes_is_an_error_not_an_abort() {
        let engine = Engine::embedded(&EngineOptions::default()).unwrap();
        let run = |text: &str| {
            let sql = SqlFile {
                origin: "sql/features/x.sql".into(),
                text: format!(
                    "WITH c AS (SELECT concat('C', CAST(value AS VARCHAR)) AS customer_id FROM generate_series(1, 20000)) {text}"
                ),
            };
            let engine = engine.clone();
            async move {
                let df = engine.query(&sql, &Params::new()).await?;
                let batches = df.collect().await.map_err(|e| Error::Job {
                    origin: sql.origin.clone(),
                    source: Box::new(e),
                })?;
                Ok::<_, Error>(batches)
            }
        };
        for (f, call) in [
            ("repeat", "repeat(customer_id, 100000000)"),
            ("lpad", "lpad(customer_id, 100000000)"),
            ("rpad", "rpad(customer_id, 100000000, 'ab')"),
            (
                "replace",
                "replace(repeat(customer_id, 1000), 'C', repeat('x', 100000))",
            ),
            (
                "regexp_replace",
                "regexp_replace(repeat(customer_id, 1000), '(.)', repeat('\\1', 10000), 'g')",
            ),
            // A long literal is measured once, not copied down the batch first (that
            // copy alone overflowed Arrow's 32-bit offsets and panicked).
            ("replace", "replace(customer_id, 'C', repeat('y', 300000))"),
        ] {
            let err = run(&format!("SELECT sum(length({call})) FROM c"))
                .await
                .expect_err(call)
                .to_string();
            assert!(
                err.contains(&format!("{f}() would build up to"))
                    && err.contains("memory limit of 2147483648 bytes")
                    && err.contains("sql/features/x.sql"),
                "{call}: {err}"
            );
        }
        let batches = run(
            "SELECT repeat('ab', 3), lpad('7', 3, '0'), rpad('7', 3), replace('aXbX', 'X', 'yy'), \
             regexp_replace('abc', '(b)', '\\1\\1'), sum(length(repeat(customer_id, 2))), \
             sum(length(regexp_replace(repeat(customer_id, 100), '(C)', '<\\1>', 'g'))) FROM c",
        )
        .await
        .unwrap();
        let row: Vec<String> = batches[0]
            .columns()
            .iter()
            .map(|c| datafusion::arrow::util::display::array_value_to_string(c, 0).unwrap())
            .collect();
        // The last: a group reference in a replacement of 550-byte texts, which a bound
        // quadratic in the text refused.
        assert_eq!(
            row,
            [
                "ababab", "007", "7  ", "ayybyy", "abbc", "217788", "14889400"
            ]
        );
    }

    /// The largest expressions the bound lets through (256 ORs, 256 `+`) plan and run
    /// on a thread with the stack retain's runtime threads get (`STACK_BYTES`); at 512
    /// they overflowed it (debug build, measured), and the 8 MiB stack is what a 256-OR
    /// policy needs: on a 2 MiB thread 128 ORs overflowed.
    #[test]
    fn the_largest_expressions_allowed_plan_on_retains_stack() {
        for (op, term) in [("OR", "x > 0"), ("+", "x")] {
            let e = vec![term; MAX_EXPRESSION_OPERATORS + 1].join(&format!(" {op} "));
            assert_eq!(expression_too_large(&e), None, "{op}");
            let over = format!("{e} {op} {term}");
            assert!(
                expression_too_large(&over).is_some_and(|w| w.contains("257 operators")),
                "{op}"
            );
            std::thread::Builder::new()
                .stack_size(STACK_BYTES)
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        let engine = Engine::embedded(&EngineOptions::default()).unwrap();
                        let q = format!("SELECT ({e}) AS b FROM (VALUES (1.0)) t(x)");
                        let r = engine.ctx().sql(&q).await.unwrap().collect().await;
                        assert!(r.is_ok(), "{r:?}");
                    })
                })
                .unwrap()
                .join()
                .unwrap();
        }
    }
}
