"""The local Kafka's cluster id: valid for the storage tool every time."""

from __future__ import annotations

import base64
import uuid

from newsflow.stack.kafka import new_cluster_id


def test_cluster_ids_never_start_with_a_dash_and_are_uuids() -> None:
    # One id in 64 would start with "-" without the guard; 4,000 draws miss that with
    # probability (63/64)^4000, about 1e-27.
    ids = [new_cluster_id() for _ in range(4000)]
    assert not any(i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
    for i in ids[:50]:
        assert len(i) == 22
        uuid.UUID(bytes=base64.urlsafe_b64decode(i + "=="))
