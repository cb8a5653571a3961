"""Provincial one-stop systems calling NDXP: the connectors' four flows as Locust tasks.

Two kinds of provincial system talk to NDXP, and they load it differently:

* :class:`OneStopDesk` — the one-stop desk (*bộ phận một cửa*) serving citizens in person:
  driver-licence renewal intake, household verification, linked birth registration. Short
  flows, many of them, all day; the bulk of the traffic (weight 4).
* :class:`DossierSyncJob` — the province's scheduled sync (often through its LGSP): business
  dossiers processed in a window with their details and files, and civil-registry status
  changes. Fewer runs, longer fan-out (weight 1).

Each user is one province's system (weighted by population unless ``--ndxp-provinces`` picks
some), with its own token; it runs ``--ndxp-flow-rate`` flows per second (fixed pacing).
Dynamic URLs are grouped by template with ``name=`` so the CSV has one row per operation;
a 429 after the quota is spent is an expected outcome, counted in its own ``[429]`` row.

Run (from the repository root, against ``ndxp-sim up``)::

    .venv/bin/locust -f loadtests/provinces.py --headless -u 50 -r 10 -t 2m \
        --host http://127.0.0.1:8000 --csv .ndxp/load/provinces --html .ndxp/load/provinces.html
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import gevent
from locust import constant_throughput, task

from loadtests.common import NdxpUser, sample_ids
from mock_services.people import person, random_citizen_id

POLL_ATTEMPTS = 2
POLL_INTERVAL_S = 0.5
DONE = {"processed", "returned"}
# Business-registry dossier kinds, in the proportions the provinces sync them.
DOSSIER_KINDS = (("enterprise", 3), ("household-business", 2), ("cooperative", 1))


def window(day: date) -> str:
    """``from``/``to`` of one local working day, encoded (the ``+07:00`` needs escaping)."""
    start = f"{day.isoformat()}T00:00:00+07:00"
    end = f"{(day + timedelta(days=1)).isoformat()}T00:00:00+07:00"
    return urllib.parse.urlencode({"from": start, "to": end})


class ProvinceSystem(NdxpUser):
    abstract = True

    def wait_time(self) -> float:
        return constant_throughput(self.environment.parsed_options.ndxp_flow_rate)(self)

    def working_day(self) -> date:
        """A weekday of June 2024, a month the mocks have dossiers for in every province."""
        while True:
            day = date(2024, 6, 1) + timedelta(days=self.rng.randrange(30))
            if day.weekday() < 5:
                return day

    def json_of(self, response: Any) -> Any:
        return response.json() if response is not None else None


class OneStopDesk(ProvinceSystem):
    """The one-stop desk: short citizen-facing flows."""

    weight = 4

    @task(4)
    def licence_renewal_intake(self) -> None:
        """Renewal dossiers of the day → the holder in population → the licence → the dossier
        and its result file."""
        query = f"{window(self.working_day())}&province={self.consumer.province}&size=20"
        page = self.json_of(
            self.call(
                "GET",
                f"/driver-licence/v1/renewal-dossiers?{query}",
                name="GET /driver-licence/v1/renewal-dossiers",
            )
        )
        if not page or not page.get("items"):
            return
        dossier = self.rng.choice(page["items"])
        self.call(
            "GET",
            f"/population/v1/citizens/{dossier['holder']['personal_id']}",
            name="GET /population/v1/citizens/{personal_id}",
        )
        self.call(
            "GET",
            f"/driver-licence/v1/licences/{dossier['licence_number']}",
            name="GET /driver-licence/v1/licences/{licence_number}",
        )
        detail = self.json_of(
            self.call(
                "GET",
                f"/driver-licence/v1/renewal-dossiers/{dossier['dossier_id']}",
                name="GET /driver-licence/v1/renewal-dossiers/{dossier_id}",
            )
        )
        if detail and detail.get("result_file_id"):
            self.call(
                "GET",
                f"/driver-licence/v1/files/{detail['result_file_id']}",
                name="GET /driver-licence/v1/files/{file_id}",
            )

    @task(3)
    def household_verification(self) -> None:
        """A citizen's record, then their membership of the household it names."""
        personal_id = self.rng.choice(sample_ids(self.environment, self.consumer.province, 50))
        citizen = self.json_of(
            self.call(
                "GET",
                f"/population/v1/citizens/{personal_id}",
                name="GET /population/v1/citizens/{personal_id}",
            )
        )
        if not citizen:
            return
        self.call(
            "POST",
            "/population/v1/households/verify",
            name="POST /population/v1/households/verify",
            json={
                "personal_id": personal_id,
                "head_personal_id": citizen["household"]["head_personal_id"],
            },
        )

    @task(2)
    def linked_birth_registration(self) -> None:
        """Verify both parents, submit the birth, poll its status a few times."""
        parents = {
            role: person(
                self.seed,
                random_citizen_id(
                    self.rng,
                    province_code=self.consumer.province,
                    gender=gender,
                    born_between=(1985, 1998),
                ),
            )
            for role, gender in (("father", "male"), ("mother", "female"))
        }
        refs = {
            role: {
                "personal_id": p.personal_id,
                "full_name": p.full_name,
                "date_of_birth": p.date_of_birth.isoformat(),
            }
            for role, p in parents.items()
        }
        for ref in refs.values():
            self.call(
                "POST",
                "/population/v1/citizens/verify",
                name="POST /population/v1/citizens/verify",
                json=ref,
            )
        body = {
            "dossier_code": f"LT.{self.consumer.province}.{uuid4().hex[:20]}",
            "province_code": self.consumer.province,
            "child": {
                "full_name": f"{parents['father'].full_name.split()[0]} Văn An",
                "date_of_birth": (date.today() - timedelta(days=3)).isoformat(),
                "gender": "male",
                "place_of_birth": "Trạm Y tế xã",
            },
            **refs,
        }
        registration = self.json_of(
            self.call(
                "POST",
                "/civil-registry/v1/birth-registrations",
                name="POST /civil-registry/v1/birth-registrations",
                ok=(200, 201),
                json=body,
            )
        )
        if not registration:
            return
        for _ in range(POLL_ATTEMPTS):
            gevent.sleep(POLL_INTERVAL_S)
            status = self.json_of(
                self.call(
                    "GET",
                    f"/civil-registry/v1/registrations/{registration['registration_id']}",
                    name="GET /civil-registry/v1/registrations/{registration_id}",
                )
            )
            if not status or status.get("status") in DONE:
                return


