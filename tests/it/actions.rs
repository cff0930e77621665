//! Next best action end to end on the synthetic shop: the policy's limits hold in the
//! published table (read back with DuckDB), the mix differs sensibly by lifecycle stage
//! and shopper type, decisions are deterministic, bad eligibility expressions are clear
//! errors, and `retain evaluate-actions` measures treated against control.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::{duckdb, retain, run_ok};

const AS_OF: &str = "2026-11-01";
/// An earlier date whose outcomes (orders in the 60 days after) are in the data.
const EARLIER: &str = "2026-08-03";

fn nba(wh: &Path, as_of: &str) -> String {
    format!(
        "read_parquet('{}/scores/next_best_action/as_of={as_of}/*.parquet')",
        wh.display()
    )
}

fn table(wh: &Path, t: &str, as_of: &str) -> String {
    format!(
        "read_parquet('{}/{t}/as_of={as_of}/*.parquet')",
        wh.display()
    )
}

fn staged(wh: &Path, t: &str) -> String {
    format!("read_parquet('{}/staged/{t}/*.parquet')", wh.display())
}

fn count(rows: &[Value]) -> u64 {
    rows.first()
        .and_then(|r| r.as_object())
        .and_then(|o| o.values().next())
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX)
}

fn policy() -> toml::Table {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/policies/retention.toml"),
    )
    .unwrap();
    toml::from_str(&text).unwrap()
}

