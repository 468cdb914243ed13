"""Disorder ensembles: reproducibility (block size, devices, processes), resumption, statistics, input errors."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxsge import JunctionParams, junction, junction_system, mechanism, solve, stack_system
from jaxsge.core.batching import GIB
from jaxsge.core.lattice import disorder_realization
from jaxsge.ensemble.report import load_ensemble, run_and_report
from jaxsge.ensemble.run import run_ensemble
from jaxsge.ensemble.spec import EnsembleSpec, Unit, all_units
from jaxsge.ensemble.stats import ensemble_statistics, mean_and_stderr, running_mean_and_stderr
from jaxsge.io.config import load_config
from jaxsge.ensemble.spec import spec_from_settings
from jaxsge.observables import response
from jaxsge.plan.plan import plan
from jaxsge.solve.transmissions import evaluation_bytes

ROOT = pathlib.Path(__file__).resolve().parents[2]
JUNCTION = dict(Lx=6, Ly=6, Lz=3, W=4, n_barrier=1, seed=3)


def spec_of(n=3, K0=(0.5, 1.0), xi=(3.6,), layers="2deg", n_phi=8, kind="2deg"):
    p = JunctionParams(**JUNCTION, disorder_layers=layers)
    if kind == "barrier":
        p = mechanism("barrier", p, alpha1=0.3)
    return EnsembleSpec(junction_system(p), (("xi", tuple(xi)), ("K0", tuple(K0))), n, n_phi)


def budget(spec, units: int) -> float:
    """A memory budget (GiB) that holds ``units`` disordered units per device per call on CPU."""
    system = spec.case_system((0, 0))
    stack = system.stack()
    per = evaluation_bytes(stack, plan(stack, system.energy()), reflection=False)
    return 2 * per * (units + 0.5) / GIB


def write_config(path, spec: EnsembleSpec) -> pathlib.Path:
    p = spec.system.base
    lines = [f"{k} = {v}" for k, v in JUNCTION.items()]
    lines += [f'disorder_layers = "{p.disorder_layers}"', f"K0 = {list(spec.cases[-1][1])}",
              f"xi = {list(spec.cases[0][1])}", f"n_realizations = {spec.n_realizations}", f"n_phi = {spec.n_phi}"]
    if float(np.asarray(spec.system.values["alpha1"])):
        lines += ['preset = "barrier"', f"alpha1 = {float(spec.system.values['alpha1'])}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def units_of(out_dir, spec):
    data = load_ensemble(out_dir, spec)
    return {**{f"clean{k}": v for k, v in data.clean.items()}, **data.disordered}


def assert_bit_identical(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def folder_state(path: pathlib.Path) -> dict:
    return {str(p.relative_to(path)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(path.rglob("*")) if p.is_file()}


def subprocess_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted single-process run with blocks of one unit."""
    spec = spec_of()
    out = tmp_path_factory.mktemp("reference")
    run_ensemble(spec, out, memory_budget_gib=budget(spec, 1), progress=False)
    return spec, out, units_of(out, spec)


def test_realizations_depend_on_seed_and_index_only():
    shape = (3, 6, 6)
    with jax.enable_x64(True):
        batched = np.asarray(jax.vmap(lambda i: disorder_realization(3, i, shape))(np.array([5, 0, 2])))
        one_by_one = [np.asarray(disorder_realization(3, i, shape)) for i in (5, 0, 2)]
    assert all(np.array_equal(b, o) for b, o in zip(batched, one_by_one))


def test_block_size_does_not_change_a_bit(reference, tmp_path):
    spec, _, expected = reference
    run_ensemble(spec, tmp_path, memory_budget_gib=budget(spec, 3), progress=False)
    assert_bit_identical(units_of(tmp_path, spec), expected)


