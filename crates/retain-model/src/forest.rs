//! A decision tree (linfa-trees, CART with Gini) and a random forest (linfa-ensemble's
//! bagging of those trees), converted to the serialisable [`TreeModel`] scoring reads.
//!
//! linfa's trees predict classes only. The conversion keeps linfa's splits and gives every
//! node the share of positive training rows that reach it (`value`), their count (`cover`)
//! and the row-weighted Gini decrease of its split (`gain`), found by routing the imputed
//! training rows through the converted tree: O(rows × depth) per tree. The model's output
//! is the mean of those shares over the trees ([`Link::Mean`]).
//!
//! What linfa does that shapes the result (read from the 0.8.1 sources):
//!
//! - **Split rule.** linfa *trains* with `x <= split_value` going left (that is how it
//!   partitions rows for the children and computes their classes) but its `predict` sends
//!   `x < split_value` left. The split values are midpoints of two training values at
//!   least 1e-5 apart, so no training row sits exactly on one unless the midpoint rounds
//!   to an endpoint (magnitudes beyond ~1e11). We keep the training rule, which is ours
//!   too (`x <= threshold` left), and the threshold unchanged: the converted tree holds the
//!   exact partition the split was chosen for.
//! - **Pruning.** After fitting, linfa merges sibling leaves that predict the same class.
//!   Two leaves with 5% and 40% positives both predict `false` and become one, so the
//!   converted tree can be coarser than `max_depth` suggests, markedly so when positives
//!   are rare. The shares are still the training shares of the merged nodes.
//! - **Forest.** linfa-ensemble draws, per tree, `ceil(rows × bootstrap_share)` rows with
//!   replacement and `ceil(features × feature_share)` feature columns *with replacement*
//!   (a random subspace per tree, not per split as in Breiman's forest); it reports each
//!   tree's columns, which map the tree's feature indices back to ours. It takes a
//!   `rand` 0.8 RNG, seeded here with ChaCha8 from `rand_chacha` 0.3, so a seed gives the
//!   same bootstrap draws.
//! - **Ties.** linfa counts classes in a `HashMap` with a random hasher and picks the
//!   modal class by iteration order, so a node with exactly equal (weighted) counts of
//!   both classes gets an arbitrary class. That can change which leaves pruning merges.
//!   [`class_weights`] gives the two classes weights whose products cannot tie, so a fit
//!   is reproducible (see there).

use linfa::prelude::*;
use linfa_ensemble::EnsembleLearnerParams;
use linfa_trees::{DecisionTree, DecisionTreeValidParams, SplitQuality, TreeNode};
use ndarray::{Array1, ArrayView2};
use rand_chacha_03::ChaCha8Rng;
use rand_chacha_03::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::tree::{Link, Node, Tree, TreeModel};
use crate::{Dataset, Error, Result, check_trainable, impute};

/// Settings of a single decision tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeParams {
    /// Deepest split level: a tree of depth `d` has at most `2^d` leaves.
    pub max_depth: usize,
    /// Fewest training rows a leaf may hold (linfa's `min_weight_leaf`).
    pub min_samples_leaf: usize,
}

impl Default for TreeParams {
    /// Depth 8, at least 50 rows per leaf.
    fn default() -> Self {
        Self {
            max_depth: 8,
            min_samples_leaf: 50,
        }
    }
}

/// Settings of a random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees.
    pub trees: usize,
    /// Deepest split level of each tree.
    pub max_depth: usize,
    /// Fewest (bootstrap) rows a leaf may hold.
    pub min_samples_leaf: usize,
    /// Rows drawn (with replacement) for each tree, as a share of the training rows, in
    /// (0, 1].
    pub bootstrap_share: f64,
    /// Feature columns drawn (with replacement) for each tree, as a share of the features,
    /// in (0, 1].
    pub feature_share: f64,
    /// Seed of the bootstrap draws: the same data, parameters and seed give the same model.
    pub seed: u64,
}

impl Default for ForestParams {
    /// 20 trees of depth 8 with at least 50 rows per leaf, each on 30% of the rows and
    /// half of the features; seed 42.
    fn default() -> Self {
        Self {
            trees: 20,
            max_depth: 8,
            min_samples_leaf: 50,
            bootstrap_share: 0.3,
            feature_share: 0.5,
            seed: 42,
        }
    }
}

