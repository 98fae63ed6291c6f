"""Fixtures for the policy tests: `net`, a small export decided by the plan."""

from __future__ import annotations

import pytest
from .policynet import Net


@pytest.fixture
def net() -> Net:
    return Net()
