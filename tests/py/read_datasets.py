"""Open whole published tables the way downstream tools do: globs and hive partitions.

usage: read_datasets.py WAREHOUSE_DIR TABLE [TABLE ...]

A TABLE is a table path under the warehouse (`staged/orders`, `scores/customer_risk`).
Partitioned tables (folders `KEY=YYYY-MM-DD/`, KEY being `as_of` or `run_as_of`) are
opened with
- DuckDB:  read_parquet('<wh>/<table>/*/*.parquet', hive_partitioning = true)
- pyarrow: pyarrow.dataset.dataset('<wh>/<table>', partitioning=hive, KEY: date32)
- polars:  polars.scan_parquet('<wh>/<table>/*/*.parquet', hive_partitioning=True)
and unpartitioned ones with '<wh>/<table>/*.parquet' (pyarrow: the folder). None of them
reads the manifests: this is what a notebook or BI tool does. For each reader it prints
the column names, the column types reduced to one vocabulary (`string`, `double`,
`int64`, `int32`, `bool`, `date`, `timestamp_us_utc`, `list<string>`; anything else as
`other:<reader's name>`), the row count and, for partitioned tables, rows per partition
value. It also prints the manifests' columns and types in the same vocabulary, and, for
files that carry a column named like the partition key, the distinct values of that
column in the files (read without hive partitioning): a reader with hive partitioning
shows the folder's value instead.
"""
import glob
import json
import os
import sys

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def canonical_arrow_display(t):
    """A manifest's data_type (Arrow's Display) in the common vocabulary."""
    simple = {
        "Utf8": "string",
        "Float64": "double",
        "Int64": "int64",
        "Int32": "int32",
        "Boolean": "bool",
        "Date32": "date",
    }
    if t in simple:
        return simple[t]
    if t.startswith("Timestamp(") and ("µs" in t or "Microsecond" in t) and "UTC" in t:
        return "timestamp_us_utc"
    if t.startswith("List(") and "Utf8" in t:
        return "list<string>"
    return f"other:{t}"


def canonical_duckdb(t):
    t = str(t)
    simple = {
        "VARCHAR": "string",
        "DOUBLE": "double",
        "BIGINT": "int64",
        "INTEGER": "int32",
        "BOOLEAN": "bool",
        "DATE": "date",
        "TIMESTAMP WITH TIME ZONE": "timestamp_us_utc",
        "VARCHAR[]": "list<string>",
    }
    return simple.get(t, f"other:{t}")


def canonical_pyarrow(t):
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    simple = {
        pa.float64(): "double",
        pa.int64(): "int64",
        pa.int32(): "int32",
        pa.bool_(): "bool",
        pa.date32(): "date",
        pa.timestamp("us", tz="UTC"): "timestamp_us_utc",
    }
    if t in simple:
        return simple[t]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if canonical_pyarrow(t.value_type) == "string":
            return "list<string>"
    return f"other:{t}"


def canonical_polars(t):
    if t == pl.String:
        return "string"
    simple = {
        pl.Float64: "double",
        pl.Int64: "int64",
        pl.Int32: "int32",
        pl.Boolean: "bool",
        pl.Date: "date",
    }
    for k, v in simple.items():
        if t == k:
            return v
    if isinstance(t, pl.Datetime) and t.time_unit == "us" and t.time_zone == "UTC":
        return "timestamp_us_utc"
    if isinstance(t, pl.List) and t.inner == pl.String:
        return "list<string>"
    return f"other:{t}"


def manifests(folder, key):
    if key is None:
        with open(os.path.join(folder, "_manifest.json")) as f:
            return {"": json.load(f)}
    out = {}
    for d in sorted(os.listdir(folder)):
        path = os.path.join(folder, d, "_manifest.json")
        if d.startswith(f"{key}=") and os.path.exists(path):
            with open(path) as f:
                out[d[len(key) + 1:]] = json.load(f)
    return out


def describe(warehouse, table):
    folder = os.path.join(warehouse, table)
    keys = {d.split("=")[0] for d in os.listdir(folder) if "=" in d and os.path.isdir(os.path.join(folder, d))}
    assert len(keys) <= 1, f"{table}: several partition keys {keys}"
    key = keys.pop() if keys else None
    partitioned = key is not None
    pattern = os.path.join(folder, "*", "*.parquet") if partitioned else os.path.join(folder, "*.parquet")
    ms = manifests(folder, key)
    first = next(iter(ms.values()))
    out = {
        "partition_key": key,
        "manifest": {
            "columns": [c["name"] for c in first["schema"]],
            "types": [canonical_arrow_display(c["data_type"]) for c in first["schema"]],
            "partitions": {k: m["rows"] for k, m in ms.items()},
            "schema_versions": {k: m.get("schema_version") for k, m in ms.items()},
        },
    }

    # DuckDB, on the glob.
    con = duckdb.connect()
    src = f"read_parquet('{pattern}', hive_partitioning = {str(partitioned).lower()})"
    rel = con.sql(f"SELECT * FROM {src}")
    d = {
        "columns": rel.columns,
        "types": [canonical_duckdb(t) for t in rel.types],
        "rows": con.execute(f"SELECT count(*) FROM {src}").fetchall()[0][0],
    }
    if partitioned:
        d["partitions"] = dict(
            con.execute(f'SELECT CAST("{key}" AS VARCHAR), count(*) FROM {src} GROUP BY 1').fetchall()
        )
    out["duckdb"] = d

    # pyarrow.dataset, on the folder (it skips `_`-prefixed names such as _manifest.json).
    partitioning = (
        ds.partitioning(pa.schema([(key, pa.date32())]), flavor="hive") if partitioned else None
    )
    dataset = ds.dataset(folder, format="parquet", partitioning=partitioning)
    p = {
        "columns": dataset.schema.names,
        "types": [canonical_pyarrow(t) for t in dataset.schema.types],
        "rows": dataset.count_rows(),
    }
    if partitioned:
        counts = dataset.to_table(columns=[key]).group_by(key).aggregate([([], "count_all")])
        p["partitions"] = {
            str(k): v for k, v in zip(counts.column(key).to_pylist(), counts.column("count_all").to_pylist())
        }
    out["pyarrow"] = p

    # polars, on the glob.
    lf = pl.scan_parquet(pattern, hive_partitioning=partitioned)
    schema = lf.collect_schema()
    q = {
        "columns": schema.names(),
        "types": [canonical_polars(t) for t in schema.dtypes()],
        "rows": lf.select(pl.len()).collect().item(),
    }
    if partitioned:
        counts = lf.group_by(key).agg(pl.len()).collect()
        q["partitions"] = {str(k): v for k, v in counts.iter_rows()}
    out["polars"] = q

    # Files that carry the key as a column: what they say, without hive partitioning.
    if partitioned and key in out["manifest"]["columns"]:
        values = set()
        for f in glob.glob(pattern):
            values.update(str(v) for v in pq.read_table(f, columns=[key]).column(key).unique().to_pylist())
        out["file_key_values"] = sorted(values)
    return out


def main():
    warehouse = sys.argv[1]
    json.dump({t: describe(warehouse, t) for t in sys.argv[2:]}, sys.stdout, default=str)


if __name__ == "__main__":
    main()
