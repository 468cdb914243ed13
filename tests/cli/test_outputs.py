"""Every run leaves one consistent result or a clean error (issue 20, classes 1, 2, 3 and 8).

* Output targets: anything but an absent path or a folder (a file for ``conductance --out``) of
  the command's own is refused before computing, with one line and exit status 2, and left as it was.
* One overwrite policy (issue 22): a previous result of the command itself is refused too unless
  ``--overwrite`` is given; with it, the previous result is replaced as a whole, never a foreign file.
* One run, one result: killed (SIGKILL) at every write point of every command that writes several
  files, a rerun leaves one run's files, matching its ``run.json``, and no temporary file.
* One writer: a second writer is refused naming the first; a folder removed during the run is made
  again (or the results go to a fresh folder named in the message).
* SIGTERM: like SIGINT (130), exit status 143, the previous result unchanged, no lock, no temporary file.

The kill points are set through ``JAXSGE_KILL_WHILE_WRITING=POINT[@SIGNAL]`` (``jaxsge.io.files``),
so every interruption happens at a known place; a pause is made with SIGSTOP once the run holds
its lock (taken before the computation), never with a sleep that guesses a duration.
"""

import hashlib
import json
import os
import pathlib
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxsge.cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
JUNCTION = "Lx = 5\nLy = 4\nLz = 3\nW = 3\nn_barrier = 1\ntheta = 1.1\nphi = 0.3\n"
ENSEMBLE = JUNCTION + "K0 = [0.5]\nn_realizations = 2\nn_phi = 8\ndisorder_layers = \"2deg\"\nseed = 4\n"
FAST = ["--nphi", "8", "--no-progress"]


def command_args(command, config, out):
    extra = {"scan": FAST, "sensitivity": FAST, "stack": ["--nphi", "8"], "ensemble": ["--no-progress"],
             "well": ["--no-progress"], "conductance": []}[command]
    return [command, str(config), "--out", str(out), *extra]


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
    """One JAX compilation cache for this module's subprocesses: a rerun loads what the first run compiled
    (about half of a small run's time on 2 cores); the numbers are those of the same compiled code."""
    global CACHE
    CACHE = {"JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.mktemp("jax-cache")),
             "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}


CACHE = {}


def environment(env=None) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), **CACHE, **(env or {})}


