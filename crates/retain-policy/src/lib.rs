//! Next-best-action arbitration (docs/policy.md).
//!
//! DataFusion evaluates each action's eligibility and the consent expressions of a
//! policy file over the customers; this crate does the part SQL cannot: a greedy
//! allocation over every eligible customer × action by expected value, one action per
//! customer, within consent, frequency caps, cooldowns, per-action capacity and budgets,
//! with a seeded, per-customer-stable control group per action, and for every customer
//! the precise reason it got what it got (and why its runner-up lost).
//!
//! Memory: per customer its id and its eligible candidates (an action index, an
//! expected value and a block each); docs/policy.md has the measured totals.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use retain_config::policy::{Driver, NO_ACTION, Policy};
use serde::Serialize;

mod stable;

pub use stable::stable_unit;

/// Why a candidate action was not given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Block {
    /// The driver's probability is missing (the model does not score this customer).
    NoProbability,
    /// The customer is eligible for an action that suppresses this one.
    Suppressed { by: u16 },
    /// The action's consent is not given.
    NoConsent,
    /// Contacted with this action too recently.
    Cooldown { until: NaiveDate },
    /// Too many contacts in the cap window.
    Cap { contacts: u32 },
    /// Expected value not above zero once the cost is paid.
    BelowCost,
    /// The customer got another action first (higher or equal expected value).
    Taken { by: u16 },
    /// The action's capacity was used up by customers of higher value.
    Capacity,
    /// The action's budget was used up.
    Budget,
    /// The policy's overall budget was used up.
    PolicyBudget,
}

impl Block {
    /// Short category, for counts in the summary.
    pub fn kind(&self) -> &'static str {
        match self {
            Block::NoProbability => "no probability",
            Block::Suppressed { .. } => "suppressed",
            Block::NoConsent => "no consent",
            Block::Cooldown { .. } => "cooldown",
            Block::Cap { .. } => "frequency cap",
            Block::BelowCost => "below cost",
            Block::Taken { .. } => "better action taken",
            Block::Capacity => "capacity exhausted",
            Block::Budget | Block::PolicyBudget => "budget exhausted",
        }
    }
}

/// Why nobody-eligible customers get `no_action`.
pub const NOT_ELIGIBLE: &str = "not eligible for any action";

/// One customer as the engine sees it. Slices are indexed like the policy's actions
/// (`eligible`, `segment`, `last_contact`) or its `[consent]` names in order
/// (`consent`).
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub id: &'a str,
    /// Each action's eligibility expression (NULL counts as false).
    pub eligible: &'a [bool],
    pub churn_probability: Option<f64>,
    pub repeat_purchase_probability: Option<f64>,
    /// The customer's value (customer_risk's expected_value).
    pub value: f64,
    /// Each action's `uplift-by` column value (None without one, or when NULL).
    pub segment: &'a [Option<&'a str>],
    /// Each consent expression (NULL counts as false).
    pub consent: &'a [bool],
    /// Contacts of any action in the cap window before D.
    pub contacts_in_window: u32,
    /// Each action's last contact with this customer before D.
    pub last_contact: &'a [Option<NaiveDate>],
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    action: u16,
    /// Rounded to cents: what the table shows is what was compared.
    ev: f64,
    block: Option<Block>,
}

#[derive(Debug)]
struct Customer {
    id: Box<str>,
    candidates: Vec<Candidate>,
}

/// What one customer gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The customer.
    pub id: Box<str>,
    /// Index of the action, or None for `no_action`.
    pub action: Option<usize>,
    /// The action's expected value (0 for `no_action`).
    pub expected_value: f64,
    /// Held out as a control: selected, but not to be contacted.
    pub control: bool,
    /// Rank among the action's selected customers (1 = most valuable).
    pub priority: Option<u32>,
    /// The action's `why`, or the precise reason for `no_action`.
    pub reason: String,
    /// The best other candidate and what blocked it.
    pub runner_up: Option<(usize, String)>,
}

