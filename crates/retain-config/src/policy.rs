//! Next-best-action policy files (`pipelines/policies/*.toml`, docs/policy.md): the
//! catalogue of actions with their eligibility, channel, consent, economics and limits.
//!
//! This module only parses and checks the file's own consistency. Whether each SQL
//! expression is a pure boolean over known columns is checked by DataFusion against the
//! policy's input table (retain-pipeline), because only it knows the columns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result, toml_message};

/// The default policy shipped as `pipelines/policies/retention.toml`, embedded.
pub const DEFAULT_POLICY: &str = include_str!("../../../pipelines/policies/retention.toml");

/// Action name every customer without an action gets.
pub const NO_ACTION: &str = "no_action";
/// The most `[[action]]`s a policy may hold (the engine numbers them in 16 bits).
pub const MAX_ACTIONS: usize = 1_000;

/// One policy file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Policy {
    /// Name, recorded in every output row.
    pub name: String,
    /// Free text for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Seed of the control-group draw (stable per customer and action).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Share of each action's selected customers held out as a control group (not
    /// contacted) unless the action sets its own.
    #[serde(default = "default_control_share")]
    pub control_share: f64,
    /// Days a decision stays valid for the campaign tool (`valid_until`).
    #[serde(default = "default_valid_days")]
    pub valid_days: u32,
    /// Spend of all actions together in one run (sum of the treated customers' costs).
    #[serde(default)]
    pub budget: Option<f64>,
    /// Consent name → SQL boolean over the input columns (e.g. `email`). An action
    /// names one of these, or `none` (a service contact that needs no marketing consent).
    #[serde(default)]
    pub consent: BTreeMap<String, String>,
    /// Frequency cap over every action, counted from the contacts table.
    #[serde(default)]
    pub caps: Caps,
    /// `retain evaluate-actions` settings.
    #[serde(default)]
    pub evaluation: Evaluation,
    /// The catalogue, in the file's order.
    #[serde(rename = "action", default)]
    pub actions: Vec<Action>,
    /// Where it came from, for errors and manifests.
    #[serde(skip)]
    pub origin: String,
    /// The file's bytes (hashed into the manifest).
    #[serde(skip)]
    pub text: String,
}

/// `[caps]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Caps {
    /// At most this many contacts (of any action) in the last `window-days`, counting
    /// the one about to be made; absent means no cap.
    #[serde(default)]
    pub max_contacts: Option<u32>,
    #[serde(default = "default_window_days")]
    pub window_days: u32,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            max_contacts: None,
            window_days: default_window_days(),
        }
    }
}

/// `[evaluation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Evaluation {
    /// Days after D in which a completed order counts as the outcome.
    #[serde(default = "default_horizon_days")]
    pub horizon_days: u32,
}

impl Default for Evaluation {
    fn default() -> Self {
        Self {
            horizon_days: default_horizon_days(),
        }
    }
}

/// Which probability an action's expected value rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    /// churn_probability: the action prevents churn.
    Churn,
    /// 1 − repeat_purchase_probability: the action turns a first order into a second.
    RepeatPurchase,
    /// 1: the action grows the value of a customer who is not at risk.
    Value,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Churn => "churn",
            Driver::RepeatPurchase => "repeat_purchase",
            Driver::Value => "value",
        }
    }
}

