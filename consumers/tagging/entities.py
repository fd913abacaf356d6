"""Named entities (persons, organizations, places) from spaCy's English NER, with salience.

NER is the expensive part of tagging (about 0.04 ms per word on one core), so it reads only
the title and the lead of the article: whole paragraphs up to ``max_words`` words. News puts
who and where first, so this loses little; a name first met deep in a long article is missed.
Salience is then measured over the whole text by counting mentions of each entity found.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from consumers.tagging.text import clean_word, sentences

if TYPE_CHECKING:  # spaCy is imported when the model is loaded, not with this module
    from spacy.tokens import Doc

KEPT_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP"})
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
_STRIP = " \t\n\"'“”‘’,;:()[]{}-–—*"
_SPACE_RE = re.compile(r"\s+")
_POSSESSIVE_RE = re.compile(r"['’]s?$")
_INNER_CAPITAL_RE = re.compile(r"(?<=[\w,;:] )[A-Z][\w’'.-]+")
# Capitalized inside sentences without being names.
_COMMON_CAPITALIZED = frozenset(
    "i i'm i've i'll i'd ok tv faq pdf url".split()  # noqa: SIM905 -- reads better as text
)
_SENTENCE_END_RE = re.compile(r"[.!?…][\"”’)]*\s")
MAX_ENTITY_WORDS = 8
# Word budgets are also character budgets at this many characters a word, so that text
# without spaces (a URL dump, a mislabelled binary) cannot hand NER a huge "word".
MAX_WORD_CHARS = 12
MAX_TITLE_CHARS = 400
# How far past its budget the lead may run to finish a sentence, as a share of the budget.
LEAD_OVERFLOW = 0.5
# How far past the lead to look for name-bearing sentences.
SCAN_CHARS = 20_000
# Salience = weighted mix of mention frequency, earliness and presence in the title.
W_FREQ, W_POS, W_TITLE = 0.5, 0.3, 0.2


@dataclass
class Entity:
    """One entity of the article: its best name, label and where it is mentioned."""

    value: str
    label: str
    variants: set[str] = field(default_factory=set)
    labels: Counter[str] = field(default_factory=Counter)
    mentions: int = 0
    first: int = -1
    in_title: bool = False
    score: float = 0.0


def lead_end(body: str, max_words: int) -> int:
    """Where the NER lead of ``body`` ends: whole paragraphs up to ``max_words`` words.

    A paragraph that crosses the budget is cut at a sentence end: the one that closes the
    sentence in progress if it comes within ``LEAD_OVERFLOW`` more words (a lead sentence is
    worth finishing: cutting "the Ministry of | Industry" breaks a name), else the last one
    inside the budget, else at the budget word.
    """
    return min(_lead_end(body, max_words), int(max_words * (1 + LEAD_OVERFLOW)) * MAX_WORD_CHARS)


def _lead_end(body: str, max_words: int) -> int:
    words = 0
    for m in re.finditer(r"\S+|\n\s*\n", body):
        tok = m.group()
        if tok.startswith("\n"):
            if words >= max_words * 0.6:
                return m.start()
            continue
        words += 1
        if words > max_words:
            ahead = body[m.start() : m.start() + int(max_words * LEAD_OVERFLOW) * MAX_WORD_CHARS]
            close = _SENTENCE_END_RE.search(ahead)
            if close and len(ahead[: close.end()].split()) <= max_words * LEAD_OVERFLOW:
                return m.start() + close.end()
            head = body[: m.start()]
            ends = list(_SENTENCE_END_RE.finditer(head))
            return ends[-1].end() if ends and ends[-1].end() > len(head) // 2 else m.start()
    return len(body)


def name_sentences(body: str, start: int, max_words: int) -> str:
    """Sentences after the lead that best cover the names it repeats, up to a word budget.

    Capitalized words inside sentences (not the first word) are likely names; those repeated
    most often are likely the article's main entities. Greedily, for the most frequent name
    not yet covered, the shortest sentence holding it is picked (it also covers the other
    names it holds), until the budget is spent. NER then labels each name from one context;
    ``score`` counts every mention over the whole text.
    """
    window = body[start : start + SCAN_CHARS]
    sents: list[tuple[str, set[str]]] = []
    freq: Counter[str] = Counter()
    for _, sent in sentences(window):
        found = _INNER_CAPITAL_RE.findall(sent)
        if not found:
            continue
        names = {n for n in map(clean_word, found) if n.lower() not in _COMMON_CAPITALIZED}
        if names:
            sents.append((sent, names))
            freq.update(names)
    picked: list[int] = []
    covered: set[str] = set()
    words = chars = 0
    max_chars = max_words * MAX_WORD_CHARS
    for name, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0])):
        if name in covered:
            continue
        best: int | None = None
        for k, (sent, names) in enumerate(sents):
            if (
                name in names
                and k not in picked
                and (best is None or len(sent) < len(sents[best][0]))
            ):
                best = k
        if best is None:
            continue
        sent, names = sents[best]
        n = len(sent.split())
        if words + n > max_words or chars + len(sent) > max_chars:
            continue
        picked.append(best)
        covered |= names
        words += n
        chars += len(sent) + 2
        if words >= max_words:
            break
    # Reading order, so that NER sees sentences as the text has them.
    return "\n\n".join(sents[k][0] for k in sorted(picked))


def normalize(text: str) -> str:
    """Entity surface form without articles, possessives, quotes or line breaks."""
    text = _SPACE_RE.sub(" ", text).strip(_STRIP)
    if text[:4].lower() == "the ":
        text = text[4:]
    text = _POSSESSIVE_RE.sub("", text).strip(_STRIP)
    # A final dot is the sentence's unless the name is an abbreviation ("U.S.", "R.D.").
    if text.endswith(".") and text.count(".") == 1:
        text = text[:-1].rstrip(_STRIP)
    return text


def _acceptable(value: str) -> bool:
    if len(value) < 2 or not any(c.isupper() for c in value):
        return False
    # A stray letter before the name is a tokenization slip ("s Note" from "Editor’s Note").
    if value[1] == " " and value[0].islower():
        return False
    return len(value.split()) <= MAX_ENTITY_WORDS and any(c.isalpha() for c in value)


def _ends(name: str) -> tuple[str, str]:
    words = name.split()
    return words[0], words[-1]


def collect(docs: list[Doc], country_of: Callable[[str], str | None] | None = None) -> list[Entity]:
    """Entities from NER docs, merged by normalized name; partial person names merged.

    With ``country_of``, places naming the same country ("US", "U.S.", "United States") are
    merged too, under the name NER found most often.
    """
    by_key: dict[str, Entity] = {}
    for doc in docs:
        for ent in doc.ents:
            if ent.label_ not in KEPT_LABELS:
                continue
            value = normalize(ent.text)
            if not _acceptable(value):
                continue
            key = value.lower()
            e = by_key.get(key)
            if e is None:
                e = by_key[key] = Entity(value, ent.label_)
            e.variants.add(value)
            e.labels[ent.label_] += 1
    for e in by_key.values():
        e.label = e.labels.most_common(1)[0][0]
    # "Huang" after "Huang Libin": same person when it is the first or last word of a full
    # name found in the same article (only when exactly one full name matches).
    full = [e for e in by_key.values() if e.label == "PERSON" and " " in e.value]
    for key, e in list(by_key.items()):
        if e.label != "PERSON" or " " in e.value:
            continue
        owners = [f for f in full if key in _ends(f.value.lower())]
        if len(owners) == 1:
            owners[0].variants |= e.variants
            del by_key[key]
    if country_of is not None:
        by_country: dict[str, Entity] = {}
        for key, e in sorted(by_key.items(), key=lambda kv: -kv[1].labels.total()):
            code = country_of(e.value) if e.label in PLACE_LABELS else None
            if code is None:
                continue
            owner = by_country.setdefault(code, e)
            if owner is not e:
                owner.variants |= e.variants
                owner.labels.update(e.labels)
                del by_key[key]
    return list(by_key.values())


def score(entities: list[Entity], title: str, text: str) -> None:
    """Count mentions of every entity over ``title + text`` and set its salience score."""
    if not entities:
        return
    owner: dict[str, Entity] = {}
    for e in entities:
        for v in e.variants:
            owner.setdefault(v, e)
    # Longest first so that "Huang Libin" is one mention, not also a "Huang".
    pattern = "|".join(re.escape(v) for v in sorted(owner, key=len, reverse=True))
    full = f"{title}\n\n{text}" if title else text
    title_end = len(title) if title else 0
    for m in re.finditer(rf"(?<!\w)(?:{pattern})(?!\w)", full):
        e = owner[m.group()]
        e.mentions += 1
        if e.first < 0:
            e.first = m.start()
        if m.start() < title_end:
            e.in_title = True
    size = max(len(full), 1)
    for e in entities:
        # Found by NER, so at least one mention even if normalization changed its form.
        mentions = max(e.mentions, 1)
        first = e.first if e.first >= 0 else size
        freq = mentions / (mentions + 2)
        pos = 1.0 - first / size
        e.score = round(W_FREQ * freq + W_POS * pos + W_TITLE * float(e.in_title), 4)
    entities.sort(key=lambda e: (-e.score, e.first if e.first >= 0 else 1 << 30, e.value))
