//! Next best action as of D: the policy file's expressions run on DataFusion over
//! `sql/actions/policy_input.sql` (customer_risk + features + contact history), the
//! arbitration in [`retain_policy`], the table published as
//! `scores/next_best_action/as_of=D/`. And `retain evaluate-actions`: treated against
//! control outcomes of a published partition.

mod evaluate;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch,
    StringArray,
};
use datafusion::arrow::compute;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Field, Float64Type, Int64Type, Schema, SchemaRef,
};
use datafusion::arrow::error::ArrowError;
use datafusion::common::JoinType;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::logical_expr::when;
use datafusion::logical_expr::{ExprSchemable, Volatility, cast};
use datafusion::prelude::{DataFrame, Expr, col, lit};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use futures::StreamExt;
use retain_config::Policy;
use retain_config::policy::NO_ACTION;
use retain_policy::{Engine as Arbiter, Input, Summary};
use retain_sql::Params;
use retain_store::{Manifest, PublishMeta};

use crate::error::collapse_whitespace;
use crate::{Ctx, Error, Result, df_err};

pub use evaluate::{ActionEffect, ActionEvaluation};
pub(crate) use evaluate::{evaluate, outcomes_query};

const DEFAULT_INPUT_SQL: &str = "actions/policy_input.sql";

/// The schema of `scores/next_best_action` (documented in docs/tables.md).
pub fn next_best_action_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("as_of", DataType::Date32, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("priority", DataType::Int32, true),
        Field::new("expected_value", DataType::Float64, false),
        Field::new("control", DataType::Boolean, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("runner_up_action", DataType::Utf8, true),
        Field::new("runner_up_blocked_by", DataType::Utf8, true),
        Field::new("lifecycle_stage", DataType::Utf8, false),
        Field::new("shopper_type", DataType::Utf8, false),
        Field::new("valid_until", DataType::Date32, false),
        Field::new("policy", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
    ]))
}

/// The policy a pipeline names (or the embedded default).
/// Its expressions are bounded here, before anything is read: an `eligible` of
/// thousands of ORed terms would overflow the planner's stack (issue 20, finding 6).
pub fn load_policy(settings: &crate::Settings) -> Result<Policy> {
    let policy = Policy::load(settings.pipeline.policy.file.as_deref())?;
    let eligible = policy.actions.iter().enumerate().map(|(i, a)| {
        (
            format!("{}: eligible", policy.describe_action(i)),
            &a.eligible,
        )
    });
    let consent = policy
        .consent
        .iter()
        .map(|(name, sql)| (format!("[consent] {name}"), sql));
    for (what, sql) in eligible.chain(consent) {
        if let Some(why) = retain_sql::expression_too_large(sql) {
            // Its start is enough to find it; the reason must stay on the line.
            let shown = retain_store::line_within(sql, 120);
            return Err(policy_error(
                &policy,
                format!("{what} `{shown}` is too large: {why}"),
            ));
        }
    }
    Ok(policy)
}

fn policy_error(policy: &Policy, message: String) -> Error {
    Error::Invalid {
        stage: "next best action",
        message: format!("policy {}: {message}", policy.origin),
    }
}

