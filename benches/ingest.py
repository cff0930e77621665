"""Ingest benchmark: retain's ingest stage against DuckDB doing the same staging work,
side by side on the same synthetic shop, on the local disk and (when an S3 server is
configured) on S3.

usage (from the repository root, after `cargo build --release`):
    .venv/bin/python benches/ingest.py [--customers 1000000] [--work DIR]
    cargo xtask s3 -- .venv/bin/python benches/ingest.py   # adds the S3 runs

`just bench` does both. The peer is DuckDB (the venv's), given the orders staging in SQL
of its own: typed casts, the same validity rules, deduplication on order_id with a window,
sorted by customer and time, written as zstd Parquet. It reads CSV with all columns as
text, like retain does. Only orders are compared (the largest text source); retain's
figure for the whole ingest stage (all five sources) is reported beside it.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RETAIN = Path(os.environ.get("RETAIN_BIN", ROOT / "target" / "release" / "retain"))

DUCKDB_ORDERS = """
COPY (
  WITH typed AS (
    SELECT
      NULLIF(trim(order_id), '') AS order_id,
      NULLIF(trim(customer_id), '') AS customer_id,
      TRY_CAST(trim(ordered_at) AS TIMESTAMPTZ) AS ordered_at,
      lower(trim(status)) AS status,
      TRY_CAST(trim(gross_amount) AS DOUBLE) AS gross_amount,
      TRY_CAST(trim(discount_amount) AS DOUBLE) AS discount_amount,
      upper(trim(currency)) AS currency,
      lower(trim(channel)) AS channel,
      lower(trim(category)) AS category,
      TRY_CAST(trim(item_count) AS BIGINT) AS item_count
    FROM read_csv(?, all_varchar = true, header = true, ignore_errors = true)
  ),
  checked AS (
    SELECT *, (order_id IS NULL OR customer_id IS NULL OR ordered_at IS NULL
               OR status NOT IN ('completed', 'cancelled', 'refunded', 'returned')
               OR gross_amount IS NULL OR isnan(gross_amount) OR gross_amount < 0
               OR discount_amount IS NULL OR discount_amount < 0 OR discount_amount > gross_amount
               OR item_count IS NULL OR item_count < 1) AS bad
    FROM typed
  ),
  ranked AS (
    SELECT *, row_number() OVER (
      PARTITION BY order_id, bad
      ORDER BY ordered_at, customer_id, status, gross_amount, discount_amount, currency, channel, category, item_count
    ) AS rn
    FROM checked
  )
  SELECT * EXCLUDE (rn, bad) FROM ranked WHERE NOT bad AND rn = 1
  ORDER BY customer_id, ordered_at, order_id
) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
"""


def run(cmd, env=None):
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"{cmd} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout, elapsed


def pipeline(path, warehouse, raw, storage=""):
    demo = (ROOT / "pipelines" / "demo.toml").read_text()
    text = demo.replace('warehouse = "./warehouse"', f'warehouse = "{warehouse}"').replace(
        'raw = "raw/"', f'raw = "{raw}"'
    )
    path.write_text(text + storage)
    return str(path)


def parse_ingest(stdout):
    tables = {}
    for m in re.finditer(r"^\s+(\w+)\s+read\s+(\d+).*\((\d+) files?, ([\d.]+)s\)", stdout, re.M):
        tables[m.group(1)] = {"rows": int(m.group(2)), "seconds": float(m.group(4))}
    total = re.search(r"^(\d+) rows in ([\d.]+)s", stdout, re.M)
    return tables, int(total.group(1)), float(total.group(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--work", default=str(ROOT / "target" / "bench-ingest"))
    args = ap.parse_args()
    if not RETAIN.exists():
        sys.exit("build first: cargo build --release")
    import duckdb

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    raw = work / "raw"
    _, synth_s = run([str(RETAIN), "synth", "--customers", str(args.customers), "--out", str(raw)])
    size = sum(f.stat().st_size for f in raw.rglob("*") if f.is_file())
    results = {"customers": args.customers, "raw_bytes": size, "synth_seconds": round(synth_s, 1)}

    # retain, local disk.
    p = pipeline(work / "local.toml", str(work / "wh"), f"{raw}/")
    out, wall = run([str(RETAIN), "ingest", p])
    tables, rows, secs = parse_ingest(out)
    results["retain_local"] = {"rows": rows, "seconds": secs, "wall": round(wall, 1),
                               "rows_per_second": round(rows / secs), "tables": tables}

    # DuckDB, the same orders staging, same machine, same run.
    con = duckdb.connect()
    con.execute("SET threads = 2")
    t = time.perf_counter()
    con.execute(DUCKDB_ORDERS.format(out=work / "duckdb_orders.parquet"), [str(raw / "orders.csv")])
    duck = time.perf_counter() - t
    orders = tables["orders"]
    results["orders_vs_duckdb"] = {
        "retain_seconds": orders["seconds"],
        "duckdb_seconds": round(duck, 2),
        "ratio": round(orders["seconds"] / duck, 2),
    }

    # retain on S3, when a server is configured (cargo xtask s3 -- …).
    endpoint = os.environ.get("RETAIN_TEST_S3_ENDPOINT")
    if endpoint:
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=os.environ["RETAIN_TEST_S3_ACCESS_KEY"],
            AWS_SECRET_ACCESS_KEY=os.environ["RETAIN_TEST_S3_SECRET_KEY"],
            AWS_REGION=os.environ.get("RETAIN_TEST_S3_REGION", "us-east-1"),
            AWS_ENDPOINT=endpoint,
            AWS_ALLOW_HTTP="true",
        )
        bucket = os.environ["RETAIN_TEST_S3_BUCKET"]
        prefix = f"s3://{bucket}/bench-{int(time.time())}"
        _, up = run([str(RETAIN), "synth", "--customers", str(args.customers), "--out", f"{prefix}/raw"], env)
        storage = '\n[storage.options]\naws_virtual_hosted_style_request = "false"\n'
        p = pipeline(work / "s3.toml", f"{prefix}/wh", f"{prefix}/raw/", storage)
        out, wall = run([str(RETAIN), "ingest", p], env)
        tables, rows, secs = parse_ingest(out)
        results["retain_s3"] = {"rows": rows, "seconds": secs, "wall": round(wall, 1),
                                "rows_per_second": round(rows / secs), "tables": tables,
                                "synth_to_s3_seconds": round(up, 1)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
