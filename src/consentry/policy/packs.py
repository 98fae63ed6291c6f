"""Policy packs: the law and the platform's promises as data, validated on load.

A pack is a YAML file with versions; each version says, per purpose and per group
of countries, which rule applies (prohibited / opt_in / opt_out / allowed) and under
which legal basis, plus the content, age, notice and look-back settings. Keeping
this as data (never code branches per customer) is what lets the real 2024 case and
a strict alternative be two files run by the same plan.

Validation errors name the file, the line and the field: the YAML is composed into
a node graph first (which keeps line marks), and pydantic's error locations are
walked through that graph. A key written twice in one mapping and a key no model
declares are refused (a YAML loader would keep the last value of a repeated key, so
`min_age: 18` then `min_age: 0` would silently admit minors).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from consentry.vocab import ContentKind, LegalBasis, PersonPoint, PiiType, Propagation, Purpose, Rule, Visibility

DEFAULT_GROUP = "rest_of_world"
"""Countries that appear in no group of a version fall into this group."""

# ISO 3166-1 alpha-2 codes: the regions libphonenumber knows, plus the few assigned
# codes without a telephone plan of their own (Antarctica, Bouvet, Heard, US minor
# outlying islands, South Georgia, Pitcairn, French Southern Territories).
COUNTRIES: frozenset[str] = frozenset(
    c for c in phonenumbers.SUPPORTED_REGIONS if len(c) == 2 and c.isalpha()
) | frozenset({"AQ", "BV", "HM", "UM", "GS", "PN", "TF"})


class PackError(ValueError):
    """A pack that cannot be loaded; the message names file, line and field."""

    def __init__(self, file: str, line: int | None, field: str, message: str) -> None:
        self.file, self.line, self.field, self.message = file, line, field, message
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {field}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupRule(_Strict):
    """The rule of one purpose in one group of countries, with its legal basis."""

    rule: Rule
    legal_basis: LegalBasis

    @model_validator(mode="after")
    def _basis_fits(self) -> GroupRule:
        if self.rule is Rule.PROHIBITED and self.legal_basis is not LegalBasis.NONE:
            raise ValueError("a prohibited rule has legal_basis 'none'")
        if self.rule is not Rule.PROHIBITED and self.legal_basis is LegalBasis.NONE:
            raise ValueError(f"rule {self.rule.value!r} needs a legal basis")
        return self


class PurposePolicy(_Strict):
    """Per purpose: a rule per group, and which kinds of choice events count.

    `honour_gpc`: whether Global Privacy Control signals (events with source `gpc`)
    count as the member's choice for this purpose. `honour_objection`: whether an
    `object` event excludes until withdrawn (false only for purposes the law does not
    let a member object to, e.g. safety). Content settings, when given, override the
    version's for this purpose.
    """

    rules: dict[str, GroupRule]
    honour_gpc: bool = True
    honour_objection: bool = True
    objection_reason: str | None = Field(None, min_length=1, max_length=1000)
    """Why an objection is not honoured (shown to the member who objects); required
    when `honour_objection` is false, so a refused objection is always explained."""
    excluded_kinds: list[ContentKind] | None = None
    allowed_visibilities: list[Visibility] | None = None

    @model_validator(mode="after")
    def _refusal_explained(self) -> PurposePolicy:
        if not self.honour_objection and not self.objection_reason:
            raise ValueError("honour_objection is false: give objection_reason, the reason members are told")
        return self


def _detected_types() -> list[PiiType]:
    """PII types that have a detector: the only ones a pack may promise to redact."""
    from consentry.redact.detect import DETECTORS

    return [t for t in PiiType if t in DETECTORS]


class Redaction(_Strict):
    """What the redactor does with this pack's data (read by `redact` and `snapshots`)."""

    pii_types: list[PiiType] = Field(default_factory=_detected_types)
    """Types to redact; each must have a detector (`redact.detect.DETECTORS`), so that
    what a pack, and every disclosure built from it, says is redacted is redacted."""
    max_pii_density: float = Field(0.2, ge=0.0, le=1.0)
    """Drop an item whose share of characters that are PII exceeds this."""
    mode: str = Field("pseudonymise", pattern="^(pseudonymise|mask)$")
    person_operating_point: PersonPoint = PersonPoint.BALANCED
    """The PERSON recogniser's threshold: `balanced` (best recall-weighted F2) or
    `high_recall` (the most recall at a precision no lower than Presidio's on held-out
    training text; more names caught, more words masked that were not names)."""
    allow_terms: list[str] = Field(default_factory=list)
    """Terms that are not people on this platform (its skills taxonomy, company pages):
    a PERSON guess inside one is not redacted. Member mentions are redacted regardless."""

    @field_validator("pii_types")
    @classmethod
    def _have_detectors(cls, types: list[PiiType]) -> list[PiiType]:
        known = _detected_types()
        missing = [t.value for t in types if t not in known]
        if missing:
            raise ValueError(f"no detector for {', '.join(missing)}; types with one: {', '.join(t.value for t in known)}")
        return types


