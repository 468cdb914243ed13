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

from jaxsge import transmissions
from jaxsge.ensemble import (EnsembleSpec, Unit, all_units, ensemble_statistics, finished_units, load_ensemble,
                             load_spec, mean_and_stderr, run_and_report, run_ensemble, running_mean_and_stderr)
from jaxsge.ensemble_cli import main as cli_main
from jaxsge.model import JunctionParams, disorder_potential, disorder_realization
from jaxsge.precision import x64
from jaxsge.response import spin_charge

ROOT = pathlib.Path(__file__).resolve().parents[1]
JUNCTION = dict(Lx=6, Ly=6, Lz=3, W=4, n_barrier=1, seed=3)
# Budgets (GiB) giving 1 and 2-3 evaluations per block at Lx = Ly = 6 (solve.chunk_size_for).
ONE, THREE = 9e-4, 2e-3


def spec_of(n=3, K0=(0.5, 1.0), xi=(3.6,), layers="2deg", n_phi=8):
    return EnsembleSpec(JunctionParams(**JUNCTION, disorder_layers=layers), n_realizations=n, K0=K0, xi=xi, n_phi=n_phi)


def write_config(path, spec: EnsembleSpec) -> pathlib.Path:
    lines = [f"{k} = {v}" for k, v in JUNCTION.items()]
    lines += [f'disorder_layers = "{spec.params.disorder_layers}"', f"K0 = {list(spec.K0)}", f"xi = {list(spec.xi)}",
              f"n_realizations = {spec.n_realizations}", f"n_phi = {spec.n_phi}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def units_of(out_dir, spec):
    """Every unit's arrays, keyed by file name."""
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
    """One uninterrupted single-process run with blocks of one evaluation."""
    spec = spec_of()
    out = tmp_path_factory.mktemp("reference")
    run_ensemble(spec, out, memory_budget_gib=ONE, progress=False)
    return spec, out, units_of(out, spec)


def test_realizations_depend_on_seed_and_index_only():
    p = JunctionParams(**JUNCTION, K0=0.7)
    shape = (p.Lz, p.Lx, p.Ly)
    with jax.enable_x64(True):
        batched = np.asarray(jax.vmap(lambda i: disorder_potential(p, i))(np.array([5, 0, 2])))
        one_by_one = [0.7 * np.asarray(disorder_realization(p.seed, i, shape)) for i in (5, 0, 2)]
        two_deg = np.asarray(disorder_potential(p.replace(disorder_layers="2deg"), 5))
    assert all(np.array_equal(b, o) for b, o in zip(batched, one_by_one))
    assert np.array_equal(two_deg[0], batched[0][0]) and not two_deg[1:].any()


def test_block_size_does_not_change_a_bit(reference, tmp_path):
    spec, _, expected = reference
    run_ensemble(spec, tmp_path, memory_budget_gib=THREE, progress=False)
    assert_bit_identical(units_of(tmp_path, spec), expected)


def test_block_size_does_not_change_a_bit_with_every_layer_disordered(tmp_path):
    spec = spec_of(n=2, K0=(0.8,), layers="all")
    run_ensemble(spec, tmp_path / "one", memory_budget_gib=ONE, progress=False)
    run_ensemble(spec, tmp_path / "many", memory_budget_gib=1.0, progress=False)
    assert_bit_identical(units_of(tmp_path / "one", spec), units_of(tmp_path / "many", spec))


@x64
def test_ensemble_mean_equals_one_by_one_core_api(tmp_path):
    spec = spec_of(n=3, K0=(0.8,), xi=(3.6, 4.8), layers="all")
    run_ensemble(spec, tmp_path, memory_budget_gib=THREE, progress=False)
    stats = ensemble_statistics(load_ensemble(tmp_path, spec))
    for i, xi in enumerate(spec.xi):
        p = spec.case_params(i, 0)
        singles = []
        for r in range(spec.n_realizations):
            result = transmissions(p.replace(disorder=disorder_potential(p, r), phi=spec.phi), smatrix=False)
            singles.append([np.asarray(spin_charge(result.T, result.n_open, axis)) for axis in ("x", "y")])
        singles = np.asarray(singles)
        np.testing.assert_allclose(stats["mean_Gsc_x"][i, 0], singles[:, 0].mean(0), rtol=0, atol=1e-12)
        np.testing.assert_allclose(stats["mean_Gsc_y"][i, 0], singles[:, 1].mean(0), rtol=0, atol=1e-12)
        assert np.abs(singles[:, 0]).max() > 1e-4  # not trivially zero


def test_four_local_devices_give_the_same_bits(reference, tmp_path):
    spec, _, expected = reference
    config = write_config(tmp_path / "ens.toml", spec)
    env = subprocess_env(XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = tmp_path / "run"
    code = ("import jax, sys; assert jax.local_device_count() == 4; from jaxsge.ensemble_cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "ensemble", str(config), "--out", str(out), "--no-progress",
                           "--memory-gib", str(THREE)], env=env, capture_output=True, text=True, timeout=300)
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
    procs = [subprocess.Popen([sys.executable, "-m", "jaxsge.ensemble_cli", "ensemble", str(config), "--out", str(out),
                               "--no-progress", "--memory-gib", str(THREE), "--coordinator", f"localhost:{port}",
                               "--num-processes", "2", "--process-id", str(i)],
                              env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    last_run = json.loads((out / "stats.json").read_text())["last_run"]
    assert last_run["process_count"] == 2 and last_run["computed"] == (len(all_units(spec)) + 1) // 2  # units 0, 2, 4, ...
    assert_bit_identical(units_of(out, spec), expected)


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
        run_ensemble(spec, tmp_path, memory_budget_gib=THREE, progress=False, on_unit=stop_after_three)
    first = folder_state(tmp_path / "units")
    assert len(first) == 3 and not list((tmp_path / "units").glob(".tmp-*"))
    with pytest.raises(ValueError, match="--resume"):
        run_ensemble(spec, tmp_path, progress=False)
    assert folder_state(tmp_path / "units") == first
    resumed = []
    run_ensemble(spec, tmp_path, resume=True, memory_budget_gib=ONE, progress=False, on_unit=resumed.append)
    assert len(resumed) == total - 3 and not set(resumed) & set(seen)
    after = folder_state(tmp_path / "units")
    assert all(after[name] == state for name, state in first.items())  # finished units untouched
    assert_bit_identical(units_of(tmp_path, spec), expected)


def test_killed_process_resumes_to_the_same_bits(tmp_path):
    spec = spec_of(n=60, K0=(0.5,))
    config = write_config(tmp_path / "ens.toml", spec)
    out = tmp_path / "run"
    args = [sys.executable, "-m", "jaxsge.ensemble_cli", "ensemble", str(config), "--out", str(out), "--no-progress",
            "--memory-gib", str(ONE)]
    proc = subprocess.Popen(args, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while len(finished_units(out, spec)) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(finished_units(out, spec))
    assert 5 <= done < len(all_units(spec)), "the run must be killed in the middle"
    assert cli_main(["ensemble", str(config), "--out", str(out), "--resume", "--no-progress",
                     "--memory-gib", str(THREE)]) == 0
    run_ensemble(spec, tmp_path / "uninterrupted", memory_budget_gib=THREE, progress=False)
    assert_bit_identical(units_of(out, spec), units_of(tmp_path / "uninterrupted", spec))


def test_finished_run_extends_with_more_realizations(reference, tmp_path):
    spec, out, expected = reference
    small = spec_of(n=2)
    run_ensemble(small, tmp_path, memory_budget_gib=THREE, progress=False)
    added = []
    run_ensemble(spec, tmp_path, resume=True, memory_budget_gib=THREE, progress=False, on_unit=added.append)
    assert sorted(u.realization for u in added) == [2, 2]
    assert_bit_identical(units_of(tmp_path, spec), expected)


def test_outputs_and_statistics(reference, tmp_path):
    spec, _, _ = reference
    meta = run_and_report(spec, tmp_path, memory_budget_gib=THREE, progress=False)
    for name in ("manifest.json", "ensemble.npz", "stats.json", "fig3.png", "curves.png", "convergence.png"):
        assert (tmp_path / name).is_file(), name
    with np.load(tmp_path / "ensemble.npz") as data:
        gx = data["Gsc_x"]
        assert gx.shape == (1, 2, 3, 8) and data["T"].shape == (1, 2, 3, 8, 5, 2, 5, 2)
        np.testing.assert_allclose(data["mean_Gsc_x"], gx.mean(axis=2), rtol=1e-14)
        np.testing.assert_allclose(data["stderr_Gsc_x"], gx.std(axis=2, ddof=1) / np.sqrt(3), rtol=1e-12)
        np.testing.assert_allclose(data["running_mean_Gsc_x"][:, :, -1], data["mean_Gsc_x"], rtol=1e-12)
        assert np.allclose(data["g_sc"].max(axis=-1), 1.0) and data["convergence"][..., -1].max() < 1e-12
        assert data["convergence_g_sc"].shape == (1, 2, 3) and data["convergence_g_sc"][..., -1].max() < 1e-12
    assert [c["K0"] for c in meta["cases"]] == [0.5, 1.0] and meta["hash"] == json.loads(
        (tmp_path / "manifest.json").read_text())["hash"]


def test_running_statistics_match_direct_ones():
    samples = np.random.default_rng(1).normal(size=(7, 4))
    mean, stderr = running_mean_and_stderr(samples)
    for n in range(2, 8):
        direct = mean_and_stderr(samples[:n])
        np.testing.assert_allclose(mean[n - 1], direct[0], rtol=1e-13)
        np.testing.assert_allclose(stderr[n - 1], direct[1], rtol=1e-10)
    assert np.isnan(stderr[0]).all() and np.isnan(mean_and_stderr(samples[:1])[1]).all()


def test_config_lists_and_overrides(tmp_path):
    config = write_config(tmp_path / "ens.toml", spec_of())
    spec = load_spec(str(config), ["K0=0.25, pi/4", "xi=1.2*6", "n_realizations=150", "phi=1.0"])
    assert spec.K0 == (0.25, np.pi / 4) and spec.xi == (1.2 * 6,) and spec.n_realizations == 150
    assert load_spec(str(ROOT / "configs" / "ensemble_small.toml")).n_realizations >= 1


@pytest.mark.parametrize("setting, message", [
    (["K0=-0.5"], "K0 = -0.5 must be a finite number >= 0"),
    (["K0=0.5,0.5"], "holds a value twice"),
    (["n_realizations=0"], "n_realizations = 0 must be an integer >= 1"),
    (["n_realizations=1.5"], "n_realizations = '1.5' must be an integer"),
    (["n_phi=4"], "n_phi = 4 must be an integer >= 8"),
    (["xi=-1"], "xi = -1.0: xi must be > 0"),
    (["disorder_file=V.npy"], "draws its own disorder"),
    (["Lx=abc"], "Lx = 'abc' is not a number"),
])
def test_bad_settings_are_clear_errors(tmp_path, setting, message):
    config = write_config(tmp_path / "ens.toml", spec_of())
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("*", r"\*")):
        load_spec(str(config), setting)


def test_memory_budget_too_small_is_an_error_before_anything_is_written(tmp_path, capsys):
    config = write_config(tmp_path / "ens.toml", spec_of())
    out = tmp_path / "run"
    assert cli_main(["ensemble", str(config), "--out", str(out), "--memory-gib", "1e-5", "--no-progress"]) == 2
    assert "memory_budget_gib = 1e-05 is too small for one evaluation" in capsys.readouterr().err
    assert not out.exists()


def test_folder_with_another_run_or_other_files_is_refused_untouched(reference, tmp_path, capsys):
    spec, out, _ = reference
    before = folder_state(out)
    other = write_config(tmp_path / "other.toml", spec_of(K0=(0.5, 2.0)))
    for extra in ([], ["--resume"]):
        assert cli_main(["ensemble", str(other), "--out", str(out), "--no-progress", *extra]) == 2
        assert "holds a run with other parameters (differing: K0); refusing to mix them" in capsys.readouterr().err
    same = write_config(tmp_path / "same.toml", spec)
    assert cli_main(["ensemble", str(same), "--out", str(out), "--no-progress"]) == 2
    assert "pass --resume to continue it" in capsys.readouterr().err
    assert folder_state(out) == before
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep me")
    assert cli_main(["ensemble", str(same), "--out", str(stranger), "--no-progress"]) == 2
    assert "holds no ensemble run" in capsys.readouterr().err
    assert [p.name for p in stranger.iterdir()] == ["notes.txt"]


def test_unit_from_another_run_is_refused(reference, tmp_path):
    spec, out, _ = reference
    other = spec_of(K0=(0.5, 2.0))
    run_ensemble(other, tmp_path, memory_budget_gib=THREE, progress=False)
    name = Unit(0, 1, 0).filename
    (tmp_path / "units" / name).write_bytes((out / "units" / name).read_bytes())
    with pytest.raises(ValueError, match="belongs to another run"):
        load_ensemble(tmp_path, other)
