"""Where consentry keeps its state, configurable by environment (CONSENTRY_*).

One home directory holds the embedded default: the SQLite ledger, the snapshots,
the models and the synthetic network. Every path can be overridden, and the ledger
can point at PostgreSQL by URL.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTRY_")

    home: Path = Path(".consentry")
    ledger_url: str | None = None
    snapshots_dir: Path | None = None
    models_dir: Path | None = None
    network_dir: Path | None = None
    openlineage: Literal["on", "off"] = "on"  # OpenLineage run events for decide, build, forget, train
    openlineage_url: str | None = None  # an HTTP endpoint (Marquez-style); default: a file in home

    @cached_property
    def ledger(self) -> str:
        return self.ledger_url or f"sqlite:///{self.home / 'ledger.sqlite'}"

    @cached_property
    def snapshots(self) -> Path:
        return self.snapshots_dir or self.home / "snapshots"

    @cached_property
    def models(self) -> Path:
        return self.models_dir or self.home / "models"

    @cached_property
    def lineage_file(self) -> Path:
        return self.home / "lineage" / "openlineage.jsonl"

    @cached_property
    def network(self) -> Path:
        return self.network_dir or self.home / "network"


def get_settings() -> Settings:
    return Settings()