/// Parse `sql` as a boolean over the input's columns; refuse anything that is not a
/// pure, row-by-row expression (subqueries, aggregates, window functions, parameters,
/// volatile functions such as random()).
fn boolean_expr(input: &DataFrame, sql: &str, policy: &Policy, what: &str) -> Result<Expr> {
    // Its size was bounded by `load_policy`.
    let shown = collapse_whitespace(sql);
    // A subquery would fail to plan with a confusing message (or read other tables):
    // refuse it by its SELECT keyword, found by the SQL tokenizer (not in strings).
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .map_err(|e| policy_error(policy, format!("{what} `{shown}`: {e}")))?;
    if tokens
        .iter()
        .any(|t| matches!(t, Token::Word(w) if w.keyword == Keyword::SELECT))
    {
        return Err(policy_error(
            policy,
            format!(
                "{what} `{shown}` uses a subquery: only a row-by-row expression over the input columns is allowed"
            ),
        ));
    }
    let expr = input.parse_sql_expr(sql).map_err(|e| {
        let msg = collapse_whitespace(&e.to_string());
        // DataFusion lists every valid field after an unknown one: keep the name and the
        // suggestion, without the input's internal table aliases.
        let msg = match msg.find(" Valid fields are") {
            Some(i) => msg[..i].to_owned(),
            None => msg,
        };
        let msg = ["'r.", "'f.", "'h."]
            .iter()
            .fold(msg, |m, q| m.replace(q, "'"));
        policy_error(policy, format!("{what} `{shown}`: {msg}"))
    })?;
    let mut refused: Option<String> = None;
    let _ = expr.apply(|e| {
        let why = match e {
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) => {
                Some("a subquery".to_owned())
            }
            Expr::AggregateFunction(f) => Some(format!("an aggregate ({})", f.func.name())),
            Expr::WindowFunction(_) => Some("a window function".to_owned()),
            Expr::Placeholder(p) => Some(format!("a parameter ({})", p.id)),
            Expr::ScalarFunction(f) if f.func.signature().volatility == Volatility::Volatile => {
                Some(format!("a volatile function ({}())", f.func.name()))
            }
            _ => None,
        };
        Ok(match why {
            Some(w) => {
                refused = Some(w);
                TreeNodeRecursion::Stop
            }
            None => TreeNodeRecursion::Continue,
        })
    });
    if let Some(w) = refused {
        return Err(policy_error(
            policy,
            format!(
                "{what} `{shown}` uses {w}: only a row-by-row expression over the input columns is allowed"
            ),
        ));
    }
    let ty = expr
        .get_type(input.schema())
        .map_err(|e| policy_error(policy, format!("{what} `{shown}`: {e}")))?;
    if ty != DataType::Boolean && ty != DataType::Null {
        return Err(policy_error(
            policy,
            format!("{what} `{shown}` is of type {ty}, not a boolean"),
        ));
    }
    Ok(expr)
}

/// The input columns arbitration reads, in this order (the policy's own columns follow).
const INPUT_COLUMNS: [&str; 7] = [
    "customer_id",
    "lifecycle_stage",
    "shopper_type",
    "churn_probability",
    "repeat_purchase_probability",
    "expected_value",
    "contacts_in_window",
];

