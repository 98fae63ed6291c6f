"""What a snapshot's (or a model version's) bytes depend on besides its inputs.

"Same inputs, same hash" holds only for the same code and reference data: the PERSON
model's weights, the word-class table, the name lists, the geo databases (country
and hosting ranges decide jurisdiction) and the redaction key. `collect` names each
by version and sha256 so two manifests that differ can say why; the key is named by
`keys.key_id`, never shown. Model versions record the same block
(`training` calls `for_model_version`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any


def _sha256(data: bytes) -> str | None:
    return hashlib.sha256(data).hexdigest() if data else None


def _package_file(pkg: str, *parts: str) -> bytes:
    try:
        return resources.files(pkg).joinpath(*parts).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError):
        return b""


def _dist(name: str) -> dict[str, Any]:
    """Version of an installed distribution and one sha256 over its non-Python files (its data)."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return {"version": None, "sha256": None}
    h = hashlib.sha256()
    found = False
    for f in sorted(dist.files or [], key=str):
        s = str(f)
        if (
            s.startswith("..")
            or ".dist-info" in s
            or s.endswith((".py", ".pyc", ".pyi", "py.typed"))
        ):
            continue
        try:
            data = Path(str(f.locate())).read_bytes()
        except OSError:
            continue
        h.update(f"{s}\0{len(data)}\0".encode())
        h.update(data)
        found = True
    return {"version": dist.version, "sha256": h.hexdigest() if found else None}


@lru_cache(maxsize=1)
def _static() -> dict[str, Any]:
    """Everything but the key: fixed for the life of a process."""
    from consentry import __version__
    from consentry.redact import namelists
    from consentry.redact.gazetteer import WORD_CLASSES_FILE

    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "consentry": __version__,
        "person_model": {
            "file": "person_model.json",
            "sha256": _sha256(_package_file("consentry.redact", "data", "person_model.json")),
        },
        "word_classes": {
            "file": WORD_CLASSES_FILE,
            "sha256": _sha256(_package_file("consentry.redact", "data", WORD_CLASSES_FILE)),
        },
        "name_lists": {
            name: {"file": fname, "sha256": namelists.sha256(name)}
            for name, fname in sorted(namelists.FILES.items())
        },
        "word_frequencies": {"wordfreq": version("wordfreq")},
        "geo": {"iptocc": _dist("iptocc"), "iporigin": _dist("iporigin")},
    }


def collect(key: bytes | None) -> dict[str, Any]:
    """The provenance block of a manifest: versions and hashes, and the redaction key's id."""
    from consentry.snapshots.keys import key_id

    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in _static().items()}
    out["redaction_key_id"] = key_id(key) if key else None
    return out


def for_model_version(snapshot_manifest: Any) -> dict[str, Any]:
    """The block a model version records: its snapshot's provenance plus the code training it.

    `snapshot_manifest` is a `Manifest` or its JSON as a dict (what `training.data`
    reads). The reference-data hashes and the redaction key id come from the snapshot
    (they decided the text the model saw); `consentry` is the version doing the
    training, `snapshot_consentry` the one that built the snapshot. Meant for the
    model registry entry (`training.pipeline._entry`: `"provenance": for_model_version(man)`).
    """
    from consentry import __version__

    if isinstance(snapshot_manifest, dict):
        prov = dict(snapshot_manifest.get("provenance") or {})
    else:
        prov = dict(getattr(snapshot_manifest, "provenance", None) or {})
    prov["snapshot_consentry"] = prov.get("consentry")
    prov["consentry"] = __version__
    return prov
