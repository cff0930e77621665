//! Labels, training sets and model fitting with out-of-time evaluation.
//!
//! Snapshot dates for a model with horizon H, as of the run's date A:
//! - validation (out of time): V = A − H, so its horizon [V, A) is fully observed;
//! - training: V − H − k·spacing for k = 0..n, so every training horizon ends at or
//!   before V and no training label looks at the validation period.

use std::time::Instant;

use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::common::JoinType;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::prelude::{col, lit};
use retain_config::ModelSpec;
use retain_model::{Dataset, ModelArtifact, TrainingInfo, design_matrix, evaluate, fit_logistic};
use retain_sql::Params;
use retain_store::PublishMeta;
use serde::Serialize;

use crate::{Ctx, Error, Result, df_err, toml_params};

/// What training a model produced.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub name: String,
    pub version: String,
    pub training_snapshots: usize,
    pub validation_snapshot: NaiveDate,
    pub training_rows: u64,
    pub validation_rows: u64,
    /// ROC AUC on the training rows; `None` with one class only.
    pub train_auc: Option<f64>,
    /// ROC AUC on the validation snapshot; `None` when it has one class only.
    pub validation_auc: Option<f64>,
    pub validation_base_rate: f64,
}

/// Snapshot dates: (training dates ascending, validation date).
pub fn snapshot_dates(spec: &ModelSpec, as_of: NaiveDate) -> (Vec<NaiveDate>, NaiveDate) {
    let h = Duration::days(i64::from(spec.horizon_days));
    let validation = as_of - h;
    let last_train = validation - h;
    let mut train: Vec<NaiveDate> = (0..spec.training_snapshots)
        .map(|k| last_train - Duration::days(i64::from(k * spec.snapshot_spacing_days)))
        .collect();
    train.sort();
    (train, validation)
}

