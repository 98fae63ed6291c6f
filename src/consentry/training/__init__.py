"""Training that can forget: SISA shards, checkpoints keyed by data hash, a model registry.

Modules: `data` (reads snapshots by layout), `sisa` (slices, chain hashes, resumable
exact training), `base` (the frozen public base, SmolLM2-135M-Instruct from GGUF, cached),
`assistant` (a LoRA adapter per shard, aggregated), `safety` (the drafts' output filter), `matcher` (MiniLM
embeddings + per-shard ranking heads), `registry` (JSON lineage), `pipeline` (train,
retrain, load), `verify` (canary exposure, leakage, membership inference), `report`
(`train_all`, `verify_forgetting`), `fixtures` (snapshot layout from Arrow tables).
"""
