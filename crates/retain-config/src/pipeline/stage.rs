//! The stages of `retain run` (`stages = [...]` in a pipeline file, `--stages` on the
//! command line).

use serde::Deserialize;

/// A stage of `retain run`, in pipeline order (the derived `Ord` is that order).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Stage every source into `staged/` and `quarantine/`.
    Ingest,
    /// Publish `features/customer/as_of=D/`.
    Features,
    /// Fit and register the customer-lifetime models as of D.
    Clv,
    /// Train the churn and repeat-purchase specs and register them (champion if better).
    Train,
    /// Score every customer with the champions: `scores/customer_risk/as_of=D/`.
    Score,
    /// Decide next best actions: `scores/next_best_action/as_of=D/`.
    Actions,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 6] = [
        Stage::Ingest,
        Stage::Features,
        Stage::Clv,
        Stage::Train,
        Stage::Score,
        Stage::Actions,
    ];

    pub(super) fn all() -> Vec<Stage> {
        Self::ALL.to_vec()
    }

    /// Its name in pipeline files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Features => "features",
            Stage::Clv => "clv",
            Stage::Train => "train",
            Stage::Score => "score",
            Stage::Actions => "actions",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown stage `{s}` (the stages are {})", names.join(", "))
            })
    }
}
