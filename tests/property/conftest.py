"""Hypothesis settings for the property suite: bounded examples, sizes and time per example.

Each property runs ``max_examples`` examples (``HYPOTHESIS_PROFILE=thorough`` runs more,
for a local hunt); every example has a deadline far above its normal cost, so only a hang or
a blow-up (quadratic work, runaway memory) trips it, not a busy machine. Inputs are kept
small, and "huge" ones are built by repeating a small piece past the limit under test,
so memory stays bounded too. `pytest tests/property --hypothesis-show-statistics` prints
how many examples each property ran.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=timedelta(seconds=20),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # The same examples every run: the suite gates every commit, and a gate that fails on one
    # run in a hundred blocks work that did not cause it. `thorough` hunts with fresh seeds.
    derandomize=True,
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=timedelta(seconds=20),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
