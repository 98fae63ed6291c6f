"""Snapshots: the plan → engine (DuckDB, Spark) → atomic publish path.

`build.build_snapshot` builds one, `catalog` lists, loads and diffs them,
`layout` fixes where files live, `kernel` is the per-batch function both engines
run, `demo.run_demo` is the snapshot part of `make demo`. Erasure across versions
lives in `consentry.forgetting`.
"""