fn actions_of(p: &toml::Table) -> Vec<toml::Table> {
    p["action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_table().unwrap().clone())
        .collect()
}

/// Prints the action mix and the measured effect (for the issue notes).
#[allow(clippy::print_stderr)]
#[test]
fn next_best_actions_respect_the_policy_and_are_measured() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let out = run_ok(
        retain()
            .args(["demo", "--customers", "5000", "--out"])
            .arg(wh),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("next best actions:"), "{stdout}");
    let nba_now = nba(wh, AS_OF);
    let risk = table(wh, "scores/customer_risk", AS_OF);
    let features = table(wh, "features/customer", AS_OF);
    let contacts = staged(wh, "contacts");
    let policy = policy();
    let actions = actions_of(&policy);

    // The mix, by lifecycle stage and shopper type (printed for the issue note).
    let mix = duckdb(&format!(
        "SELECT action, lifecycle_stage, shopper_type, count(*) AS n FROM {nba_now} \
         GROUP BY ALL ORDER BY action, n DESC"
    ));
    eprintln!("action mix as of {AS_OF}:");
    for r in &mix {
        eprintln!(
            "  {:<22} {:<12} {:<14} {}",
            r["action"].as_str().unwrap(),
            r["lifecycle_stage"].as_str().unwrap(),
            r["shopper_type"].as_str().unwrap(),
            r["n"]
        );
    }
    let n = |action: &str, filter: &str| {
        count(&duckdb(&format!(
            "SELECT count(*) FROM {nba_now} WHERE action = '{action}' AND ({filter})"
        )))
    };
    // Every catalogue action that this shop has customers for is used, and each goes to
    // the customers it was written for.
    for a in [
        "service_recovery",
        "welcome_offer",
        "exclusive_offer",
        "loyalty_invite",
        "personal_newsletter",
        "ambassador_invite",
    ] {
        assert!(n(a, "true") > 0, "nobody got {a}");
    }
    assert_eq!(n("welcome_offer", "lifecycle_stage <> 'first_time'"), 0);
    assert_eq!(n("exclusive_offer", "shopper_type <> 'transactional'"), 0);
    assert_eq!(n("personal_newsletter", "shopper_type <> 'relational'"), 0);
    assert!(
        n(
            "loyalty_invite",
            "shopper_type = 'relational' OR lifecycle_stage IN ('returning', 'ambassador')"
        ) == n("loyalty_invite", "true")
    );
    assert_eq!(
        count(&duckdb(&format!(
            "SELECT count(*) FROM {nba_now} a JOIN {risk} r USING (customer_id) \
             WHERE a.action = 'ambassador_invite' \
               AND (r.expected_value < 300 OR r.churn_probability >= 0.4 \
                    OR r.lifecycle_stage NOT IN ('ambassador', 'returning'))"
        ))),
        0,
        "ambassador invites go to high-value, low-risk loyal customers"
    );
    assert_eq!(n("no_action", "reason = ''"), 0, "every no_action says why");

    // Consent: e-mail actions only with e-mail consent as of D.
    let email_actions: Vec<String> = actions
        .iter()
        .filter(|a| a["consent"].as_str() == Some("email"))
        .map(|a| format!("'{}'", a["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        count(&duckdb(&format!(
            "SELECT count(*) FROM {nba_now} a JOIN {features} f USING (customer_id) \
             WHERE a.action IN ({}) \
               AND NOT (f.email_opt_in = 1 AND COALESCE(f.unsubscribed, 0) = 0)",
            email_actions.join(", ")
        ))),
        0,
        "an e-mail action went to a customer without e-mail consent"
    );
    assert!(
        n("no_action", "reason LIKE '%no email consent%'") > 0,
        "the shop has customers without consent: {:?}",
        mix
    );

    // Cooldowns and the frequency cap, against the staged contacts.
    for a in &actions {
        let name = a["name"].as_str().unwrap();
        let cooldown = a
            .get("cooldown-days")
            .and_then(|v| v.as_integer())
            .unwrap_or(0);
        if cooldown == 0 {
            continue;
        }
        // Blocked while the day of the last contact + cooldown is after D.
        let violations = count(&duckdb(&format!(
            "SELECT count(*) FROM {nba_now} a JOIN {contacts} c \
               ON c.customer_id = a.customer_id AND c.action = a.action \
             WHERE a.action = '{name}' AND c.contacted_at < TIMESTAMPTZ '{AS_OF} 00:00:00+00' \
               AND c.contacted_at >= TIMESTAMPTZ '{AS_OF} 00:00:00+00' - INTERVAL {} DAY",
            cooldown - 1
        )));
        assert_eq!(
            violations, 0,
            "{name} given inside its {cooldown}-day cooldown"
        );
    }
    // ...and every cooldown the table names is one a staged contact started: the
    // action's last contact before D, plus its cooldown, is the day named.
    let cooldowns: Vec<String> = actions
        .iter()
        .map(|a| {
            format!(
                "('{}', {})",
                a["name"].as_str().unwrap(),
                a.get("cooldown-days")
                    .and_then(|v| v.as_integer())
                    .unwrap_or(0)
            )
        })
        .collect();
    let wrong = duckdb(&format!(
        "WITH named AS ( \
           SELECT customer_id, split_part(reason, ': cooldown until ', 1) AS action, \
                  CAST(split_part(reason, ': cooldown until ', 2) AS DATE) AS until \
           FROM {nba_now} WHERE reason LIKE '%: cooldown until %' \
           UNION ALL \
           SELECT customer_id, runner_up_action, \
                  CAST(split_part(runner_up_blocked_by, 'cooldown until ', 2) AS DATE) \
           FROM {nba_now} WHERE runner_up_blocked_by LIKE 'cooldown until %'), \
         cooldown(action, days) AS (VALUES {}), \
         last AS (SELECT customer_id, action, CAST(max(contacted_at) AS DATE) AS day FROM {contacts} \
                  WHERE contacted_at < TIMESTAMPTZ '{AS_OF} 00:00:00+00' GROUP BY ALL) \
         SELECT n.*, l.day, k.days FROM named n JOIN cooldown k USING (action) \
         LEFT JOIN last l USING (customer_id, action) \
         WHERE l.day IS NULL OR l.day + CAST(k.days AS INTEGER) <> n.until",
        cooldowns.join(", ")
    ));
    assert!(wrong.is_empty(), "cooldowns no contact explains: {wrong:?}");
    let max_contacts = policy["caps"]["max-contacts"].as_integer().unwrap();
    let capped = duckdb(&format!(
        "SELECT a.customer_id, count(*) AS contacts FROM {nba_now} a JOIN {contacts} c USING (customer_id) \
         WHERE a.action <> 'no_action' AND c.contacted_at < TIMESTAMPTZ '{AS_OF} 00:00:00+00' \
           AND c.contacted_at >= TIMESTAMPTZ '{AS_OF} 00:00:00+00' - INTERVAL 30 DAY \
         GROUP BY 1 HAVING count(*) >= {max_contacts}"
    ));
    assert!(capped.is_empty(), "over the frequency cap: {capped:?}");
    assert!(
        n("no_action", "reason LIKE '%cooldown until%'") > 0,
        "the synthetic contacts put some customers in a cooldown"
    );

    // Capacity and budgets, from the table and from the manifest's summary.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(wh.join(format!(
            "scores/next_best_action/as_of={AS_OF}/_manifest.json"
        )))
        .unwrap(),
    )
    .unwrap();
    let summary = &manifest["properties"]["summary"];
    for a in &actions {
        let name = a["name"].as_str().unwrap();
        let cost = a["cost"].as_float().unwrap();
        let treated = n(name, "NOT control");
        let controls = n(name, "control");
        let s = &summary["actions"][name];
        assert_eq!(s["treated"].as_u64(), Some(treated), "{name}");
        assert_eq!(s["control"].as_u64(), Some(controls), "{name}");
        assert!(
            (s["spent"].as_f64().unwrap() - treated as f64 * cost).abs() < 1e-6,
            "{name}: {s}"
        );
        if let Some(cap) = a.get("capacity").and_then(|v| v.as_integer()) {
            assert!(
                treated <= cap as u64,
                "{name}: {treated} treated, capacity {cap}"
            );
        }
        if let Some(budget) = a.get("budget").and_then(|v| v.as_float()) {
            assert!(treated as f64 * cost <= budget + 1e-9, "{name} over budget");
        }
    }
    assert_eq!(summary["customers"], 5000);

    // Control groups: about the policy's share of the selected customers, marked, and
    // each action's priorities are 1..selected.
    let share = policy["control-share"].as_float().unwrap();
    let g = duckdb(&format!(
        "SELECT count(*) FILTER (WHERE control) AS controls, count(*) AS selected, \
                count(DISTINCT (action, priority)) AS ranks \
         FROM {nba_now} WHERE action <> 'no_action'"
    ));
    let (controls, sel) = (
        g[0]["controls"].as_f64().unwrap(),
        g[0]["selected"].as_f64().unwrap(),
    );
    assert!(sel > 500.0, "{sel} customers selected");
    assert!(
        (controls / sel - share).abs() < 0.03,
        "control share {} against {share}",
        controls / sel
    );
    assert_eq!(
        g[0]["ranks"].as_f64(),
        Some(sel),
        "one priority per selected customer"
    );

    // Service recovery before any offer: a customer with an unresolved ticket or a bad
    // rating and an elevated churn risk gets no promotion.
    let bad_service = format!(
        "SELECT a.action FROM {nba_now} a JOIN {features} f USING (customer_id) \
         JOIN {risk} r USING (customer_id) \
         WHERE (f.open_tickets > 0 OR f.worst_csat_90d <= 2 OR f.reopened_90d > 0) \
           AND r.churn_probability >= 0.4"
    );
    let got = duckdb(&format!(
        "SELECT action, count(*) AS n FROM ({bad_service}) GROUP BY 1 ORDER BY 2 DESC"
    ));
    eprintln!("customers with a bad support experience at risk: {got:?}");
    assert_eq!(got[0]["action"], "service_recovery", "{got:?}");
    for r in &got {
        let a = r["action"].as_str().unwrap();
        assert!(
            !["welcome_offer", "exclusive_offer", "cross_sell", "win_back"].contains(&a),
            "{a} offered to a customer owed a service recovery: {got:?}"
        );
    }

    // Deterministic: deciding again gives the same actions, controls and priorities.
    let before = duckdb(&format!(
        "SELECT customer_id, action, control, priority, expected_value, reason, runner_up_action \
         FROM {nba_now} ORDER BY customer_id"
    ));
    run_ok(
        retain()
            .args(["actions", "--as-of", AS_OF, "--out"])
            .arg(wh),
    );
    let after = duckdb(&format!(
        "SELECT customer_id, action, control, priority, expected_value, reason, runner_up_action \
         FROM {nba_now} ORDER BY customer_id"
    ));
    assert_eq!(
        before, after,
        "the same scores and policy decide the same actions"
    );

    // A user's own SQL (`sql-dir`) whose contact history gives timestamps, not dates:
    // read as dates, the same decisions (it used to panic the batch loop).
    let sql = tempfile::tempdir().unwrap();
    let repo_sql = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    for dir in ["staging", "features", "labels", "clv", "actions"] {
        std::fs::create_dir_all(sql.path().join(dir)).unwrap();
        for f in std::fs::read_dir(repo_sql.join(dir)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, sql.path().join(dir).join(f.file_name().unwrap())).unwrap();
        }
    }
    let history = sql.path().join("actions/contact_history.sql");
    let text = std::fs::read_to_string(&history).unwrap();
    let edited = text.replace(
        "CAST(max(c.contacted_at) AS DATE)  ",
        "max(c.contacted_at)                ",
    );
    assert_ne!(edited, text);
    std::fs::write(&history, edited).unwrap();
    let demo =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/demo.toml"))
            .unwrap();
    let pipeline = sql.path().join("p.toml");
    std::fs::write(
        &pipeline,
        demo.replacen(
            "raw = \"raw/\"",
            &format!("raw = \"raw/\"\nsql-dir = \"{}\"", sql.path().display()),
            1,
        ),
    )
    .unwrap();
    run_ok(
        retain()
            .args(["actions", "--as-of", AS_OF, "--pipeline"])
            .arg(&pipeline)
            .arg("--out")
            .arg(wh),
    );
    let timestamps = duckdb(&format!(
        "SELECT customer_id, action, control, priority, expected_value, reason, runner_up_action \
         FROM {nba_now} ORDER BY customer_id"
    ));
    assert_eq!(before, timestamps, "the same decisions from timestamps");

    bad_expressions_are_clear_errors(wh);
    evaluate_actions_compares_treated_with_control(wh);
    quantile_tiers_cut_the_configured_shares(wh);
}

