"""Keywords: a statistical scorer over stopword-free word runs, no model and no background.

Candidates are 1- to 3-word n-grams inside runs of content words (runs stop at stopwords and
punctuation). Each word gets a weight from its frequency and how early it first appears:
``(1 + ln tf) * (1 + 1 / sqrt(1 + first sentence index))``. A candidate scores the mean weight
of its words times ``1 + ln(candidate count)``; a multi-word candidate seen at least twice gets
a bonus for its length (a repeated phrase is more specific than its words), one seen once a
penalty (it may be a chance neighbourhood) unless it is a name ("Hong Kong"). Candidates in
the title get a bonus.

The best candidates are kept, skipping near-repeats of one already kept: a subset of it, a
superset of a kept phrase, a superset of a kept word unless seen twice, or one sharing more
than half of its words. Scores are divided by the best one so they are in (0, 1].

Stopwords come from spaCy's language data (bundled with spaCy, no model), plus words too
generic for news ("said", "year", "percent"; ``lexicons/generic-<lang>.txt`` for English,
German, French and Spanish). The other languages' spaCy lists miss some of their commonest
words (Swedish "är", Danish "sin", Russian "ни" were keywords): there, stopwords-iso's list
(a PyPI package of data, MIT) is added, which also covers languages spaCy has no list for
(Swahili, Zulu, Somali...). A language with no stopwords at all, or written without spaces
(Japanese, Chinese, Thai), gets no keywords.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from functools import cache, lru_cache
from importlib.util import find_spec, module_from_spec, spec_from_file_location
from itertools import compress
from pathlib import Path

from consumers.tagging import lexicons
from consumers.tagging.text import WORD_CACHE, Words, fold_german, lower_singular


@cache
def generic_words(language: str) -> frozenset[str]:
    """Words that are everywhere in news and never what an article is about ("said", "year").

    From ``lexicons/generic-<language>.txt``; empty for a language without such a list.
    """
    return frozenset((lexicons.read("generic", language) or "").split())


# Languages that capitalize every noun. There a word never written capitalized except at a
# sentence start is a verb, adjective or adverb ("bleibt", "zuvor", "wichtig"): not a keyword
# alone, nor the end of one ("Palästinenser erschossen"), since a German noun phrase ends in
# its noun. 79 of the 110 German fundus-news-dev articles had such a keyword. Their words are
# counted by their stem: "Kinder" and "Kindern", "Trump" and "Trumps" are one keyword (20
# articles had both).
NOUNS_CAPITALIZED: dict[str, Callable[[str], str]] = {"de": fold_german}
# Languages written without spaces between words: our word runs would be whole clauses.
UNSPACED = frozenset({"ja", "zh", "th", "lo", "km", "my", "bo"})


def supported(language: str) -> bool:
    """Whether keywords can be extracted: the language has stopwords and spaces."""
    return language not in UNSPACED and bool(stopwords(language))


# spaCy's code for a language where the language detector's differs: py3langid names
# Norwegian (Bokmål) "no", spaCy "nb".
_SPACY_CODES = {"no": "nb"}


@cache
def function_words(language: str) -> frozenset[str]:
    """spaCy's stopwords for the language (empty if spaCy has none), without news words."""
    code = _SPACY_CODES.get(language, language)
    listed = _spacy_stop_words(code)
    if listed is not None:
        return listed
    try:  # a language whose list is not in a file of its own (Nynorsk)
        from spacy.util import get_lang_class

        return frozenset(get_lang_class(code).Defaults.stop_words)
    except Exception:  # an unknown language code: no stopwords rather than no keywords
        return frozenset()


def _spacy_stop_words(code: str) -> frozenset[str] | None:
    """``STOP_WORDS`` of spaCy's ``spacy/lang/<code>/stop_words.py``, read from that file alone
    (None when there is none).

    Not by importing the language, as ``get_lang_class(code).Defaults.stop_words`` does: that
    runs the package's ``__init__``, which imports its tokenizer exceptions, and French
    compiles patterns there for 4-7 s of CPU, inside the first French article's time limit.
    The files hold the list alone (no imports), and the lists are the same as the classes'
    for every language spaCy has (a unit test checks).
    """
    if not code.isascii() or not code.isalpha():
        return None  # not a language code: no path is built from it
    spec = find_spec("spacy")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0], "lang", code, "stop_words.py")
    if not path.is_file():
        return None
    # Run as a module of its own (not entered in sys.modules): spaCy's file, as installed.
    file_spec = spec_from_file_location(f"_newsflow_spacy_stop_words_{code}", path)
    if file_spec is None or file_spec.loader is None:
        return None
    module = module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    words = getattr(module, "STOP_WORDS", None)
    return frozenset(words) if isinstance(words, set | frozenset) else None


