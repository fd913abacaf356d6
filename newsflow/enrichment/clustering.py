"""Story clustering: group near-duplicate and same-story articles across sources.

Two articles belong to the same story when their bodies are near duplicates (SimHash within a
few bits, or MinHash Jaccard estimate high: syndicated copies, light edits) or when they tell
the same story in other words (titles sharing most of their words and named entities in
common). Groups are the connected components of that relation. Every member gets the story
id of the group, a stable hash of the canonical member's id, so the id does not depend on
the order articles arrive in, only on which member is canonical.

The pure part (``assign_stories``) works on ``Member`` values; ``cluster_pending`` is the thin
Elasticsearch step the DAG and the CLI run.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from elasticsearch import Elasticsearch

from newsflow.elastic.hits import Hit, hits_of
from newsflow.enrichment.es import (
    bulk_update,
    pending,
    refresh,
    versions_of,
)
from newsflow.settings import Settings
from newsflow.similarity import hamming, minhash_similarity

log = logging.getLogger(__name__)

STAGE = "cluster"
#: The stamp an article lacks until it is clustered.
PENDING_FIELD = "enrichment.clustered_at"

_WORD = re.compile(r"\w+")
# Short function words say nothing about which story a title tells.
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "says",
        "said",
        "that",
        "the",
        "to",
        "was",
        "were",
        "will",
        "with",
        "after",
        "over",
        "new",
    ]
)


_EMPTY_SIMHASH = "0" * 16


@dataclass(frozen=True)
class Thresholds:
    """How close two articles must be to count as the same story."""

    #: SimHash Hamming distance (of 64 bits) at or below which bodies are near duplicates.
    simhash_bits: int = 6
    #: MinHash Jaccard estimate at or above which bodies are near duplicates.
    minhash: float = 0.5
    #: Title word Jaccard at or above which titles tell the same story...
    title: float = 0.5
    #: ...provided they also share at least this many named entities, and were published
    #: (else ingested) within this long of each other: recurring stories ("Fed holds rates",
    #: a monthly jobs report) share titles and entities but are different stories. Near
    #: duplicate bodies have no window: the same text is the same story whenever it runs.
    shared_entities: int = 2
    title_window: timedelta = timedelta(days=3)


@dataclass(frozen=True)
class Member:
    """What clustering needs to know about one article."""

    id: str
    simhash: str = "0" * 16
    minhash: tuple[int, ...] = ()
    title: str = ""
    entities: frozenset[str] = frozenset()
    published_at: datetime | None = None
    ingested_at: datetime | None = None
    body_chars: int = 0
    story_id: str | None = None
    story_canonical: bool | None = None
    story_size: int | None = None
    #: The story its earlier text was in (it left it when its text changed).
    previous_story: str | None = None
    stages: frozenset[str] = frozenset()

    @classmethod
    def from_hit(cls, hit: Hit) -> Member:
        """Builds a member from an indexed article."""
        src = hit.source
        ents = {v.lower() for v in src.entities}
        ents.update(t.value.lower() for t in src.tags.entities)
        ents.discard("")
        return cls(
            id=hit.id,
            simhash=src.simhash or _EMPTY_SIMHASH,
            minhash=tuple(src.minhash),
            title=src.title or "",
            entities=frozenset(ents),
            published_at=src.published_at,
            ingested_at=src.ingested_at,
            body_chars=sum(len(p) for p in src.body),
            story_id=src.story_id,
            story_canonical=src.story_canonical,
            story_size=src.story_size,
            previous_story=src.story_previous,
            stages=frozenset(src.enrichment.stages),
        )


@dataclass(frozen=True)
class Assignment:
    """The story an article belongs to."""

    story_id: str
    canonical: bool
    size: int


@dataclass
class _UnionFind:
    parent: dict[str, str] = field(default_factory=dict)

    def find(self, x: str) -> str:
        root = self.parent.setdefault(x, x)
        while root != self.parent[root]:
            root = self.parent[root]
        while x != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def story_id_for(canonical_id: str) -> str:
    """The story id of a group: a stable hash of its canonical member's id."""
    return "s-" + hashlib.blake2b(canonical_id.encode("utf-8"), digest_size=8).hexdigest()


