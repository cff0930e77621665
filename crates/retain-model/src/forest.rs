//! A decision tree (linfa-trees, CART with Gini) and a random forest (bagged linfa-trees
//! decision trees), converted to the serialisable [`TreeModel`] scoring reads.
//!
//! linfa's trees predict classes only. The conversion keeps linfa's splits and gives every
//! node the share of positive training rows that reach it (`value`), their count (`cover`)
//! and the row-weighted Gini decrease of its split (`gain`), found by routing the imputed
//! training rows through the converted tree: O(rows × depth) per tree. The model's output
//! is the mean of those shares over the trees ([`Link::Mean`]).
//!
//! What linfa-trees 0.8.1 does that shapes this (read from its sources):
//!
//! - **Split rule.** linfa *trains* with `x <= split_value` going left (that is how it
//!   partitions rows for the children and computes their classes) but its `predict` sends
//!   `x < split_value` left. The split values are midpoints of two training values at
//!   least 1e-5 apart, so no training row sits exactly on one unless the midpoint rounds
//!   to an endpoint (magnitudes beyond ~1e11). We keep the training rule, which is ours
//!   too (`x <= threshold` left), and the threshold unchanged: the converted tree holds the
//!   exact partition the split was chosen for.
//! - **Pruning.** After fitting, linfa merges sibling leaves that predict the same class.
//!   Unweighted, two leaves with 5% and 40% positives both predict `false` and become one:
//!   with 12% positives most forest trees collapsed to a single leaf (a constant). So the
//!   fit weights the classes to balance ([`class_weights`]): a node's class is then
//!   "share above the base rate", and pruning only merges leaves on the same side of it.
//!   The node values are still the unweighted training shares, i.e. probabilities.
//! - **Ties.** linfa counts classes in a `HashMap` with a random hasher and takes the
//!   modal class by iteration order, so a node whose two class weights are exactly equal
//!   gets a random class, which changes what pruning merges: unweighted, 17 of 20 refits
//!   of one tree (5000 rows, leaves of ≥10) differed. The class weights are chosen so
//!   that exact ties need very particular counts (see [`class_weights`]).
//! - **Leaf size.** With weights, linfa's `min_weight_leaf` is in weight units; the
//!   weights average 1, so `min_samples_leaf` is a leaf's rows at the base-rate mix.
//!
//! The forest does its own bootstrap rather than use linfa-ensemble 0.8.1, which (1) drops
//! the sample weights when it draws a bootstrap (`DatasetBase::new` without weights), so
//! its trees suffer the collapse above, (2) draws each tree's features *with*
//! replacement, and (3) `unwrap`s each tree's fit. Its seeding was fine (a fixed `rand`
//! 0.8 RNG) and its fitted trees reachable (`models`, `model_features`). The bootstrap
//! here is the same scheme: per tree, `ceil(rows × bootstrap_share)` rows with
//! replacement and `ceil(features × feature_share)` distinct features (a random subspace
//! per tree, not per split as in Breiman's forest), from one ChaCha8 stream seeded with
//! `seed`.

use linfa::prelude::*;
use linfa_trees::{DecisionTree, DecisionTreeValidParams, SplitQuality, TreeNode};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
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
    let ds = weighted(x, Array1::from(data.y.clone()), class_weights(data));
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

/// Fit a random forest: bagged linfa decision trees, each on a bootstrap sample of the
/// rows and a random subset of the features (see the module docs for why the bootstrap
/// is ours). P(true) is the mean over the trees of the share of positive training rows
/// (all of them, not just the tree's bootstrap) in the row's leaf.
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
    let tree_params = linfa_params(model, p.max_depth, p.min_samples_leaf)?;
    let (x, fill) = impute(&data.x);
    let (n, n_features) = x.dim();
    let weights = class_weights(data);
    let sample_rows = ((n as f64 * p.bootstrap_share).ceil() as usize).clamp(1, n);
    let sample_features =
        ((n_features as f64 * p.feature_share).ceil() as usize).clamp(1, n_features);
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let mut trees = Vec::with_capacity(p.trees);
    for _ in 0..p.trees {
        let rows: Vec<usize> = (0..sample_rows).map(|_| rng.random_range(0..n)).collect();
        let mut columns =
            rand::seq::index::sample(&mut rng, n_features, sample_features).into_vec();
        columns.sort_unstable();
        let records = x.select(Axis(0), &rows).select(Axis(1), &columns);
        let labels: Array1<bool> = rows.iter().map(|&i| data.y[i]).collect();
        let ds = weighted(records, labels, weights);
        let fitted = tree_params.fit(&ds).map_err(|e| trees_error(model, e))?;
        trees.push(convert(
            model,
            fitted.root_node(),
            &columns,
            x.view(),
            &data.y,
        )?);
    }
    Ok(TreeModel {
        features: data.features.clone(),
        fill,
        link: Link::Mean,
        trees,
    })
}

