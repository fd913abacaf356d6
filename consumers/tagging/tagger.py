"""The tagging stage: title and paragraphs in, a ``schemas.Tags`` out. Pure, no network."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version
from typing import Any

from consumers.tagging import countries, entities, keywords, language, topics
from consumers.tagging.language import LanguageDetector
from consumers.tagging.ner import NerModels
from consumers.tagging.text import plain_words, tokens
from schemas.article import Tag, TagKind, Tags

TAGGER_NAME = "newsflow-tagger"
# Bump on any change that alters the tags produced for the same input.
TAGGER_VERSION = "0.5.10"
KEYWORDS_VERSION = "newsflow-keywords/3"


@dataclass(frozen=True)
class TaggerOptions:
    """Knobs that trade recall for speed."""

    ner: entities.PlanOptions = field(default_factory=entities.PlanOptions)
    max_words: int = 2000  # topics and countries read this many words
    keyword_words: int = 400  # keyword statistics read this many words of the body
    max_entities: int = 30
    max_keywords: int = 10


@dataclass(frozen=True)
class _Prepared:
    title: str
    body: str
    # The first ``max_words`` words of the body (topics, countries, name planning).
    words: list[str]
    language: str | None
    language_score: float | None
    # The language whose models tag it: the detected one, English when undecided.
    lang: str
    plan: entities.Plan | None


class Tagger:
    """Tags articles: language, entities, keywords, IPTC topics and countries."""

    def __init__(
        self,
        detector: LanguageDetector,
        ner: NerModels | None = None,
        options: TaggerOptions | None = None,
    ) -> None:
        self.detector = detector
        self.ner = ner if ner is not None else NerModels()
        self.options = options or TaggerOptions()
        self._versions = {
            "spacy": version("spacy"),
            detector.name: detector.version,
            "pycountry": version("pycountry"),
            "stopwordsiso": version("stopwordsiso"),
        }
        self._described: dict[str, tuple[str, str]] = {}

    @classmethod
    def load(cls, options: TaggerOptions | None = None) -> Tagger:
        """Load the language detector (about 1 s, offline); NER models load per language."""
        return cls(LanguageDetector(), NerModels(), options)

    def warm_up(self, languages: Iterable[str] | None = None) -> None:
        """Loads the NER models of ``languages`` (default: every one) and every stop-word
        list now instead of on the first article, and tags one English sentence.

        A streaming worker calls this before it takes messages: loading a model costs seconds
        of CPU, which would count against the first article's time limit. (Its stage loads
        English only, the fallback of every undecided text, and asks for more time when
        another language's first article comes: consumers.stages.)
        """
        wanted = self.ner.languages if languages is None else set(languages)
        for lang in sorted(self.ner.languages):
            if lang in wanted:
                self.ner.get(lang)
            keywords.stopwords(lang)
        self.tag("Warm-up", ["The ministry said on Monday that output rose in Paris."])

    def _prepare(self, title: str | None, paragraphs: Sequence[str]) -> _Prepared:
        title = (title or "").strip()
        paras = [p.strip() for p in paragraphs if p and p.strip()]
        body = "\n\n".join(paras)
        head = body[: language.MAX_CHARS]
        lang, score = self.detector.detect(f"{title}\n\n{head}" if title else head)
        # An undecided language is usually a short English snippet: English models cost little.
        use = lang or "en"
        # Words average under 8 characters: cutting the text first spares tokenizing the tail.
        words = plain_words(body[: self.options.max_words * 8])[: self.options.max_words]
        plan = None
        if use in self.ner.languages and (body or title):
            stop = keywords.stopwords(use)
            function = keywords.function_words(use)
            plan = entities.plan(title, body, use, stop, self.options.ner, words, function)
        return _Prepared(title, body, words, lang, score, use, plan)

    def _ner(self, prepared: list[_Prepared]) -> list[list[Any]]:
        """NER docs for each article, one ``nlp.pipe`` batch per language."""
        docs: list[list[Any]] = [[] for _ in prepared]
        by_lang: dict[str, list[int]] = {}
        for i, p in enumerate(prepared):
            if p.plan is not None and p.plan.texts:
                by_lang.setdefault(p.lang, []).append(i)
        for lang, idx in by_lang.items():
            nlp = self.ner.get(lang)
            assert nlp is not None  # a plan is made only for languages with a model
            texts = [t for i in idx for t in prepared[i].plan.texts]  # type: ignore[union-attr]
            out = iter(list(nlp.pipe(texts)))
            for i in idx:
                docs[i] = [next(out) for _ in prepared[i].plan.texts]  # type: ignore[union-attr]
            self.ner.check_vocab(lang)
        return docs

    def ner_texts(self, title: str | None, paragraphs: Sequence[str]) -> tuple[str, list[str]]:
        """The language whose NER model would read this article, and the texts it would read
        (the title and the windows around its names; none when the language has no model).
        The benchmarks time the model alone on them: the part of tagging no rule can spare."""
        p = self._prepare(title, paragraphs)
        return p.lang, list(p.plan.texts) if p.plan is not None else []

    def tag(self, title: str | None, paragraphs: Sequence[str]) -> Tags:
        """Tags for one article (``title`` may be None; ``paragraphs`` may be empty)."""
        p = self._prepare(title, paragraphs)
        return self._finish(p, self._ner([p])[0])

    def tag_many(self, articles: Iterable[tuple[str | None, Sequence[str]]]) -> list[Tags]:
        """Tags for many articles, running NER in one batch per language."""
        prepared = [self._prepare(t, ps) for t, ps in articles]
        return [self._finish(p, d) for p, d in zip(prepared, self._ner(prepared), strict=True)]

    def _finish(self, p: _Prepared, docs: list[Any]) -> Tags:
        opts = self.options
        lang = p.lang
        title_toks = tokens(p.title)
        body_words = p.words
        # Only keywords need sentences and segments, and only over the first few hundred words.
        kw_toks = tokens(p.body[: opts.keyword_words * 8]).head(opts.keyword_words)

        names = countries.country_table(lang)
        ents: list[entities.Entity] = []
        if p.plan is not None:
            ents = entities.collect(docs, names.get, p.plan.known)
            entities.score(ents, p.title, p.body)
            ents = ents[: opts.max_entities]
        place_labels = entities.PLACE_LABELS | {"NORP"}
        places = [v for e in ents if e.label in place_labels for v in e.variants]
        found_countries = countries.find_countries(title_toks.text + body_words, places, lang)

        kws = keywords.extract(kw_toks, title_toks, lang, opts.max_keywords)
        tops = topics.classify(title_toks.text, body_words, lang)
        models, unsupported = self._provenance(p, docs)
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
            unsupported=unsupported,
        )

    def _provenance(self, p: _Prepared, docs: list[Any]) -> tuple[dict[str, str], list[TagKind]]:
        """What produced each kind of tag for this article, and the kinds its language lacks."""
        lang = p.lang
        models = dict(self._versions)
        unsupported: list[TagKind] = []
        models["language"] = f"{self.detector.name} {self.detector.version}"
        if not (p.body or p.title):
            for kind in ("entities", "keywords", "topics", "countries"):
                models[kind] = "skipped: no text"
            return models, unsupported
        if lang in self.ner.languages:
            # Once per language, not per article: package metadata and spaCy's ``nlp.meta``
            # (rebuilt on every access) cost about a millisecond. (Nor is the pipeline asked
            # for on every article: one dropped for its vocabulary reloads on the next.)
            if lang not in self._described:
                self._described[lang] = NerModels.describe(self.ner.get(lang))
            package, description = self._described[lang]
            models["entities"] = f"{description} ner on names in context"
            models[package] = description.rsplit(" ", 1)[1]
        else:
            models["entities"] = f"unsupported: no NER model for language {lang}"
            unsupported.append("entities")
        if keywords.supported(lang):
            models["keywords"] = f"{KEYWORDS_VERSION} stopwords:{keywords.stopword_sources(lang)}"
        else:
            models["keywords"] = f"unsupported: no word segmentation or stopwords for {lang}"
            unsupported.append("keywords")
        if topics.supported(lang):
            models["topics"] = f"iptc-mediatopics-top lexicon-{lang}/{topics.LEXICON_VERSION}"
        else:
            models["topics"] = f"unsupported: no topic lexicon for language {lang}"
            unsupported.append("topics")
        local = "en" if lang == "en" else countries.names_language(lang)
        models["countries"] = f"pycountry {self._versions['pycountry']} names:{local}"
        return models, unsupported


@cache
def load_tagger() -> Tagger:
    """The process-wide tagger, loaded on first use (models load once per process)."""
    return Tagger.load()
