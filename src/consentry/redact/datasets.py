"""Readers for labeled PII data: CoNLL token files (BTC, WNUT-17), the Presidio
synthetic JSON set, and a synthetic network's injected ground truth.

Each reader yields `Example(id, text, gold)` with character-offset gold spans typed by
our vocabulary (`PiiType`). Entity types we do not redact (organisations, dates,
creative works) are dropped from gold. CoNLL text is rebuilt by joining tokens with
single spaces; BTC splits an @handle into "@" and the name and may tag either, so the
two are glued back into one token and a person-tagged handle becomes gold HANDLE
(not PERSON: the handle detector, not the name recogniser, is responsible for it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from consentry.vocab import PiiType


@dataclass
class Example:
    id: str
    text: str
    gold: list[tuple[int, int, PiiType]] = field(default_factory=list)
    # member_id per gold span where known (synthetic network truth), else empty
    gold_members: list[str | None] = field(default_factory=list)


CONLL_TYPES = {"PER": PiiType.PERSON, "person": PiiType.PERSON, "LOC": PiiType.LOCATION, "location": PiiType.LOCATION}

PRESIDIO_TYPES = {
    "PERSON": PiiType.PERSON,
    "EMAIL_ADDRESS": PiiType.EMAIL,
    "PHONE_NUMBER": PiiType.PHONE,
    "DOMAIN_NAME": PiiType.URL,
    "URL": PiiType.URL,
    "IP_ADDRESS": PiiType.IP_ADDRESS,
    "CREDIT_CARD": PiiType.CREDIT_CARD,
    "IBAN_CODE": PiiType.IBAN,
    "US_SSN": PiiType.NATIONAL_ID,
    "STREET_ADDRESS": PiiType.STREET_ADDRESS,
    "GPE": PiiType.LOCATION,
    "LOCATION": PiiType.LOCATION,
}


def _sentences(path: Path) -> list[list[tuple[str, str]]]:
    sents: list[list[tuple[str, str]]] = []
    cur: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                if cur:
                    sents.append(cur)
                    cur = []
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                parts = line.rsplit(" ", 1)
            if len(parts) < 2:
                raise ValueError(f"{path}:{lineno}: expected 'token<TAB>tag', got {line!r}")
            cur.append((parts[0], parts[-1].strip()))
    if cur:
        sents.append(cur)
    return sents


def _glue_handles(sent: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(sent):
        tok, tag = sent[i]
        if tok == "@" and i + 1 < len(sent) and (sent[i + 1][0][:1].isalnum() or sent[i + 1][0][:1] == "_"):
            nxt, ntag = sent[i + 1]
            tags = [t for t in (tag, ntag) if t != "O"]
            out.append(("@" + nxt, ("B-" + tags[0][2:]) if tags else "O"))
            i += 2
            continue
        out.append((tok, tag))
        i += 1
    return out


def read_conll(path: str | Path) -> list[Example]:
    """Token<TAB>tag files with BIO tags; sentences separated by blank lines."""
    path = Path(path)
    out = []
    for n, sent in enumerate(_sentences(path)):
        sent = _glue_handles(sent)
        text_parts: list[str] = []
        gold: list[tuple[int, int, PiiType]] = []
        pos = 0
        open_span: list | None = None
        for tok, tag in sent:
            start = pos
            end = start + len(tok)
            text_parts.append(tok)
            pos = end + 1
            kind = tag[2:] if len(tag) > 2 and tag[1] == "-" else None
            typ = CONLL_TYPES.get(kind) if kind else None
            if tok.startswith("@") and len(tok) > 1 and typ is PiiType.PERSON:
                typ = PiiType.HANDLE
            if typ is not None and tag[0] == "I" and open_span is not None and open_span[2] is typ:
                open_span[1] = end
                continue
            if open_span is not None:
                gold.append(tuple(open_span))
                open_span = None
            if typ is not None:
                open_span = [start, end, typ]
        if open_span is not None:
            gold.append(tuple(open_span))
        out.append(Example(f"{path.stem}:{n}", " ".join(text_parts), gold))
    return out


def read_presidio(path: str | Path) -> list[Example]:
    """presidio-research's synthetic JSON: `full_text` plus `spans` with char positions."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for n, rec in enumerate(data):
        gold = []
        for s in rec.get("spans") or []:
            typ = PRESIDIO_TYPES.get(s["entity_type"])
            if typ is not None:
                gold.append((int(s["start_position"]), int(s["end_position"]), typ))
        out.append(Example(f"{path.stem}:{n}", rec["full_text"], sorted(gold)))
    return out


def read_synth_network(network_dir: str | Path) -> list[Example]:
    """Items of a synthetic export joined with `truth/pii_spans.parquet` (injected PII)."""
    root = Path(network_dir)
    items_path = root / "items.parquet"
    truth_path = root / "truth" / "pii_spans.parquet"
    if not items_path.exists() or not truth_path.exists():
        raise FileNotFoundError(f"{root}: needs items.parquet and truth/pii_spans.parquet")
    items = pq.read_table(items_path, columns=["item_id", "text"]).to_pylist()
    truth = pq.read_table(truth_path).to_pylist()
    gold: dict[str, list] = {}
    for t in truth:
        gold.setdefault(t["item_id"], []).append((int(t["start"]), int(t["end"]), PiiType(t["type"]), t.get("member_id")))
    out = []
    for i in items:
        g = sorted(gold.get(i["item_id"], []), key=lambda x: (x[0], x[1], str(x[2])))
        out.append(Example(i["item_id"], i["text"] or "", [x[:3] for x in g], [x[3] for x in g]))
    return out


def load_dir(data_dir: str | Path, names: tuple[str, ...] | None = None) -> dict[str, list[Example]]:
    """Every known labeled set found in `data_dir`, by set name."""
    root = Path(data_dir)
    sets: dict[str, list[Example]] = {}
    for p in sorted(root.glob("*.conll")):
        if names is None or p.stem in names:
            sets[p.stem] = read_conll(p)
    for p in sorted(root.glob("presidio*.json")):
        if names is None or p.stem in names:
            sets[p.stem] = read_presidio(p)
    if (root / "truth" / "pii_spans.parquet").exists():
        sets["synthetic_network"] = read_synth_network(root)
    return sets
