//! The model checks analysts expect: the purchase model refitted on the data before a
//! holdout period against what customers then did, and P(alive) over frequency and recency.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{Date32Type, Int64Type};
use retain_sql::Params;

use super::*;
use crate::{Ctx, Result, df_err};

/// The frequency group of a calibration x.
fn frequency_group(x: f64) -> usize {
    (x as usize).min(7)
}

/// The P(alive) grid of a model: frequencies 0 up to the 99th percentile (at least 1, at
/// most 20), eleven recencies from 0 to the longest observation.
pub(super) fn p_alive_grid(model: &ClvModel) -> PAliveGrid {
    let t = model.summary.max_t;
    let top = (model.summary.p99_x as u32).clamp(1, 20);
    let frequencies: Vec<u32> = (0..=top).collect();
    let recencies: Vec<f64> = (0..=10).map(|k| t * f64::from(k) / 10.0).collect();
    let values = frequencies
        .iter()
        .map(|&x| {
            recencies
                .iter()
                .map(|&t_x| {
                    let valid = if x == 0 { t_x == 0.0 } else { t_x > 0.0 };
                    valid.then(|| {
                        model
                            .bg_nbd
                            .params
                            .probability_alive_one(f64::from(x), t_x, t)
                    })
                })
                .collect()
        })
        .collect();
    PAliveGrid {
        t,
        frequencies,
        recencies,
        values,
    }
}

impl Ctx {
    /// Run one of the CLV check jobs and read its (key, BIGINT count) rows; `key` reads
    /// a key cell (None when the column has another type or the cell is null).
    async fn counts<K>(
        &self,
        rel: &str,
        params: &Params,
        key_column: &str,
        count_column: &str,
        key: impl Fn(&ArrayRef, usize) -> Option<K>,
    ) -> Result<Vec<(K, f64)>> {
        let file = self.sql.load(rel)?;
        let batches = self
            .engine
            .query(&file, params)
            .await?
            .collect()
            .await
            .map_err(df_err(format!("running {}", file.origin)))?;
        let mut out = Vec::new();
        for b in &batches {
            let bad = || ClvError::CountShape {
                origin: file.origin.clone(),
                key: key_column.to_string(),
                count: count_column.to_string(),
            };
            let (Some(keys), Some(n)) = (
                b.column_by_name(key_column),
                b.column_by_name(count_column)
                    .and_then(|c| c.as_primitive_opt::<Int64Type>()),
            ) else {
                return Err(bad().into());
            };
            for i in 0..b.num_rows() {
                let k = key(keys, i).filter(|_| keys.is_valid(i)).ok_or_else(bad)?;
                out.push((k, n.value(i) as f64));
            }
        }
        Ok(out)
    }

    /// The holdout and tracking checks of the models as of `as_of`.
    pub(super) async fn clv_checks(
        &mut self,
        as_of: NaiveDate,
    ) -> Result<std::result::Result<ClvChecks, ClvFitError>> {
        let holdout_days = self.settings.pipeline.clv.holdout_days;
        let unit = f64::from(self.settings.pipeline.clv.time_unit_days);
        let calibration_end = as_of - Duration::days(i64::from(holdout_days));
        let (rows, model) = self.clv_fit(calibration_end).await?;
        let model = match model {
            Ok(m) => m,
            Err(reason) => return Ok(Err(reason)),
        };
        let params = Params::new()
            .with_as_of(as_of)
            .with_date("calibration_end", calibration_end);

        // Expected vs actual holdout purchases, per calibration frequency.
        let actual: HashMap<String, f64> = self
            .counts(
                HOLDOUT_SQL,
                &params,
                "customer_id",
                "holdout_purchases",
                |c, i| c.as_string_opt::<i32>().map(|s| s.value(i).to_owned()),
            )
            .await?
            .into_iter()
            .collect();
        let horizon = f64::from(holdout_days) / unit;
        let mut groups = [(0usize, 0.0f64, 0.0f64); 8];
        let p = &model.bg_nbd.params;
        for i in 0..rows.ids.len() {
            let expected = p
                .conditional_expected_purchases_one(horizon, rows.x[i], rows.t_x[i], rows.t[i])
                .map_err(|source| ClvError::Holdout {
                    customer: rows.ids[i].clone(),
                    source,
                })?;
            let g = &mut groups[frequency_group(rows.x[i])];
            g.0 += 1;
            g.1 += actual.get(rows.ids[i].as_str()).copied().unwrap_or(0.0);
            g.2 += expected;
        }
        let holdout_actual_total = groups.iter().map(|g| g.1).sum();
        let holdout_expected_total = groups.iter().map(|g| g.2).sum();
        let by_frequency = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.0 > 0)
            .map(|(k, g)| FrequencyCheck {
                frequency: if k == 7 { "7+".into() } else { k.to_string() },
                customers: g.0,
                actual: g.1 / g.0 as f64,
                expected: g.2 / g.0 as f64,
            })
            .collect();

        // Cumulative repeat purchases of the calibration cohort, weekly.
        let mut per_day: Vec<(NaiveDate, f64)> = self
            .counts(BY_DAY_SQL, &params, "day", "repeat_purchases", |c, i| {
                c.as_primitive_opt::<Date32Type>()
                    .and_then(|d| d.value_as_date(i))
            })
            .await?;
        per_day.sort_by_key(|(d, _)| *d);
        let mut cohorts: std::collections::BTreeMap<NaiveDate, f64> = Default::default();
        for d in &rows.first_day {
            *cohorts.entry(*d).or_default() += 1.0;
        }
        let Some(start) = cohorts.keys().next().copied() else {
            return Ok(Err(ClvFitError::NoCustomerBefore {
                date: calibration_end,
            }));
        };
        // E[X(k days)] for every whole number of days k the grid needs.
        let span = (as_of - start).num_days().max(0) as usize;
        let mut unconditional = Vec::with_capacity(span + 1);
        for k in 0..=span {
            unconditional.push(
                p.expected_purchases(k as f64 / unit)
                    .map_err(|source| ClvError::Expectation { days: k, source })?,
            );
        }
        let mut tracking = Vec::new();
        let mut day = start;
        let mut cumulative = 0.0;
        let mut next = 0;
        loop {
            while next < per_day.len() && per_day[next].0 < day {
                cumulative += per_day[next].1;
                next += 1;
            }
            // A customer first seen on day c can have repeated by the end of day `day − 1`,
            // (day − 1 − c) days later.
            let expected: f64 = cohorts
                .range(..day)
                .map(|(c, n)| n * unconditional[((day - *c).num_days() - 1).max(0) as usize])
                .sum();
            tracking.push(TrackingPoint {
                day,
                actual: cumulative,
                expected,
            });
            if day >= as_of {
                break;
            }
            day = (day + Duration::days(7)).min(as_of);
        }
        Ok(Ok(ClvChecks {
            calibration_end,
            holdout_days,
            calibration_fit: model.bg_nbd.params,
            calibration_customers: rows.ids.len(),
            holdout_actual_total,
            holdout_expected_total,
            by_frequency,
            tracking,
        }))
    }
}
