"""The PERSON recogniser's embedding word classes: an optional package-data table."""

from __future__ import annotations

import gzip

import pytest

from consentry.redact import gazetteer, person
from consentry.redact.gazetteer import parse_word_classes, word_classes
from consentry.redact.lexicon import word_set


def _features(tok: str) -> list[str]:
    fn, ln, cw = gazetteer.first_names(), gazetteer.last_names(), word_set("common_words.txt")
    return person.intrinsic_features(tok, "mixed", fn, ln, cw)


def test_shipped_table_gives_a_listed_word_its_cluster_and_name_bucket():
    classes = word_classes()
    if not classes:
        pytest.skip("no word-class table shipped")
    cl, nm = classes["john"]
    feats = _features("John")
    assert f"cl={cl}" in feats and f"cl+sh={cl}Xx" in feats and f"nm={nm}" in feats
    assert f"p1cl={cl}" in person.prev1_features("John", gazetteer.first_names(), gazetteer.last_names())
    assert f"n1cl={cl}" in person.next1_features("john", gazetteer.first_names(), gazetteer.last_names())
    # a hashtag is looked up by its text; a word the table lacks reads "-"
    assert f"cl={cl}" in _features("#John")
    assert "cl=-" in _features("Qqxzvbq")
    # the name-likeness bucket tells a surname rare in English from a frequent word
    assert int(classes["kowalczyk"][1]) >= 3 and int(classes["table"][1]) <= 1


def test_table_absent_means_no_class_features_and_the_shipped_model_refuses_to_run(monkeypatch):
    monkeypatch.setattr(gazetteer, "WORD_CLASSES_FILE", "no_such_table.tsv.gz")
    word_classes.cache_clear()
    person._CACHE.clear()
    person._model.cache_clear()
    try:
        assert word_classes() == {}
        feats = _features("John")
        assert not any(f.startswith(("cl=", "cl+sh=", "nm=", "nm+sh=")) for f in feats)
        assert not any("cl=" in f for f in person.prev1_features("John", {}, {}))
        # the shipped weights lean on the table: a broken install stops instead of finding fewer names
        with pytest.raises(RuntimeError, match="word-class table .*missing or unreadable"):
            person.detect_person("I met John Smith today")
        # a model trained without the table runs without it
        plain = {"weights": {"b": -1.0, "fn=0": 3.0}, "threshold": 0.5, "operating_points": {"balanced": 0.5}}
        monkeypatch.setattr(person, "_shipped", lambda: plain)
        person._model.cache_clear()
        assert [(s.start, s.end) for s in person.detect_person("I met John today")] == [(6, 10)]
    finally:
        monkeypatch.undo()
        word_classes.cache_clear()
        person._CACHE.clear()
        person._model.cache_clear()


def test_unreadable_table_reads_as_absent(monkeypatch, tmp_path):
    class Broken:
        def joinpath(self, *parts):  # noqa: ANN002, ANN201
            return self

        def read_bytes(self):  # noqa: ANN201
            return b"not gzip"

    monkeypatch.setattr(gazetteer.resources, "files", lambda pkg: Broken())
    word_classes.cache_clear()
    try:
        assert word_classes() == {}
    finally:
        monkeypatch.undo()
        word_classes.cache_clear()


def test_written_table_reads_back(tmp_path):
    from consentry.redact.train_person import write_word_classes

    path = tmp_path / "t.tsv.gz"
    write_word_classes({"anna": "3.4", "bridge": "10.0", "smith": "3.4"}, path)
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    assert text.startswith("#")
    assert "3.4\tanna smith" in text
    assert parse_word_classes(text) == {"anna": ("3", "4"), "smith": ("3", "4"), "bridge": ("10", "0")}


def test_word_classes_from_an_embedding():
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from consentry.redact.train_person import word_classes_from

    fn, ln, zipf = gazetteer.first_names(), gazetteer.last_names(), gazetteer.english_zipf()
    if not (fn and zipf):
        pytest.skip("name lists or wordfreq not installed")
    names = [w for w in sorted(set(fn) | set(ln)) if zipf.get(w, 0) <= 2][:200]
    common = [w for w in sorted(zipf) if zipf[w] >= 4 and w not in fn and w not in ln][:200]
    words = names + common
    rng = np.random.default_rng(0)
    # a toy embedding in which names and common words lie apart
    emb = rng.normal(size=(len(words), 8)).astype(np.float32)
    emb[: len(names), 0] += 4.0
    classes = word_classes_from(words, emb, n_clusters=4, n_buckets=5)
    assert set(classes) == set(words)
    buckets = {w: int(k.split(".")[1]) for w, k in classes.items()}
    assert sum(buckets[w] for w in names) / len(names) > sum(buckets[w] for w in common) / len(common) + 2
