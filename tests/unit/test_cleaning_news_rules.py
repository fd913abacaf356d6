"""Unit tests of the news-page rules: picture credits, consent placeholders, a dangling
colon line, the standfirst, trafilatura's second try and when the text-mass container
may replace trafilatura's text."""

from __future__ import annotations

import pytest
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from consumers.cleaning import html
from consumers.cleaning.dom import extract_dom
from consumers.cleaning.html import _retry, choose_base, combine, drop_link_tail, extract_html
from consumers.cleaning.standfirst import add_standfirst
from consumers.cleaning.trim import trim

BODY = [
    "Evergrande, once China's second largest developer, is to be wound up by order of a court.",
    "Analysts have long feared that its collapse would send shock waves through the economy.",
    "The company told Reuters on Monday that it would appeal against the ruling in Hong Kong.",
]


def _tree(markup: str) -> HtmlElement:
    tree = load_html(markup)
    assert tree is not None
    return tree


@pytest.mark.parametrize(
    "chrome",
    [
        "Andrea Verdelli/Getty Images",
        "STR/AFP via Getty Images",
        "IMAGO/Nico Herbertz",
        "Uwe Schubert möchte noch Punkte sammeln. Foto: KCNA/Reuters",
        "Externer Inhalt nicht verfügbar",
        "Zur Anzeige aktiviere bitte die Einstellungen in den Privatsphäre-Einstellungen.",
        "Ein Klick für den Datenschutz",
        "Czytaj więcej",
        # Captions closed by their credit, which the cases above miss: full stops inside the
        # brackets, an agency's bracketed credit, the seller after the caption's last stop.
        "The court in The Hague on Monday. (Photo: Frank van Beek / UN Photo. Courtesy of ICJ)",
        "A flag flies over a refinery complex in Carson, California. (AP Photo/Damian Dovarganes)",
        "More than 3,000 court documents have been released. (AP)",
        "Smoke rises over Lahore on May 7, 2025. Photo by ARIF ALI /AFP via Getty Images",
        "Kathyn8 | Getty Images",
        "Photograph: Scott Gilbertson; Getty Images",
        "AP Photo",
        # German broadcasters' "picture rights", with the credit or alone, and an image's
        # stand-in text.
        "Bildrechte: MDR/David Straub",
        "Bildrechte",
        "Placeholder image-2",
        # An embed's consent box, in its inflected forms.
        "An dieser Stelle finden Sie einen von unseren Redakteuren ausgewählten, externen Inhalt.",
        "Externen Inhalt anzeigen",
        "Ich bin damit einverstanden, dass mir externe Inhalte angezeigt werden.",
        # English placeholders in any case (ASCII lines are matched lower-cased).
        "ACCEPT ALL COOKIES to watch this video",
        "To View This Content, please Enable Cookies in your settings.",
        "Your browser does not support the video tag.",
        "Cookie Settings",
    ],
)
def test_picture_credits_consent_placeholders_and_lead_ins_go_anywhere(chrome: str) -> None:
    lines = [BODY[0], chrome, BODY[1], BODY[2]]
    assert trim(lines, []) == BODY


def test_prose_naming_an_agency_or_a_photo_stays() -> None:
    lines = [
        *BODY,
        "A photo taken by an AFP photographer shows the crowd outside the court.",
        "Its shares (AP and AFP reported) fell by a third on the news, to a record low of HK$0.16.",
        "Shares in rivals fell too, the data of the exchange show (Source: HKEX).",
    ]
    assert trim(lines, []) == lines


def test_a_last_line_ending_in_a_colon_is_dropped_but_not_one_inside() -> None:
    intro = "These are the three things the court decided on Monday:"
    lines = [intro, *BODY, "Mehr zur Lage lesen Sie in unserem Liveblog:"]
    assert trim(lines, []) == [intro, *BODY]


LEAD = "Evergrande must be wound up, a Hong Kong court ruled, ending two years of crisis."


def _page(lead_class: str, description: str = LEAD, lead: str = LEAD) -> HtmlElement:
    paragraphs = "".join(f"<p>{p}</p>" for p in BODY)
    return _tree(
        f'<html><head><meta name="description" content="{description}"></head><body>'
        f'<header><h1>Evergrande</h1><p class="{lead_class}">{lead}</p></header>'
        f"<article>{paragraphs}</article></body></html>"
    )


