use super::*;
use proptest::prelude::*;

mod fuzz;

/// Three actions: a phone service call (no consent, suppresses the offer), an e-mail offer
/// with a budget, and an SMS nudge with a capacity.
const POLICY: &str = r#"
name = "test"
seed = 7
control-share = 0.0
[consent]
email = "email_opt_in = 1"
sms = "sms_opt_in = 1"
[caps]
max-contacts = 2
window-days = 30

[[action]]
name = "service_recovery"
why = "bad service"
eligible = "bad_ticket"
driver = "churn"
channel = "phone"
consent = "none"
cost = 5.0
uplift = 0.2
suppresses = ["offer"]

[[action]]
name = "offer"
why = "at risk"
eligible = "true"
driver = "churn"
channel = "email"
consent = "email"
cost = 4.0
uplift = 0.5
cooldown-days = 30
budget = 40.0

[[action]]
name = "nudge"
why = "cheap"
eligible = "true"
driver = "value"
channel = "sms"
consent = "sms"
cost = 0.5
uplift = 0.01
capacity = 3
"#;

fn policy() -> Policy {
    Policy::from_toml(POLICY, "test.toml").unwrap()
}

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
}

/// An owned customer, turned into an [`Input`] by [`Owned::input`].
#[derive(Debug, Clone)]
struct Owned {
    id: String,
    eligible: Vec<bool>,
    churn: Option<f64>,
    value: f64,
    consent: Vec<bool>,
    contacts: u32,
    last: Vec<Option<NaiveDate>>,
}

impl Owned {
    fn new(id: &str, churn: f64, value: f64) -> Self {
        Self {
            id: id.into(),
            eligible: vec![false, true, true],
            churn: Some(churn),
            value,
            consent: vec![true, true],
            contacts: 0,
            last: vec![None; 3],
        }
    }

    fn input(&self) -> Input<'_> {
        Input {
            id: &self.id,
            eligible: &self.eligible,
            churn_probability: self.churn,
            repeat_purchase_probability: None,
            value: self.value,
            segment: &[None, None, None],
            consent: &self.consent,
            contacts_in_window: self.contacts,
            last_contact: &self.last,
        }
    }
}

fn decide(p: &Policy, customers: &[Owned]) -> (Vec<Decision>, Summary) {
    let mut e = Engine::new(p);
    for c in customers {
        e.add(&c.input(), as_of());
    }
    e.decide()
}

fn name(p: &Policy, d: &Decision) -> String {
    d.action
        .map_or(NO_ACTION.to_owned(), |i| p.actions[i].name.clone())
}

#[test]
fn the_best_action_by_expected_value_wins_and_the_runner_up_says_why() {
    let p = policy();
    // offer: 0.8 × 100 × 0.5 − 4 = 36; nudge: 100 × 0.01 − 0.5 = 0.5.
    let (d, s) = decide(&p, &[Owned::new("a", 0.8, 100.0)]);
    assert_eq!(name(&p, &d[0]), "offer");
    assert_eq!(d[0].expected_value, 36.0);
    assert_eq!(d[0].reason, "at risk");
    assert_eq!(d[0].priority, Some(1));
    assert_eq!(
        d[0].runner_up,
        Some((2, "offer has a higher expected value".to_owned()))
    );
    assert_eq!(s.actions["offer"].treated, 1);
    assert_eq!(s.spent, 4.0);
    assert_eq!(s.expected_value, 36.0);
}

#[test]
fn consent_is_respected() {
    let p = policy();
    let mut c = Owned::new("a", 0.8, 100.0);
    c.consent = vec![false, false];
    let (d, s) = decide(&p, &[c]);
    assert_eq!(name(&p, &d[0]), NO_ACTION);
    assert_eq!(d[0].reason, "offer: no email consent");
    assert_eq!(d[0].runner_up, Some((2, "no sms consent".to_owned())));
    assert_eq!(s.no_action["no consent"], 1);
    // Without e-mail consent but with SMS, the SMS nudge is the best allowed action.
    let mut c = Owned::new("b", 0.8, 100.0);
    c.consent = vec![false, true];
    let (d, _) = decide(&p, &[c]);
    assert_eq!(name(&p, &d[0]), "nudge");
    assert_eq!(d[0].runner_up, Some((1, "no email consent".to_owned())));
}