/// The policy's input with one boolean column per action (`__eligible_i`), per consent
/// (`__consent_k`), one string per uplift-by (`__segment_i`), every expression checked
/// first, then per action the day it was last sent to the customer (`__last_i`).
pub(crate) async fn plan(ctx: &Ctx, as_of: NaiveDate, policy: &Policy) -> Result<DataFrame> {
    let history = ctx.sql.load("actions/contact_history.sql")?;
    let params = Params::new().with_as_of(as_of).with(
        "cap_window_days",
        ScalarValue::Int64(Some(i64::from(policy.caps.window_days))),
    );
    let history = ctx.engine.query(&history, &params).await?;
    ctx.df()
        .deregister_table("contact_history")
        .map_err(df_err("deregister"))?;
    ctx.df()
        .register_table("contact_history", history.into_view())
        .map_err(df_err("registering contact_history"))?;
    let cfg = &ctx.settings.pipeline.policy;
    let file = ctx
        .sql
        .load(cfg.input_sql.as_deref().unwrap_or(DEFAULT_INPUT_SQL))?;
    let input = ctx
        .engine
        .query(&file, &Params::new().with_as_of(as_of))
        .await?;
    let schema = input.schema().clone();
    for needed in INPUT_COLUMNS {
        if schema.field_with_unqualified_name(needed).is_err() {
            return Err(Error::Invalid {
                stage: "next best action",
                message: format!("{} has no column `{needed}`", file.origin),
            });
        }
    }
    let mut exprs: Vec<Expr> = INPUT_COLUMNS.iter().map(|c| col(*c)).collect();
    for (i, a) in policy.actions.iter().enumerate() {
        let what = format!("{}: eligible", policy.describe_action(i));
        let e = boolean_expr(&input, &a.eligible, policy, &what)?;
        exprs.push(e.is_true().alias(format!("__eligible_{i}")));
        if let Some(by) = &a.uplift_by {
            if schema.field_with_unqualified_name(&by.column).is_err() {
                return Err(policy_error(
                    policy,
                    format!(
                        "{}: uplift-by column `{}` is not an input column",
                        policy.describe_action(i),
                        by.column
                    ),
                ));
            }
            exprs.push(
                cast(col(by.column.as_str()), DataType::Utf8).alias(format!("__segment_{i}")),
            );
        }
    }
    for (k, (name, sql)) in policy.consent.iter().enumerate() {
        let e = boolean_expr(&input, sql, policy, &format!("[consent] {name}"))?;
        exprs.push(e.is_true().alias(format!("__consent_{k}")));
    }
    let names: Vec<String> = exprs.iter().map(|e| e.schema_name().to_string()).collect();
    let selected = input
        .select(exprs)
        .map_err(df_err(format!("planning the policy {}", policy.origin)))?;
    // Per action, the last contact (for cooldowns): a pivot of contact_history with one
    // max() per action, joined with the narrow pivot as the build side.
    let pivot: Vec<Expr> = policy
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            // DATE whatever the (editable) SQL gave, so the batch loop reads it safely.
            let last = max(when(
                col("action").eq(lit(a.name.as_str())),
                col("last_contacted_on"),
            )
            .end()?);
            Ok(cast(last, DataType::Date32).alias(format!("__last_{i}")))
        })
        .collect::<datafusion::error::Result<_>>()
        .map_err(df_err("pivoting the contact history"))?;
    let mut columns: Vec<Expr> = names.iter().map(|n| col(n.as_str())).collect();
    columns.extend((0..policy.actions.len()).map(|i| col(format!("__last_{i}"))));
    let df = ctx
        .df()
        .table("contact_history")
        .await
        .and_then(|h| h.aggregate(vec![col("customer_id").alias("__h_customer_id")], pivot))
        .and_then(|h| {
            h.join(
                selected,
                JoinType::Right,
                &["__h_customer_id"],
                &["customer_id"],
                None,
            )
        })
        .and_then(|df| df.select(columns))
        .map_err(df_err(format!("planning the policy {}", policy.origin)))?;
    if tracing::enabled!(tracing::Level::DEBUG)
        && let Ok(plan) = df.clone().into_optimized_plan()
    {
        tracing::debug!(plan = %plan.display_indent(), "next-best-action input plan");
    }
    Ok(df)
}

/// Interns the few distinct lifecycle stages and shopper types.
#[derive(Default)]
struct Interner {
    values: Vec<String>,
    index: HashMap<String, u16>,
}

impl Interner {
    fn code(&mut self, v: &str) -> u16 {
        if let Some(&c) = self.index.get(v) {
            return c;
        }
        let c = self.values.len() as u16;
        self.values.push(v.to_owned());
        self.index.insert(v.to_owned(), c);
        c
    }
}

fn days_to_date(days: i32) -> NaiveDate {
    NaiveDate::default() + chrono::Days::new(days.max(0) as u64)
}

fn date_to_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::default()).num_days() as i32
}