/// Counts of one action in a run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ActionSummary {
    /// Treated + control.
    pub selected: u64,
    pub treated: u64,
    pub control: u64,
    /// Cost of the treated customers.
    pub spent: f64,
    /// Expected value of the treated customers.
    pub expected_value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
}

/// What a run decided, printed and written into the manifest.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub customers: u64,
    /// By action, in the policy's order (a BTreeMap in JSON: by name).
    pub actions: BTreeMap<String, ActionSummary>,
    /// Customers without an action, by the kind of reason.
    pub no_action: BTreeMap<String, u64>,
    pub spent: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    /// Expected value of the treated customers.
    pub expected_value: f64,
    pub controls: u64,
}

/// Collects customers, then decides.
pub struct Engine<'p> {
    policy: &'p Policy,
    /// Per action: the index of its consent among `[consent]`, None for `none`.
    consent: Vec<Option<usize>>,
    /// Per action: the actions that suppress it.
    suppressed_by: Vec<Vec<u16>>,
    customers: Vec<Customer>,
}

fn round2(v: f64) -> f64 {
    // Past 1.8e306 the scaling overflowed to ±inf; there an f64 has no cents anyway.
    let r = (v * 100.0).round() / 100.0 + 0.0;
    if r.is_finite() { r } else { v }
}

impl<'p> Engine<'p> {
    pub fn new(policy: &'p Policy) -> Self {
        let names: Vec<&String> = policy.consent.keys().collect();
        let consent = policy
            .actions
            .iter()
            .map(|a| names.iter().position(|n| **n == a.consent))
            .collect();
        let mut suppressed_by = vec![Vec::new(); policy.actions.len()];
        for (i, a) in policy.actions.iter().enumerate() {
            for s in &a.suppresses {
                if let Some(j) = policy.action_index(s) {
                    suppressed_by[j].push(i as u16);
                }
            }
        }
        Self {
            policy,
            consent,
            suppressed_by,
            customers: Vec::new(),
        }
    }

    /// Number of customers added.
    pub fn len(&self) -> usize {
        self.customers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
    }

    /// Add one customer (scored as of `as_of`): its candidates, each with its expected
    /// value and whatever blocks it before allocation.
    pub fn add(&mut self, c: &Input<'_>, as_of: NaiveDate) {
        let p = self.policy;
        let mut candidates = Vec::new();
        for (i, a) in p.actions.iter().enumerate() {
            if !c.eligible.get(i).copied().unwrap_or(false) {
                continue;
            }
            let probability = match a.driver {
                Driver::Churn => c.churn_probability,
                Driver::RepeatPurchase => c.repeat_purchase_probability.map(|r| 1.0 - r),
                Driver::Value => Some(1.0),
            };
            let uplift = match (&a.uplift_by, c.segment.get(i).copied().flatten()) {
                (Some(by), Some(v)) => by.values.get(v).copied().unwrap_or(a.uplift),
                _ => a.uplift,
            };
            let ev = round2(probability.unwrap_or(0.0) * c.value.max(0.0) * uplift - a.cost);
            let suppressor = self.suppressed_by[i]
                .iter()
                .find(|&&s| c.eligible.get(s as usize).copied().unwrap_or(false));
            // A cooldown past the last date chrono holds lasts until it (`+` panicked).
            let cooldown_until = c
                .last_contact
                .get(i)
                .copied()
                .flatten()
                .map(|d| {
                    d.checked_add_days(chrono::Days::new(u64::from(a.cooldown_days)))
                        .unwrap_or(NaiveDate::MAX)
                })
                .filter(|until| a.cooldown_days > 0 && *until > as_of);
            let block = if probability.is_none() {
                Some(Block::NoProbability)
            } else if let Some(&by) = suppressor {
                Some(Block::Suppressed { by })
            } else if self.consent[i].is_some_and(|k| !c.consent.get(k).copied().unwrap_or(false)) {
                Some(Block::NoConsent)
            } else if let Some(until) = cooldown_until {
                Some(Block::Cooldown { until })
            } else if p
                .caps
                .max_contacts
                .is_some_and(|max| c.contacts_in_window >= max)
            {
                Some(Block::Cap {
                    contacts: c.contacts_in_window,
                })
            } else if ev <= 0.0 {
                Some(Block::BelowCost)
            } else {
                None
            };
            candidates.push(Candidate {
                action: i as u16,
                ev,
                block,
            });
        }
        self.customers.push(Customer {
            id: c.id.into(),
            candidates,
        });
    }

