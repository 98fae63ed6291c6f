"""Member directory: Aho-Corasick mentions with possessives, boundaries and common-word guards."""

from __future__ import annotations

import pickle

import pyarrow as pa

from consentry.redact.directory import MemberDirectory
from consentry.vocab import PiiType


def directory() -> MemberDirectory:
    return MemberDirectory.from_members(
        pa.table(
            {
                "member_id": ["m1", "m2", "m3", "m4", "m5"],
                "display_name": ["Ana Maria Silva", "Will Young", "Rui Costa", "Rui Costa", "Grace"],
                "handle": ["anasilva", "wyoung", None, None, "grace_h"],
            }
        )
    )


def found(d: MemberDirectory, text: str) -> list[tuple[str, str | None, PiiType]]:
    return [(text[s.start:s.end], s.member_id, s.type) for s in d.find(text)]


def test_full_name_first_last_and_possessive():
    d = directory()
    assert found(d, "Ana Maria Silva spoke.") == [("Ana Maria Silva", "m1", PiiType.PERSON)]
    assert found(d, "I read Ana Silva's post") == [("Ana Silva", "m1", PiiType.PERSON)]
    assert found(d, "thanks ana silva!") == [("ana silva", "m1", PiiType.PERSON)]
    assert found(d, "Ana Silva’s team") == [("Ana Silva", "m1", PiiType.PERSON)]


def test_handles_carry_member_id():
    assert found(directory(), "cc @AnaSilva and @wyoung.") == [
        ("@AnaSilva", "m1", PiiType.HANDLE),
        ("@wyoung", "m2", PiiType.HANDLE),
    ]


def test_word_boundaries():
    d = directory()
    assert found(d, "Xana Silvas") == []
    assert found(d, "email@anasilva.com") == []


def test_common_words_need_capitals():
    d = directory()
    # "will young" in lower case is ordinary English; "Will Young" capitalised is the member
    assert found(d, "you will young people see") == []
    assert found(d, "met Will Young today") == [("Will Young", "m2", PiiType.PERSON)]
    # a one-word display name that is a common word is never a key on its own
    assert found(d, "Grace and mercy") == []


def test_shared_names_are_redacted_without_member_id():
    assert found(directory(), "Rui Costa scored") == [("Rui Costa", None, PiiType.PERSON)]


def test_pickles_and_scales():
    n = 20000
    d = MemberDirectory.from_members(
        pa.table(
            {
                "member_id": [f"m{i}" for i in range(n)],
                "display_name": [f"Firstname{i} Lastname{i}" for i in range(n)],
            }
        )
    )
    d2 = pickle.loads(pickle.dumps(d))
    t = "hello Firstname19999 Lastname19999 and Firstname7 Lastname7"
    assert found(d2, t) == [
        ("Firstname19999 Lastname19999", "m19999", PiiType.PERSON),
        ("Firstname7 Lastname7", "m7", PiiType.PERSON),
    ]


def test_non_latin_and_case_folding_keep_offsets():
    d = MemberDirectory.from_names(["Zoë Ørsted", "İlker Başbuğ"])
    t = "İlker Başbuğ ve Zoë Ørsted"
    assert [t[s.start:s.end] for s in d.find(t)] == ["İlker Başbuğ", "Zoë Ørsted"]
