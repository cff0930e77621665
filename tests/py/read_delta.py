"""Read published tables through their Delta logs (delta-rs's Python package) and their
manifests, to check that both say the same.

usage: read_delta.py WAREHOUSE_DIR TABLE [TABLE ...]

For each TABLE (`staged/orders`, `scores/customer_risk`) prints the newest Delta version,
the files the log lists per partition (`as_of=2026-11-01`, or "" for unpartitioned
tables; file names only), the rows the Delta reader returns per partition, and the same
files, rows and `table_version` from each partition's `_manifest.json`.
"""
import json
import os
import sys

import deltalake


def describe(warehouse, table):
    folder = os.path.join(warehouse, table)
    dt = deltalake.DeltaTable(folder)
    columns = dt.metadata().partition_columns
    delta_files = {}
    for uri in dt.file_uris():
        rel = os.path.relpath(uri.removeprefix("file://"), folder)
        part, name = os.path.split(rel)
        delta_files.setdefault(part, []).append(name)
    tab = dt.to_pyarrow_table()
    if columns:
        key = columns[0]
        counts = tab.group_by(key).aggregate([([], "count_all")])
        delta_rows = {
            f"{key}={k}": v for k, v in zip(counts.column(key).to_pylist(), counts.column("count_all").to_pylist())
        }
    else:
        delta_rows = {"": tab.num_rows}
    manifest_files, manifest_rows, manifest_versions = {}, {}, {}
    for root, _dirs, names in os.walk(folder):
        if "_manifest.json" not in names or "/_" in root[len(folder):]:
            continue
        part = os.path.relpath(root, folder)
        part = "" if part == "." else part
        with open(os.path.join(root, "_manifest.json")) as f:
            m = json.load(f)
        manifest_files[part] = sorted(e["path"] for e in m["files"])
        manifest_rows[part] = m["rows"]
        manifest_versions[part] = m.get("table_version")
    return {
        "version": dt.version(),
        "delta_files": {k: sorted(v) for k, v in delta_files.items()},
        "delta_rows": delta_rows,
        "manifest_files": manifest_files,
        "manifest_rows": manifest_rows,
        "manifest_versions": manifest_versions,
    }


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
