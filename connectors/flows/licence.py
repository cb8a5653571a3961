"""Driver-licence renewal intake (*tiếp nhận hồ sơ đổi giấy phép lái xe*): the one-stop system
takes up a renewal dossier the transport department finished, looks the holder up in the
population database, checks the licence, and follows the dossier to its result file.

Hops: ``driver-licence.list_renewal_dossiers`` (the last window, this province) →
``population.get_citizen`` (the holder) → ``driver-licence.get_licence`` →
``driver-licence.get_renewal_dossier`` → ``driver-licence.download_file`` (the result).
Degraded as the reports describe: renewal dossiers without phone, e-health certificate, fees,
administrative unit, result and return dates or result file (FM-04, rows 21, 45, 50), a
result file that cannot be fetched (FM-05), a holder whose records disagree.
"""

from __future__ import annotations

from connectors.errors import NotFound
from connectors.flows.common import (
    EMPTY_WINDOW_THRESHOLD,
    FlowContext,
    expected_in_window,
    field_of,
    flow,
    mask,
)

PAGE_SIZE = 20
DAILY_RENEWALS = 1200.0  # nationally per working day (the driver-licence mock's rate)


async def _body(ctx: FlowContext) -> None:
    ndxp, system, rng, options, run = ctx
    start, end = options.window()
    code = system.province.code
    page = await run.call(
        "driver-licence.list_renewal_dossiers",
        f"renewal dossiers of {system.province.name}, last {options.window_days} days",
        lambda: ndxp.driver_licence.list_renewal_dossiers(
            from_=start, to=end, province=code, page=1, size=PAGE_SIZE
        ),
    )
    items = list(field_of(page, "items") or [])
    if not items:
        expected = expected_in_window(DAILY_RENEWALS, system, options.window_days)
        if (field_of(page, "total") or 0) > 0:
            run.degrade(f"driver-licence.list_renewal_dossiers: total {page.total}, no items")
        elif expected >= EMPTY_WINDOW_THRESHOLD:
            run.degrade(
                f"driver-licence.list_renewal_dossiers: no dossier in {options.window_days} "
                f"days where about {expected:.0f} were expected"
            )
        else:
            run.summary = "no renewal dossier ended in the window: nothing to take up"
        return
    listed = rng.choice(items)
    dossier_id = listed.dossier_id
    holder = field_of(listed, "holder")
    licence_number = field_of(listed, "licence_number")
    if holder is not None:
        pid = holder.personal_id
        citizen = await run.call(
            "population.get_citizen",
            f"look up the holder {mask(pid)}",
            lambda: ndxp.population.get_citizen(pid),
        )
        if field_of(citizen, "full_name") != holder.full_name:
            run.degrade("population.get_citizen: the holder's name differs from the dossier's")
    if licence_number is not None:
        await run.call(
            "driver-licence.get_licence",
            f"check licence {licence_number}",
            lambda: ndxp.driver_licence.get_licence(licence_number),
            note=lambda licence: f"licence {field_of(licence, 'status')}",
        )
    dossier = await run.call(
        "driver-licence.get_renewal_dossier",
        f"follow dossier {dossier_id}",
        lambda: ndxp.driver_licence.get_renewal_dossier(dossier_id),
    )
    file_id = field_of(dossier, "result_file_id")
    if file_id is None:
        run.degrade("driver-licence.get_renewal_dossier: no result file id to fetch")
        return
    try:
        content = await run.call(
            "driver-licence.download_file",
            f"fetch the result file {file_id}",
            lambda: ndxp.driver_licence.download_file(file_id),
        )
    except NotFound:
        run.degrade(f"driver-licence.download_file: result file {file_id} not found (404)")
        return
    run.summary = (
        f"dossier {dossier_id} {field_of(dossier, 'status')}, result file {len(content):,} bytes"
    )


licence_renewal = flow(
    "licence_renewal",
    _body,
    "Take up one renewal dossier of the province and follow it to its result file.",
)
