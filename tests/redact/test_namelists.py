"""The name and place lists are package data: nothing reads other packages' files at run time."""

from __future__ import annotations

import gzip
import importlib.metadata
import subprocess
import sys

import pytest

from consentry.redact import gazetteer, namelists, operators


def test_lists_load_without_importing_their_source_packages() -> None:
    code = (
        "import sys\n"
        "from consentry.redact import gazetteer, operators\n"
        "assert gazetteer.first_names() and gazetteer.last_names() and gazetteer.place_words()\n"
        "assert operators._fake_names()[0][0] != 'Alex'\n"
        "print(sorted(m for m in ('faker', 'gender_guesser', 'geotext', 'names') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_each_list_names_its_sources_and_licences_and_has_a_hash() -> None:
    for name, fname in namelists.FILES.items():
        text = gzip.decompress(namelists.raw(name)).decode("utf-8")
        header = [ln for ln in text.splitlines() if ln.startswith("#")]
        sources = [ln for ln in header if ln.startswith("# source:")]
        assert sources, fname
        assert all("==" in ln and "(" in ln for ln in sources), sources  # version and licence
        assert len(namelists.sha256(name) or "") == 64


def test_known_entries() -> None:
    assert gazetteer.first_names()["mary"] == 0
    assert gazetteer.last_names()["smith"] == 0
    assert "dvořák" in gazetteer.last_names() and "dvorak" in gazetteer.last_names()
    assert "paris" in gazetteer.place_words()
    firsts, lasts = operators._fake_names()
    assert (len(firsts), len(lasts)) == (600, 600) and firsts[0] == "Mary" and lasts[0] == "Smith"


def test_shipped_lists_are_what_the_builder_derives(tmp_path) -> None:
    """With the source packages at their pinned versions (the dev extra), a rebuild is byte-identical."""
    pins = {"names": "0.3.0", "gender-guesser": "0.4.0", "geotext": "0.4.0", "faker": "40.63.0"}
    for dist, version in pins.items():
        try:
            found = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"{dist} not installed (dev extra)")
        if found != version:
            pytest.skip(f"{dist} {found} is not the pinned {version}")
    built = namelists.build(tmp_path)
    assert built == {name: namelists.sha256(name) for name in namelists.FILES}
