//! Reasons behind a churn score that a person can act on.
//!
//! A model's per-feature contributions (coefficient × standardised value for logistic
//! regression, per-path contributions for trees, both measured against the training
//! population) add up to its output, but one at a time they can read backwards: next to
//! `orders_90d`, a logistic model gives `orders_lifetime` a positive coefficient, and a
//! loyal customer's "76 orders in all" then "raises" the risk. So reasons are ranked by
//! *group*: the inputs describing one thing (purchases, support, engagement, …; the table
//! in [`reason_group`]) are summed, which cancels what correlated inputs take from one
//! another, and a group is a reason only when its sum raises the risk. Groups rank by
//! that sum in units of its spread over the training rows (`reason_scales` in the model
//! file): a push few customers get (a badly handled ticket) outranks an equal one that
//! many get (a weak e-mail engagement). A group is named by the
//! member whose value, on its own in the training data, goes with churn the most
//! (`label_correlation` × standardised distance from the training mean, in the model's
//! `feature_stats`); a group with no member on its risky side gives no reason. Written by
//! hand: no crate groups additive contributions, and the rule is ten lines.

use std::borrow::Cow;
use std::collections::BTreeMap;

use ndarray::Array2;

use retain_model::ModelArtifact;

/// One reason behind a churn score.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// The group of inputs the reason stands for (`support`, `purchases`, …; an input in
    /// no group of [`reason_group`] is its own group, by its name).
    pub group: String,
    /// The group's member that names it (a feature, or `feature=category` for a one-hot
    /// indicator): the one whose value goes with churn in the training data the most.
    pub feature: String,
    /// Its value for the customer; None when missing (imputed).
    pub value: Option<f64>,
    /// The group's summed contribution: to the log-odds for logistic regression and
    /// boosted trees, to the probability for a tree or forest.
    pub contribution: f64,
    /// A sentence for people: `last order 212 days ago (+0.84)`.
    pub text: String,
}

/// The group of a model input for reasons: what a retention team would act on. One-hot
/// indicators (`shopper_type=relational`) go by their column; inputs not listed (a
/// user's own feature SQL) are their own group.
pub fn reason_group(feature: &str) -> Cow<'_, str> {
    let column = feature.split_once('=').map_or(feature, |(c, _)| c);
    let group = match column {
        "recency_days"
        | "first_order_days"
        | "tenure_days"
        | "orders_placed"
        | "orders_lifetime"
        | "orders_30d"
        | "orders_90d"
        | "orders_prev_90d"
        | "orders_365d"
        | "orders_trend"
        | "revenue_lifetime"
        | "revenue_30d"
        | "revenue_90d"
        | "revenue_prev_90d"
        | "revenue_365d"
        | "revenue_trend"
        | "avg_order_value"
        | "mean_days_between_orders"
        | "sd_days_between_orders"
        | "overdue_ratio"
        | "web_order_share"
        | "app_order_share"
        | "marketplace_order_share"
        | "store_order_share"
        | "channel_count"
        | "category_count"
        | "lifecycle_stage"
        | "p_alive"
        | "expected_purchases_90d"
        | "clv_12m" => "purchases",
        "returned_share"
        | "refunded_share"
        | "cancelled_share"
        | "failed_order_share"
        | "first_order_returned" => "order problems",
        "tickets_lifetime"
        | "tickets_90d"
        | "open_tickets"
        | "reopened_lifetime"
        | "reopened_90d"
        | "worst_csat_90d"
        | "worst_csat_90d_or_5"
        | "last_csat"
        | "mean_resolution_hours"
        | "days_since_ticket"
        | "first_order_ticket" => "support",
        "email_sends_90d"
        | "email_opens_90d"
        | "email_clicks_90d"
        | "email_open_rate_90d"
        | "email_click_rate_90d"
        | "web_sessions_90d"
        | "app_sessions_90d"
        | "sessions_90d"
        | "sessions_prev_90d"
        | "sessions_trend"
        | "engagement_90d"
        | "engagement_trend"
        | "content_events_lifetime"
        | "unsubscribed"
        | "days_since_engagement"
        | "email_opt_in"
        | "sms_opt_in" => "engagement",
        "discount_share"
        | "avg_discount_rate"
        | "first_order_discounted"
        | "offers_received"
        | "offer_response_rate"
        | "transactional_signals"
        | "shopper_type" => "offers",
        "loyalty_member"
        | "loyalty_redeems_365d"
        | "reviews_lifetime"
        | "referrals_lifetime"
        | "relational_signals" => "loyalty",
        "age_years" | "age_band" | "days_to_birthday" | "days_to_signup_anniversary" => "profile",
        _ => return Cow::Borrowed(column),
    };
    Cow::Borrowed(group)
}

