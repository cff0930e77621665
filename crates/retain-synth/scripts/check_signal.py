"""Signal check for a retain-synth shop (a development aid, not part of the build).

Builds point-in-time features at monthly snapshot dates, trains a plain logistic
regression on earlier snapshots and reports the out-of-time AUC on a later one, for
churn (>= 1 completed order before D, none in [D, D+90d)) and repeat purchase (single
order in the 30 days before D, another within 60 days).

    python3 -m venv /tmp/synthcheck && /tmp/synthcheck/bin/pip install pandas pyarrow scikit-learn
    cargo run --release -p retain-synth --example synth -- /tmp/shop 50000 42 0
    /tmp/synthcheck/bin/python crates/retain-synth/scripts/check_signal.py /tmp/shop
"""

import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DAY = pd.Timedelta(days=1)


def load(root):
    cust = pd.read_csv(f"{root}/customers.csv", parse_dates=["signup_at"])
    orders = pd.read_csv(f"{root}/orders.csv", parse_dates=["ordered_at"])
    orders["net"] = orders.gross_amount - orders.discount_amount
    tickets = pd.read_json(f"{root}/support_tickets.ndjson", lines=True, dtype=False)
    tickets["opened_at"] = pd.to_datetime(tickets.opened_at, utc=True)
    tickets["resolved_at"] = pd.to_datetime(tickets.resolved_at, utc=True)
    events = pd.read_parquet(f"{root}/engagement_events")
    return cust, orders, tickets, events


def features(D, cust, orders, tickets, events):
    """Point-in-time features as of D (facts strictly before D), one row per customer."""
    f = pd.DataFrame(index=cust.customer_id)
    f["tenure"] = (D - cust.set_index("customer_id").signup_at).dt.days
    o = orders[orders.ordered_at < D]
    oc = o[o.status == "completed"]
    g = oc.groupby("customer_id")
    f["n_orders"] = g.size()
    f["revenue"] = g.net.sum()
    f["recency"] = (D - g.ordered_at.max()).dt.days
    f["first_age"] = (D - g.ordered_at.min()).dt.days
    f["discount_share"] = g.apply(lambda x: (x.discount_amount > 0).mean(), include_groups=False)
    f["n_returned"] = o[o.status.isin(["returned", "refunded"])].groupby("customer_id").size()
    t = tickets[(tickets.opened_at < D) & (tickets.opened_at >= D - 90 * DAY)]
    gt = t.groupby("customer_id")
    f["tickets_90d"] = gt.size()
    f["worst_csat_90d"] = gt.csat_score.min()
    unresolved = t.resolved_at.isna() | (t.resolved_at >= D)
    f["unresolved_90d"] = unresolved.groupby(t.customer_id).sum()
    f["reopened_90d"] = gt.reopened_count.sum()
    e = events[(events.occurred_at < D) & (events.occurred_at >= D - 90 * DAY)]
    counts = e.groupby(["customer_id", "event_type"]).size().unstack(fill_value=0)
    for col in ["email_open", "email_click", "web_session", "app_session", "review",
                "referral", "loyalty_redeem"]:
        f["ev_" + col] = counts[col] if col in counts else 0
    f["unsubscribed"] = events[(events.occurred_at < D) & (events.event_type == "unsubscribe")] \
        .groupby("customer_id").size()
    f["worst_csat_90d"] = f.worst_csat_90d.fillna(6)
    f = f.fillna(0)
    f["tenure"] = f.tenure.clip(lower=0)
    return f


def label_window(orders, D, days, completed=True):
    o = orders[(orders.ordered_at >= D) & (orders.ordered_at < D + days * DAY)]
    if completed:
        o = o[o.status == "completed"]
    return set(o.customer_id)


def build(dates, cust, orders, tickets, events):
    churn, repeat = [], []
    for D in dates:
        f = features(D, cust, orders, tickets, events)
        f["D"] = D
        # churn
        c = f[f.n_orders >= 1].copy()
        buyers = label_window(orders, D, 90)
        c["y"] = (~c.index.isin(buyers)).astype(int)
        churn.append(c)
        # repeat purchase: exactly one order (any status) before D, placed in the last 30 days
        o = orders[orders.ordered_at < D]
        g = o.groupby("customer_id").ordered_at
        single = g.size() == 1
        recent = g.max() >= D - 30 * DAY
        ids = single[single & recent].index
        r = f.loc[f.index.isin(ids)].copy()
        again = label_window(orders, D, 60, completed=False)
        r["y"] = r.index.isin(again).astype(int)
        repeat.append(r)
    return pd.concat(churn), pd.concat(repeat)


def evaluate(name, df, train_until, test_at, cols):
    tr = df[df.D <= train_until]
    te = df[df.D == test_at]
    X = lambda d: np.log1p(d[cols].clip(lower=0))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(X(tr), tr.y)
    auc = roc_auc_score(te.y, model.predict_proba(X(te))[:, 1])
    print(f"{name}: train {len(tr)} rows (positive rate {tr.y.mean():.3f}), "
          f"test {len(te)} rows at {test_at.date()} (positive rate {te.y.mean():.3f}): "
          f"out-of-time AUC {auc:.3f}")
    return auc


def main(root):
    cust, orders, tickets, events = load(root)
    print(f"{len(cust)} customers, {len(orders)} orders, {len(tickets)} tickets, "
          f"{len(events)} events")
    print(f"prospects (no order): {1 - orders.customer_id.nunique() / len(cust):.3f}")
    dates = [pd.Timestamp("2025-11-01", tz="UTC") + pd.DateOffset(months=k) for k in range(10)]
    churn, repeat = build(dates, cust, orders, tickets, events)
    all_cols = [c for c in churn.columns if c not in ("D", "y")]
    rfm = ["recency", "n_orders", "revenue", "tenure", "first_age"]
    # churn: train on 2025-11..2026-04 (labels end before 2026-07-01), test 2026-07-01
    train_until = pd.Timestamp("2026-04-01", tz="UTC")
    test_at = pd.Timestamp("2026-07-01", tz="UTC")
    evaluate("churn, all features", churn, train_until, test_at, all_cols)
    evaluate("churn, RFM + tenure only", churn, train_until, test_at, rfm)
    evaluate("churn, without engagement", churn, train_until, test_at,
             [c for c in all_cols if not c.startswith("ev_") and c != "unsubscribed"])
    # repeat: train 2025-11..2026-05, test 2026-08-01
    evaluate("repeat, all features", repeat, pd.Timestamp("2026-05-01", tz="UTC"),
             pd.Timestamp("2026-08-01", tz="UTC"), all_cols)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/shop")
