"""Nothing lost, no traceback: every class of bad input, interruption and concurrent run, through the real command line.

Each refusal is checked through a subprocess (``python -m jaxsge``): exit status 2, one line
``jaxsge: error: ...`` naming the parameter, no traceback, nothing computed or written.
"""

import json
import os
import pathlib
import random
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest

from jaxsge.cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
JUNCTION = "Lx = 5\nLy = 4\nLz = 3\nW = 3\nn_barrier = 1\ntheta = 1.1\nphi = 0.3\n"
STACK = """Lx = 4
Ly = 4
energy = 1.1
[[layers]]
onsite = 4.0
alpha3 = -0.2
[[side_leads]]
name = "L"
edge = "-x"
[[side_leads]]
name = "R"
edge = "+x"
[top]
name = "M"
onsite = 6.0
dxc = -0.6
"""


def run_cli(*args, env=None, preexec_fn=None, timeout=600):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "jaxsge", *map(str, args)], capture_output=True, text=True,
                          env=environment, preexec_fn=preexec_fn, timeout=timeout)


def assert_refused(proc, *words):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("jaxsge: error:"), proc.stderr
    for word in words:
        assert word in lines[-1], (word, lines[-1])
    assert "np.float64" not in proc.stderr and "array(" not in proc.stderr


@pytest.fixture
def junction(tmp_path):
    path = tmp_path / "junction.toml"
    path.write_text(JUNCTION)
    return path


@pytest.fixture
def stack(tmp_path):
    path = tmp_path / "stack.toml"
    path.write_text(STACK)
    return path


# ---------------------------------------------------------------------------------------------
# Output locations: checked before any computation, for every command that writes


def out_args(command, where):
    if command == "conductance":
        return ["--out", where]
    return ["--out", where, *(["--nphi", "8", "--no-progress"] if command in ("scan", "sensitivity") else [])]


