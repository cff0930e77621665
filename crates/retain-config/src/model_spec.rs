//! Model specifications (`models/*.toml`): [`ModelSpec`] with its `[algorithm]` and
//! `[calibration]` sections, the specs embedded in the binary, and the checks whose
//! errors name the offending line.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result, toml_message};

/// Model specs shipped in `models/`, embedded: (name, TOML text).
pub const EMBEDDED_MODELS: &[(&str, &str)] = &[
    ("churn", include_str!("../../../models/churn.toml")),
    (
        "repeat_purchase",
        include_str!("../../../models/repeat_purchase.toml"),
    ),
];

/// One `models/*.toml` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ModelSpec {
    /// Model name: the registry folder `models/<name>/`. Specs that share a name (e.g.
    /// `churn.toml` and `churn_gbdt.toml`) are candidates for the same champion.
    pub name: String,
    /// One line saying what this spec tries, shown by `retain train --compare`.
    #[serde(default)]
    pub description: Option<String>,
    /// Label SQL relative to the SQL directory: it defines the target and the population
    /// (which customers are labelled at a snapshot).
    pub label_sql: String,
    /// Label horizon in days after the snapshot date.
    pub horizon_days: u32,
    /// Number of training snapshots before the out-of-time validation snapshot.
    pub training_snapshots: u32,
    /// Days between training snapshots.
    pub snapshot_spacing_days: u32,
    /// An extra population filter: a SQL boolean expression over feature columns
    /// (e.g. `shopper_type = 'relational'`), applied at every snapshot and at scoring.
    #[serde(default)]
    pub population: Option<String>,
    /// Feature columns the model uses: a list (in order), or `"all"` for every numeric
    /// and boolean column of the feature table.
    pub features: FeatureSelection,
    /// Columns left out of `features` (useful with `"all"`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Seed for everything random in training (calibration slice, bootstrap, subsampling).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Parameters bound into the label SQL (besides `$as_of` and `$horizon_days`).
    #[serde(default)]
    pub label_params: BTreeMap<String, toml::Value>,
    /// The learning algorithm and its hyperparameters.
    pub algorithm: AlgorithmConfig,
    /// Probability calibration.
    #[serde(default)]
    pub calibration: CalibrationConfig,
    /// The spec's text, as read (stored in the registry beside the model).
    #[serde(skip)]
    pub text: String,
    /// Where the spec came from (a path, or `models/<name>.toml (embedded)`).
    #[serde(skip)]
    pub origin: String,
}

fn default_seed() -> u64 {
    42
}

/// `features = [...]` or `features = "all"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum FeatureSelection {
    /// `"all"` (the only string accepted).
    All(String),
    /// The listed columns, in order.
    List(Vec<String>),
}

/// `[calibration]` of a model spec.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CalibrationConfig {
    /// `platt` (default), `isotonic` or `none`.
    #[serde(default = "default_calibration_method")]
    pub method: CalibrationMethod,
    /// Share of the training customers held out (by a seeded hash of the customer id,
    /// across all training snapshots) to fit the calibration and the naive baseline on.
    /// Never the validation snapshot.
    #[serde(default = "default_holdout_share")]
    pub holdout_share: f64,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        Self {
            method: default_calibration_method(),
            holdout_share: default_holdout_share(),
        }
    }
}

fn default_calibration_method() -> CalibrationMethod {
    CalibrationMethod::Platt
}
fn default_holdout_share() -> f64 {
    0.2
}

/// Probability calibration methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CalibrationMethod {
    None,
    Platt,
    Isotonic,
}

/// `[algorithm]` of a model spec: `kind` and the hyperparameters that kind takes (a
/// key another kind takes is an error naming its line).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AlgorithmConfig {
    pub kind: AlgorithmKind,
    /// logistic: L2 penalty on the standardised coefficients (1.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// logistic: maximum optimiser iterations (200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u64>,
    /// trees: maximum depth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<usize>,
    /// trees: minimum training rows in a leaf.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_samples_leaf: Option<usize>,
    /// random-forest, gbdt: number of trees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trees: Option<usize>,
    /// random-forest: share of rows each tree is fitted on (bootstrap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_share: Option<f64>,
    /// random-forest: share of features each tree sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_share: Option<f64>,
    /// gbdt: shrinkage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// gbdt: maximum leaves per tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_leaves: Option<usize>,
    /// gbdt: L2 penalty on leaf values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l2: Option<f64>,
    /// gbdt: histogram bins per feature (2–255).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bins: Option<usize>,
    /// gbdt: share of rows each tree is fitted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsample: Option<f64>,
}

