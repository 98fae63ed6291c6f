"""Rate limits on the forms an attacker can hammer without an account: member sign-in,
admin sign-in and the public objection form.

Why `limits` (the library slowapi is built on) through a FastAPI dependency rather
than slowapi's decorators: the limits come from `CenterSettings` of each app (a
deployment or a test sets them), while decorators bind one module-wide limiter at
import. A moving window per client address and route; every try counts (a right
admin token after too many wrong ones is refused too). Over the limit: 429 with
`Retry-After` in seconds. Storage is per process by default (`memory://`); with
several workers set `CONSENTRY_RATE_LIMIT_STORAGE` to a shared one (e.g. redis://).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from fastapi import HTTPException, Request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from consentry.center.config import CenterSettings


class RateLimits:
    def __init__(self, cs: CenterSettings) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(cs.rate_limit_storage))
        self.rules = {"signin": parse(cs.rate_signin), "admin_login": parse(cs.rate_admin_login),
                      "objection": parse(cs.rate_objection)}

    def hit(self, name: str, client: str) -> int | None:
        """Count one try; None when allowed, else the seconds until the next try is."""
        rule = self.rules[name]
        if self.limiter.hit(rule, name, client):
            return None
        reset, _ = self.limiter.get_window_stats(rule, name, client)
        return max(1, math.ceil(reset - time.time()))


def limited(name: str) -> Callable[[Request], None]:
    """A route dependency: one try of `name` for the calling address."""

    def check(request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        wait = request.app.state.rate_limits.hit(name, client)
        if wait is not None:
            raise HTTPException(429, f"too many attempts; try again in {wait} seconds",
                                headers={"Retry-After": str(wait)})

    return check
