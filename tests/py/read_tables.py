"""Read published retain tables as a downstream tool would, and describe them as JSON.

usage: read_tables.py WAREHOUSE_DIR TABLE/PARTITION [TABLE/PARTITION ...]

For each partition it reads the files its _manifest.json lists with DuckDB (rows,
distinct customers, min/max of numeric columns) and with pyarrow (the schema), and
prints one JSON object keyed by TABLE/PARTITION.
"""
import hashlib
import json
import os
import sys

import duckdb
import pyarrow.parquet as pq


def describe(warehouse, name):
    folder = os.path.join(warehouse, name)
    with open(os.path.join(folder, "_manifest.json")) as f:
        manifest = json.load(f)
    files = [os.path.join(folder, e["path"]) for e in manifest["files"]]
    schema = pq.read_schema(files[0])
    con = duckdb.connect()

    def one(select):
        return con.execute(f"SELECT {select} FROM read_parquet(?)", [files]).fetchall()[0]

    out = {
        "columns": schema.names,
        "types": [str(t) for t in schema.types],
        "rows": one("count(*)")[0],
        "manifest_rows": manifest["rows"],
    }
    if "customer_id" in schema.names:
        out["distinct_customers"] = one("count(DISTINCT customer_id)")[0]
    # A fingerprint of the rows, run ids left out and source files reduced to their
    # names, to compare two runs' contents (also across storage backends).
    cols = ", ".join(
        f"regexp_replace(\"{c}\", '^.*/', '')" if c == "_source_file" else f'"{c}"'
        for c in schema.names
        if c != "run_id"
    )
    order = '"customer_id"' if "customer_id" in schema.names else cols
    rows = con.execute(
        f"SELECT {cols} FROM read_parquet(?) ORDER BY {order}, {cols}", [files]
    ).fetchall()
    out["content_hash"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    stats = {}
    for col, typ in zip(schema.names, schema.types):
        if str(typ) in ("double", "float", "int64", "int32"):
            lo, hi, nulls = one(f'min("{col}"), max("{col}"), count(*) - count("{col}")')
            stats[col] = {"min": lo, "max": hi, "nulls": nulls}
    out["stats"] = stats
    return out


def main():
    warehouse = sys.argv[1]
    result = {name: describe(warehouse, name) for name in sys.argv[2:]}
    json.dump(result, sys.stdout, default=str)


if __name__ == "__main__":
    main()
