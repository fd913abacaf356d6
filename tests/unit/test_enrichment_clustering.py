"""Story grouping on fingerprints from the real cleaner: copies group, unrelated text does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsflow.enrichment.clustering import Member, assign_stories, same_story, story_id_for
from newsflow.similarity import minhash, simhash

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_3d09ccc959e3e02c.txt"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed_paragraphs() -> list[str]:
    return SEED.read_text(encoding="utf-8").split("\n\n")[:4]


def member(doc_id: str, paragraphs: list[str], title: str = "", **kw: object) -> Member:
    text = "\n\n".join(paragraphs)
    return Member(
        id=doc_id,
        simhash=simhash(text),
        minhash=tuple(minhash(text)),
        title=title,
        body_chars=len(text),
        **kw,  # type: ignore[arg-type]
    )


UNRELATED = [
    "The city council approved a new budget for public libraries on Monday evening.",
    "Librarians said the money would extend opening hours and buy new children's books.",
]


def test_near_identical_copies_share_a_story_and_unrelated_does_not() -> None:
    paras = seed_paragraphs()
    edited = [*paras[:3], paras[3].replace("Huang Libin", "Huang Libin, Xinhua reported")]
    a = member("a", paras, published_at=T0 + timedelta(hours=1))
    b = member("b", edited, published_at=T0)
    c = member("c", UNRELATED, published_at=T0)
    assert same_story(a, b)
    assert not same_story(a, c)
    stories = assign_stories([a, b, c])
    assert stories["a"].story_id == stories["b"].story_id
    assert stories["c"].story_id != stories["a"].story_id
    # The earliest published copy is canonical, and the story id is its id's hash.
    assert stories["b"].canonical and not stories["a"].canonical
    assert stories["a"].story_id == story_id_for("b")
    assert stories["a"].size == 2 and stories["c"].size == 1


def test_story_id_does_not_depend_on_arrival_order() -> None:
    paras = seed_paragraphs()
    members = [
        member("x1", paras, published_at=T0),
        member("x2", paras[:3], published_at=T0 + timedelta(minutes=5)),
        member("y", UNRELATED, published_at=T0),
    ]
    forward = assign_stories(members)
    backward = assign_stories(list(reversed(members)))
    assert forward == backward


def test_same_story_by_title_needs_shared_entities() -> None:
    ents = frozenset({"huang libin", "ministry of industry and information technology"})
    a = Member(id="a", title="China to cut steel output to hit carbon peak", entities=ents)
    b = Member(id="b", title="China to cut steel output, carbon peak in sight", entities=ents)
    c = Member(id="c", title="China to cut steel output, carbon peak in sight")
    assert same_story(a, b)
    assert not same_story(a, c)


def test_same_title_and_entities_far_apart_in_time_are_different_stories() -> None:
    ents = frozenset({"federal reserve", "jerome powell"})
    title = "Federal Reserve holds interest rates steady, Powell says"
    march = Member(id="a", title=title, entities=ents, published_at=T0)
    next_day = Member(id="b", title=title, entities=ents, published_at=T0 + timedelta(days=1))
    june = Member(id="c", title=title, entities=ents, published_at=T0 + timedelta(days=90))
    assert same_story(march, next_day)
    assert not same_story(march, june)
    # A near-duplicate body is the same story whenever it runs (a syndicated re-run).
    copy = Member(id="d", simhash="0f0f0f0f0f0f0f0f", published_at=T0)
    rerun = Member(id="e", simhash="0f0f0f0f0f0f0f0f", published_at=T0 + timedelta(days=90))
    assert same_story(copy, rerun)
    # Without dates there is nothing to tell them apart by.
    assert same_story(Member(id="f", title=title, entities=ents), june)


def test_existing_story_is_kept_together() -> None:
    a = Member(id="a", story_id="s-old", published_at=T0)
    b = Member(id="b", story_id="s-old", published_at=T0 + timedelta(hours=1))
    stories = assign_stories([a, b])
    assert stories["a"].story_id == stories["b"].story_id == story_id_for("a")


def test_empty_bodies_are_not_one_story() -> None:
    assert not same_story(Member(id="a"), Member(id="b"))


def test_an_article_that_left_its_story_does_not_take_its_id_along() -> None:
    """The canonical article of a story changed into another story: its new story's id was
    its id's hash, the old story's id, so `search --story` listed it there (data review)."""
    paras = seed_paragraphs()
    left = Member(id="a", title="Tram line extended", previous_story=story_id_for("a"))
    stayed = member("b", paras, published_at=T0, story_id=story_id_for("a"))
    stories = assign_stories([left, stayed])
    assert stories["b"].story_id == story_id_for("b")
    assert stories["a"].story_id not in (story_id_for("a"), story_id_for("b"))
    assert stories["a"].canonical and stories["a"].size == 1


def test_an_edit_that_stays_in_its_story_keeps_the_storys_id() -> None:
    """A typo fix, or a summary replaced by its page, rewrites the article (the sink drops its
    story fields and records the story it was in): it stays in the story, which must not be
    renamed, whether the edited article is the canonical member or not (review)."""
    paras = seed_paragraphs()
    story = story_id_for("a")
    copy = member("c", paras, published_at=T0 + timedelta(hours=2), story_id=story)
    # The canonical article edited: still the first published, still in the story.
    canonical_edited = member("a", paras[:3], published_at=T0, previous_story=story)
    stories = assign_stories([canonical_edited, copy])
    assert {a.story_id for a in stories.values()} == {story}
    assert stories["a"].canonical
    # Another member edited.
    canonical = member("a", paras, published_at=T0, story_id=story)
    edited = member("b", paras[:3], published_at=T0 + timedelta(hours=1), previous_story=story)
    stories = assign_stories([canonical, edited, copy])
    assert {a.story_id for a in stories.values()} == {story}
    assert stories["a"].canonical and stories["b"].size == 3