/// Decide and publish `scores/next_best_action/<partition>` from the published
/// customer_risk and features of the same date.
pub(crate) async fn next_best_action(
    ctx: &mut Ctx,
    as_of: NaiveDate,
    partition: &str,
    policy: &Policy,
) -> Result<Decided> {
    let started = Instant::now();
    let risk = ctx
        .register_published("customer_risk", "scores/customer_risk", partition)
        .await?;
    let features = ctx
        .register_published("features", "features/customer", partition)
        .await?;
    // Decisions join the scores with the features of the same date: both must come from
    // the same computation (docs/storage.md, "Time").
    let scored_from = ctx.wh.manifest("scores/customer_risk", partition).await?;
    if let Some(used) = scored_from
        .inputs
        .iter()
        .find(|i| i.location == features.location)
        && used.version != features.version
    {
        return Err(Error::StaleInput {
            partition: format!("scores/customer_risk/{partition}"),
            input: format!("features/customer/{partition}"),
            recorded: used.version.clone().unwrap_or_default(),
            current: features.version.clone().unwrap_or_default(),
            fix: format!("score again first: `retain score --as-of {as_of}`"),
        });
    }
    let df = plan(ctx, as_of, policy).await?;
    let n_actions = policy.actions.len();
    let n_consent = policy.consent.len();
    let mut arbiter = Arbiter::new(policy);
    let mut stages = Interner::default();
    let mut types = Interner::default();
    let mut segments_of: Vec<(u16, u16)> = Vec::new();
    let mut stream = df
        .execute_stream()
        .await
        .map_err(df_err("running the next-best-action policy"))?;
    // The columns are the ones `plan` built, so these fail only on a bug.
    let err = |e: ArrowError| Error::Arrow {
        context: "next best action: reading the policy's output".into(),
        source: e,
    };
    while let Some(batch) = stream.next().await {
        let b = batch.map_err(df_err("running the next-best-action policy"))?;
        let s = |i: usize| {
            b.column(i)
                .as_string_opt::<i32>()
                .ok_or_else(|| err(ArrowError::CastError("expected a string column".into())))
        };
        let f = |i: usize| -> Result<Float64Array> {
            let c = compute::cast(b.column(i), &DataType::Float64).map_err(err)?;
            Ok(c.as_primitive::<Float64Type>().clone())
        };
        let (ids, stage, shopper) = (s(0)?, s(1)?, s(2)?);
        let (churn, repeat, value) = (f(3)?, f(4)?, f(5)?);
        let contacts = compute::cast(b.column(6), &DataType::Int64).map_err(err)?;
        let contacts = contacts.as_primitive::<Int64Type>();
        // The policy's columns, in the order `plan` added them.
        let mut next = INPUT_COLUMNS.len();
        let mut eligible_cols: Vec<&BooleanArray> = Vec::with_capacity(n_actions);
        let mut segment_cols: Vec<Option<&StringArray>> = Vec::with_capacity(n_actions);
        for a in &policy.actions {
            eligible_cols.push(b.column(next).as_boolean());
            next += 1;
            if a.uplift_by.is_some() {
                segment_cols.push(Some(s(next)?));
                next += 1;
            } else {
                segment_cols.push(None);
            }
        }
        let consent_cols: Vec<&BooleanArray> = (0..n_consent)
            .map(|k| b.column(next + k).as_boolean())
            .collect();
        next += n_consent;
        let last_cols: Vec<&Date32Array> = (0..n_actions)
            .map(|i| b.column(next + i).as_primitive::<Date32Type>())
            .collect();

        let mut eligible = vec![false; n_actions];
        let mut segment: Vec<Option<&str>> = vec![None; n_actions];
        let mut consent = vec![false; n_consent];
        let mut last: Vec<Option<NaiveDate>> = vec![None; n_actions];
        for r in 0..b.num_rows() {
            for i in 0..n_actions {
                eligible[i] = eligible_cols[i].value(r);
                segment[i] = segment_cols[i].and_then(|c| c.is_valid(r).then(|| c.value(r)));
                last[i] = last_cols[i]
                    .is_valid(r)
                    .then(|| days_to_date(last_cols[i].value(r)));
            }
            for (k, c) in consent_cols.iter().enumerate() {
                consent[k] = c.value(r);
            }
            let opt = |a: &Float64Array| a.is_valid(r).then(|| a.value(r));
            arbiter.add(
                &Input {
                    id: ids.value(r),
                    eligible: &eligible,
                    churn_probability: opt(&churn),
                    repeat_purchase_probability: opt(&repeat),
                    value: opt(&value).unwrap_or(0.0),
                    segment: &segment,
                    consent: &consent,
                    contacts_in_window: u32::try_from(contacts.value(r).max(0)).unwrap_or(u32::MAX),
                    last_contact: &last,
                },
                as_of,
            );
            segments_of.push((stages.code(stage.value(r)), types.code(shopper.value(r))));
        }
    }
    let (decisions, summary) = arbiter.decide();
    // Published in customer order, whatever order the query streamed them in.
    let mut order: Vec<u32> = (0..decisions.len() as u32).collect();
    order.sort_by(|&a, &b| decisions[a as usize].id.cmp(&decisions[b as usize].id));

    let schema = next_best_action_schema();
    let as_of_days = date_to_days(as_of);
    let valid_until = date_to_days(as_of + chrono::Days::new(u64::from(policy.valid_days)));
    let policy_tag = format!("{}@{}", policy.name, &policy.fingerprint()[..8]);
    let run_id = ctx.run_id().to_owned();
    let batches = order.chunks(64 * 1024).map(|chunk| {
        let n = chunk.len();
        let d = |k: usize| &decisions[chunk[k] as usize];
        let name = |i: Option<usize>| i.map_or(NO_ACTION, |i| policy.actions[i].name.as_str());
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values((0..n).map(|k| &*d(k).id))),
            Arc::new(Date32Array::from(vec![as_of_days; n])),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|k| name(d(k).action)),
            )),
            Arc::new(StringArray::from_iter_values((0..n).map(|k| {
                d(k).action
                    .map_or("none", |i| policy.actions[i].channel.as_str())
            }))),
            Arc::new(Int32Array::from_iter(
                (0..n).map(|k| d(k).priority.map(|p| p as i32)),
            )),
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|k| d(k).expected_value),
            )),
            Arc::new(BooleanArray::from_iter((0..n).map(|k| Some(d(k).control)))),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|k| d(k).reason.as_str()),
            )),
            Arc::new(StringArray::from_iter((0..n).map(|k| {
                d(k).runner_up
                    .as_ref()
                    .map(|(i, _)| policy.actions[*i].name.as_str())
            }))),
            Arc::new(StringArray::from_iter(
                (0..n).map(|k| d(k).runner_up.as_ref().map(|(_, why)| why.as_str())),
            )),
            Arc::new(StringArray::from_iter_values((0..n).map(|k| {
                stages.values[segments_of[chunk[k] as usize].0 as usize].as_str()
            }))),
            Arc::new(StringArray::from_iter_values((0..n).map(|k| {
                types.values[segments_of[chunk[k] as usize].1 as usize].as_str()
            }))),
            Arc::new(Date32Array::from(vec![valid_until; n])),
            Arc::new(StringArray::from(vec![policy_tag.as_str(); n])),
            Arc::new(StringArray::from(vec![run_id.as_str(); n])),
        ];
        RecordBatch::try_new(schema.clone(), columns)
    });
    let mut props = serde_json::Map::new();
    props.insert(
        "policy".into(),
        serde_json::json!({
            "name": policy.name,
            "origin": policy.origin,
            "fingerprint": policy.fingerprint(),
        }),
    );
    props.insert(
        "summary".into(),
        serde_json::to_value(&summary).map_err(|source| Error::Serialise {
            stage: "next best action",
            what: "the summary".into(),
            source,
        })?,
    );
    let m = ctx
        .wh
        .publish(
            "scores/next_best_action",
            partition,
            schema.clone(),
            futures::stream::iter(batches),
            PublishMeta {
                inputs: vec![risk, features],
                properties: props,
                elapsed_ms: started.elapsed().as_millis() as u64,
            },
        )
        .await?;
    Ok(Decided {
        manifest: m,
        record: crate::runs::ActionsRecord::new(policy_tag, &summary),
        summary,
    })
}

/// What deciding the actions published and decided.
pub(crate) struct Decided {
    pub manifest: Manifest,
    pub summary: Summary,
    /// The action mix, for the run record.
    pub record: crate::runs::ActionsRecord,
}
