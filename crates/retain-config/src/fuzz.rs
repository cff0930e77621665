//! Property-based fuzzing of the TOML parsers (proptest, on every `cargo test`): pipeline
//! files, model specs and policy files, and the units their values are written in.
//!
//! The rule checked is the crate's: a file that does not parse or makes no sense is one
//! error naming the file and what is wrong, never a panic; a file that parses satisfies
//! every documented bound. The inputs are random text, valid shipped files with keys set
//! to hostile values (4294967295, -1, NaN, huge durations, `${…}`, wrong types, nested
//! tables) and then cut or spliced, deep nesting, and hostile policy expressions.

use std::str::FromStr;

use proptest::prelude::*;
use proptest::sample::Index;
use toml::{Table, Value};

use crate::policy::{DEFAULT_POLICY, NO_ACTION, Policy};
use crate::{
    ByteSize, DEMO_PIPELINE, Duration, EMBEDDED_MODELS, Error, FeatureSelection, ModelSpec,
    PipelineConfig, Stage,
};

const ORIGIN: &str = "fuzz.toml";

/// The shipped pipeline files.
const PIPELINES: [&str; 3] = [
    DEMO_PIPELINE,
    include_str!("../../../pipelines/orders-only.toml"),
    include_str!("../../../pipelines/transactions.toml"),
];

/// The shipped model specs.
const MODELS: [&str; 3] = [
    EMBEDDED_MODELS[0].1,
    EMBEDDED_MODELS[1].1,
    include_str!("../../../models/churn_gbdt.toml"),
];

/// What every error must be: it says which file and what is wrong, adds no line break of
/// its own (one can only come from a key or string of the file that it quotes, written
/// with an escape or as a multi-line string) and grows at most linearly with the file.
/// (The workspace's renderer, `retain_store::line`, makes every error one line of at
/// most 4,096 characters when it is shown.)
fn check_error(e: &Error, input: &str) -> Result<(), TestCaseError> {
    let msg = e.to_string();
    let (Error::Parse { path, message, .. } | Error::Invalid { path, message, .. }) = e else {
        return Err(TestCaseError::fail(format!("not a file error: {msg}")));
    };
    prop_assert_eq!(path, ORIGIN);
    prop_assert!(!message.trim().is_empty(), "empty message: {}", msg);
    if msg.contains(['\n', '\r']) {
        let quoted = ["\\n", "\\r", "\\u", "\\U", "\"\"\"", "'''"];
        prop_assert!(
            quoted.iter().any(|q| input.contains(q)),
            "a line break of the error's own: {:?}",
            msg
        );
    }
    prop_assert!(msg.len() <= 1024 + 3 * input.len(), "{} bytes", msg.len());
    Ok(())
}

/// The bounds `PipelineConfig::from_toml` promises, checked on what it returned.
fn check_pipeline(p: &PipelineConfig, text: &str) -> Result<(), TestCaseError> {
    prop_assert!(!p.stages.is_empty());
    prop_assert!(p.stages.windows(2).all(|w| w[0] < w[1]), "{:?}", p.stages);
    prop_assert!(p.stages.iter().all(|s| Stage::ALL.contains(s)));
    prop_assert!(p.sources.contains_key("orders"));
    let tables = [
        "customers",
        "orders",
        "support_tickets",
        "engagement_events",
        "contacts",
    ];
    for (table, src) in &p.sources {
        prop_assert!(tables.contains(&table.as_str()), "{table}");
        prop_assert!(src.format().is_ok(), "{table}");
        prop_assert!(src.delimiter.is_ascii() && src.quote.is_ascii());
        prop_assert!(src.header || !src.columns.is_empty());
        prop_assert!(
            src.max_quarantine_ratio
                .is_none_or(|r| (0.0..=1.0).contains(&r))
        );
    }
    let clv = &p.clv;
    prop_assert!(clv.time_unit_days >= 1);
    prop_assert!(clv.annual_discount_rate.is_finite() && clv.annual_discount_rate > -1.0);
    prop_assert!(clv.margin > 0.0 && clv.margin <= 1.0);
    prop_assert!((7..=3_650).contains(&clv.holdout_days));
    prop_assert!(
        p.engine
            .target_partitions
            .is_none_or(|n| (1..=1_024).contains(&n))
    );
    prop_assert!((0.0..=1.0).contains(&p.quality.max_quarantine_ratio));
    prop_assert!(
        p.storage
            .options
            .keys()
            .all(|k| !crate::env::holds_secret(k))
    );
    let s = &p.score;
    prop_assert!(0.0 <= s.medium_risk && s.medium_risk <= s.high_risk && s.high_risk <= 1.0);
    prop_assert!(s.high_share >= 0.0 && s.medium_share >= 0.0);
    prop_assert!(s.high_share + s.medium_share <= 1.0);
    // The same text parses to the same configuration.
    let again = PipelineConfig::from_toml(text, ORIGIN)
        .map_err(|e| TestCaseError::fail(format!("parsed once, not twice: {e}")))?;
    prop_assert_eq!(format!("{p:?}"), format!("{again:?}"));
    Ok(())
}

