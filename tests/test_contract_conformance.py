"""Schemathesis against every mock national database, in-process: each app serves exactly the
contract it publishes (response schemas, status codes, content types, negative data rejected,
no server errors)."""

from __future__ import annotations

from pathlib import Path

import hypothesis
import pytest
import schemathesis
from schemathesis import openapi
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from mock_services.apps import MOCK_FACTORIES
from ndxp_config.settings import MockSettings, Settings

CONFIG = Path(__file__).resolve().parent.parent / "schemathesis.toml"


def _schema(name: str, state_dir: Path) -> schemathesis.schemas.BaseSchema:
    settings = Settings(mocks=MockSettings(), state_dir=state_dir)
    app = MOCK_FACTORIES[name](settings)
    config = SchemathesisConfig.from_str(CONFIG.read_text(encoding="utf-8"))
    return openapi.from_asgi("/openapi.json", app, config=config)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conformance")


SETTINGS = hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("name", sorted(MOCK_FACTORIES))
def test_mock_serves_exactly_its_contract(name: str, mode: GenerationMode, state_dir: Path) -> None:
    """Positive data: valid answers only; negative data: rejected with a documented problem."""
    schema = _schema(name, state_dir)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @SETTINGS
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate()

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # report every operation, not the first
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
