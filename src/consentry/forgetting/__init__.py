"""Forgetting: ledger requests and events → removal from live snapshots → retraining → receipts.

`run.forget` is the entry point; `erase` rewrites single shard files with a redo
journal and tombstones; `verify` proves no erased text remains; `receipts` tells
each member what was done; `models` (training) unlearns from live models.
"""