def test_block_size_does_not_change_a_bit_with_every_layer_disordered(tmp_path):
    spec = spec_of(n=2, K0=(0.8,), layers="all")
    run_ensemble(spec, tmp_path / "one", memory_budget_gib=budget(spec, 1), progress=False)
    run_ensemble(spec, tmp_path / "many", memory_budget_gib=budget(spec, 4), progress=False)
    assert_bit_identical(units_of(tmp_path / "one", spec), units_of(tmp_path / "many", spec))


def test_upper_state_reuse_equals_per_angle_evaluation(tmp_path):
    """A unit eliminates its realization's upper layers once for all angles: the same numbers as
    evaluating every angle on its own (1e-12), for disorder in every layer."""
    spec = spec_of(n=2, K0=(0.8,), layers="all", n_phi=8)
    run_ensemble(spec, tmp_path, progress=False)
    data = load_ensemble(tmp_path, spec)
    stack = spec.case_system((0, 0)).stack()
    for r in range(2):
        for j, phi in enumerate(spec.phi):
            single = solve(stack.replace(phi=phi), stack_energy(spec), realizations=[r], reflection=False)
            np.testing.assert_allclose(data.disordered["T"][0, 0, r, j], single.T[0], atol=1e-12, rtol=0)


def stack_energy(spec):
    return float(spec.system.energy())


def test_ensemble_mean_equals_one_by_one_core_api(tmp_path):
    spec = spec_of(n=3, K0=(0.8,), xi=(3.6, 4.8), layers="all")
    run_ensemble(spec, tmp_path, memory_budget_gib=budget(spec, 3), progress=False)
    data = load_ensemble(tmp_path, spec)
    stats = ensemble_statistics(data.disordered, data.clean, ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y"), 3)
    for i in range(2):
        system = spec.case_system((i, 0))
        singles = []
        for r in range(spec.n_realizations):
            result = solve(system.stack().replace(phi=spec.phi), system.energy(), realizations=[r])
            with jax.enable_x64(True):
                singles.append([np.asarray(response.spin_charge(result.T[0], result.n_open[0], result.leads, pair))
                                for pair in (("L", "R"), ("B", "F"))])
        singles = np.asarray(singles)
        np.testing.assert_allclose(stats["mean_Gsc_x"][i, 0], singles[:, 0].mean(0), rtol=0, atol=1e-12)
        np.testing.assert_allclose(stats["mean_Gsc_y"][i, 0], singles[:, 1].mean(0), rtol=0, atol=1e-12)
        assert np.abs(singles[:, 0]).max() > 1e-4  # not trivially zero


def test_barrier_mechanism_ensemble_is_bit_identical_across_blocks_and_devices(tmp_path):
    """Spin-orbit coupling in the barrier only (every layer dense): blocks of 1 and 3 units, 4 devices."""
    spec = spec_of(n=2, K0=(0.5,), layers="all", kind="barrier")
    run_ensemble(spec, tmp_path / "one", memory_budget_gib=budget(spec, 1), progress=False)
    run_ensemble(spec, tmp_path / "three", memory_budget_gib=budget(spec, 3), progress=False)
    expected = units_of(tmp_path / "one", spec)
    assert_bit_identical(units_of(tmp_path / "three", spec), expected)
    assert np.abs(expected["Gsc_x"]).max() > 1e-5
    config = write_config(tmp_path / "barrier.toml", spec)
    out = tmp_path / "four"
    code = "import jax, sys; assert jax.local_device_count() == 4; from jaxsge.cli.main import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, "ensemble", str(config), "--out", str(out), "--no-progress",
                           "--memory-gib", str(budget(spec, 1))],
                          env=subprocess_env(XLA_FLAGS="--xla_force_host_platform_device_count=4"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "stats.json").read_text())["last_run"]["devices"] == 4
    assert_bit_identical(units_of(out, spec), expected)


