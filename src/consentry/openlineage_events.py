"""Standard lineage out: OpenLineage run events for decide, snapshot build, forget and training.

`lineage.parquet` and `excluded.parquet` say which item went where inside a snapshot;
OpenLineage says which job read which datasets and wrote which, in the format data
catalogs (Marquez, DataHub, OpenMetadata, Atlan, ...) already ingest. Every run emits a
START event, then COMPLETE with its output datasets (schema, row counts, content hash as
the dataset version) or FAIL with the error.

Where events go (`Settings`): `CONSENTRY_OPENLINEAGE_URL` set → the HTTP endpoint
(`/api/v1/lineage`, as Marquez serves it); otherwise one JSON event per line in
`$CONSENTRY_HOME/lineage/openlineage.jsonl`; `CONSENTRY_OPENLINEAGE=off` → none. A
lineage sink that fails never fails the job: the data it describes is already written.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from consentry import __version__
from consentry.settings import Settings, get_settings

log = logging.getLogger(__name__)

NAMESPACE = "consentry"
PRODUCER = f"https://pypi.org/project/consentry/{__version__}"


@dataclass
class DatasetRef:
    """A dataset a run read or wrote: a file or directory, or a database table."""

    namespace: str
    name: str
    schema: pa.Schema | None = None
    rows: int | None = None
    size: int | None = None
    files: int | None = None
    version: str | None = None  # content hash

    @classmethod
    def path(cls, path: str | Path, *, schema: pa.Schema | None = None, rows: int | None = None,
             version: str | None = None) -> DatasetRef:
        """A local file or directory (namespace `file`, name its absolute path)."""
        p = Path(path).resolve()
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else []
        size = sum(q.stat().st_size for q in files) if files else None
        return cls("file", str(p), schema=schema, rows=rows, size=size,
                   files=len(files) if files else None, version=version)

    @classmethod
    def parquet(cls, path: str | Path, *, version: str | None = None) -> DatasetRef:
        """A Parquet file or directory of Parquet files: its schema and row count from the footers."""
        p = Path(path)
        parts = [p] if p.is_file() else sorted(p.rglob("*.parquet")) if p.is_dir() else []
        if not parts:
            return cls.path(p, version=version)
        schema = pq.read_schema(parts[0])
        rows = sum(pq.ParquetFile(q).metadata.num_rows for q in parts)
        return cls.path(p, schema=schema, rows=rows, version=version)

    @classmethod
    def ledger(cls, url: str) -> DatasetRef:
        """The ledger database (credentials are never part of the name)."""
        from sqlalchemy.engine import make_url

        u = make_url(url)
        if u.drivername.startswith("sqlite"):
            return cls("sqlite", str(Path(u.database or ":memory:").resolve()))
        return cls(f"{u.get_backend_name()}://{u.host or 'localhost'}:{u.port or ''}", u.database or "")

    def _facets(self) -> dict[str, Any]:
        from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
        from openlineage.client.generated.schema_dataset import (
            SchemaDatasetFacet,
            SchemaDatasetFacetFields,
        )

        facets: dict[str, Any] = {}
        if self.schema is not None:
            facets["schema"] = SchemaDatasetFacet(
                fields=[SchemaDatasetFacetFields(name=f.name, type=str(f.type)) for f in self.schema])
        if self.version:
            facets["version"] = DatasetVersionDatasetFacet(datasetVersion=self.version)
        return facets


@dataclass
class Run:
    """A running job: add what it wrote with `output(...)`."""

    job: str
    inputs: list[DatasetRef]
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    outputs: list[DatasetRef] = field(default_factory=list)

    def output(self, ref: DatasetRef) -> None:
        self.outputs.append(ref)


def _client(settings: Settings) -> Any | None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.file import FileConfig, FileTransport
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    if settings.openlineage == "off":
        return None
    if settings.openlineage_url:
        # two quick retries: a lineage sink that is down must not hold every job for long
        retry = {"total": 2, "connect": 2, "read": 2, "backoff_factor": 0.2}
        return OpenLineageClient(transport=HttpTransport(HttpConfig(
            url=settings.openlineage_url, timeout=5.0, retry=retry)))
    settings.lineage_file.parent.mkdir(parents=True, exist_ok=True)
    return OpenLineageClient(transport=FileTransport(FileConfig(
        log_file_path=str(settings.lineage_file), append=True)))


def _event(run: Run, state: str, *, error: BaseException | None = None) -> Any:
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, RunEvent, RunState
    from openlineage.client.event_v2 import Run as OLRun
    from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
    from openlineage.client.generated.job_type_job import JobTypeJobFacet
    from openlineage.client.generated.output_statistics_output_dataset import (
        OutputStatisticsOutputDatasetFacet,
    )
    from openlineage.client.generated.processing_engine_run import ProcessingEngineRunFacet

    run_facets: dict[str, Any] = {
        "processing_engine": ProcessingEngineRunFacet(version=__version__, name="consentry"),
    }
    if error is not None:
        run_facets["errorMessage"] = ErrorMessageRunFacet(
            message=str(error) or type(error).__name__, programmingLanguage="PYTHON",
            stackTrace="".join(traceback.format_exception(error)))
    job_facets = {"jobType": JobTypeJobFacet(processingType="BATCH", integration="CONSENTRY",
                                             jobType="JOB")}
    outputs = []
    if state != "START":
        for ref in run.outputs:
            stats = OutputStatisticsOutputDatasetFacet(rowCount=ref.rows, size=ref.size,
                                                       fileCount=ref.files)
            outputs.append(OutputDataset(ref.namespace, ref.name, facets=ref._facets(),
                                         outputFacets={"outputStatistics": stats}))
    return RunEvent(
        eventType=getattr(RunState, state),
        eventTime=datetime.now(UTC).isoformat(),
        run=OLRun(runId=run.run_id, facets=run_facets),
        job=Job(namespace=NAMESPACE, name=run.job, facets=job_facets),
        inputs=[InputDataset(r.namespace, r.name, facets=r._facets()) for r in run.inputs],
        outputs=outputs,
        producer=PRODUCER,
    )


def _emit(client: Any | None, event: Any) -> None:
    if client is None:
        return
    try:
        client.emit(event)
    except Exception as exc:  # a lineage sink never fails the job it describes
        log.warning("OpenLineage event not delivered: %s", exc)


@contextmanager
def run(job: str, inputs: list[DatasetRef], settings: Settings | None = None) -> Iterator[Run]:
    """Emit START now, then COMPLETE (with the outputs added) or FAIL (with the error)."""
    settings = settings or get_settings()
    client = _client(settings)
    r = Run(job=job, inputs=inputs)
    _emit(client, _event(r, "START"))
    try:
        yield r
    except BaseException as exc:
        _emit(client, _event(r, "FAIL", error=exc))
        raise
    _emit(client, _event(r, "COMPLETE"))
