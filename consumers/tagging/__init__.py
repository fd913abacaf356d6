"""Tagging stage: language, named entities, keywords, IPTC topics and countries of an article.

``load_tagger().tag(title, paragraphs) -> schemas.Tags``. Nothing is loaded at import time;
the first ``load_tagger()`` call loads the spaCy NER model and the language detector (offline).
The taxonomy and methods are documented in ``docs/taxonomy.md``.
"""

from consumers.tagging.tagger import (
    TAGGER_NAME,
    TAGGER_VERSION,
    Tagger,
    TaggerOptions,
    load_tagger,
)

__all__ = ["TAGGER_NAME", "TAGGER_VERSION", "Tagger", "TaggerOptions", "load_tagger"]
