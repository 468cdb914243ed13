"""``jaxsge stack --out`` on a stack with orbitals: the orbital-resolved transmissions in stack.json, .npz, .nc."""

import json

import numpy as np
import pytest

from jaxsge.cli.main import main
from jaxsge.io.config import load_config
from jaxsge.io.results import load
from jaxsge.model.stack import validate_stack
from jaxsge.solve.transmissions import solve

ORBITAL_STACK = """
Lx = 3
Ly = 3
energy = 1.5
theta = 1.1
phi = 0.6

[[layers]]
orbitals = 3
orbital_names = ["dyz", "dxz", "dxy"]
K0 = 0.3
hoppings = [{offset = [0, 0], value = [[0, 0, 0.1, 0, 0, 0], [0, 0, 0, 0.1, 0, 0], [0.1, 0, 0, 0, 0, 0],
                                       [0, 0.1, 0, 0, 0, 0], [0, 0, 0, 0, -0.3, 0], [0, 0, 0, 0, 0, -0.3]]}]
up = [{offset = [0, 0], value = [[-0.7, 0], [0, -0.7], [-0.5, 0], [0, -0.5], [-0.9, 0], [0, -0.9]]}]

[[layers]]
onsite = 6.0
dxc = -0.4

[[side_leads]]
name = "L"
edge = "-x"
orbital_onsite = [0.0, 0.3, -0.3]

[[side_leads]]
name = "R"
edge = "+x"

[top]
name = "M"
onsite = 6.0
dxc = -0.6
"""


def test_stack_command_writes_the_orbital_resolved_transmissions(tmp_path, capsys):
    """The files carry T_orbital and n_open_orbital (to_orbital / from_orbital / orbital dimensions in stack.nc),
    equal to the API's to 1e-13, with what each lead conserves and its orbital names; the printout names them."""
    config = tmp_path / "orbitals.toml"
    config.write_text(ORBITAL_STACK)
    out = tmp_path / "out"
    assert main(["stack", str(config), "--out", str(out)]) == 0
    assert "L (dyz, dxz, dxy), R (dyz, dxz, dxy), M (0)" in capsys.readouterr().out
    loaded = load_config(config)
    r = solve(loaded.system.stack(), loaded.system.energy())
    report = json.loads((out / "stack.json").read_text())
    np.testing.assert_allclose(np.asarray(report["T_orbital"]), r.T_orbital, atol=1e-13, rtol=0)
    assert report["conserved"]["M"] == ["orbital", "spin"] and report["orbitals"]["L"] == ["dyz", "dxz", "dxy"]
    assert np.load(out / "stack.npz")["T_orbital"].shape == (3, 3, 2, 3, 3, 2)
    ds = load(out)
    assert ds["T_orbital"].dims == ("to_lead", "to_orbital", "to_spin", "from_lead", "from_orbital", "from_spin")
    assert ds["n_open_orbital"].dims == ("lead", "orbital", "spin")
    np.testing.assert_array_equal(ds["n_open_orbital"].sum("orbital").values, ds["n_open"].values)
    assert float(ds["T_orbital"].sel(to_lead="R", from_lead="L").sum()) > 0.05


def test_orbital_names_in_a_config_are_checked(tmp_path):
    """``orbital_names`` must be an array of strings (the key and the value named), and n distinct ones."""
    for text, message in (('["dyz", "dxz", "dxy"]', None), ("[1, 2, 3]", r"layers\[0\]\.orbital_names = \[1, 2, 3\] "
                                                                           "must be an array of strings"),
                          ('["a", "b"]', r"orbital_names = \('a', 'b'\) must be 3 distinct")):
        config = tmp_path / "names.toml"
        config.write_text(ORBITAL_STACK.replace('["dyz", "dxz", "dxy"]', text))
        if message is None:
            assert load_config(config).system.stack().layers[0].orbital_names == ("dyz", "dxz", "dxy")
            continue
        with pytest.raises(ValueError, match=message):
            validate_stack(load_config(config).system.stack())