/// A churn model's inputs in their reason groups, built once per model and used for
/// every row it scores.
#[derive(Debug, Clone)]
pub struct Explainer {
    /// Each group's name and members (positions in the model's inputs), in the order of
    /// the group's first member.
    groups: Vec<(String, Vec<usize>)>,
    /// Per input: (training mean, standard deviation, correlation with the label).
    direction: Vec<Option<(f64, f64, f64)>>,
    /// Per group: the spread of its contribution over the training rows (the model's
    /// `reason_scales`), the unit groups are ranked in; None ranks by the raw sum.
    scales: Vec<Option<f64>>,
}

impl Explainer {
    pub fn new(model: &ModelArtifact) -> Self {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (j, name) in model.features().iter().enumerate() {
            let g = reason_group(name);
            match groups.iter_mut().find(|(n, _)| n.as_str() == g) {
                Some((_, members)) => members.push(j),
                None => groups.push((g.into_owned(), vec![j])),
            }
        }
        let direction = (0..model.features().len())
            .map(|j| {
                let s = model.feature_stats.get(j)?;
                Some((s.mean, s.std, s.label_correlation?))
            })
            .collect();
        let scales = groups
            .iter()
            .map(|(g, _)| model.reason_scales.get(g).copied().filter(|s| *s > 0.0))
            .collect();
        Self {
            groups,
            direction,
            scales,
        }
    }

    /// Each group's spread: the population standard deviation of its summed
    /// contribution over the rows of `x` (at most 20,000 of them, evenly spaced, so a
    /// large training set or a deep forest costs little). Recorded in the model file at
    /// training as `reason_scales`.
    pub fn scales(model: &ModelArtifact, x: &Array2<f64>) -> BTreeMap<String, f64> {
        const MAX_ROWS: usize = 20_000;
        let e = Self::new(model);
        let step = x.nrows().div_ceil(MAX_ROWS).max(1);
        let mut sums = vec![(0.0f64, 0.0f64); e.groups.len()];
        let mut n = 0.0;
        for row in x.rows().into_iter().step_by(step) {
            let row = row.to_vec();
            let contrib = model.estimator.contributions(&row).values;
            for ((_, members), (s, s2)) in e.groups.iter().zip(sums.iter_mut()) {
                let total: f64 = members.iter().map(|&j| contrib[j]).sum();
                *s += total;
                *s2 += total * total;
            }
            n += 1.0;
        }
        if n == 0.0 {
            return BTreeMap::new();
        }
        e.groups
            .iter()
            .zip(sums)
            .map(|((g, _), (s, s2))| {
                let mean = s / n;
                (g.clone(), (s2 / n - mean * mean).max(0.0).sqrt())
            })
            .collect()
    }