/// Supported learning algorithms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlgorithmKind {
    /// L2-regularised logistic regression on standardised features (linfa-logistic).
    #[default]
    Logistic,
    /// One CART tree (linfa-trees).
    DecisionTree,
    /// Bagged CART trees (linfa-ensemble).
    RandomForest,
    /// Histogram gradient-boosted trees (retain-model's own).
    Gbdt,
}

impl AlgorithmKind {
    /// The name used in specs and artifacts.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logistic => "logistic",
            Self::DecisionTree => "decision-tree",
            Self::RandomForest => "random-forest",
            Self::Gbdt => "gbdt",
        }
    }

    /// The `[algorithm]` keys this kind takes.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Self::Logistic => &["alpha", "max-iterations"],
            Self::DecisionTree => &["max-depth", "min-samples-leaf"],
            Self::RandomForest => &[
                "trees",
                "max-depth",
                "min-samples-leaf",
                "bootstrap-share",
                "feature-share",
            ],
            Self::Gbdt => &[
                "trees",
                "learning-rate",
                "max-depth",
                "max-leaves",
                "min-samples-leaf",
                "l2",
                "bins",
                "subsample",
            ],
        }
    }
}

impl AlgorithmConfig {
    /// The hyperparameters set in the file, by their spec key.
    fn set_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut add = |set: bool, k: &'static str| {
            if set {
                keys.push(k);
            }
        };
        add(self.alpha.is_some(), "alpha");
        add(self.max_iterations.is_some(), "max-iterations");
        add(self.max_depth.is_some(), "max-depth");
        add(self.min_samples_leaf.is_some(), "min-samples-leaf");
        add(self.trees.is_some(), "trees");
        add(self.bootstrap_share.is_some(), "bootstrap-share");
        add(self.feature_share.is_some(), "feature-share");
        add(self.learning_rate.is_some(), "learning-rate");
        add(self.max_leaves.is_some(), "max-leaves");
        add(self.l2.is_some(), "l2");
        add(self.bins.is_some(), "bins");
        add(self.subsample.is_some(), "subsample");
        keys
    }
}

/// The 1-based line of `key = …` in `section` (`[section]`) of a TOML text, for errors.
fn line_of(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            current = name.trim().to_owned();
            continue;
        }
        if current == section
            && let Some(rest) = t.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(i + 1);
        }
    }
    None
}