#[test]
fn cooldowns_and_the_frequency_cap_are_respected() {
    let p = policy();
    let mut c = Owned::new("a", 0.8, 100.0);
    c.last[1] = NaiveDate::from_ymd_opt(2026, 10, 20); // offer 12 days ago, cooldown 30
    let (d, _) = decide(&p, &[c.clone()]);
    assert_eq!(name(&p, &d[0]), "nudge");
    assert_eq!(
        d[0].runner_up,
        Some((1, "cooldown until 2026-11-19".to_owned()))
    );
    // 30 days ago: the cooldown is over on D.
    c.last[1] = NaiveDate::from_ymd_opt(2026, 10, 2);
    assert_eq!(name(&p, &decide(&p, &[c.clone()]).0[0]), "offer");
    // Two contacts in the window already: the cap of 2 blocks every action.
    c.contacts = 2;
    let (d, s) = decide(&p, &[c]);
    assert_eq!(
        d[0].reason,
        "offer: frequency cap: 2 contacts in the last 30 days (max 2)"
    );
    assert_eq!(s.no_action["frequency cap"], 1);
}

#[test]
fn service_recovery_suppresses_the_offer_even_when_the_offer_is_worth_more() {
    let p = policy();
    // service_recovery: 0.9 × 50 × 0.2 − 5 = 4; offer would be 0.9 × 50 × 0.5 − 4 = 18.5.
    let mut c = Owned::new("a", 0.9, 50.0);
    c.eligible[0] = true;
    let (d, _) = decide(&p, &[c]);
    assert_eq!(name(&p, &d[0]), "service_recovery");
    assert_eq!(d[0].expected_value, 4.0);
    assert_eq!(
        d[0].runner_up,
        Some((
            1,
            "suppressed by service_recovery (eligible for it, and it comes first)".to_owned()
        ))
    );
}

#[test]
fn below_cost_and_not_eligible_are_no_action_with_their_reason() {
    let p = policy();
    let mut poor = Owned::new("a", 0.01, 10.0);
    poor.eligible = vec![false, true, false];
    let mut none = Owned::new("b", 0.5, 10.0);
    none.eligible = vec![false; 3];
    let mut unscored = Owned::new("c", 0.5, 10.0);
    unscored.churn = None;
    unscored.eligible = vec![false, true, false];
    let (d, s) = decide(&p, &[poor, none, unscored]);
    assert_eq!(
        d[0].reason,
        "offer: expected value 0.05 does not cover the cost of 4.00"
    );
    assert_eq!(d[1].reason, NOT_ELIGIBLE);
    assert_eq!(d[1].runner_up, None);
    assert_eq!(d[2].reason, "offer: no churn_probability for this customer");
    assert_eq!(s.actions[NO_ACTION].selected, 3);
    assert_eq!(s.no_action[NOT_ELIGIBLE], 1);
}

#[test]
fn capacity_and_budget_go_to_the_most_valuable_customers() {
    let p = policy();
    // Only the nudge (capacity 3) for 5 customers of rising value.
    let cs: Vec<Owned> = (0..5)
        .map(|i| {
            let mut c = Owned::new(&format!("c{i}"), 0.5, 100.0 + i as f64 * 10.0);
            c.eligible = vec![false, false, true];
            c
        })
        .collect();
    let (d, s) = decide(&p, &cs);
    let got: Vec<String> = d.iter().map(|d| name(&p, d)).collect();
    assert_eq!(got, ["no_action", "no_action", "nudge", "nudge", "nudge"]);
    assert_eq!(d[4].priority, Some(1), "the most valuable customer first");
    assert_eq!(d[0].reason, "nudge: capacity of 3 exhausted");
    assert_eq!(s.actions["nudge"].treated, 3);
    // Offer budget 40 at cost 4: ten customers, the rest get the nudge or nothing.
    let cs: Vec<Owned> = (0..15)
        .map(|i| Owned::new(&format!("o{i:02}"), 0.8, 100.0 + i as f64))
        .collect();
    let (d, s) = decide(&p, &cs);
    assert_eq!(s.actions["offer"].treated, 10);
    assert_eq!(s.actions["offer"].spent, 40.0);
    // The five cheapest customers lost the offer to the budget; the runner-up of the
    // three who got the nudge says so.
    assert_eq!(name(&p, &d[4]), "nudge");
    assert_eq!(
        d[4].runner_up,
        Some((1, "budget of 40.00 exhausted".to_owned()))
    );
    assert_eq!(d[0].reason, "offer: budget of 40.00 exhausted");
}

