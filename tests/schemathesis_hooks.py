"""Schemathesis hooks (``hooks`` in ``schemathesis.toml``): the rules of the contracts that JSON
Schema cannot state, taught to the generator of *positive* (schema-valid) requests.

Every check stays on with its default expectations, and nothing is filtered out of the failures.
What changes is the data of a positive request, before it is sent, where a documented rule
relates two values or a value to the databases' records — a generator reading only the schema
breaks such a rule almost every time, and the mock rightly answers 422:

- a dossier window (``from``, ``to``) is at most 31 days long and ``from`` is not after ``to``
  (the parameters' descriptions; 422 ``invalid_request``): ``to`` is moved into the window;
- a birth or death registration names population citizens with exactly their personal id, full
  name and date of birth (``CitizenRef``; 422 ``citizen_mismatch``), a father who is male and a
  mother who is female, born before the child, and dates not in the future: the people and
  dates are those of the contract's own example (real records), the rest stays generated;
- a criminal-record certificate request names a population citizen (``Applicant``; 422
  ``citizen_mismatch``), with that citizen's full name and date of birth if it sends them: the
  applicant is the contract's example's, the fields sent stay those generated.

Negative requests are never touched, so the refusals themselves stay tested — as they are, one
by one, in ``tests/test_business_registry.py``, ``tests/test_dossiers.py`` and
``tests/test_civil_registry.py``. The same rules hold through the gateway (the kit's contract
is the mocks' contract under another path), so the hooks match on the path's end.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

import schemathesis
from schemathesis.generation import GenerationMode

from contracts.civil_registry import BirthRegistrationRequest, CitizenRef, DeathRegistrationRequest

MAX_WINDOW = timedelta(days=31)
WINDOW_PATHS = (
    "/v1/enterprise-dossiers",
    "/v1/household-business-dossiers",
    "/v1/cooperative-dossiers",
    "/v1/renewal-dossiers",
    "/v2/renewal-dossiers",
)


@cache
def _seed() -> int:
    """The mocks' seed of the stack under test (``NDXP_MOCKS__*``)."""
    from ndxp_config.settings import MockSettings

    return MockSettings().seed


@cache
def _examples() -> tuple[BirthRegistrationRequest, DeathRegistrationRequest]:
    """The civil registry's published example bodies."""
    from mock_services.civil_registry import example_requests

    return example_requests(_seed())


@cache
def _applicant() -> CitizenRef:
    """The judicial records' published example applicant, as the population records them."""
    from mock_services.judicial_records import example_request
    from mock_services.people import person

    citizen = person(_seed(), example_request(_seed()).applicant.personal_id)
    return CitizenRef(
        personal_id=citizen.personal_id,
        full_name=citizen.full_name,
        date_of_birth=citizen.date_of_birth,
    )


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def _inside_window(query: dict[str, Any]) -> None:
    start, end = _parse(query.get("from")), _parse(query.get("to"))
    if start is None or end is None or start <= end <= start + MAX_WINDOW:
        return
    if end < start:
        start, end = end, start
        query["from"] = query["to"]
    query["to"] = min(end, start + MAX_WINDOW).isoformat()


def _real_people(path: str, body: dict[str, Any]) -> None:
    birth, death = _examples()
    if path.endswith("/v1/birth-registrations"):
        for role in ("father", "mother"):
            ref = getattr(birth, role)
            if isinstance(body.get(role), dict) and ref is not None:
                body[role] = ref.model_dump(mode="json")
        if isinstance(body.get("child"), dict):
            body["child"]["date_of_birth"] = birth.child.date_of_birth.isoformat()
    elif path.endswith("/v1/death-registrations"):
        if isinstance(body.get("deceased"), dict):
            body["deceased"] = death.deceased.model_dump(mode="json")
        body["date_of_death"] = death.date_of_death.isoformat()
    elif path.endswith("/v1/certificate-requests") and isinstance(body.get("applicant"), dict):
        applicant, real = body["applicant"], _applicant().model_dump(mode="json")
        body["applicant"] = {key: real[key] for key in ("personal_id", *applicant) if key in real}


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: Any) -> None:
    meta = case.meta
    if meta is None or meta.generation.mode is not GenerationMode.POSITIVE:
        return
    path = case.operation.path
    if isinstance(case.query, dict) and path.endswith(WINDOW_PATHS):
        _inside_window(case.query)
    if isinstance(case.body, dict) and case.method.upper() == "POST":
        _real_people(path, case.body)