def test_the_visible_standfirst_named_as_a_lead_goes_first() -> None:
    assert add_standfirst(BODY, LEAD, _page("article-lead")) == [LEAD, *BODY]
    # A description cut short with an ellipsis finds the whole lead.
    assert add_standfirst(BODY, LEAD[:60] + "...", _page("teaser")) == [LEAD, *BODY]
    # Lines of fewer than four words (no 4-word shingle) do not hold it either.
    assert add_standfirst(["Court rules today"], LEAD, _page("lead")) == [LEAD, "Court rules today"]


def test_no_standfirst_when_present_unnamed_absent_or_a_container() -> None:
    assert add_standfirst([LEAD, *BODY], LEAD, _page("lead")) == [LEAD, *BODY]
    assert add_standfirst(BODY, LEAD, _page("text-base")) == BODY  # not named as a lead
    assert add_standfirst(BODY, LEAD, _page("lead", lead="Something else")) == BODY  # head only
    long = LEAD + " " + " ".join(BODY)
    assert add_standfirst(BODY, LEAD, _page("lead", lead=long)) == BODY  # a container
    assert add_standfirst(BODY, "Evergrande news", _page("lead")) == BODY  # too short


def test_the_standfirst_reaches_the_extracted_article() -> None:
    body = "".join(f"<p>{p} {p}</p>" for p in BODY)
    page = (
        f'<html><head><meta name="description" content="{LEAD}"></head><body>'
        f'<header><h1>Evergrande to be wound up</h1><p class="lead">{LEAD}</p></header>'
        f"<article>{body}</article></body></html>"
    )
    assert extract_html(page).paragraphs[0] == LEAD


def test_trafilatura_is_retried_only_on_a_sliver_the_container_does_not_replace() -> None:
    assert _retry(100, 0, 2000)  # the container found nothing
    assert _retry(100, 200, 2000)  # it found clearly more, not enough to extend
    assert not _retry(100, 120, 2000)  # it agrees on the size
    assert not _retry(100, 400, 2000)  # combine() extends instead
    assert not _retry(300, 0, 2000)  # not a sliver of the page


