"""A build killed at any point never leaves a visible partial snapshot; the next one succeeds."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consentry.snapshots import catalog, layout
from consentry.snapshots.build import build_snapshot

from .conftest import AS_OF

CHILD = """
import os, signal, sys
from consentry.snapshots.build import build_snapshot
phase, after = sys.argv[3], int(sys.argv[4])
def progress(p, done, total):
    if p == phase and done >= after:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: like a power cut
build_snapshot(sys.argv[1], "linkedin-2024", "genai_training", "%s", sys.argv[2], workers=2,
               batch_rows=256, progress=progress)
""" % AS_OF


def _published(root: Path) -> list[str]:
    return layout.versions(root / "genai_training")


@pytest.mark.slow
def test_killed_builds_leave_nothing_visible(tmp_path: Path, network: Path, redaction_key: None) -> None:
    root = tmp_path / "snaps"
    first = build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, root, workers=2)
    rng = random.Random()
    # Self-kills at random points of each phase, then kills from outside at random times.
    phases = [("staged", 1), ("decided", 1), ("redact", rng.randint(1, 1500)), ("write", rng.randint(1, 1500))]
    points = rng.sample(phases, 3)
    env = dict(os.environ)
    for phase, after in points:
        p = subprocess.run([sys.executable, "-c", CHILD, str(network), str(root), phase, str(after)],
                           env=env, capture_output=True)
        assert p.returncode == -signal.SIGKILL, p.stderr.decode()[-2000:]
        assert _published(root) == ["v0001"]
        assert any(x.name.startswith(layout.TMP_PREFIX) for x in (root / "genai_training").iterdir())
    for _ in range(1):
        p = subprocess.Popen([sys.executable, "-c", CHILD, str(network), str(root), "never", "0"], env=env)
        tmp_seen = False
        while p.poll() is None and not tmp_seen:  # wait until it is writing, then kill at a random moment
            tmp_seen = any(x.name.startswith(layout.TMP_PREFIX) for x in (root / "genai_training").iterdir())
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 2.0))
        p.kill()
        p.wait()
        for v in _published(root):  # whatever is visible is complete
            snap = catalog.load(root, "genai_training", v)
            assert snap.manifest.content_hash == first.content_hash
    again = build_snapshot(network, "linkedin-2024", "genai_training", AS_OF, root, workers=2)
    assert again.content_hash == first.content_hash
    assert not any(x.name.startswith(layout.TMP_PREFIX) for x in (root / "genai_training").iterdir())
