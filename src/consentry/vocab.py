"""The shared vocabulary: purposes, content kinds, reasons, legal bases.

Every other module names things with these enums so that a reason code written by
the decision plan, read by the privacy center and printed by `consentry explain`
is the same string everywhere. Names follow W3C DPV where one exists. This module
imports nothing else of ours.
"""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    GENAI_TRAINING = "genai_training"
    ML_PERSONALIZATION = "ml_personalization"
    ML_SAFETY = "ml_safety"
    AFFILIATE_SHARING = "affiliate_sharing"
    THIRD_PARTY_SHARING = "third_party_sharing"


class ContentKind(StrEnum):
    PROFILE = "profile"
    POST = "post"
    ARTICLE = "article"
    COMMENT = "comment"
    POLL_RESPONSE = "poll_response"
    GROUP_POST = "group_post"
    RESUME = "resume"
    AI_PROMPT = "ai_prompt"
    FEEDBACK = "feedback"
    MESSAGE = "message"
    INMAIL = "inmail"
    SALARY = "salary"
    PAYMENT = "payment"
    CREDENTIAL = "credential"
    JOB_APPLICATION = "job_application"


class Visibility(StrEnum):
    PUBLIC = "public"
    CONNECTIONS = "connections"
    PRIVATE = "private"


class Choice(StrEnum):
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"
    OBJECT = "object"
    WITHDRAW_OBJECTION = "withdraw_objection"


class Source(StrEnum):
    SETTINGS = "settings"
    OBJECTION_FORM = "objection_form"
    GPC = "gpc"
    API = "api"
    IMPORT = "import"


class RequestKind(StrEnum):
    ERASE_ITEMS = "erase_items"
    ERASE_ACCOUNT = "erase_account"
    ERASE_AI_DATA = "erase_ai_data"
    EXPORT = "export"


class Reason(StrEnum):
    """Why an item may not be used. All that apply are listed, not only the first."""

    REGION_PROHIBITED = "region_prohibited"
    OPTED_OUT = "opted_out"
    NO_OPT_IN = "no_opt_in"
    OBJECTED = "objected"
    MINOR = "minor"
    AGE_UNKNOWN = "age_unknown"
    KIND_EXCLUDED = "kind_excluded"
    NOT_PUBLIC = "not_public"
    SENSITIVE_GROUP = "sensitive_group"
    ERASED = "erased"
    DELETED = "deleted"
    ACCOUNT_CLOSED = "account_closed"
    NOT_YET_CREATED = "not_yet_created"
    NOT_NOTIFIED = "not_notified"
    NO_POLICY_IN_FORCE = "no_policy_in_force"
    UNKNOWN_JURISDICTION = "unknown_jurisdiction"
    NON_MEMBER = "non_member"
    MALFORMED = "malformed"


class Rule(StrEnum):
    """A pack's rule for one purpose in one jurisdiction group, most protective first."""

    PROHIBITED = "prohibited"
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"
    ALLOWED = "allowed"

    @property
    def strictness(self) -> int:
        """Higher is more protective: prohibited > opt_in > opt_out > allowed."""
        return {"prohibited": 3, "opt_in": 2, "opt_out": 1, "allowed": 0}[self.value]


class LegalBasis(StrEnum):
    """DPV legal bases (https://w3id.org/dpv#LegalBasis)."""

    CONSENT = "dpv:Consent"
    LEGITIMATE_INTEREST = "dpv:LegitimateInterest"
    CONTRACT = "dpv:Contract"
    LEGAL_OBLIGATION = "dpv:LegalObligation"
    NONE = "none"


class Propagation(StrEnum):
    FORWARD_ONLY = "forward_only"
    RETROACTIVE = "retroactive"


class PersonPoint(StrEnum):
    """The PERSON recogniser's operating points (thresholds shipped with its model)."""

    BALANCED = "balanced"
    HIGH_RECALL = "high_recall"


class PiiType(StrEnum):
    PERSON = "PERSON"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    URL = "URL"
    IP_ADDRESS = "IP_ADDRESS"
    CREDIT_CARD = "CREDIT_CARD"
    IBAN = "IBAN"
    NATIONAL_ID = "NATIONAL_ID"
    STREET_ADDRESS = "STREET_ADDRESS"
    LOCATION = "LOCATION"
    HANDLE = "HANDLE"


PURPOSES: tuple[str, ...] = tuple(p.value for p in Purpose)
CONTENT_KINDS: tuple[str, ...] = tuple(k.value for k in ContentKind)
REASONS: tuple[str, ...] = tuple(r.value for r in Reason)
