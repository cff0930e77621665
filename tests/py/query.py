"""Run one SQL query with DuckDB and print its rows as a JSON list of objects.

Usage: query.py SQL

The integration tests check retain's published tables with the reader a campaign
analyst would use; dates print as ISO strings.
"""
import json
import sys

import duckdb

con = duckdb.connect()
cur = con.execute(sys.argv[1])
names = [d[0] for d in cur.description]
rows = [dict(zip(names, r)) for r in cur.fetchall()]
print(json.dumps(rows, default=str))
