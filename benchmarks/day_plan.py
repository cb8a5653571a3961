"""The national day's requests: the provinces' flows, with ids read from the real mocks.

:func:`discover` reads ids (dossiers, licences, files, registrations) from the mocks directly
and keeps one real body per operation (for the static upstream); :func:`build` lays out the
flows of ``loadtests/provinces.py`` as a list of requests, by provinces weighted by
population; :func:`lua` writes the wrk script that cycles through them at the day's pace.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import date, timedelta
from random import Random
from typing import Any

import httpx

from contracts.provinces import PROVINCES
from gateway.registry import default_registry
from loadtests.shapes import DAY_S, DayProfile
from mock_services.people import person, random_citizen_id
from mock_services.population import citizen_record, sample_ids

DAY = date(2024, 6, 3)  # a Monday of June 2024: the mocks have dossiers for every province
KINDS = (("enterprise", 3), ("household-business", 2), ("cooperative", 1))
# (flow, weight): desks (4) x licence 4, household 3, birth 2; syncs (1) x business 4, civil 1
FLOWS = (
    ("licence", 4 * 4 / 9),
    ("household", 4 * 3 / 9),
    ("birth", 4 * 2 / 9),
    ("business", 4 / 5),
    ("civil", 1 / 5),
)
CODE = "{{n}}"  # replaced by wrk with a counter: a fresh dossier code per birth registration


def template_regex(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "[^/]+", path)


def _window(day: date) -> str:
    start, end = (
        f"{day.isoformat()}T00:00:00+07:00",
        f"{(day + timedelta(days=1)).isoformat()}T00:00:00+07:00",
    )
    return urllib.parse.urlencode({"from": start, "to": end})


@dataclass
class Pools:
    """What each province's flows can ask for, read from the mocks."""

    citizens: dict[str, list[str]] = field(default_factory=dict)
    renewals: dict[str, list[tuple[str, str, str, str | None]]] = field(default_factory=dict)
    business: dict[str, list[tuple[str, str, list[tuple[str, str | None]]]]] = field(
        default_factory=dict
    )
    registrations: list[str] = field(default_factory=list)


def discover(
    urls: dict[str, str], seed: int, rng: Random
) -> tuple[Pools, dict[tuple[str, str], tuple[int, str]]]:
    """Ids per province from the mocks (direct calls), and one real body per operation."""
    ops = [
        (p.name, op.id, op.method, re.compile("^" + template_regex(op.path) + "$"))
        for p in default_registry().providers
        for op in p.operations
    ]
    bodies: dict[tuple[str, str], tuple[int, str]] = {}
    client = httpx.Client(timeout=30)

    def call(provider: str, method: str, path: str, body: Any = None) -> Any:
        answer = client.request(method, urls[provider] + path, json=body)
        bare = path.split("?")[0]
        for name, op_id, op_method, rx in ops:
            json_body = "json" in answer.headers.get("content-type", "")
            if name == provider and op_method == method and rx.match(bare) and json_body:
                bodies.setdefault((name, op_id), (answer.status_code, answer.text))
        if not answer.is_success or "json" not in answer.headers.get("content-type", ""):
            return None
        return answer.json()

    pools = Pools()
    codes = [c.province for c in default_registry().consumers if c.province]
    for code in codes:
        pools.citizens[code] = list(sample_ids(seed, code)[:20])
        query = f"{_window(DAY)}&province={code}&size=20"
        page = call("driver-licence", "GET", f"/v1/renewal-dossiers?{query}") or {}
        renewals = []
        for item in page.get("items", [])[:4]:
            detail = (
                call("driver-licence", "GET", f"/v1/renewal-dossiers/{item['dossier_id']}") or {}
            )
            file_id = detail.get("result_file_id")
            if file_id:
                call("driver-licence", "GET", f"/v1/files/{file_id}")
            call("driver-licence", "GET", f"/v1/licences/{item['licence_number']}")
            renewals.append(
                (item["holder"]["personal_id"], item["licence_number"], item["dossier_id"], file_id)
            )
        pools.renewals[code] = renewals
        dossiers = []
        for kind, _ in KINDS:
            page = call("business-registry", "GET", f"/v1/{kind}-dossiers?{query}") or {}
            for item in page.get("items", [])[:2]:
                detail = (
                    call("business-registry", "GET", f"/v1/{kind}-dossiers/{item['dossier_id']}")
                    or {}
                )
                files = detail.get("results") or detail.get("components") or []
                if files:
                    call("business-registry", "GET", f"/v1/files/{files[0]['file_id']}")
                dossiers.append(
                    (kind, item["dossier_id"], [(f["file_id"], None) for f in files[:1]])
                )
        pools.business[code] = dossiers
    for code in codes[:8]:
        registration = call(
            "civil-registry",
            "POST",
            "/v1/birth-registrations",
            birth_body(seed, code, rng, "discovery" + code),
        )
        if registration:
            pools.registrations.append(registration["registration_id"])
            call("civil-registry", "GET", f"/v1/registrations/{registration['registration_id']}")
    some = pools.citizens[codes[0]][0]
    call("population", "GET", f"/v1/citizens/{some}")
    call("population", "POST", "/v1/households/verify", household_body(seed, some))
    call(
        "civil-registry",
        "GET",
        "/v1/status-changes?since=2024-06-03T00%3A00%3A00%2B07%3A00&limit=100",
    )
    client.close()
    return pools, bodies


