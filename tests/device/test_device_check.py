"""The device check's stored references (recomputed here on CPU, and against Kwant) and its smoke mode."""

import json
import os
import pathlib
import subprocess
import sys

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
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "scripts/device_check.py", "--smoke", "--out", str(tmp_path)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads((tmp_path / "device_check.json").read_text())
    for key in ("device", "versions", "host", "smoke", "sizes", "correctness", "timings", "skipped",
                "fig3_full_estimate_s", "fig3_full_fits_budget", "seconds"):
        assert key in record, key
    assert record["smoke"] is True and record["skipped"] == []
    assert record["correctness"]["all_passed"] and len(record["correctness"]["checks"]) >= 30
    steps = ("paper_clean", "paper_2deg_disorder", "paper_scan", "sensitivity_scan", "ensemble_2deg",
             "ensemble_every_layer", "lu_dominant_kernel", "fig3_full_unit", "largest_L")
    assert set(record["timings"]) == set(steps)
    for name in steps:
        step = record["timings"][name]
        assert "error" not in step, (name, step.get("error"))
        assert step["peak_bytes"] > 0, name
    assert record["timings"]["largest_L"]["L_run"] == 12 and record["timings"]["largest_L"]["largest_L_fitting"] >= 12
    assert record["timings"]["lu_dominant_kernel"]["gflops"] > 0
    assert "| paper_scan |" in (tmp_path / "device_check.md").read_text()