    /// The groups raising this customer's churn risk, most unusual first, at most `k`:
    /// ranked by the group's contribution in units of its spread over the training rows
    /// (a push that few customers get ranks above one that many get), or by the raw
    /// contribution for a model without `reason_scales`. Only positive group sums count:
    /// a reason explains risk, never safety.
    pub fn top_reasons(&self, model: &ModelArtifact, row: &[f64], k: usize) -> Vec<Reason> {
        let contrib = model.estimator.contributions(row).values;
        let mut ranked: Vec<(f64, f64, usize, usize)> = self
            .groups
            .iter()
            .enumerate()
            .filter_map(|(g, (_, members))| {
                let total: f64 = members.iter().map(|&j| contrib[j]).sum();
                let named = self.representative(members, row, &contrib)?;
                let rank = self.scales[g].map_or(total, |s| total / s);
                (total > 0.0).then_some((rank, total, g, named))
            })
            .collect();
        // Deterministic: by rank, then by group position.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)));
        ranked
            .into_iter()
            .take(k)
            .map(|(_, total, g, j)| {
                let name = &model.features()[j];
                let value = (!row[j].is_nan()).then_some(row[j]);
                Reason {
                    group: self.groups[g].0.clone(),
                    feature: name.clone(),
                    value,
                    contribution: total,
                    text: format!("{} (+{total:.2})", describe(name, value)),
                }
            })
            .collect()
    }

    /// The member whose value goes with churn in the training data the most: the
    /// largest `label_correlation × (x − mean) / std` above 0, ties to the earlier
    /// input. A missing value says nothing. Artifacts without label correlations
    /// (written before they were recorded) fall back to the largest positive
    /// contribution.
    fn representative(&self, members: &[usize], row: &[f64], contrib: &[f64]) -> Option<usize> {
        members
            .iter()
            .filter(|&&j| !row[j].is_nan())
            .filter_map(|&j| {
                let evidence = match self.direction[j] {
                    Some((_, std, _)) if std <= 0.0 => 0.0,
                    Some((mean, std, r)) => r * (row[j] - mean) / std,
                    None => contrib[j],
                };
                (evidence > 0.0).then_some((evidence, j))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, j)| j)
    }
}