class DossierSyncJob(ProvinceSystem):
    """The scheduled sync: business dossiers and civil-registry status changes."""

    weight = 1

    @task(4)
    def business_dossier_sync(self) -> None:
        """Dossiers processed in a window, a few details, the first file of each."""
        kinds, weights = zip(*DOSSIER_KINDS, strict=True)
        kind = self.rng.choices(kinds, weights=weights)[0]
        query = f"{window(self.working_day())}&province={self.consumer.province}&size=20"
        page = self.json_of(
            self.call(
                "GET",
                f"/business-registry/v1/{kind}-dossiers?{query}",
                name=f"GET /business-registry/v1/{kind}-dossiers",
            )
        )
        for item in (page or {}).get("items", [])[:3]:
            detail = self.json_of(
                self.call(
                    "GET",
                    f"/business-registry/v1/{kind}-dossiers/{item['dossier_id']}",
                    name=f"GET /business-registry/v1/{kind}-dossiers/{{dossier_id}}",
                )
            )
            files = (detail or {}).get("results") or (detail or {}).get("components") or []
            if files:
                self.call(
                    "GET",
                    f"/business-registry/v1/files/{files[0]['file_id']}",
                    name="GET /business-registry/v1/files/{file_id}",
                )

    @task(1)
    def civil_status_sync(self) -> None:
        """Status changes of the last hour (đồng bộ trạng thái)."""
        since = urllib.parse.quote((datetime.now(UTC) - timedelta(hours=1)).isoformat())
        self.call(
            "GET",
            f"/civil-registry/v1/status-changes?since={since}&limit=100",
            name="GET /civil-registry/v1/status-changes",
        )