def as_from_a_terminal():
    """In the child before exec: SIGINT and SIGTERM at their defaults and unblocked, as a command typed in a
    terminal has them (a child inherits an ignored or blocked signal from the test process, whose state
    depends on the tests run before; Python then never raises KeyboardInterrupt)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def run_cli(*args, env=None, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "jaxsge", *map(str, args)], capture_output=True, text=True,
                          env=environment(env), cwd=cwd, timeout=timeout, preexec_fn=as_from_a_terminal)


def start_cli(*args, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "jaxsge", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, env=environment(),
                            preexec_fn=as_from_a_terminal)


def wait_for(path: pathlib.Path, proc, seconds=300):
    """Wait until ``path`` exists (the run's lock: taken before the computation starts)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def last_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines and "Traceback" not in stderr, stderr
    return lines[-1]


def assert_refused(code, err, *words):
    assert code == 2, err
    line = last_error(err)
    assert line.startswith("jaxsge: error:") and err.count("\n") == 1, err
    for word in words:
        assert word in line, (word, line)


def state(folder: pathlib.Path, lock=True) -> dict:
    """Every entry under ``folder`` (names, kinds, contents, link targets), to show that nothing changed;
    ``lock=False``: without the lock (that of a killed run stays, to be taken over by the next)."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if lock or p.name != ".lock"):
        mode = path.lstat().st_mode
        out[str(path.relative_to(folder))] = (stat.S_IFMT(mode), os.readlink(path) if stat.S_ISLNK(mode)
                                              else path.read_bytes() if stat.S_ISREG(mode) else None)
    return out


def leftovers(folder: pathlib.Path) -> list:
    """Temporary files, staging folders and locks in or beside ``folder``."""
    inside = [p for p in folder.rglob("*") if p.name.startswith(".tmp-") or p.name == ".lock"] \
        if folder.is_dir() else []
    beside = [p for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")]
    return inside + beside


def assert_one_run(folder: pathlib.Path, command: str, record_only=None) -> dict:
    """``folder`` holds exactly the files of one run, those its run.json lists (size and SHA-256), and nothing
    left over; ``record_only``: the files the record covers in a folder that holds more (an ensemble)."""
    record = json.loads((folder / "run.json").read_text())
    assert record["command"] == command
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    expected = sorted([*record["files"], "run.json"])
    assert (names if record_only is None else sorted(set(names) & set(record_only) | {"run.json"})) == expected
    for name, entry in record["files"].items():
        data = (folder / name).read_bytes()
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"], name
    assert leftovers(folder) == []
    return record


@pytest.fixture
def junction(tmp_path):
    path = tmp_path / "junction.toml"
    path.write_text(JUNCTION)
    return path


# ---------------------------------------------------------------------------------------------
# Class 1: the output target is checked before any computation, and nothing else is replaced


def make_target(kind: str, where: pathlib.Path) -> pathlib.Path:
    """A target of ``kind`` at ``where`` (with what it points to beside it)."""
    if kind == "fifo":
        os.mkfifo(where)
    elif kind == "device":
        try:
            os.mknod(where, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is, in a temporary folder
        except (PermissionError, OSError) as err:
            pytest.skip(f"no device node can be made here ({err.strerror}): /dev/null itself is never used")
    elif kind == "link_to_file":
        (where.parent / "real.json").write_text('{"keep": 1}')
        where.symlink_to("real.json")
    elif kind == "link_to_folder":
        (where.parent / "real").mkdir()
        (where.parent / "real" / "keep.txt").write_text("keep")
        where.symlink_to("real")
    elif kind == "dangling_link":
        where.symlink_to("nowhere")
    elif kind == "file":
        where.write_text("keep")
    elif kind == "folder":
        where.mkdir()
        (where / "keep.txt").write_text("keep")
    elif kind == "socket":
        import socket

        server = socket.socket(socket.AF_UNIX)
        server.bind(str(where))
        server.close()
    return where


@pytest.mark.parametrize("command", ["conductance", "scan", "sensitivity", "stack", "ensemble", "well"])
@pytest.mark.parametrize("kind, words", [
    ("fifo", ["FIFO"]), ("device", ["is a device"]), ("socket", ["is a socket"]),
    ("link_to_file", ["symbolic link", "'real.json'"]), ("link_to_folder", ["symbolic link", "'real'"]),
    ("dangling_link", ["symbolic link"]), ("file", []), ("folder", [])])
def test_a_target_that_is_not_its_own_is_refused_untouched(command, kind, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if command == "well":
        config = ROOT / "configs" / "well_paper.toml"
    else:
        config = tmp_path / "c.toml"
        config.write_text(ENSEMBLE if command == "ensemble" else JUNCTION)
    target = make_target(kind, tmp_path / "target")
    before = state(tmp_path)
    code = main(command_args(command, config, "target"))
    err = capsys.readouterr().err
    if kind == "file":
        words = ["exists and is not a jaxsge conductance result"] if command == "conductance" else ["is a file"]
    if kind == "folder":
        words = ["is a folder"] if command == "conductance" else ["holds no ensemble run"] \
            if command == "ensemble" else ["is not empty and is not a previous", "'keep.txt'"]
    assert_refused(code, err, "--out '", "target'", *words)
    assert state(tmp_path) == before  # the target, what it points to, and no staging folder or lock beside it
    assert target.is_symlink() or not kind.endswith("link")


@pytest.mark.parametrize("command", ["conductance", "scan", "ensemble"])
@pytest.mark.parametrize("out, words", [
    ("", ["--out is empty"]),
    ("~/x", ["'~/x' starts with '~'", "not expand"]),
    ("~", ["'~' starts with '~'"]),
    ("fifo/x", ["'fifo' is a FIFO (named pipe), not a folder"]),
])
def test_empty_unexpanded_and_impossible_paths_are_refused(command, out, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "c.toml").write_text(ENSEMBLE if command == "ensemble" else JUNCTION)
    before = state(tmp_path)
    assert_refused(main([*command_args(command, "c.toml", "x")[:2], f"--out={out}",
                         *command_args(command, "c.toml", "x")[4:]]), capsys.readouterr().err, *words)
    assert state(tmp_path) == before  # in particular no folder named '~'


def test_the_current_folder_is_not_replaced(tmp_path, monkeypatch, capsys):
    (tmp_path / "c.toml").write_text(JUNCTION)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    for out in (".", str(empty), ".."):
        assert_refused(main(["scan", "../c.toml", "--out", out, *FAST]), capsys.readouterr().err,
                       "holds the current folder")
    assert empty.is_dir() and list(empty.iterdir()) == []


def test_a_previous_result_of_another_command_or_with_foreign_files_is_refused(junction, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"command": "sensitivity", "files": {}}))
    assert_refused(main([*command_args("scan", junction, out), "--overwrite"]), capsys.readouterr().err,
                   "holds a jaxsge sensitivity result", "by a scan result")
    # a scan's own result with a file of the user's added, or a sub-folder: not replaced
    (out / "run.json").write_text(json.dumps({"command": "scan", "files": {"scan.json": {}}}))
    (out / "scan.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    before = state(out)
    assert_refused(main([*command_args("scan", junction, out), "--overwrite"]), capsys.readouterr().err, "'notes.txt'")
    (out / "notes.txt").unlink()
    (out / "plots").mkdir()
    assert_refused(main([*command_args("scan", junction, out), "--overwrite"]), capsys.readouterr().err, "'plots'")
    (out / "plots").rmdir()
    (out / "notes.txt").write_text("mine")
    assert state(out) == before


def test_conductance_replaces_only_its_own_result_file(junction, tmp_path, capsys):
    target = tmp_path / "g.json"
    target.write_text("")  # an empty file holds nothing to lose
    assert main(["conductance", str(junction), "--out", str(target)]) == 0
    first = json.loads(target.read_text())
    assert first["command"][1] == "conductance"
    capsys.readouterr()
    before = target.read_bytes()
    assert_refused(main(["conductance", str(junction), "--out", str(target), "--set", "alpha3=-0.3"]),
                   capsys.readouterr().err, "already holds a jaxsge conductance result", "pass --overwrite")
    assert target.read_bytes() == before
    assert main(["conductance", str(junction), "--out", str(target), "--set", "alpha3=-0.3", "--overwrite"]) == 0
    assert json.loads(target.read_text())["system"]["params"]["alpha3"] == -0.3  # its own, asked: replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json", "junction.toml"]  # no lock, no temporary file
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"jaxsge_version": "0", "command": ["jaxsge", "scan"]}))
    capsys.readouterr()
    assert_refused(main(["conductance", str(junction), "--out", str(other), "--overwrite"]), capsys.readouterr().err,
                   "is not a jaxsge conductance result")


# What each command computes first: replaced by a function that fails, to show a refusal comes before it.
COMPUTES = {"scan": "jaxsge.cli.scan.conversion_scan", "sensitivity": "jaxsge.cli.sensitivity.sensitivities",
            "stack": "jaxsge.cli.stack.solve", "conductance": "jaxsge.cli.conductance.solve",
            "well": "jaxsge.well.figures._compute", "ensemble": "jaxsge.ensemble.run.run"}
# A previous result of each command, as its run.json records it (one of its files beside it).
PREVIOUS = {"scan": "scan.json", "sensitivity": "sensitivity.json", "stack": "stack.json", "well": "well.json",
            "ensemble": "stats.json"}


def no_compute(monkeypatch, command):
    def refuse(*args, **kwargs):
        raise AssertionError(f"{command} computed before checking --out")

    monkeypatch.setattr(COMPUTES[command], refuse)


@pytest.mark.parametrize("command", ["scan", "sensitivity", "stack", "well", "conductance"])
def test_a_previous_result_is_replaced_only_with_overwrite(command, tmp_path, monkeypatch, capsys):
    """The one overwrite policy: the command's own previous result is refused (one line, exit 2, nothing computed,
    nothing changed) unless --overwrite is given."""
    monkeypatch.chdir(tmp_path)
    config = ROOT / "configs" / "well_paper.toml" if command == "well" else tmp_path / "c.toml"
    if command != "well":
        config.write_text(JUNCTION)
    out = tmp_path / ("g.json" if command == "conductance" else "out")
    if command == "conductance":
        out.write_text(json.dumps({"jaxsge_version": "0", "command": ["jaxsge", "conductance"]}))
    else:
        out.mkdir()
        (out / PREVIOUS[command]).write_text("{}")
        (out / "run.json").write_text(json.dumps({"command": command, "files": {PREVIOUS[command]: {}},
                                                  "finished": "2026-01-01T00:00:00+00:00"}))
    before = state(tmp_path)
    no_compute(monkeypatch, command)
    assert_refused(main(command_args(command, config, out)), capsys.readouterr().err,
                   f"--out '{out}' already holds a jaxsge {command} result", "pass --overwrite to replace it")
    assert state(tmp_path) == before
    with pytest.raises(AssertionError, match="computed before checking"):  # asked: the run goes ahead
        main([*command_args(command, config, out), "--overwrite"])
    assert state(tmp_path) == before  # (and a failed run leaves the previous result)


def test_stack_draw_follows_the_overwrite_policy(junction, tmp_path, capsys):
    drawing = tmp_path / "junction.png"
    drawing.write_bytes(b"a previous drawing")
    assert_refused(main(["stack", str(junction), "--draw", str(drawing)]), capsys.readouterr().err,
                   f"--draw '{drawing}' exists", "pass --overwrite")
    assert drawing.read_bytes() == b"a previous drawing"
    assert main(["stack", str(junction), "--draw", str(drawing), "--overwrite"]) == 0
    assert drawing.read_bytes().startswith(b"\x89PNG")


def test_overwrite_replaces_a_previous_result_as_a_whole(junction, tmp_path, capsys):
    """--overwrite on a real previous scan: one run's files afterwards (the new one), and its replot with it."""
    out = tmp_path / "out"
    assert main(command_args("scan", junction, out)) == 0
    assert main(["plot", str(out)]) == 0
    assert (out / "replot" / "polar.png").is_file()
    capsys.readouterr()
    assert_refused(main([*command_args("scan", junction, out), "--set", "alpha3=-0.3"]), capsys.readouterr().err,
                   "already holds a jaxsge scan result")
    assert main([*command_args("scan", junction, out), "--set", "alpha3=-0.3", "--overwrite"]) == 0
    assert_one_run(out, "scan")
    assert not (out / "replot").exists()  # drawn from the replaced result: replaced with it
    assert json.loads((out / "scan.json").read_text())["system"]["params"]["alpha3"] == -0.3