pub(crate) async fn train(ctx: &mut Ctx, spec: &ModelSpec) -> Result<(ModelArtifact, ModelReport)> {
    let started = Instant::now();
    let (train_dates, validation_date) = snapshot_dates(spec, ctx.settings.as_of);
    let label_file = ctx.sql.load(&spec.label_sql)?;
    let label_params = toml_params(&spec.label_params, &label_file.origin)?;
    check_horizon(ctx, spec, validation_date).await?;

    let mut stats: Vec<SnapshotStats> = Vec::new();
    let mut train_batches = Vec::new();
    let mut validation_batches = Vec::new();
    for (date, split) in train_dates
        .iter()
        .map(|d| (*d, "train"))
        .chain(std::iter::once((validation_date, "validation")))
    {
        let partition = ctx.features(date).await?;
        let (_, features) = ctx.read_published("features/customer", &partition).await?;
        let params = Params::new()
            .with_date("as_of", date)
            .with(
                "horizon_days",
                datafusion::common::ScalarValue::Int64(Some(i64::from(spec.horizon_days))),
            )
            .with_toml(&label_params);
        let labels = ctx
            .engine
            .query(&label_file, &params)
            .await?
            .select(vec![
                col("customer_id").alias("_label_customer_id"),
                col("label"),
            ])
            .map_err(df_err("labels"))?;
        let joined = features
            .join(
                labels,
                JoinType::Inner,
                &["customer_id"],
                &["_label_customer_id"],
                None,
            )
            .and_then(|df| df.drop_columns(&["_label_customer_id"]))
            .and_then(|df| df.with_column("split", lit(split)))
            // Row order fixes the fit's floating-point sums: sort for reproducible models.
            .and_then(|df| df.sort(vec![col("customer_id").sort(true, false)]))
            .map_err(df_err(format!("training set for {} at {date}", spec.name)))?;
        let batches = joined
            .collect()
            .await
            .map_err(df_err(format!("training set for {} at {date}", spec.name)))?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let positives: usize = batches
            .iter()
            .filter_map(|b| b.column_by_name("label").and_then(|c| c.as_boolean_opt()))
            .map(|l| l.true_count())
            .sum();
        let label_rate = if rows == 0 {
            None
        } else {
            Some(positives as f64 / rows as f64)
        };
        tracing::info!(model = %spec.name, snapshot = %date, split, rows, positives, "labelled snapshot");
        stats.push(SnapshotStats {
            as_of: date,
            split,
            rows: rows as u64,
            positives: positives as u64,
            label_rate,
        });
        if split == "train" {
            train_batches.extend(batches);
        } else {
            validation_batches.extend(batches);
        }
    }

    let (x_train, y_train) = matrix(&train_batches, spec)?;
    let (x_val, y_val) = matrix(&validation_batches, spec)?;
    if y_val.is_empty() {
        return Err(Error::Stage {
            stage: "train",
            message: format!(
                "model `{}`: the validation snapshot {validation_date} has no labelled customers",
                spec.name
            ),
        });
    }

    // Publish the training set (train and validation rows) for inspection and reuse.
    let all: Vec<RecordBatch> = train_batches
        .iter()
        .chain(validation_batches.iter())
        .cloned()
        .collect();
    if let Some(first) = all.first() {
        let schema = first.schema();
        let mut props = serde_json::Map::new();
        props.insert(
            "snapshots".into(),
            serde_json::json!(
                train_dates
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
            ),
        );
        props.insert(
            "validation_snapshot".into(),
            validation_date.to_string().into(),
        );
        props.insert("label_sql".into(), label_file.origin.clone().into());
        props.insert("horizon_days".into(), spec.horizon_days.into());
        props.insert("per_snapshot".into(), serde_json::json!(stats));
        let m = ctx
            .wh
            .publish(
                &format!("training/{}", spec.name),
                &format!("as_of={}", ctx.settings.as_of),
                schema,
                futures::stream::iter(all.into_iter().map(Ok::<_, std::io::Error>)),
                PublishMeta {
                    inputs: vec![],
                    properties: props,
                    elapsed_ms: started.elapsed().as_millis() as u64,
                },
            )
            .await?;
        ctx.published(&m);
    }

    let data = Dataset {
        features: spec.features.clone(),
        x: x_train,
        y: y_train,
    };
    let fit_started = Instant::now();
    let model = fit_logistic(
        &spec.name,
        &data,
        spec.algorithm.alpha,
        spec.algorithm.max_iterations,
    )?;
    tracing::info!(model = %spec.name, rows = data.rows(), elapsed_ms = fit_started.elapsed().as_millis() as u64, "fitted");
    let train_metrics = evaluate(&model.predict_all(&data.x), &data.y)?;
    let validation_metrics = evaluate(&model.predict_all(&x_val), &y_val)?;

    let version = next_version(ctx, &spec.name).await?;
    let artifact = ModelArtifact {
        format: "retain.model/1".into(),
        name: spec.name.clone(),
        version: version.clone(),
        algorithm: "logistic".into(),
        model,
        training: TrainingInfo {
            training_snapshots: train_dates.iter().map(|d| d.to_string()).collect(),
            validation_snapshot: validation_date.to_string(),
            horizon_days: spec.horizon_days,
            alpha: spec.algorithm.alpha,
            max_iterations: spec.algorithm.max_iterations,
        },
        train_metrics,
        validation_metrics,
    };
    let dir = format!("models/{}/{version}", spec.name);
    ctx.wh
        .put_json(&format!("{dir}/model.json"), &artifact)
        .await?;
    ctx.wh
        .put_json(
            &format!("{dir}/metrics.json"),
            &serde_json::json!({
                "train": artifact.train_metrics,
                "validation": artifact.validation_metrics,
                "run_id": ctx.settings.run_id,
            }),
        )
        .await?;
    // The pointer is written last: a reader never sees a champion whose files are missing.
    ctx.wh
        .put_json(
            &format!("models/{}/champion", spec.name),
            &serde_json::json!({ "version": version }),
        )
        .await?;
    let report = ModelReport {
        name: spec.name.clone(),
        version,
        training_snapshots: train_dates.len(),
        validation_snapshot: validation_date,
        training_rows: artifact.train_metrics.rows,
        validation_rows: artifact.validation_metrics.rows,
        train_auc: artifact.train_metrics.roc_auc,
        validation_auc: artifact.validation_metrics.roc_auc,
        validation_base_rate: artifact.validation_metrics.base_rate,
    };
    tracing::info!(
        model = %report.name,
        version = %report.version,
        validation_auc = report.validation_auc,
        train_auc = report.train_auc,
        "model registered as champion"
    );
    Ok((artifact, report))
}

