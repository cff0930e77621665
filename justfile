# Thin wrappers over the two commands in README.md; `just` is optional
# (pip install rust-just).

# Generate a synthetic shop and run the whole pipeline on it.
demo *ARGS:
    cargo run --release -- demo {{ARGS}}

# Provision test dependencies (.venv) and run every test.
test *ARGS:
    cargo xtask test {{ARGS}}

# What CI runs.
ci:
    bash .ci/run

# Format and lint.
lint:
    cargo fmt --all
    cargo clippy --workspace --all-targets -- -D warnings

# Benchmarks (release build): ingest against DuckDB, on disk and on a local S3 server.
bench *ARGS:
    cargo build --release
    cargo xtask venv
    cargo xtask s3 -- .venv/bin/python benches/ingest.py {{ARGS}}
