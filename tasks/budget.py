"""The X API request budget that every run shares, as a Prefect concurrency limit."""

from __future__ import annotations

from prefect.client.orchestration import get_client

REQUEST_BUDGET_LIMIT = "x-api-requests"
BUDGET_WINDOW_SECONDS = 15 * 60
DEFAULT_REQUESTS_PER_WINDOW = 75


def ensure_request_budget(
    requests_per_window: int = DEFAULT_REQUESTS_PER_WINDOW,
) -> None:
    """Create or update the global concurrency limit that paces X API requests.

    Each request takes one slot; slots free up at the rate the API refills its
    window, so no more than ``requests_per_window`` requests start in any window.
    """
    if requests_per_window < 1:
        raise ValueError(
            f"requests_per_window must be at least 1; got {requests_per_window}."
        )
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(
            REQUEST_BUDGET_LIMIT,
            limit=requests_per_window,
            slot_decay_per_second=requests_per_window / BUDGET_WINDOW_SECONDS,
        )