/// `[score] tiers = "quantiles"`: the riskiest 10% of scored customers are `high`, the
/// next 20% `medium`, and the manifest says where the cuts fell.
fn quantile_tiers_cut_the_configured_shares(wh: &Path) {
    let demo =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/demo.toml"))
            .unwrap();
    let text = demo.replace("tiers = \"thresholds\"", "tiers = \"quantiles\"");
    assert_ne!(text, demo);
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    let out = run_ok(
        retain()
            .args(["score", "--as-of", AS_OF, "--pipeline"])
            .arg(f.path())
            .arg("--out")
            .arg(wh),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("scored 5000 customers"), "{stdout}");
    let risk = table(wh, "scores/customer_risk", AS_OF);
    let printed_drift = stdout.contains("drift against the champions' training data");
    let tiers = duckdb(&format!(
        "SELECT count(*) FILTER (WHERE risk_tier = 'high') AS high, \
                count(*) FILTER (WHERE risk_tier = 'medium') AS medium, \
                count(*) FILTER (WHERE score_status = 'scored') AS scored FROM {risk}"
    ));
    let get = |k: &str| tiers[0][k].as_f64().unwrap();
    let scored = get("scored");
    assert!((get("high") / scored - 0.1).abs() < 0.01, "{tiers:?}");
    assert!((get("medium") / scored - 0.2).abs() < 0.01, "{tiers:?}");
    let m: Value = serde_json::from_slice(
        &std::fs::read(wh.join(format!("scores/customer_risk/as_of={AS_OF}/_manifest.json")))
            .unwrap(),
    )
    .unwrap();
    // Drift: the thresholds and every drifted input are in the manifest, and the command
    // printed the same inputs.
    let drift = &m["properties"]["drift"];
    assert_eq!(drift["thresholds"]["shift"], 0.5, "{drift}");
    for d in drift["drifted"].as_array().unwrap() {
        assert_eq!(d["drifted"], true, "{d}");
        let shift = d["shift"].as_f64().unwrap_or(f64::INFINITY);
        let nulls = (d["scoring_null_share"].as_f64().unwrap()
            - d["training_null_share"].as_f64().unwrap())
        .abs();
        assert!(shift > 0.5 || nulls > 0.1, "{d}");
    }
    assert_eq!(
        printed_drift,
        !drift["drifted"].as_array().unwrap().is_empty(),
        "{stdout}"
    );
    let t = &m["properties"]["risk_tiers"];
    assert_eq!(t["method"], "quantiles", "{t}");
    let high = t["high_threshold"].as_f64().unwrap();
    let below = count(&duckdb(&format!(
        "SELECT count(*) FROM {risk} WHERE risk_tier = 'high' AND churn_probability < {high}"
    )));
    assert_eq!(
        below, 0,
        "every high-tier customer is at or above the cut {high}"
    );
}

