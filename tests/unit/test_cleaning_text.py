"""Unit tests of the whole-page-text extractor on small hand-written pages and the seed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from consumers.cleaning.text import MODEL_PATH, TextModel, default_model, extract_text, viterbi
from consumers.cleaning.text_features import FEATURE_NAMES, block_features
from newsflow.normalize import normalize_paragraphs
from schemas.failures import CleanError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "text"


def _fixture(name: str) -> tuple[str, str]:
    page = (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")
    expected = (FIXTURES / f"{name}.expected.txt").read_text(encoding="utf-8")
    # extract_text returns its blocks normalized as clean() normalizes every article (curly
    # quotes straightened, ...), so the fixture's article text is compared in that form.
    paragraphs = normalize_paragraphs(expected.rstrip("\n").split("\n\n"))
    return page, "\n\n".join(paragraphs)


def test_seed_is_exactly_its_four_article_paragraphs() -> None:
    page, expected = _fixture("seed_000")
    result = extract_text(page)
    assert result.text == expected
    assert len(result.paragraphs) == 4
    assert result.extractor.startswith("text-")


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("cookie_nav_comments", "Harbour town votes to rebuild its flooded sea wall"),
        ("related_teasers", "Rail operator orders forty new trains for regional lines"),
        ("german", "Neue Brücke über den Fluss wird im Herbst eröffnet"),
    ],
)
def test_article_without_chrome(name: str, title: str) -> None:
    page, expected = _fixture(name)
    result = extract_text(page)
    assert result.text == expected
    assert result.title == title


def test_teasers_after_related_header_are_dropped() -> None:
    page, _ = _fixture("related_teasers")
    body = extract_text(page).text
    assert "…" not in body
    assert "(Reuters)" not in body
    assert "Related" not in body


# ESC and zero-width marks are not whitespace, but normalization drops them: nothing is left.
@pytest.mark.parametrize("text", ["", "   ", "\n\n\n", "\x1b", "\x1b\n\u200b\n\x1b"])
def test_empty_text_is_an_error(text: str) -> None:
    with pytest.raises(CleanError) as err:
        extract_text(text)
    assert err.value.reason == "empty"


def test_page_of_menus_only_has_no_article() -> None:
    with pytest.raises(CleanError) as err:
        extract_text("Home\n\nNews\n\nSport\n\nContact us\n\nPrivacy Policy\n")
    assert err.value.reason == "no_article_text"


def test_deterministic() -> None:
    page, _ = _fixture("cookie_nav_comments")
    assert extract_text(page) == extract_text(page)


@pytest.mark.timeout(60)
def test_huge_input_is_linear() -> None:
    # 400x the seed plus 50,000 menu lines, 1.5 MB in ~100,000 blocks: half a second when the
    # work is linear in the blocks, hours if it were quadratic. The timeout above is the check.
    page, _ = _fixture("seed_000")
    huge = "\n\n".join([page] * 400 + ["Menu item"] * 50_000)
    result = extract_text(huge)
    assert result.paragraphs


def test_one_giant_line() -> None:
    result = extract_text("word and more words for the text. " * 100_000)
    assert len(result.paragraphs) == 1


def test_article_after_thousands_of_menu_lines_is_found() -> None:
    page, expected = _fixture("seed_000")
    menu = "\n\n".join(f"Menu item {i}" for i in range(2000))
    body = extract_text(f"{menu}\n\n{page}").text
    assert expected in body
    assert "Leave a Reply" not in body


def test_menu_lines_alone_are_no_article_even_when_many() -> None:
    with pytest.raises(CleanError) as err:
        extract_text("\n".join(f"Menu item {i}" for i in range(5000)))
    assert err.value.reason == "no_article_text"


def test_single_newlines_separate_blocks_too() -> None:
    page, expected = _fixture("seed_000")
    single = "\n".join(line for line in page.splitlines() if line.strip())
    assert extract_text(single).paragraphs == expected.split("\n\n")


def test_page_saved_through_the_wrong_charset_reads_like_the_original() -> None:
    # UTF-8 bytes decoded as cp1252 ("Brücke" -> "BrÃ¼cke"): the blocks are repaired before
    # the features see them, so the article and its cut are the same.
    page, expected = _fixture("german")
    garbled = page.encode("utf-8").decode("cp1252", errors="replace")
    assert garbled != page
    assert extract_text(garbled).text == expected


def test_provenance_and_confidence() -> None:
    page, _ = _fixture("seed_000")
    result = extract_text(page)
    assert result.versions == {"text-mlp-hmm": f"{default_model().version}+features.4"}
    assert result.confidence is not None and 0.5 < result.confidence <= 1.0
    assert 0.0 <= result.signals["kept_probability"] <= 1.0


HINDI_BODY = [
    "नगर निगम ने सोमवार को शहर के पांच इलाकों के लिए नई बस सेवा शुरू की। अधिकारियों ने बताया कि"
    " पहले चरण में बीस बसें चलाई जाएंगी और हर पंद्रह मिनट पर एक बस मिलेगी।",
    "परिवहन विभाग के अनुसार नई बसों में महिलाओं और बुजुर्गों के लिए अलग सीटें होंगी। किराया पुरानी"
    " दरों पर ही रहेगा, ताकि रोज सफर करने वाले लोगों पर अतिरिक्त बोझ न पड़े।",
    "स्थानीय व्यापारियों ने इस फैसले का स्वागत किया है। उनका कहना है कि बेहतर परिवहन से बाजारों में"
    " ग्राहकों की संख्या बढ़ेगी और सड़कों पर जाम भी कम होगा।",
]


def test_an_article_whose_sentences_end_in_a_danda_is_found() -> None:
    # Hindi (like Bengali, Urdu, Amharic, Burmese, Khmer) ends sentences without a Latin
    # full stop: read as never ending one, a Hindi news page was "no article text".
    menu = ["होम", "वीडियो", "सर्च", "ई-पेपर", "राज्य-शहर", "स्पोर्ट्स", "बिजनेस", "राशिफल"]
    footer = ["हमारे बारे में", "संपर्क करें", "गोपनीयता नीति", "कॉपीराइट © 2026 सभी अधिकार सुरक्षित"]
    headline = "शहर में नई बस सेवा शुरू, यात्रियों को मिलेगी राहत"
    # Between the headline and the article: a dateline ("Jaipur, moments ago") and a photo
    # caption, which ends in a danda like a sentence.
    between = ["जयपुरकुछ ही क्षण पहले", "कॉपी लिंक", "परिवहन विभाग के अधिकारी नई बसों के साथ।"]
    page = "\n\n".join([*menu, headline, *between, *HINDI_BODY, *footer])
    extracted = extract_text(page)
    assert extracted.paragraphs == HINDI_BODY
    # The headline shares whole words with the article only when words keep their vowel signs
    # (newsflow/words.py); the caption is no headline.
    assert extracted.title == headline


THAI_BODY = [
    "กรุงเทพมหานครเปิดให้บริการรถโดยสารสายใหม่ในวันจันทร์ เพื่อรองรับผู้เดินทางในเขตชั้นใน"
    " และช่วยลดการใช้รถยนต์ส่วนตัวในช่วงเวลาเร่งด่วน",
    "เจ้าหน้าที่ระบุว่ารถโดยสารจะให้บริการทุกสิบห้านาที ตั้งแต่เวลาหกโมงเช้าจนถึงสี่ทุ่ม"
    " โดยค่าโดยสารยังคงเท่าเดิมสำหรับผู้โดยสารทุกคน",
    "ผู้ประกอบการในพื้นที่กล่าวว่าการเดินทางที่สะดวกขึ้นจะช่วยให้มีลูกค้ามากขึ้น และลดปัญหารถติดบนถนนสายหลักของเมือง",
]


def test_a_thai_article_without_full_stops_or_spaced_words_is_found() -> None:
    # Thai spaces clauses, not words, and has no full stop: its paragraphs were "3 words"
    # that never ended a sentence, so the page had no article (and a paragraph looked like
    # a headline).
    menu = ["หน้าแรก", "ข่าว", "กีฬา", "บันเทิง", "เศรษฐกิจ", "ต่างประเทศ"]
    footer = ["ติดต่อเรา", "นโยบายความเป็นส่วนตัว", "สงวนลิขสิทธิ์ 2026"]
    headline = "กรุงเทพฯ เปิดรถโดยสารสายใหม่ ลดรถติดในเมือง"
    extracted = extract_text("\n\n".join([*menu, headline, *THAI_BODY, *footer]))
    assert extracted.paragraphs == THAI_BODY
    assert extracted.title == headline


def _chain(states: list[str], transitions: list[list[float]], start: list[float]) -> TextModel:
    """The shipped classifier with another chain (transition weight 1: plain HMM)."""
    return replace(
        TextModel.from_dict(
            {
                **json.loads(MODEL_PATH.read_text(encoding="utf-8")),
                "states": states,
                "transitions": transitions,
                "start": start,
                "transition_weight": 1.0,
            }
        ),
        short_floor=0.0,
    )


def test_the_chain_of_parts_reads_one_article_and_lets_it_end() -> None:
    # Menu, article, a long tail of boilerplate, then a teaser that reads like article text.
    prob = np.array([0.02] * 5 + [0.95] * 6 + [0.03] * 20 + [0.9] * 2 + [0.02] * 4)
    # Two states: the chain may go back into "body" wherever the page looks like it.
    two = _chain(["boilerplate", "body"], [[0.97, 0.03], [0.07, 0.93]], [0.99, 0.01])
    assert viterbi(prob, two)[31:33] == [True, True]
    # Before / body / inside / after: once the article has ended, it has ended, and a short
    # break inside it (an ad slot) is no new start.
    parts = _chain(
        ["before", "body", "inside", "after"],
        [[0.99, 0.01, 0, 0], [0, 0.93, 0.06, 0.01], [0, 0.22, 0.78, 0], [0, 0, 0, 1]],
        [0.99, 0.01, 0, 0],
    )
    labels = viterbi(prob, parts)
    assert labels[5:11] == [True] * 6
    assert not any(labels[11:])
    ad_break = prob.copy()
    ad_break[8] = 0.1
    assert viterbi(ad_break, parts)[5:11] == [True] * 6


def test_a_two_state_model_file_still_loads() -> None:
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    del data["states"]
    data["transitions"] = [[0.97, 0.03], [0.07, 0.93]]
    data["start"] = [0.99, 0.01]
    assert TextModel.from_dict(data).body_states == (False, True)


def test_short_blocks_the_classifier_rules_out_are_dropped_even_inside_the_article() -> None:
    page, expected = _fixture("seed_000")
    # An ad slot's label after every paragraph of the article but the last.
    article = expected.split("\n\n")
    lines = []
    for line in page.split("\n"):
        lines.append(line)
        if line.strip() and normalize_paragraphs([line])[0] in article[:-1]:
            lines += ["", "Article content"]
    page = "\n".join(lines)
    model = default_model()
    assert model.short_floor > 0  # the shipped model has a floor (0.2, cross-validated)
    unfloored = extract_text(page, model=replace(model, short_floor=0.0)).paragraphs
    assert "Article content" in unfloored  # the chain keeps a block between two paragraphs
    # The floor drops short blocks only (here every one: it is at 1), and nothing else.
    floored = extract_text(page, model=replace(model, short_floor=1.0)).paragraphs
    assert floored == [p for p in unfloored if len(p.split()) > model.short_words]
    assert floored == article


def test_run_overlap_tells_a_caption_from_a_teaser_inside_the_article() -> None:
    """A caption names the article's people and places; a teaser of another story does not."""
    article = [
        "The harbour authority in Rotterdam said on Monday that container traffic fell sharply.",
        "Rotterdam handled fewer containers than in any month since the pandemic, it said.",
        "Shipping lines blamed the strike by harbour pilots, which began two weeks ago.",
        "The pilots' union said the strike in Rotterdam would go on until wages rise.",
    ]
    caption = "Containers stacked in the Rotterdam harbour during the pilots' strike"
    teaser = "Celebrity chef opens vegan bakery downtown"
    blocks = ["Home", "News", article[0], article[1], caption, article[2], teaser, article[3]]
    features = block_features(blocks)
    overlap = features[:, FEATURE_NAMES.index("run_overlap")]
    assert overlap[4] > 0.5  # the caption's words are the article's
    assert overlap[6] == 0.0  # the teaser shares none
    # A paragraph's own words do not count for it: only what the other blocks say.
    assert 0.0 < overlap[2] < 1.0
    assert overlap[0] == 0.0  # "Home": no content word in the article


def test_copies_of_a_block_do_not_vouch_for_each_other() -> None:
    """A template's placeholder paragraph repeated through the page is not the article's."""
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."
    article = [
        "The harbour authority in Rotterdam said on Monday that container traffic fell sharply.",
        "Rotterdam handled fewer containers than in any month since the pandemic, it said.",
    ]
    blocks = [filler, filler, filler, filler, *article]
    overlap = block_features(blocks)[:, FEATURE_NAMES.index("run_overlap")]
    assert overlap[:4].tolist() == [0.0] * 4
    assert min(overlap[4:]) > 0.0  # the article's paragraphs share "Rotterdam", "containers"
