"""Validate OpenLineage events against the specification's own JSON schemas (tests/data)."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SPEC = Path(__file__).parent / "data" / "openlineage"


def _registry() -> tuple[Registry, dict[str, dict]]:
    schemas = {p.stem: json.loads(p.read_text()) for p in SPEC.glob("*.json")}
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return registry, schemas


def validate_event(event: dict) -> None:
    """Raise jsonschema.ValidationError unless the event and each of its facets is valid."""
    registry, schemas = _registry()
    core = schemas["OpenLineage"]
    Draft202012Validator({"$ref": core["$id"] + "#/$defs/RunEvent"}, registry=registry).validate(event)
    facets = [*event["run"].get("facets", {}).values(), *event["job"].get("facets", {}).values()]
    for ds in [*event.get("inputs", []), *event.get("outputs", [])]:
        facets += [*ds.get("facets", {}).values(), *ds.get("outputFacets", {}).values(),
                   *ds.get("inputFacets", {}).values()]
    for facet in facets:
        name = facet["_schemaURL"].rsplit("/", 1)[-1]  # e.g. SchemaDatasetFacet
        schema = schemas[name.removeprefix("#")]
        ref = schema["$id"] + "#/$defs/" + name
        Draft202012Validator({"$ref": ref}, registry=registry).validate(facet)


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
