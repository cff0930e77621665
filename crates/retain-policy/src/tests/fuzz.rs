//! Property-based fuzzing of the engine behind the policy parser (proptest, on every
//! `cargo test`): whatever policy file `Policy::from_toml` accepts — its numbers at and
//! past their bounds — and whatever customers the pipeline hands over, deciding returns
//! one decision a customer, within the policy's limits, with reasons fit for one line.
//!
//! (The `eligible` and consent expressions themselves are SQL: they are bounded by
//! retain-sql's `expression_too_large` and parsed by DataFusion in retain-pipeline; this
//! crate only receives each one's boolean per customer.)

use super::*;

/// Integers of a policy file at its bounds and past them (u32, u64 as TOML's i64).
const INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "30",
    "3650",
    "3651",
    "65535",
    "4294967295",
    "4294967296",
    "-1",
    "9223372036854775807",
];

/// Floats of a policy file at its bounds and past them.
const FLOATS: &[&str] = &[
    "0.0", "-0.0", "0.000001", "0.1", "0.49", "0.5", "1.0", "1.5", "-1.0", "1e308", "nan", "inf",
    "-inf",
];

fn int() -> impl Strategy<Value = &'static str> {
    prop::sample::select(INTS)
}

fn float() -> impl Strategy<Value = &'static str> {
    prop::sample::select(FLOATS)
}

/// The numbers of one `[[action]]`.
#[derive(Debug, Clone)]
struct ActionNumbers {
    cost: &'static str,
    uplift: &'static str,
    cooldown: &'static str,
    capacity: Option<&'static str>,
    budget: Option<&'static str>,
    control_share: Option<&'static str>,
    /// Uplifts of the segments `vip` and `new`.
    uplift_by: Option<(&'static str, &'static str)>,
}

fn action_numbers() -> impl Strategy<Value = ActionNumbers> {
    (
        float(),
        float(),
        int(),
        prop::option::of(int()),
        prop::option::of(float()),
        prop::option::of(float()),
        prop::option::of((float(), float())),
    )
        .prop_map(
            |(cost, uplift, cooldown, capacity, budget, control_share, uplift_by)| ActionNumbers {
                cost,
                uplift,
                cooldown,
                capacity,
                budget,
                control_share,
                uplift_by,
            },
        )
}

/// The numbers of a policy file of three actions (as in the tests above: a service call
/// that suppresses the offer, an e-mail offer on repeat purchase, an SMS nudge on value).
#[derive(Debug, Clone)]
struct PolicyNumbers {
    seed: &'static str,
    control_share: &'static str,
    valid_days: &'static str,
    budget: Option<&'static str>,
    max_contacts: Option<&'static str>,
    window_days: &'static str,
    actions: Vec<ActionNumbers>,
}

fn policy_numbers() -> impl Strategy<Value = PolicyNumbers> {
    (
        int(),
        float(),
        int(),
        prop::option::of(float()),
        prop::option::of(int()),
        int(),
        prop::collection::vec(action_numbers(), 3),
    )
        .prop_map(
            |(seed, control_share, valid_days, budget, max_contacts, window_days, actions)| {
                PolicyNumbers {
                    seed,
                    control_share,
                    valid_days,
                    budget,
                    max_contacts,
                    window_days,
                    actions,
                }
            },
        )
}

/// Half the time the numbers are first moved inside the documented bounds, so that
/// most policies parse and reach the engine with their extremes (cooldowns of ten
/// years, capacities of 4294967295, budgets of 1e308).
fn in_bounds(mut n: PolicyNumbers) -> PolicyNumbers {
    let share = |s: &'static str| match s.parse::<f64>() {
        Ok(v) if (0.0..0.5).contains(&v) => s,
        _ => "0.25",
    };
    let unit = |s: &'static str| match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => s,
        _ => "1.0",
    };
    let money = |s: &'static str| match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => s,
        _ => "1e308",
    };
    let days = |s: &'static str, min: i64| match s.parse::<i64>() {
        Ok(v) if (min..=3_650).contains(&v) => s,
        _ => "3650",
    };
    let count = |s: &'static str| match s.parse::<i64>() {
        Ok(v) if (0..=i64::from(u32::MAX)).contains(&v) => s,
        _ => "4294967295",
    };
    n.seed = if n.seed.starts_with('-') { "0" } else { n.seed };
    n.control_share = share(n.control_share);
    n.valid_days = days(n.valid_days, 0);
    n.budget = n.budget.map(money);
    n.max_contacts = n.max_contacts.map(count);
    n.window_days = days(n.window_days, 1);
    for a in &mut n.actions {
        a.cost = money(a.cost);
        a.uplift = unit(a.uplift);
        a.cooldown = days(a.cooldown, 0);
        a.capacity = a.capacity.map(|c| if c.starts_with('-') { "0" } else { c });
        a.budget = a.budget.map(money);
        a.control_share = a.control_share.map(share);
        a.uplift_by = a.uplift_by.map(|(v, n)| (unit(v), unit(n)));
    }
    n
}