impl ModelSpec {
    /// Parse a model spec from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        const MAX_WINDOW_DAYS: u64 = 36_525;
        const MAX_SNAPSHOTS: u32 = 1_000;
        let mut spec: Self = toml::from_str(text).map_err(|e| Error::Parse {
            what: "model spec",
            path: origin.to_owned(),
            message: toml_message(&e.to_string()),
        })?;
        spec.text = text.to_owned();
        spec.origin = origin.to_owned();
        let invalid = |message: String| Error::Invalid {
            what: "model spec",
            path: origin.to_owned(),
            message,
        };
        let at = |section: &str, key: &str| {
            line_of(text, section, key).map_or_else(String::new, |l| format!("line {l}: "))
        };
        if spec.horizon_days == 0 {
            return Err(invalid(format!(
                "{}horizon-days must be at least 1",
                at("", "horizon-days")
            )));
        }
        if spec.training_snapshots == 0 || spec.snapshot_spacing_days == 0 {
            return Err(invalid(
                "training-snapshots and snapshot-spacing-days must be at least 1".into(),
            ));
        }
        // The dates a training reaches back: the validation horizon, the last training
        // snapshot's horizon and the spacing between the training snapshots. Bounded so
        // that date arithmetic cannot overflow (4294967295 days panicked) and a typo
        // does not plan thousands of snapshots.
        let window = 2 * u64::from(spec.horizon_days)
            + u64::from(spec.training_snapshots - 1) * u64::from(spec.snapshot_spacing_days);
        if spec.training_snapshots > MAX_SNAPSHOTS || window > MAX_WINDOW_DAYS {
            return Err(invalid(format!(
                "{}the training reaches {window} days back (2 × horizon-days {} + (training-snapshots {} − 1) × snapshot-spacing-days {}); at most {MAX_WINDOW_DAYS} days (100 years) and {MAX_SNAPSHOTS} snapshots are allowed",
                at("", "horizon-days"),
                spec.horizon_days,
                spec.training_snapshots,
                spec.snapshot_spacing_days
            )));
        }
        match &spec.features {
            FeatureSelection::All(s) if s != "all" => {
                return Err(invalid(format!(
                    "{}features must be a list of columns or \"all\", not \"{s}\"",
                    at("", "features")
                )));
            }
            FeatureSelection::List(l) if l.is_empty() => {
                return Err(invalid(format!(
                    "{}features must name at least one column",
                    at("", "features")
                )));
            }
            _ => {}
        }
        let kind = spec.algorithm.kind;
        for key in spec.algorithm.set_keys() {
            if !kind.keys().contains(&key) {
                return Err(invalid(format!(
                    "{}[algorithm] `{key}` does not apply to kind \"{}\" (it takes {})",
                    at("algorithm", key),
                    kind.as_str(),
                    kind.keys().join(", ")
                )));
            }
        }
        let a = &spec.algorithm;
        let share = |v: Option<f64>, key: &str| -> Result<()> {
            match v {
                Some(v) if !(v > 0.0 && v <= 1.0) => Err(invalid(format!(
                    "{}[algorithm] {key} must be in (0, 1], not {v}",
                    at("algorithm", key)
                ))),
                _ => Ok(()),
            }
        };
        share(a.bootstrap_share, "bootstrap-share")?;
        share(a.feature_share, "feature-share")?;
        share(a.subsample, "subsample")?;
        share(a.learning_rate, "learning-rate")?;
        for (v, key) in [(a.alpha, "alpha"), (a.l2, "l2")] {
            if let Some(v) = v
                && !(v >= 0.0 && v.is_finite())
            {
                return Err(invalid(format!(
                    "{}[algorithm] {key} must be a finite number >= 0",
                    at("algorithm", key)
                )));
            }
        }
        for (v, key, min) in [
            (a.max_depth, "max-depth", 1),
            (a.min_samples_leaf, "min-samples-leaf", 1),
            (a.trees, "trees", 1),
            (a.max_leaves, "max-leaves", 2),
            (a.bins, "bins", 2),
        ] {
            if let Some(v) = v
                && v < min
            {
                return Err(invalid(format!(
                    "{}[algorithm] {key} must be at least {min}",
                    at("algorithm", key)
                )));
            }
        }
        if let Some(b) = a.bins
            && b > 255
        {
            return Err(invalid(format!(
                "{}[algorithm] bins must be at most 255",
                at("algorithm", "bins")
            )));
        }
        let h = spec.calibration.holdout_share;
        if !(0.0..0.9).contains(&h) {
            return Err(invalid(format!(
                "{}[calibration] holdout-share must be in [0, 0.9), not {h}",
                at("calibration", "holdout-share")
            )));
        }
        if h == 0.0 && spec.calibration.method != CalibrationMethod::None {
            return Err(invalid(format!(
                "{}[calibration] holdout-share 0 leaves no rows to calibrate on: use method = \"none\" or a share above 0",
                at("calibration", "holdout-share")
            )));
        }
        Ok(spec)
    }

    /// Read a spec file.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Load spec `name` from `dir/<name>.toml` when a directory is given, else from the
    /// specs embedded in the binary.
    pub fn load(name: &str, dir: Option<&Path>) -> Result<Self> {
        if let Some(dir) = dir {
            return Self::from_path(&dir.join(format!("{name}.toml")));
        }
        let (_, text) = EMBEDDED_MODELS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::UnknownModel(name.to_owned()))?;
        Self::from_toml(text, &format!("models/{name}.toml (embedded)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_parse() {
        for (name, _) in EMBEDDED_MODELS {
            let spec = ModelSpec::load(name, None).expect("embedded spec parses");
            assert_eq!(&spec.name, name);
        }
    }

    #[test]
    fn every_shipped_spec_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let spec = ModelSpec::from_path(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!spec.text.is_empty());
                n += 1;
            }
        }
        assert!(n >= 5, "{n} specs");
    }

    #[test]
    fn model_spec_errors_name_the_line() {
        let churn = EMBEDDED_MODELS[0].1;
        let line_of_kind = churn.lines().position(|l| l.starts_with("kind =")).unwrap() + 1;
        // A typo: toml names the line.
        let text = churn.replace("kind = \"logistic\"", "kind = \"logistic\"\nalpah = 2.0");
        let err = ModelSpec::from_toml(&text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("alpah"), "{err}");
        assert!(err.contains(&format!("line {}", line_of_kind + 1)), "{err}");
        assert!(!err.contains('\n'), "{err}");
        // A real key of another algorithm: our check names the line too.
        let text = churn.replace(
            "kind = \"logistic\"",
            "kind = \"logistic\"\nlearning-rate = 0.1",
        );
        let err = ModelSpec::from_toml(&text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "line {}: [algorithm] `learning-rate` does not apply to kind \"logistic\"",
                line_of_kind + 1
            )),
            "{err}"
        );
        let text = churn.replace("kind = \"logistic\"", "kind = \"gbdt\"\nsubsample = 1.5");
        let text = text
            .replace("alpha = 1.0\n", "")
            .replace("max-iterations = 200\n", "");
        let err = ModelSpec::from_toml(&text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("subsample must be in (0, 1]"), "{err}");
        let err = ModelSpec::from_toml(
            &churn.replace("kind = \"logistic\"", "kind = \"svm\""),
            "m.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("svm") && err.contains("gbdt"), "{err}");
    }

    #[test]
    fn model_spec_features_all_and_calibration() {
        let text = "name = \"m\"\nlabel-sql = \"labels/churn.sql\"\nhorizon-days = 90\ntraining-snapshots = 2\nsnapshot-spacing-days = 30\nfeatures = \"all\"\nexclude = [\"p_alive\"]\n[algorithm]\nkind = \"random-forest\"\ntrees = 5\n[calibration]\nmethod = \"platt\"\n";
        let spec = ModelSpec::from_toml(text, "m.toml").unwrap();
        assert_eq!(spec.features, FeatureSelection::All("all".into()));
        assert_eq!(spec.exclude, vec!["p_alive".to_owned()]);
        assert_eq!(spec.algorithm.kind, AlgorithmKind::RandomForest);
        assert_eq!(spec.calibration.method, CalibrationMethod::Platt);
        assert_eq!(spec.calibration.holdout_share, 0.2);
        let text = text.replace("method = \"platt\"", "method = \"isotonic\"");
        let spec = ModelSpec::from_toml(&text, "m.toml").unwrap();
        assert_eq!(spec.calibration.method, CalibrationMethod::Isotonic);
        assert_eq!(spec.seed, 42);
        assert_eq!(spec.text, text);
        let err = ModelSpec::from_toml(&text.replace("\"all\"", "\"everything\""), "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 6: features must be a list"), "{err}");
        let err = ModelSpec::from_toml(&format!("{text}holdout-share = 0\n"), "m.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 13: [calibration] holdout-share 0"),
            "{err}"
        );
    }

    #[test]
    fn bad_model_spec_values() {
        let text = EMBEDDED_MODELS[0]
            .1
            .replace("horizon-days = 90", "horizon-days = 0");
        let err = ModelSpec::from_toml(&text, "m.toml").unwrap_err();
        assert!(err.to_string().contains("horizon-days"), "{err}");
        assert!(matches!(
            ModelSpec::load("nope", None),
            Err(Error::UnknownModel(_))
        ));
    }
}