def birth_body(seed: int, code: str, rng: Random, dossier_code: str) -> dict[str, Any]:
    refs = {}
    for role, gender in (("father", "male"), ("mother", "female")):
        p = person(
            seed,
            random_citizen_id(rng, province_code=code, gender=gender, born_between=(1985, 1998)),
        )
        refs[role] = {
            "personal_id": p.personal_id,
            "full_name": p.full_name,
            "date_of_birth": p.date_of_birth.isoformat(),
        }
    return {
        "dossier_code": f"LT.{code}.{dossier_code}",
        "province_code": code,
        "child": {
            "full_name": f"{refs['father']['full_name'].split()[0]} Văn An",
            "date_of_birth": (date.today() - timedelta(days=3)).isoformat(),
            "gender": "male",
            "place_of_birth": "Trạm Y tế xã",
        },
        **refs,
    }


def household_body(seed: int, personal_id: str) -> dict[str, str]:
    head = citizen_record(seed, personal_id).household.head_personal_id
    return {"personal_id": personal_id, "head_personal_id": head}


@dataclass
class Plan:
    """``requests[i % len]`` is request i: (consumer, method, gateway path, JSON body or None)."""

    requests: list[tuple[str, str, str, str | None]]
    consumers: set[str]

    def consumer_of(self, i: int) -> str:
        return self.requests[i % len(self.requests)][0]


def build(pools: Pools, total: int, rng: Random, seed: int = 2024, size: int = 50_000) -> Plan:
    """The provinces' flows, one after another, until ``min(total, size)`` requests."""
    by_code = {c.province: c.id for c in default_registry().consumers if c.province}
    weights = {p.code: p.population_k for p in PROVINCES if p.code in by_code}
    codes, code_weights = list(weights), list(weights.values())
    flows, flow_weights = zip(*FLOWS, strict=True)
    requests: list[tuple[str, str, str, str | None]] = []
    while len(requests) < min(total, size):
        code = rng.choices(codes, code_weights)[0]
        consumer = by_code[code]
        for method, path, body in _flow(
            rng.choices(flows, flow_weights)[0], code, pools, rng, seed
        ):
            requests.append((consumer, method, path, None if body is None else json.dumps(body)))
    del requests[min(total, size) :]
    return Plan(requests, {r[0] for r in requests})


def _flow(flow: str, code: str, pools: Pools, rng: Random, seed: int) -> list[tuple[str, str, Any]]:
    query = f"{_window(DAY)}&province={code}&size=20"
    if flow == "licence" and pools.renewals.get(code):
        holder, licence, dossier, file_id = rng.choice(pools.renewals[code])
        calls: list[tuple[str, str, Any]] = [
            ("GET", f"/driver-licence/v1/renewal-dossiers?{query}", None),
            ("GET", f"/population/v1/citizens/{holder}", None),
            ("GET", f"/driver-licence/v1/licences/{licence}", None),
            ("GET", f"/driver-licence/v1/renewal-dossiers/{dossier}", None),
        ]
        return calls + ([("GET", f"/driver-licence/v1/files/{file_id}", None)] if file_id else [])
    if flow == "birth":
        body = birth_body(seed, code, rng, CODE)
        calls = [
            ("POST", "/population/v1/citizens/verify", body[role]) for role in ("father", "mother")
        ]
        calls.append(("POST", "/civil-registry/v1/birth-registrations", body))
        if pools.registrations:
            calls.append(
                ("GET", f"/civil-registry/v1/registrations/{rng.choice(pools.registrations)}", None)
            )
        return calls
    if flow == "business" and pools.business.get(code):
        kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
        calls = [("GET", f"/business-registry/v1/{kind}-dossiers?{query}", None)]
        for dkind, dossier, files in pools.business[code][:3]:
            calls.append(("GET", f"/business-registry/v1/{dkind}-dossiers/{dossier}", None))
            calls += [("GET", f"/business-registry/v1/files/{f}", None) for f, _ in files]
        return calls
    if flow == "civil":
        return [
            (
                "GET",
                "/civil-registry/v1/status-changes?since=2024-06-03T00%3A00%3A00%2B07%3A00&limit=100",
                None,
            )
        ]
    personal_id = rng.choice(pools.citizens[code])  # household verification (and fallbacks)
    return [
        ("GET", f"/population/v1/citizens/{personal_id}", None),
        ("POST", "/population/v1/households/verify", household_body(seed, personal_id)),
    ]