/// One `[[action]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Action {
    pub name: String,
    /// Why the action fits an eligible customer: the `reason` of the rows that get it.
    pub why: String,
    /// SQL boolean over the input columns; NULL counts as false.
    pub eligible: String,
    pub driver: Driver,
    /// Where the campaign tool sends it (email, sms, phone, …).
    pub channel: String,
    /// A `[consent]` name, or `none`.
    pub consent: String,
    /// Cost per treated customer, in the shop's currency.
    pub cost: f64,
    /// Assumed share of the value at stake the action saves or adds.
    pub uplift: f64,
    /// Optional per-segment uplift: the value of `column` picks the uplift; other values
    /// use `uplift`.
    #[serde(default)]
    pub uplift_by: Option<UpliftBy>,
    /// Days after a contact with this action before the customer can get it again.
    #[serde(default)]
    pub cooldown_days: u32,
    /// Treated customers per run; absent means no limit.
    #[serde(default)]
    pub capacity: Option<u64>,
    /// Spend per run (treated customers × cost); absent means no limit.
    #[serde(default)]
    pub budget: Option<f64>,
    /// Overrides the policy's control share.
    #[serde(default)]
    pub control_share: Option<f64>,
    /// Actions a customer eligible for this one must not get (service recovery before
    /// any promotion).
    #[serde(default)]
    pub suppresses: Vec<String>,
}

/// `[action.uplift-by]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct UpliftBy {
    pub column: String,
    pub values: BTreeMap<String, f64>,
}

fn default_seed() -> u64 {
    42
}
fn default_control_share() -> f64 {
    0.1
}
fn default_valid_days() -> u32 {
    14
}
fn default_window_days() -> u32 {
    30
}
fn default_horizon_days() -> u32 {
    60
}

impl Action {
    /// The control share in force for this action.
    pub fn control_share(&self, policy: &Policy) -> f64 {
        self.control_share.unwrap_or(policy.control_share)
    }
}