/// Rows and label rate of one labelled snapshot (in the training set's manifest).
#[derive(Debug, Clone, Serialize)]
struct SnapshotStats {
    as_of: NaiveDate,
    split: &'static str,
    rows: u64,
    positives: u64,
    /// Share of positive labels; null for a snapshot without rows.
    label_rate: Option<f64>,
}

/// Refuse a snapshot whose horizon runs past the end of the data: its labels would
/// count customers as churned (or not repeating) only because their orders have not
/// been exported yet.
async fn check_horizon(ctx: &mut Ctx, spec: &ModelSpec, latest: NaiveDate) -> Result<()> {
    let Some(last_day) = data_end(ctx).await? else {
        return Err(Error::Stage {
            stage: "train",
            message: format!("model `{}`: there are no staged orders to label", spec.name),
        });
    };
    let horizon = Duration::days(i64::from(spec.horizon_days));
    // The horizon [D, D + H) needs every day up to D + H − 1 in the data.
    if latest + horizon > last_day + Duration::days(1) {
        return Err(Error::Stage {
            stage: "train",
            message: format!(
                "model `{}`: snapshot {latest} needs orders through {} for its {}-day horizon, \
                 but the data ends on {last_day}; use an as-of date of at most {} \
                 (the validation snapshot is as-of minus horizon-days) or a shorter horizon-days",
                spec.name,
                latest + horizon - Duration::days(1),
                spec.horizon_days,
                last_day + Duration::days(1),
            ),
        });
    }
    Ok(())
}

/// The day of the latest staged fact (order, ticket, engagement event or contact), so a
/// quiet last day in a small shop's orders does not count as missing data. Computed
/// once per run.
async fn data_end(ctx: &mut Ctx) -> Result<Option<NaiveDate>> {
    if let Some(end) = ctx.data_end {
        return Ok(end);
    }
    let mut last_day: Option<NaiveDate> = None;
    for (table, column) in [
        ("orders", "ordered_at"),
        ("support_tickets", "opened_at"),
        ("engagement_events", "occurred_at"),
        ("contacts", "contacted_at"),
    ] {
        let context = || format!("finding the end of the data in `{table}`");
        let batches = ctx
            .df()
            .table(table)
            .await
            .and_then(|t| t.aggregate(vec![], vec![max(col(column)).alias("last")]))
            .map_err(df_err(context()))?
            .collect()
            .await
            .map_err(df_err(context()))?;
        let day = batches
            .first()
            .and_then(|b| b.column(0).as_primitive_opt::<TimestampMicrosecondType>())
            .filter(|a| a.is_valid(0))
            .and_then(|a| chrono::DateTime::from_timestamp_micros(a.value(0)))
            .map(|t| t.date_naive());
        last_day = last_day.max(day);
    }
    ctx.data_end = Some(last_day);
    Ok(last_day)
}

fn matrix(batches: &[RecordBatch], spec: &ModelSpec) -> Result<(ndarray::Array2<f64>, Vec<bool>)> {
    let x = design_matrix(batches, &spec.features)?;
    let mut y = Vec::with_capacity(x.nrows());
    for b in batches {
        let label = b
            .column_by_name("label")
            .and_then(|c| c.as_boolean_opt())
            .ok_or_else(|| Error::Stage {
                stage: "train",
                message: format!(
                    "label SQL `{}` must return a BOOLEAN `label`",
                    spec.label_sql
                ),
            })?;
        y.extend(label.iter().map(|v| v.unwrap_or(false)));
    }
    Ok((x, y))
}

/// The next free version `vNNNN` under `models/<name>/`.
pub(crate) async fn next_version(ctx: &Ctx, name: &str) -> Result<String> {
    let prefix = ctx.wh.root.child(&format!("models/{name}"));
    let mut max = 0u32;
    for meta in ctx.wh.root.list(&prefix).await? {
        if let Some(rest) = meta.location.prefix_match(&prefix)
            && let Some(seg) = rest.into_iter().next()
            && let Some(n) = seg
                .as_ref()
                .strip_prefix('v')
                .and_then(|n| n.parse::<u32>().ok())
        {
            max = max.max(n);
        }
    }
    Ok(format!("v{:04}", max + 1))
}

#[cfg(test)]
mod tests {
    use datafusion::common::ScalarValue;

    use super::*;
    use crate::test_support::{engine_with, orders_batch, run_sql};

