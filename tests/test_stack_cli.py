"""The stack config format and the ``jaxsge stack`` command."""

import json

import numpy as np
import pytest

from jaxsge import presets
from jaxsge.cli import main
from jaxsge.model import JunctionParams
from jaxsge.stack_config import load_stack
from jaxsge.stack_solve import stack_transmissions

SMALL_STACK = """
Lx = 6
Ly = 5
energy = 1.1
theta = "pi/2"
phi = 0.4

[[layers]]
onsite = 4.0
alpha3 = -0.2
beta = 0.1
hoppings = [{offset = [1, 1], value = "0.05j"}, {offset = [2, 0], value = [[0.1, "0.2j"], ["-0.2j", 0.1]]}]

[[layers]]
repeat = 2
onsite = 6.0
dxc = -0.2
alpha1 = 0.1

[[side_leads]]
name = "L"
edge = "-x"
width = 3

[[side_leads]]
name = "R"
edge = "+x"
layers = [0, 1]
width = 3
onsite = [4.0, 3.0]

[top]
name = "M"
onsite = 6.0
dxc = -0.6
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "stack.toml"
    path.write_text(SMALL_STACK)
    return path


def test_config_reads_like_the_hamiltonian(config):
    stack, energy = load_stack(config)
    assert energy == 1.1 and stack.Lz == 3 and stack.lead_names == ("L", "R", "M")
    assert stack.layers[1] == stack.layers[2] and stack.layers[1].alpha1 == 0.1
    assert dict(stack.layers[0].hoppings)[(2, 0)][0][1] == 0.2j
    assert stack.side_leads[1].layers == (0, 1) and stack.side_leads[1].onsite == (4.0, 3.0)


def test_cli_writes_what_the_api_computes(config, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["stack", str(config), "--explain", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "layer 0: dense (lowest" in printed and "G_sc^x" in printed
    report = json.loads((out / "stack.json").read_text())
    stack, energy = load_stack(config)
    r = stack_transmissions(stack, energy=energy)
    np.testing.assert_allclose(np.asarray(report["T"]), r.T, atol=1e-13)
    assert report["stack"]["layers"][0]["alpha3"] == -0.2 and report["leads"] == ["L", "R", "M"]
    assert np.load(out / "stack.npz")["T"].shape == (3, 2, 3, 2)


def test_preset_scan_with_plot(tmp_path):
    config = tmp_path / "barrier.toml"
    config.write_text('preset = "barrier"\nalpha1 = 0.3\nLx = 6\nLy = 6\nLz = 3\nW = 4\nn_barrier = 1\n')
    assert main(["stack", str(config), "--nphi", "8", "--out", str(tmp_path / "o")]) == 0
    data = np.load(tmp_path / "o" / "stack.npz")
    stack = presets.mechanism("barrier", JunctionParams(Lx=6, Ly=6, Lz=3, W=4, n_barrier=1), alpha1=0.3)
    expected = stack_transmissions(stack.replace(phi=data["phi"]), energy=1.1)
    np.testing.assert_allclose(data["T"], expected.T, atol=1e-13)
    assert (tmp_path / "o" / "polar.png").stat().st_size > 0


@pytest.mark.parametrize("text, message", [
    ("Lx = 4\nLy = 4\nbogus = 1\n[[layers]]\nonsite = 4.0\n", "unknown key"),
    ("Lx = 4\nLy = 4\n[[layers]]\nonsite = 4.0\nalpha9 = 1\n", "unknown key"),
    ("Lx = 4\nLy = 4\n[[layers]]\nonsite = 4.0\nrepeat = 0\n", "repeat"),
    ('preset = "nonsense"\n', "preset"),
    ("Lx = 4\nLy = 4\nenergy = 1.0\n[[layers]]\nonsite = 4.0\n", "at least one lead"),
    ("Lx = 4\nLy = 4\n[[layers]]\nonsite = 4.0\n[top]\nonsite = 6.0\n", "must set energy"),
    ("Lx = 4\nLy = 4\n[[layers]]\nonsite = 4.0\nhoppings = [{offset = [1, 0], value = \"x\"}]\n", "not a number"),
])
def test_bad_config_exits_2(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["stack", str(config)]) == 2
    assert message in capsys.readouterr().err