def test_four_local_devices_give_the_same_bits(reference, tmp_path):
    spec, _, expected = reference
    config = write_config(tmp_path / "ens.toml", spec)
    env = subprocess_env(XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = tmp_path / "run"
    code = ("import jax, sys; assert jax.local_device_count() == 4; from jaxsge.cli.main import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "ensemble", str(config), "--out", str(out), "--no-progress",
                           "--memory-gib", str(budget(spec, 3))], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "stats.json").read_text())["last_run"]["devices"] == 4
    assert_bit_identical(units_of(out, spec), expected)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_distributed_processes_give_the_same_bits(reference, tmp_path):
    spec, _, expected = reference
    config = write_config(tmp_path / "ens.toml", spec)
    out, port = tmp_path / "run", free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "jaxsge.cli.ensemble", "ensemble", str(config), "--out", str(out),
                               "--no-progress", "--memory-gib", str(budget(spec, 3)), "--coordinator",
                               f"localhost:{port}", "--num-processes", "2", "--process-id", str(i)],
                              env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    last_run = json.loads((out / "stats.json").read_text())["last_run"]
    assert last_run["process_count"] == 2 and last_run["computed"] == (len(all_units(spec)) + 1) // 2
    assert_bit_identical(units_of(out, spec), expected)


def free_slurm_port() -> int:
    for port in np.random.default_rng().permutation(np.arange(61440, 65536)):
        with socket.socket() as s:
            try:
                s.bind(("localhost", int(port)))
            except OSError:
                continue
            return int(port)
    raise RuntimeError("no free port in 61440-65535")


def test_slurm_recipe_runs_one_process_per_task_to_the_same_bits(reference, tmp_path):
    """scripts/slurm_ensemble.sbatch as a cluster runs it, with a stand-in for srun that starts
    two tasks on this machine with SLURM's variables (jax.distributed finds them itself)."""
    spec, _, expected = reference
    config = write_config(tmp_path / "ens.toml", spec)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text("#!/bin/bash\n"
                    "for i in 0 1; do SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NTASKS=2 SLURM_STEP_NODELIST=localhost "
                    "\"$@\" & pids[$i]=$!; done\n"
                    "status=0; for p in ${pids[@]}; do wait $p || status=1; done; exit $status\n")
    srun.chmod(0o755)
    job_id = str(free_slurm_port() - 61440)  # JAX derives the coordinator's port: 61440 + job id mod 4096
    env = subprocess_env(PATH=f"{bin_dir}:{os.environ['PATH']}", SLURM_JOB_ID=job_id, CONFIG=str(config),
                         OUT=str(tmp_path / "run"), JAXSGE=f"{sys.executable} -m jaxsge")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "slurm_ensemble.sbatch"), "--memory-gib",
                           str(budget(spec, 3))], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    last_run = json.loads((tmp_path / "run" / "stats.json").read_text())["last_run"]
    assert last_run["process_count"] == 2
    assert_bit_identical(units_of(tmp_path / "run", spec), expected)


