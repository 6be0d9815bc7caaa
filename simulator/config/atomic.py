"""Atomic writes: a file or a whole folder appears complete, or not at all.

It lives in the bottom layer so that every writer can use it: the city builder's bundle,
storage's tables and run folders, the reports' figures and HTML.

Every writer of the project goes through :func:`atomic_path` (one file; with the
shortcut :func:`atomic_write_text` for text) or :func:`atomic_folder` (a folder of
files): the content is written under a hidden temporary name beside the target and
renamed onto it only when it is complete, so an interrupted command leaves the old
content or none, never half of it. This is the only module that renames temporaries
into place.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from simulator.config.errors import ResultsError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name is ``.<name>.<random>.tmp`` in the same folder (so the final
    :func:`os.replace` is atomic on one file system). The caller writes a complete file
    to it; if the ``with`` block raises, the temporary is deleted and the exception
    propagates, and ``path`` is left untouched (whole old file, or none).

    Parameters
    ----------
    path : path-like
        Final file path. Its folder must exist.

    Yields
    ------
    pathlib.Path
        The temporary path to write to (it does not exist yet).
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        yield temporary
        if not temporary.exists():
            raise ResultsError(f"{target}: nothing was written to the temporary file {temporary.name}")
        _fsync_file(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            if temporary.is_dir():
                shutil.rmtree(temporary)
            else:
                temporary.unlink()
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (through :func:`atomic_path`) and return the path.

    The folder of ``path`` must exist.
    """
    target = Path(path)
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding=encoding)
    return target


def _fsync_file(path: Path) -> None:
    if path.is_file():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def swap_into_place(partial: Path, target: Path) -> None:
    """Rename ``partial`` onto ``target``, moving an old ``target`` aside until it succeeds."""
    if not target.exists():
        os.replace(partial, target)
        return
    if folder_is_empty(target):
        target.rmdir()
        os.replace(partial, target)
        return
    retired = target.parent / f".{target.name}.old-{secrets.token_hex(6)}"
    os.replace(target, retired)
    try:
        os.replace(partial, target)
    except BaseException:
        os.replace(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def folder_is_empty(path: Path) -> bool:
    """True when the folder ``path`` holds nothing."""
    return not any(path.iterdir())


def check_folder_free(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    what: str = "folder",
    hint: str = "choose another folder or overwrite",
) -> None:
    """Check that :func:`atomic_folder` may write ``path``, before any work is done.

    Raises
    ------
    ResultsError
        ``path`` is a file, or a non-empty folder and ``overwrite`` is false; the one-line
        message names the path, ``what`` it is and the ``hint``.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ResultsError(f"{target}: exists and is not a folder")
    if target.is_dir() and not overwrite and not folder_is_empty(target):
        raise ResultsError(f"{target}: {what} already exists and is not empty ({hint})")


@contextlib.contextmanager
def atomic_folder(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    what: str = "folder",
    hint: str = "choose another folder or overwrite",
) -> Iterator[Path]:
    """Yield a hidden partial folder beside ``path``; rename it onto ``path`` on success.

    The partial folder is ``.<name>.partial-<random>`` in the same parent (created if
    needed). When the ``with`` block ends normally it replaces ``path``
    (:func:`swap_into_place`); when it raises, the partial folder is removed and the
    exception propagates, leaving ``path`` as it was.

    Parameters
    ----------
    path : path-like
        The folder to create.
    overwrite : bool
        Replace an existing non-empty folder (only once the new one is complete).
    what : str
        What the folder is, for the error message (``"run folder"``).
    hint : str
        What to do instead, for the error message.

    Raises
    ------
    ResultsError
        ``path`` is a file, or a non-empty folder and ``overwrite`` is false.
    """
    target = Path(path)
    check_folder_free(target, overwrite=overwrite, what=what, hint=hint)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.partial-{secrets.token_hex(6)}"
    partial.mkdir()
    try:
        yield partial
        swap_into_place(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