/// A feature's value in words, for the shipped features (docs/features.md); any other
/// input reads `feature = value`.
pub fn describe(feature: &str, value: Option<f64>) -> String {
    if let Some((name, category)) = feature.split_once('=') {
        // A one-hot indicator: the name says the value.
        return match name {
            "shopper_type" => format!("{category} shopper"),
            other => format!("{} {category}", other.replace('_', " ")),
        };
    }
    let Some(v) = value else {
        return format!("{feature} unknown");
    };
    let n = trim_number(v);
    // Day counts read as whole days.
    let days = format!("{v:.0}");
    let pct = format!("{:.0}%", v * 100.0);
    let flag = v > 0.0;
    // "1 ticket", "2 tickets".
    let count = |one: &str, many: &str| {
        if v == 1.0 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    match feature {
        "recency_days" => format!("last order {days} days ago"),
        "tenure_days" => format!("customer for {days} days"),
        "first_order_days" => format!("first order {days} days ago"),
        "orders_lifetime" => format!("{} in all", count("order", "orders")),
        "orders_90d" => format!("{} in the last 90 days", count("order", "orders")),
        "orders_365d" => format!("{} in the last year", count("order", "orders")),
        "revenue_365d" => format!("revenue {n} in the last year"),
        "revenue_lifetime" => format!("revenue {n} in all"),
        "avg_order_value" => format!("average order value {n}"),
        "mean_days_between_orders" => format!("orders every {days} days on average"),
        "overdue_ratio" => format!("{n} times the usual interval since the last order"),
        "discount_share" => format!("{pct} of orders discounted"),
        "returned_share" => format!("{pct} of orders returned"),
        "category_count" => format!("buys in {}", count("category", "categories")),
        "tickets_90d" => format!("{} in 90 days", count("support ticket", "support tickets")),
        "open_tickets" => count("unresolved support ticket", "unresolved support tickets"),
        "worst_csat_90d" | "worst_csat_90d_or_5" => {
            format!("worst support rating {n}/5 in 90 days")
        }
        "reopened_90d" => format!(
            "{} in 90 days",
            count("reopened ticket", "reopened tickets")
        ),
        "email_opens_90d" => format!("{} in 90 days", count("e-mail open", "e-mail opens")),
        "email_clicks_90d" => format!("{} in 90 days", count("e-mail click", "e-mail clicks")),
        "sessions_90d" => format!("{} in 90 days", count("session", "sessions")),
        "sessions_trend" => format!("session trend {n}"),
        "days_since_engagement" => format!("no engagement for {days} days"),
        "unsubscribed" if flag => "unsubscribed from e-mail".to_owned(),
        "unsubscribed" => "subscribed to e-mail".to_owned(),
        "loyalty_member" if flag => "loyalty member".to_owned(),
        "loyalty_member" => "not a loyalty member".to_owned(),
        "p_alive" => format!("P(still active) {pct}"),
        "expected_purchases_90d" => format!("{n} purchases expected in 90 days"),
        "clv_12m" => format!("12-month value {n}"),
        _ => format!("{feature} = {n}"),
    }
}

fn trim_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use retain_model::FeatureStats;

    use super::*;

    /// A logistic churn model on standardised inputs, with each input's training
    /// statistics: mean 0, standard deviation 1 and the given label correlation.
    fn model(inputs: &[(&str, f64, Option<f64>)]) -> ModelArtifact {
        let names: Vec<&str> = inputs.iter().map(|(n, _, _)| *n).collect();
        let stats = inputs
            .iter()
            .map(|(n, _, r)| FeatureStats {
                name: (*n).to_owned(),
                count: 100,
                null_share: 0.0,
                mean: 0.0,
                std: 1.0,
                min: None,
                max: None,
                label_correlation: *r,
            })
            .collect();
        let coefficients = inputs.iter().map(|(_, c, _)| *c).collect();
        crate::test_support::logistic("churn", &names, coefficients, stats)
    }

    #[test]
    fn a_loyal_customer_never_reads_as_at_risk_for_ordering_a_lot() {
        // Issue 19's finding: next to orders_90d (−3), the model gives orders_lifetime a
        // positive coefficient (+2), though in the data more orders go with less churn.
        let m = model(&[
            ("orders_lifetime", 2.0, Some(-0.3)),
            ("orders_90d", -3.0, Some(-0.4)),
            ("recency_days", 1.0, Some(0.5)),
            ("tickets_90d", 1.0, Some(0.2)),
            ("worst_csat_90d_or_5", -1.5, Some(-0.3)),
        ]);
        let e = Explainer::new(&m);
        // Many orders in all (+3 sd), a few lately (+1 sd), last order a bit late.
        let loyal = [3.0, 1.0, 0.5, 0.0, 0.0];
        let old = m.estimator.contributions(&loyal).values;
        assert_eq!(old[0], 6.0, "on its own, the coefficient reads backwards");
        let r = e.top_reasons(&m, &loyal, 3);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(
            (r[0].group.as_str(), r[0].feature.as_str()),
            ("purchases", "recency_days")
        );
        assert!(
            (r[0].contribution - 3.5).abs() < 1e-12,
            "the group's sum: {r:?}"
        );
        assert_eq!(r[0].text, "last order 0 days ago (+3.50)");
        // A customer ordering as usual whose last ticket went badly: support names it,
        // by the worse of its two signs (a rating 2 sd below the mean).
        let unhappy = [0.0, 0.0, 0.0, 1.0, -2.0];
        let r = e.top_reasons(&m, &unhappy, 3);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(
            (r[0].group.as_str(), r[0].feature.as_str()),
            ("support", "worst_csat_90d_or_5")
        );
        assert!((r[0].contribution - 4.0).abs() < 1e-12);
        // Every member on its safe side: a group the model sums above 0 still gives no
        // reason, since none of its inputs would read the right way.
        let safe = [3.0, 1.0, -0.5, 0.0, 0.0];
        assert!(e.top_reasons(&m, &safe, 3).is_empty());
    }

    #[test]
    fn groups_rank_in_units_of_their_training_spread() {
        let mut m = model(&[
            ("sessions_90d", -1.0, Some(-0.3)),
            ("tickets_90d", 1.0, Some(0.2)),
        ]);
        // Training rows: sessions vary a lot between customers, tickets rarely.
        let mut x = Array2::zeros((1000, 2));
        for i in 0..1000 {
            x[[i, 0]] = (i % 7) as f64 - 3.0;
            x[[i, 1]] = if i % 100 == 0 { 3.0 } else { 0.0 };
        }
        let scales = Explainer::scales(&m, &x);
        let sd = |v: &[f64]| {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / v.len() as f64).sqrt()
        };
        let sessions: Vec<f64> = x.column(0).iter().map(|v| -v).collect();
        let tickets: Vec<f64> = x.column(1).to_vec();
        assert!(
            (scales["engagement"] - sd(&sessions)).abs() < 1e-12,
            "{scales:?}"
        );
        assert!(
            (scales["support"] - sd(&tickets)).abs() < 1e-12,
            "{scales:?}"
        );
        // Two sessions below the mean (+2) and one ticket (+1): by the raw sum
        // engagement leads, by spread (about 2.0 against 0.3) support does.
        let row = [-2.0, 1.0];
        let raw = Explainer::new(&m).top_reasons(&m, &row, 2);
        assert_eq!(raw[0].group, "engagement");
        m.reason_scales = scales;
        let ranked = Explainer::new(&m).top_reasons(&m, &row, 2);
        let got: Vec<(&str, f64)> = ranked
            .iter()
            .map(|r| (r.group.as_str(), r.contribution))
            .collect();
        assert_eq!(
            got,
            [("support", 1.0), ("engagement", 2.0)],
            "contributions stay raw"
        );
        // Subsampling: 60,000 rows against the cap of 20,000 give the spread of every
        // third row (alternately 0 and 1: exactly 0.5), not of all rows (about 0.29).
        let big = Array2::from_shape_fn((60_000, 2), |(i, j)| {
            if j == 0 && i % 3 == 0 {
                (i % 2) as f64
            } else {
                0.0
            }
        });
        let got = Explainer::scales(&m, &big)["engagement"];
        assert!((got - 0.5).abs() < 1e-12, "{got}");
    }

    #[test]
    fn reasons_rank_groups_and_fall_back_to_contributions_without_label_correlations() {
        let m = model(&[
            ("recency_days", 1.0, None),
            ("tickets_90d", 2.0, None),
            ("open_tickets", -1.0, None),
            ("my_feature", 0.5, None),
            ("shopper_type=transactional", 1.0, None),
        ]);
        let e = Explainer::new(&m);
        let row = [1.0, 1.0, 0.5, f64::NAN, 1.0];
        let r = e.top_reasons(&m, &row, 5);
        let got: Vec<(&str, &str, f64)> = r
            .iter()
            .map(|r| (r.group.as_str(), r.feature.as_str(), r.contribution))
            .collect();
        // support: 2 − 0.5 = 1.5, named by its positive member; purchases 1; offers 1,
        // after purchases by position; my_feature is missing (imputed: no reason).
        assert_eq!(
            got,
            [
                ("support", "tickets_90d", 1.5),
                ("purchases", "recency_days", 1.0),
                ("offers", "shopper_type=transactional", 1.0),
            ]
        );
        assert_eq!(e.top_reasons(&m, &row, 1).len(), 1);
        assert_eq!(reason_group("my_feature"), "my_feature");
        assert_eq!(reason_group("age_band=65+"), "profile");
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert_eq!(
            describe("recency_days", Some(212.0)),
            "last order 212 days ago"
        );
        assert_eq!(
            describe("discount_share", Some(0.75)),
            "75% of orders discounted"
        );
        assert_eq!(
            describe("shopper_type=transactional", Some(1.0)),
            "transactional shopper"
        );
        assert_eq!(describe("age_band=65+", Some(1.0)), "age band 65+");
        assert_eq!(describe("p_alive", None), "p_alive unknown");
        assert_eq!(describe("something_new", Some(1.5)), "something_new = 1.50");
    }
}