    /// Allocate greedily by expected value (ties: customer id, then the policy's action
    /// order) and return each customer's decision, in the order they were added.
    pub fn decide(mut self) -> (Vec<Decision>, Summary) {
        let p = self.policy;
        let n_actions = p.actions.len();
        let mut order: Vec<(u32, u16)> = Vec::new();
        for (ci, c) in self.customers.iter().enumerate() {
            for (k, cand) in c.candidates.iter().enumerate() {
                if cand.block.is_none() {
                    order.push((ci as u32, k as u16));
                }
            }
        }
        let customers = &self.customers;
        let cand = |(ci, k): (u32, u16)| &customers[ci as usize].candidates[k as usize];
        order.sort_by(|&a, &b| {
            let (ca, cb) = (cand(a), cand(b));
            cb.ev
                .total_cmp(&ca.ev)
                .then_with(|| customers[a.0 as usize].id.cmp(&customers[b.0 as usize].id))
                .then(ca.action.cmp(&cb.action))
        });

        // (candidate index, control, priority) of each customer's chosen action.
        let mut chosen: Vec<Option<(u16, bool, u32)>> = vec![None; customers.len()];
        let mut summary = vec![ActionSummary::default(); n_actions];
        let mut spent_total = 0.0;
        let mut blocks: Vec<(u32, u16, Block)> = Vec::new();
        for (ci, k) in order {
            let c = cand((ci, k));
            let i = c.action as usize;
            let a = &p.actions[i];
            let s = &mut summary[i];
            let block = if let Some((by, _, _)) = chosen[ci as usize] {
                Some(Block::Taken {
                    by: customers[ci as usize].candidates[by as usize].action,
                })
            } else if a.capacity.is_some_and(|cap| s.treated >= cap) {
                Some(Block::Capacity)
            } else if a.budget.is_some_and(|b| s.spent + a.cost > b + 1e-9) {
                Some(Block::Budget)
            } else if p.budget.is_some_and(|b| spent_total + a.cost > b + 1e-9) {
                Some(Block::PolicyBudget)
            } else {
                None
            };
            if let Some(b) = block {
                blocks.push((ci, k, b));
                continue;
            }
            let control = stable_unit(p.seed, &[a.name.as_str(), &customers[ci as usize].id])
                < a.control_share(p);
            s.selected += 1;
            if control {
                s.control += 1;
            } else {
                s.treated += 1;
                s.spent += a.cost;
                s.expected_value += c.ev;
                spent_total += a.cost;
            }
            chosen[ci as usize] = Some((k, control, s.selected as u32));
        }
        for (ci, k, b) in blocks {
            self.customers[ci as usize].candidates[k as usize].block = Some(b);
        }

        let mut out = Summary {
            customers: self.customers.len() as u64,
            budget: p.budget,
            ..Summary::default()
        };
        let mut decisions = Vec::with_capacity(self.customers.len());
        for (c, pick) in self.customers.iter_mut().zip(chosen) {
            // Best first: by expected value, then the policy's order.
            c.candidates
                .sort_by(|a, b| b.ev.total_cmp(&a.ev).then(a.action.cmp(&b.action)));
            let decision = match pick {
                Some((k, control, priority)) => {
                    let chosen = c.candidates.iter().position(|x| x.block.is_none());
                    // After the sort the chosen candidate is the only unblocked one.
                    let k = chosen.unwrap_or(k as usize);
                    let best = c.candidates[k];
                    let runner_up = c
                        .candidates
                        .iter()
                        .enumerate()
                        .find(|(j, _)| *j != k)
                        .map(|(_, r)| (r.action as usize, explain(p, r)));
                    Decision {
                        id: std::mem::take(&mut c.id),
                        action: Some(best.action as usize),
                        expected_value: best.ev,
                        control,
                        priority: Some(priority),
                        reason: p.actions[best.action as usize].why.clone(),
                        runner_up,
                    }
                }
                None => {
                    let kind = c
                        .candidates
                        .first()
                        .and_then(|b| b.block)
                        .map_or(NOT_ELIGIBLE, |b| b.kind());
                    *out.no_action.entry(kind.to_owned()).or_default() += 1;
                    Decision {
                        id: std::mem::take(&mut c.id),
                        action: None,
                        expected_value: 0.0,
                        control: false,
                        priority: None,
                        reason: c.candidates.first().map_or_else(
                            || NOT_ELIGIBLE.to_owned(),
                            |b| format!("{}: {}", p.actions[b.action as usize].name, explain(p, b)),
                        ),
                        runner_up: c
                            .candidates
                            .get(1)
                            .map(|r| (r.action as usize, explain(p, r))),
                    }
                }
            };
            decisions.push(decision);
        }
        for (a, mut s) in p.actions.iter().zip(summary) {
            s.spent = round2(s.spent);
            s.expected_value = round2(s.expected_value);
            s.capacity = a.capacity;
            s.budget = a.budget;
            out.spent += s.spent;
            out.expected_value += s.expected_value;
            out.controls += s.control;
            out.actions.insert(a.name.clone(), s);
        }
        out.spent = round2(out.spent);
        out.expected_value = round2(out.expected_value);
        let none = decisions.iter().filter(|d| d.action.is_none()).count() as u64;
        out.actions.insert(
            NO_ACTION.to_owned(),
            ActionSummary {
                selected: none,
                ..ActionSummary::default()
            },
        );
        (decisions, out)
    }
}

