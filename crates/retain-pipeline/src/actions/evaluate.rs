//! `retain evaluate-actions`: treated against control outcomes of a published
//! `scores/next_best_action/as_of=D/` partition, per action, with 95% intervals.

use serde::Serialize;

use super::*;

/// Treated against control outcomes of one action.
#[derive(Debug, Clone, Serialize)]
pub struct ActionEffect {
    pub action: String,
    pub treated: u64,
    pub control: u64,
    /// Share of the group with a completed order in the horizon.
    pub treated_rate: Option<f64>,
    pub control_rate: Option<f64>,
    /// treated_rate − control_rate, with a 95% confidence interval (normal
    /// approximation, unpooled variance).
    pub uplift: Option<f64>,
    pub uplift_ci: Option<(f64, f64)>,
    /// Revenue per customer in the horizon, treated − control, with a 95% interval
    /// (Welch).
    pub revenue_uplift: Option<f64>,
    pub revenue_uplift_ci: Option<(f64, f64)>,
}

/// What `retain evaluate-actions` found.
#[derive(Debug, Clone, Serialize)]
pub struct ActionEvaluation {
    pub as_of: NaiveDate,
    pub horizon_days: u32,
    /// The latest staged order: outcomes are known up to here.
    pub orders_until: Option<NaiveDate>,
    /// The whole horizon has passed in the staged orders.
    pub complete: bool,
    pub decisions_run_id: String,
    pub actions: Vec<ActionEffect>,
}

/// Per group: customers, buyers, revenue, revenue².
#[derive(Debug, Clone, Copy, Default)]
struct Group {
    n: f64,
    buyers: f64,
    revenue: f64,
    revenue_sq: f64,
}

/// Normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

fn effect(action: &str, t: Group, c: Group) -> ActionEffect {
    let rate = |g: Group| (g.n > 0.0).then(|| g.buyers / g.n);
    let (tr, cr) = (rate(t), rate(c));
    let uplift = tr.zip(cr).map(|(a, b)| a - b);
    let uplift_ci = tr.zip(cr).map(|(a, b)| {
        let se = (a * (1.0 - a) / t.n + b * (1.0 - b) / c.n).sqrt();
        (a - b - Z95 * se, a - b + Z95 * se)
    });
    let mean = |g: Group| g.revenue / g.n;
    let var = |g: Group| {
        if g.n > 1.0 {
            ((g.revenue_sq - g.revenue * g.revenue / g.n) / (g.n - 1.0)).max(0.0)
        } else {
            0.0
        }
    };
    let both = t.n > 0.0 && c.n > 0.0;
    let revenue_uplift = both.then(|| mean(t) - mean(c));
    let revenue_uplift_ci = both.then(|| {
        let se = (var(t) / t.n + var(c) / c.n).sqrt();
        let d = mean(t) - mean(c);
        (d - Z95 * se, d + Z95 * se)
    });
    ActionEffect {
        action: action.to_owned(),
        treated: t.n as u64,
        control: c.n as u64,
        treated_rate: tr,
        control_rate: cr,
        uplift,
        uplift_ci,
        revenue_uplift,
        revenue_uplift_ci,
    }
}

/// Compare the treated and control customers of `scores/next_best_action/as_of=D/`
/// on the completed orders staged since D.
/// The columns `sql/actions/outcomes.sql` must give, in order, with their types.
const OUTCOME_COLUMNS: [(&str, DataType); 6] = [
    ("action", DataType::Utf8),
    ("control", DataType::Boolean),
    ("customers", DataType::Int64),
    ("buyers", DataType::Int64),
    ("revenue", DataType::Float64),
    ("revenue_sq", DataType::Float64),
];

/// Plan `actions/outcomes.sql` (over the tables `decisions` and `orders`) and check its
/// output against [`OUTCOME_COLUMNS`], so an edited copy is refused in one line rather
/// than read with the wrong types. Returns the query (not run) and the file's origin.
pub(crate) async fn outcomes_query(
    ctx: &Ctx,
    as_of: NaiveDate,
    horizon_days: u32,
) -> Result<(DataFrame, String)> {
    let file = ctx.sql.load("actions/outcomes.sql")?;
    let params = Params::new().with_as_of(as_of).with(
        "horizon_days",
        ScalarValue::Int64(Some(i64::from(horizon_days))),
    );
    let df = ctx.engine.query(&file, &params).await?;
    let fields = df.schema().fields();
    let found: Vec<String> = fields
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    let ok = fields.len() == OUTCOME_COLUMNS.len()
        && fields
            .iter()
            .zip(&OUTCOME_COLUMNS)
            .all(|(f, (name, t))| f.name() == name && f.data_type() == t);
    if !ok {
        let wanted: Vec<String> = OUTCOME_COLUMNS
            .iter()
            .map(|(n, t)| format!("{n} {t}"))
            .collect();
        return Err(Error::Invalid {
            stage: "evaluate actions",
            message: format!(
                "{} must return ({}), not ({})",
                file.origin,
                wanted.join(", "),
                found.join(", ")
            ),
        });
    }
    Ok((df, file.origin))
}

