//! The data's horizon: the day of the latest staged fact, and the rule that an as-of date
//! does not lie beyond it.
//!
//! Ingest stages every plausible row whatever the as-of date, and each as-of reads only
//! the facts before it, so a table as of D is the same whichever command staged the data.
//! What staging cannot know is whether the data reaches D: an as-of past the last order,
//! ticket, event and contact would describe days the data does not cover (every customer
//! looks lapsed, drift has nobody to compare). [`check_as_of`] refuses such a date with
//! [`Error::BeyondData`] (exit code 2) unless the settings allow it, and then says so for
//! the run record.

use chrono::{DateTime, NaiveDate, TimeDelta};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::prelude::col;

use crate::error::{Error, Result, df_err};
use crate::kernel::Ctx;
use crate::records::ingest::DataEnd;

/// The staged tables whose timestamps are facts, with their time column.
const FACTS: [(&str, &str); 4] = [
    ("orders", "ordered_at"),
    ("support_tickets", "opened_at"),
    ("engagement_events", "occurred_at"),
    ("contacts", "contacted_at"),
];

/// The end of the staged data (registered in the engine), computed once per run.
pub(crate) async fn data_end(ctx: &mut Ctx) -> Result<DataEnd> {
    if let Some(end) = &ctx.memo.data_end {
        return Ok(end.clone());
    }
    let mut by_source = Vec::with_capacity(FACTS.len());
    for (table, column) in FACTS {
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
            .and_then(|a| DateTime::from_timestamp_micros(a.value(0)))
            .map(|t| t.date_naive());
        by_source.push((table, day));
    }
    let end = DataEnd { by_source };
    ctx.memo.data_end = Some(end.clone());
    Ok(end)
}

/// Refuse `as_of` when it lies more than `[quality] as-of-tolerance-days` after the day
/// following the last staged fact (the as-of a fresh export supports). With the settings'
/// `allow_as_of_beyond_data`, go on and return the sentence the run record keeps. A
/// warehouse with no facts at all has no horizon to check against.
pub(crate) async fn check_as_of(ctx: &mut Ctx, as_of: NaiveDate) -> Result<Option<String>> {
    let end = data_end(ctx).await?;
    let Some(last_day) = end.last_day() else {
        return Ok(None);
    };
    let tolerance = ctx.settings.pipeline.quality.as_of_tolerance_days;
    let latest = last_day + TimeDelta::days(1 + i64::from(tolerance));
    if as_of <= latest {
        return Ok(None);
    }
    if ctx.settings.allow_as_of_beyond_data {
        let note = format!(
            "as-of {as_of} is beyond the data (last facts: {}), allowed by --allow-as-of-beyond-data",
            end.describe()
        );
        tracing::warn!("{note}");
        return Ok(Some(note));
    }
    Err(Error::BeyondData {
        as_of,
        last_day,
        latest,
        tolerance_days: tolerance,
        sources: end.describe(),
    })
}