fn policy_text(n: &PolicyNumbers) -> String {
    let mut t = format!(
        "name = \"fuzz\"\nseed = {}\ncontrol-share = {}\nvalid-days = {}\n",
        n.seed, n.control_share, n.valid_days
    );
    if let Some(b) = n.budget {
        t += &format!("budget = {b}\n");
    }
    t += "[consent]\nemail = \"email_opt_in = 1\"\nsms = \"sms_opt_in = 1\"\n[caps]\n";
    if let Some(m) = n.max_contacts {
        t += &format!("max-contacts = {m}\n");
    }
    t += &format!("window-days = {}\n", n.window_days);
    let shapes = [
        (
            "service_recovery",
            "churn",
            "phone",
            "none",
            "suppresses = [\"offer\"]\n",
        ),
        ("offer", "repeat_purchase", "email", "email", ""),
        ("nudge", "value", "sms", "sms", ""),
    ];
    for ((name, driver, channel, consent, extra), a) in shapes.iter().zip(&n.actions) {
        t += &format!(
            "\n[[action]]\nname = \"{name}\"\nwhy = \"why {name}\"\neligible = \"true\"\ndriver = \"{driver}\"\nchannel = \"{channel}\"\nconsent = \"{consent}\"\ncost = {}\nuplift = {}\ncooldown-days = {}\n{extra}",
            a.cost, a.uplift, a.cooldown
        );
        if let Some(c) = a.capacity {
            t += &format!("capacity = {c}\n");
        }
        if let Some(b) = a.budget {
            t += &format!("budget = {b}\n");
        }
        if let Some(s) = a.control_share {
            t += &format!("control-share = {s}\n");
        }
        if let Some((vip, new)) = a.uplift_by {
            t += &format!(
                "[action.uplift-by]\ncolumn = \"segment\"\nvalues = {{ vip = {vip}, new = {new} }}\n"
            );
        }
    }
    t
}

/// A customer as the pipeline could hand it over, and as it should not: slices shorter
/// or longer than the policy's, probabilities and values that are not finite, the
/// first and last dates chrono holds, ids repeated or empty.
#[derive(Debug, Clone)]
struct Hostile {
    id: String,
    eligible: Vec<bool>,
    churn: Option<f64>,
    repeat: Option<f64>,
    value: f64,
    segment: Vec<Option<&'static str>>,
    consent: Vec<bool>,
    contacts: u32,
    last: Vec<Option<NaiveDate>>,
}

impl Hostile {
    fn input(&self) -> Input<'_> {
        Input {
            id: &self.id,
            eligible: &self.eligible,
            churn_probability: self.churn,
            repeat_purchase_probability: self.repeat,
            value: self.value,
            segment: &self.segment,
            consent: &self.consent,
            contacts_in_window: self.contacts,
            last_contact: &self.last,
        }
    }
}

fn odd_date() -> impl Strategy<Value = NaiveDate> {
    let d = as_of();
    prop::sample::select(vec![
        NaiveDate::MIN,
        NaiveDate::MAX,
        d,
        d - chrono::Days::new(10),
        d + chrono::Days::new(10),
        d - chrono::Days::new(4_000),
        NaiveDate::MAX - chrono::Days::new(1),
    ])
}

