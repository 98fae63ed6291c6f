"""What to redact and how: a small pydantic model a policy pack can carry as data."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from consentry.vocab import PiiType

KEY_ENV = "CONSENTRY_REDACTION_KEY"
"""The environment variable that holds the pseudonymisation key, for snapshots and `redact apply` alike."""

DEFAULT_REDACT_TYPES: tuple[PiiType, ...] = tuple(t for t in PiiType if t is not PiiType.LOCATION)


class RedactConfig(BaseModel):
    """Redaction policy.

    - `types`: PII types to find and replace (LOCATION is off by default: we have no
      location detector and places are rarely personal on their own).
    - `operator`: `mask` writes `[TYPE]`; `pseudonymise` writes a consistent fake value
      derived from a keyed HMAC (same person ⇒ same fake name under one key).
    - `max_pii_density`: drop the whole item when the share of its characters that are
      personal data exceeds this (None: never drop).
    - `always_redact`: extra names that are always redacted as PERSON wherever they
      appear, e.g. non-members who objected.
    - `allow_terms`: terms that are not people on this platform (skills, companies,
      products): a PERSON guess inside one is not redacted (`allow.AllowList`); member
      mentions, `always_redact` names and structured data are redacted regardless.
    - `min_score`: spans scored below this are ignored.
    - `person_threshold`: probability above which a word is taken as part of a name by
      the PERSON recogniser (None: the shipped model's threshold; lower = more recall).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    types: tuple[PiiType, ...] = DEFAULT_REDACT_TYPES
    operator: Literal["mask", "pseudonymise"] = "mask"
    max_pii_density: float | None = Field(default=0.5, ge=0.0, le=1.0)
    always_redact: tuple[str, ...] = ()
    allow_terms: tuple[str, ...] = ()
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    person_threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