@cache
def stopwords(language: str) -> frozenset[str]:
    """The words that are never (part of) a keyword: function words and news words.

    spaCy's list plus our news words where we have them (their lists were checked together);
    elsewhere spaCy's list plus stopwords-iso's. Empty when neither has the language.
    """
    generic = generic_words(language)
    if generic:
        return function_words(language) | generic
    return function_words(language) | iso_stopwords(language)


@cache
def iso_stopwords(language: str) -> frozenset[str]:
    """stopwords-iso's list for the language (empty if it has none).

    Read from the package's data file, not imported: its module keeps all 58 languages in
    memory for good (7 MB of the stage child's 400 MB budget); this keeps the ones in use.
    """
    spec = find_spec("stopwordsiso")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    data = Path(spec.submodule_search_locations[0], "stopwords-iso.json").read_text("utf-8")
    return frozenset(w.lower() for w in json.loads(data).get(language, ()))


def stopword_sources(language: str) -> str:
    """Where the language's stopwords come from, for the tags' provenance."""
    names = [f"spacy-{_SPACY_CODES.get(language, language)}"] if function_words(language) else []
    if generic_words(language):
        names.append(f"generic-{language}")
    elif iso_stopwords(language):
        names.append(f"stopwords-iso-{language}")
    return "+".join(names)


@cache
def _content_test(language: str) -> Callable[[str], bool]:
    """Whether a word may be part of a keyword, memoized: the same words recur everywhere."""
    stop = stopwords(language)

    @lru_cache(maxsize=WORD_CACHE)
    def content(w: str) -> bool:
        return (
            len(w) > 1
            and not w.isdigit()
            and w.lower() not in stop
            # Contractions ("they're") are function words the stopword lists spell differently.
            and "'" not in w
            and "’" not in w
            and any(c.isalpha() for c in w)
        )

    return content


def _normalizer(language: str) -> Callable[[str], str]:
    """How words of the language are counted as one: their singular, stem or lowercase."""
    if language == "en":
        return lower_singular
    return NOUNS_CAPITALIZED.get(language, str.lower)


def _surface(body: Words, at: int, key: tuple[str, ...], lowercase: set[str]) -> str:
    """How a keyword is shown: its words as at ``at``, common nouns lowercase.

    A common word capitalized inside a sentence next to a name is part of that name: "Kansas
    City", "South Africa", "Jasper Park Lodge" (shown as "Kansas city", "south Africa" in 10
    fundus-news-dev and 133 wcxb-dev articles when every common word was lowercased).
    """
    written = body.text[at : at + len(key)]
    common = [norm in lowercase for norm in key]
    if len(key) > 1 and any(w[0].isupper() and not c for w, c in zip(written, common, strict=True)):
        sentence = body.sentence
        inner = [i > 0 and sentence[i - 1] == sentence[i] for i in range(at, at + len(key))]
        # Only a capital inside a sentence says so: "Former" at a sentence start does not.
        common = [
            c and not (w[0].isupper() and n) for w, c, n in zip(written, common, inner, strict=True)
        ]
    return " ".join(w.lower() if c else w for w, c in zip(written, common, strict=True))


def candidates(
    norms: list[str], content: list[bool], segment: list[int]
) -> tuple[list[tuple[str, ...]], list[int]]:
    """Every 1- to 3-gram of consecutive content words within one segment, and its position.

    Listed by length, then position: all words, then all pairs, then all triples.
    """
    # A word's run: its segment if it is a content word, else -1 (no run). An n-gram at ``a``
    # is a candidate when its n words are in one run.
    run = [seg if ok else -1 for seg, ok in zip(segment, content, strict=True)]
    grams: list[tuple[str, ...]] = [(w,) for w, r in zip(norms, run, strict=True) if r >= 0]
    starts = [a for a, r in enumerate(run) if r >= 0]
    pairs = [
        (a, (w, v))
        for a, (w, v, r, q) in enumerate(zip(norms, norms[1:], run, run[1:], strict=False))
        if r >= 0 and r == q
    ]
    triples = [
        (a, (w, v, u))
        for a, (w, v, u, r, q, p) in enumerate(
            zip(norms, norms[1:], norms[2:], run, run[1:], run[2:], strict=False)
        )
        if r >= 0 and r == q == p
    ]
    for found in (pairs, triples):
        starts += [a for a, _ in found]
        grams += [g for _, g in found]
    return grams, starts