/// A linfa dataset whose rows carry their class's weight.
fn weighted(
    records: Array2<f64>,
    labels: Array1<bool>,
    (w_true, w_false): (f32, f32),
) -> linfa::Dataset<f64, bool, ndarray::Ix1> {
    let weights = labels
        .iter()
        .map(|&c| if c { w_true } else { w_false })
        .collect();
    linfa::Dataset::new(records, labels).with_weights(weights)
}

/// linfa sample weights of a `true` and a `false` row: balanced (each class carries half
/// the total weight, and the weights average 1), so that linfa's class of a node is
/// whether its share of positives is above the training base rate.
///
/// linfa sums them in `f32` and breaks an exact tie between the two classes' sums at
/// random (see the module docs). The `true` weight's lowest mantissa bit is set and the
/// `false` weight's cleared, which keeps them unequal (equal counts never tie, even at a
/// base rate of exactly one half) and makes an exact tie of `k·w_true` with `m·w_false`
/// need counts near 2^23 or an `f32` rounding coincidence.
pub fn class_weights(data: &Dataset) -> (f32, f32) {
    let n = data.rows() as f64;
    let positives = data.positives().max(1) as f64;
    let negatives = (n - positives).max(1.0);
    let w_true = (n / (2.0 * positives)) as f32;
    let w_false = (n / (2.0 * negatives)) as f32;
    (
        f32::from_bits(w_true.to_bits() | 1),
        f32::from_bits(w_false.to_bits() & !1),
    )
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
    let mut route = |row: &[f64], label: bool| {
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
    };
    // A standard-layout matrix is read as contiguous row slices (the imputed matrix is).
    match x.as_slice() {
        Some(all) if x.ncols() > 0 => {
            for (row, &label) in all.chunks_exact(x.ncols()).zip(y) {
                route(row, label);
            }
        }
        _ => {
            for (row, &label) in x.rows().into_iter().zip(y) {
                route(&row.to_vec(), label);
            }
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
    for (node, &n) in tree.nodes.iter_mut().zip(&rows) {
        node.cover = n as f64;
    }
    // Preorder: a parent's value is set before its children read it.
    for i in 0..len {
        let node = &tree.nodes[i];
        let value = node.value;
        let children = node
            .feature
            .map(|_| (node.left as usize, node.right as usize));
        let Some((l, r)) = children.filter(|&(l, r)| l < len && r < len) else {
            continue;
        };
        tree.nodes[i].gain = (weighted_gini(i) - weighted_gini(l) - weighted_gini(r)).max(0.0);
        tree.nodes[l].value = share(l, value);
        tree.nodes[r].value = share(r, value);
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;
    use crate::metrics::roc_auc;

    pub use crate::test_support::Lcg;

    /// `cols` features uniform in [0, 1); y = 1 with probability
    /// sigmoid(4·(x0 − 0.5) + 2·(x1 − 0.5)·[x2 > 0.5] + bias): x0 is the main signal,
    /// x1 matters in half the space, the rest is noise.
    pub fn data(n: usize, cols: usize, bias: f64, seed: u64) -> Dataset {
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

    pub fn auc(m: &TreeModel, d: &Dataset) -> f64 {
        let p = m.predict_all(&d.x);
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "probabilities");
        roc_auc(&p, &d.y).unwrap().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;

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
        let d = data(4000, 4, -1.0, 3);
        let p = TreeParams {
            max_depth: 6,
            min_samples_leaf: 20,
        };
        let (x, _) = impute(&d.x);
        let (w_true, w_false) = class_weights(&d);
        let ds = weighted(x.clone(), Array1::from(d.y.clone()), (w_true, w_false));
        let fitted = linfa_params("t", p.max_depth, p.min_samples_leaf)
            .unwrap()
            .fit(&ds)
            .unwrap();
        let linfa_class = fitted.predict(&x);
        let columns: Vec<usize> = (0..4).collect();
        let ours = convert("t", fitted.root_node(), &columns, x.view(), &d.y).unwrap();
        assert!(ours.leaves() > 8, "a real tree: {} leaves", ours.leaves());
        assert_eq!(ours.leaves(), fitted.num_leaves());
        assert_eq!(ours.depth(), fitted.max_depth());
        // Every training row lands in a leaf of ours whose weighted majority is the class
        // linfa predicts for the row (linfa's leaf class is that majority).
        for (i, row) in x.rows().into_iter().enumerate() {
            let leaf = &ours.nodes[ours.leaf(&row.to_vec())];
            let pos = leaf.value * leaf.cover;
            let neg = leaf.cover - pos;
            let ours_class = pos * f64::from(w_true) > neg * f64::from(w_false);
            assert_eq!(ours_class, linfa_class[i], "row {i}: leaf {leaf:?}");
        }
        // And the same model through the public function.
        let m = fit_decision_tree("t", &d, &p).unwrap();
        assert_eq!(m.trees[0], ours);
    }

    #[test]
    fn contributions_and_bias_sum_to_the_prediction() {
        let d = data(3000, 5, -0.5, 4);
        let p = ForestParams {
            trees: 5,
            ..ForestParams::default()
        };
        for m in [
            fit_decision_tree("t", &d, &TreeParams::default()).unwrap(),
            fit_random_forest("f", &d, &p).unwrap(),
        ] {
            for row in d.x.rows().into_iter().take(200) {
                let row = row.to_vec();
                let (bias, c) = m.contributions(&row);
                let total = bias + c.iter().sum::<f64>();
                assert!((total - m.predict(&row)).abs() < 1e-9, "{total}");
            }
        }
    }

    #[test]
    fn importance_ranks_the_main_signal_first() {
        let d = data(5000, 6, 0.0, 5);
        let p = ForestParams {
            trees: 8,
            ..ForestParams::default()
        };
        for m in [
            fit_decision_tree("t", &d, &TreeParams::default()).unwrap(),
            fit_random_forest("f", &d, &p).unwrap(),
        ] {
            let imp = m.importance();
            assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            let top = (0..imp.len())
                .max_by(|&a, &b| imp[a].total_cmp(&imp[b]))
                .unwrap();
            assert_eq!(top, 0, "{imp:?}");
            assert!(imp.iter().all(|&v| v >= 0.0));
        }
    }

    #[test]
    fn a_seed_fixes_the_forest_and_another_seed_changes_it() {
        let d = data(3000, 6, -1.0, 6);
        let p = ForestParams {
            trees: 6,
            min_samples_leaf: 10,
            ..ForestParams::default()
        };
        let a = fit_random_forest("f", &d, &p).unwrap();
        assert_eq!(a, fit_random_forest("f", &d, &p).unwrap());
        let other = ForestParams { seed: 7, ..p };
        assert_ne!(a, fit_random_forest("f", &d, &other).unwrap());
        // Small leaves make exact class ties likely in unweighted linfa; not here.
        let t = TreeParams {
            max_depth: 8,
            min_samples_leaf: 5,
        };
        let first = fit_decision_tree("t", &d, &t).unwrap();
        for _ in 0..5 {
            assert_eq!(first, fit_decision_tree("t", &d, &t).unwrap());
        }
    }

    #[test]
    fn rare_positives_still_give_a_ranking_forest() {
        // ~12% positives: unweighted, linfa's pruning left most trees a single leaf.
        let d = data(8000, 6, -2.5, 7);
        let f = fit_random_forest("f", &d, &ForestParams::default()).unwrap();
        let single = f.trees.iter().filter(|t| t.leaves() == 1).count();
        assert!(single <= 2, "{single} single-leaf trees");
        assert!(auc(&f, &d) > 0.75, "auc {}", auc(&f, &d));
        // Shares are probabilities: their mean over the training rows is near the rate.
        let p = f.predict_all(&d.x);
        let mean = p.iter().sum::<f64>() / p.len() as f64;
        let rate = d.positives() as f64 / d.rows() as f64;
        assert!((mean - rate).abs() < 0.02, "{mean} vs {rate}");
    }

    #[test]
    fn single_class_and_bad_parameters_are_clear_errors() {
        let mut d = data(200, 3, 0.0, 8);
        d.y = vec![false; 200];
        let e = fit_decision_tree("churn", &d, &TreeParams::default()).unwrap_err();
        assert!(e.to_string().contains("nothing to learn"), "{e}");
        let e = fit_random_forest("churn", &d, &ForestParams::default()).unwrap_err();
        assert!(e.to_string().contains("nothing to learn"), "{e}");
        let d = data(200, 3, 0.0, 8);
        for p in [
            ForestParams {
                trees: 0,
                ..ForestParams::default()
            },
            ForestParams {
                bootstrap_share: 0.0,
                ..ForestParams::default()
            },
            ForestParams {
                feature_share: f64::NAN,
                ..ForestParams::default()
            },
            ForestParams {
                min_samples_leaf: 0,
                ..ForestParams::default()
            },
        ] {
            let e = fit_random_forest("f", &d, &p).unwrap_err();
            assert!(matches!(e, Error::Trees { .. }), "{e}");
        }
    }

    #[test]
    fn missing_values_take_the_training_mean() {
        let mut d = data(3000, 4, 0.0, 9);
        let present: Vec<f64> = (0..d.rows())
            .filter(|i| i % 4 != 0)
            .map(|i| d.x[[i, 0]])
            .collect();
        let mean = present.iter().sum::<f64>() / present.len() as f64;
        for i in (0..d.rows()).step_by(4) {
            d.x[[i, 0]] = f64::NAN;
        }
        let p = ForestParams {
            trees: 4,
            ..ForestParams::default()
        };
        for m in [
            fit_decision_tree("t", &d, &TreeParams::default()).unwrap(),
            fit_random_forest("f", &d, &p).unwrap(),
        ] {
            assert!((m.fill[0] - mean).abs() < 1e-12, "{:?}", m.fill);
            let row = [f64::NAN, 0.3, 0.6, 0.1];
            assert_eq!(m.predict(&row), m.predict(&[mean, 0.3, 0.6, 0.1]));
            assert!(auc(&m, &d) > 0.7);
        }
    }

    #[test]
    fn a_model_survives_a_json_round_trip() {
        let d = data(2000, 4, 0.0, 10);
        let p = ForestParams {
            trees: 3,
            ..ForestParams::default()
        };
        let m = fit_random_forest("f", &d, &p).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<TreeModel>(&json).unwrap(), m);
        let params = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<ForestParams>(&params).unwrap(), p);
    }

    /// Fit time on 200k × 26 (run with `--ignored --nocapture`); prints the timings.
    #[test]
    #[ignore]
    #[allow(clippy::print_stderr)]
    fn timing_200k_by_26() {
        let d = data(200_000, 26, -1.0, 11);
        let t0 = std::time::Instant::now();
        let t = fit_decision_tree("t", &d, &TreeParams::default()).unwrap();
        let t_tree = t0.elapsed();
        let t0 = std::time::Instant::now();
        let f = fit_random_forest("f", &d, &ForestParams::default()).unwrap();
        let t_forest = t0.elapsed();
        let mut tree = f.trees[0].clone();
        let (x, _) = impute(&d.x);
        let t0 = std::time::Instant::now();
        fill_stats(&mut tree, x.view(), &d.y);
        let t_route = t0.elapsed();
        eprintln!(
            "tree {t_tree:?} ({} leaves, auc {:.3}); forest of 20 {t_forest:?} (auc {:.3}); \
             routing 200k rows through one tree {t_route:?}",
            t.trees[0].leaves(),
            auc(&t, &d),
            auc(&f, &d)
        );
    }
}