class PackVersion(_Strict):
    """One version of a pack, in force from `effective_from` (00:00 UTC) on."""

    version: str
    effective_from: dt.date
    note: str = ""
    groups: dict[str, list[str]] = Field(default_factory=dict)
    group_names: dict[str, str] = Field(default_factory=dict)
    """How a member is told where a group's rule applies ("the United Kingdom"); a group
    without one is named by its key. Shown by the privacy center, never decided on."""
    purposes: dict[Purpose, PurposePolicy]
    excluded_kinds: list[ContentKind] = Field(default_factory=list)
    allowed_visibilities: list[Visibility] = Field(default_factory=lambda: list(Visibility))
    min_age: int | None = Field(18, ge=0, le=120)
    exclude_unknown_age: bool = False
    exclude_sensitive_groups: bool = False
    notice_period_days: int | None = Field(None, ge=0)
    """None: no notice needed; N: a notice delivered at least N days before T."""
    signin_lookback_days: int = Field(30, ge=0)
    propagation: Propagation = Propagation.FORWARD_ONLY
    shards: int = Field(16, ge=1, le=4096)
    redaction: Redaction = Field(default_factory=Redaction)

    @field_validator("groups")
    @classmethod
    def _groups_are_countries(cls, groups: dict[str, list[str]]) -> dict[str, list[str]]:
        seen: dict[str, str] = {}
        for name, countries in groups.items():
            if name == DEFAULT_GROUP:
                raise ValueError(f"{DEFAULT_GROUP!r} is implicit: it holds every other country")
            for c in countries:
                if c not in COUNTRIES:
                    raise ValueError(f"group {name!r}: {c!r} is not an ISO 3166-1 alpha-2 code")
                if c in seen:
                    raise ValueError(f"{c} is in both {seen[c]!r} and {name!r}")
                seen[c] = name
        return groups

    @model_validator(mode="after")
    def _rules_cover_groups(self) -> PackVersion:
        names = set(self.groups) | {DEFAULT_GROUP}
        for purpose, pol in self.purposes.items():
            unknown = set(pol.rules) - names
            if unknown:
                raise ValueError(f"{purpose.value}: unknown group(s) {sorted(unknown)}")
            if DEFAULT_GROUP not in pol.rules:
                raise ValueError(f"{purpose.value}: needs a rule for {DEFAULT_GROUP!r}")
        return self

    @model_validator(mode="after")
    def _names_are_groups(self) -> PackVersion:
        unknown = set(self.group_names) - set(self.groups) - {DEFAULT_GROUP}
        if unknown:
            raise ValueError(f"group_names: unknown group(s) {sorted(unknown)}")
        return self

    def group_name(self, group: str) -> str:
        """The words for where a group's rule applies (the pack's, else the group's key)."""
        return self.group_names.get(group, group)

    def group_of(self, country: str | None) -> str | None:
        """The group of an ISO country code; None for a missing or unknown code."""
        if country is None or country not in COUNTRIES:
            return None
        for name, countries in self.groups.items():
            if country in countries:
                return name
        return DEFAULT_GROUP

    def rule_for(self, purpose: Purpose | str, group: str) -> GroupRule | None:
        pol = self.purposes.get(Purpose(purpose))
        if pol is None:
            return None
        return pol.rules.get(group, pol.rules[DEFAULT_GROUP])

    def excluded_kinds_for(self, purpose: Purpose | str) -> list[ContentKind]:
        pol = self.purposes.get(Purpose(purpose))
        return pol.excluded_kinds if pol and pol.excluded_kinds is not None else self.excluded_kinds

    def visibilities_for(self, purpose: Purpose | str) -> list[Visibility]:
        pol = self.purposes.get(Purpose(purpose))
        if pol and pol.allowed_visibilities is not None:
            return pol.allowed_visibilities
        return self.allowed_visibilities


class Pack(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    versions: list[PackVersion] = Field(min_length=1)
    source: str | None = None

    @field_validator("versions")
    @classmethod
    def _ordered(cls, versions: list[PackVersion]) -> list[PackVersion]:
        dates = [v.effective_from for v in versions]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("versions must be in strictly increasing effective_from order")
        names = [v.version for v in versions]
        if len(set(names)) != len(names):
            raise ValueError("version names must be unique")
        return versions

    def version_at(self, t: dt.datetime | dt.date | str) -> PackVersion | None:
        """The latest version effective at T (a version starts at 00:00 UTC of its date)."""
        ts = as_utc(t)
        current = None
        for v in self.versions:
            start = dt.datetime.combine(v.effective_from, dt.time(), tzinfo=dt.UTC)
            if start <= ts:
                current = v
        return current

    def label(self, version: PackVersion | None) -> str:
        """`name@version`, or `name@none` when no version is in force."""
        return f"{self.name}@{version.version if version else 'none'}"

    @property
    def effective_dates(self) -> list[dt.date]:
        return [v.effective_from for v in self.versions]


def as_utc(t: dt.datetime | dt.date | str) -> dt.datetime:
    """A timezone-aware UTC datetime from a datetime, a date or an ISO 8601 string.

    Naive datetimes and dates are taken as UTC: the export contract is UTC throughout.
    """
    if isinstance(t, str):
        s = t.strip()
        t = dt.datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
    if isinstance(t, dt.date) and not isinstance(t, dt.datetime):
        t = dt.datetime.combine(t, dt.time())
    if t.tzinfo is None:
        return t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC)