fn probability() -> impl Strategy<Value = Option<f64>> {
    prop::option::weighted(
        0.9,
        prop_oneof![
            3 => 0.0..=1.0f64,
            1 => prop::sample::select(vec![0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
        ],
    )
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let flags = |n| prop::collection::vec(any::<bool>(), n);
    (
        prop::sample::select(vec!["c1", "c2", "c3", "", "é", "c1 "]),
        flags(0..5),
        probability(),
        probability(),
        prop_oneof![
            3 => 0.0..1_000.0f64,
            1 => prop::sample::select(vec![0.0, -1.0, 1e308, f64::MAX, f64::NAN, f64::INFINITY]),
        ],
        prop::collection::vec(
            prop::option::of(prop::sample::select(vec!["vip", "new", "other", ""])),
            0..4,
        ),
        flags(0..3),
        prop::sample::select(vec![0u32, 1, 2, u32::MAX]),
        prop::collection::vec(prop::option::of(odd_date()), 0..4),
    )
        .prop_map(
            |(id, eligible, churn, repeat, value, segment, consent, contacts, last)| Hostile {
                id: id.to_owned(),
                eligible,
                churn,
                repeat,
                value,
                segment,
                consent,
                contacts,
                last,
            },
        )
}

/// A line of text a decision shows: something, on one line, not too long (it may quote
/// two amounts, each at most 312 characters as `{:.2}` prints an f64).
fn one_line(s: &str) -> Result<(), TestCaseError> {
    prop_assert!(!s.trim().is_empty(), "empty reason");
    prop_assert!(!s.contains(['\n', '\r']), "{s:?}");
    prop_assert!(s.chars().count() <= 1000, "{s:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Fuzzes the engine with policies parsed from files whose numbers sit at and past
    /// their bounds (cooldown-days = 4294967295, capacity = 9223372036854775807,
    /// budget = 1e308, shares of NaN), and customers with odd slices, non-finite
    /// probabilities and values, and last contacts on chrono's first and last dates,
    /// decided as of an ordinary date or those.
    /// Property: a file out of bounds is an error naming it (never a panic later); for
    /// one in bounds, deciding returns one decision a customer, only for an action it is
    /// eligible for, within capacities and budgets, every reason one line; the summary
    /// counts every customer once.
    #[test]
    fn any_policy_the_parser_accepts_decides_every_customer(
        numbers in policy_numbers(),
        bounded in any::<bool>(),
        customers in prop::collection::vec(hostile(), 0..30),
        as_of in prop_oneof![3 => Just(as_of()), 1 => odd_date()],
    ) {
        let numbers = if bounded { in_bounds(numbers) } else { numbers };
        let text = policy_text(&numbers);
        let p = match Policy::from_toml(&text, "fuzz.toml") {
            Ok(p) => p,
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("invalid policy file `fuzz.toml`: "), "{msg}");
                prop_assert!(!bounded, "in bounds, yet: {msg}");
                return one_line(&msg);
            }
        };
        let mut engine = Engine::new(&p);
        for c in &customers {
            engine.add(&c.input(), as_of);
        }
        prop_assert_eq!(engine.len(), customers.len());
        let (decisions, summary) = engine.decide();
        prop_assert_eq!(decisions.len(), customers.len());
        for (d, c) in decisions.iter().zip(&customers) {
            prop_assert_eq!(&*d.id, c.id.as_str());
            one_line(&d.reason)?;
            match d.action {
                Some(i) => {
                    prop_assert!(i < p.actions.len());
                    prop_assert!(c.eligible.get(i).copied().unwrap_or(false));
                    prop_assert!(d.priority.is_some_and(|r| r >= 1));
                    prop_assert_eq!(&d.reason, &p.actions[i].why);
                }
                None => {
                    prop_assert!(d.priority.is_none() && !d.control);
                    prop_assert_eq!(d.expected_value, 0.0);
                }
            }
            if let Some((j, why)) = &d.runner_up {
                prop_assert!(*j < p.actions.len() && Some(*j) != d.action);
                one_line(why)?;
            }
        }
        prop_assert_eq!(summary.customers, customers.len() as u64);
        let selected: u64 = summary.actions.values().map(|a| a.selected).sum();
        prop_assert_eq!(selected, customers.len() as u64);
        for a in &p.actions {
            let s = &summary.actions[&a.name];
            prop_assert_eq!(s.treated + s.control, s.selected);
            prop_assert!(a.capacity.is_none_or(|c| s.treated <= c));
            // (The summary rounds to cents.)
            prop_assert!(a.budget.is_none_or(|b| s.spent <= b + 0.005 + 1e-9 * b), "{} > {:?}", s.spent, a.budget);
        }
        prop_assert!(p.budget.is_none_or(|b| summary.spent <= b + 0.005 + 1e-9 * b), "{} > {:?}", summary.spent, p.budget);
    }
}
