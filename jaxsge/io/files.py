"""Result files and folders: written atomically, as strict JSON, one run per result, one writer at a time.

* :func:`atomic_write`: a temporary file (``.tmp-NAME.*``) in the same folder, flushed and fsynced,
  then renamed over the target (and the folder fsynced): a reader, or a later run, sees either
  the old file or the whole new one, whatever happens to the writer. Files are created 0644
  (the umask applies).
* :func:`to_json`: JSON-able values from NumPy; NaN and infinity are refused (a result that
  is undefined is stated in words by the caller, never stored as NaN).
* :func:`result_folder` / :func:`result_file`: where a command writes its result (an
  :class:`Output`, used with ``with``; the rules are in its docstring and in README.md, Output
  files): checked before any computation, locked, written into a staging folder that replaces
  the previous result as a whole, with a record ``run.json`` written last. The one overwrite
  policy of every command: a target that holds anything is refused unless ``overwrite`` is
  given (``--overwrite``), and even then only a previous result of the same command is replaced.
* :func:`output_folder` / :func:`output_file`: the same checks of a location, for scripts that
  write named files into a folder they do not own (``output_file`` with ``overwrite=False``:
  the file must not exist yet, for a command's extra file such as ``stack --draw``).
* :class:`Lock`: one writer per output; a second one is refused with the holder's pid and
  host; a lock left by a dead process on this host is taken over.

The environment variable ``JAXSGE_KILL_WHILE_WRITING=POINT[@SIGNAL]`` sends SIGNAL (default
KILL; TERM and INT are the others the tests use) to the process half-way through writing the
file named POINT, or between the two renames of a commit for POINT = ``swap``: the tests use it
to check that nothing is lost or mixed at any of these points.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import hashlib
import json
import math
import os
import pathlib
import secrets
import shutil
import signal
import socket
import stat
import tempfile
import threading
import warnings

import numpy as np

KILL_HOOK = "JAXSGE_KILL_WHILE_WRITING"
SWAP = "swap"
FILE_MODE = 0o644
# A result needs a little room: refuse a full disk before computing, not after.
MIN_FREE_BYTES = 1 << 20
LOCK = ".lock"
RECORD = "run.json"
REPLOT = "replot"  # the default folder of ``jaxsge plot`` inside a result folder
TEMP = ".tmp-"
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
# A file this large is not a jaxsge result of one command (not read to find out).
MAX_RESULT_FILE = 1 << 26


def _kill_point(point: str, fh=None) -> None:
    """The test hook of the module docstring (a partial write first when ``fh`` is given)."""
    name, _, signame = os.environ.get(KILL_HOOK, "").partition("@")
    if name == point:
        if fh is not None:
            fh.write(b"partial")
            fh.flush()
        # raise_signal delivers to this (the main) thread at once; os.kill may reach another of JAX's
        # threads, and the main thread could finish the run before the handler takes effect.
        signal.raise_signal(getattr(signal, f"SIG{signame or 'KILL'}"))


def _fsync_folder(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, write) -> None:
    """Write through ``write(fh)`` (a binary file) into ``path`` atomically (see the module docstring)."""
    path = pathlib.Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP}{path.name[:64]}.", suffix=path.suffix)
    except OSError as err:
        err.filename = str(path)
        raise
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, FILE_MODE & ~umask)
        with os.fdopen(fd, "wb") as fh:
            _kill_point(path.name, fh)
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.filename == tmp:  # a message names the result, not the temporary file
            err.filename = str(path)
        raise
    _fsync_folder(path.parent)


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


def _what(mode: int) -> str:
    return ("a symbolic link" if stat.S_ISLNK(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a folder" if stat.S_ISDIR(mode) else "a file")


def _checked(path, option: str, want: str) -> pathlib.Path:
    """The absolute target of ``option``, refused (ValueError) unless it is absent or a ``want`` ("folder" or
    "file") of its own: never a link, a FIFO, a device or a socket, an empty path or an unexpanded ``~``."""
    text = os.fspath(path)
    if not text.strip():
        raise ValueError(f"{option} is empty: give a {want} name")
    if text.startswith("~"):
        raise ValueError(f"{option} {text!r} starts with '~', which the shell did not expand (it does so only at the "
                         f"start of a word: write {option} ~/... with a space instead of '=', or use $HOME)")
    target = pathlib.Path(os.path.abspath(text))
    try:
        mode = os.lstat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return target
    except OSError as err:
        raise ValueError(f"{option} {text!r} cannot be examined: {err.strerror}") from None
    if stat.S_ISLNK(mode):
        raise ValueError(f"{option} {text!r} is a symbolic link (to {os.readlink(target)!r}); results are written only "
                         f"into a {want} of their own: give the real path or a new name")
    if want == "folder" and stat.S_ISREG(mode):
        raise ValueError(f"{option} {text!r} is a file; give a folder")
    if want == "file" and stat.S_ISDIR(mode):
        raise ValueError(f"{option} {text!r} is a folder; give a file name")
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise ValueError(f"{option} {text!r} is {_what(mode)}, not a {want}; refusing to write over it")
    return target


def _make_folder(path: pathlib.Path, folder: pathlib.Path, option: str, failure: str) -> pathlib.Path:
    """Check the parents of ``path``, create ``folder`` (``failure`` says what could not be) and check its space."""
    for parent in [path.parent, *path.parent.parents]:  # the nearest existing one must be a writable folder
        try:
            mode = os.stat(parent).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not stat.S_ISDIR(mode):
            raise ValueError(f"{option} {str(path)!r}: {str(parent)!r} is {_what(mode)}, not a folder")
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
    """A folder for a script to write named files into, checked (:func:`_checked`) and created; a ValueError
    naming the option if it cannot be written. Commands use :func:`result_folder`."""
    _make_folder(pathlib.Path(path), _checked(path, option, "folder"), option, " cannot be created")
    return pathlib.Path(path)


def output_file(path, option: str = "--out", overwrite: bool = True) -> pathlib.Path:
    """An output file's location, checked (its folder exists or can be made, is writable; the path is absent or a
    regular file, and absent or empty unless ``overwrite``: the policy of :class:`Output`). Commands writing a
    result use :func:`result_file`."""
    target = _checked(path, option, "file")
    if not overwrite and target.is_file() and target.stat().st_size:
        raise ValueError(f"{option} {os.fspath(path)!r} exists; pass --overwrite to replace it, or give a new file "
                         "name")
    _make_folder(pathlib.Path(path), target.parent, option, ": its folder cannot be created")
    return pathlib.Path(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lock:
    """An exclusive lock file ``path`` (pid, host and start time) on ``guarded``: ``acquire``, then ``release``."""

    def __init__(self, path, guarded):
        self.path = pathlib.Path(path)
        self.guarded = guarded
        self.held = False

    def _create(self, record: bytes) -> None:
        """The lock file with its content at once (a reader never finds it empty): a hard link to a written file
        (FileExistsError if there is one); where links are not supported, created exclusively, then written."""
        tmp = self.path.with_name(f"{TEMP}{self.path.name}.{os.getpid()}.{secrets.token_hex(3)}")
        try:
            tmp.write_bytes(record)  # a full disk fails here, leaving nothing
            try:
                os.link(tmp, self.path)
                return
            except FileExistsError:
                raise
            except OSError:  # no hard links on this file system
                pass
        finally:
            tmp.unlink(missing_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(record)
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise

    def acquire(self) -> None:
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
        for _ in range(2):
            try:
                self._create(record.encode())
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
                    f"{str(self.guarded)!r} is being written by another run (pid {holder.get('pid', '?')} on host "
                    f"{holder.get('host', '?')}, since {holder.get('since', '?')}); wait for it, or remove "
                    f"{str(self.path)!r} if that run is dead") from None
            self.held = True
            return

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(OSError):  # gone with its folder
                self.path.unlink()
            self.held = False


@contextlib.contextmanager
def _interrupts_deferred():
    """SIGINT and SIGTERM wait until the block is done (steps that must not be cut in two), then act as they would
    have (handlers run in the main thread only, so elsewhere nothing is deferred)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in INTERRUPTS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
        if caught:
            signal.raise_signal(caught[0])


