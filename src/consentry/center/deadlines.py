"""Legal response deadlines for data-subject requests, per jurisdiction.

Why here and as data: the admin page must show each open request against the
deadline of the law that applies to the member, and the table of laws changes more
often than code should. A request is answered within: GDPR and UK GDPR one month
(Art. 12(3)), CCPA 45 days, LGPD 15 days, PIPEDA 30 days; anything else 30 days.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

EEA_CH = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO CH".split()
)


@dataclass(frozen=True)
class Law:
    name: str
    months: int = 0
    days: int = 0


GDPR = Law("GDPR", months=1)
UK_GDPR = Law("UK GDPR", months=1)
CCPA = Law("CCPA", days=45)
LGPD = Law("LGPD", days=15)
PIPEDA = Law("PIPEDA", days=30)
DEFAULT = Law("default", days=30)

BY_COUNTRY: dict[str, Law] = {c: GDPR for c in EEA_CH} | {"GB": UK_GDPR, "US": CCPA, "BR": LGPD, "CA": PIPEDA}


def law_for(country: str | None) -> Law:
    """The law whose deadline applies to a member residing in `country` (ISO alpha-2)."""
    return BY_COUNTRY.get((country or "").upper(), DEFAULT)


def add_months(t: datetime, months: int) -> datetime:
    """Calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month0 = t.month - 1 + months
    year, month = t.year + month0 // 12, month0 % 12 + 1
    day = min(t.day, calendar.monthrange(year, month)[1])
    return t.replace(year=year, month=month, day=day)


def deadline(received_at: datetime, country: str | None) -> tuple[Law, datetime]:
    """The law and the date by which a request received at `received_at` must be answered."""
    law = law_for(country)
    due = add_months(received_at, law.months) if law.months else received_at
    return law, due + timedelta(days=law.days)