/// An eligibility expression that is not a pure boolean over known columns stops the
/// decision with one line naming the policy, the action and the problem.
fn bad_expressions_are_clear_errors(wh: &Path) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/policies/retention.toml"),
    )
    .unwrap();
    let original = "eligible = \"lifecycle_stage = 'first_time' AND first_order_days <= 30\"";
    assert!(text.contains(original));
    let line = text.lines().position(|l| l == original).unwrap();
    let header = text
        .lines()
        .take(line)
        .filter(|l| *l == "[[action]]")
        .count();
    assert!(header > 0);
    for (expr, expected) in [
        (
            "churn_probabilty >= 0.4",
            "No field named churn_probabilty. Did you mean 'churn_probability'?",
        ),
        ("random() < 0.5", "uses a volatile function (random())"),
        (
            "churn_probability > (SELECT avg(churn_probability) FROM customer_risk)",
            "uses a subquery",
        ),
        ("avg(churn_probability) > 0.3", "uses an aggregate (avg)"),
        ("churn_probability * 2", "is of type Float64, not a boolean"),
    ] {
        let bad = text.replace(original, &format!("eligible = \"{expr}\""));
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bad.as_bytes()).unwrap();
        let out = retain()
            .args(["actions", "--as-of", AS_OF, "--policy"])
            .arg(f.path())
            .arg("--out")
            .arg(wh)
            .output()
            .unwrap();
        // A configuration error: exit 2.
        assert_eq!(out.status.code(), Some(2), "{expr}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.trim_end().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: ")
                && last.contains("action `welcome_offer` (line ")
                && last.contains(expected),
            "{expr}: {stderr}"
        );
    }
    // Nothing was half-written: the published table is the one decided before.
    let m: Value = serde_json::from_slice(
        &std::fs::read(wh.join(format!(
            "scores/next_best_action/as_of={AS_OF}/_manifest.json"
        )))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(m["rows"], 5000);
}

