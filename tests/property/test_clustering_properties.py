"""Story clustering finds exactly the pairs ``same_story`` accepts, whatever the pool.

``assign_stories`` finds the relation's pairs in bulk (numpy over the body signatures, prefix
filtering over titles); ``same_story`` is its definition, pair by pair. On random pools built
to sit around every threshold (near SimHashes, MinHashes sharing some positions, titles from a
small vocabulary, shared entities, dates inside and outside the window), the groups must be
the same as those of ``same_story`` applied to every pair.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from newsflow.enrichment.clustering import (
    Member,
    Thresholds,
    assign_stories,
    canonical_key,
    same_story,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WORDS = ["steel", "output", "china", "cut", "carbon", "iron", "ore", "mills", "the", "a", "x"]
ENTITIES = ["china", "xinhua", "huang libin", "tangshan", "beijing"]
BASES = [0x0123456789ABCDEF, 0xFFFF0000FFFF0000, 0]


@st.composite
def members(draw: st.DrawFn, n: int) -> Member:
    base = draw(st.sampled_from(BASES))
    flips = draw(st.lists(st.integers(0, 63), max_size=10))
    value = base
    for bit in flips:
        value ^= 1 << bit
    length = draw(st.sampled_from([0, 4, 8]))
    signature = tuple(draw(st.integers(0, 2)) for _ in range(length))
    days = draw(st.one_of(st.none(), st.integers(0, 8)))
    return Member(
        id=f"m{n}",
        simhash=f"{value:016x}",
        minhash=signature,
        title=" ".join(draw(st.lists(st.sampled_from(WORDS), max_size=8))),
        entities=frozenset(draw(st.lists(st.sampled_from(ENTITIES), max_size=4))),
        published_at=None if days is None else T0 + timedelta(days=days),
        story_id=draw(st.one_of(st.none(), st.sampled_from(["s-1", "s-2"]))),
    )


pools = st.integers(0, 40).flatmap(lambda k: st.tuples(*(members(n) for n in range(k))))
thresholds = st.builds(
    Thresholds,
    simhash_bits=st.integers(0, 8),
    minhash=st.sampled_from([0.25, 0.5, 0.75, 1.0]),
    title=st.sampled_from([0.3, 0.5, 0.7, 1.0]),
    shared_entities=st.integers(0, 3),
)


def _groups_pair_by_pair(items: list[Member], t: Thresholds) -> set[frozenset[str]]:
    parent = {m.id: m.id for m in items}

    def root(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    def join(a: str, b: str) -> None:
        parent[root(a)] = root(b)

    by_story: dict[str, str] = {}
    for m in items:
        if m.story_id:
            join(by_story.setdefault(m.story_id, m.id), m.id)
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            if same_story(a, b, t):
                join(a.id, b.id)
    groups: dict[str, set[str]] = {}
    for m in items:
        groups.setdefault(root(m.id), set()).add(m.id)
    return {frozenset(g) for g in groups.values()}


@given(pool=pools, t=thresholds)
def test_groups_are_those_of_same_story_on_every_pair(
    pool: tuple[Member, ...], t: Thresholds
) -> None:
    items = list(pool)
    assigned = assign_stories(items, t)
    groups: dict[str, set[str]] = {}
    for doc_id, a in assigned.items():
        groups.setdefault(a.story_id, set()).add(doc_id)
    assert {frozenset(g) for g in groups.values()} == _groups_pair_by_pair(items, t)
    for g in groups.values():  # one canonical member per story, sizes right
        assert sum(assigned[i].canonical for i in g) == 1
        assert all(assigned[i].size == len(g) for i in g)


@given(pool=pools, t=thresholds, copies=st.integers(1, 5))
def test_a_big_story_counted_from_outside_groups_as_if_read_whole(
    pool: tuple[Member, ...], t: Thresholds, copies: int
) -> None:
    """A big story takes part through its canonical member and a count of the rest
    (``outside``): the same groups, ids, canonical flags and sizes as with every member read,
    when the members left out are copies of the canonical (as a widely syndicated story's
    are: whatever links one of them to a new article links the canonical too)."""
    story = [m for m in pool if m.story_id == "s-1"]
    assume(story)
    canonical = min(story, key=canonical_key)
    fuller = replace(canonical, body_chars=1000)  # stays canonical over its shorter copies
    items = [fuller if m is canonical else m for m in pool]
    left_out = [replace(fuller, id=f"copy{n}", body_chars=1) for n in range(copies)]
    whole = assign_stories([*items, *left_out], t)
    counted = assign_stories(items, t, outside={"s-1": copies})
    assert counted == {m.id: whole[m.id] for m in items}
