"""Links are partitioned by host, so one fetch worker sees every link of a host."""

from __future__ import annotations

from typing import Any

from newsflow.kafka.clients import ByHost


class _Cluster:
    """The two questions the partitioner asks of the client's cluster metadata."""

    def topics(self) -> set[str]:
        return {"links"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(12))

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(12))


def _partition(key: bytes) -> int:
    cluster: Any = _Cluster()
    return ByHost().partition("links", key, key, None, None, cluster)


def test_urls_of_one_host_share_a_partition() -> None:
    urls = [f"https://news.example.org/2026/11/story-{i}".encode() for i in range(50)]
    assert len({_partition(u) for u in urls}) == 1
    hosts = [f"https://site{i}.example/a".encode() for i in range(50)]
    assert len({_partition(h) for h in hosts}) > 6  # different hosts still spread out


def test_other_keys_hash_as_before() -> None:
    ids = [f"{i:032x}".encode() for i in range(200)]
    assert len({_partition(k) for k in ids}) == 12