#[allow(clippy::print_stderr)]
/// Decide as of an earlier date, then measure: the command's counts and rates match
/// DuckDB's on the same tables; an effect added to the data shows up, with an interval
/// that excludes zero.
fn evaluate_actions_compares_treated_with_control(wh: &Path) {
    run_ok(
        retain()
            // Today's champions were trained as of AS_OF; the earlier date is scored with
            // them on purpose (the evaluation measures the actions, not the models).
            .args(["score", "--as-of", EARLIER, "--champion", "latest", "--out"])
            .arg(wh),
    );
    run_ok(
        retain()
            .args(["actions", "--as-of", EARLIER, "--out"])
            .arg(wh),
    );
    let evaluate = || -> Value {
        let out = run_ok(
            retain()
                .args([
                    "evaluate-actions",
                    "--as-of",
                    EARLIER,
                    "--horizon-days",
                    "60",
                    "--json",
                    "--out",
                ])
                .arg(wh),
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let e = evaluate();
    assert_eq!(e["complete"], true, "{e}");
    let nba_then = nba(wh, EARLIER);
    let orders = staged(wh, "orders");
    let expected = duckdb(&format!(
        "WITH buyers AS (SELECT DISTINCT customer_id FROM {orders} WHERE status = 'completed' \
           AND ordered_at >= TIMESTAMPTZ '{EARLIER} 00:00:00+00' \
           AND ordered_at < TIMESTAMPTZ '{EARLIER} 00:00:00+00' + INTERVAL 60 DAY) \
         SELECT a.action, a.control, count(*) AS n, count(b.customer_id) AS bought \
         FROM {nba_then} a LEFT JOIN buyers b USING (customer_id) \
         WHERE a.action <> 'no_action' GROUP BY ALL"
    ));
    let by: BTreeMap<(String, bool), (u64, u64)> = expected
        .iter()
        .map(|r| {
            (
                (
                    r["action"].as_str().unwrap().to_owned(),
                    r["control"].as_bool().unwrap(),
                ),
                (r["n"].as_u64().unwrap(), r["bought"].as_u64().unwrap()),
            )
        })
        .collect();
    let evaluated = e["actions"].as_array().unwrap();
    assert!(!evaluated.is_empty());
    for a in evaluated {
        let name = a["action"].as_str().unwrap().to_owned();
        let (t, tb) = by[&(name.clone(), false)];
        assert_eq!(a["treated"].as_u64(), Some(t), "{name}");
        assert!(
            (a["treated_rate"].as_f64().unwrap() - tb as f64 / t as f64).abs() < 1e-12,
            "{name}"
        );
        if let Some(&(c, cb)) = by.get(&(name.clone(), true)) {
            assert_eq!(a["control"].as_u64(), Some(c), "{name}");
            assert!(
                (a["control_rate"].as_f64().unwrap() - cb as f64 / c as f64).abs() < 1e-12,
                "{name}"
            );
        }
    }

    // Make the most-used action work: every treated customer of it orders ten days after
    // D. Re-ingest, evaluate again: its uplift is positive and its interval excludes 0.
    let top = duckdb(&format!(
        "SELECT action, count(*) FILTER (WHERE control) AS c FROM {nba_then} \
         WHERE action <> 'no_action' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ));
    let action = top[0]["action"].as_str().unwrap().to_owned();
    assert!(top[0]["c"].as_u64().unwrap() >= 10, "{top:?}");
    let treated = duckdb(&format!(
        "SELECT customer_id FROM {nba_then} WHERE action = '{action}' AND NOT control"
    ));
    let raw = wh.join("raw/orders.csv");
    let mut f = std::fs::OpenOptions::new().append(true).open(&raw).unwrap();
    for (i, r) in treated.iter().enumerate() {
        writeln!(
            f,
            "XEFFECT{i:06},{},2026-08-13T12:00:00Z,completed,80.00,0.00,EUR,web,home,1",
            r["customer_id"].as_str().unwrap()
        )
        .unwrap();
    }
    drop(f);
    run_ok(
        retain()
            .args(["ingest", "pipelines/demo.toml", "--out"])
            .arg(wh),
    );
    let e = evaluate();
    let a = e["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == action.as_str())
        .unwrap()
        .clone();
    eprintln!("{action} after the injected effect: {a}");
    assert_eq!(a["treated_rate"].as_f64(), Some(1.0), "{a}");
    let lo = a["uplift_ci"][0].as_f64().unwrap();
    assert!(lo > 0.0, "the interval excludes 0: {a}");
    assert!(a["revenue_uplift"].as_f64().unwrap() > 0.0, "{a}");
}

/// Scoring without a champion stops with the command that makes one.
#[test]
fn scoring_without_a_champion_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = retain()
        .args(["score", "--as-of", AS_OF, "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("model `churn` has no champion")
            && stderr.contains("retain train models/churn.toml --promote-if-better"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
