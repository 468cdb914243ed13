"""Result files: written atomically, as strict JSON, into folders checked before any computation.

* :func:`atomic_write`: a temporary file in the same folder, flushed and fsynced, then renamed
  over the target (and the folder fsynced): a reader, or a later run, sees either the old
  file or the whole new one, whatever happens to the writer. Files are created 0644 (the
  umask applies). The environment variable ``JAXSGE_KILL_WHILE_WRITING=<file name>`` kills the
  process half-way through writing that file: the tests use it to check that nothing is lost.
* :func:`to_json`: JSON-able values from NumPy; NaN and infinity are refused (a result that
  is undefined is stated in words by the caller, never stored as NaN).
* :func:`output_folder` / :func:`output_file`: refuse, before the computation, a location that
  cannot be written (a file where a folder is wanted, a path under a file, no permission).
* :class:`FolderLock`: one writer per ensemble folder; a second one is refused with the
  holder's pid and host; a lock left by a dead process on this host is taken over.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import pathlib
import signal
import socket
import tempfile

import numpy as np

KILL_HOOK = "JAXSGE_KILL_WHILE_WRITING"
FILE_MODE = 0o644
# A result needs a little room: refuse a full disk before computing, not after.
MIN_FREE_BYTES = 1 << 20


def atomic_write(path, write) -> None:
    """Write through ``write(fh)`` (a binary file) into ``path`` atomically (see the module docstring)."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, FILE_MODE & ~umask)
        with os.fdopen(fd, "wb") as fh:
            if os.environ.get(KILL_HOOK) == path.name:
                fh.write(b"partial")
                fh.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def to_json(obj, where: str = "result"):
    """JSON-able values: NumPy scalars and arrays to Python, tuples to lists; NaN/inf refused."""
    if isinstance(obj, dict):
        return {str(k): to_json(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        return to_json(obj.tolist(), where)
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        if not math.isfinite(value):
            raise ValueError(f"{where} = {value} is not a finite number; refusing to write it as a result")
        return value
    if isinstance(obj, (np.complexfloating, complex)):
        return {"re": to_json(obj.real, where), "im": to_json(obj.imag, where)}
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, pathlib.Path):
        return str(obj)
    raise TypeError(f"{where}: {type(obj).__name__} is not JSON-able")


def json_text(obj) -> str:
    return json.dumps(to_json(obj), indent=1, allow_nan=False)


def write_json(path, obj) -> None:
    write_text(path, json_text(obj))


def write_text(path, text: str) -> None:
    data = text.encode()
    atomic_write(path, lambda fh: fh.write(data))


def write_npz(path, **arrays) -> None:
    for name, value in arrays.items():
        arr = np.asarray(value)
        if np.issubdtype(arr.dtype, np.number) and not np.all(np.isfinite(arr)):
            raise ValueError(f"array {name!r} holds NaN or infinity; refusing to write it as a result")
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def write_figure(path, fig, dpi: int = 130) -> None:
    """Save a matplotlib figure atomically (its format from the suffix)."""
    path = pathlib.Path(path)
    atomic_write(path, lambda fh: fig.savefig(fh, dpi=dpi, format=path.suffix.lstrip(".")))


def _make_folder(path: pathlib.Path, folder: pathlib.Path, option: str, failure: str) -> pathlib.Path:
    """Check the parents of ``path``, create ``folder`` (``failure`` says what could not be) and check its space."""
    for parent in [path.parent, *path.parent.parents]:  # the nearest existing one must be a writable folder
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{option} {str(path)!r}: {str(parent)!r} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"{option} {str(path)!r}: no permission to write in {str(parent)!r}")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{option} {str(path)!r}{failure}: {err.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {str(path)!r}: no permission to write in {str(folder)!r}")
    with contextlib.suppress(OSError):  # no statistics: nothing to refuse
        stats = os.statvfs(folder)
        if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
            raise ValueError(f"{option} {str(folder)!r}: the disk is full (less than 1 MiB free)")
    return path


def output_folder(path, option: str = "--out") -> pathlib.Path:
    """The output folder, created if needed; a ValueError naming the option if it cannot be written."""
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {str(path)!r} is a file; give a folder")
    return _make_folder(path, path, option, " cannot be created")


def output_file(path, option: str = "--out") -> pathlib.Path:
    """An output file's location, checked (the folder exists or can be made, is writable, the path is not a folder)."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {str(path)!r} is a folder; give a file name")
    return _make_folder(path, path.parent, option, ": its folder cannot be created")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FolderLock:
    """An exclusive lock on a folder (``.lock`` holding pid, host and start time): ``acquire``, then ``release``."""

    def __init__(self, folder):
        self.path = pathlib.Path(folder) / ".lock"
        self.held = False

    def acquire(self) -> None:
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
            except FileExistsError:
                try:
                    holder = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    holder = {}
                if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) \
                        and not _alive(holder["pid"]):
                    self.path.unlink(missing_ok=True)  # left by a process that died
                    continue
                raise ValueError(
                    f"{str(self.path.parent)!r} is being written by another run (pid {holder.get('pid', '?')} on host "
                    f"{holder.get('host', '?')}, since {holder.get('since', '?')}); wait for it, or remove "
                    f"{str(self.path)!r} if that run is dead") from None
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh)
            self.held = True
            return

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
