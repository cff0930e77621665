//! Reason codes a person can act on (issue 19, finding 5): every published reason reads
//! the way its feature goes with churn in the training data, and for customers the
//! synthetic shop lost to badly handled support tickets, the top reason names support.
//! Ground truth: `_truth/customers.csv`'s `death_cause` (docs/synthetic-data.md).

use crate::{duckdb, json, retain, run_ok};

const AS_OF: &str = "2026-11-01";
/// The support inputs of the churn model (docs/features.md), the `support` reason group.
const SUPPORT: &[&str] = &[
    "tickets_90d",
    "open_tickets",
    "worst_csat_90d_or_5",
    "reopened_90d",
];

#[test]
fn reasons_agree_with_the_data_and_name_support_for_customers_lost_to_service() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    run_ok(
        retain()
            .args([
                "synth",
                "--customers",
                "12000",
                "--seed",
                "11",
                "--truth",
                "--out",
            ])
            .arg(wh.join("raw")),
    );
    run_ok(
        retain()
            .args(["run", "pipelines/demo.toml", "--as-of", AS_OF, "--out"])
            .arg(wh),
    );
    let risk = format!(
        "{}/scores/customer_risk/as_of={AS_OF}/*.parquet",
        wh.display()
    );
    let training = format!(
        "{}/training/churn/run_as_of={AS_OF}/*.parquet",
        wh.display()
    );

    // 1. Direction. The model file's training statistics, checked against DuckDB on the
    //    published training table (the rows the estimator was fitted on)...
    let champion = json(&wh.join("models/churn/champion"));
    let version = champion["version"].as_str().unwrap();
    let model = json(&wh.join(format!("models/churn/{version}/model.json")));
    let stats = model["feature_stats"].as_array().unwrap();
    let inputs: Vec<&str> = stats.iter().map(|s| s["name"].as_str().unwrap()).collect();
    let per_feature = inputs
        .iter()
        .map(|f| {
            // A category's indicator is 1 for its value, 0 otherwise (null included).
            let x = match f.split_once('=') {
                Some((col, cat)) => format!("coalesce({col} = '{cat}', false)::double"),
                None => format!("{f}::double"),
            };
            format!(
                "select '{f}' feature, avg({x}) mean, corr({x}, label::double) r \
                 from read_parquet('{training}') where split = 'train'"
            )
        })
        .collect::<Vec<_>>()
        .join(" union all ");
    let truth: Vec<serde_json::Value> = duckdb(&per_feature);
    assert_eq!(truth.len(), inputs.len());
    let mut direction = std::collections::HashMap::new();
    for row in &truth {
        let name = row["feature"].as_str().unwrap();
        let s = stats.iter().find(|s| s["name"] == name).unwrap();
        let (mean, r) = (row["mean"].as_f64(), row["r"].as_f64());
        assert_eq!(
            s["label_correlation"].as_f64().map(|x| (x * 1e9).round()),
            r.map(|x| (x * 1e9).round()),
            "{name}: model.json vs DuckDB"
        );
        if let (Some(mean), Some(r)) = (mean, r) {
            direction.insert(name.to_owned(), (mean, r));
        }
    }
    // ...and every published reason on its risky side: above the training mean when the
    // feature goes with churn, below it when it goes against.
    let reasons = duckdb(&format!(
        "select customer_id, r.\"group\" g, r.feature, r.value, r.contribution \
         from (select customer_id, unnest(top_reasons) r from read_parquet('{risk}'))"
    ));
    assert!(reasons.len() > 5_000, "{} reasons", reasons.len());
    for r in &reasons {
        assert!(r["contribution"].as_f64().unwrap() > 0.0, "{r}");
        let feature = r["feature"].as_str().unwrap();
        let &(mean, corr) = direction
            .get(feature)
            .unwrap_or_else(|| panic!("{r} names an input without a direction"));
        let value = r["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("a missing value names no reason: {r}"));
        assert!(
            corr * (value - mean) > 0.0,
            "{r} reads backwards: training mean {mean}, correlation with churn {corr}"
        );
    }

    // 2. Ground truth. Customers whose dropout (within 55 days before the as-of date, so
    //    the ticket behind it lies in the 90-day window) the generator drew from a
    //    support ticket's hazard, against those it drew after an ordinary purchase.
    let support = SUPPORT
        .iter()
        .map(|f| format!("'{f}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let shares = duckdb(&format!(
        "select t.death_cause cause, count(*) n, \
           count(*) filter (where r.top_reasons[1].feature in ({support})) named_support, \
           count(*) filter (where r.top_reasons[1].\"group\" = 'support') group_support \
         from read_csv('{}/raw/_truth/customers.csv', all_varchar = true) t \
         join read_parquet('{risk}') r using (customer_id) \
         where r.score_status = 'scored' and len(r.top_reasons) > 0 \
           and cast(t.death_at as timestamp) \
               between date '{AS_OF}' - interval 55 day and date '{AS_OF}' + interval 3 day \
         group by 1 order by 1",
        wh.display()
    ));
    let share = |cause: &str| {
        let row = shares
            .iter()
            .find(|r| r["cause"] == cause)
            .unwrap_or_else(|| panic!("no {cause} churners: {shares:?}"));
        let n = row["n"].as_f64().unwrap();
        assert_eq!(row["named_support"], row["group_support"], "{row}");
        (n, row["named_support"].as_f64().unwrap() / n)
    };
    let (n_service, service) = share("service");
    let (n_dropout, dropout) = share("dropout");
    assert!(n_service >= 40.0 && n_dropout >= 100.0, "{shares:?}");
    // Measured at this seed: 47 of 64 (0.734) and 30 of 280 (0.107), groups ranked by
    // their training spread; by raw group sums 0.609 and 0.107; the earlier per-input
    // reasons gave 0.30 and 0.04 on a 6,000-customer shop.
    assert!(service >= 0.65, "{shares:?}");
    assert!(
        service >= 4.0 * dropout,
        "support must single out service churn: {shares:?}"
    );
}