def test_ensemble_overwrite_replaces_another_run_and_nothing_else(ensemble_config, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert main(command_args("ensemble", ensemble_config, out)) == 0
    capsys.readouterr()
    before = state(out)
    no_compute(monkeypatch, "ensemble")
    other = [*command_args("ensemble", ensemble_config, out), "--set", "seed=5"]
    assert_refused(main(other), capsys.readouterr().err, "holds a run with other parameters", "pass --overwrite")
    assert_refused(main(command_args("ensemble", ensemble_config, out)), capsys.readouterr().err,
                   "already holds this run", "--resume", "--overwrite")
    assert_refused(main([*other, "--overwrite", "--resume"]), capsys.readouterr().err,
                   "--resume continues the run in --out and --overwrite replaces it")
    (out / "notes.txt").write_text("mine")
    assert_refused(main([*other, "--overwrite"]), capsys.readouterr().err, "'notes.txt'", "choose another folder")
    (out / "notes.txt").unlink()
    assert state(out) == before
    monkeypatch.undo()
    assert main([*other, "--overwrite"]) == 0
    assert_one_ensemble(out, 2)
    assert json.loads((out / "stats.json").read_text())["identity"]["system"]["params"]["seed"] == 5


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders: permissions cannot be tested")
def test_read_only_folders_are_refused_before_computing(junction, tmp_path, capsys):
    locked = tmp_path / "locked"
    (locked / "out").mkdir(parents=True)
    locked.chmod(0o555)
    try:
        assert_refused(main(command_args("scan", junction, locked / "out")), capsys.readouterr().err,
                       "no permission to write in")
        assert_refused(main(command_args("scan", junction, locked / "new")), capsys.readouterr().err,
                       "no permission to write in")
    finally:
        locked.chmod(0o755)


# ---------------------------------------------------------------------------------------------
# Class 2: one run, one result, whatever point a run is killed at


# Every point for scan; the first file and the record for the others (the same io.files.Output commits them).
FOLDER_POINTS = {
    "scan": ["scan.npz", "scan.json", "polar.png", "run.json", "swap"],
    "sensitivity": ["sensitivity.npz", "run.json"],
    "stack": ["stack.json", "run.json"],
}


@pytest.mark.parametrize("command", sorted(FOLDER_POINTS))
def test_killed_at_every_write_point_a_rerun_leaves_one_run(command, junction, tmp_path):
    out = tmp_path / "out"
    first = run_cli(*command_args(command, junction, out))
    assert first.returncode == 0, first.stderr
    assert_one_run(out, command)
    before = state(out)
    for point in FOLDER_POINTS[command]:
        proc = run_cli(*command_args(command, junction, out), "--set", "alpha3=-0.3", "--overwrite",
                       env={"JAXSGE_KILL_WHILE_WRITING": point})
        assert proc.returncode == -signal.SIGKILL, (point, proc.stderr)
        if point != "swap":  # killed between its two renames, the folder is absent until the next run
            assert state(out, lock=False) == before, point  # the previous run, whole and alone
    rerun = run_cli(*command_args(command, junction, out), "--overwrite", "--set", "alpha3=-0.3")
    assert rerun.returncode == 0, rerun.stderr
    record = assert_one_run(out, command)  # the leftovers of every killed run are gone too
    assert f"wrote {out}: " in rerun.stdout and "run.json" in rerun.stdout
    result = json.loads((out / f"{command}.json").read_text())
    assert result["system"]["params"]["alpha3"] == -0.3 and result["command"][-1] == "alpha3=-0.3"
    assert f"{command}.json" in record["files"]


@pytest.mark.slow
def test_well_killed_while_writing_keeps_the_previous_result_then_reruns_into_one(tmp_path):
    """The well report: four runs of about a minute each on 2 cores (compilation), so in the slow set only;
    two points: a figure between the data files, and the record (every file is in the staging folder)."""
    from tests.well.test_well_cli import REDUCED

    config = tmp_path / "reduced.toml"
    config.write_text(REDUCED)
    out = tmp_path / "out"
    args = ["well", config, "--out", out, "--no-progress"]
    assert run_cli(*args).returncode == 0
    assert_one_run(out, "well")
    before = state(out)
    for point in ("well_fig4_profiles.png", "run.json"):
        proc = run_cli(*args, "--set", "d=0.9", "--overwrite", env={"JAXSGE_KILL_WHILE_WRITING": point})
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert state(out, lock=False) == before
    proc = run_cli(*args, "--set", "d=0.9", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert_one_run(out, "well")
    assert json.loads((out / "well.json").read_text())["params"]["d"] == 0.9


@pytest.fixture
def ensemble_config(tmp_path):
    path = tmp_path / "ens.toml"
    path.write_text(ENSEMBLE)
    return path


ENSEMBLE_REPORT = ["ensemble.npz", "ensemble.nc", "stats.json", "fig3.png", "curves.png", "convergence.png"]


def assert_one_ensemble(out: pathlib.Path, n: int):
    assert_one_run(out, "ensemble", record_only=ENSEMBLE_REPORT)
    assert json.loads((out / "stats.json").read_text())["n_realizations"] == n
    assert json.loads((out / "manifest.json").read_text())["n_realizations"] == n
    with np.load(out / "ensemble.npz") as data:
        assert data["Gsc_x"].shape[-2] == n


@pytest.mark.parametrize("point", ["manifest.json", "xi0_K00_r000001.npz", "run.json"])
def test_ensemble_killed_at_a_write_point_resumes_into_one_run(point, ensemble_config, tmp_path):
    out = tmp_path / "out"
    proc = run_cli(*command_args("ensemble", ensemble_config, out), env={"JAXSGE_KILL_WHILE_WRITING": point})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (out / "run.json").exists()  # a report is never recorded before it is whole
    plain = run_cli(*command_args("ensemble", ensemble_config, out))
    if point == "manifest.json":  # killed before anything was kept: a plain rerun starts afresh
        assert plain.returncode == 0, plain.stderr
    else:  # units or a partial report are kept: continuing needs --resume, and the folder is left as it was
        assert_refused(plain.returncode, plain.stderr, "pass --resume")
        resumed = run_cli(*command_args("ensemble", ensemble_config, out), "--resume")
        assert resumed.returncode == 0, resumed.stderr
    assert_one_ensemble(out, 2)
    # more realizations, killed while the new report is written: the old report is gone, never mixed in
    more = [*command_args("ensemble", ensemble_config, out), "--resume", "--set", "n_realizations=3"]
    if point == "run.json":
        proc = run_cli(*more, env={"JAXSGE_KILL_WHILE_WRITING": "fig3.png"})
        assert proc.returncode == -signal.SIGKILL
        assert not (out / "run.json").exists() and not (out / "curves.png").exists()  # the previous report: removed
        assert json.loads((out / "stats.json").read_text())["n_realizations"] == 3
        assert run_cli(*more).returncode == 0
        assert_one_ensemble(out, 3)


# ---------------------------------------------------------------------------------------------
# Class 3: one writer per output; a folder that disappears loses nothing


def test_a_second_writer_is_refused_while_the_first_finishes(junction, tmp_path):
    out = tmp_path / "out"
    first = start_cli(*command_args("scan", junction, out))
    try:
        wait_for(out / ".lock", first)
        first.send_signal(signal.SIGSTOP)  # the first run holds the folder, computing
        second = run_cli(*command_args("scan", junction, out), "--set", "alpha3=-0.3")
        assert_refused(second.returncode, second.stderr, f"pid {first.pid}", "being written by another run")
    finally:
        first.send_signal(signal.SIGCONT)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert_one_run(out, "scan")
    assert json.loads((out / "scan.json").read_text())["system"]["params"]["alpha3"] != -0.3


def test_a_second_writer_of_one_file_is_refused(junction, tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    target = tmp_path / "g.json"
    try:
        (tmp_path / ".g.json.lock").write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename,
                                                           "since": "now"}))
        assert_refused(main(["conductance", str(junction), "--out", str(target)]), capsys.readouterr().err,
                       f"pid {holder.pid}", "'" + str(target) + "' is being written")
        assert not target.exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(["conductance", str(junction), "--out", str(target)]) == 0  # a dead holder's lock is taken over
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json", "junction.toml"]