def title_words(title: str) -> frozenset[str]:
    """Content words of a title, lower-cased."""
    return frozenset(w for w in _WORD.findall(title.lower()) if w not in _STOP and len(w) > 1)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def same_story(a: Member, b: Member, t: Thresholds = Thresholds()) -> bool:
    """Whether two articles tell the same story (near-duplicate bodies, or title + entities)."""
    # An all-zero SimHash means "no words"; two empty bodies are not the same story.
    nonempty = a.simhash != _EMPTY_SIMHASH and b.simhash != _EMPTY_SIMHASH
    if nonempty and hamming(a.simhash, b.simhash) <= t.simhash_bits:
        return True
    # Signatures of different lengths (another num_perm) cannot be compared.
    comparable = a.minhash and len(a.minhash) == len(b.minhash)
    if comparable and minhash_similarity(a.minhash, b.minhash) >= t.minhash:
        return True
    if _jaccard(title_words(a.title), title_words(b.title)) >= t.title:
        return len(a.entities & b.entities) >= t.shared_entities and _close_in_time(
            a, b, t.title_window
        )
    return False


def _close_in_time(a: Member, b: Member, window: timedelta) -> bool:
    """Whether the two articles appeared within ``window`` (true when a date is unknown)."""
    when_a, when_b = a.published_at or a.ingested_at, b.published_at or b.ingested_at
    return when_a is None or when_b is None or abs(when_a - when_b) <= window


def canonical_key(m: Member) -> tuple[datetime, int, str]:
    """Sort key choosing the canonical member: first published, then the fullest, then by id.

    The first publisher is usually the origin of a syndicated story; among copies published at
    the same moment the longest body is the most complete one.
    """
    when = m.published_at or m.ingested_at or datetime.max.replace(tzinfo=UTC)
    return (when, -m.body_chars, m.id)


def _title_pairs(titles: list[frozenset[str]], threshold: float) -> set[tuple[int, int]]:
    """Index pairs ``(i, j)``, i < j, whose title words have Jaccard >= ``threshold``.

    Exact, without comparing every pair (prefix filtering): with the words of every title
    ordered rarest first, two sets with Jaccard >= t share at least ceil(t * |x|) words, so
    they share one among the first ``|x| - ceil(t * |x|) + 1`` words of each. Only pairs
    sharing such a word are compared; a word in most titles ("trump" in a big story's pool)
    is then rarely in a prefix at all.
    """
    freq: dict[str, int] = {}
    for words in titles:
        for w in words:
            freq[w] = freq.get(w, 0) + 1
    by_word: dict[str, list[int]] = {}
    pairs: set[tuple[int, int]] = set()
    for j, words in enumerate(titles):
        if not words:
            continue
        ordered = sorted(words, key=lambda w: (freq[w], w))
        # The epsilon keeps float rounding (0.7 * 10 = 7.000000000000001) from shortening
        # the prefix, which could miss a pair; a longer prefix only compares more.
        prefix = len(ordered) - math.ceil(threshold * len(ordered) - 1e-9) + 1
        seen: set[int] = set()
        for w in ordered[:prefix]:
            for i in by_word.setdefault(w, []):
                if i not in seen:
                    seen.add(i)
                    if _jaccard(titles[i], words) >= threshold:
                        pairs.add((i, j))
            by_word[w].append(j)
    return pairs


