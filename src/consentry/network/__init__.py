"""The platform export: its schema, readers that validate and stage it, and a synthetic network.

- `schema`: declared Arrow schemas (the DESIGN.md contract).
- `reader`: `read_export` (in memory) and `stage_export` (streaming, to clean Parquet +
  quarantine) for exports as NAME.parquet / NAME.jsonl / NAME/ parts.
- `views`: DuckDB views over a staged export.
- `synth`: the deterministic synthetic professional network, with ground truth.

Submodules are imported on use so that `import consentry.network` stays cheap.
"""
