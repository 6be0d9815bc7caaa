"""Atomic writes: a file or a whole folder appears complete, or not at all.

It lives in the bottom layer so that every writer can use it: the city builder's bundle,
storage's tables and run folders, the reports' figures and HTML.

Every writer of the project goes through :func:`atomic_path` (one file; with the
shortcut :func:`atomic_write_text` for text) or :func:`atomic_folder` (a folder of
files): the content is written under a hidden temporary name beside the target and
renamed onto it only when it is complete, so an interrupted command leaves the old
content or none, never half of it. This is the only module that renames temporaries
into place.

Output folders are also *claimed* (:func:`folder_lock`, :func:`reserve_folder`): a lock
file ``.<name>.lock`` beside the folder, held with ``flock`` for the whole command, so two
commands writing the same folder at once cannot both win (the second stops with a
one-line error); the kernel releases the lock when its process dies, even by SIGKILL.
Whoever holds the lock removes what a dead writer left beside the folder: partial
folders ``.<name>.partial-<pid>-<random>`` whose process is gone, and the old folder an
interrupted ``--overwrite`` had moved aside (``.<name>.old-<random>``: put back when the
new one never arrived, removed when it did). Write failures (disk full, a read-only
disk, pyogrio's and pyarrow's write errors) become one-line :class:`ResultsError`s.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from simulator.config.errors import FootprintError, ResultsError

__all__ = [
    "atomic_folder",
    "atomic_path",
    "atomic_write_text",
    "check_folder_free",
    "check_free_space",
    "check_writable",
    "folder_lock",
    "free_bytes",
    "reserve_folder",
    "swap_into_place",
]

_WRITER_MODULES = ("pyogrio", "pyarrow")  # libraries whose write errors are not OSErrors
_HELD: dict[Path, list[int]] = {}  # lock file -> [descriptor, depth] held by this process


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

    Raises
    ------
    ResultsError
        Writing failed for a reason of the machine (disk full, read-only, no permission).
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        yield temporary
        if not temporary.exists():
            raise ResultsError(f"{target}: nothing was written to the temporary file {temporary.name}")
        _fsync_file(temporary)
        os.replace(temporary, target)
    except BaseException as error:
        reason = write_failure_reason(error, target.parent)
        with contextlib.suppress(OSError):
            if temporary.is_dir():
                shutil.rmtree(temporary)
            else:
                temporary.unlink()
        if reason is not None:
            raise ResultsError(f"{target}: cannot write the file: {reason}") from None
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


def write_failure_reason(error: BaseException, folder: Path) -> str | None:
    """A one-line reason when ``error`` is a failure to write (else None: a bug or a domain error).

    ``no space left on the device`` when the disk is full (``ENOSPC``, or a library's
    message saying so, or under a megabyte free), else the system's or library's message.
    """
    if isinstance(error, FootprintError):
        return None
    from_writer = type(error).__module__.split(".")[0] in _WRITER_MODULES
    if not isinstance(error, OSError) and not from_writer:
        return None
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if getattr(error, "errno", None) == errno.ENOSPC or "space left" in text or "disk is full" in text:
        return "no space left on the device"
    free = free_bytes(folder)
    if free is not None and free < 2**20:
        return "no space left on the device"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return text[:200]


def swap_into_place(partial: Path, target: Path, *, overwrite: bool = True) -> None:
    """Rename ``partial`` onto ``target``.

    Without ``overwrite`` the rename itself refuses a non-empty ``target`` (so a folder that
    appeared meanwhile is never replaced); with it, an old ``target`` is moved aside until
    the new one is in place.
    """
    if not overwrite or not target.exists() or folder_is_empty(target):
        try:
            os.rename(partial, target)  # replaces an empty folder, refuses a non-empty one
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise ResultsError(
                    f"{target}: appeared while this command ran and was left as it is (use --overwrite to replace it)"
                ) from None
            raise
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


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_name_length(target: Path) -> None:
    """Refuse a folder name (or a parent's) too long for the disk, hidden partial name included."""
    name_max = 255
    with contextlib.suppress(OSError, ValueError):
        name_max = os.pathconf("/" if target.is_absolute() else ".", "PC_NAME_MAX")
    partial = f".{target.name}.partial-{os.getpid()}-{secrets.token_hex(6)}"
    longest = max([len(os.fsencode(partial))] + [len(os.fsencode(part)) for part in target.parts])
    if longest > name_max:
        raise ResultsError(
            f"{target}: a name is too long for this disk ({longest} bytes with the hidden partial folder's "
            f"suffix, at most {name_max}); choose a shorter --out"
        )


def check_writable(path: str | os.PathLike[str], *, what: str = "folder") -> None:
    """Check, before any work, that the folder ``path`` can be created (or written) here.

    Creates and removes a hidden probe folder in the nearest existing ancestor, which
    finds read-only disks, system folders such as ``/proc`` and ``/sys``, and missing
    permissions the way the real write would.

    Raises
    ------
    ResultsError
        ``path`` or an ancestor is a file, or the location cannot be written.
    """
    target = Path(path)
    _check_name_length(target)
    if target.exists() and not target.is_dir():
        raise ResultsError(f"{target}: is a file, not a {what} (choose another --out)")
    base = _nearest_existing(target)
    if not base.is_dir():
        raise ResultsError(f"{target}: cannot be created: {base} is a file, not a folder")
    probe = base / f".footprint-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.mkdir()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ResultsError(f"{target}: cannot write the {what} there ({base}: {reason.lower()})") from None
    with contextlib.suppress(OSError):
        probe.rmdir()


def check_free_space(path: str | os.PathLike[str], needed_bytes: float, *, what: str = "output") -> None:
    """Refuse, before any work, to write about ``needed_bytes`` where less is free.

    Raises
    ------
    ResultsError
        The disk of ``path`` has less than ``needed_bytes`` free; the message states both.
    """
    target = Path(path)
    free = free_bytes(target)
    if free is not None and free < needed_bytes:
        raise ResultsError(
            f"{target}: the {what} needs about {_megabytes(needed_bytes)} but only {_megabytes(free)} "
            "is free on that disk (free some space or choose another --out)"
        )


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Bytes free on the disk that holds ``path`` (or would hold it); None when unknown."""
    try:
        return shutil.disk_usage(_nearest_existing(Path(path))).free
    except OSError:
        return None


def _megabytes(count: float) -> str:
    return f"{count / 1e9:,.1f} GB" if count >= 1e9 else f"{max(count / 1e6, 0.1):,.1f} MB"


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
        ``path`` is a file, a non-empty folder and ``overwrite`` is false, or a location
        that cannot be written (:func:`check_writable`); the one-line message names the
        path, ``what`` it is and the ``hint``.
    """
    target = Path(path)
    _check_name_length(target)
    if target.exists() and not target.is_dir():
        raise ResultsError(f"{target}: is a file, not a {what} (choose another --out)")
    if target.is_dir() and not overwrite and not folder_is_empty(target):
        raise ResultsError(f"{target}: {what} already exists and is not empty ({hint})")
    check_writable(target, what=what)


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftover_owner(name: str, prefix: str) -> int | None:
    """The process id in ``.<name>.partial-<pid>-<random>`` (None for a name without one)."""
    head = name[len(prefix) :].split("-", 1)[0]
    return int(head) if head.isdigit() and "-" in name[len(prefix) :] else None


def _clean_leftovers(target: Path) -> None:
    """Remove what dead writers of ``target`` left beside it (call with its lock held)."""
    parent = target.parent
    partial_prefix = f".{target.name}.partial-"
    old_prefix = f".{target.name}.old-"
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if entry.name.startswith(partial_prefix):
                owner = _leftover_owner(entry.name, partial_prefix)
                if owner is None or (owner != os.getpid() and not _process_alive(owner)):
                    shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(old_prefix):
                if not target.exists():
                    os.rename(entry, target)  # an --overwrite killed between its two renames
                else:
                    shutil.rmtree(entry, ignore_errors=True)


def _acquire(lock_path: Path, target: Path, what: str) -> int:
    """Open and ``flock`` the lock file; raise a one-line error if another process holds it."""
    while True:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(descriptor, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(descriptor)
            raise ResultsError(
                f"{target}: another footprint command (process {owner}) is writing this {what} now; "
                "wait for it to finish or choose another --out"
            ) from None
        try:
            same_file = os.stat(lock_path).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode("ascii"))
            return descriptor
        os.close(descriptor)  # the holder removed the file as we opened it: take the new one


@contextlib.contextmanager
def folder_lock(path: str | os.PathLike[str], *, what: str = "folder") -> Iterator[Path]:
    """Hold the lock of the output folder ``path`` for the duration of the ``with`` block.

    The lock is ``.<name>.lock`` beside the folder, held with ``flock`` (the kernel
    releases it when the process ends, however it ends) and holding the process id for
    the message another command shows. It is re-entrant within one process. With the lock
    held, the leftovers of dead writers beside the folder are removed. The location is
    checked first (:func:`check_writable`); folders created for the lock are removed
    again when the block raises and leaves them empty.

    Raises
    ------
    ResultsError
        The location cannot be written, or another process holds the lock.
    """
    check_writable(path, what=what)
    target = Path(os.path.abspath(path))
    lock_path = target.parent / f".{target.name}.lock"
    if lock_path in _HELD:
        _HELD[lock_path][1] += 1
        try:
            yield lock_path
        finally:
            _HELD[lock_path][1] -= 1
        return
    created = _make_parents(target.parent)
    try:
        descriptor = _acquire(lock_path, Path(path), what)
    except BaseException:
        _remove_empty(created)
        raise
    _HELD[lock_path] = [descriptor, 1]
    succeeded = False
    try:
        _clean_leftovers(target)
        yield lock_path
        succeeded = True
    finally:
        del _HELD[lock_path]
        with contextlib.suppress(OSError):
            lock_path.unlink()
        os.close(descriptor)
        if not succeeded:
            _remove_empty(created)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing ancestors; return those created, deepest last."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for item in reversed(missing):
        try:
            item.mkdir(exist_ok=True)
        except OSError as error:
            raise ResultsError(f"{item}: cannot create the folder ({(error.strerror or str(error)).lower()})") from None
    return list(reversed(missing))


def _remove_empty(created: list[Path]) -> None:
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def reserve_folder(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    what: str = "folder",
    hint: str = "choose another folder or overwrite",
) -> Iterator[Path]:
    """Claim the output folder ``path`` before the work that fills it starts.

    :func:`check_folder_free`, then :func:`folder_lock`, then the check again under the
    lock (another command may have finished writing the folder meanwhile). Writing the
    folder with :func:`atomic_folder` inside the block keeps the claim.

    Raises
    ------
    ResultsError
        As :func:`check_folder_free` and :func:`folder_lock`.
    """
    check_folder_free(path, overwrite=overwrite, what=what, hint=hint)
    with folder_lock(path, what=what) as lock_path:
        check_folder_free(path, overwrite=overwrite, what=what, hint=hint)
        yield lock_path


@contextlib.contextmanager
def atomic_folder(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    what: str = "folder",
    hint: str = "choose another folder or overwrite",
) -> Iterator[Path]:
    """Yield a hidden partial folder beside ``path``; rename it onto ``path`` on success.

    The folder is claimed first (:func:`reserve_folder`). The partial folder is
    ``.<name>.partial-<pid>-<random>`` in the same parent (created if needed). When the
    ``with`` block ends normally it replaces ``path`` (:func:`swap_into_place`); when it
    raises, the partial folder is removed and the exception propagates, leaving ``path``
    as it was; a write failure of the machine (disk full, ...) becomes a one-line
    :class:`ResultsError`.

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
        ``path`` is a file, a non-empty folder and ``overwrite`` is false, cannot be
        written, is being written by another process, or writing failed.
    """
    target = Path(path)
    with reserve_folder(target, overwrite=overwrite, what=what, hint=hint):
        partial = target.parent / f".{target.name}.partial-{os.getpid()}-{secrets.token_hex(6)}"
        partial.mkdir()
        try:
            yield partial
            swap_into_place(partial, target, overwrite=overwrite)
        except BaseException as error:
            reason = write_failure_reason(error, target.parent)
            shutil.rmtree(partial, ignore_errors=True)
            if reason is not None:
                raise ResultsError(f"{target}: cannot write the {what}: {reason}; nothing was written") from None
            if isinstance(error, ResultsError) and str(partial) in str(error):
                # a file of the partial folder failed (disk full, ...): name the folder the user asked for
                message = str(error).replace(str(partial), str(target))
                raise ResultsError(f"{message}; nothing was written") from None
            raise
