//! Tree models in the form scoring needs: plain serialisable node arrays, whatever fitted
//! them (linfa-trees for the decision tree and the random forest, our histogram boosting
//! for gradient-boosted trees). Scoring reads these without linfa.
//!
//! Per-feature contributions follow Saabas ("interpreting random forests"): walking a
//! row's path, each split moves the node value from parent to child, and that move is
//! credited to the split's feature. The contributions plus the root value sum exactly to
//! the tree's output. Written by hand: no maintained Rust crate exposes per-path
//! contributions for a linfa tree.

use serde::{Deserialize, Serialize};

/// One node. A leaf has no `feature`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Index (into the model's feature list) of the split feature; `None` for a leaf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<u32>,
    /// A row goes left when `x[feature] <= threshold`, else right.
    #[serde(default)]
    pub threshold: f64,
    /// Child node indices (unused for a leaf).
    #[serde(default)]
    pub left: u32,
    #[serde(default)]
    pub right: u32,
    /// The node's output: a leaf's prediction; for an internal node the output had the
    /// tree stopped there (the Saabas baseline of its children).
    pub value: f64,
    /// Training rows (for boosting: the hessian sum) that reached the node.
    pub cover: f64,
    /// Impurity decrease (or boosting gain) of this node's split; 0 for a leaf.
    #[serde(default)]
    pub gain: f64,
}

/// A binary tree; `nodes[0]` is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf a row reaches (the row has no missing values: they are imputed first).
    pub fn leaf(&self, row: &[f64]) -> usize {
        let mut i = 0usize;
        while let Some(node) = self.nodes.get(i) {
            let Some(f) = node.feature else { return i };
            let x = row.get(f as usize).copied().unwrap_or(f64::NAN);
            i = if x <= node.threshold {
                node.left as usize
            } else {
                node.right as usize
            };
        }
        // A malformed tree (a child index out of range) stops at the root's value.
        0
    }

    /// The tree's output for a row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.nodes.get(self.leaf(row)).map_or(0.0, |n| n.value)
    }

    /// Add this tree's Saabas contributions for `row` to `out` (one slot per feature),
    /// each scaled by `weight`; returns the root value (the tree's bias).
    pub fn add_contributions(&self, row: &[f64], weight: f64, out: &mut [f64]) -> f64 {
        let Some(root) = self.nodes.first() else {
            return 0.0;
        };
        let mut i = 0usize;
        while let Some(node) = self.nodes.get(i) {
            let Some(f) = node.feature else { break };
            let x = row.get(f as usize).copied().unwrap_or(f64::NAN);
            let next = if x <= node.threshold {
                node.left
            } else {
                node.right
            } as usize;
            let Some(child) = self.nodes.get(next) else {
                break;
            };
            if let Some(slot) = out.get_mut(f as usize) {
                *slot += weight * (child.value - node.value);
            }
            i = next;
        }
        root.value
    }

    /// Add each split's gain to its feature's slot.
    pub fn add_gains(&self, out: &mut [f64]) {
        for n in &self.nodes {
            if let Some(f) = n.feature
                && let Some(slot) = out.get_mut(f as usize)
            {
                *slot += n.gain;
            }
        }
    }

    /// Depth of the deepest leaf (a lone root is depth 0).
    pub fn depth(&self) -> usize {
        fn go(t: &Tree, i: usize, d: usize) -> usize {
            match t.nodes.get(i) {
                Some(n) if n.feature.is_some() => {
                    go(t, n.left as usize, d + 1).max(go(t, n.right as usize, d + 1))
                }
                _ => d,
            }
        }
        go(self, 0, 0)
    }

    /// Number of leaves.
    pub fn leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.feature.is_none()).count()
    }
}

/// How the trees' outputs become P(true).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Link {
    /// Each tree outputs a probability; the model is their mean (a decision tree is a
    /// forest of one). Contributions are in probability units.
    Mean,
    /// Boosting: P(true) = sigmoid(base + Σ tree outputs). Contributions are in log-odds.
    Logit { base: f64 },
}

/// Trees over imputed features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeModel {
    pub features: Vec<String>,
    /// Value used for a missing feature: its mean over the training rows that had it.
    pub fill: Vec<f64>,
    pub link: Link,
    pub trees: Vec<Tree>,
}

impl TreeModel {
    /// The row with missing values replaced by the training fill.
    pub fn imputed(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .enumerate()
            .map(|(j, &x)| {
                if x.is_nan() {
                    self.fill.get(j).copied().unwrap_or(0.0)
                } else {
                    x
                }
            })
            .collect()
    }

