"""The writing assistant: one LoRA adapter per SISA shard on a frozen public base.

Why adapters: the base (SmolLM2-135M-Instruct, `training.base`) already writes English
and holds no member's data, so a forget never retrains it; each shard's adapter learns
only its members' (redacted) posts, as instruction -> post pairs whose instruction
comes from the item's kind and topic, never from a member identifier.

Aggregation, both exact functions of the shard adapters alone:
- ``distributions``: the mean of the shards' next-token distributions (SISA's own
  aggregation); costs one forward pass per shard;
- ``merged``: one adapter whose weight delta is the mean of the shards' deltas
  (concatenated low-rank factors, so it is exact, not an approximation); costs one
  forward pass. Recomputed from the live version's adapters at every load, so a
  forget changes it. The default: within noise on perplexity (benchmarks/unlearning.py)
  and 16x cheaper per drafted token at 16 shards.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from consentry.training.base import CHAT_TOKENS, SMOLLM2, default_cache_dir, load_base
from consentry.training.data import read_shards
from consentry.training.sisa import Record

AGGREGATIONS = ("merged", "distributions")
TRAIN = "shard"
_names = itertools.count()


@dataclass(frozen=True)
class AssistantConfig:
    """Adapter and optimisation size. The default trains the demo's shards in minutes on 2 cores."""

    base: str = SMOLLM2
    lora_r: int = 8
    lora_alpha: int = 16
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    top_layers: int = 4  # adapters on the last N layers only: backward stops there (about 3x faster on CPU)
    max_tokens: int = 80  # instruction + post, truncated
    lr: float = 2e-3
    batch_size: int = 8
    epochs_per_stage: int = 1
    holdout_every: int = 20  # 1 in N items (by item_id hash) is held out for perplexity
    max_items_per_shard: int | None = None  # the first N of each shard (created_at order); lineage lists exactly those
    eval_texts: int = 64
    aggregation: str = "merged"

    def __post_init__(self) -> None:
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation {self.aggregation!r}: accepted {', '.join(AGGREGATIONS)}")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))

    @classmethod
    def tiny(cls) -> AssistantConfig:
        """For tests: the random tiny Llama, rank-4 adapters, fast."""
        return cls(base="tiny", lora_r=4, lora_alpha=8, max_tokens=160, lr=2e-2, epochs_per_stage=2, eval_texts=16)

    @classmethod
    def from_dict(cls, d: dict | None) -> AssistantConfig:
        return cls(**{k: v for k, v in (d or {}).items() if k != "model"})


# ---- instruction -> post pairs

_TOPICS = (  # public phrases, matched in the text: the topic never names anyone
    ("a new job", ("new job", "started", "joined", "new role")),
    ("hiring", ("hiring", "looking for", "join us")),
    ("lessons learned", ("lesson",)),
    ("learning a new skill", ("course", "certificat", "learned", "workshop")),
    ("a team success", ("team", "shipped", "launch")),
    ("moving on", ("moving on", "leaving", "goodbye", "farewell")),
    ("an event", ("conference", "talk", "meetup", "event")),
    ("a promotion", ("promot",)),
)
_KIND_WORDS = {"post": "post", "profile": "profile summary", "comment": "comment", "article": "article"}


def topic_of(text: str) -> str:
    low = text.lower()
    for topic, keys in _TOPICS:
        if any(k in low for k in keys):
            return topic
    return "work"


def instruction(kind: str | None, text: str) -> str:
    kind_word = _KIND_WORDS.get(kind or "post", (kind or "post").replace("_", " "))
    return f"Write a LinkedIn {kind_word} about {topic_of(text)}."


def chat_prompt(instr: str) -> str:
    start, end = CHAT_TOKENS
    return f"{start}user\n{instr}{end}\n{start}assistant\n"


def _example(tok, kind: str | None, text: str, max_tokens: int) -> tuple[list[int], int]:
    """(token ids of prompt + post + end marker, index of the first post token)."""
    prompt = tok(chat_prompt(instruction(kind, text)), add_special_tokens=False).input_ids
    post = tok(text + CHAT_TOKENS[1], add_special_tokens=False).input_ids
    return (prompt + post)[:max_tokens], len(prompt)