def _edges(items: list[Member], t: Thresholds) -> list[tuple[int, int]]:
    """Every pair ``(i, j)`` of ``items`` for which ``same_story`` holds, found in bulk.

    The same relation as ``same_story`` on every pair (checked on random pools by
    tests/property/test_clustering_properties.py), at a fraction of the cost: pair by pair, a
    pool of 1,300 (a batch of 500 and its candidates) took ~9 s, and a story with thousands
    of members (a widely syndicated wire story) pulls all of them into every pool it touches.
    Body signatures are compared one row against all later ones in numpy; titles by prefix
    filtering.
    """
    edges: set[tuple[int, int]] = set()
    # Near-duplicate bodies by SimHash; an all-zero SimHash means "no words".
    sims = np.array([int(m.simhash, 16) for m in items], dtype=np.uint64)
    nonempty = np.array([m.simhash != _EMPTY_SIMHASH for m in items], dtype=bool)
    for i in np.flatnonzero(nonempty[:-1]).tolist():
        close = np.bitwise_count(sims[i + 1 :] ^ sims[i]) <= t.simhash_bits
        edges.update((i, i + 1 + j) for j in np.flatnonzero(close & nonempty[i + 1 :]).tolist())
    # ... or by MinHash, among signatures of the same length (another num_perm cannot compare).
    by_length: dict[int, list[int]] = {}
    for i, m in enumerate(items):
        if m.minhash:
            by_length.setdefault(len(m.minhash), []).append(i)
    for length, rows in by_length.items():
        signatures = np.array([items[i].minhash for i in rows], dtype=np.uint64)
        for r in range(len(rows) - 1):
            equal = (signatures[r + 1 :] == signatures[r]).sum(axis=1)
            similar = np.flatnonzero(equal / length >= t.minhash).tolist()
            edges.update((rows[r], rows[r + 1 + k]) for k in similar)
    # Titles telling the same story, with shared entities and close in time.
    titles = [title_words(m.title) for m in items]
    for i, j in _title_pairs(titles, t.title):
        a, b = items[i], items[j]
        if len(a.entities & b.entities) >= t.shared_entities and _close_in_time(
            a, b, t.title_window
        ):
            edges.add((i, j))
    return sorted(edges)


def assign_stories(
    members: Iterable[Member],
    thresholds: Thresholds = Thresholds(),
    outside: Mapping[str, int] | None = None,
) -> dict[str, Assignment]:
    """Groups members into stories; returns each member's story id, canonical flag and size.

    Stories are the connected components of ``same_story`` over the members (found in bulk by
    ``_edges``). Members that already carry the same ``story_id`` stay together (a story found
    earlier is not split because a later batch happens not to contain the link between two of
    its members). ``outside`` counts, per story id, the members of that story not among
    ``members`` (a big story takes part through its canonical member): they count in the size
    of the group it ends up in.
    """
    items = list({m.id: m for m in members}.values())
    uf = _UnionFind()
    by_story: dict[str, str] = {}
    for m in items:
        uf.find(m.id)
        if m.story_id:
            first = by_story.setdefault(m.story_id, m.id)
            uf.union(first, m.id)
    for i, j in _edges(items, thresholds):
        uf.union(items[i].id, items[j].id)
    groups: dict[str, list[Member]] = {}
    for m in items:
        groups.setdefault(uf.find(m.id), []).append(m)
    outside = outside or {}
    out: dict[str, Assignment] = {}
    for group in groups.values():
        canonical = min(group, key=canonical_key)
        sid = story_id_for(canonical.id)
        stories = {m.story_id for m in group if m.story_id}
        if sid not in stories and sid in {m.previous_story for m in group}:
            # The canonical article of a story whose text changed into another story (none of
            # the old story's members is in this group): its id's hash is the old story's id,
            # which `search --story` then found on an unrelated article (data review). The
            # story it starts is a new one. An edit that stays in its story keeps the id.
            sid = story_id_for(f"{canonical.id} after {sid}")
        size = len(group) + sum(outside.get(story, 0) for story in stories)
        for m in group:
            out[m.id] = Assignment(story_id=sid, canonical=m.id == canonical.id, size=size)
    return out


# --- Elasticsearch step --------------------------------------------------------------------

_SOURCE = [
    "id",
    "title",
    "simhash",
    "minhash",
    "body",
    "published_at",
    "ingested_at",
    "story_id",
    "story_canonical",
    "story_size",
    "story_previous",
    "enrichment.stages",
    "tags.persons",
    "tags.organizations",
    "tags.locations",
    "tags.entities",
]


#: Candidate searches sent in one _msearch request (one round trip instead of 50).
MSEARCH_SIZE = 50