#[test]
fn the_policy_budget_caps_all_actions_together() {
    let text = POLICY.replace("control-share = 0.0", "control-share = 0.0\nbudget = 9.0");
    let p = Policy::from_toml(&text, "t").unwrap();
    let cs: Vec<Owned> = (0..5)
        .map(|i| Owned::new(&format!("c{i}"), 0.8, 100.0))
        .collect();
    let (_, s) = decide(&p, &cs);
    // Two offers (8) use the budget; a nudge (0.5) still fits, then nothing does.
    assert_eq!(s.actions["offer"].treated, 2);
    assert_eq!(s.actions["nudge"].treated, 2);
    assert!(s.spent <= 9.0, "{}", s.spent);
    assert_eq!(s.no_action["budget exhausted"], 1);
}

#[test]
fn control_share_is_close_to_the_setting_and_controls_cost_nothing() {
    let text = POLICY.replace("control-share = 0.0", "control-share = 0.2");
    let p = Policy::from_toml(&text, "t").unwrap();
    let cs: Vec<Owned> = (0..10_000)
        .map(|i| {
            let mut c = Owned::new(&format!("cust-{i}"), 0.5, 100.0);
            c.eligible = vec![false, false, true];
            c
        })
        .collect();
    let mut p2 = p.clone();
    p2.actions[2].capacity = None;
    let (d, s) = decide(&p2, &cs);
    let a = &s.actions["nudge"];
    let share = a.control as f64 / a.selected as f64;
    assert!((share - 0.2).abs() < 0.015, "control share {share}");
    assert_eq!(a.spent, round2(a.treated as f64 * 0.5));
    assert_eq!(s.controls, a.control);
    // Stable per customer: the same customers are controls in another run, in another
    // order.
    let mut rev = cs.clone();
    rev.reverse();
    let (d2, _) = decide(&p2, &rev);
    let controls = |d: &[Decision], cs: &[Owned]| {
        let mut v: Vec<String> = d
            .iter()
            .zip(cs)
            .filter(|(d, _)| d.control)
            .map(|(_, c)| c.id.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(controls(&d, &cs), controls(&d2, &rev));
    // A capacity counts the treated customers only.
    let (_, s) = decide(&p, &cs);
    assert_eq!(s.actions["nudge"].treated, 3);
}

fn arb_customer(i: usize) -> impl Strategy<Value = Owned> {
    (
        prop::collection::vec(any::<bool>(), 3),
        prop::option::weighted(0.9, 0.0..1.0f64),
        0.0..500.0f64,
        prop::collection::vec(any::<bool>(), 2),
        0u32..3,
        prop::option::weighted(0.2, 0u64..60),
    )
        .prop_map(
            move |(eligible, churn, value, consent, contacts, ago)| Owned {
                id: format!("c{i:04}"),
                eligible,
                churn,
                value,
                consent,
                contacts,
                last: vec![None, ago.map(|d| as_of() - chrono::Days::new(d)), None],
            },
        )
}

fn arb_customers() -> impl Strategy<Value = Vec<Owned>> {
    (1usize..60).prop_flat_map(|n| (0..n).map(arb_customer).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the customers: one action each, never without consent, never in a
    /// cooldown or over the cap, capacity and budgets never exceeded, nothing below
    /// cost, and the same decisions in any input order.
    #[test]
    fn limits_always_hold(cs in arb_customers(), cap in 0u64..5, budget in 0.0..30.0f64) {
        let mut p = policy();
        p.actions[2].capacity = Some(cap);
        p.actions[1].budget = Some(budget);
        p.control_share = 0.25;
        let (d, s) = decide(&p, &cs);
        prop_assert_eq!(d.len(), cs.len());
        for (d, c) in d.iter().zip(&cs) {
            let Some(i) = d.action else { continue };
            let a = &p.actions[i];
            prop_assert!(c.eligible[i]);
            prop_assert!(d.expected_value > 0.0);
            if a.consent == "email" { prop_assert!(c.consent[0]); }
            if a.consent == "sms" { prop_assert!(c.consent[1]); }
            prop_assert!(c.contacts < 2);
            if i == 1 {
                prop_assert!(!c.eligible[0], "suppressed by service recovery");
                if let Some(last) = c.last[1] { prop_assert!(last + chrono::Days::new(30) <= as_of()); }
            }
        }
        prop_assert!(s.actions["nudge"].treated <= cap);
        prop_assert!(s.actions["offer"].spent <= budget + 1e-9);
        let treated: u64 = d.iter().filter(|d| d.action.is_some() && !d.control).count() as u64;
        let sum: u64 = p.actions.iter().map(|a| s.actions[&a.name].treated).sum();
        prop_assert_eq!(treated, sum);

        let mut rev = cs.clone();
        rev.reverse();
        let (mut d2, s2) = decide(&p, &rev);
        d2.reverse();
        prop_assert_eq!(d, d2);
        prop_assert_eq!(s, s2);
    }
}
