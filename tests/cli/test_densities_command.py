"""`jaxsge densities`: the labelled file equals the API, reloads and replots; errors in one line before any work.

Tiny junctions (test_commands' 6 x 5 x 3, and the t2g config): each run takes seconds on a 2-core CPU.
Tolerance: 1e-12 absolute between densities.nc and ``jaxsge.densities`` with the same options (the same
computation: equal to rounding; values of order 0.01-10).
"""

import json
import pathlib

import numpy as np
import pytest

import jaxsge
from jaxsge.cli.main import main
from jaxsge.io.config import load_config
from test_commands import CONFIG, P  # the tiny junction of the CLI tests (6 x 5 x 3)
from test_inputs import refused_in_process
from test_outputs import run_cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOL = 1e-12


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "junction.toml"
    path.write_text(CONFIG + "alpha3 = -0.5\n")
    return path


def test_densities_nc_equals_the_api_reloads_and_replots(config, tmp_path, capsys):
    """Two layers (dense, --no-fold), two angles: densities.nc's site maps and totals equal jaxsge.densities (1e-12);
    labelled dimensions, every parameter in the attributes, the figures; jaxsge plot redraws them from the file."""
    out = tmp_path / "d"
    assert main(["densities", str(config), "--out", str(out), "--layer", "0,1", "--no-fold", "--phi", "0,pi/2",
                 "--operators", "charge,sy,sz", "--map", "sz", "--map-phi", "pi/2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("layer 0, current L -> R, largest layer totals per unit bias (1/t): charge ")
    assert sorted(p.name for p in out.iterdir()) == ["densities.json", "densities.nc", "densities.npz", "map.png",
                                                     "run.json", "totals.png"]
    p = P.replace(alpha3=-0.5, phi=np.array([0.0, np.pi / 2]))
    ref = jaxsge.densities(jaxsge.junction(p), p.mu, layer=(0, 1), operators=("charge", "sy", "sz"), fold=False)
    ds = jaxsge.load(out)
    assert ds.attrs["kind"] == "densities"
    assert ds["density"].dims == ("phi", "layer", "lead", "operator", "x", "y")
    assert ds["total"].dims == ("phi", "layer", "lead", "operator")
    assert list(ds["operator"].values) == ["charge", "sy", "sz"] and list(ds["layer"].values) == [0, 1]
    assert list(ds["lead"].values) == list(ref.leads)
    np.testing.assert_allclose(ds["density"].values, ref.values, atol=TOL, rtol=0)
    np.testing.assert_allclose(ds["total"].values, ref.total, atol=TOL, rtol=0)
    np.testing.assert_allclose(ds["operator_matrix"].values, ref.matrices, atol=0)
    np.testing.assert_allclose(ds["magnetization"].values, ref.magnetization, atol=1e-15)
    assert float(ds["theta"]) == pytest.approx(np.pi / 3) and float(ds["energy"]) == pytest.approx(1.1)
    assert json.loads(ds.attrs["parameters"])["alpha3"] == -0.5
    meta = json.loads(ds.attrs["meta"])
    assert meta["solver"]["requested"]["fold"] is False and meta["kT"] == 0.0 and meta["current"] == ["L", "R"]
    assert np.abs(ds["total"].sel(operator="sy").values).max() > 1e-3
    # The largest L -> R total of the summary is the one of the API's arrays.
    along = (ref.total[:, 0, 0] - ref.total[:, 0, 1]) / 2 / (2 * np.pi)  # (phi, operators), layer 0
    assert meta["largest_current_totals"]["0"]["sy"]["value"] == pytest.approx(
        along[np.argmax(np.abs(along[:, 1])), 1], abs=TOL)
    assert json.loads(ds.attrs["figure"])["map_phi_index"] == 1
    assert "torque_total" not in ds  # sx is not asked: no torque
    with np.load(out / "densities.npz") as data:
        np.testing.assert_array_equal(data["density"], ds["density"].values)
    assert main(["plot", str(out)]) == 0
    assert sorted(p.name for p in (out / "replot").iterdir()) == ["map.png", "run.json", "totals.png"]
    for name in ("map.png", "totals.png"):  # drawn from the file alone, as the command drew them
        assert (out / "replot" / name).read_bytes() == (out / name).read_bytes(), name


def test_realizations_and_the_command_line(config, tmp_path):
    """As typed in a terminal (a subprocess): --realizations adds a realization axis equal to the API's; the default
    operators, the uniform --nphi grid; the progress bar on stderr."""
    out = tmp_path / "r"
    proc = run_cli("densities", config, "--out", out, "--nphi", "2", "--realizations", "2", "--set", "K0=0.5",
                   "--set", "disorder_layers=2deg")
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and "densities" in proc.stderr
    p = P.replace(alpha3=-0.5, K0=0.5, disorder_layers="2deg", phi=np.array([0.0, np.pi]))
    ref = jaxsge.densities(p, layer=0, realizations=[0, 1])
    ds = jaxsge.load(out / "densities.nc")
    assert ds["density"].dims[:2] == ("realization", "phi") and list(ds["realization"].values) == [0, 1]
    assert list(ds["operator"].values) == ["charge", "sx", "sy", "sz"]
    np.testing.assert_allclose(ds["density"].values, ref.values, atol=TOL, rtol=0)
    assert np.abs(ref.values[0] - ref.values[1]).max() > 1e-3, "the realizations differ"
    assert ds["torque_total"].dims == ("realization", "phi", "layer", "lead", "component")
    np.testing.assert_allclose(ds["torque_total"].values, ref.torque().sum(axis=(-2, -1)), atol=TOL, rtol=0)


def test_t2g_layer_has_the_orbital_operators_by_default(tmp_path, capsys):
    """On the t2g 2DEG the default operators include Lx, Ly, Lz, LdotS, equal to the API's (1e-12)."""
    out = tmp_path / "t"
    config = ROOT / "configs" / "t2g_small.toml"
    assert main(["densities", str(config), "--out", str(out), "--no-progress", "--map", "Lz"]) == 0
    ds = jaxsge.load(out)
    assert list(ds["operator"].values) == ["charge", "sx", "sy", "sz", "Lx", "Ly", "Lz", "LdotS"]
    system = load_config(config).system
    ref = jaxsge.densities(system.stack(), system.energy(), layer=0,
                           operators=("charge", "sx", "sy", "sz", "Lx", "Ly", "Lz", "LdotS"))
    np.testing.assert_allclose(ds["density"].values[0], ref.values, atol=TOL, rtol=0)
    assert np.abs(ds["total"].sel(operator="Lz").values).max() > 1e-3


@pytest.mark.parametrize("args, words", [
    (["--operators", "sx,spin"], ["--operators", "'spin'", "charge, sx, sy, sz"]),
    (["--operators", "Lz"], ["--operators", "'Lz'", "3 orbitals"]),
    (["--operators", "sx,sx"], ["--operators", "twice"]),
    (["--layer", "5"], ["--layer 5", "0 .. 2"]),
    (["--layer", "2"], ["--layer", "folded", "--no-fold"]),
    (["--layer", "-1"], ["--layer"]),
    (["--map", "sz", "--operators", "sx"], ["--map 'sz'", "sx"]),
    (["--map-phi", "0.3", "--phi", "0,pi/2"], ["--map-phi 0.3", "pi/2"]),
    (["--current", "L,Q"], ["--current", "L, R, F, B, M"]),
    (["--kT", "-0.1"], ["kT"]),
    (["--realizations", "0"], ["--realizations 0"]),
    (["--max-order", "4"], ["--max-order 4"]),
    (["--rtol", "2"], ["--rtol 2"]),
    (["--nphi", "0"], ["nphi = 0"]),
    (["--set", "mu=9"], ["mu"]),
])
def test_bad_input_is_one_line_before_any_work(config, tmp_path, capsys, args, words):
    out = tmp_path / "never"
    refused_in_process(capsys, ["densities", config, "--out", out, *args], *words)
    assert not out.exists()
