"""The local stack without docker: one Kafka 4 node and one Elasticsearch 9 node.

Both come from Maven Central through the machine's ``mvn`` and run as detached processes
whose state, data and logs live in ``settings.stack.dir``. Use ``ensure_up`` from tests and
jobs; ``newsflow stack up|down|status|logs`` wraps the same functions.
"""

from __future__ import annotations

from newsflow.stack.control import (
    SERVICES,
    Service,
    ServiceStatus,
    StackStatus,
    down,
    ensure_up,
    is_running,
    status,
    up,
)
from newsflow.stack.errors import StackError

__all__ = [
    "SERVICES",
    "Service",
    "ServiceStatus",
    "StackError",
    "StackStatus",
    "down",
    "ensure_up",
    "is_running",
    "status",
    "up",
]