/// The bounds `ModelSpec::from_toml` promises.
fn check_model(m: &ModelSpec, text: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(&m.text, text);
    prop_assert_eq!(&m.origin, ORIGIN);
    prop_assert!(m.horizon_days >= 1 && m.snapshot_spacing_days >= 1);
    prop_assert!((1..=1_000).contains(&m.training_snapshots));
    let window = 2 * u64::from(m.horizon_days)
        + u64::from(m.training_snapshots - 1) * u64::from(m.snapshot_spacing_days);
    prop_assert!(window <= 36_525, "{window} days");
    match &m.features {
        FeatureSelection::All(s) => prop_assert_eq!(s, "all"),
        FeatureSelection::List(l) => prop_assert!(!l.is_empty()),
    }
    let a = &m.algorithm;
    for share in [
        a.bootstrap_share,
        a.feature_share,
        a.subsample,
        a.learning_rate,
    ]
    .into_iter()
    .flatten()
    {
        prop_assert!(share > 0.0 && share <= 1.0, "{share}");
    }
    for v in [a.alpha, a.l2].into_iter().flatten() {
        prop_assert!(v.is_finite() && v >= 0.0, "{v}");
    }
    prop_assert!(a.bins.is_none_or(|b| (2..=255).contains(&b)));
    prop_assert!(a.max_leaves.is_none_or(|b| b >= 2));
    for v in [a.max_depth, a.min_samples_leaf, a.trees]
        .into_iter()
        .flatten()
    {
        prop_assert!(v >= 1);
    }
    let h = m.calibration.holdout_share;
    prop_assert!((0.0..0.9).contains(&h));
    Ok(())
}

/// The bounds `Policy::from_toml` promises.
fn check_policy(p: &Policy, text: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(&p.text, text);
    prop_assert!(!p.actions.is_empty());
    prop_assert!(p.control_share.is_finite() && (0.0..0.5).contains(&p.control_share));
    prop_assert!(p.budget.is_none_or(|b| b.is_finite() && b >= 0.0));
    prop_assert!((1..=3_650).contains(&p.caps.window_days));
    prop_assert!((1..=3_650).contains(&p.evaluation.horizon_days));
    prop_assert!(p.valid_days <= 3_650);
    prop_assert!(!p.consent.contains_key("none"));
    prop_assert!(p.consent.values().all(|e| !e.trim().is_empty()));
    for (i, a) in p.actions.iter().enumerate() {
        prop_assert!(a.name != NO_ACTION && !a.name.is_empty());
        prop_assert!(
            a.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
        prop_assert_eq!(p.action_index(&a.name), Some(i), "unique names");
        prop_assert!(!a.eligible.trim().is_empty() && !a.channel.trim().is_empty());
        prop_assert!(a.consent == "none" || p.consent.contains_key(&a.consent));
        prop_assert!(a.cost.is_finite() && a.cost >= 0.0);
        prop_assert!(a.uplift.is_finite() && (0.0..=1.0).contains(&a.uplift));
        if let Some(by) = &a.uplift_by {
            prop_assert!(
                by.values
                    .values()
                    .all(|u| u.is_finite() && (0.0..=1.0).contains(u))
            );
        }
        prop_assert!(
            a.control_share
                .is_none_or(|s| s.is_finite() && (0.0..0.5).contains(&s))
        );
        prop_assert!(a.budget.is_none_or(|b| b.is_finite() && b >= 0.0));
        // Day counts stay within ten years: date arithmetic on them must not overflow.
        prop_assert!(
            a.cooldown_days <= 3_650,
            "cooldown-days {}",
            a.cooldown_days
        );
        for s in &a.suppresses {
            prop_assert!(s != &a.name && p.action_index(s).is_some());
        }
    }
    Ok(())
}

/// Which parser a text goes to.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Pipeline,
    Model,
    Policy,
}

/// Parse `text` as `kind`: an error must be well formed, a result must keep its bounds.
fn parse(kind: Kind, text: &str) -> Result<bool, TestCaseError> {
    let ok = match kind {
        Kind::Pipeline => match PipelineConfig::from_toml(text, ORIGIN) {
            Ok(p) => check_pipeline(&p, text).map(|()| true)?,
            Err(e) => check_error(&e, text).map(|()| false)?,
        },
        Kind::Model => match ModelSpec::from_toml(text, ORIGIN) {
            Ok(m) => check_model(&m, text).map(|()| true)?,
            Err(e) => check_error(&e, text).map(|()| false)?,
        },
        Kind::Policy => match Policy::from_toml(text, ORIGIN) {
            Ok(p) => check_policy(&p, text).map(|()| true)?,
            Err(e) => check_error(&e, text).map(|()| false)?,
        },
    };
    Ok(ok)
}