def _lua_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)  # a JSON string is a valid Lua string here


def lua(plan: Plan, tokens: dict[str, str], total: int, duration_s: float) -> str:
    """The wrk script: cycles through the plan at the day's pace, stops after ``total``."""
    profile = DayProfile()
    bounds = [(int(s[:2]) * 3600 + int(s[3:]) * 60) for s, _ in profile.periods] + [DAY_S]
    area = profile.area()
    # (wall second the period starts, exchanges per wall second during it)
    pace = [
        (b / DAY_S * duration_s, total * w / area * DAY_S / duration_s)
        for b, (_, w) in zip(bounds, profile.periods, strict=False)
    ]
    lines = ["local plan = {"]
    for consumer, method, path, body in plan.requests:
        lines.append(
            f"  {{{_lua_string(method)}, {_lua_string(path)}, "
            f"{_lua_string('Bearer ' + tokens[consumer])}, "
            f"{_lua_string(body) if body else 'nil'}}},"
        )
    lines.append("}")
    lines.append("local pace = {" + ", ".join(f"{{{s:.3f}, {r:.3f}}}" for s, r in pace) + "}")
    lines.append(f"local total = {total}")
    return "\n".join(lines) + LUA_BODY


LUA_BODY = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } timespec_t;
int clock_gettime(int clk_id, timespec_t *tp);
]]
local ts = ffi.new("timespec_t")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
sent, answered, statuses = 0, 0, {}
local started, due = nil, nil
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
local health = wrk.format("GET", "/healthz")
local headers = {}

local function rate_at(t)
  local r = pace[1][2]
  for i = 1, #pace do if pace[i][1] <= t then r = pace[i][2] end end
  return r
end

local primed = false
request = function()
  -- wrk builds one request per thread at start-up and never sends it: don't count that one
  if not primed then primed = true; return health end
  if sent >= total then return health end
  local e = plan[(sent % #plan) + 1]
  sent = sent + 1
  headers["Authorization"] = e[3]
  local body = e[4]
  if body then
    headers["Content-Type"] = "application/json"
    body = string.gsub(body, "{{n}}", tostring(sent))
  else
    headers["Content-Type"] = nil
  end
  return wrk.format(e[1], e[2], headers, body)
end

delay = function()
  local t = now()
  if not started then started, due = t, t end
  if sent >= total then return 5 end
  -- The day's clock is the plan's, not the wall's: a gateway slower than a peak falls behind
  -- and catches up as fast as it can answer (no deficit forgiven), so the wall time says so.
  due = due + 1 / rate_at(due - started)
  local wait = (due - t) * 1000
  if wait < 0 then return 0 end
  return wait
end

local function summary(complete)
  local parts = {}
  for k, v in pairs(statuses) do parts[#parts + 1] = string.format('"%d": %d', k, v) end
  return string.format('DAY_JSON {"sent": %d, "statuses": {%s}, "complete": %s}\n',
    sent, table.concat(parts, ", "), complete)
end

response = function(status, hdrs, body)
  if hdrs["x-ndxp-exchange-id"] == nil and hdrs["X-NDXP-Exchange-Id"] == nil then return end
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if answered == total then
    -- every exchange answered: say so now (wrk itself would wait for -d), and stop sending
    io.write(summary("true"))
    io.flush()
    wrk.thread:stop()
  end
end

incomplete = function() return summary("false") end

done = function(summary_, latency, requests)
  io.write(threads[1]:get("incomplete")())
end
"""
