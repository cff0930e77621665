//! Labels and populations of a spec's snapshots, the end of the data their horizons
//! must not run past, and the label/feature matrices.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::ExprSchemable;
use datafusion::prelude::{DataFrame, Expr, col, lit};
use ndarray::Array2;
use retain_config::ModelSpec;
use retain_model::Encoding;
use retain_sql::Params;

use crate::{Ctx, Error, Result, df_err, toml_params};

use super::*;

/// The spec's label SQL as of `date`: one row per customer of its population, with the
/// label from the horizon after `date`.
pub(crate) async fn label_query(
    ctx: &Ctx,
    spec: &ModelSpec,
    file: &retain_sql::SqlFile,
    params: &BTreeMap<String, retain_sql::toml_value::Value>,
    date: NaiveDate,
) -> Result<DataFrame> {
    let params = Params::new()
        .with_as_of(date)
        .with(
            "horizon_days",
            datafusion::common::ScalarValue::Int64(Some(i64::from(spec.horizon_days))),
        )
        .with_toml(params);
    Ok(ctx.engine.query(file, &params).await?)
}

/// A spec's population as of `date`: the customers its label SQL would label (which
/// looks only at facts before `date`), as a set of ids, and its `population` filter as a
/// boolean column `flag` added to `features` (true when the spec has none). Scoring uses
/// both to compare each model's inputs with its training data on the same kind of
/// customer. A set rather than a join: the ids are small, and the features then stream
/// through scoring whatever DataFusion would pick as a join's build side.
/// A spec's `population` filter as an expression over `features` (None when the spec
/// has none). One that does not parse over the feature columns, or is not a boolean, is
/// a configuration error naming the spec; training, scoring and `retain validate` all
/// read it here.
pub(crate) fn population_filter(spec: &ModelSpec, features: &DataFrame) -> Result<Option<Expr>> {
    let Some(text) = &spec.population else {
        return Ok(None);
    };
    let invalid = |why: String| Error::Invalid {
        stage: "train",
        message: format!(
            "model spec {}: population `{}` is not a boolean expression over the feature columns: {}",
            spec.origin,
            // The expression's start finds it; the reason must stay on the line.
            retain_store::line_within(text, 200),
            retain_store::line(&why)
        ),
    };
    if let Some(why) = retain_sql::expression_too_large(text) {
        return Err(invalid(why));
    }
    let expr = features
        .parse_sql_expr(text)
        .map_err(|e| invalid(e.to_string()))?;
    let ty = expr
        .get_type(features.schema())
        .map_err(|e| invalid(e.to_string()))?;
    if ty != DataType::Boolean && ty != DataType::Null {
        return Err(invalid(format!("it is of type {ty}")));
    }
    Ok(Some(expr))
}

pub(crate) async fn population(
    ctx: &Ctx,
    spec: &ModelSpec,
    date: NaiveDate,
    features: DataFrame,
    flag: &str,
) -> Result<(std::collections::HashSet<String>, DataFrame)> {
    let file = ctx.sql.load(&spec.label_sql)?;
    let params = toml_params(&spec.label_params, &file.origin)?;
    let mut ids = std::collections::HashSet::new();
    let mut stream = label_query(ctx, spec, &file, &params, date)
        .await?
        .select(vec![col("customer_id")])
        .map_err(df_err(format!("population of {}", spec.origin)))?
        .execute_stream()
        .await
        .map_err(df_err(format!("population of {}", spec.origin)))?;
    while let Some(b) = futures::StreamExt::next(&mut stream).await {
        let b = b.map_err(df_err(format!("population of {}", spec.origin)))?;
        if let Some(c) = b.column(0).as_string_opt::<i32>() {
            ids.extend(c.iter().flatten().map(str::to_owned));
        }
    }
    let filter = population_filter(spec, &features)?.map_or(lit(true), Expr::is_true);
    let features = features
        .with_column(flag, filter)
        .map_err(df_err(format!("population filter of {}", spec.origin)))?;
    Ok((ids, features))
}

/// Refuse a snapshot whose horizon runs past the end of the data: its labels would
/// count customers as churned (or not repeating) only because their orders have not
/// been exported yet.
pub(super) async fn check_horizon(
    ctx: &mut Ctx,
    spec: &ModelSpec,
    latest: NaiveDate,
) -> Result<()> {
    let Some(last_day) = crate::horizon::data_end(ctx).await?.last_day() else {
        return Err(problem(spec, TrainProblem::NoOrders));
    };
    let horizon = Duration::days(i64::from(spec.horizon_days));
    // The horizon [D, D + H) needs every day up to D + H − 1 in the data.
    if latest + horizon > last_day + Duration::days(1) {
        return Err(problem(
            spec,
            TrainProblem::PastTheData {
                snapshot: latest,
                through: latest + horizon - Duration::days(1),
                horizon_days: spec.horizon_days,
                last_day,
                latest_as_of: last_day + Duration::days(1),
            },
        ));
    }
    Ok(())
}

pub(super) fn matrix(
    batches: &[RecordBatch],
    encoding: &Encoding,
    spec: &ModelSpec,
) -> Result<(Array2<f64>, Vec<bool>)> {
    let x = encoding.matrix(batches)?;
    let mut y = Vec::with_capacity(x.nrows());
    for b in batches {
        let label = b
            .column_by_name("label")
            .and_then(|c| c.as_boolean_opt())
            .ok_or_else(|| {
                problem(
                    spec,
                    TrainProblem::LabelType {
                        sql: spec.label_sql.clone(),
                    },
                )
            })?;
        y.extend(label.iter().map(|v| v.unwrap_or(false)));
    }
    Ok((x, y))
}