class Interrupted(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_bits_without_recomputing(reference, tmp_path):
    spec, _, expected = reference
    total, seen = len(all_units(spec)), []

    def stop_after_three(unit):
        seen.append(unit)
        if len(seen) == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_ensemble(spec, tmp_path, memory_budget_gib=budget(spec, 3), progress=False, on_unit=stop_after_three)
    first = folder_state(tmp_path / "units")
    assert len(first) == 3 and not list((tmp_path / "units").glob(".tmp-*"))
    assert not (tmp_path / ".lock").exists()
    with pytest.raises(ValueError, match="--resume"):
        run_ensemble(spec, tmp_path, progress=False)
    assert folder_state(tmp_path / "units") == first
    resumed = []
    run_ensemble(spec, tmp_path, resume=True, memory_budget_gib=budget(spec, 1), progress=False, on_unit=resumed.append)
    assert len(resumed) == total - 3 and not set(resumed) & set(seen)
    after = folder_state(tmp_path / "units")
    assert all(after[name] == state for name, state in first.items())  # finished units untouched
    assert_bit_identical(units_of(tmp_path, spec), expected)


def test_killed_process_resumes_to_the_same_bits(tmp_path):
    spec = spec_of(n=60, K0=(0.5,))
    config = write_config(tmp_path / "ens.toml", spec)
    out = tmp_path / "run"
    args = [sys.executable, "-m", "jaxsge", "ensemble", str(config), "--out", str(out), "--no-progress",
            "--memory-gib", str(budget(spec, 1))]
    proc = subprocess.Popen(args, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while len(list((out / "units").glob("*.npz"))) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((out / "units").glob("*.npz")))
    assert 5 <= done < len(all_units(spec)), "the run must be killed in the middle"
    assert (out / ".lock").exists()  # left by the killed process: the next run takes it over
    from jaxsge.cli.main import main
    assert main(["ensemble", str(config), "--out", str(out), "--resume", "--no-progress",
                 "--memory-gib", str(budget(spec, 3))]) == 0
    run_ensemble(spec, tmp_path / "uninterrupted", memory_budget_gib=budget(spec, 3), progress=False)
    assert_bit_identical(units_of(out, spec), units_of(tmp_path / "uninterrupted", spec))


def test_finished_run_extends_with_more_realizations(reference, tmp_path):
    spec, out, expected = reference
    small = spec_of(n=2)
    run_ensemble(small, tmp_path, memory_budget_gib=budget(spec, 3), progress=False)
    added = []
    run_ensemble(spec, tmp_path, resume=True, memory_budget_gib=budget(spec, 3), progress=False, on_unit=added.append)
    assert sorted(u.realization for u in added) == [2, 2]
    assert_bit_identical(units_of(tmp_path, spec), expected)


def test_outputs_and_statistics(reference, tmp_path):
    spec, _, _ = reference
    meta = run_and_report(spec, tmp_path, memory_budget_gib=budget(spec, 3), progress=False)
    for name in ("manifest.json", "ensemble.npz", "stats.json", "fig3.png", "curves.png", "convergence.png"):
        assert (tmp_path / name).is_file(), name
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644 & ~os.umask(os.umask(0))
    with np.load(tmp_path / "ensemble.npz") as data:
        gx = data["Gsc_x"]
        assert gx.shape == (1, 2, 3, 8) and data["T"].shape == (1, 2, 3, 8, 5, 2, 5, 2)
        np.testing.assert_allclose(data["mean_Gsc_x"], gx.mean(axis=2), rtol=1e-14)
        np.testing.assert_allclose(data["stderr_Gsc_x"], gx.std(axis=2, ddof=1) / np.sqrt(3), rtol=1e-12)
        np.testing.assert_allclose(data["running_mean_Gsc"][:, :, -1],
                                   np.hypot(data["mean_Gsc_x"], data["mean_Gsc_y"]), rtol=1e-12)
        assert np.allclose(data["g_sc"].max(axis=-1), 1.0) and data["convergence"][..., -1].max() < 1e-12
        assert data["convergence_g_sc"].shape == (1, 2, 3) and data["convergence_g_sc"][..., -1].max() < 1e-12
        assert data["harmonics_Gsc_x"].shape == (1, 2, 4) and data["harmonics_stderr_Gsc_x"].shape == (1, 2, 4)
    assert [c["case"]["K0"] for c in meta["cases"]] == [0.5, 1.0] and meta["hash"] == json.loads(
        (tmp_path / "manifest.json").read_text())["hash"]


def test_stack_config_ensemble(tmp_path):
    """An ensemble of a stack written layer by layer: K0 names the layers that draw disorder."""
    p = mechanism("barrier", JunctionParams(**JUNCTION, K0=0.5), alpha1=0.3)
    system = stack_system(junction(p), p.mu)
    spec = EnsembleSpec(system, (("K0", (0.5,)),), 2, 8)
    meta = run_and_report(spec, tmp_path, progress=False)
    assert meta["case_axes"] == ["K0"] and (tmp_path / "units" / "K00_r000001.npz").is_file()
    data = load_ensemble(tmp_path, spec)
    junction_spec = EnsembleSpec(junction_system(p), (("xi", (float(p.xi),)), ("K0", (0.5,))), 2, 8)
    run_ensemble(junction_spec, tmp_path / "junction", progress=False)
    other = load_ensemble(tmp_path / "junction", junction_spec)
    np.testing.assert_allclose(data.disordered["Gsc_x"], other.disordered["Gsc_x"][0], atol=1e-13)


def test_running_statistics_match_direct_ones():
    samples = np.random.default_rng(1).normal(size=(7, 4))
    mean, stderr = running_mean_and_stderr(samples)
    assert stderr.shape == (6, 4)
    for n in range(2, 8):
        direct = mean_and_stderr(samples[:n])
        np.testing.assert_allclose(mean[n - 1], direct[0], rtol=1e-13)
        np.testing.assert_allclose(stderr[n - 2], direct[1], rtol=1e-10)
    assert mean_and_stderr(samples[:1])[1] is None


def test_config_lists_and_overrides(tmp_path):
    config = write_config(tmp_path / "ens.toml", spec_of())
    loaded = load_config(str(config), ["K0=0.25, pi/4", "xi=1.2*6", "n_realizations=150", "phi=1.0"], allow_lists=True)
    spec = spec_from_settings(loaded.system, loaded.lists, loaded.settings["n_realizations"])
    assert spec.cases == (("xi", (1.2 * 6,)), ("K0", (0.25, np.pi / 4))) and spec.n_realizations == 150
    examples = load_config(str(ROOT / "configs" / "ensemble_small.toml"), allow_lists=True)
    assert examples.settings["n_realizations"] >= 1


@pytest.mark.parametrize("setting, message", [
    (["K0=-0.5"], "K0 = -0.5 must be >= 0"),
    (["K0=0.5,0.5"], "holds a value twice"),
    (["n_realizations=0"], "n_realizations = 0 must satisfy 1 <= n_realizations"),
    (["n_realizations=1.5"], "n_realizations = '1.5' is not an integer"),
    (["n_phi=4"], "n_phi = 4 must be an integer between 8 and 100000"),
    (["n_phi=100001"], "n_phi = 100001 must be an integer between 8 and 100000"),
    (["xi=-1"], "xi = -1.0 must be > 0"),
    (["disorder_file=V.npy"], "disorder_file"),
    (["Lx=abc"], "Lx = 'abc' is not an integer"),
])
def test_bad_settings_are_clear_errors(tmp_path, setting, message):
    from jaxsge.ensemble.spec import validate_spec

    config = write_config(tmp_path / "ens.toml", spec_of())
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("*", r"\*")):
        loaded = load_config(str(config), setting, allow_lists=True)
        validate_spec(spec_from_settings(loaded.system, loaded.lists, loaded.settings.get("n_realizations"),
                                         loaded.settings.get("n_phi", 64)))


