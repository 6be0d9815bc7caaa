"""Warnings for settings of a valid scenario that cannot change what is simulated.

:func:`no_effect_warnings` lists them, one line each, ``<key path> (<id>): <what>: <why>``:
a store or rival showroom that opens on or after the end of the horizon (it never opens,
so its capacity and the rest of its settings do nothing), a lever whose offset or events
start after the horizon or that is disabled but has events, a sales announcement after
the horizon, a ``crs`` on a site placed by mall or station, a file ``crs`` without a file.
They are warnings, not errors: a scenario may be run with a shorter ``--days`` on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from simulator.config.coordinates import WGS84

if TYPE_CHECKING:
    from simulator.config.scenario import Scenario

__all__ = ["no_effect_warnings"]


def _after_horizon(days: int) -> str:
    return f"is after the horizon (horizon.days = {days} simulates days 0 to {days - 1})"


def _site_warnings(sites: Sequence[Any], section: str, noun: str, days: int) -> list[str]:
    warnings = []
    for position, site in enumerate(sites):
        key = f"{section}[{position}] ({site.id})"
        if site.open_day >= days:
            warnings.append(
                f"{key}: open_day {site.open_day} {_after_horizon(days)}: the {noun} never opens and its "
                "settings have no effect"
            )
        if site.crs != WGS84 and site.lon is None:
            where = "mall" if site.mall is not None else "station"
            warnings.append(f"{key}: crs = {site.crs!r} has no effect on a {noun} placed by {where}")
    return warnings


def _event_warnings(key: str, lever: Any, days: int) -> list[str]:
    events = getattr(lever, "events", ())
    announcements = getattr(lever, "announcements", ())
    if not getattr(lever, "enabled", True):
        dated = [
            f"{len(items)} {noun}(s)" for items, noun in ((events, "event"), (announcements, "announcement")) if items
        ]
        return [f"{key}: enabled = false: its {' and '.join(dated)} have no effect"] if dated else []
    warnings = []
    for position, event in enumerate(events):
        if event.day >= days:
            warnings.append(
                f"{key}.events[{position}]: day {event.day} {_after_horizon(days)}: the {event.kind} has no effect"
            )
    offset = getattr(lever, "offset", 0.0)
    start_day = getattr(lever, "start_day", 0)
    if offset != 0.0 and start_day >= days:
        warnings.append(f"{key}.start_day: {start_day} {_after_horizon(days)}: the offset has no effect")
    for position, announcement in enumerate(announcements):
        if announcement.day >= days:
            warnings.append(
                f"{key}.announcements[{position}]: day {announcement.day} {_after_horizon(days)}: the "
                "announcement has no effect"
            )
    return warnings


def no_effect_warnings(scenario: Scenario) -> list[str]:
    """Settings of ``scenario`` that cannot change what is simulated, one warning line each.

    Days are compared with ``horizon.days`` (days ``0 .. days - 1`` are simulated), so the
    warnings follow a ``--days`` override.
    """
    days = scenario.horizon.days
    warnings = _site_warnings(scenario.plan.stores, "plan.stores", "store", days)
    warnings += _site_warnings(scenario.rivals.showrooms, "rivals.showrooms", "showroom", days)
    if scenario.plan.stores_file_crs is not None and scenario.plan.stores_file is None:
        warnings.append("plan.stores_file_crs: has no effect without plan.stores_file")
    if scenario.rivals.file_crs is not None and scenario.rivals.file is None:
        warnings.append("rivals.file_crs: has no effect without rivals.file")
    for name in type(scenario.levers).model_fields:
        warnings += _event_warnings(f"levers.{name}", getattr(scenario.levers, name), days)
    return warnings