# --------------------------------------------------------------------------- loading


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...], on_key: bool = False) -> int | None:
    """Walk a pydantic error location through the composed YAML to a 1-based line.

    `on_key`: the error is about the last mapping key itself (e.g. an unknown purpose),
    so point at the key rather than at its value.
    """
    best = node
    for n, key in enumerate(loc):
        if node is None:
            break
        nxt = None
        if isinstance(node, yaml.MappingNode):
            nxt = _mapping_get(node, key, key_node=on_key and n == len(loc) - 1)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            nxt = node.value[key] if 0 <= key < len(node.value) else None
        if nxt is None:
            break
        node = best = nxt
    return best.start_mark.line + 1 if best is not None else None


def _mapping_get(node: yaml.MappingNode, key: Any, key_node: bool = False) -> yaml.Node | None:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == str(key):
            return k if key_node else v
    for k, v in node.value:  # YAML merge keys (<<: *anchor)
        if isinstance(k, yaml.ScalarNode) and k.value == "<<":
            for m in v.value if isinstance(v, yaml.SequenceNode) else [v]:
                found = _mapping_get(m, key, key_node) if isinstance(m, yaml.MappingNode) else None
                if found is not None:
                    return found
    return None


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same marks


def _refuse_duplicate_keys(node: yaml.Node | None, file: str, path: tuple[str, ...] = (),
                           seen: set[int] | None = None) -> None:
    """PackError at the second occurrence of a key repeated in one mapping.

    YAML loaders keep the last value of a repeated key, so `min_age: 18` followed by
    `min_age: 0` would silently load 0. Keys a merge (`<<: *anchor`) brings in may be
    overridden; only keys written twice in the same mapping are refused. Anchored
    nodes are walked once.
    """
    seen = set() if seen is None else seen
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key is not None and key != "<<":
                if key in first:
                    field = ".".join((*path, key))
                    raise PackError(file, k.start_mark.line + 1, field,
                                    f"duplicate key {key!r} (first at line {first[key]}); "
                                    "a key may appear once per mapping")
                first[key] = k.start_mark.line + 1
            _refuse_duplicate_keys(v, file, (*path, key) if key is not None and key != "<<" else path, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _refuse_duplicate_keys(v, file, (*path, str(i)), seen)


def parse_pack(text: str, file: str = "<string>") -> Pack:
    """Validate pack YAML; errors name file, line and field (PackError)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        # before constructing: construction flattens merge keys into the mapping
        _refuse_duplicate_keys(node, file)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise PackError(file, mark.line + 1 if mark else None, "<yaml>", str(exc.problem)) from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise PackError(file, 1, "<root>", "a pack is a mapping with name and versions")
    # Top-level `x-...` keys only hold YAML anchors for reuse (as in docker compose).
    data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    data.setdefault("source", file)
    try:
        return Pack.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(part for part in err["loc"] if part != "[key]")
        field = ".".join(str(p) for p in loc) or "<root>"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        on_key = "[key]" in err["loc"] or err["type"] == "extra_forbidden"
        raise PackError(file, _line_of(node, loc, on_key), field, err["msg"] + more) from exc


def _packs_dir() -> Any:
    return resources.files("consentry.policy").joinpath("packs")


def list_packs() -> list[str]:
    """Names of the packs shipped with consentry."""
    return sorted(p.name[: -len(".yaml")] for p in _packs_dir().iterdir() if p.name.endswith(".yaml"))


def load_pack(name_or_path: str | Path) -> Pack:
    """A shipped pack by name (`linkedin-2024`) or a pack file by path.

    Packs are immutable, so loads are cached (a file by path and modification time).
    """
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise PackError(str(path), None, "<file>", "no such pack file")
        return _load_file(str(path.resolve()), path.stat().st_mtime_ns)
    return _load_shipped(str(name_or_path))


@lru_cache(maxsize=64)
def _load_file(path: str, mtime_ns: int) -> Pack:
    return parse_pack(Path(path).read_text("utf-8"), path)


@lru_cache(maxsize=16)
def _load_shipped(name_or_path: str) -> Pack:
    res = _packs_dir().joinpath(f"{name_or_path}.yaml")
    if not res.is_file():
        raise PackError(str(name_or_path), None, "<name>", f"unknown pack; shipped: {list_packs()}")
    return parse_pack(res.read_text("utf-8"), f"{name_or_path}.yaml")
