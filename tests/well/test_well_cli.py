"""``jaxsge well`` through the real command line (a subprocess): bad input ends in exit status 2 and one
``jaxsge: error:`` line naming the parameter, with no traceback and nothing computed or written; a
reduced config runs end to end into strict JSON, finite arrays and the five figures."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from jaxsge.well.config import load_well_config
from jaxsge.well.figures import FIGURE_FILES

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Every scan of this config shares one grid (k_max is capped at 10 k_top because each scan holds a point
# with |alpha_L| + |alpha_R| >= 2c = 0.0762 eV nm^2, and the largest width is d = 1 nm everywhere), so the
# report compiles a few kernels only (about a minute on 2 cores, mostly compilation). guide_from lies
# beyond d_max on purpose: the 1/d guide is then undefined and must be stated in words, not as NaN.
REDUCED = """
[well]
d = 1.0
[fig2]
alpha_L = [0.05, 0.08, 0.1]
[fig3]
alpha_L_max = 0.1
n_alpha = 3
alpha_R = [0.0]
resolved_alpha_R = 0.0
[fig4]
alpha_R = 0.0
alpha_L = [0.02, 0.05, 0.08]
n_z = 21
[fig5]
d = [1.0]
alpha = 0.04
n_z = 21
[fig6]
d_min = 0.2
d_max = 1.0
n_d = 3
alpha = [0.04]
guide_from = 4.0
maxima_below = 1.0
n_fine = 3
"""


def jaxsge_well(*args, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "jaxsge", "well", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture
def reduced(tmp_path):
    config = tmp_path / "reduced.toml"
    config.write_text(REDUCED)
    return config


def assert_refused(proc, *names):
    """Exit status 2, the last stderr line is the one error message naming ``names``, no traceback, no output."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("jaxsge: error: "), proc.stderr
    for name in names:
        assert name in message, message
    assert "np." not in message and "array(" not in message, message
    assert proc.stdout == ""


@pytest.mark.parametrize("config_text, overrides, names", [
    (None, ["--set", "d=abc"], ["d = 'abc'"]),
    ("[well]\nE_F = nan\n", [], ["E_F = nan"]),
    ("[well]\nd = 2.2\nV_L = 2.0\n", [], ["V_L = 2.0", "E_F + |Delta_L| = 3.0"]),
    (None, ["--set", "fig5.d=1,-0.5"], ["fig5.d = [1.0, -0.5]"])])
def test_bad_numbers(tmp_path, reduced, config_text, overrides, names):
    config = reduced
    if config_text is not None:
        config = tmp_path / "bad.toml"
        config.write_text(config_text)
    assert_refused(jaxsge_well(config, "--out", "out", *overrides, cwd=tmp_path), *names)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("d_min", ["1.0", "3"])
def test_d_min_not_below_d_max(tmp_path, reduced, d_min):
    """Once accepted, reporting maxima from an empty range."""
    assert_refused(jaxsge_well(reduced, "--out", "out", "--set", f"fig6.d_min={d_min}", cwd=tmp_path),
                   "fig6.d_max = 1.0", "fig6.d_min")
    assert not (tmp_path / "out").exists()


def test_d_min_zero(tmp_path, reduced):
    """Once refused only after the other figures were computed (and written)."""
    assert_refused(jaxsge_well(reduced, "--out", "out", "--set", "fig6.d_min=0", cwd=tmp_path), "fig6.d_min = 0.0")
    assert not (tmp_path / "out").exists()


def test_non_integer_n_d(tmp_path, reduced):
    """Integer settings are exact: 151.5 is refused, never truncated."""
    assert_refused(jaxsge_well(reduced, "--out", "out", "--set", "fig6.n_d=151.5", cwd=tmp_path), "fig6.n_d")
    assert not (tmp_path / "out").exists()


def test_unknown_key(tmp_path, reduced):
    assert_refused(jaxsge_well(reduced, "--out", "out", "--set", "fig6.d_mni=0.2", cwd=tmp_path), "'fig6.d_mni'",
                   "fig6.d_min")
    assert not (tmp_path / "out").exists()


def test_out_is_an_existing_file(tmp_path, reduced):
    (tmp_path / "out").write_text("keep me")
    assert_refused(jaxsge_well(reduced, "--out", "out", cwd=tmp_path), "--out 'out' is a file")
    assert (tmp_path / "out").read_text() == "keep me"


def test_out_under_a_file(tmp_path, reduced):
    (tmp_path / "file").write_text("keep me")
    assert_refused(jaxsge_well(reduced, "--out", "file/out", cwd=tmp_path), "--out 'file/out'", "'file' is a file")
    assert (tmp_path / "file").read_text() == "keep me"


def reject_constant(name):
    raise AssertionError(f"well.json holds {name}: not strict JSON")


def test_reduced_report_end_to_end(tmp_path, reduced):
    proc = jaxsge_well(reduced, "--out", "out", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = tmp_path / "out"
    # no temporary file, no lock
    assert sorted(f.name for f in out.iterdir()) == sorted(["well.json", "well.npz", "run.json", *FIGURE_FILES])
    record = json.loads((out / "run.json").read_text())
    assert record["command"] == "well" and sorted(record["files"]) == sorted(["well.json", "well.npz", *FIGURE_FILES])
    for name in FIGURE_FILES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "well.json").read_text(), parse_constant=reject_constant)
    p, sections = load_well_config(reduced)
    assert saved["params"] == p.as_dict() and saved["sections"] == sections and "tau e E / hbar" in saved["units"]
    assert saved["command"][1:] == ["well", str(reduced), "--out", "out", "--no-progress"]
    summary = saved["summary"]
    # The 1/d guide needs widths beyond guide_from = 4 nm > d_max: null, and said why.
    assert summary["fig6"][0]["guide_constant"] is None
    assert summary["fig6"][0]["relative_spread_S_well_beyond_guide_from"] is None
    assert "fig6.guide_from = 4 nm" in saved["undefined"]["fig6 alpha = 0.04: guide_constant"]
    assert "fig6 alpha = 0.04: guide_constant: undefined" in proc.stdout
    data = np.load(out / "well.npz")
    assert sorted(data.files) == saved["files"]["well.npz"]
    assert data["fig3_S_well"].shape == (1, 3) and data["fig6_S_well"].shape == (1, 3)
    assert data["fig4_profile"].shape == (3, 21) and data["fig5_profiles"].shape == (1, 3, 21)
    assert all(np.all(np.isfinite(data[key])) for key in data.files if data[key].dtype.kind == "f")
    # The two files agree: the per-state contributions of Fig. 2 add up to the printed and stored totals.
    for i, entry in enumerate(summary["fig2"]):
        assert entry["S_well"] == pytest.approx(data["fig2_S_state_well"][i].sum(), rel=1e-12, abs=1e-15)
        assert f"alpha_L = {entry['alpha_L']:g}, alpha_R = 0: {entry['n_states']} states" in proc.stdout
    assert len(summary["derivatives"]) == 2
    for entry in summary["derivatives"]:
        for name in ("alpha_L", "d"):
            assert entry[name]["same_state_count"] and entry[name]["relative_difference"] < 1e-6