/// The reason a candidate was not given, in words.
fn explain(p: &Policy, c: &Candidate) -> String {
    let a = &p.actions[c.action as usize];
    let name = |i: u16| p.actions[i as usize].name.as_str();
    match c.block {
        None => "not blocked".to_owned(),
        Some(Block::NoProbability) => match a.driver {
            Driver::Churn => "no churn_probability for this customer".to_owned(),
            Driver::RepeatPurchase => {
                "no repeat_purchase_probability (first-time customers only)".to_owned()
            }
            Driver::Value => unreachable!("the value driver always has a probability"),
        },
        Some(Block::Suppressed { by }) => {
            format!(
                "suppressed by {} (eligible for it, and it comes first)",
                name(by)
            )
        }
        Some(Block::NoConsent) => format!("no {} consent", a.consent),
        Some(Block::Cooldown { until }) => format!("cooldown until {until}"),
        Some(Block::Cap { contacts }) => format!(
            "frequency cap: {contacts} contacts in the last {} days (max {})",
            p.caps.window_days,
            p.caps.max_contacts.unwrap_or(0)
        ),
        Some(Block::BelowCost) => format!(
            "expected value {:.2} does not cover the cost of {:.2}",
            c.ev + a.cost,
            a.cost
        ),
        Some(Block::Taken { by }) => {
            format!("{} has a higher expected value", name(by))
        }
        Some(Block::Capacity) => {
            format!("capacity of {} exhausted", a.capacity.unwrap_or(0))
        }
        Some(Block::Budget) => format!("budget of {:.2} exhausted", a.budget.unwrap_or(0.0)),
        Some(Block::PolicyBudget) => format!(
            "the policy's budget of {:.2} exhausted",
            p.budget.unwrap_or(0.0)
        ),
    }
}

#[cfg(test)]
mod tests;
