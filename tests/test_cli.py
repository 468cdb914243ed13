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
