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

# The long reliability runs: the kill harness at 20 seeded points (about 15 min in a
# debug build; CI runs 3), docs/reliability.md.
reliability:
    RETAIN_KILL_POINTS=20 cargo xtask test -- -E 'test(/^kill::/)'

# Format the code.
fmt:
    cargo fmt --all

# Format and lint.
lint:
    cargo fmt --all
    cargo clippy --workspace --all-targets -- -D warnings

# API docs (under cargo's target dir) and the man page (target/retain.1). `mkdir`: with
# CARGO_TARGET_DIR set elsewhere, ./target does not exist and the redirect would fail.
docs:
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
    mkdir -p target
    cargo run --release -- man > target/retain.1

# Delete the demo's default warehouse (./warehouse): every table, model and raw file.
clean-warehouse:
    rm -rf ./warehouse

# Benchmarks (release build): ingest against DuckDB, on disk and on a local S3 server.
bench *ARGS:
    cargo build --release
    cargo xtask venv
    cargo xtask s3 -- .venv/bin/python benches/ingest.py {{ARGS}}