/// A string of `len` characters drawn from `chars` (an index strategy: a regex or a
/// `prop_oneof!` per character costs ten times as much in a debug build).
fn text_of(chars: &'static [char], len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(0..chars.len(), len)
        .prop_map(move |v| v.into_iter().map(|i| chars[i]).collect())
}

/// What TOML is made of, weighted towards its punctuation.
const TOML_CHARS: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', '-', '_', '0', '1', '9', '.', '+', 'e', '=', '=', ' ', ' ', '\n',
    '\n', '\r', '\t', '[', '[', ']', ']', '{', '}', ',', '"', '"', '\'', '#', '\\', ':', 'T', 'Z',
    '$', 'é', '\u{0}', '\u{1b}', '\u{feff}', '\u{2028}', 'n', 't', 'r', 'u', 'f', 'l', 's',
];

/// Integers at the bounds of the files' keys and of u16, u32 and i64.
const INTEGERS: &[i64] = &[
    0,
    1,
    -1,
    2,
    6,
    7,
    255,
    256,
    1000,
    1001,
    1024,
    1025,
    3650,
    3651,
    36525,
    36526,
    65535,
    65536,
    4_294_967_295,
    4_294_967_296,
    i64::MAX,
    i64::MIN,
];

/// Floats at the bounds of the files' shares and rates, and non-finite ones.
const FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1e-9,
    0.05,
    0.2,
    0.49,
    0.5,
    0.9,
    1.0,
    1.000_000_1,
    1.5,
    -1.0,
    -0.999,
    -0.5,
    1e308,
    f64::MIN_POSITIVE,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

/// Strings: every enum name, durations and sizes past u64, `${…}`, control characters.
const STRINGS: &[&str] = &[
    "",
    " ",
    "all",
    "none",
    "csv",
    "ndjson",
    "parquet",
    "gzip",
    "zstd",
    "logistic",
    "decision-tree",
    "random-forest",
    "gbdt",
    "platt",
    "isotonic",
    "churn",
    "repeat_purchase",
    "value",
    "thresholds",
    "quantiles",
    "ingest",
    "score",
    "o.csv",
    "x.xlsx",
    "30s",
    "500ms",
    "2m",
    "1h",
    "0s",
    "18446744073709551615s",
    "18446744073709551615ms",
    "18446744073709551615h",
    "18446744073709551615min",
    "99999999999999999999999m",
    "-1s",
    "1.5s",
    "512MiB",
    "1e400GiB",
    "18446744073709551615",
    "99999999999999999999GiB",
    ".GiB",
    "${RETAIN_FUZZ_UNSET}",
    "${",
    "$$",
    "${A=B}",
    "${}",
    "a\nb",
    "\u{0}",
    "\u{1b}[31m",
    "true",
    "1990-01-01",
    "email",
    "no_action",
    ",",
    "\"",
    "é",
    "\t",
];

/// Hostile values: the integer and float edges, unit strings past u64, `${…}`, control
/// characters, every enum name, wrong types, and arrays and tables of them.
fn hostile_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => prop::sample::select(INTEGERS).prop_map(Value::Integer),
        1 => any::<i64>().prop_map(Value::Integer),
        2 => prop::sample::select(FLOATS).prop_map(Value::Float),
        4 => prop::sample::select(STRINGS).prop_map(|s| Value::String(s.to_owned())),
        1 => text_of(TOML_CHARS, 0..20).prop_map(Value::String),
        1 => any::<bool>().prop_map(Value::Boolean),
        1 => prop::sample::select(vec![
            "1979-05-27", "1979-05-27T07:32:00Z", "07:32:00", "9999-12-31", "0001-01-01",
        ])
        .prop_filter_map("a TOML date", |s| s.parse().ok().map(Value::Datetime)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|kv| Value::Table(kv.into_iter().collect())),
        ]
    })
}

