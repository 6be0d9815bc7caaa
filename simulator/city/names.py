"""Place names: the one normalisation rule for matching names, and the id-or-name look-up.

:func:`normalise_name` is the only rule the project uses to decide that two
spellings name the same place: the :class:`simulator.city.bundle.City` look-ups
(``station_index``, ``mall_index``), the OpenStreetMap builder when it merges
station nodes of one name (:mod:`simulator.city.build.stations`) and
``geo/build_beijing.py`` when it joins its station sources.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

import numpy as np

from simulator.config import PlanError

__all__ = ["lookup_index", "normalise_name"]

_BRACKET_SUFFIX = re.compile(r"\s*\([^()]*\)\s*$")


def normalise_name(text: str) -> str:
    """Canonical form of a place name for matching across sources.

    NFKC (full-width brackets become ASCII), trailing bracketed suffixes removed
    (``木樨地(1号线)`` -> ``木樨地``, ``苹果园 (封闭改造中)`` -> ``苹果园``), a trailing
    ``站`` or `` station`` removed (``北京南站`` -> ``北京南``), repeated until nothing
    changes; then whitespace collapsed and lower case (``Xizhimen Station`` ->
    ``xizhimen``). A name that is only a bracket normalises to ``""``.
    """
    name = unicodedata.normalize("NFKC", str(text)).strip()
    previous = None
    while previous != name:
        previous = name
        name = _BRACKET_SUFFIX.sub("", name).strip()
        if name.endswith("站") and len(name) > 1:
            name = name[:-1].strip()
        if name.lower().endswith(" station"):
            name = name[: -len(" station")].strip()
    return " ".join(name.split()).lower()


def lookup_index(query: str, ids: np.ndarray, names: tuple[np.ndarray, ...], what: str, where: str) -> int:
    """Index of the entry whose id or name is ``query``.

    An exact id wins, then an exact name that is unique in its column (``北京西站``
    beside ``北京西``), then the one entry whose id or a name has the same
    :func:`normalise_name` as ``query``.

    Parameters
    ----------
    query
        An id or a name.
    ids, names
        Ids and the name columns (e.g. Chinese and English) of the entries, aligned.
    what, where
        Kind of entry (``"station"``) and the place named in error messages.

    Raises
    ------
    PlanError
        No entry matches (the message lists close matches), or several do.
    """
    text = str(query).strip()
    exact = np.flatnonzero(ids == text)
    if exact.size:
        return int(exact[0])
    for column in names:  # an exact name wins over normalised matches (北京西站 vs 北京西)
        exact = np.flatnonzero(column == text)
        if exact.size == 1:
            return int(exact[0])
    key = normalise_name(text)
    candidates: dict[str, set[int]] = {}
    shown: dict[str, str] = {}
    for column in (ids, *names):
        for index, label in enumerate(column):
            if label:
                normal = normalise_name(label)
                candidates.setdefault(normal, set()).add(index)
                shown.setdefault(normal, str(label))
    matches = candidates.get(key, set())
    if len(matches) == 1:
        return next(iter(matches))
    if len(matches) > 1:
        listed = ", ".join(repr(str(ids[i])) for i in sorted(matches))
        raise PlanError(f"{where}: {what} name {text!r} is ambiguous (ids: {listed}); use an id")
    close = difflib.get_close_matches(key, list(candidates), n=3, cutoff=0.5)
    hint = f" (did you mean: {', '.join(repr(shown[c]) for c in close)}?)" if close else ""
    if ids.size == 0:
        hint = f" (the city has no {what}s)"
    raise PlanError(f"{where}: no {what} matches {text!r}{hint}")