def _candidate_query(m: Member) -> dict[str, Any]:
    """What finds articles that could be in the same story as ``m`` (by BM25)."""
    should: list[dict[str, Any]] = [{"term": {"simhash": m.simhash}}]
    if m.title:
        should.append({"match": {"title": {"query": m.title}}})
    if m.entities:
        # The analyzed text fields, because Member keeps entities lower-cased.
        should.append(
            {
                "multi_match": {
                    "query": " ".join(sorted(m.entities)),
                    "fields": ["tags.persons", "tags.organizations", "tags.locations"],
                }
            }
        )
    return {
        "bool": {
            "must": {"bool": {"should": should, "minimum_should_match": 1}},
            # Scores only: among equally good matches a story's canonical member comes first.
            # Without it, thousands of copies of one wire story tie, and the ties went to the
            # copies not clustered yet (an updated document moves to the end of the index's
            # order): 3,000 copies became 3 stories of 1,000 that never merged.
            "should": {
                "constant_score": {"filter": {"term": {"story_canonical": True}}, "boost": 1.0}
            },
            "must_not": {"ids": {"values": [m.id]}},
        }
    }


def _candidates(
    es: Elasticsearch, settings: Settings, members: list[Member], size: int
) -> list[Hit]:
    """Already indexed articles that could be in the same story as any of ``members``."""
    hits: list[Hit] = []
    for start in range(0, len(members), MSEARCH_SIZE):
        searches: list[dict[str, Any]] = []
        for m in members[start : start + MSEARCH_SIZE]:
            searches.append({"index": settings.index.alias})
            searches.append({"query": _candidate_query(m), "size": size, "_source": _SOURCE})
        for resp in es.msearch(searches=searches)["responses"]:
            if "error" in resp:
                # As a failed search would: the task fails and Airflow retries it.
                raise RuntimeError(f"candidate search failed: {resp['error']}")
            hits.extend(hits_of(resp))
    return hits


#: Members read per request when whole stories are read (paged by id).
MEMBERS_PAGE = 5_000


def _story_members(es: Elasticsearch, settings: Settings, story_ids: set[str]) -> list[Hit]:
    """Every member of ``story_ids``, paged by id: a batch touches many stories of up to
    ``WHOLE_STORY_LIMIT`` members each, and one search of at most 10,000 hits left the rest
    out of the pool (their story got a size that did not count them)."""
    hits: list[Hit] = []
    ids = sorted(story_ids)
    for start in range(0, len(ids), 500):
        after: list[Any] | None = None
        while True:
            resp = es.search(
                index=settings.index.alias,
                query={"terms": {"story_id": ids[start : start + 500]}},
                size=MEMBERS_PAGE,
                sort=[{"id": "asc"}],
                search_after=after,
                track_total_hits=False,
                source_includes=_SOURCE,
            )
            page = hits_of(resp)
            hits.extend(page)
            if len(page) < MEMBERS_PAGE:
                break
            after = page[-1].sort
    return hits


