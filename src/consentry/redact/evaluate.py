"""Precision, recall and F1 per type, with exact and overlap matching.

Exact: same (start, end, type). Overlap: a predicted span is correct when it overlaps
a gold span of the same type, and a gold span is found when some predicted span of
its type overlaps it (so recall answers "was this person's name touched by the
redactor", which is what protects them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from consentry.redact.spans import Span
from consentry.vocab import PiiType

Gold = tuple[int, int, PiiType]


@dataclass
class PRF:
    tp_pred: int = 0
    n_pred: int = 0
    tp_gold: int = 0
    n_gold: int = 0

    def __iadd__(self, other: PRF) -> PRF:
        """Pool another set's counts into these (precision and recall over both)."""
        self.tp_pred += other.tp_pred
        self.n_pred += other.n_pred
        self.tp_gold += other.tp_gold
        self.n_gold += other.n_gold
        return self

    @property
    def precision(self) -> float:
        return self.tp_pred / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.tp_gold / self.n_gold if self.n_gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score(
    golds: Sequence[Iterable[Gold]],
    preds: Sequence[Iterable[Span | Gold]],
    types: Iterable[PiiType] | None = None,
) -> dict[str, dict[PiiType, PRF]]:
    """{"exact": {type: PRF}, "overlap": {type: PRF}} over the types in gold (or `types`)."""
    exact: dict[PiiType, PRF] = defaultdict(PRF)
    overlap: dict[PiiType, PRF] = defaultdict(PRF)
    wanted = set(types) if types is not None else None
    for g_list, p_list in zip(golds, preds, strict=True):
        g = [tuple(x) for x in g_list]
        p = [(x.start, x.end, x.type) if isinstance(x, Span) else tuple(x) for x in p_list]
        if wanted is not None:
            g = [x for x in g if x[2] in wanted]
            p = [x for x in p if x[2] in wanted]
        gs = set(g)
        ps = set(p)
        for s, e, t in p:
            exact[t].n_pred += 1
            overlap[t].n_pred += 1
            exact[t].tp_pred += (s, e, t) in gs
            overlap[t].tp_pred += any(t == gt and s < ge and e > gs_ for gs_, ge, gt in g)
        for s, e, t in g:
            exact[t].n_gold += 1
            overlap[t].n_gold += 1
            exact[t].tp_gold += (s, e, t) in ps
            overlap[t].tp_gold += any(t == pt and s < pe and e > ps_ for ps_, pe, pt in p)
    return {"exact": dict(exact), "overlap": dict(overlap)}


def table_rows(result: dict[str, dict[PiiType, PRF]]) -> list[tuple]:
    """(type, gold, pred, P, R, F1 exact, P, R, F1 overlap) rows, sorted by type."""
    rows = []
    for t in sorted(set(result["exact"]) | set(result["overlap"]), key=str):
        e = result["exact"].get(t, PRF())
        o = result["overlap"].get(t, PRF())
        rows.append((str(t), o.n_gold, o.n_pred, e.precision, e.recall, e.f1, o.precision, o.recall, o.f1))
    return rows


def member_mentions(examples, preds: Sequence[Iterable[Span]]) -> tuple[int, int, int]:
    """(gold member mentions, found by a PERSON/HANDLE span, attributed to the same member_id).

    Only gold spans that carry a member_id count (synthetic network truth). A name
    shared by several members is found but carries no member_id, so it is found and
    not attributed.
    """
    n = found = attributed = 0
    for ex, ps in zip(examples, preds, strict=True):
        ps = [p for p in ps if p.type in (PiiType.PERSON, PiiType.HANDLE)]
        for (s, e, t), mid in zip(ex.gold, ex.gold_members):
            if mid is None or t not in (PiiType.PERSON, PiiType.HANDLE):
                continue
            n += 1
            hits = [p for p in ps if p.start < e and p.end > s]
            found += bool(hits)
            attributed += any(p.member_id == mid for p in hits)
    return n, found, attributed


@dataclass
class SetResult:
    n_texts: int
    texts_per_s: float
    rows: list[tuple]
    member_mentions: tuple[int, int, int] | None = None


def evaluate_dir(data_dir, names: tuple[str, ...] | None = None, members=None,
                 person_threshold: float | None = None) -> dict[str, SetResult]:
    """Run `find_spans` on every labeled set in `data_dir` and score it.

    CoNLL tweet sets are scored on PERSON only (their other labels are not PII types
    we detect, and their handles are only partly labeled). A synthetic network
    directory uses its own `members` table as the member directory.
    """
    import time
    from pathlib import Path

    from consentry.redact.datasets import load_dir
    from consentry.redact.detect import find_spans
    from consentry.redact.jsonl import load_directory

    root = Path(data_dir)
    directory = load_directory(members) if members else None
    if directory is None and (root / "truth" / "pii_spans.parquet").exists():
        directory = load_directory(root)
    out: dict[str, SetResult] = {}
    for name, examples in load_dir(root, names).items():
        t0 = time.perf_counter()
        preds = find_spans([e.text for e in examples], directory=directory, person_threshold=person_threshold)
        dt = time.perf_counter() - t0
        types = {PiiType.PERSON} if name.startswith(("btc", "wnut")) else None
        if types is None:
            gold_types = {g[2] for e in examples for g in e.gold}
            types = gold_types - {PiiType.LOCATION}
        res = score([e.gold for e in examples], preds, types)
        mm = member_mentions(examples, preds) if any(e.gold_members for e in examples) else None
        out[name] = SetResult(len(examples), len(examples) / dt if dt else 0.0, table_rows(res), mm)
    return out