def extract(body: Words, title: Words, language: str, top_n: int = 10) -> list[tuple[str, float]]:
    """The ``top_n`` keywords of the text with scores in (0, 1], best first.

    Empty for a language ``supported`` rejects: without stopwords every run of words is a
    candidate, and without spaces a run is a whole clause.
    """
    if not supported(language):
        return []
    norm_of = _normalizer(language)
    norms = list(map(norm_of, body.text))
    nouns_capitalized = language in NOUNS_CAPITALIZED
    content = list(map(_content_test(language), body.text))
    # Words ever written in lowercase are common nouns; the others (names) keep their case.
    lowercase = {
        norm
        for word, norm, ok in zip(body.text, norms, content, strict=True)
        if ok and word.islower()
    }
    grams, starts = candidates(norms, content, body.segment)
    # The C loops of Counter and dict do the counting (a Python step per candidate cost more
    # than the scoring). A key's first position: built from the end, the earliest one stays.
    count = Counter(grams)
    first = dict(zip(reversed(grams), reversed(starts), strict=True))
    tf = Counter(compress(norms, content))
    # The sentence where each content word is first seen.
    first_sent = dict(reversed(list(compress(zip(norms, body.sentence, strict=True), content))))
    weight = {
        w: (1.0 + math.log(c)) * (1.0 + 1.0 / math.sqrt(1 + first_sent[w])) for w, c in tf.items()
    }

    title_list = list(map(norm_of, title.text))
    title_norms = " " + " ".join(title_list) + " "
    # A candidate can be in the title only if all its words are: one set test spares most
    # candidates the phrase search.
    title_words = frozenset(title_list)
    # Sorted as (-score, first, key): the same order as sorting by that key, without a key
    # function call per candidate.
    scored: list[tuple[float, int, tuple[str, ...]]] = []
    for key, n_key in count.items():
        if nouns_capitalized and key[-1] in lowercase:
            continue
        # Exactly the mean weight times 1 + ln(count): a one-word mean is its weight, and
        # ln(1) is 0.
        # Written out, the sum adds left to right as ``sum`` did (on Python 3.11).
        size = len(key)
        if size == 1:
            s = weight[key[0]]
        elif size == 2:
            s = (weight[key[0]] + weight[key[1]]) / 2
        else:
            s = (weight[key[0]] + weight[key[1]] + weight[key[2]]) / 3
        if n_key > 1:
            s *= 1.0 + math.log(n_key)
        if size > 1:
            if n_key > 1:
                s *= 1.0 + 0.4 * (size - 1)
            elif not lowercase.isdisjoint(key):
                s *= 0.7
            else:
                # A name ("Hong Kong") is one keyword even if seen once, not two halves.
                s *= 1.1
        if title_words.issuperset(key) and f" {' '.join(key)} " in title_norms:
            s *= 1.5
        scored.append((-s, first[key], key))
    scored.sort()

    chosen: list[tuple[str, float, frozenset[str]]] = []
    for neg, _, key in scored:
        s = -neg
        words = frozenset(key)
        n_key, at = count[key], first[key]
        # Skip near-repeats of a kept keyword: a subset ("steel" after "steel production") or
        # a majority overlap ("easy diy wood" after "diy wood projects"). A superset of a kept
        # word is kept only if it is a repeated phrase ("carbon neutralization" twice).
        if any(
            words <= w
            or (w < words and (n_key < 2 or len(w) > 1))
            or (not w < words and 2 * len(words & w) > min(len(words), len(w)))
            for _, _, w in chosen
        ):
            continue
        surface = _surface(body, at, key, lowercase)
        chosen.append((surface, s, words))
        if len(chosen) >= top_n:
            break
    if not chosen:
        return []
    best = chosen[0][1]
    return [(surface, round(s / best, 4)) for surface, s, _ in chosen]