/// Fit one CART decision tree (Gini) with linfa-trees; P(true) is the share of positive
/// training rows in the row's leaf.
pub fn fit_decision_tree(model: &str, data: &Dataset, p: &TreeParams) -> Result<TreeModel> {
    check_trainable(model, data)?;
    let tree_params = linfa_params(model, p.max_depth, p.min_samples_leaf)?;
    let (x, fill) = impute(&data.x);
    let ds = linfa::Dataset::new(x, Array1::from(data.y.clone()));
    let fitted = tree_params.fit(&ds).map_err(|e| trees_error(model, e))?;
    let columns: Vec<usize> = (0..data.features.len()).collect();
    let tree = convert(
        model,
        fitted.root_node(),
        &columns,
        ds.records().view(),
        &data.y,
    )?;
    Ok(TreeModel {
        features: data.features.clone(),
        fill,
        link: Link::Mean,
        trees: vec![tree],
    })
}

/// Fit a random forest with linfa-ensemble (bagged linfa decision trees, each on a
/// bootstrap sample of the rows and a random subset of the features); P(true) is the mean
/// over the trees of the share of positive training rows (all of them, not just the
/// tree's bootstrap) in the row's leaf.
pub fn fit_random_forest(model: &str, data: &Dataset, p: &ForestParams) -> Result<TreeModel> {
    check_trainable(model, data)?;
    if p.trees == 0 {
        return Err(trees_message(model, "a forest needs at least one tree"));
    }
    for (name, share) in [
        ("bootstrap_share", p.bootstrap_share),
        ("feature_share", p.feature_share),
    ] {
        // Written so that NaN fails too.
        if !(share > 0.0 && share <= 1.0) {
            return Err(trees_message(
                model,
                &format!("{name} must be in (0, 1], not {share}"),
            ));
        }
    }
    // Checked parameters: linfa-ensemble unwraps each tree's fit, and an unchecked
    // parameter set would fail its check there, in a panic.
    let tree_params = linfa_params(model, p.max_depth, p.min_samples_leaf)?;
    let (x, fill) = impute(&data.x);
    let ds = linfa::Dataset::new(x, Array1::from(data.y.clone()));
    let rng = ChaCha8Rng::seed_from_u64(p.seed);
    let fitted = EnsembleLearnerParams::new_fixed_rng(tree_params, rng)
        .ensemble_size(p.trees)
        .bootstrap_proportion(p.bootstrap_share)
        .feature_proportion(p.feature_share)
        .fit(&ds)
        .map_err(|e| trees_error(model, e))?;
    let trees = fitted
        .models
        .iter()
        .zip(&fitted.model_features)
        .map(|(t, columns)| convert(model, t.root_node(), columns, ds.records().view(), &data.y))
        .collect::<Result<Vec<_>>>()?;
    Ok(TreeModel {
        features: data.features.clone(),
        fill,
        link: Link::Mean,
        trees,
    })
}

/// linfa's tree parameters for ours, checked.
fn linfa_params(
    model: &str,
    max_depth: usize,
    min_samples_leaf: usize,
) -> Result<DecisionTreeValidParams<f64, bool>> {
    if min_samples_leaf == 0 {
        return Err(trees_message(model, "min_samples_leaf must be at least 1"));
    }
    let leaf = min_samples_leaf as f32;
    DecisionTree::params()
        .split_quality(SplitQuality::Gini)
        .max_depth(Some(max_depth))
        .min_weight_leaf(leaf)
        // A node with fewer than two leaves' worth of rows cannot split: skip its search.
        .min_weight_split(2.0 * leaf)
        .check()
        .map_err(|e| trees_error(model, e))
}

fn trees_error(model: &str, e: impl std::fmt::Display) -> Error {
    trees_message(model, &e.to_string())
}

fn trees_message(model: &str, message: &str) -> Error {
    Error::Trees {
        model: model.into(),
        message: message.into(),
    }
}