impl Policy {
    /// Parse a policy from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let mut p: Self = toml::from_str(text).map_err(|e| Error::Parse {
            what: "policy file",
            path: origin.to_owned(),
            message: toml_message(&e.to_string()),
        })?;
        p.origin = origin.to_owned();
        p.text = text.to_owned();
        p.validate()?;
        Ok(p)
    }

    /// Read a policy file.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The file when given, else the embedded default policy.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(p) => Self::from_path(p),
            None => Self::from_toml(
                DEFAULT_POLICY,
                "pipelines/policies/retention.toml (embedded)",
            ),
        }
    }

    /// Index of an action by name.
    pub fn action_index(&self, name: &str) -> Option<usize> {
        self.actions.iter().position(|a| a.name == name)
    }

    /// The 1-based line of the `i`-th `[[action]]` header, for errors.
    pub fn action_line(&self, i: usize) -> Option<usize> {
        self.text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == "[[action]]")
            .nth(i)
            .map(|(n, _)| n + 1)
    }

    /// `action `name` (line N)` for errors.
    pub fn describe_action(&self, i: usize) -> String {
        let name = &self.actions[i].name;
        match self.action_line(i) {
            Some(l) => format!("action `{name}` (line {l})"),
            None => format!("action `{name}`"),
        }
    }

    fn validate(&self) -> Result<()> {
        let invalid = |message: String| Error::Invalid {
            what: "policy file",
            path: self.origin.clone(),
            message,
        };
        if self.actions.is_empty() {
            return Err(invalid("no [[action]]: a policy needs at least one".into()));
        }
        // The engine numbers actions in 16 bits: past 65,535 they would wrap silently.
        if self.actions.len() > MAX_ACTIONS {
            return Err(invalid(format!(
                "{} [[action]]s: a policy holds at most {MAX_ACTIONS}",
                self.actions.len()
            )));
        }
        let share_ok = |s: f64| s.is_finite() && (0.0..0.5).contains(&s);
        if !share_ok(self.control_share) {
            return Err(invalid(format!(
                "control-share {} must be in [0, 0.5)",
                self.control_share
            )));
        }
        if let Some(b) = self.budget
            && !(b.is_finite() && b >= 0.0)
        {
            return Err(invalid(format!("budget {b} must be a number ≥ 0")));
        }
        // Day counts stay within ten years: date arithmetic on 4294967295 days panicked.
        for (days, key, min) in [
            (u64::from(self.caps.window_days), "[caps] window-days", 1),
            (
                u64::from(self.evaluation.horizon_days),
                "[evaluation] horizon-days",
                1,
            ),
            (u64::from(self.valid_days), "valid-days", 0),
        ] {
            if !(min..=3_650).contains(&days) {
                return Err(invalid(format!(
                    "{key} must be between {min} and 3650 (10 years), not {days}"
                )));
            }
        }
        for (name, expr) in &self.consent {
            if name == "none" {
                return Err(invalid(
                    "[consent] `none` is reserved: it means an action needs no consent".into(),
                ));
            }
            if expr.trim().is_empty() {
                return Err(invalid(format!("[consent] {name} is an empty expression")));
            }
        }
        let names: BTreeSet<&str> = self.actions.iter().map(|a| a.name.as_str()).collect();
        let mut seen = BTreeSet::new();
        for (i, a) in self.actions.iter().enumerate() {
            let what = self.describe_action(i);
            let bad = |m: String| invalid(format!("{what}: {m}"));
            if a.name == NO_ACTION {
                return Err(bad(format!(
                    "`{NO_ACTION}` is what customers without an action get; it is not an action"
                )));
            }
            if a.name.is_empty()
                || !a
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(bad("names are lower-case letters, digits and `_`".into()));
            }
            if !seen.insert(a.name.as_str()) {
                return Err(bad("the name is used by another action too".into()));
            }
            if a.eligible.trim().is_empty() {
                return Err(bad("`eligible` is empty (use `true` for everyone)".into()));
            }
            if a.channel.trim().is_empty() {
                return Err(bad("`channel` is empty".into()));
            }
            if a.consent != "none" && !self.consent.contains_key(&a.consent) {
                let known: Vec<&str> = self.consent.keys().map(String::as_str).collect();
                return Err(bad(format!(
                    "consent `{}` is not defined in [consent] (defined: {}; or `none`)",
                    a.consent,
                    if known.is_empty() {
                        "nothing".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            if !(a.cost.is_finite() && a.cost >= 0.0) {
                return Err(bad(format!("cost {} must be a number ≥ 0", a.cost)));
            }
            let uplift_ok = |u: f64| u.is_finite() && (0.0..=1.0).contains(&u);
            if !uplift_ok(a.uplift) {
                return Err(bad(format!("uplift {} must be in [0, 1]", a.uplift)));
            }
            if let Some(by) = &a.uplift_by {
                if by.column.trim().is_empty() {
                    return Err(bad("[uplift-by] column is empty".into()));
                }
                if let Some((k, u)) = by.values.iter().find(|(_, u)| !uplift_ok(**u)) {
                    return Err(bad(format!(
                        "uplift-by value `{k}` = {u} must be in [0, 1]"
                    )));
                }
            }
            if let Some(s) = a.control_share
                && !share_ok(s)
            {
                return Err(bad(format!("control-share {s} must be in [0, 0.5)")));
            }
            if let Some(b) = a.budget
                && !(b.is_finite() && b >= 0.0)
            {
                return Err(bad(format!("budget {b} must be a number ≥ 0")));
            }
            // Like the policy's day counts: a last contact plus 4294967295 days panicked.
            if a.cooldown_days > 3_650 {
                return Err(bad(format!(
                    "cooldown-days must be between 0 and 3650 (10 years), not {}",
                    a.cooldown_days
                )));
            }
            for s in &a.suppresses {
                if s == &a.name {
                    return Err(bad("an action cannot suppress itself".into()));
                }
                if !names.contains(s.as_str()) {
                    return Err(bad(format!(
                        "suppresses `{s}`, which is not an action here"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Short content hash (FNV-1a 64 of the file's bytes, hex) recorded with the policy
    /// name in every output row, so a row says which policy text decided it.
    pub fn fingerprint(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.text.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_parses_with_the_whole_catalogue() {
        let p = Policy::load(None).expect("embedded policy parses");
        let names: Vec<&str> = p.actions.iter().map(|a| a.name.as_str()).collect();
        for expected in [
            "service_recovery",
            "welcome_offer",
            "exclusive_offer",
            "loyalty_invite",
            "personal_newsletter",
            "cross_sell",
            "ambassador_invite",
            "milestone_celebration",
            "feedback_survey",
            "win_back",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        let sr = &p.actions[p.action_index("service_recovery").unwrap()];
        assert!(sr.suppresses.iter().any(|s| s == "exclusive_offer"));
        assert_eq!(p.action_line(0), Some(first_action_line(DEFAULT_POLICY)));
    }

    fn first_action_line(text: &str) -> usize {
        text.lines().position(|l| l.trim() == "[[action]]").unwrap() + 1
    }

    const ONE: &str = "name = \"t\"\n[consent]\nemail = \"email_opt_in = 1\"\n\n[[action]]\nname = \"a\"\nwhy = \"w\"\neligible = \"true\"\ndriver = \"churn\"\nchannel = \"email\"\nconsent = \"email\"\ncost = 1.0\nuplift = 0.1\n";

    fn err(text: &str) -> String {
        Policy::from_toml(text, "p.toml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_action_its_line_and_the_problem() {
        assert!(Policy::from_toml(ONE, "p.toml").is_ok());
        let e = err(&ONE.replace("consent = \"email\"", "consent = \"emial\""));
        assert!(
            e.contains("action `a` (line 5)") && e.contains("consent `emial` is not defined"),
            "{e}"
        );
        let e = err(&ONE.replace("uplift = 0.1", "uplift = 1.5"));
        assert!(e.contains("uplift 1.5 must be in [0, 1]"), "{e}");
        let e = err(&ONE.replace("cost = 1.0", "cost = -1.0"));
        assert!(e.contains("cost -1 must be a number ≥ 0"), "{e}");
        let e = err(&format!("{ONE}suppresses = [\"b\"]\n"));
        assert!(
            e.contains("suppresses `b`, which is not an action here"),
            "{e}"
        );
        let e = err(&ONE.replace("name = \"a\"", "name = \"no_action\""));
        assert!(e.contains("it is not an action"), "{e}");
        let e = err(&format!("{ONE}capacty = 3\n"));
        assert!(e.contains("capacty") && !e.contains('\n'), "{e}");
        let e = err(&ONE.replace("driver = \"churn\"", "driver = \"margin\""));
        assert!(e.contains("margin"), "{e}");
        let e = err(&format!("{ONE}{}", &ONE[ONE.find("[[action]]").unwrap()..]));
        assert!(
            e.contains("(line 14)") && e.contains("used by another action"),
            "{e}"
        );
        let e = err("name = \"t\"\n");
        assert!(e.contains("at least one"), "{e}");
        let e = err(&ONE.replace("name = \"t\"", "name = \"t\"\ncontrol-share = 0.7"));
        assert!(e.contains("control-share 0.7"), "{e}");
        let (head, action) = ONE.split_at(ONE.find("[[action]]").unwrap());
        let many: String = (0..=MAX_ACTIONS)
            .map(|i| action.replace("name = \"a\"", &format!("name = \"a{i}\"")))
            .collect();
        let e = err(&format!("{head}{many}"));
        assert!(
            e.contains("1001 [[action]]s: a policy holds at most 1000"),
            "{e}"
        );
        let e = err(&format!("{ONE}cooldown-days = 4294967295\n"));
        assert!(
            e.contains("action `a` (line 5): cooldown-days must be between 0 and 3650"),
            "{e}"
        );
    }

    #[test]
    fn fingerprint_follows_the_text() {
        let a = Policy::from_toml(ONE, "p.toml").unwrap();
        let b = Policy::from_toml(&ONE.replace("0.1", "0.2"), "p.toml").unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            a.fingerprint(),
            Policy::from_toml(ONE, "x").unwrap().fingerprint()
        );
    }

    #[test]
    fn every_shipped_policy_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/policies");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Policy::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 1, "{n} policies");
    }
}