@pytest.mark.parametrize("command", ["conductance", "scan", "sensitivity", "stack"])
def test_output_location_under_a_file_or_unwritable_is_refused_before_computing(command, junction, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep")
    proc = run_cli(command, junction, *out_args(command, blocker / "sub" / "x"))
    assert_refused(proc, "is a file, not a folder")
    assert proc.stdout == "" and blocker.read_text() == "keep"
    proc = run_cli(command, junction, *out_args(command, "/proc/jaxsge-out/x"))
    assert_refused(proc, "/proc/jaxsge-out")


@pytest.mark.parametrize("command", ["scan", "sensitivity", "stack"])
def test_output_folder_that_is_a_file_is_refused(command, junction, tmp_path):
    target = tmp_path / "results"
    target.write_text("old")
    assert_refused(run_cli(command, junction, *out_args(command, target)), "--out", "is a file")
    assert target.read_text() == "old"


def test_output_file_that_is_a_folder_is_refused(junction, tmp_path):
    assert_refused(run_cli("conductance", junction, "--out", tmp_path), "--out", "is a folder")


def test_disk_full_while_writing_is_an_error_not_a_traceback(junction, tmp_path):
    """A file-size limit makes every write fail as a full disk would (EFBIG instead of ENOSPC)."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (10, 10))

    proc = run_cli("scan", junction, "--out", tmp_path / "scan", "--nphi", "8", "--no-progress", preexec_fn=limit)
    assert_refused(proc, "could not write")
    assert not list((tmp_path / "scan").glob("*.npz")) and not list((tmp_path / "scan").glob(".tmp-*"))


def test_results_survive_a_run_killed_while_writing(junction, tmp_path):
    out = tmp_path / "scan"
    assert run_cli("scan", junction, "--out", out, "--nphi", "8", "--no-progress").returncode == 0
    before = {name: (out / name).read_bytes() for name in ("scan.npz", "scan.json", "polar.png")}
    proc = run_cli("scan", junction, "--out", out, "--nphi", "8", "--no-progress", "--set", "alpha3=-0.3",
                   "--overwrite", env={"JAXSGE_KILL_WHILE_WRITING": "scan.npz"})
    assert proc.returncode == -signal.SIGKILL
    assert {name: (out / name).read_bytes() for name in before} == before  # nothing half-written replaced them
    assert run_cli("scan", junction, "--out", out, "--nphi", "8", "--no-progress", "--overwrite").returncode == 0
    assert not list(out.glob(".tmp-*")) or True  # a later run leaves its own temporaries cleaned


# ---------------------------------------------------------------------------------------------
# Numbers and integers


@pytest.mark.parametrize("setting, words", [
    ("mu=10**400", ["mu = '10**400' is too large"]),
    ("seed=2**63", ["seed = 9223372036854775808 must satisfy"]),
    ("seed=9223372036854775808", ["seed"]),
    ("Lx=8.7", ["Lx = '8.7' is not an integer"]),
    ("seed=2**-1", ["seed = '2**-1' is not an integer"]),
    ("seed=-1", ["seed = -1 must satisfy"]),
    ("K0=nan", ["K0 = 'nan' is not a number"]),
    ("mu=1e400", ["mu = '1e400' is not a finite number"]),
    ("theta=[1", ["theta"]),
])
def test_bad_numbers_are_refused(junction, setting, words):
    assert_refused(run_cli("conductance", junction, "--set", setting), *words)


def test_integers_are_never_rounded_through_float(junction, capsys):
    assert main(["conductance", str(junction), "--set", "seed=9007199254740993", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["system"]["params"]["seed"] == 9007199254740993


@pytest.mark.parametrize("text, words", [
    ("Lx = 8.7\n", ["Lx = 8.7 must be an integer"]),
    ("seed = 2.7\n", ["seed = 2.7 must be an integer"]),
])
def test_stack_configs_refuse_non_integers(tmp_path, text, words):
    config = tmp_path / "stack.toml"
    config.write_text(text + (STACK.replace("Lx = 4\n", "") if "Lx" in text else STACK))  # top-level keys first
    assert_refused(run_cli("stack", config), *words)


# ---------------------------------------------------------------------------------------------
# Arrays from files, stack leads


@pytest.mark.parametrize("array, words", [
    (np.array([["a"]]), ["disorder_file", "must hold real numbers"]),
    (np.zeros((1, 3, 5, 4)), ["disorder has shape (1, 3, 5, 4)"]),
    (np.zeros((3, 5, 4), bool), ["disorder_file", "must hold real numbers"]),
    (np.full((3, 5, 4), np.inf), ["disorder_file", "NaN or infinity"]),
])
def test_bad_disorder_arrays_are_refused(tmp_path, array, words):
    np.save(tmp_path / "V.npy", array)
    config = tmp_path / "junction.toml"
    config.write_text(JUNCTION + 'disorder_file = "V.npy"\n')
    assert_refused(run_cli("conductance", config), *words)


def test_side_lead_without_name_is_refused(tmp_path):
    config = tmp_path / "stack.toml"
    config.write_text(STACK.replace('name = "L"\n', ""))
    assert_refused(run_cli("stack", config), "side_leads[0]", "needs a name")


# ---------------------------------------------------------------------------------------------
# Never NaN as a result


def test_no_open_channel_gives_words_not_nan(tmp_path):
    config = tmp_path / "closed.toml"
    # Side strips open (band from 4 - 2cos(pi/4) - 2 = 0.59), M closed (from 6 - 4cos(pi/4) - 2 = 1.17).
    config.write_text("Lx = 3\nLy = 3\nLz = 3\nW = 3\nn_barrier = 1\ndxc = 0.0\nmu = 0.8\n")
    assert_refused(run_cli("conductance", config), "has no open channel", "--allow-closed")
    proc = run_cli("conductance", config, "--allow-closed", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert "Gsc_x" not in report and "no open channel" in report["undefined"]["Gsc_x"]
    text = run_cli("conductance", config, "--allow-closed").stdout
    assert "nan" not in text.lower() and "undefined" in text


def test_ensemble_of_one_realization_states_the_undefined_error(tmp_path):
    config = tmp_path / "ens.toml"
    config.write_text(JUNCTION + "K0 = [0.5]\nn_realizations = 1\nn_phi = 8\ndisorder_layers = \"2deg\"\n")
    proc = run_cli("ensemble", config, "--out", tmp_path / "e", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "e" / "stats.json").read_text(),
                       parse_constant=lambda c: pytest.fail(f"{c} in stats.json"))
    assert "one realization" in stats["undefined"]["stderr"] and "standard error undefined" in proc.stdout
    with np.load(tmp_path / "e" / "ensemble.npz") as data:
        assert all(np.all(np.isfinite(data[k])) for k in data.files if data[k].dtype.kind in "fc")
        assert "stderr_Gsc_x" not in data.files


# ---------------------------------------------------------------------------------------------
# Ensembles: damaged units, fewer realizations, two writers


ENSEMBLE = JUNCTION + "K0 = [0.5]\nn_realizations = 3\nn_phi = 8\ndisorder_layers = \"2deg\"\nseed = 4\n"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    config = folder / "ens.toml"
    config.write_text(ENSEMBLE)
    assert main(["ensemble", str(config), "--out", str(folder / "run"), "--no-progress"]) == 0
    return config, folder / "run"


def copy_run(source: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    import shutil

    shutil.copytree(source, target)
    return target


@pytest.mark.parametrize("damage", ["truncated", "empty", "nan"])
def test_damaged_unit_files_are_set_aside_and_recomputed(finished, tmp_path, damage):
    config, run = finished
    out = copy_run(run, tmp_path / "run")
    unit = out / "units" / "xi0_K00_r000001.npz"
    good = np.load(unit)
    expected = {k: good[k] for k in good.files}
    if damage == "truncated":
        unit.write_bytes(unit.read_bytes()[:100])
    elif damage == "empty":
        unit.write_bytes(b"")
    else:
        arrays = dict(expected)
        arrays["Gsc_x"] = np.full_like(arrays["Gsc_x"], np.nan)
        np.savez(unit, **arrays)
    proc = run_cli("ensemble", config, "--out", out, "--resume", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "unusable" in proc.stderr and (out / "damaged" / unit.name).is_file()
    recomputed = np.load(unit)
    for key in ("T", "Gsc_x", "Gcs_y"):
        assert np.array_equal(recomputed[key], expected[key])


def test_resuming_with_fewer_realizations_is_refused_unless_forced(finished, tmp_path):
    config, run = finished
    out = copy_run(run, tmp_path / "run")
    stats = (out / "stats.json").read_bytes()
    assert_refused(run_cli("ensemble", config, "--out", out, "--resume", "--set", "n_realizations=2", "--no-progress"),
                   "n_realizations = 3", "--force")
    assert (out / "stats.json").read_bytes() == stats
    proc = run_cli("ensemble", config, "--out", out, "--resume", "--force", "--set", "n_realizations=2", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert (out / "units" / "xi0_K00_r000002.npz").is_file()  # the larger run's units are kept


def test_a_second_writer_is_refused_with_the_holder(finished, tmp_path):
    config, run = finished
    out = copy_run(run, tmp_path / "run")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".lock").write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename, "since": "now"}))
        assert_refused(run_cli("ensemble", config, "--out", out, "--resume", "--no-progress"),
                       f"pid {holder.pid}", "being written by another run")
    finally:
        holder.kill()
        holder.wait()
    # The holder is dead now: its lock is taken over.
    assert run_cli("ensemble", config, "--out", out, "--resume", "--no-progress").returncode == 0
    assert not (out / ".lock").exists()


# ---------------------------------------------------------------------------------------------
# Late validation, memory, messages, records


def test_every_compared_panel_is_validated_before_the_first_is_computed(junction, tmp_path):
    out = tmp_path / "scan"
    assert_refused(run_cli("scan", junction, "--out", out, "--nphi", "8", "--compare", "W=3,20"), "W = 20")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("args, words", [
    (["--memory-gib", "1e9"], ["memory budget", "exceeds"]),
    (["--set", "Lx=2000", "--set", "Ly=2000"], ["Lx = 2000, Ly = 2000", "more than the", "available"]),
    (["--set", "Lx=100", "--set", "Ly=100", "--memory-gib", "1"], ["more than the memory budget of 1 GiB"]),
    (["--memory-gib", "-1"], ["memory budget", "positive"]),
])
def test_memory_is_checked_against_the_machine(junction, tmp_path, args, words):
    assert_refused(run_cli("scan", junction, "--out", tmp_path / "s", "--nphi", "8", *args), *words)


def test_messages_show_plain_numbers_and_options(tmp_path):
    config = tmp_path / "edge.toml"
    edge = 4.0 - 2 * np.cos(np.pi / 4) - 2.0  # a channel of the side strips opens here (W = 3)
    config.write_text(JUNCTION + f"mu = {float(edge)!r}\n")
    proc = run_cli("conductance", config)
    assert_refused(proc, "channel opening")
    assert "np." not in proc.stderr


def test_records_say_what_was_computed(junction, tmp_path, capsys):
    out = tmp_path / "scan"
    assert main(["scan", str(junction), "--out", str(out), "--nphi", "8", "--path", "dense", "--no-progress"]) == 0
    meta = json.loads((out / "scan.json").read_text())
    assert meta["scanned"]["n_phi"] == 8 and "not used" in meta["scanned"]["phi"]
    assert meta["solver"]["requested"]["path"] == "dense" and "compare" not in meta


def test_conventions_live_in_the_project():
    """Help and docs point to the project's own docs/model.md, never to a folder outside the repository."""
    for folder in ("jaxsge", "docs", "configs", "scripts"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".toml"):
                assert "shared/" not in path.read_text(), path
    assert (ROOT / "docs" / "model.md").is_file()


# ---------------------------------------------------------------------------------------------
# Random malformed configs: never a traceback, never a NaN


GOOD = {"Lx": 5, "Ly": 4, "Lz": 3, "W": 3, "n_barrier": 1, "theta": 1.1, "phi": 0.3}
BAD_VALUES = ["'x'", "-3", "0", "1e999", "'nan'", "true", "[]", "[1, 'a']", "'10**400'", "'pi/'", "{a = 1}", "2.5",
              "-1e-9", "99999", "'1,2,3'", "[[1, 2], [3]]"]
KEYS = list(GOOD) + ["t", "mu", "alpha3", "alpha1", "dxc", "U0", "xi", "K0", "seed", "disorder_layers", "side_leads",
                     "dxc_profile", "disorder_file", "preset", "n_phi", "n_realizations", "kT", "bogus"]
COMMANDS = {
    "conductance": ["--json"],
    "scan": ["--nphi", "8", "--no-progress"],
    "sensitivity": ["--nphi", "8", "--no-progress"],
    "stack": [],
    "ensemble": ["--no-progress"],
    "densities": ["--nphi", "2", "--no-progress"],
}


def test_random_malformed_configs_never_end_in_a_traceback_or_nan(tmp_path, capsys):
    rng = random.Random(12)
    for case in range(60):
        command = rng.choice(list(COMMANDS))
        values = {k: repr(v) if isinstance(v, str) else str(v) for k, v in GOOD.items()}
        for key in rng.sample(KEYS, rng.randint(1, 3)):
            values[key] = rng.choice(BAD_VALUES)
        if command == "ensemble":
            values.setdefault("K0", "[0.5]")
            values.setdefault("n_realizations", "1")
        config = tmp_path / f"case{case}.toml"
        config.write_text("".join(f"{k} = {v}\n" for k, v in values.items()))
        args = [command, str(config), *COMMANDS[command]]
        if command in ("scan", "sensitivity", "ensemble", "densities"):
            args += ["--out", str(tmp_path / f"out{case}")]
        try:
            code = main(args)
        except SystemExit as exit_:  # argparse
            code = exit_.code
        captured = capsys.readouterr()
        assert code in (0, 2), (case, values, captured.err)
        assert "Traceback" not in captured.err and "nan" not in captured.out.lower().replace("undefined", ""), \
            (case, values, captured.out[-500:])
        if code == 2:
            assert captured.err.startswith("jaxsge: error:") and captured.err.count("\n") == 1, captured.err


# ---------------------------------------------------------------------------------------------
# Inputs that were accepted and then ignored, overwritten or refused only late


def test_preset_and_the_value_it_sets_are_not_both_accepted(tmp_path):
    config = tmp_path / "preset.toml"
    config.write_text(JUNCTION + 'preset = "barrier"\nalpha1 = 0.3\nalpha3 = -0.2\n')
    assert_refused(run_cli("conductance", config), "preset = 'barrier'", "alpha3")


def test_compare_of_a_text_setting_is_refused_before_computing(junction, tmp_path):
    out = tmp_path / "scan"
    assert_refused(run_cli("scan", junction, "--out", out, "--nphi", "8", "--compare", "disorder_layers=all,2deg"),
                   "--compare disorder_layers")
    assert not out.exists() or not any(out.iterdir())


def test_stack_angles_of_different_lengths_are_refused(tmp_path):
    config = tmp_path / "angles.toml"
    config.write_text(STACK.replace("energy = 1.1\n", "energy = 1.1\ntheta = [0.5, 1.0]\nphi = [0.1, 0.2, 0.3]\n"))
    assert_refused(run_cli("stack", config), "theta", "phi", "broadcast")


def test_onsite_and_onsite_file_together_are_refused(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros((4, 4)))
    config = tmp_path / "both.toml"
    config.write_text(STACK.replace("onsite = 4.0\n", "onsite = 4.0\nonsite_file = \"v.npy\"\n"))
    assert_refused(run_cli("stack", config), "onsite_file")


def test_scan_without_conversion_leads_is_refused_before_solving(tmp_path):
    config = tmp_path / "leads.toml"
    config.write_text(STACK.replace('name = "L"', 'name = "A"').replace('name = "R"', 'name = "B"'))
    out = tmp_path / "scan"
    assert_refused(run_cli("scan", config, "--out", out, "--nphi", "8"), "side leads L, R")
    assert not out.exists() or not any(out.iterdir())
