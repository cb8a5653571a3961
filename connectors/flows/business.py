"""Business dossier sync (*đồng bộ hồ sơ đăng ký kinh doanh*): the one-stop system fetches the
dossiers the business registry finished in the last window for its province, each one's
detail, and each file (components submitted, results issued) — the sync the reports say
fails most (17 provinces).

Hops: ``business-registry.list_<kind>_dossiers`` → per dossier (one page)
``business-registry.get_<kind>_dossier`` → per file ``business-registry.download_file``.
The kind is drawn by national volume: household businesses 6,000, enterprises 4,000,
cooperatives 120 dossiers a working day. Degraded as the reports describe: lists that claim
dossiers and return none, empty details (FM-03), missing procedure codes, end times and file
ids (FM-04, FM-05), files that 404 (FM-05), a detail that fails while others do not.
Failed when the listing itself cannot be had, or no detail can.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from connectors.errors import CircuitOpen, NdxpError, NotFound, QuotaExceeded
from connectors.flows.common import (
    EMPTY_WINDOW_THRESHOLD,
    FlowContext,
    expected_in_window,
    field_of,
    flow,
)
from connectors.flows.recording import FlowAborted

# (kind, operation stem, dossiers per working day nationally — the mock's figures)
KINDS: tuple[tuple[str, str, float], ...] = (
    ("household business", "household_business", 6000.0),
    ("enterprise", "enterprise", 4000.0),
    ("cooperative", "cooperative", 120.0),
)


async def _body(ctx: FlowContext) -> None:
    ndxp, system, rng, options, run = ctx
    noun, stem, daily = rng.choices(KINDS, weights=[k[2] for k in KINDS])[0]
    registry = ndxp.business_registry
    lister: Callable[..., Awaitable[Any]] = getattr(registry, f"list_{stem}_dossiers")
    getter: Callable[[str], Awaitable[Any]] = getattr(registry, f"get_{stem}_dossier")
    start, end = options.window()
    code = system.province.code
    page = await run.call(
        f"business-registry.list_{stem}_dossiers",
        f"{noun} dossiers of {system.province.name}, last {options.window_days} days",
        lambda: lister(from_=start, to=end, province=code, page=1, size=options.page_size),
    )
    items = list(field_of(page, "items") or [])
    total = field_of(page, "total") or 0
    if not items:
        expected = expected_in_window(daily, system, options.window_days)
        if total > 0:
            run.degrade(f"business-registry.list_{stem}_dossiers: total {total}, no items")
        elif expected >= EMPTY_WINDOW_THRESHOLD:
            run.degrade(
                f"business-registry.list_{stem}_dossiers: no {noun} dossier in "
                f"{options.window_days} days where about {expected:.0f} were expected"
            )
        else:
            run.summary = f"no {noun} dossier ended in the window: nothing to sync"
        return
    synced = files = 0
    failures: list[str] = []
    for item in items:
        dossier_id = item.dossier_id
        try:
            detail = await run.call(
                f"business-registry.get_{stem}_dossier",
                f"detail of {dossier_id}",
                partial(getter, dossier_id),
            )
        except (CircuitOpen, QuotaExceeded):
            raise  # nothing more will get through: the run fails
        except NdxpError as exc:
            failures.append(f"{dossier_id}: {exc.code}")
            continue
        synced += 1
        documents = [*(field_of(detail, "components") or []), *(field_of(detail, "results") or [])]
        if not documents:
            run.degrade(f"{dossier_id}: no components or results returned")
        for document in documents:
            file_id = field_of(document, "file_id")
            if file_id is None:
                run.degrade(f"{dossier_id}: a file without id ({field_of(document, 'name')})")
                continue
            try:
                await run.call(
                    "business-registry.download_file",
                    f"file {file_id}",
                    partial(registry.download_file, file_id),
                )
            except NotFound:
                run.degrade(f"file {file_id} listed but not found (404)")
                continue
            except (CircuitOpen, QuotaExceeded):
                raise
            except NdxpError as exc:
                run.degrade(f"file {file_id}: {exc.code}")
                continue
            files += 1
    if failures and synced == 0:
        raise FlowAborted(f"no {noun} dossier detail could be fetched: {', '.join(failures)}")
    for failure in failures:
        run.degrade(f"detail {failure}")
    run.summary = f"{synced} {noun} dossiers of {total} synced with {files} files"


business_sync = flow(
    "business_sync",
    _body,
    "Sync one page of the province's recently finished business dossiers, files included.",
)
