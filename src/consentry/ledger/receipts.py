"""Consent receipts in the shape of ISO/IEC TS 27560:2023 (consent record information
structure, the successor of the Kantara consent receipt), one per recorded event.

The receipt is built once, when the event is written, stored with it and covered by
the audit chain: what the member was told at the time cannot drift later.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Mapping

from consentry.ledger.audit import canonical
from consentry.ledger.types import iso

RECEIPT_VERSION = "ISO/IEC TS 27560:2023"
DEFAULT_CONTROLLER: dict[str, Any] = {"name": "consentry data controller", "contact": None}
_NS = uuid.UUID("6f1d2c1e-8a52-4d7e-9c3b-6e0b3e2a9f10")

# DPV-style names for the purposes the vocabulary uses.
PURPOSE_DPV = {
    "genai_training": "dpv:ResearchAndDevelopment",
    "ml_personalization": "dpv:ServicePersonalisation",
    "ml_safety": "dpv:FraudPreventionAndDetection",
    "affiliate_sharing": "dpv:SellDataToThirdParties",
    "third_party_sharing": "dpv:SellDataToThirdParties",
}


def build_receipt(event: Mapping[str, Any], controller: Mapping[str, Any], recorded_at: datetime) -> dict[str, Any]:
    """The receipt for one consent event, as plain JSON-ready values."""
    return {
        "receipt_id": receipt_id(event["event_id"]),
        "version": RECEIPT_VERSION,
        "timestamp": iso(recorded_at),
        "data_controller": dict(controller),
        "subject_id": event["member_id"],
        "event_id": event["event_id"],
        "purpose": event["purpose"],
        "purpose_dpv": PURPOSE_DPV.get(event["purpose"]),
        "legal_basis": event["legal_basis"],
        "jurisdiction": event["jurisdiction"],
        "notice_version": event["notice_version"],
        "channel": event["source"],
        "choice": event["choice"],
        "event_time": iso(event["at"]),
        "client_request_id": event["client_request_id"],
    }


def receipt_id(event_id: str) -> str:
    """uuid5(namespace, event_id), formatted directly (bulk imports make one per event)."""
    h = bytearray(hashlib.sha1(_NS.bytes + event_id.encode("utf-8")).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def receipt_json(event: Mapping[str, Any], controller_json: str, recorded_iso: str) -> str:
    """canonical(build_receipt(...)) spelled out in sorted key order: the text stored and
    hashed for every event, built without an intermediate dict."""
    e = canonical
    return (
        f'{{"channel":{e(event["source"])},"choice":{e(event["choice"])},'
        f'"client_request_id":{e(event["client_request_id"])},"data_controller":{controller_json},'
        f'"event_id":{e(event["event_id"])},"event_time":"{iso(event["at"])}",'
        f'"jurisdiction":{e(event["jurisdiction"])},"legal_basis":{e(event["legal_basis"])},'
        f'"notice_version":{e(event["notice_version"])},"purpose":{e(event["purpose"])},'
        f'"purpose_dpv":{e(PURPOSE_DPV.get(event["purpose"]))},"receipt_id":"{receipt_id(event["event_id"])}",'
        f'"subject_id":{e(event["member_id"])},"timestamp":"{recorded_iso}","version":{e(RECEIPT_VERSION)}}}'
    )
