"""How the index sink splits a large batch into bulk requests sent at once (split_by_id)."""

from __future__ import annotations

from kafka.consumer.fetcher import ConsumerRecord

from consumers.sinks import MIN_CONCURRENT_DOCS, _Doc, split_by_id


def _doc(doc_id: str, offset: int) -> _Doc:
    record = ConsumerRecord("news.clean", 0, -1, offset, 0, 0, None, b"", [], None, 0, 0, 0)
    return _Doc(doc_id, f"hash-{offset}", False, record, b"{}")


def test_a_small_batch_stays_one_request() -> None:
    docs = [_doc(f"a{i}", i) for i in range(2 * MIN_CONCURRENT_DOCS - 1)]
    assert split_by_id(docs, parts=2) == [docs]
    assert split_by_id(docs[:1], parts=4) == [docs[:1]]


def test_one_part_asked_for_is_the_batch_itself() -> None:
    docs = [_doc(f"a{i}", i) for i in range(500)]
    assert split_by_id(docs, parts=1) == [docs]


def test_a_large_batch_splits_with_every_copy_of_an_id_together_in_order() -> None:
    # 300 articles, every tenth id sent three times (a replay, a corrected text).
    docs = [_doc(f"id-{i % 270}", i) for i in range(300)]
    groups = split_by_id(docs, parts=2)
    assert len(groups) == 2
    assert all(len(g) >= 0.25 * len(docs) for g in groups)  # crc32 spreads them
    # Nothing lost or doubled.
    assert sorted(d.record.offset for g in groups for d in g) == list(range(300))
    # An id lives in one group, its copies in the batch's order.
    owner: dict[str, int] = {}
    for n, group in enumerate(groups):
        offsets = [d.record.offset for d in group]
        assert offsets == sorted(offsets)
        for d in group:
            assert owner.setdefault(d.id, n) == n


def test_no_more_parts_than_the_batch_fills() -> None:
    docs = [_doc(f"b{i}", i) for i in range(3 * MIN_CONCURRENT_DOCS)]
    assert len(split_by_id(docs, parts=8)) <= 3
    # The same split for the same ids, every time (a retried batch goes the same way).
    assert split_by_id(docs, parts=3) == split_by_id(list(docs), parts=3)