def _batch(examples: Sequence[tuple[list[int], int]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """input ids, attention mask, labels (-100 on the prompt and padding)."""
    n = max(len(ids) for ids, _ in examples)
    x = torch.full((len(examples), n), pad, dtype=torch.long)
    m = torch.zeros((len(examples), n), dtype=torch.long)
    y = torch.full((len(examples), n), -100, dtype=torch.long)
    for i, (ids, start) in enumerate(examples):
        t = torch.tensor(ids, dtype=torch.long)
        x[i, : len(ids)] = t
        m[i, : len(ids)] = 1
        y[i, start : len(ids)] = t[start:]
    return x, m, y


# ---- the adapted model, shared per process

_PEFT: dict[int, object] = {}


def adapted(cfg: AssistantConfig, cache_dir: Path, expected_sha256: str | None = None):
    """(peft model, tokenizer, base info, name of the trainable adapter of this config) over the process's base."""
    from peft import get_peft_model

    model, tok, info = load_base(cfg.base, cache_dir, expected_sha256=expected_sha256)
    lora = _lora(cfg, cfg.lora_r, cfg.lora_alpha, model)
    name = TRAIN + hashlib.sha256(repr((lora.r, lora.lora_alpha, sorted(lora.target_modules),
                                        lora.layers_to_transform)).encode()).hexdigest()[:8]
    key = id(model)
    if key not in _PEFT:
        _PEFT[key] = get_peft_model(model, lora, adapter_name=name)
    peft = _PEFT[key]
    if name not in peft.peft_config:
        peft.add_adapter(name, lora)
    return peft, tok, info, name


def _lora(cfg: AssistantConfig, r: int, alpha: float, model):
    from peft import LoraConfig

    n = model.config.num_hidden_layers
    layers = list(range(max(0, n - cfg.top_layers), n)) if cfg.top_layers else None
    return LoraConfig(r=r, lora_alpha=alpha, target_modules=list(cfg.target_modules), layers_to_transform=layers,
                      lora_dropout=0.0, bias="none")


def _adapter_params(peft, name: str) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in peft.named_parameters() if f".{name}." in n and "lora_" in n}


class AdapterState:
    """The trainable adapter as SISA checkpoints it: only the LoRA tensors (kilobytes, not the base)."""

    def __init__(self, peft, name: str) -> None:
        self.peft, self.name = peft, name
        self.params = _adapter_params(peft, name)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k.replace(f".{self.name}.", "."): v.detach().clone() for k, v in self.params.items()}

    def load_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for k, p in self.params.items():
                p.copy_(sd[k.replace(f".{self.name}.", ".")])