pub(crate) async fn evaluate(
    ctx: &mut Ctx,
    as_of: NaiveDate,
    horizon_days: u32,
) -> Result<ActionEvaluation> {
    let partition = format!("as_of={as_of}");
    let decisions = ctx
        .register_published("decisions", "scores/next_best_action", &partition)
        .await?;
    ctx.register_published("orders", "staged/orders", "")
        .await?;
    let (df, origin) = outcomes_query(ctx, as_of, horizon_days).await?;
    let rows = df
        .collect()
        .await
        .map_err(df_err(format!("running {origin}")))?;
    let mut groups: std::collections::BTreeMap<String, (Group, Group)> = Default::default();
    for b in &rows {
        let action = b.column(0).as_string::<i32>();
        let control = b.column(1).as_boolean();
        let int = |i: usize| b.column(i).as_primitive::<Int64Type>();
        let float = |i: usize| b.column(i).as_primitive::<Float64Type>();
        for r in 0..b.num_rows() {
            let g = Group {
                n: int(2).value(r) as f64,
                buyers: int(3).value(r) as f64,
                revenue: float(4).value(r),
                revenue_sq: float(5).value(r),
            };
            let e = groups.entry(action.value(r).to_owned()).or_default();
            if control.value(r) {
                e.1 = g;
            } else {
                e.0 = g;
            }
        }
    }
    let last = ctx
        .df()
        .table("orders")
        .await
        .and_then(|t| {
            t.aggregate(
                vec![],
                vec![cast(max(col("ordered_at")), DataType::Date32).alias("last")],
            )
        })
        .map_err(df_err("reading the latest order"))?
        .collect()
        .await
        .map_err(df_err("reading the latest order"))?;
    let orders_until = last
        .first()
        .filter(|b| b.num_rows() == 1 && b.column(0).is_valid(0))
        .map(|b| days_to_date(b.column(0).as_primitive::<Date32Type>().value(0)));
    let end = as_of + chrono::Days::new(u64::from(horizon_days));
    // The horizon is [D, D + h): complete once an order on its last day could be seen.
    let complete = orders_until.is_some_and(|d| d + chrono::Days::new(1) >= end);
    Ok(ActionEvaluation {
        as_of,
        horizon_days,
        orders_until,
        complete,
        decisions_run_id: decisions.version.unwrap_or_default(),
        actions: groups
            .into_iter()
            .map(|(a, (t, c))| effect(&a, t, c))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effect_intervals_match_a_hand_computation() {
        // Treated 40/100 bought, control 10/50.
        let t = Group {
            n: 100.0,
            buyers: 40.0,
            revenue: 4000.0,
            revenue_sq: 40.0 * 100.0 * 100.0,
        };
        let c = Group {
            n: 50.0,
            buyers: 10.0,
            revenue: 1000.0,
            revenue_sq: 10.0 * 100.0 * 100.0,
        };
        let e = effect("offer", t, c);
        assert_eq!(e.uplift, Some(0.4 - 0.2));
        let se: f64 = (0.4 * 0.6 / 100.0 + 0.2 * 0.8 / 50.0_f64).sqrt();
        let (lo, hi) = e.uplift_ci.unwrap();
        assert!((lo - (0.2 - Z95 * se)).abs() < 1e-12 && (hi - (0.2 + Z95 * se)).abs() < 1e-12);
        // Revenue per customer 40 vs 20; variances 100²·p(1−p)·n/(n−1).
        assert_eq!(e.revenue_uplift, Some(20.0));
        let var_t = (40.0 * 10_000.0 - 4000.0 * 4000.0 / 100.0) / 99.0;
        let var_c = (10.0 * 10_000.0 - 1000.0 * 1000.0 / 50.0) / 49.0;
        let se = (var_t / 100.0 + var_c / 50.0_f64).sqrt();
        let (lo, _) = e.revenue_uplift_ci.unwrap();
        assert!((lo - (20.0 - Z95 * se)).abs() < 1e-9);
        // No control group: no comparison.
        let e = effect("offer", t, Group::default());
        assert_eq!((e.uplift, e.revenue_uplift), (None, None));
    }
}