@pytest.mark.parametrize("removed", ["folder", "parent", "parent_replaced_by_a_file"])
def test_a_folder_removed_during_the_run_loses_nothing(removed, junction, tmp_path):
    import shutil

    parent = tmp_path / "parent"
    out = parent / "out"
    proc = start_cli(*command_args("scan", junction, out), cwd=tmp_path)
    try:
        wait_for(out / ".lock", proc)
        proc.send_signal(signal.SIGSTOP)
        shutil.rmtree(out if removed == "folder" else parent)
        if removed == "parent_replaced_by_a_file":
            parent.write_text("now a file")
    finally:
        proc.send_signal(signal.SIGCONT)
    stdout, stderr = proc.communicate(timeout=300)
    assert ".tmp-" not in stderr and "staging" not in stderr
    if removed != "parent_replaced_by_a_file":
        assert proc.returncode == 0, stderr
        assert "disappeared during the run" in stderr or removed == "folder"
        assert_one_run(out, "scan")
        return
    line = last_error(stderr)
    assert proc.returncode == 2 and "disappeared during the run and could not be made again" in line, stderr
    rescued = pathlib.Path(line.rsplit("the results are in ", 1)[1].strip("'"))
    assert rescued.parent == tmp_path and rescued.name.startswith("jaxsge-scan-")
    assert_one_run(rescued, "scan")
    assert parent.read_text() == "now a file"