/// Keys of all three files (so a new key is often a real one in the wrong place), a typo,
/// secrets, and odd ones.
const KEYS: &[&str] = &[
    "name",
    "warehouse",
    "raw",
    "as-of",
    "stages",
    "sql-dir",
    "models-dir",
    "engine",
    "memory-limit",
    "target-partitions",
    "sources",
    "orders",
    "customers",
    "path",
    "url",
    "format",
    "compression",
    "delimiter",
    "quote",
    "header",
    "columns",
    "optional",
    "max-quarantine-ratio",
    "features",
    "params",
    "models",
    "churn",
    "repeat_purchase",
    "score",
    "tiers",
    "high_share",
    "medium_share",
    "high_risk",
    "medium_risk",
    "top_reasons",
    "clv",
    "time-unit-days",
    "annual-discount-rate",
    "margin",
    "holdout-days",
    "storage",
    "options",
    "max-retries",
    "retry-timeout",
    "timeout",
    "keep-replaced-files",
    "quality",
    "min-date",
    "future-days",
    "as-of-tolerance-days",
    "lock-stale-after",
    "label-sql",
    "horizon-days",
    "training-snapshots",
    "snapshot-spacing-days",
    "population",
    "exclude",
    "seed",
    "label-params",
    "algorithm",
    "kind",
    "alpha",
    "max-iterations",
    "max-depth",
    "min-samples-leaf",
    "trees",
    "bootstrap-share",
    "learning-rate",
    "max-leaves",
    "bins",
    "subsample",
    "calibration",
    "method",
    "holdout-share",
    "control-share",
    "valid-days",
    "budget",
    "consent",
    "caps",
    "max-contacts",
    "window-days",
    "evaluation",
    "action",
    "why",
    "eligible",
    "driver",
    "channel",
    "cost",
    "uplift",
    "uplift-by",
    "column",
    "values",
    "cooldown-days",
    "capacity",
    "suppresses",
    "email",
    "warehose",
    "aws_secret_access_key",
    "aws_region",
    "",
    " ",
    "a.b",
    "ключ",
    "\n",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => text_of(TOML_CHARS, 0..8),
    ]
}

/// One edit of a parsed file: give a key an edge value of its own type, set a key of
/// one of its tables (a key it has or a new one) to any value, or remove one.
#[derive(Debug, Clone)]
enum Edit {
    Nudge {
        table: Index,
        key: Index,
        pick: Index,
    },
    Set {
        table: Index,
        key: Result<Index, String>,
        value: Value,
    },
    Remove {
        table: Index,
        key: Index,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => any::<(Index, Index, Index)>().prop_map(|(table, key, pick)| Edit::Nudge { table, key, pick }),
        3 => (any::<Index>(), prop_oneof![3 => any::<Index>().prop_map(Ok), 1 => key().prop_map(Err)], hostile_value())
            .prop_map(|(table, key, value)| Edit::Set { table, key, value }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(table, key)| Edit::Remove { table, key }),
    ]
}

/// One edit of the text the edited file serialises to.
#[derive(Debug, Clone)]
enum TextEdit {
    None,
    /// Cut at a character.
    Truncate(Index),
    /// Insert text at a character.
    Insert(Index, String),
}

fn text_edit() -> impl Strategy<Value = TextEdit> {
    prop_oneof![
        3 => Just(TextEdit::None),
        1 => any::<Index>().prop_map(TextEdit::Truncate),
        1 => (any::<Index>(), text_of(TOML_CHARS, 1..30)).prop_map(|(i, s)| TextEdit::Insert(i, s)),
    ]
}

/// A path from the root to a table: keys, and indexes into arrays of tables.
type TablePath = Vec<Result<String, usize>>;

