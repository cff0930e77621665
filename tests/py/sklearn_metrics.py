"""Reference values from scikit-learn for retain-model's metrics and calibration.

Usage: python sklearn_metrics.py INPUT.json
INPUT: {"p": [...], "y": [bool...], "cal_p": [...], "cal_y": [bool...], "grid": [...]}
Prints JSON: the metrics of (p, y), Platt scaling and isotonic regression fitted on
(cal_p, cal_y) and applied to grid. Used by crates/retain-model/src/sklearn_agreement.rs.
"""

import json
import sys

import numpy as np
import sklearn
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)


def logit(p):
    eps = np.finfo(np.float64).eps
    q = np.clip(p, eps, 1 - eps)
    return np.log(q / (1 - q))


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    p = np.asarray(data["p"], dtype=np.float64)
    y = np.asarray(data["y"], dtype=np.int64)
    cal_p = np.asarray(data["cal_p"], dtype=np.float64)
    cal_y = np.asarray(data["cal_y"], dtype=np.int64)
    grid = np.asarray(data["grid"], dtype=np.float64)

    # Plain maximum likelihood: a huge C makes the L2 penalty vanish; Newton-Cholesky
    # with a tight tolerance reaches the optimum itself rather than lbfgs's 1e-4.
    platt = LogisticRegression(C=1e12, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    platt.fit(logit(cal_p).reshape(-1, 1), cal_y)
    iso = IsotonicRegression(out_of_bounds="clip").fit(cal_p, cal_y.astype(np.float64))

    out = {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "roc_auc": roc_auc_score(y, p),
        "average_precision": average_precision_score(y, p),
        "log_loss": log_loss(y, p),
        "brier": brier_score_loss(y, p),
        "platt_a": float(platt.coef_[0][0]),
        "platt_b": float(platt.intercept_[0]),
        "platt_grid": platt.predict_proba(logit(grid).reshape(-1, 1))[:, 1].tolist(),
        "isotonic_grid": iso.predict(grid).tolist(),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