# ---------------------------------------------------------------------------------------------
# Class 8: SIGTERM as SIGINT: a message, the output as it was, no lock, no temporary file


@pytest.mark.parametrize("point, signame, status", [("scan.json", "TERM", 143), ("run.json", "INT", 130)])
def test_a_signal_while_writing_leaves_the_previous_result(point, signame, status, junction, tmp_path):
    out = tmp_path / "out"
    assert run_cli(*command_args("scan", junction, out)).returncode == 0
    before = state(out)
    proc = run_cli(*command_args("scan", junction, out), "--set", "alpha3=-0.3", "--overwrite",
                   env={"JAXSGE_KILL_WHILE_WRITING": f"{point}@{signame}"})
    assert proc.returncode == status, proc.stderr
    assert last_error(proc.stderr).startswith(f"jaxsge: interrupted by SIG{signame}: the output is as it was")
    assert state(out) == before and leftovers(out) == []


def test_sigterm_during_the_computation_exits_143_and_leaves_nothing(junction, tmp_path):
    out = tmp_path / "out"
    proc = start_cli(*command_args("scan", junction, out), "--nphi", "64")
    wait_for(out / ".lock", proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 143, stderr
    assert "interrupted by SIGTERM" in last_error(stderr)
    assert not out.exists() and list(tmp_path.iterdir()) == [junction]  # the folder it made, empty, is gone


def test_sigterm_in_an_ensemble_keeps_finished_units_and_releases_the_lock(ensemble_config, tmp_path):
    out = tmp_path / "out"
    proc = run_cli(*command_args("ensemble", ensemble_config, out),
                   env={"JAXSGE_KILL_WHILE_WRITING": "xi0_K00_r000001.npz@TERM"})
    assert proc.returncode == 143, proc.stderr
    assert "continue it with --resume" in last_error(proc.stderr)
    assert not (out / ".lock").exists() and not list(out.rglob(".tmp-*"))
    kept = sorted(p.name for p in (out / "units").iterdir())
    assert "xi0_K00_r000001.npz" not in kept and kept  # finished units kept, the interrupted one not half-written
    resumed = run_cli(*command_args("ensemble", ensemble_config, out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_one_ensemble(out, 2)