/// Our [`Tree`] for a fitted linfa tree whose feature `i` is our column `columns[i]`, with
/// values, covers and gains from routing the training rows `x` (imputed) with labels `y`.
fn convert(
    model: &str,
    root: &TreeNode<f64, bool>,
    columns: &[usize],
    x: ArrayView2<f64>,
    y: &[bool],
) -> Result<Tree> {
    let mut nodes = Vec::new();
    push_node(model, root, columns, &mut nodes)?;
    let mut tree = Tree { nodes };
    fill_stats(&mut tree, x, y);
    Ok(tree)
}

/// Append `node` and its subtree in preorder (a parent before its children); returns its
/// index. Depth is bounded by `max_depth`, so the recursion is too.
fn push_node(
    model: &str,
    node: &TreeNode<f64, bool>,
    columns: &[usize],
    out: &mut Vec<Node>,
) -> Result<u32> {
    let index = out.len();
    let id = u32::try_from(index).map_err(|_| trees_message(model, "tree too large"))?;
    out.push(Node {
        feature: None,
        threshold: 0.0,
        left: 0,
        right: 0,
        value: 0.0,
        cover: 0.0,
        gain: 0.0,
    });
    if node.is_leaf() {
        return Ok(id);
    }
    let children = node.children();
    // An internal linfa node has both children (a split with an empty side is a leaf).
    let (Some(Some(left)), Some(Some(right))) = (children.first(), children.get(1)) else {
        return Ok(id);
    };
    let (feature, split_value, _) = node.split();
    let column = columns.get(feature).copied().ok_or_else(|| {
        trees_message(
            model,
            &format!("linfa split on feature {feature} of {}", columns.len()),
        )
    })?;
    let column = u32::try_from(column).map_err(|_| trees_message(model, "too many features"))?;
    let left = push_node(model, left, columns, out)?;
    let right = push_node(model, right, columns, out)?;
    if let Some(n) = out.get_mut(index) {
        n.feature = Some(column);
        // linfa's fit sends `x <= split_value` left, as we do (see the module docs).
        n.threshold = split_value;
        n.left = left;
        n.right = right;
    }
    Ok(id)
}