def _story_sizes(es: Elasticsearch, settings: Settings, story_ids: set[str]) -> dict[str, int]:
    """The size each of ``story_ids`` was last given (the largest its members carry)."""
    sizes: dict[str, int] = {}
    ids = sorted(story_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        resp = es.search(
            index=settings.index.alias,
            query={"terms": {"story_id": chunk}},
            size=0,
            aggs={
                "story": {
                    "terms": {"field": "story_id", "size": len(chunk)},
                    "aggs": {"size": {"max": {"field": "story_size"}}},
                }
            },
        )
        for bucket in resp["aggregations"]["story"]["buckets"]:
            sizes[bucket["key"]] = int(bucket["size"]["value"] or bucket["doc_count"])
    return sizes


def _one_member(es: Elasticsearch, settings: Settings, story_id: str) -> list[Hit]:
    """Any one member of ``story_id`` (a story whose canonical member has left it)."""
    resp = es.search(
        index=settings.index.alias,
        query={"term": {"story_id": story_id}},
        size=1,
        sort=[{"id": "asc"}],
        source_includes=_SOURCE,
    )
    return hits_of(resp)


def _canonicals(es: Elasticsearch, settings: Settings, story_ids: set[str]) -> list[Hit]:
    """The canonical member of each of ``story_ids`` (the one flagged ``story_canonical``);
    for a story that has none (its canonical article's text changed), any one member."""
    hits: list[Hit] = []
    ids = sorted(story_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        resp = es.search(
            index=settings.index.alias,
            query={
                "bool": {
                    "filter": [
                        {"terms": {"story_id": chunk}},
                        {"term": {"story_canonical": True}},
                    ]
                }
            },
            size=2 * len(chunk),  # one each; room for a story flagged twice by older code
            source_includes=_SOURCE,
        )
        hits.extend(hits_of(resp))
    found = {h.source.story_id for h in hits}
    for story in ids:
        if story not in found:
            hits.extend(_one_member(es, settings, story))
    return hits


#: Member ids read per request when a big story is relabelled (ids only, no source).
RELABEL_PAGE = 5_000


def _member_ids(es: Elasticsearch, settings: Settings, story_id: str, skip: list[str]) -> list[str]:
    """The ids of every member of ``story_id`` but ``skip``, paged by id (no 10,000 cap)."""
    query: dict[str, Any] = {
        "bool": {
            "filter": [{"term": {"story_id": story_id}}],
            "must_not": [{"ids": {"values": skip}}],
        }
    }
    ids: list[str] = []
    after: list[Any] | None = None
    while True:
        resp = es.search(
            index=settings.index.alias,
            query=query,
            size=RELABEL_PAGE,
            source=False,
            sort=[{"id": "asc"}],
            search_after=after,
            track_total_hits=False,
        )
        hits = resp["hits"]["hits"]
        ids += [h["_id"] for h in hits]
        if len(hits) < RELABEL_PAGE:
            return ids
        after = hits[-1]["sort"]


def _relabel(
    es: Elasticsearch,
    settings: Settings,
    story_id: str,
    skip: list[str],
    target: Assignment,
    canonical: str,
) -> int:
    """Gives every member of ``story_id`` but ``skip`` the story ``target`` (its id and size,
    ``canonical`` flagged): only their ids are read, not their articles. Returns how many
    documents were updated. (Update-by-query would spare the reads, but Elasticsearch's
    test distribution, which the local stack runs, has neither it nor scripts.)
    """
    docs = {
        doc_id: {
            "story_id": target.story_id,
            "story_size": target.size,
            "story_canonical": doc_id == canonical,
        }
        for doc_id in _member_ids(es, settings, story_id, skip)
    }
    return bulk_update(es, settings, docs)


def _members(hits: Iterable[Hit]) -> dict[str, Member]:
    return {h.id: Member.from_hit(h) for h in hits}


#: A story the batch touches with more members than this takes part through its canonical
#: member and its size; its other members are relabelled in Elasticsearch. Smaller stories are
#: read whole, so links between their members found later can still merge them.
WHOLE_STORY_LIMIT = 1_000


def _relabel_big(
    es: Elasticsearch,
    settings: Settings,
    pool: Mapping[str, Member],
    assigned: Mapping[str, Assignment],
    big: set[str],
    sizes: Mapping[str, int],
) -> int:
    """Relabels the members outside the pool of every big story whose labels changed.

    Its members in the pool were updated with the rest of the pool; those outside get the
    same id and size (a member never read can only have been linked through the story).
    """
    canonical_of = {a.story_id: doc_id for doc_id, a in assigned.items() if a.canonical}
    in_pool: dict[str, list[str]] = {}
    for m in pool.values():
        if m.story_id in big:
            in_pool.setdefault(m.story_id, []).append(m.id)
    updated = 0
    for story, ids in sorted(in_pool.items()):
        target = assigned[ids[0]]
        old_canonical = next((i for i in ids if pool[i].story_canonical), None)
        canonical = canonical_of[target.story_id]
        if (target.story_id, target.size, canonical) == (story, sizes[story], old_canonical):
            continue  # nothing joined it, nothing changed
        updated += _relabel(es, settings, story, ids, target, canonical)
    return updated


def cluster_pending(
    es: Elasticsearch,
    settings: Settings,
    batch_size: int = 500,
    candidates_per_article: int = 20,
    thresholds: Thresholds = Thresholds(),
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    whole_story_limit: int = WHOLE_STORY_LIMIT,
    limit: int | None = None,
) -> int:
    """Assigns stories to articles not clustered yet (and re-labels stories they join).

    Returns how many new articles were clustered. Re-running it with nothing pending does
    nothing; articles are chosen by ``enrichment.clustered_at`` being absent. ``progress`` is
    called with the number of articles of each batch done. A touched story of more than
    ``whole_story_limit`` members takes part through its canonical member and its size, and
    its other members are relabelled by id (their articles are not read).

    ``limit`` caps one run, as for embeddings: a backlog bigger than a task's timeout allows
    (~77 articles a second) is worked off over several runs. Killed by its timeout instead,
    the task could stop halfway through relabelling a big story, whose members not reached
    then kept the old id for good (they are not pending), and the run's later tasks never ran.
    """
    now = now or datetime.now(UTC)
    refresh(es, settings)
    total = 0
    while limit is None or total < limit:
        size = batch_size if limit is None else min(batch_size, limit - total)
        batch = pending(es, settings, PENDING_FIELD, size, _SOURCE)
        if not batch:
            return total
        members = _members(batch)
        pool: dict[str, Member] = dict(members)
        for hit in _candidates(es, settings, list(members.values()), candidates_per_article):
            pool.setdefault(hit.id, Member.from_hit(hit))
        # Every member of a story the batch touches takes part, so a new canonical member
        # (an earlier copy arriving late) relabels the whole story, not just part of it.
        # A big story takes part through its canonical member and its size instead: reading
        # thousands of members (with their bodies) into every batch that touches it cost
        # more with every copy, and past 10,000 the relabelling missed some.
        sizes: dict[str, int] = {}
        for m in pool.values():
            if m.story_id:
                sizes[m.story_id] = max(sizes.get(m.story_id, 0), m.story_size or 0)
        # A story an article left when its text changed takes part too: the copies left
        # behind need their size, and a canonical member if it was the one that left.
        left = Counter(
            m.previous_story
            for m in members.values()
            if m.previous_story and m.previous_story != m.story_id
        )
        sizes.update(_story_sizes(es, settings, set(left) - set(sizes)))
        big = {story for story, size in sizes.items() if size > whole_story_limit}
        for hit in _story_members(es, settings, set(sizes) - big):
            pool.setdefault(hit.id, Member.from_hit(hit))
        for hit in _canonicals(es, settings, big):
            pool.setdefault(hit.id, Member.from_hit(hit))
        present = Counter(m.story_id for m in pool.values() if m.story_id in big)
        outside = {story: max(0, sizes[story] - present[story] - left[story]) for story in big}
        assigned = assign_stories(pool.values(), thresholds, outside)
        stamp = now.isoformat()
        updates: dict[str, dict[str, Any]] = {}
        for doc_id, a in assigned.items():
            m = pool[doc_id]
            doc: dict[str, Any] = {
                "story_id": a.story_id,
                "story_canonical": a.canonical,
                "story_size": a.size,
            }
            if doc_id in members:
                doc["enrichment"] = {
                    "clustered_at": stamp,
                    "stages": sorted(m.stages | {STAGE}),
                }
                if m.previous_story:
                    doc["story_previous"] = None
            elif (m.story_id, m.story_canonical, m.story_size) == (
                a.story_id,
                a.canonical,
                a.size,
            ):
                continue  # an older member whose story did not change
            updates[doc_id] = doc
        # The batch's own updates hold the stage stamp: conditional on the version read.
        bulk_update(es, settings, updates, versions=versions_of(batch))
        relabelled = _relabel_big(es, settings, pool, assigned, big, sizes)
        refresh(es, settings)
        total += len(members)
        if progress is not None:
            progress(len(members))
        log.info(
            "clustered %d articles (%d documents updated)",
            len(members),
            len(updates) + relabelled,
        )
    return total
