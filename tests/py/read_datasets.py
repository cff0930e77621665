"""Open whole published tables the way downstream tools do: globs and hive partitions.

usage: read_datasets.py WAREHOUSE_DIR TABLE [TABLE ...]

A TABLE is a table path under the warehouse (`staged/orders`, `scores/customer_risk`).
Partitioned tables (folders `KEY=YYYY-MM-DD/`, KEY being `as_of` or `run_as_of`) are
opened with
- DuckDB:  read_parquet('<wh>/<table>/*/*.parquet', hive_partitioning = true)
- pyarrow: pyarrow.dataset.dataset('<wh>/<table>', partitioning=hive, KEY: date32)
- polars:  polars.scan_parquet('<wh>/<table>/*/*.parquet', hive_partitioning=True)
and unpartitioned ones with '<wh>/<table>/*.parquet' (pyarrow: the folder). None of them
reads the manifests: this is what a notebook or BI tool does. Every table is also read
through its Delta log, newest version, with
- deltalake: deltalake.DeltaTable('<wh>/<table>').to_pyarrow_table()
- polars:    polars.read_delta('<wh>/<table>')
- duckdb_delta: DuckDB's delta_scan('<wh>/<table>') (the delta extension, loaded from the
  duckdb-extension-delta wheel, not downloaded).
For each reader it prints
the column names, the column types reduced to one vocabulary (`string`, `double`,
`int64`, `int32`, `bool`, `date`, `timestamp_us_utc`, `list<T>`,
`struct<name:T,...>`; anything else as `other:<reader's name>`), the row count and, for
partitioned tables, rows per partition value. It also prints the same for the files'
own Arrow schema (one file the manifest lists), the manifests' columns and types (nested
types only as `list<...>` / `struct<...>`: the manifest holds Arrow's Display), and, for
files that carry a column named like the partition key, the distinct values of that
column in the files (read without hive partitioning): a reader with hive partitioning
shows the folder's value instead.
"""
import glob
import json
import os
import sys

import deltalake
import duckdb
import duckdb_extension_delta
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def canonical_arrow_display(t):
    """A manifest's data_type (Arrow's Display) in the common vocabulary: exact for the
    scalar types, `list<...>` / `struct<...>` for nested ones (their element types are
    compared on the files' schema instead)."""
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
    if t.startswith(("List(", "LargeList(")):
        return "list<...>"
    if t.startswith("Struct("):
        return "struct<...>"
    return f"other:{t}"


def delta_duckdb():
    """A DuckDB connection with the delta extension of the duckdb-extension-delta wheel."""
    root = os.path.join(os.path.dirname(duckdb_extension_delta.__file__), "extensions")
    paths = glob.glob(os.path.join(root, f"v{duckdb.__version__}", "delta.duckdb_extension"))
    if not paths:
        sys.exit(f"duckdb-extension-delta has no build for DuckDB {duckdb.__version__} under {root}")
    con = duckdb.connect()
    con.execute(f"LOAD '{paths[0]}'")
    return con


def canonical_duckdb(t):
    if t.id == "list":
        return f"list<{canonical_duckdb(t.children[0][1])}>"
    if t.id == "struct":
        return "struct<" + ",".join(f"{n}:{canonical_duckdb(c)}" for n, c in t.children) + ">"
    simple = {
        "varchar": "string",
        "double": "double",
        "bigint": "int64",
        "integer": "int32",
        "boolean": "bool",
        "date": "date",
        "timestamp with time zone": "timestamp_us_utc",
    }
    return simple.get(t.id, f"other:{t}")


def canonical_pyarrow(t):
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return f"list<{canonical_pyarrow(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{canonical_pyarrow(f.type)}" for f in t) + ">"
    simple = {
        pa.float64(): "double",
        pa.int64(): "int64",
        pa.int32(): "int32",
        pa.bool_(): "bool",
        pa.date32(): "date",
        pa.timestamp("us", tz="UTC"): "timestamp_us_utc",
    }
    return simple.get(t, f"other:{t}")


def canonical_polars(t):
    if isinstance(t, pl.List):
        return f"list<{canonical_polars(t.inner)}>"
    if isinstance(t, pl.Struct):
        return "struct<" + ",".join(f"{f.name}:{canonical_polars(f.dtype)}" for f in t.fields) + ">"
    if isinstance(t, pl.Datetime):
        if t.time_unit == "us" and t.time_zone == "UTC":
            return "timestamp_us_utc"
        return f"other:{t}"
    simple = {
        pl.String: "string",
        pl.Float64: "double",
        pl.Int64: "int64",
        pl.Int32: "int32",
        pl.Boolean: "bool",
        pl.Date: "date",
    }
    for k, v in simple.items():
        if t == k:
            return v
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
    # The files' own Arrow schema (a file the first manifest lists): the reference for
    # nested types, which the manifest gives only as Arrow's Display.
    first_dir = os.path.join(folder, f"{key}={next(iter(ms))}") if key else folder
    file_schema = pq.read_schema(os.path.join(first_dir, first["files"][0]["path"]))
    out = {
        "partition_key": key,
        "file": {
            "columns": file_schema.names,
            "types": [canonical_pyarrow(t) for t in file_schema.types],
        },
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

    # Through the Delta log (the commit point): deltalake and polars.read_delta.
    dt = deltalake.DeltaTable(folder)
    tab = dt.to_pyarrow_table()
    dl = {
        "columns": tab.schema.names,
        "types": [canonical_pyarrow(t) for t in tab.schema.types],
        "rows": tab.num_rows,
        "version": dt.version(),
    }
    if partitioned:
        counts = tab.group_by(key).aggregate([([], "count_all")])
        dl["partitions"] = {
            str(k): v for k, v in zip(counts.column(key).to_pylist(), counts.column("count_all").to_pylist())
        }
    out["deltalake"] = dl
    df = pl.read_delta(folder)
    pd_ = {
        "columns": df.columns,
        "types": [canonical_polars(t) for t in df.dtypes],
        "rows": df.height,
    }
    if partitioned:
        pd_["partitions"] = {str(k): v for k, v in df.group_by(key).agg(pl.len()).iter_rows()}
    out["polars_delta"] = pd_
    con = delta_duckdb()
    rel = con.sql(f"SELECT * FROM delta_scan('{folder}')")
    dd = {
        "columns": rel.columns,
        "types": [canonical_duckdb(t) for t in rel.types],
        "rows": con.sql(f"SELECT count(*) FROM delta_scan('{folder}')").fetchone()[0],
    }
    if partitioned:
        rows = con.sql(f'SELECT CAST("{key}" AS VARCHAR), count(*) FROM delta_scan(\'{folder}\') GROUP BY 1').fetchall()
        dd["partitions"] = {str(k): v for k, v in rows}
    out["duckdb_delta"] = dd

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
    # delta-rs's Python package can abort at interpreter shutdown ("terminate called
    # without an active exception": its runtime threads and pyarrow's are torn down in the
    # wrong order; delta-io/delta-rs#2184, pola-rs/polars#24169). Everything is printed by
    # now, so leave without running the destructors that race.
    sys.stdout.flush()
    os._exit(0)