    /// Labels as of 2026-06-01 for a handful of order histories, by customer.
    async fn labels(
        sql: &str,
        horizon: i64,
        extra: (&str, i64),
        orders: &[(&str, &str, &str)],
    ) -> Vec<(String, bool)> {
        let rows: Vec<(String, i64, &str, f64)> = orders
            .iter()
            .map(|(c, t, status)| {
                let at = chrono::DateTime::parse_from_rfc3339(t).unwrap();
                (c.to_string(), at.timestamp_micros(), *status, 10.0)
            })
            .collect();
        let engine = engine_with(vec![("orders", vec![vec![orders_batch(&rows)]])], None);
        let params = Params::new()
            .with_date("as_of", NaiveDate::from_ymd_opt(2026, 6, 1).unwrap())
            .with("horizon_days", ScalarValue::Int64(Some(horizon)))
            .with(extra.0, ScalarValue::Int64(Some(extra.1)));
        let batches = run_sql(&engine, sql, &params).await;
        let mut out = Vec::new();
        for b in &batches {
            let ids = b.column_by_name("customer_id").unwrap().as_string::<i32>();
            let label = b.column_by_name("label").unwrap().as_boolean();
            for i in 0..b.num_rows() {
                out.push((ids.value(i).to_owned(), label.value(i)));
            }
        }
        out
    }

    /// The label window is [D, D + H): an order at exactly D (which the features as of D
    /// do not see) counts, one at exactly D + H does not.
    #[tokio::test]
    async fn churn_labels_use_exactly_the_horizon_after_d() {
        let got = labels(
            "labels/churn.sql",
            90,
            ("max_recency_days", 180),
            &[
                ("A", "2026-05-01T00:00:00Z", "completed"),
                ("A", "2026-06-01T00:00:00Z", "completed"), // exactly D: in the window
                ("B", "2026-05-01T00:00:00Z", "completed"),
                ("B", "2026-08-30T00:00:00Z", "completed"), // exactly D + 90 days: out
                ("C", "2026-05-01T00:00:00Z", "completed"),
                ("C", "2026-08-29T23:59:59Z", "completed"), // the last second in
                ("E", "2025-11-01T00:00:00Z", "completed"), // 212 days back: lapsed, not churning
                ("F", "2026-05-01T00:00:00Z", "cancelled"), // never a customer
                ("G", "2026-05-01T00:00:00Z", "completed"),
                ("G", "2026-06-10T00:00:00Z", "returned"), // a returned order is no purchase
            ],
        )
        .await;
        let want: Vec<(String, bool)> = [("A", false), ("B", true), ("C", false), ("G", true)]
            .iter()
            .map(|(c, l)| (c.to_string(), *l))
            .collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn repeat_purchase_labels_first_time_customers_within_the_window() {
        let got = labels(
            "labels/repeat_purchase.sql",
            60,
            ("first_order_window_days", 30),
            &[
                ("R1", "2026-05-15T00:00:00Z", "completed"),
                ("R1", "2026-07-30T23:00:00Z", "completed"), // before D + 60 days
                ("R2", "2026-05-15T00:00:00Z", "completed"),
                ("R2", "2026-07-31T00:00:00Z", "completed"), // exactly D + 60 days: out
                ("R3", "2026-04-01T00:00:00Z", "completed"), // 61 days back: not new
                ("R4", "2026-05-10T00:00:00Z", "completed"),
                ("R4", "2026-05-20T00:00:00Z", "completed"), // two orders: not first-time
                ("R5", "2026-05-02T00:00:00Z", "completed"), // exactly 30 days back: in
                ("R5", "2026-05-20T00:00:00Z", "cancelled"),
            ],
        )
        .await;
        let want: Vec<(String, bool)> = [("R1", true), ("R2", false), ("R5", false)]
            .iter()
            .map(|(c, l)| (c.to_string(), *l))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn training_horizons_end_before_validation_starts() {
        let spec = ModelSpec::load("churn", None).unwrap();
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let (train, val) = snapshot_dates(&spec, as_of);
        assert_eq!(val, as_of - Duration::days(90));
        assert_eq!(train.len(), spec.training_snapshots as usize);
        assert!(train.windows(2).all(|w| w[0] < w[1]));
        for d in &train {
            assert!(
                *d + Duration::days(90) <= val,
                "{d} overlaps the validation period"
            );
        }
    }
}
