"""Status histories of finished dossiers (driver-licence renewals, business dossiers): the
lifecycle whose paused / rejected / overdue steps the reports say never reach the province."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

import pytest

from contracts.common import STATUS_CODES, StatusTransition
from mock_services import business_registry, driver_licence
from mock_services.dossiers import VIETNAM_TZ

SEED = 2024
Histories = Callable[[], list[tuple[str, list[StatusTransition]]]]
START = datetime(2024, 6, 3, tzinfo=VIETNAM_TZ)
END = datetime(2024, 6, 8, tzinfo=VIETNAM_TZ)


def renewal_histories() -> list[tuple[str, list[StatusTransition]]]:
    found = []
    for page in (1, 2, 3):
        dossiers = driver_licence.renewal_page(SEED, START, END, None, page, 100).items
        found += [(d.status, d.history) for d in dossiers]
    return found


def business_histories() -> list[tuple[str, list[StatusTransition]]]:
    listed = business_registry.dossier_page(SEED, "enterprise", START, END, None, 1, 100).items
    details = [business_registry.dossier_detail(SEED, "enterprise", d.dossier_id) for d in listed]
    return [(d.status, d.history) for d in details]


@pytest.mark.parametrize(
    "histories", [renewal_histories, business_histories], ids=["renewal", "business"]
)
def test_a_history_runs_from_received_to_the_dossiers_status_in_time_order(
    histories: Histories,
) -> None:
    found = histories()
    assert len(found) >= 100
    for status, history in found:
        assert history[0].status == "received"
        assert history[-1].status == status
        assert [t.at for t in history] == sorted(t.at for t in history)
        assert all(t.status_code == STATUS_CODES[t.status] for t in history)
        assert all((t.note is not None) == (t.status in ("paused", "rejected")) for t in history)


@pytest.mark.parametrize(
    "histories", [renewal_histories, business_histories], ids=["renewal", "business"]
)
def test_paused_rejected_and_overdue_all_happen(histories: Histories) -> None:
    seen = Counter(t.status for _, history in histories() for t in history)
    assert {"paused", "rejected", "overdue", "processed"} <= set(seen)
    assert seen["paused"] < seen["received"] / 3  # a minority pauses