def read_record(folder) -> dict | None:
    """The ``run.json`` of a result folder (command, run id, files with sizes and SHA-256), or None."""
    try:
        record = json.loads((pathlib.Path(folder) / RECORD).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(record, dict) and isinstance(record.get("command"), str) and isinstance(record.get("files"), dict)
    return record if ok else None


def _is_replot(path: pathlib.Path) -> bool:
    """Whether ``path`` is the folder ``replot`` that ``jaxsge plot`` drew from the result beside it (derived from
    that result, so replaced with it)."""
    if path.name != REPLOT or path.is_symlink() or not path.is_dir():
        return False
    record = read_record(path)
    return record is not None and record["command"] == "plot"


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_result_file(path: pathlib.Path, command: str) -> bool:
    """Whether a file is a JSON result of ``command`` written by jaxsge (its ``command`` line names it)."""
    try:
        if path.stat().st_size > MAX_RESULT_FILE:
            return False
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    line = data.get("command")
    return "jaxsge_version" in data and isinstance(line, list) and line[1:2] == [command]


class Output:
    """Where one run of ``command`` writes its result: made by :func:`result_folder` or :func:`result_file`.

    Rules (README.md, Output files):

    * Made (before any computation): the path must be given (not empty, no unexpanded ``~``)
      and be absent or a folder (a regular file for ``kind="file"``): never a symbolic link, a
      FIFO, a device or a socket. Nothing but the output itself is ever replaced.
    * Entered (``with``): the folder (or the file's folder) is created; the lock is taken
      (``DIR/.lock``, or ``.NAME.lock`` beside a file; a second writer gets a ValueError naming
      the holder); an existing folder must be empty or hold only a previous result of the same
      command (its ``run.json``, or only the files the command writes, and a ``replot``
      folder of ``jaxsge plot`` drawn from it), an existing non-empty file must be a JSON
      result of the command; such a previous result is replaced only with ``overwrite``
      (``--overwrite``: the one overwrite policy of every command), else refused naming the
      option; leftovers of dead runs (temporary files, staging folders) are removed.
      ``kind="in_place"`` leaves these checks to its caller (an ensemble's manifest decides:
      ``ensemble.store.check_out_dir``, with the same ``overwrite``).
    * :meth:`commit`: the files are written into a fresh staging folder beside the target
      (``.NAME.jaxsge-staging-HOST-PID-*``, made only then), then ``run.json`` (run id,
      command, every file with its size and SHA-256) last; the staging folder replaces the
      target by two renames (previous result aside, staging folder in place) during which
      SIGINT and SIGTERM wait, and the previous result is deleted. A reader sees the previous
      result whole, then (after at most an instant with no folder) the new one whole.
      ``kind="in_place"`` (an ensemble, written unit by unit and resumable) writes into the
      folder itself; its commit removes the previous report (``run.json`` first, then
      ``names``) before writing the new one and its ``run.json``.
    * Left by an exception (SIGINT, SIGTERM, an error): the staging folder and temporary files
      are removed, a folder this run created and left empty is removed, the lock released.
    * A location that disappears during the run is made again and the files are written
      again; if it cannot be made, they go to a fresh folder named in the ValueError raised.
    """

    def __init__(self, path, command: str, *, kind: str = "folder", names=(), option: str = "--out",
                 overwrite: bool = False):
        self.text, self.command, self.kind, self.names = os.fspath(path), command, kind, tuple(names)
        self.option, self.overwrite = option, bool(overwrite)
        self.path = _checked(path, option, "file" if kind == "file" else "folder")
        self.run_id = f"{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        lock = self.path.parent / f".{self.path.name}.lock" if kind == "file" else self.path / LOCK
        self.lock = Lock(lock, self.text)
        self.staging = None
        self.written = ()
        self._depth = 0
        self._created = False

    def __enter__(self) -> "Output":
        self._depth += 1  # re-entrant: an ensemble run inside its report holds one lock
        if self._depth == 1:
            try:
                self._open()
            except BaseException:
                self._depth = 0
                with _interrupts_deferred():
                    self._close(failed=True)
                raise
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self._depth -= 1
        if self._depth == 0:
            with _interrupts_deferred():
                self._close(failed=kind is not None)

    def _refuse(self, why: str):
        raise ValueError(f"{self.option} {self.text!r} {why}")

    def _open(self) -> None:
        text = pathlib.Path(self.text)
        if self.kind == "file":
            _make_folder(text, self.path.parent, self.option, ": its folder cannot be created")
        else:
            with contextlib.suppress(OSError):
                cwd = pathlib.Path.cwd()
                if self.kind == "folder" and (cwd == self.path or self.path in cwd.parents):
                    self._refuse("holds the current folder; a run replaces its folder as a whole: give a folder of "
                                 "its own")
            existed = self.path.is_dir()
            if self.kind == "folder" and existed and os.path.ismount(self.path):
                self._refuse("is a mount point; a run replaces its folder as a whole: give a folder inside it")
            _make_folder(text, self.path, self.option, " cannot be created")
            self._created = not existed
            if self.kind == "folder" and not os.access(self.path.parent, os.W_OK | os.X_OK):
                self._refuse(f"cannot be replaced as a whole: no permission to write in {str(self.path.parent)!r}")
        self.lock.acquire()
        self._check_owner()
        if self.kind != "in_place":  # an ensemble folder is first checked by its caller, who then calls this
            self.remove_leftovers()

    def _check_owner(self) -> None:
        if self.kind == "file":
            if self.path.is_file() and self.path.stat().st_size:
                if not _is_result_file(self.path, self.command):
                    self._refuse(f"exists and is not a jaxsge {self.command} result; refusing to replace it: give a "
                                 "new file name")
                if not self.overwrite:
                    self._refuse(f"already holds a jaxsge {self.command} result; pass --overwrite to replace it, or "
                                 "give a new file name")
            return
        if self.kind != "folder":  # an ensemble folder: its manifest decides (ensemble.store.check_out_dir)
            return
        entries = [p for p in self.path.iterdir() if p.name != LOCK and not p.name.startswith(TEMP)]
        if not entries:
            return
        record = read_record(self.path)
        if record is not None and record["command"] != self.command:
            self._refuse(f"holds a jaxsge {record['command']} result; refusing to replace it by a {self.command} "
                         "result: give another folder")
        allowed = {RECORD, *record["files"]} if record is not None else set(self.names)
        foreign = sorted(p.name for p in entries if not (p.name in allowed and p.is_file() and not p.is_symlink())
                         and not _is_replot(p))
        if foreign:
            self._refuse(f"is not empty and is not a previous {self.command} result (it holds "
                         f"{', '.join(map(repr, foreign[:3]))}{', ...' if len(foreign) > 3 else ''}); jaxsge replaces "
                         "only its own results: give a new or empty folder")
        if not self.overwrite:
            when = f" (finished {record['finished']})" if record is not None and "finished" in record else ""
            self._refuse(f"already holds a jaxsge {self.command} result{when}; pass --overwrite to replace it, or "
                         "give a new or empty folder")

    def _sibling(self, role: str) -> pathlib.Path:
        return self.path.parent / (f".{self.path.name}.jaxsge-{role}-{socket.gethostname()}-{os.getpid()}-"
                                   f"{secrets.token_hex(3)}")

    def remove_leftovers(self) -> None:
        """Temporary files and staging folders of runs that died (only the lock's holder writes here)."""
        if self.kind == "file":
            for stale in self.path.parent.glob(glob.escape(f"{TEMP}{self.path.name[:64]}.") + "*"):
                stale.unlink(missing_ok=True)
            return
        for stale in self.path.rglob(f"{TEMP}*"):
            if stale.is_file():
                stale.unlink(missing_ok=True)
        for stale in self.path.parent.glob(glob.escape(f".{self.path.name}.jaxsge-") + "*"):
            role_host, pid, _ = (stale.name[len(self.path.name) + 9:].rsplit("-", 2) + ["", ""])[:3]
            if role_host.partition("-")[2] == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)

    def _close(self, failed: bool) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        if failed and self._created:  # leave no empty folder behind a run that wrote nothing
            self.lock.release()
            with contextlib.suppress(OSError):
                self.path.rmdir()
        self.lock.release()

    def _location(self) -> pathlib.Path:
        if self.kind == "folder" and self.staging is None:
            self.staging = self._sibling("staging")
            self.staging.mkdir()
        return self.staging if self.kind == "folder" else self.path

    def _present(self) -> bool:
        """Whether the location of :meth:`write` is still there (else it disappeared during the run)."""
        if self.kind == "folder":
            return self.staging is not None and self.staging.is_dir()
        return (self.path if self.kind == "in_place" else self.path.parent).is_dir()

    def _remake(self) -> pathlib.Path:
        if self.kind == "file":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self.path
        if self.kind == "in_place":
            self.path.mkdir(parents=True, exist_ok=True)
            self.lock.held = False
            self.lock.acquire()
            return self.path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.staging = None
        return self._location()

    def _rescue(self) -> pathlib.Path:
        for base in (pathlib.Path.cwd, pathlib.Path.home, lambda: pathlib.Path(tempfile.gettempdir())):
            with contextlib.suppress(OSError, RuntimeError):
                folder = base() / f"jaxsge-{self.command}-{self.run_id}"
                folder.mkdir()
                return folder
        raise OSError("no folder can be made in the current folder, the home folder or the temporary folder")

    def write(self, write, restore=None) -> pathlib.Path:
        """``write(where)`` into this run's location (the staging folder, the folder itself in place, or the file);
        where that location disappeared meanwhile, it is made again (``restore(where)`` puts back what it needs)
        and written again, or, if it cannot be made, written into a fresh folder named in the ValueError raised.
        Returns the location written."""
        try:
            where = self._location()
            write(where)
            return where
        except OSError as err:
            if self._present():
                if self.kind == "folder" and err.filename and str(err.filename).startswith(str(where)):
                    err.filename = str(self.path) + str(err.filename)[len(str(where)):]  # the result, not the staging
                raise
        try:
            where = self._remake()
        except (OSError, ValueError) as err:
            rescue = self._rescue()
            where = rescue / self.path.name if self.kind == "file" else rescue
            if restore is not None:
                restore(where)
            write(where)
            if self.kind == "folder":
                self._record(where, sorted(p.name for p in where.iterdir() if p.is_file()))
            raise ValueError(f"{self.option} {self.text!r} disappeared during the run and could not be made again "
                             f"({getattr(err, 'strerror', None) or err}); the results are in {str(rescue)!r}") from None
        warnings.warn(f"{self.option} {self.text!r} disappeared during the run; it was made again", stacklevel=2)
        if restore is not None:
            restore(where)
        write(where)
        return where

    def _record(self, folder: pathlib.Path, names) -> tuple:
        files = {name: {"bytes": (folder / name).stat().st_size, "sha256": _sha256(folder / name)} for name in names}
        finished = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        write_json(folder / RECORD, {"command": self.command, "run_id": self.run_id, "files": files,
                                     "finished": finished})
        return (*names, RECORD)

    def commit(self, write) -> tuple:
        """Write this run's result through ``write(where)`` (a folder, or the file for ``kind="file"``) as the
        class docstring says; returns the names written."""
        if self.kind == "in_place":
            for name in (RECORD, *self.names):
                (self.path / name).unlink(missing_ok=True)
        where = self.write(write)
        if self.kind == "file":
            self.written = (self.path.name,)
            return self.written
        names = [n for n in self.names if (where / n).is_file()] if self.kind == "in_place" else \
            sorted(p.name for p in where.iterdir() if p.is_file() and p.name != RECORD)
        self.written = self._record(where, names)
        if self.kind == "folder":
            self._swap()
        return self.written

    def _keep(self, err: OSError):
        """The staging folder made visible beside the target when it cannot take the target's place."""
        kept = self.path.with_name(f"{self.path.name}-{self.run_id}")
        os.rename(self.staging, kept)
        self.staging = None
        self._refuse(f"could not be replaced ({err.strerror}); this run's results are in {str(kept)!r}")

    def _swap(self) -> None:
        trash = self._sibling("trash")
        with _interrupts_deferred():
            try:
                os.rename(self.path, trash)
            except FileNotFoundError:  # removed during the run: the staging folder takes its place
                trash = None
            except OSError as err:
                self._keep(err)
            self.lock.held = False  # the lock file went with the previous folder
            _kill_point(SWAP)
            try:
                os.rename(self.staging, self.path)
            except OSError as err:  # another run made the folder in the instant it was absent
                self._keep(err)
            self.staging = None
            _fsync_folder(self.path.parent)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)


def result_folder(path, command: str, names=(), *, in_place: bool = False, option: str = "--out",
                  overwrite: bool = False) -> Output:
    """The output folder of a run of ``command`` that writes the files ``names`` (an :class:`Output`);
    ``overwrite``: a previous result of ``command`` there may be replaced."""
    return Output(path, command, kind="in_place" if in_place else "folder", names=names, option=option,
                  overwrite=overwrite)


def result_file(path, command: str, option: str = "--out", overwrite: bool = False) -> Output:
    """The output file of a run of ``command`` (an :class:`Output` of kind "file")."""
    return Output(path, command, kind="file", option=option, overwrite=overwrite)