def test_memory_budget_too_small_is_an_error_before_anything_is_written(tmp_path, capsys):
    from jaxsge.cli.main import main

    config = write_config(tmp_path / "ens.toml", spec_of())
    out = tmp_path / "run"
    assert main(["ensemble", str(config), "--out", str(out), "--memory-gib", "1e-7", "--no-progress"]) == 2
    assert "more than the memory budget" in capsys.readouterr().err
    assert not out.exists()


def test_folder_with_another_run_or_other_files_is_refused_untouched(reference, tmp_path, capsys):
    from jaxsge.cli.main import main

    spec, out, _ = reference
    before = folder_state(out)
    other = write_config(tmp_path / "other.toml", spec_of(K0=(0.5, 2.0)))
    for extra in ([], ["--resume"]):
        assert main(["ensemble", str(other), "--out", str(out), "--no-progress", *extra]) == 2
        assert "holds a run with other parameters (differing: cases.K0); refusing to mix them" in capsys.readouterr().err
    same = write_config(tmp_path / "same.toml", spec)
    assert main(["ensemble", str(same), "--out", str(out), "--no-progress"]) == 2
    assert "pass --resume to continue it" in capsys.readouterr().err
    assert folder_state(out) == before
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep me")
    assert main(["ensemble", str(same), "--out", str(stranger), "--no-progress"]) == 2
    assert "holds no ensemble run" in capsys.readouterr().err
    assert [p.name for p in stranger.iterdir()] == ["notes.txt"]