/// Every table of `t`, itself first.
fn tables(t: &Table, path: &TablePath, out: &mut Vec<TablePath>) {
    out.push(path.clone());
    for (k, v) in t {
        match v {
            Value::Table(sub) => {
                let mut p = path.clone();
                p.push(Ok(k.clone()));
                tables(sub, &p, out);
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Table(sub) = item {
                        let mut p = path.clone();
                        p.push(Ok(k.clone()));
                        p.push(Err(i));
                        tables(sub, &p, out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn table_at<'a>(mut t: &'a mut Table, path: &[Result<String, usize>]) -> Option<&'a mut Table> {
    let mut i = 0;
    while i < path.len() {
        let Ok(k) = &path[i] else { return None };
        t = match (t.get_mut(k)?, path.get(i + 1)) {
            (Value::Array(items), Some(Err(n))) => {
                i += 1;
                items.get_mut(*n)?.as_table_mut()?
            }
            (Value::Table(sub), _) => sub,
            _ => return None,
        };
        i += 1;
    }
    Some(t)
}

/// An edge value of `old`'s own type (tables stay as they are).
fn nudged(old: &Value, pick: &Index) -> Value {
    match old {
        Value::Integer(_) => Value::Integer(*pick.get(INTEGERS)),
        Value::Float(_) => Value::Float(*pick.get(FLOATS)),
        Value::String(_) => Value::String((*pick.get(STRINGS)).to_owned()),
        Value::Boolean(b) => Value::Boolean(!b),
        Value::Array(a) if pick.index(2) == 0 => Value::Array(a.iter().chain(a).cloned().collect()),
        Value::Array(_) => Value::Array(vec![]),
        other => other.clone(),
    }
}

/// `text` with `edits` applied to its tables, serialised, and then `text_edit` applied.
fn mutated(text: &str, edits: &[Edit], text_edit: &TextEdit) -> Option<String> {
    let mut doc: Table = toml::from_str(text).ok()?;
    for e in edits {
        let mut all = Vec::new();
        tables(&doc, &vec![], &mut all);
        let (Edit::Nudge { table, .. } | Edit::Set { table, .. } | Edit::Remove { table, .. }) = e;
        let path = &all[table.index(all.len())];
        let t = table_at(&mut doc, path)?;
        match e {
            Edit::Nudge { key, pick, .. } => {
                if !t.is_empty() {
                    let k = t.keys().nth(key.index(t.len()))?.clone();
                    let v = nudged(&t[&k], pick);
                    t.insert(k, v);
                }
            }
            Edit::Set { key, value, .. } => {
                let k = match key {
                    Ok(i) if !t.is_empty() => t.keys().nth(i.index(t.len()))?.clone(),
                    Ok(_) => "name".to_owned(),
                    Err(k) => k.clone(),
                };
                t.insert(k, value.clone());
            }
            Edit::Remove { key, .. } => {
                if !t.is_empty() {
                    let k = t.keys().nth(key.index(t.len()))?.clone();
                    t.remove(&k);
                }
            }
        }
    }
    let mut out = toml::to_string(&doc).ok()?;
    let at = |i: &Index, s: &str| {
        let mut n = i.index(s.len() + 1);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        n
    };
    match text_edit {
        TextEdit::None => {}
        TextEdit::Truncate(i) => out.truncate(at(i, &out)),
        TextEdit::Insert(i, s) => out.insert_str(at(i, &out), s),
    }
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Fuzzes all three parsers (pipeline file, model spec, policy file) with random
    /// text made of TOML's punctuation, quotes, escapes, line breaks and control
    /// characters.
    /// Property: no panic; every error names the file and says what is wrong in one line
    /// of bounded length.
    #[test]
    fn random_text_is_an_error_naming_the_file(text in text_of(TOML_CHARS, 0..400)) {
        for kind in [Kind::Pipeline, Kind::Model, Kind::Policy] {
            parse(kind, &text)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Fuzzes the pipeline-file parser with the shipped pipelines, some keys set to
    /// hostile values (4294967295, -1, NaN, `18446744073709551615s`, `${UNSET}`, wrong
    /// types, tables), new keys, removed keys, then the text cut or spliced.
    /// Property: no panic; an error names the file in one bounded line; a pipeline that
    /// parses keeps every documented bound and parses the same again.
    #[test]
    fn pipeline_file_mutations_parse_within_bounds_or_fail_clearly(
        base in 0..PIPELINES.len(),
        edits in prop::collection::vec(edit(), 1..4),
        text_edit in text_edit(),
    ) {
        let text = mutated(PIPELINES[base], &edits, &text_edit);
        prop_assume!(text.is_some());
        parse(Kind::Pipeline, &text.unwrap_or_default())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Fuzzes the model-spec parser like the pipeline parser: the shipped specs with
    /// hostile values (horizon-days = 4294967295, bins = -1, shares of NaN, …), keys of
    /// other algorithms, new and removed keys, then the text cut or spliced.
    /// Property: no panic; an error names the file in one bounded line; a spec that
    /// parses keeps every documented bound (its training window within 100 years).
    #[test]
    fn model_spec_mutations_parse_within_bounds_or_fail_clearly(
        base in 0..MODELS.len(),
        edits in prop::collection::vec(edit(), 1..4),
        text_edit in text_edit(),
    ) {
        let text = mutated(MODELS[base], &edits, &text_edit);
        prop_assume!(text.is_some());
        parse(Kind::Model, &text.unwrap_or_default())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Fuzzes the policy-file parser like the pipeline parser: the shipped policy with
    /// hostile values (cooldown-days = 4294967295, control-share = NaN, …), new and
    /// removed keys and actions' keys, then the text cut or spliced.
    /// Property: no panic; an error names the file in one bounded line; a policy that
    /// parses keeps every documented bound (day counts within ten years).
    #[test]
    fn policy_file_mutations_parse_within_bounds_or_fail_clearly(
        edits in prop::collection::vec(edit(), 1..4),
        text_edit in text_edit(),
    ) {
        let text = mutated(DEFAULT_POLICY, &edits, &text_edit);
        prop_assume!(text.is_some());
        parse(Kind::Policy, &text.unwrap_or_default())?;
    }
}

/// How a test nests a value deeply.
#[derive(Debug, Clone, Copy)]
enum Nesting {
    /// `x = [[[…]]]`
    Arrays,
    /// `x = { a = { a = … } }`
    InlineTables,
    /// `a.a.a.….x = 1`
    DottedKey,
    /// `[a.a.a.…]`
    TableHeader,
}

const MINIMAL_PIPELINE: &str = "name = \"m\"\nwarehouse = \"w\"\n[sources.orders]\npath = \"o.csv\"\n[models]\nchurn = \"churn\"\nrepeat_purchase = \"repeat_purchase\"\n";
const MINIMAL_MODEL: &str = "name = \"m\"\nlabel-sql = \"l.sql\"\nhorizon-days = 9\ntraining-snapshots = 2\nsnapshot-spacing-days = 30\nfeatures = \"all\"\n[algorithm]\nkind = \"logistic\"\n";
const MINIMAL_POLICY: &str = "name = \"t\"\n[[action]]\nname = \"a\"\nwhy = \"w\"\neligible = \"true\"\ndriver = \"churn\"\nchannel = \"email\"\nconsent = \"none\"\ncost = 1.0\nuplift = 0.1\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Fuzzes all three parsers with values nested up to 20,000 deep (arrays, inline
    /// tables, dotted keys, table headers), where a file takes any value
    /// (`[features.params]`, `[label-params]`) and where it takes none.
    /// Property: the parse returns (no stack overflow, no panic); an error is well formed;
    /// a result keeps its bounds.
    #[test]
    fn deep_nesting_returns_without_overflowing_the_stack(
        kind in prop::sample::select(vec![Kind::Pipeline, Kind::Model, Kind::Policy]),
        nesting in prop::sample::select(vec![Nesting::Arrays, Nesting::InlineTables, Nesting::DottedKey, Nesting::TableHeader]),
        depth in prop_oneof![1..100usize, 100..20_000usize],
        anywhere in any::<bool>(),
    ) {
        let (base, table) = match kind {
            Kind::Pipeline => (MINIMAL_PIPELINE, "features.params"),
            Kind::Model => (MINIMAL_MODEL, "label-params"),
            Kind::Policy => (MINIMAL_POLICY, "consent"),
        };
        let table = if anywhere { "x" } else { table };
        let nested = match nesting {
            Nesting::Arrays => format!("[{table}]\nx = {}{}\n", "[".repeat(depth), "]".repeat(depth)),
            Nesting::InlineTables => format!("[{table}]\nx = {}1{}\n", "{ a = ".repeat(depth), " }".repeat(depth)),
            Nesting::DottedKey => format!("[{table}]\n{}x = 1\n", "a.".repeat(depth)),
            Nesting::TableHeader => format!("[{table}.{}x]\ny = 1\n", "a.".repeat(depth)),
        };
        parse(kind, &format!("{base}{nested}"))?;
    }
}

/// Tokens of SQL expressions, and of broken ones.
const SQL_TOKENS: &[&str] = &[
    "churn_probability",
    "lifecycle_stage",
    ">=",
    "<=",
    "=",
    "<>",
    "!=",
    "0.4",
    "1",
    "-1",
    "4294967295",
    "99999999999999999999999",
    "AND",
    "OR",
    "NOT",
    "IN",
    "(",
    ")",
    "(",
    ")",
    ",",
    "'first_time'",
    "'it''s'",
    "'unterminated",
    "\"quoted col\"",
    "\"unterminated",
    "NULL",
    "IS",
    "LIKE",
    "'%'",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "true",
    "false",
    "--",
    "/*",
    "*/",
    ";",
    "SELECT",
    "random()",
    "$1",
    "?",
    "\\",
    "\"\"\"",
    "'''",
    "\n",
    "\r\n",
    "\t",
    "\u{0}",
    "\u{1b}",
    "é",
    "😀",
    "\u{feff}",
    "#",
    "[",
    "]",
    "{",
    "}",
    "${X}",
];

/// An `eligible` (or consent) expression: random tokens, thousands of ORed terms, or
/// parentheses nested thousands deep; perhaps blank.
fn expression() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(SQL_TOKENS), 0..40).prop_map(|t| t.join(" ")),
        1 => (1..6_000usize).prop_map(|n| vec!["churn_probability > 0.5"; n].join(" OR ")),
        1 => (1..10_000usize).prop_map(|n| format!("{}true{}", "(".repeat(n), ")".repeat(n))),
        1 => (1..10_000usize).prop_map(|n| "(".repeat(n)),
        1 => prop::sample::select(vec!["", " ", "\n", "\t\r\n"]).prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Fuzzes how the policy and model-spec parsers carry SQL expressions (`eligible`,
    /// the `[consent]` ones, a spec's `population`): random SQL tokens, unterminated
    /// quotes of every kind, control characters, 6,000 ORed terms, 10,000 nested
    /// parentheses, blank ones, written into the file as TOML strings.
    /// Property: no panic; a blank `eligible` or consent expression is an error naming
    /// it; any other expression comes back byte for byte (the SQL checks downstream see
    /// exactly what the file says).
    #[test]
    fn expressions_come_back_verbatim_or_blank_ones_are_named(
        eligible in expression(),
        consent in expression(),
        population in expression(),
    ) {
        let mut policy: Table = toml::from_str(MINIMAL_POLICY).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(Value::Array(actions)) = policy.get_mut("action")
            && let Some(Value::Table(a)) = actions.get_mut(0)
        {
            a.insert("eligible".into(), Value::String(eligible.clone()));
        }
        let mut consents = Table::new();
        consents.insert("email".into(), Value::String(consent.clone()));
        policy.insert("consent".into(), Value::Table(consents));
        let text = toml::to_string(&policy).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match Policy::from_toml(&text, ORIGIN) {
            Ok(p) => {
                check_policy(&p, &text)?;
                prop_assert_eq!(&p.actions[0].eligible, &eligible);
                prop_assert_eq!(&p.consent["email"], &consent);
            }
            Err(e) => {
                check_error(&e, &text)?;
                let msg = e.to_string();
                if consent.trim().is_empty() {
                    prop_assert!(msg.contains("[consent] email is an empty expression"), "{msg}");
                } else {
                    prop_assert!(eligible.trim().is_empty(), "{msg}");
                    prop_assert!(msg.contains("action `a` (line ") && msg.contains("`eligible` is empty"), "{msg}");
                }
            }
        }
        let mut spec: Table = toml::from_str(MINIMAL_MODEL).map_err(|e| TestCaseError::fail(e.to_string()))?;
        spec.insert("population".into(), Value::String(population.clone()));
        let text = toml::to_string(&spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let m = ModelSpec::from_toml(&text, ORIGIN);
        prop_assert_eq!(m.ok().and_then(|m| m.population), Some(population));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16384))]

    /// Fuzzes the unit parsers of pipeline files (`Duration`: `500ms`, `30s`, `2m`,
    /// `1h`; `ByteSize`: `512MiB`, `2GiB`, bytes) with digits up to 30 long, units,
    /// signs, dots and spaces.
    /// Property: no panic (a product past u64 is an error, not an overflow); a duration
    /// that parses is exactly its number times its unit.
    #[test]
    fn units_parse_exactly_or_fail_clearly(
        number in prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            (0..u64::MAX / 1_000).prop_map(|n| format!(" {n}")),
            prop::sample::select(vec![
                "18446744073709551615", "18446744073709551616", "18446744073709551", "5124095576030431",
                "307445734561825860", "307445734561825861", "99999999999999999999", "0", "",
            ])
            .prop_map(str::to_owned),
            text_of(&['0', '1', '5', '9', '9', '9', '.', '-', '+', ' ', 'e'], 0..30),
        ],
        unit in prop::sample::select(vec!["", "ms", "s", "m", "min", "h", "d", " s", "S", "b", "kb", "KiB", "mib", "GiB", "gb", "TiB", "é"]),
    ) {
        let text = format!("{number}{unit}");
        match Duration::from_str(&text) {
            Ok(d) => {
                let n: u128 = number.trim().parse().map_err(|_| TestCaseError::fail(format!("{text:?} parsed")))?;
                let per = match unit.trim() {
                    "ms" => 1,
                    "s" => 1_000,
                    "m" | "min" => 60_000,
                    "h" => 3_600_000,
                    other => return Err(TestCaseError::fail(format!("unit {other:?} accepted"))),
                };
                prop_assert_eq!(d.0.as_millis(), n * per, "{:?}", text);
            }
            Err(e) => prop_assert!(!e.is_empty() && !e.contains('\n')),
        }
        match ByteSize::from_str(&text) {
            Ok(_) => {}
            Err(e) => prop_assert!(!e.is_empty() && !e.contains('\n')),
        }
    }
}

/// Values at the edges of every type a key takes: the integers around each bound and past
/// u32, u64 and i64 ranges, non-finite floats, durations and sizes past u64, unset and
/// unclosed `${…}`, line breaks and escapes, and wrong types.
fn edge_values() -> Vec<Value> {
    let mut v: Vec<Value> = [
        -1i64,
        0,
        1,
        3_651,
        36_526,
        65_536,
        4_294_967_295,
        4_294_967_296,
        i64::MAX,
        i64::MIN,
    ]
    .into_iter()
    .map(Value::Integer)
    .collect();
    v.extend(
        [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            -1.0,
            1.5,
            1e308,
        ]
        .into_iter()
        .map(Value::Float),
    );
    v.extend(
        [
            "",
            "18446744073709551615s",
            "5124095576031h",
            "99999999999999999999GiB",
            "${RETAIN_FUZZ_UNSET}",
            "${",
            "a\nb",
            "\u{1b}[2J",
            "none",
            "x.xlsx",
        ]
        .into_iter()
        .map(|s| Value::String(s.to_owned())),
    );
    v.push(Value::Boolean(true));
    v.push(Value::Array(vec![]));
    v.push(Value::Array(vec![
        Value::Integer(1),
        Value::String("a".into()),
    ]));
    v.push(Value::Table(Table::new()));
    if let Ok(d) = "1979-05-27".parse() {
        v.push(Value::Datetime(d));
    }
    v
}

/// Keys the shipped files leave out, with valid values, so that the sweep reaches them.
const PIPELINE_OPTIONAL: &str = r#"
lock-stale-after = "2h"
sql-dir = "sql"
models-dir = "models"
stages = ["ingest", "score"]
[engine]
spill-dir = "/tmp"
target-partitions = 4
[sources.orders]
delimiter = ";"
quote = "'"
header = false
columns = ["a", "b"]
optional = true
timestamp-format = "%d/%m/%Y"
max-quarantine-ratio = 0.1
staging = "staging/orders.sql"
compression = "gzip"
[features]
sql = "features/customer.sql"
[policy]
file = "p.toml"
input-sql = "actions/policy_input.sql"
[clv]
enabled = true
sql = "features/clv_summary.sql"
[storage]
options = { aws_region = "eu-west-1" }
max-retries = 3
retry-timeout = "30s"
connect-timeout = "5s"
timeout = "2m"
keep-replaced-files = "0s"
[quality]
max-quarantine-ratio = 0.05
min-date = "1990-01-01"
future-days = 1
as-of-tolerance-days = 3
"#;
const MODEL_OPTIONAL: &str = r#"
population = "shopper_type = 'relational'"
seed = 7
[algorithm]
l2 = 1.0
bins = 64
subsample = 0.8
[calibration]
holdout-share = 0.2
"#;
const POLICY_OPTIONAL: &str = r#"
budget = 1000.0
[[action]]
name = "extra"
why = "w"
eligible = "true"
driver = "value"
channel = "email"
consent = "email"
cost = 1.0
uplift = 0.1
cooldown-days = 30
capacity = 10
budget = 50.0
control-share = 0.2
suppresses = ["win_back"]
uplift-by = { column = "shopper_type", values = { relational = 0.2 } }
"#;

/// `extra` merged into `doc`: tables merged key by key, arrays of tables appended.
fn merge(doc: &mut Table, extra: Table) {
    for (k, v) in extra {
        match (doc.get_mut(&k), v) {
            (Some(Value::Table(t)), Value::Table(x)) => merge(t, x),
            (Some(Value::Array(a)), Value::Array(x)) => a.extend(x),
            (_, v) => {
                doc.insert(k, v);
            }
        }
    }
}

/// Sweeps every key of the demo pipeline, the gradient-boosting spec and the default
/// policy, with every optional key added, through every edge value (a deterministic complement of the random
/// mutations above, which reach a given key and value only now and then): about 5,000
/// parses.
/// Property: as for the mutations: no panic; an error names the file in one bounded
/// line; a file that parses keeps every documented bound.
#[test]
fn every_key_of_the_shipped_files_takes_every_edge_value() -> Result<(), TestCaseError> {
    let values = edge_values();
    for (kind, text, optional) in [
        (Kind::Pipeline, DEMO_PIPELINE, PIPELINE_OPTIONAL),
        (Kind::Model, MODELS[2], MODEL_OPTIONAL),
        (Kind::Policy, DEFAULT_POLICY, POLICY_OPTIONAL),
    ] {
        let mut doc: Table =
            toml::from_str(text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let optional: Table =
            toml::from_str(optional).map_err(|e| TestCaseError::fail(e.to_string()))?;
        merge(&mut doc, optional);
        // The file with every optional key set parses.
        let full = toml::to_string(&doc).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(
            parse(kind, &full)?,
            "{kind:?} with every key does not parse"
        );
        let mut all = Vec::new();
        tables(&doc, &vec![], &mut all);
        let actions = match doc.get("action") {
            Some(Value::Array(a)) => a.len(),
            _ => 0,
        };
        // The actions share their keys: the first and the added one are enough.
        let sweep = all.iter().filter(|p| match p.get(1) {
            Some(Err(i)) => *i == 0 || *i + 1 == actions,
            _ => true,
        });
        for path in sweep {
            let keys: Vec<String> = table_at(&mut doc.clone(), path)
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default();
            for key in keys {
                for value in &values {
                    let mut d = doc.clone();
                    if let Some(t) = table_at(&mut d, path) {
                        t.insert(key.clone(), value.clone());
                    }
                    let text =
                        toml::to_string(&d).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    parse(kind, &text).map_err(|e| {
                        TestCaseError::fail(format!("{kind:?} {path:?} {key} = {value}: {e}"))
                    })?;
                }
            }
        }
    }
    Ok(())
}
