"""The shared X API request budget in Prefect."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client

from tasks.budget import REQUEST_BUDGET_LIMIT, ensure_request_budget


def test_the_budget_is_created_then_updated_in_place() -> None:
    ensure_request_budget()
    ensure_request_budget(15)

    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(REQUEST_BUDGET_LIMIT)
    assert (limit.limit, limit.slot_decay_per_second) == (15, pytest.approx(15 / 900))


def test_a_budget_below_one_request_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1; got 0"):
        ensure_request_budget(0)