/// Route every row down `tree` (O(rows × depth)) and set each node's `cover` (rows
/// reaching it), `value` (their share of positives; a node no row reaches takes its
/// parent's) and `gain` (`n·G − n_l·G_l − n_r·G_r` with `G = 2p(1 − p)` the Gini
/// impurity: the row-weighted impurity decrease, never negative as Gini is concave).
fn fill_stats(tree: &mut Tree, x: ArrayView2<f64>, y: &[bool]) {
    let len = tree.nodes.len();
    let mut rows = vec![0u64; len];
    let mut positives = vec![0u64; len];
    for (row, &label) in x.rows().into_iter().zip(y) {
        let mut i = 0usize;
        while let Some(node) = tree.nodes.get(i) {
            rows[i] += 1;
            positives[i] += u64::from(label);
            let Some(f) = node.feature else { break };
            let v = row.get(f as usize).copied().unwrap_or(f64::NAN);
            i = if v <= node.threshold {
                node.left
            } else {
                node.right
            } as usize;
        }
    }
    // n·G = 2·pos·neg / n.
    let weighted_gini = |i: usize| {
        let (n, p) = (rows[i] as f64, positives[i] as f64);
        if n > 0.0 { 2.0 * p * (n - p) / n } else { 0.0 }
    };
    let share = |i: usize, fallback: f64| {
        if rows[i] > 0 {
            positives[i] as f64 / rows[i] as f64
        } else {
            fallback
        }
    };
    if let Some(root) = tree.nodes.first_mut() {
        root.value = share(0, 0.0);
    }
    // Preorder: a parent's value is set before its children read it.
    for i in 0..len {
        let (value, children) = {
            let n = &mut tree.nodes[i];
            n.cover = rows[i] as f64;
            let children = n.feature.map(|_| (n.left as usize, n.right as usize));
            (n.value, children)
        };
        let Some((l, r)) = children.filter(|&(l, r)| l < len && r < len) else {
            continue;
        };
        tree.nodes[i].gain = (weighted_gini(i) - weighted_gini(l) - weighted_gini(r)).max(0.0);
        tree.nodes[l].value = share(l, value);
        tree.nodes[r].value = share(r, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::roc_auc;
    use ndarray::Array2;

    struct Lcg(u64);
    impl Lcg {
        fn next_f64(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// `cols` features uniform in [0, 1); y = 1 with probability
    /// sigmoid(4·(x0 − 0.5) + 2·(x1 − 0.5)·[x2 > 0.5] + bias): x0 is the main signal,
    /// x1 matters in half the space, the rest is noise.
    fn data(n: usize, cols: usize, bias: f64, seed: u64) -> Dataset {
        let mut g = Lcg(seed);
        let mut x = Array2::zeros((n, cols));
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            for j in 0..cols {
                x[[i, j]] = g.next_f64();
            }
            let z = 4.0 * (x[[i, 0]] - 0.5)
                + if x[[i, 2]] > 0.5 {
                    2.0 * (x[[i, 1]] - 0.5)
                } else {
                    0.0
                }
                + bias;
            y.push(g.next_f64() < crate::sigmoid(z));
        }
        Dataset {
            features: (0..cols).map(|j| format!("f{j}")).collect(),
            x,
            y,
        }
    }

    fn predict_all(m: &TreeModel, x: &Array2<f64>) -> Vec<f64> {
        x.rows()
            .into_iter()
            .map(|r| m.predict(&r.to_vec()))
            .collect()
    }

    fn auc(m: &TreeModel, d: &Dataset) -> f64 {
        let p = predict_all(m, &d.x);
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "probabilities");
        roc_auc(&p, &d.y).unwrap().unwrap()
    }

    #[test]
    fn both_learners_find_the_signal() {
        let d = data(6000, 5, 0.0, 1);
        let t = fit_decision_tree("t", &d, &TreeParams::default()).unwrap();
        let f = fit_random_forest("f", &d, &ForestParams::default()).unwrap();
        assert_eq!(t.trees.len(), 1);
        assert_eq!(f.trees.len(), 20);
        let (at, af) = (auc(&t, &d), auc(&f, &d));
        assert!(at > 0.75, "tree auc {at}");
        assert!(af > 0.75, "forest auc {af}");
        // Held-out rows too.
        let h = data(3000, 5, 0.0, 2);
        assert!(auc(&t, &h) > 0.7, "tree holdout {}", auc(&t, &h));
        assert!(auc(&f, &h) > 0.7, "forest holdout {}", auc(&f, &h));
        assert!(t.trees[0].depth() <= 8);
        for tree in &f.trees {
            assert!(tree.depth() <= 8);
            assert_eq!(tree.nodes[0].cover, d.rows() as f64, "all rows routed");
        }
    }

    #[test]
    fn the_converted_tree_gives_linfas_class_on_every_training_row() {
        let d = data(4000, 4, 0.3, 3);
        let p = TreeParams {
            max_depth: 6,
            min_samples_leaf: 20,
        };
        let (x, _) = impute(&d.x);
        let ds = linfa::Dataset::new(x.clone(), Array1::from(d.y.clone()));
        let fitted = linfa_params("t", p.max_depth, p.min_samples_leaf)
            .unwrap()
            .fit(&ds)
            .unwrap();
        let linfa_class = fitted.predict(&x);
        let columns: Vec<usize> = (0..4).collect();
        let ours = convert("t", fitted.root_node(), &columns, x.view(), &d.y).unwrap();
        assert!(ours.leaves() > 4, "a real tree: {} leaves", ours.leaves());
        assert_eq!(ours.leaves(), fitted.num_leaves());
        // Map each of our leaves to linfa's class: the rows reaching it all agree.
        let mut class_of_leaf = std::collections::HashMap::new();
        for (i, row) in x.rows().into_iter().enumerate() {
            let leaf = ours.leaf(&row.to_vec());
            let c = *class_of_leaf.entry(leaf).or_insert(linfa_class[i]);
            assert_eq!(c, linfa_class[i], "row {i} leaf {leaf}");
        }
        // Our leaf is in the same spot: linfa's leaf class is the majority of its rows,
        // which is what our share says (ties aside).
        for (&leaf, &c) in &class_of_leaf {
            let v = ours.nodes[leaf].value;
            assert!(
                v == 0.5 || (v > 0.5) == c,
                "leaf {leaf}: share {v}, class {c}"
            );
        }
    }
}
