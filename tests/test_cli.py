"""The command line: text and JSON output, overrides, disorder files, errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxsge import JunctionParams, transmissions
from jaxsge.cli import main

CONFIG = """
Lx = 6
Ly = 5
Lz = 3
W = 3
n_barrier = 1
theta = "pi/3"
phi = 0.2
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "junction.toml"
    path.write_text(CONFIG)
    return path


def run_json(capsys, *args):
    assert main(["conductance", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_keys_and_values_match_the_api(config, capsys):
    out = run_json(capsys, config, "--set", "phi=pi/4")
    for key in ("T_from_M", "T_to_M"):
        assert set(out[key]) == {"L", "R", "B", "F"}
        assert all(set(v) == {"+", "-"} for v in out[key].values())
    ref = transmissions(JunctionParams(Lx=6, Ly=5, Lz=3, W=3, n_barrier=1, theta=np.pi / 3, phi=np.pi / 4))
    from_m = np.asarray(ref.from_M())
    assert out["T_from_M"]["R"]["-"] == pytest.approx(from_m[1, 1], abs=1e-14)
    assert out["n_open"]["M"] == {"+": int(ref.n_open[4, 0]), "-": int(ref.n_open[4, 1])}
    assert out["conservation_residual"] < 1e-10
    assert out["params"]["phi"] == pytest.approx(np.pi / 4)


def test_disorder_file_is_used(tmp_path, config, capsys):
    disorder = np.random.default_rng(0).normal(size=(3, 6, 5))
    np.save(tmp_path / "V.npy", disorder)
    config.write_text(CONFIG + 'disorder_file = "V.npy"\n')
    out = run_json(capsys, config)
    assert out["solver"]["path"] == "recursive"
    ref = transmissions(JunctionParams(Lx=6, Ly=5, Lz=3, W=3, n_barrier=1, theta=np.pi / 3, phi=0.2, disorder=disorder))
    assert out["T_to_M"]["B"]["+"] == pytest.approx(float(np.asarray(ref.to_M())[3, 0]), abs=1e-14)


def test_text_output(config, capsys):
    assert main(["conductance", str(config)]) == 0
    text = capsys.readouterr().out
    assert "T(a<-M,+)" in text and "current-conservation residual" in text and "solver: folded" in text


@pytest.mark.parametrize("args,message", [
    (["--set", "W=9"], "W = 9 must satisfy"),
    (["--set", "foo=1"], "unknown parameter 'foo'"),
    (["--set", "phi=pi/"], "phi = 'pi/' is not a number"),
    (["--set", "mu"], "expected name=value"),
])
def test_bad_input_exits_with_message(config, capsys, args, message):
    assert main(["conductance", str(config), *args]) == 2
    assert message in capsys.readouterr().err


def test_console_script_runs(config):
    out = subprocess.run([sys.executable, "-m", "jaxsge.cli", "conductance", str(config), "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert "T_from_M" in json.loads(out)


def test_scan_writes_data_parameters_and_figure(config, tmp_path, capsys):
    out = tmp_path / "scan"
    assert main(["scan", str(config), "--out", str(out), "--nphi", "8", "--compare", "xi=3,4"]) == 0
    data = np.load(out / "scan.npz")
    meta = json.loads((out / "scan.json").read_text())
    assert data["Gsc_x"].shape == (2, 8) and (out / "polar.png").stat().st_size > 0
    assert meta["params"]["Lx"] == 6 and meta["compare"] == {"name": "xi", "values": [3.0, 4.0]}
    p = JunctionParams(Lx=6, Ly=5, Lz=3, W=3, n_barrier=1, theta=np.pi / 3, xi=4.0, phi=data["phi"][3])
    from jaxsge.scan import conversion_scan
    np.testing.assert_allclose(data["Gsc_y"][1, 3], conversion_scan(p).Gsc_y, atol=1e-13)


def test_sensitivity_writes_values_derivatives_and_figure(config, tmp_path, capsys):
    out = tmp_path / "sens"
    assert main(["sensitivity", str(config), "--out", str(out), "--nphi", "8", "--wrt", "alpha3,dxc"]) == 0
    data = np.load(out / "sensitivity.npz")
    meta = json.loads((out / "sensitivity.json").read_text())
    assert data["dGsc_x_dalpha3"].shape == (8,) and data["dT_ddxc"].shape == (8, 5, 2, 5, 2)
    assert meta["wrt"] == ["alpha3", "dxc"] and (out / "sensitivity.png").stat().st_size > 0
    assert main(["sensitivity", str(config), "--out", str(out), "--wrt", "W"]) == 2
    assert "wrt = 'W'" in capsys.readouterr().err
