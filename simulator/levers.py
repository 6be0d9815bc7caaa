"""The "reasons to believe" as time courses of log-odds shifts on trust.

Five levers act as offsets on the trust logit, ``L_k(t)``:

* ``expert_brand``, ``founder_endorsement``, ``brand_promise``, ``supply_chain``: a
  constant ``offset`` between ``start_day`` and ``end_day``, plus events;
* ``sales_announcements``: social proof that grows with the announced cumulative orders
  ``O(t)`` (the latest announcement on or before t):
  ``L(t) = max_effect * (1 - exp(-O(t) / orders_scale))``, plus events.

Events: a ``step`` adds ``size`` from ``day`` (to ``end_day``); a ``shock`` adds
``size * 0.5 ** ((t - day) / half_life_days)`` from ``day`` on (a launch event is a
positive shock; a PR crisis a negative one whose half-life is the recovery time).

The two remaining levers work through the consumers, not as offsets:
``offline_footprint`` (weight of familiarity in trust, ``b_F``) and ``testimonials``
(weight of word of mouth in trust, ``b_W``, and the referral rate q).
"""

from __future__ import annotations

import numpy as np

OFFSET_LEVERS = ("expert_brand", "founder_endorsement", "brand_promise", "supply_chain")
ALL_LEVERS = OFFSET_LEVERS + ("sales_announcements", "offline_footprint", "testimonials")


def _events_course(events, days: np.ndarray) -> np.ndarray:
    """Sum of the time courses of a lever's events over ``days``."""
    course = np.zeros(len(days))
    for event in events:
        after = days >= event.day
        if event.kind == "step":
            if event.end_day is not None:
                after &= days < event.end_day
            course += np.where(after, event.size, 0.0)
        else:
            elapsed = np.maximum(days - event.day, 0)
            course += np.where(after, event.size * 0.5 ** (elapsed / event.half_life_days), 0.0)
    return course


def lever_courses(levers, horizon_days: int) -> dict[str, np.ndarray]:
    """Daily log-odds shift of each offset lever over the horizon.

    Parameters
    ----------
    levers : simulator.scenario.Levers
    horizon_days : int

    Returns
    -------
    dict
        Lever name -> array of length ``horizon_days`` (zeros for a disabled lever).
    """
    days = np.arange(horizon_days)
    courses: dict[str, np.ndarray] = {}
    for name in OFFSET_LEVERS:
        lever = getattr(levers, name)
        course = np.zeros(horizon_days)
        if lever.enabled:
            active = days >= lever.start_day
            if lever.end_day is not None:
                active &= days < lever.end_day
            course = np.where(active, lever.offset, 0.0) + _events_course(lever.events, days)
        courses[name] = course
    announcements = levers.sales_announcements
    course = np.zeros(horizon_days)
    if announcements.enabled:
        announced = np.zeros(horizon_days)
        for item in sorted(announcements.announcements, key=lambda a: a.day):
            announced[days >= item.day] = item.cumulative_orders
        course = announcements.max_effect * (1.0 - np.exp(-announced / announcements.orders_scale))
        course = course + _events_course(announcements.events, days)
    courses["sales_announcements"] = course
    return courses


def total_shift(levers, horizon_days: int) -> np.ndarray:
    """Sum of the offset levers' shifts per day (log-odds)."""
    courses = lever_courses(levers, horizon_days)
    return np.sum(list(courses.values()), axis=0) if courses else np.zeros(horizon_days)
