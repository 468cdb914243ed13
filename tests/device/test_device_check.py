"""The device check's stored references (recomputed here on CPU, and against Kwant) and its smoke mode."""

import json
import os
import pathlib
import subprocess
import sys
import tarfile

import jax
import numpy as np
import pytest

from validation import device_references as refs

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def computed():
    with jax.enable_x64(True):
        return refs.compute()


def test_stored_references_are_what_the_cpu_computes(computed):
    """If this fails after a deliberate change of the numbers: python -m validation.device_references --write."""
    stored = refs.load()
    assert set(stored) == set(computed)
    checks = refs.compare(computed, stored)
    assert len(checks) >= 30
    bad = {k: v for k, v in checks.items() if not v["passed"]}
    assert not bad, bad
    paths = {computed[name]["path"] for name in computed if "path" in computed[name]}
    assert any("Krylov" in p for p in paths) and any("spin block" in p for p in paths) and len(paths) >= 4


def test_references_agree_with_kwant(computed):
    pytest.importorskip("kwant", reason="Kwant is not installed (make kwant)")
    from tests.solve.test_kwant_junction import kwant_reference
    from jaxsge.validation import kwant_model as kwant_stack
    from jaxsge.validation.kwant_model import potentials

    from jaxsge import junction

    for name, (p, options) in refs.JUNCTIONS.items():
        T = np.asarray(computed[name]["T"])
        if p.side_leads == ("L", "R", "F", "B"):
            reference, _ = kwant_reference(p)
        else:  # the general Kwant model takes any set of side leads
            reference, _ = kwant_stack.transmissions(junction(p), p.mu, potentials(junction(p)))
        if not options["reflection"]:  # M's spin-resolved self-reflection is resolved only in its sums
            reference = reference.copy()
            reference[-1, :, -1, :] = T[-1, :, -1, :]
        np.testing.assert_allclose(T, reference, atol=1e-8, rtol=0, err_msg=name)
    for name, (stack, energy) in refs.STACKS.items():
        reference, _ = kwant_stack.transmissions(stack, energy, potentials(stack))
        np.testing.assert_allclose(computed[name]["T"], reference, atol=1e-8, rtol=0, err_msg=name)


def test_smoke_mode_runs_every_step_and_writes_every_key(tmp_path):
    """Every step of the device check at tiny sizes, the profiler trace included."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "scripts/device_check.py", "--smoke", "--out", str(tmp_path), "--trace",
                           str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads((tmp_path / "device_check.json").read_text())
    for key in ("device", "versions", "host", "smoke", "sizes", "correctness", "timings", "skipped",
                "fig3_full_estimate_s", "fig3_full_fits_budget", "seconds", "step_budgets_s"):
        assert key in record, key
    assert record["smoke"] is True
    assert record["correctness"]["all_passed"] and len(record["correctness"]["checks"]) >= 30
    steps = ["lu_dominant_kernel", "evaluation_parts", "trace", "scan_batching", "precision", "sensitivity_scan",
             "ensemble_2deg", "ensemble_every_layer", "fig3_full_unit", "dense_L200", "krylov_L200_clean",
             "krylov_L200_2deg_K0.5"]
    assert record["skipped"] == []
    assert list(record["timings"]) == steps
    timings = record["timings"]
    for name in steps:
        assert "error" not in timings[name], (name, timings[name].get("error"))
        assert timings[name]["step_seconds"] > 0, name
        if name != "trace":
            assert timings[name]["peak_bytes"] > 0, name
    parts = timings["evaluation_parts"]
    for key in ("lu", "solves", "upper_state", "angle_program", "public_call"):
        assert parts[key]["median_s"] > 0, key
    assert parts["order"] == 2 * 10 * 10 and parts["right_hand_sides"] > 0
    scan = timings["scan_batching"]
    assert scan["rule"] == {"kind": "vmap", "batch_size": 1}  # the CPU rule
    assert {"rule", "vmap", "lax.map", "lax.map_batch_4", } == set(scan["variants"])
    assert scan["variants"]["lax.map"]["per_angle_s"] > 0 and scan["conversion_scan"]["per_angle_s"] > 0
    big = timings["dense_L200"]
    assert big["L"] == 12 and big["predicted_lu_s"] > 0 and big["precision"] == "double"
    assert big["largest_L_fitting_dense"] >= 12 and big["conservation_residual"] < 1e-10
    for name in ("krylov_L200_clean", "krylov_L200_2deg_K0.5"):
        assert timings[name]["L"] == 12 and timings[name]["solver"]["iterations"] > 0, name
    assert timings["lu_dominant_kernel"]["gflops"] > 0
    assert timings["precision"]["max_abs_T_difference_mixed_double"] < 1e-10
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["device_check.json", "device_check.md", "jax_trace.tar.gz"]  # at most 8 files come back
    with tarfile.open(tmp_path / "jax_trace.tar.gz") as tar:
        assert any(name.endswith(".xplane.pb") for name in tar.getnames())
    assert "| scan_batching |" in (tmp_path / "device_check.md").read_text()
