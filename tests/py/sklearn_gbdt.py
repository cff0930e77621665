"""scikit-learn's HistGradientBoostingClassifier on the data of retain-model's GBDT test.

Usage: python sklearn_gbdt.py INPUT.json
INPUT: {"x": [[...]...], "y": [bool...], "valid_x": [[...]...], "params": {...}} with
retain's GbdtParams; null in x is a missing value. Prints JSON {"valid_p": [...]}, the
validation rows' P(true). Used by crates/retain-model/src/gbdt.rs (tests).
"""

import json
import sys

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier


def matrix(rows):
    return np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float64)


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    p = data["params"]
    x = matrix(data["x"])
    y = np.asarray(data["y"], dtype=np.int64)
    clf = HistGradientBoostingClassifier(
        loss="log_loss",
        max_iter=p["trees"],
        learning_rate=p["learning_rate"],
        max_depth=p["max_depth"],
        max_leaf_nodes=p["max_leaves"],
        min_samples_leaf=p["min_samples_leaf"],
        l2_regularization=p["l2"],
        max_bins=min(p["bins"], 255),
        early_stopping=False,
        random_state=0,
    )
    clf.fit(x, y)
    valid_p = clf.predict_proba(matrix(data["valid_x"]))[:, 1]
    json.dump({"sklearn": sklearn.__version__, "valid_p": valid_p.tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