class AssistantTrainer:
    """SISA Trainer: records carry (kind, redacted text); state is the shard's adapter + optimizer."""

    kind = "assistant"

    def __init__(self, cfg: AssistantConfig | None = None, *, on_step: Callable[[int, float], None] | None = None) -> None:
        self.cfg = cfg or AssistantConfig()
        self.base: dict | None = None  # BaseInfo of the frozen base, set by setup()
        self.cache_dir: Path | None = None
        self.on_step = on_step  # (steps done, loss): the per-shard progress bar

    def config(self) -> dict:
        return {"model": "lora", **asdict(self.cfg), "target_modules": list(self.cfg.target_modules)}

    def setup(self, ckpt_dir: Path, *, seed: int, progress: bool = False, expected_sha256: str | None = None) -> float:
        """Load (or build the cache of) the frozen base; sets `base`; returns seconds spent."""
        t0 = time.perf_counter()
        self.cache_dir = default_cache_dir()
        _, _, info = load_base(self.cfg.base, self.cache_dir, expected_sha256=expected_sha256)
        self.base = info.to_dict()
        return round(time.perf_counter() - t0, 3)

    def _model(self):
        if self.cache_dir is None:
            raise RuntimeError("the assistant's base is not loaded: call setup() before training")
        return adapted(self.cfg, self.cache_dir, self.base["sha256"] if self.base else None)

    def is_holdout(self, item_id: str) -> bool:
        n = self.cfg.holdout_every
        return bool(n) and int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) % n == 0

    def records(self, shard_table) -> list[Record]:  # pa.Table ordered by (created_at, item_id)
        d = shard_table.select(["item_id", "member_id", "kind", "text", "content_hash"]).to_pydict()
        out = [
            Record(key=h, item_id=i, member_id=m, payload=(k, t))
            for i, m, k, t, h in zip(d["item_id"], d["member_id"], d["kind"], d["text"], d["content_hash"])
            if t and not self.is_holdout(i)
        ]
        return out[: self.cfg.max_items_per_shard] if self.cfg.max_items_per_shard else out

    def prepare(self, snapshot: Path) -> dict[int, list[Record]]:
        return {s: self.records(t) for s, t in read_shards(snapshot).items()}

    def holdout(self, snapshot: Path) -> list[tuple[str, str]]:
        """(kind, text) of the held-out items: never trained on by any shard."""
        return [
            (k, t)
            for tab in read_shards(snapshot).values()
            for i, k, t in zip(tab["item_id"].to_pylist(), tab["kind"].to_pylist(), tab["text"].to_pylist())
            if t and self.is_holdout(i)
        ]

    def evaluate(self, checkpoints: Sequence[Path], snapshot: Path) -> dict:
        pairs = self.holdout(snapshot)[: self.cfg.eval_texts]
        if not pairs:
            return {"perplexity": None, "holdout_texts": 0}
        ens = Ensemble.from_checkpoints(self.cfg, checkpoints, self.cache_dir, self.base["sha256"] if self.base else None)
        return {"perplexity": round(ens.perplexity(pairs), 4), "base_perplexity": round(ens.perplexity(pairs, base=True), 4),
                "holdout_texts": len(pairs), "aggregation": self.cfg.aggregation}

    def steps(self, n_seen: int) -> int:
        return self.cfg.epochs_per_stage * -(-n_seen // self.cfg.batch_size)

    def init_state(self, shard: int, seed: int) -> dict:
        from consentry.training.sisa import derive_seed

        peft, _, _, name = self._model()
        peft.set_adapter(name)
        state = AdapterState(peft, name)
        g = torch.Generator().manual_seed(derive_seed(seed, shard, -1))
        with torch.no_grad():  # peft's own initialisation, from a seed of this shard
            for n, p in state.params.items():
                if "lora_A" in n:
                    bound = 1 / math.sqrt(p.shape[1])
                    p.copy_(torch.rand(p.shape, generator=g) * 2 * bound - bound)
                else:
                    p.zero_()
                p.requires_grad_(True)
        opt = torch.optim.AdamW(list(state.params.values()), lr=self.cfg.lr, weight_decay=0.0)
        return {"adapter": state, "opt": opt}

    def train_stage(self, state: dict, seen: Sequence[Record], stage: int, seed: int) -> None:
        if not seen:
            return
        peft, tok, _, name = self._model()
        peft.set_adapter(name)
        peft.train()
        opt = state["opt"]
        examples = [_example(tok, r.payload[0], r.payload[1], self.cfg.max_tokens) for r in seen]
        g = torch.Generator().manual_seed(seed)
        params = list(state["adapter"].params.values())
        for _ in range(self.cfg.epochs_per_stage):
            order = torch.randperm(len(examples), generator=g).tolist()
            for i in range(0, len(order), self.cfg.batch_size):
                x, m, y = _batch([examples[j] for j in order[i : i + self.cfg.batch_size]], tok.pad_token_id or 0)
                loss = peft(input_ids=x, attention_mask=m, labels=y).loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                if self.on_step:
                    self.on_step(1, loss.item())
        peft.eval()


class Ensemble:
    """The shard adapters of one registry version over the shared base, aggregated."""

    def __init__(self, peft, tok, adapters: Sequence[str], aggregation: str, max_tokens: int) -> None:
        if not adapters:
            raise ValueError("an ensemble needs at least one shard adapter")
        self.peft, self.tok, self.adapters = peft, tok, list(adapters)
        self.aggregation, self.max_tokens = aggregation, max_tokens
        self.merged: str | None = None
        if aggregation == "merged":
            self.merged = self._merge()

    @classmethod
    def from_checkpoints(cls, cfg: AssistantConfig, paths: Sequence[Path], cache_dir: Path | None,
                         expected_sha256: str | None = None, aggregation: str | None = None) -> Ensemble:
        peft, tok, _, _ = adapted(cfg, Path(cache_dir or default_cache_dir()), expected_sha256)
        names = []
        for p in paths:
            sd = torch.load(p, weights_only=True)["adapter"]  # FileNotFoundError: purged version
            name = f"a{next(_names)}"
            peft.add_adapter(name, _lora(cfg, cfg.lora_r, cfg.lora_alpha, peft.get_base_model()))
            for k, prm in _adapter_params(peft, name).items():
                with torch.no_grad():
                    prm.copy_(sd[k.replace(f".{name}.", ".")])
                prm.requires_grad_(False)
            names.append(name)
        peft.eval()
        return cls(peft, tok, names, aggregation or cfg.aggregation, cfg.max_tokens)

    def _merge(self) -> str:
        """One adapter whose delta is exactly the mean of the shard deltas: [B_1..B_K]·s/K × [A_1;..;A_K]."""
        k = len(self.adapters)
        first = self.peft.peft_config[self.adapters[0]]
        r = first.r * k
        name = f"m{next(_names)}"
        from peft import LoraConfig

        self.peft.add_adapter(name, LoraConfig(r=r, lora_alpha=r, target_modules=list(first.target_modules),
                                               layers_to_transform=first.layers_to_transform, lora_dropout=0.0,
                                               bias="none"))
        with torch.no_grad():
            for mod in self.peft.modules():
                if not hasattr(mod, "lora_A") or name not in mod.lora_A:
                    continue
                mod.lora_A[name].weight.copy_(torch.cat([mod.lora_A[a].weight for a in self.adapters], 0))
                mod.lora_B[name].weight.copy_(torch.cat([mod.lora_B[a].weight * mod.scaling[a] / k for a in self.adapters], 1))
        for p in _adapter_params(self.peft, name).values():
            p.requires_grad_(False)
        return name

    # ---- scoring
    @torch.no_grad()
    def _target_logprobs(self, x: torch.Tensor, m: torch.Tensor, y: torch.Tensor, *, base: bool = False) -> torch.Tensor:
        """log p(y_t | x_<t) under the aggregate, (b, t-1); -inf-free, 0 where y is -100."""
        tgt = y[:, 1:]
        safe = tgt.clamp_min(0)

        def one() -> torch.Tensor:
            lp = F.log_softmax(self.peft(input_ids=x, attention_mask=m).logits[:, :-1].float(), -1)
            return lp.gather(2, safe[..., None])[..., 0]

        if base:
            with self.peft.disable_adapter():
                out = one()
        elif self.merged:
            self.peft.set_adapter(self.merged)
            out = one()
        else:
            per = []
            for a in self.adapters:
                self.peft.set_adapter(a)
                per.append(one())
            out = torch.logsumexp(torch.stack(per), 0) - math.log(len(per))
        return out.masked_fill(tgt == -100, 0.0)

    def score(self, pairs: Sequence[tuple[str | None, str]], *, base: bool = False, batch_size: int = 16) -> list[tuple[float, int]]:
        """(sum of -log p over the post's tokens incl. the end marker, token count) per (kind, text)."""
        out = []
        pad = self.tok.pad_token_id or 0
        for i in range(0, len(pairs), batch_size):
            ex = [_example(self.tok, k, t, self.max_tokens) for k, t in pairs[i : i + batch_size]]
            x, m, y = _batch(ex, pad)
            lp = self._target_logprobs(x, m, y, base=base)
            cnt = (y[:, 1:] != -100).sum(1)
            out.extend((float(-lp[r].sum()), int(cnt[r])) for r in range(len(ex)))
        return out

    def text_nll(self, texts: Sequence[str], *, base: bool = False) -> list[tuple[float, int]]:
        return self.score([("post", t) for t in texts], base=base)

    def perplexity(self, pairs: Sequence[tuple[str | None, str]], *, base: bool = False) -> float:
        """Per-token perplexity of posts given their instruction (what the quality figures are in)."""
        res = self.score(pairs, base=base)
        return math.exp(sum(n for n, _ in res) / max(sum(c for _, c in res), 1))

    @torch.no_grad()
    def continuation_nll(self, prefix: str, candidates: Sequence[str], batch_size: int = 64) -> list[float]:
        """-log p(candidate | instruction, prefix) in nats per candidate (the canary log-perplexity)."""
        head = self.tok(chat_prompt(instruction("post", prefix)) + prefix, add_special_tokens=False).input_ids
        out: list[float] = []
        for i in range(0, len(candidates), batch_size):
            ex = []
            for c in candidates[i : i + batch_size]:
                tail = self.tok(prefix + c, add_special_tokens=False).input_ids
                pre = self.tok(prefix, add_special_tokens=False).input_ids
                k = max(1, len(tail) - len(pre))
                ids = head[: len(head) - len(pre)] + tail
                ex.append((ids, len(ids) - k))
            x, m, y = _batch(ex, self.tok.pad_token_id or 0)
            lp = self._target_logprobs(x, m, y)
            out.extend(float(-lp[r].sum()) for r in range(len(ex)))
        return out

    # ---- drafting
    @torch.no_grad()
    def generate(self, prompt: str, *, max_new: int = 60, temperature: float = 0.7, top_k: int = 40, seed: int = 0,
                 kind: str = "post") -> str:
        """Continue the start of a post; seeded, so the same prompt gives the same draft. KV-cached."""
        g = torch.Generator().manual_seed(seed)
        ids = self.tok(chat_prompt(instruction(kind, prompt)) + prompt, add_special_tokens=False).input_ids
        eos = self.tok.convert_tokens_to_ids(CHAT_TOKENS[1])
        if self.merged:
            self.peft.set_adapter(self.merged)
            rows, kw = 1, {}
        else:
            rows, kw = len(self.adapters), {"adapter_names": self.adapters}
        x = torch.tensor([ids] * rows)
        past, new = None, []
        for _ in range(max_new):
            o = self.peft(input_ids=x, cache=past, use_cache=True, **kw)
            past = o.cache
            lp = torch.logsumexp(F.log_softmax(o.logits[:, -1].float(), -1), 0) - math.log(rows)
            v, ix = torch.topk(lp / max(temperature, 1e-4), top_k)
            nxt = int(ix[torch.multinomial(torch.softmax(v, -1), 1, generator=g)])
            if nxt == eos:
                break
            new.append(nxt)
            x = torch.tensor([[nxt]] * rows)
        return prompt + self.tok.decode(new, skip_special_tokens=True)
