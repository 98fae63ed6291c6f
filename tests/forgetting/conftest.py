"""The forgetting tests use the snapshot tests' small synthetic network and redaction key."""

from tests.snapshots.conftest import AS_OF, network, redaction_key  # noqa: F401 - fixtures by import
