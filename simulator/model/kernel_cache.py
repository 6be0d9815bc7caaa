"""Where numba caches the compiled kernels: one folder per version of the model's source.

numba's on-disk cache is keyed by the source file of each compiled function only. A
kernel that inlines functions of another module (``dynamics.consumer_day`` inlines
``dense_pass`` and ``events``) is not recompiled when only that other module changes, so
an editable install that pulls new code can keep running stale machine code, whose
float sums differ in the last bits from the new code's. Keying the cache folder by a hash
of every module of :mod:`simulator.model` makes any change to the kernels' source start
a fresh cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

MODEL_SOURCES = Path(__file__).resolve().parent


def source_fingerprint(folder: Path = MODEL_SOURCES) -> str:
    """The first 16 hex digits of SHA-256 over the names and bytes of ``folder``'s ``*.py`` files, in name order."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def kernel_cache_folder(fingerprint: str, environ: dict[str, str] | os._Environ[str] = os.environ) -> Path | None:
    """The writable folder for this source version's compiled kernels, or None (numba's own default).

    The base is ``NUMBA_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/footprint-simulator/numba``
    (``~/.cache/...``), else the system's temporary folder; the folder is ``<base>/<fingerprint>``.
    A ``NUMBA_CACHE_DIR`` that already ends with the fingerprint (set by a parent process)
    is used as it is.
    """
    bases = []
    if environ.get("NUMBA_CACHE_DIR"):
        given = Path(environ["NUMBA_CACHE_DIR"])
        if given.name == fingerprint:
            return given if _writable(given) else None
        bases.append(given)
    cache_home = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    bases += [
        cache_home / "footprint-simulator" / "numba",
        Path(tempfile.gettempdir()) / f"footprint-numba-{os.getuid()}",
    ]
    for base in bases:
        if _writable(base / fingerprint):
            return base / fingerprint
    return None


def use_versioned_kernel_cache() -> Path | None:
    """Point numba's cache (this process and its workers) at :func:`kernel_cache_folder`; returns it.

    Must run before the first ``@numba.njit(cache=True)`` decorator of the model executes.
    """
    import numba

    folder = kernel_cache_folder(source_fingerprint())
    if folder is not None:
        os.environ["NUMBA_CACHE_DIR"] = str(folder)
        setattr(numba.config, "CACHE_DIR", str(folder))  # noqa: B010 (not in numba's type stubs)
    return folder