def test_the_second_try_replaces_a_short_first_pass_of_the_same_story(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    story = [f"Paragraph {n} of the story tells what happened next in the city." for n in range(9)]

    def fake(tree: HtmlElement, url: str | None, recall: bool = True) -> list[str]:
        return story[:1] if recall else story

    monkeypatch.setattr(html, "trafilatura_lines", fake)
    assert choose_base(_tree("<html><body><p>x</p></body></html>"), None, 5000).lines == story

    def unrelated(tree: HtmlElement, url: str | None, recall: bool = True) -> list[str]:
        return story[:1] if recall else [f"Other story number {n} in the list." for n in range(40)]

    monkeypatch.setattr(html, "trafilatura_lines", unrelated)
    assert choose_base(_tree("<html><body><p>x</p></body></html>"), None, 5000).lines == story[:1]


def test_teasers_of_other_articles_and_their_headlines_go() -> None:
    teaser = "Zahnarzt Jost Jahn hat den Himmelskörper entdeckt. Er trägt seinen Namen. mehr"
    lines = [*BODY, "Amrumer entdeckt bisher unbekannten Kometen", teaser]
    assert trim(lines, []) == BODY
    # A sentence that merely ends with the word is prose.
    prose = "Prices rose again, and economists expect them to rise more"
    assert trim([*BODY, prose], []) == [*BODY, prose]


def test_an_agency_sign_off_at_the_end_goes() -> None:
    for sign_off in ("(NTB)", "MDR (Engin Haupt, Alisa Sonntag)", "SDA/sep"):
        assert trim([*BODY, sign_off], []) == BODY


def _prose(n: int, topic: str) -> str:
    return "".join(
        f"<p>Paragraph {k} about {topic} goes on with enough words to count as prose here.</p>"
        for k in range(n)
    )


def test_the_text_mass_container_of_one_story_may_extend_trafilaturas() -> None:
    page = f"<html><body><nav>Home</nav><article><h1>Storm</h1>{_prose(12, 'the storm')}</article>"
    page += "<footer>About us</footer></body></html>"
    assert extract_dom(_tree(page)).one_story
    # A fragment (no body element) has no page chrome: its root holding all of it is fine.
    assert extract_dom(_tree(f"<div>{_prose(12, 'the storm')}</div>")).one_story


def test_a_container_that_is_the_whole_body_or_holds_two_stories_does_not() -> None:
    # The prose is split over separate blocks (the story, a login screen): no element below
    # the body holds most of it, so the container is the page, not one story.
    split = (
        f"<html><body><main><h1>Storm</h1>{_prose(6, 'the storm')}</main>"
        f"<section>{_prose(4, 'signing in')}</section><section>{_prose(3, 'your password')}"
        "</section></body></html>"
    )
    assert not extract_dom(_tree(split)).one_story
    # The next article appended below the first, each in an article under its own headline.
    feed = (
        f"<html><body><main><article><h1>Storm</h1>{_prose(6, 'the storm')}</article>"
        f"<article><h1>Football</h1>{_prose(6, 'the match')}</article></main></body></html>"
    )
    assert not extract_dom(_tree(feed)).one_story
    first = ["Paragraph 0 about the storm goes on with enough words to count as prose here."]
    longer = [*first, *(f"Paragraph {n} about the match, a different story." for n in range(9))]
    assert combine(first, 500, lambda: longer, one_story=False)[1] == "trafilatura"


def test_a_closing_list_of_links_to_other_articles_goes() -> None:
    related = [
        "Taiwan on alert over Chinese carrier 2024-10-14",
        "Most willing to defend Taiwan: survey",
    ]
    links = "".join(f'<li><a href="/{n}">{title}</a></li>' for n, title in enumerate(related))
    tree = _tree(f"<html><body><article>{_prose(3, 'the drills')}</article><ul>{links}</ul>")
    assert drop_link_tail([*BODY, *related], tree) == BODY


def test_linked_prose_and_links_inside_the_text_stay() -> None:
    last = "Read the court's full ruling, which runs to forty pages, on its website."
    linked = '<p>Read the court\'s <a href="/r">full ruling, which runs to forty pages</a>.</p>'
    tree = _tree(f"<html><body><p>{BODY[0]}</p>{linked}</body></html>")
    assert drop_link_tail([*BODY, last], tree) == [*BODY, last]  # only part of it is a link
    heading = "Most willing to defend Taiwan: the survey"
    tree = _tree(f'<html><body><h2><a href="/s">{heading}</a></h2></body></html>')
    assert drop_link_tail([BODY[0], heading, BODY[1]], tree) == [BODY[0], heading, BODY[1]]


@pytest.mark.parametrize(
    "credit",
    [
        "—Associated Press writer John Leicester in Paris contributed to this report.",
        "With reporting by Associated Press writer Sheikh Saaliq",
        "With reports from Reforma and El Economista",
        "First published in The Conversation.",
        'Dieser Artikel ist zuerst bei "Capital" erschienen.',
        "Sendung: Antenne Brandenburg, 24.04.2024, 15:10 Uhr",
        "Rechte: MITTELDEUTSCHER RUNDFUNK",
        "Cek berita dan artikel yg lain di Google News dan",
        "Du musst dich EINLOGGEN um einen Kommentar abzugeben.",
        "For more stories like this, check our news page.",
    ],
)
def test_closing_credits_and_calls_to_action_at_the_end_go(credit: str) -> None:
    assert trim([*BODY, credit], []) == BODY


def test_the_same_words_inside_the_story_stay() -> None:
    prose = "Reporting by the BBC first published in March showed the same gaps in the data."
    lines = [BODY[0], prose, "With reporting from the court, the paper named the firm.", BODY[1]]
    assert trim(lines, []) == lines


@pytest.mark.parametrize(
    "notice",
    [
        "Il vous reste 57.09% de cet article à lire. La suite est réservée aux abonnés.",
        "Jetzt weiterlesen mit BZ+",
        "The rest of this article is for subscribers only.",
    ],
)
def test_a_paywall_notice_ends_the_article(notice: str) -> None:
    offers = ["Lecture du Monde en cours sur un autre appareil.", "Découvrir les offres"]
    assert trim([*BODY, notice, *offers, BODY[0] + " (2)"], []) == BODY


def test_a_paywall_notice_before_any_article_text_cuts_nothing() -> None:
    lines = ["The rest of this article is for subscribers.", *BODY]
    assert trim(lines, []) == lines


def test_markup_of_more_tags_than_any_page_is_refused_at_once() -> None:
    """One table row of 100,000 cells took trafilatura 33 s (quadratic); 1.2M bare <td>s
    minutes and 1.2 GB. The largest real page of the dev corpora has 9,770 tags."""
    from consumers.cleaning.fragment import extract_fragment
    from schemas.failures import CleanError

    row = "<html><body><table><tr>" + "<td>x" * 60_000 + "</table></body></html>"
    for extract in (extract_html, extract_fragment):
        with pytest.raises(CleanError, match=r"over 50000 elements") as caught:
            extract(row)
        assert caught.value.reason == "too_large"