def test_unit_from_another_run_is_refused(reference, tmp_path):
    spec, out, _ = reference
    other = spec_of(K0=(0.5, 2.0))
    run_ensemble(other, tmp_path, memory_budget_gib=budget(other, 3), progress=False)
    name = Unit((0, 1), 0).filename(other.names)
    (tmp_path / "units" / name).write_bytes((out / "units" / name).read_bytes())
    with pytest.raises(ValueError, match="belongs to another run"):
        load_ensemble(tmp_path, other)


FIG3_TINY = ["--set=Lx=6", "--set=Ly=6", "--set=Lz=3", "--set=W=4", "--set=n_barrier=1", "--set=seed=3",
             "--set=disorder_layers=2deg", "--set=xi=3.6", "--set=K0=0.5,1.0", "--set=n_realizations=2",
             "--set=n_phi=8", "--no-progress"]


def test_time_limit_resume_archive_and_report_cycle(tmp_path, capsys):
    """scripts/fig3_ensemble.py in pieces, as on a GPU lent for short calls: a time limit so short that each
    call computes one block (one unit on CPU) and exits with status 3, each call in a fresh folder with only
    the archive carried over, until the run is complete (status 0); then the report read from the archive.
    Every conductance equals an uninterrupted run's bit for bit; T is left out of the archive (and said so)."""
    from jaxsge.cli.ensemble import spec_of as cli_spec
    from jaxsge.cli.main import build_parser
    from jaxsge.ensemble import store
    from scripts import fig3_ensemble

    archive = tmp_path / "carried" / "fig3.npz"
    codes = []
    for call in range(8):
        codes.append(fig3_ensemble.main(["--archive", str(archive), "--out", str(tmp_path / f"call{call}"),
                                         "--time-limit", "1e-6", *FIG3_TINY]))
        if codes[-1] != 3:
            break
    assert codes == [3, 3, 3, 3, 0]  # 5 units: the clean case and 2 K0 x 2 realizations
    assert "more to do" in capsys.readouterr().out
    spec = cli_spec(build_parser().parse_args(["ensemble", str(fig3_ensemble.CONFIG), "--out", "x", *FIG3_TINY]))
    assert (tmp_path / "call4" / "stats.json").is_file()  # the last call wrote the report
    assert archive.stat().st_size < store.ARCHIVE_LIMIT
    with jax.enable_x64(True):
        run_ensemble(spec, tmp_path / "direct", progress=False)
    direct = load_ensemble(tmp_path / "direct", spec)
    carried = load_ensemble(archive, spec)
    assert "T" in direct.disordered and "T" not in carried.disordered
    for key in ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y", "n_open", "solver_stats"):
        assert np.array_equal(carried.disordered[key], direct.disordered[key]), key
        assert np.array_equal(carried.clean[key], direct.clean[key]), key
    assert fig3_ensemble.main(["--report-from", str(archive), "--out", str(tmp_path / "report"), *FIG3_TINY]) == 0
    stats = json.loads((tmp_path / "report" / "stats.json").read_text())
    assert "archive" in stats["undefined"]["T"]
    with np.load(tmp_path / "report" / "ensemble.npz") as report:
        assert np.array_equal(report["Gsc_x"], direct.disordered["Gsc_x"]) and "T" not in report.files
    with pytest.raises(ValueError, match="more than"):
        store.pack(tmp_path / "direct", spec, tmp_path / "small.npz", limit=1000)
    assert not (tmp_path / "small.npz").exists()
    other = spec_of(K0=(0.5,))
    with pytest.raises(ValueError, match="another run"):
        load_ensemble(archive, other)
