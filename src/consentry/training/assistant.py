"""The writing assistant: a small byte-level decoder LM per shard, averaged at inference.

Why bytes: a tokenizer learned on the whole snapshot would itself be trained on every
member's data and escape the shards (forgetting a member would have to retrain it).
Bytes need no training, no download, and spell out any string exactly, which the
canary test relies on. The shards' next-byte distributions are averaged (SISA's
aggregation for generative models), so the ensemble is a proper distribution for
perplexity, sampling and exposure.

Every constituent starts from one shared base model pretrained on public text
(`corpora`), which contains no member's data and is therefore never retrained by
a forget; its corpus hash enters every checkpoint key.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from rich.progress import Progress

from consentry.training.data import read_shards
from consentry.training.sisa import Record

BOS, EOS, PAD = 256, 257, 258
VOCAB = 259


@dataclass(frozen=True)
class AssistantConfig:
    """Model and optimisation size. The default trains the demo in minutes on 2 cores."""

    d_model: int = 96
    n_layers: int = 2
    n_heads: int = 4
    context: int = 192
    lr: float = 3e-3
    batch_size: int = 16
    epochs_per_stage: int = 2
    min_steps_per_stage: int = 60  # small shards repeat epochs so constituents still converge
    weight_decay: float = 0.0
    dropout: float = 0.1
    holdout_every: int = 20  # 1 in N items (by item_id hash) is held out for perplexity
    base_corpus: str | None = "python-docs"  # public text the shared base is pretrained on; None: from scratch
    base_steps: int = 1200

    @classmethod
    def tiny(cls) -> AssistantConfig:
        """For tests: a few thousand parameters; memorises a handful of posts quickly."""
        return cls(d_model=32, n_layers=1, n_heads=2, context=96, lr=1e-2, batch_size=8, epochs_per_stage=3,
                   min_steps_per_stage=0, dropout=0.0, base_corpus=None)


def encode(text: str, context: int) -> list[int]:
    b = list(text.encode("utf-8"))[: context - 1]
    return [BOS, *b, EOS][: context + 1]


def decode(tokens: Sequence[int]) -> str:
    return bytes(t for t in tokens if t < 256).decode("utf-8", errors="replace")


class Block(nn.Module):
    def __init__(self, d: int, h: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.h = h
        self.drop = nn.Dropout(dropout)
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.mlp(self.ln2(x)))


class ByteLM(nn.Module):
    def __init__(self, cfg: AssistantConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(VOCAB, cfg.d_model)
        self.pos = nn.Embedding(cfg.context + 1, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg.d_model, cfg.n_heads, cfg.dropout) for _ in range(cfg.n_layers))
        self.ln = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, VOCAB, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1])
        x = self.drop(self.tok(idx) + self.pos(pos))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


def _batch(seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(s) for s in seqs)
    x = torch.full((len(seqs), n - 1), PAD, dtype=torch.long)
    y = torch.full((len(seqs), n - 1), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        t = torch.tensor(s, dtype=torch.long)
        x[i, : len(s) - 1] = t[:-1]
        y[i, : len(s) - 1] = t[1:]
    return x, y


class AssistantTrainer:
    """SISA Trainer for the byte LM: records carry the (redacted) text as payload."""

    kind = "assistant"

    def __init__(self, cfg: AssistantConfig | None = None) -> None:
        self.cfg = cfg or AssistantConfig()
        self.base: dict | None = None  # lineage of the shared base, set by setup()
        self._base_file: Path | None = None

    def config(self) -> dict:
        return {"model": "bytelm", **asdict(self.cfg)}

    def setup(self, ckpt_dir: Path, *, seed: int, progress: bool = False) -> float:
        """Pretrain the shared base on the public corpus, or reuse it; sets `base`, returns seconds spent.

        Called once before the shards train (workers then only load it). The base's
        file name is keyed by config, seed and corpus hash, so reuse is exact.
        """
        if not self.cfg.base_corpus or self.cfg.base_steps <= 0:
            return 0.0
        from consentry.training.corpora import corpus_hash, public_corpus
        from consentry.training.sisa import _atomic_save, derive_seed, set_deterministic, sha256

        texts = public_corpus(self.cfg.base_corpus)
        c_hash = corpus_hash(texts)
        key = sha256("base", json.dumps(self.config(), sort_keys=True), str(seed), c_hash)
        path = Path(ckpt_dir) / f"base-{key}.pt"
        self.base = {"corpus": self.cfg.base_corpus, "corpus_hash": c_hash, "paragraphs": len(texts),
                     "bytes": sum(len(t.encode()) for t in texts), "steps": self.cfg.base_steps,
                     "checkpoint": path.name, "contains_member_data": False}
        self._base_file = path
        if path.exists():
            return 0.0
        set_deterministic()
        t0 = time.perf_counter()
        torch.manual_seed(derive_seed(seed, -2))
        model = ByteLM(self.cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        seqs = [encode(t, self.cfg.context) for t in texts]
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task(f"pretraining the public base on {self.cfg.base_corpus}", total=self.cfg.base_steps)
            _fit(model, opt, seqs, self.cfg, steps=self.cfg.base_steps,
                 generator=torch.Generator().manual_seed(derive_seed(seed, -2, 1)), on_step=lambda: bar.advance(task))
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_save({"model": model.state_dict()}, path)
        return round(time.perf_counter() - t0, 3)

    def is_holdout(self, item_id: str) -> bool:
        n = self.cfg.holdout_every
        return bool(n) and int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) % n == 0

    def records(self, shard_table) -> list[Record]:  # pa.Table ordered by (created_at, item_id)
        d = shard_table.select(["item_id", "member_id", "text", "content_hash"]).to_pydict()
        return [
            Record(key=h, item_id=i, member_id=m, payload=t)
            for i, m, t, h in zip(d["item_id"], d["member_id"], d["text"], d["content_hash"])
            if t and not self.is_holdout(i)
        ]

    def prepare(self, snapshot: Path) -> dict[int, list[Record]]:
        return {s: self.records(t) for s, t in read_shards(snapshot).items()}

    def holdout_texts(self, snapshot: Path) -> list[str]:
        return [
            t
            for tab in read_shards(snapshot).values()
            for i, t in zip(tab["item_id"].to_pylist(), tab["text"].to_pylist())
            if t and self.is_holdout(i)
        ]

    def evaluate(self, checkpoints: Sequence[Path], snapshot: Path) -> dict:
        texts = self.holdout_texts(snapshot)
        if not texts:
            return {"perplexity": None, "holdout_texts": 0}
        ens = Ensemble.from_checkpoints(self.cfg, checkpoints)
        return {"perplexity": round(ens.perplexity(texts), 4), "holdout_texts": len(texts)}

    def init_state(self, shard: int, seed: int) -> dict:
        from consentry.training.sisa import derive_seed

        torch.manual_seed(derive_seed(seed, shard, -1))
        model = ByteLM(self.cfg)
        if self.cfg.base_corpus and self.cfg.base_steps > 0:
            if self._base_file is None:
                raise RuntimeError("the assistant's public base is not prepared: call setup() before training")
            model.load_state_dict(torch.load(self._base_file, weights_only=True)["model"])
        opt = torch.optim.AdamW(model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        return {"model": model, "opt": opt}

    def train_stage(self, state: dict, seen: Sequence[Record], stage: int, seed: int) -> None:
        if not seen:
            return
        model, opt = state["model"], state["opt"]
        seqs = [encode(r.payload, self.cfg.context) for r in seen]
        per_epoch = -(-len(seqs) // self.cfg.batch_size)
        epochs = max(self.cfg.epochs_per_stage, -(-self.cfg.min_steps_per_stage // per_epoch))
        _fit(model, opt, seqs, self.cfg, steps=epochs * per_epoch, generator=torch.Generator().manual_seed(seed))


def _fit(model: ByteLM, opt: torch.optim.Optimizer, seqs: Sequence[Sequence[int]], cfg: AssistantConfig, *,
         steps: int, generator: torch.Generator, on_step=None) -> None:
    """`steps` minibatches, epoch after epoch over a fresh seeded permutation."""
    model.train()
    done = 0
    while done < steps:
        order = torch.randperm(len(seqs), generator=generator).tolist()
        for i in range(0, len(order), cfg.batch_size):
            if done == steps:
                break
            x, y = _batch([seqs[j] for j in order[i : i + cfg.batch_size]])
            loss = F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1), ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            done += 1
            if on_step:
                on_step()


class Ensemble:
    """The constituent models of one registry version, aggregated by averaging probabilities."""

    def __init__(self, models: Sequence[ByteLM]) -> None:
        if not models:
            raise ValueError("an ensemble needs at least one constituent model")
        self.models = list(models)
        self.context = models[0].cfg.context
        for m in self.models:
            m.eval()

    @classmethod
    def from_checkpoints(cls, cfg: AssistantConfig, paths: Sequence[Path]) -> Ensemble:
        models = []
        for p in paths:
            m = ByteLM(cfg)
            m.load_state_dict(torch.load(p, weights_only=True)["model"])
            models.append(m)
        return cls(models)

    @torch.no_grad()
    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log of the mean of the shards' next-byte distributions, (b, t, V)."""
        lps = torch.stack([F.log_softmax(m(x), dim=-1) for m in self.models])
        return torch.logsumexp(lps, dim=0) - math.log(len(self.models))

    @torch.no_grad()
    def text_nll(self, texts: Sequence[str], batch_size: int = 32) -> list[tuple[float, int]]:
        """(sum of -log p over bytes incl. EOS, number of predicted tokens) per text."""
        out = []
        for i in range(0, len(texts), batch_size):
            seqs = [encode(t, self.context) for t in texts[i : i + batch_size]]
            x, y = _batch(seqs)
            lp = self.log_probs(x)
            nll = F.nll_loss(lp.reshape(-1, VOCAB), y.reshape(-1), ignore_index=-100, reduction="none")
            nll = nll.view(y.shape)
            mask = y != -100
            for r in range(len(seqs)):
                out.append((float(nll[r][mask[r]].sum()), int(mask[r].sum())))
        return out

    def perplexity(self, texts: Sequence[str]) -> float:
        """Per-byte perplexity on held-out text (what the quality gap is measured in)."""
        res = self.text_nll(texts)
        tot = sum(n for n, _ in res)
        cnt = sum(c for _, c in res)
        return math.exp(tot / max(cnt, 1))

    @torch.no_grad()
    def continuation_nll(self, prefix: str, candidates: Sequence[str], batch_size: int = 256) -> list[float]:
        """-log p(candidate | prefix) in nats for each candidate (the canary log-perplexity)."""
        pre = [BOS, *prefix.encode("utf-8")]
        out: list[float] = []
        for i in range(0, len(candidates), batch_size):
            chunk = candidates[i : i + batch_size]
            seqs = [(pre + list(c.encode("utf-8")))[-(self.context + 1) :] for c in chunk]
            x, y = _batch(seqs)
            lp = self.log_probs(x)
            for r, c in enumerate(chunk):
                k = len(c.encode("utf-8"))
                L = len(seqs[r]) - 1
                tgt = y[r, L - k : L]
                out.append(float(-lp[r, L - k : L].gather(1, tgt[:, None]).sum()))
        return out

    @torch.no_grad()
    def generate(self, prompt: str, *, max_new: int = 160, temperature: float = 0.8, top_k: int = 20, seed: int = 0) -> str:
        """Continue a prompt; seeded, so the same prompt gives the same draft."""
        g = torch.Generator().manual_seed(seed)
        toks = [BOS, *prompt.encode("utf-8")]
        new: list[int] = []
        for _ in range(max_new):
            full = self.log_probs(torch.tensor([toks[-self.context :]], dtype=torch.long))[0, -1]
            if int(full.argmax()) == EOS and full[EOS] > math.log(0.5):
                break  # the ensemble is confident the post is over
            lp = full[:256] / max(temperature, 1e-4)
            if top_k:
                v, ix = torch.topk(lp, top_k)
                nxt = int(ix[torch.multinomial(torch.softmax(v, dim=-1), 1, generator=g)])
            else:
                nxt = int(torch.multinomial(torch.softmax(lp, -1), 1, generator=g))
            toks.append(nxt)
            new.append(nxt)
        return prompt + decode(new)
