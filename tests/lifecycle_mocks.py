"""What the tests of the mocks with a lifecycle (civil registry, judicial records) share: the
clock a test moves and the mock's store, read behind its back."""

from __future__ import annotations

from datetime import datetime, timedelta

from mock_services.civil_registry_lifecycle import VIETNAM_TZ
from mock_services.civil_registry_store import RegistrationStore
from ndxp_config.settings import Settings

T0 = datetime(2024, 12, 30, 8, 0, tzinfo=VIETNAM_TZ)


class FakeClock:
    """The injectable clock: tests move time, the lifecycle follows."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def store_of(settings: Settings, provider: str) -> RegistrationStore:
    """The mock's store: ``<state_dir>/<provider>-<seed>.db``, as its ``create_app`` opens it."""
    return RegistrationStore(settings.state_dir / f"{provider}-{settings.mocks.seed}.db")