    /// P(true) for one row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        let row = self.imputed(row);
        let sum: f64 = self.trees.iter().map(|t| t.predict(&row)).sum();
        match self.link {
            Link::Mean => {
                if self.trees.is_empty() {
                    0.0
                } else {
                    (sum / self.trees.len() as f64).clamp(0.0, 1.0)
                }
            }
            Link::Logit { base } => crate::sigmoid(base + sum),
        }
    }

    /// Per-feature contributions (Saabas), in probability units for [`Link::Mean`] and
    /// log-odds for [`Link::Logit`]; with the bias they sum to the model's output in
    /// that unit.
    pub fn contributions(&self, row: &[f64]) -> (f64, Vec<f64>) {
        let row = self.imputed(row);
        let mut out = vec![0.0; self.features.len()];
        let weight = match self.link {
            Link::Mean => 1.0 / self.trees.len().max(1) as f64,
            Link::Logit { .. } => 1.0,
        };
        let mut bias = match self.link {
            Link::Mean => 0.0,
            Link::Logit { base } => base,
        };
        for t in &self.trees {
            bias += weight * t.add_contributions(&row, weight, &mut out);
        }
        (bias, out)
    }

    /// P(true) for every row of a matrix.
    pub fn predict_all(&self, x: &ndarray::Array2<f64>) -> Vec<f64> {
        crate::map_rows(x, |r| self.predict(r))
    }

    /// Total split gain per feature, normalised to sum to 1 (all zero without splits).
    pub fn importance(&self) -> Vec<f64> {
        let mut g = vec![0.0; self.features.len()];
        for t in &self.trees {
            t.add_gains(&mut g);
        }
        crate::shares(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(value: f64, cover: f64) -> Node {
        Node {
            feature: None,
            threshold: 0.0,
            left: 0,
            right: 0,
            value,
            cover,
            gain: 0.0,
        }
    }

    /// x0 <= 1 → (x1 <= 5 → 0.1 | 0.3), else 0.8.
    fn tree() -> Tree {
        Tree {
            nodes: vec![
                Node {
                    feature: Some(0),
                    threshold: 1.0,
                    left: 1,
                    right: 2,
                    value: 0.4,
                    cover: 10.0,
                    gain: 2.0,
                },
                Node {
                    feature: Some(1),
                    threshold: 5.0,
                    left: 3,
                    right: 4,
                    value: 0.2,
                    cover: 6.0,
                    gain: 1.0,
                },
                leaf(0.8, 4.0),
                leaf(0.1, 3.0),
                leaf(0.3, 3.0),
            ],
        }
    }

    #[test]
    fn rows_follow_thresholds_and_contributions_sum_to_the_output() {
        let m = TreeModel {
            features: vec!["a".into(), "b".into()],
            fill: vec![0.0, 9.0],
            link: Link::Mean,
            trees: vec![tree()],
        };
        assert_eq!(m.predict(&[1.0, 5.0]), 0.1); // <= goes left
        assert_eq!(m.predict(&[1.0, 5.5]), 0.3);
        assert_eq!(m.predict(&[1.5, 0.0]), 0.8);
        // Missing b takes the fill 9 → right.
        assert_eq!(m.predict(&[0.0, f64::NAN]), 0.3);
        let (bias, c) = m.contributions(&[0.0, 0.0]);
        assert!((bias - 0.4).abs() < 1e-12);
        assert!((c[0] - (0.2 - 0.4)).abs() < 1e-12);
        assert!((c[1] - (0.1 - 0.2)).abs() < 1e-12);
        assert!((bias + c.iter().sum::<f64>() - m.predict(&[0.0, 0.0])).abs() < 1e-12);
        assert_eq!(m.importance(), vec![2.0 / 3.0, 1.0 / 3.0]);
        assert_eq!(tree().depth(), 2);
        assert_eq!(tree().leaves(), 3);
    }

    #[test]
    fn boosted_contributions_sum_to_the_log_odds() {
        let m = TreeModel {
            features: vec!["a".into(), "b".into()],
            fill: vec![0.0, 0.0],
            link: Link::Logit { base: -1.0 },
            trees: vec![tree(), tree()],
        };
        let row = [2.0, 0.0];
        let (bias, c) = m.contributions(&row);
        let z = bias + c.iter().sum::<f64>();
        assert!((crate::sigmoid(z) - m.predict(&row)).abs() < 1e-12);
        assert!((z - (-1.0 + 1.6)).abs() < 1e-12);
    }
}
