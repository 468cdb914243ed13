"""The command line: text and JSON output, overrides, disorder files, junction and stack configs."""

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxsge import JunctionParams, junction, mechanism, solve, transmissions
from jaxsge.cli.main import main
from jaxsge.io.config import load_config
from jaxsge.observables.scan import conversion_scan

CONFIG = """
Lx = 6
Ly = 5
Lz = 3
W = 3
n_barrier = 1
theta = "pi/3"
phi = 0.2
"""

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
P = JunctionParams(Lx=6, Ly=5, Lz=3, W=3, n_barrier=1, theta=np.pi / 3, phi=0.2)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "junction.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def stack_config(tmp_path):
    path = tmp_path / "stack.toml"
    path.write_text(SMALL_STACK)
    return path


def run_json(capsys, *args):
    assert main(["conductance", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_keys_and_values_match_the_api(config, capsys):
    out = run_json(capsys, config, "--set", "phi=pi/4")
    for key in ("T_from_M", "T_to_M"):
        assert set(out[key]) == {"L", "R", "B", "F"}
        assert all(set(v) == {"+", "-"} for v in out[key].values())
    ref = transmissions(P.replace(phi=np.pi / 4))
    assert out["T_from_M"]["R"]["-"] == pytest.approx(ref.from_lead("M")[1, 1], abs=1e-14)
    assert out["n_open"]["M"] == {"+": int(ref.n_open[4, 0]), "-": int(ref.n_open[4, 1])}
    assert out["conservation_residual"] < 1e-10
    assert out["system"]["params"]["phi"] == pytest.approx(np.pi / 4)
    assert out["solver"]["requested"] == {"path": "auto", "precision": "auto", "fold": True}


def test_disorder_file_is_used(tmp_path, config, capsys):
    disorder = np.random.default_rng(0).normal(size=(3, 6, 5))
    np.save(tmp_path / "V.npy", disorder)
    config.write_text(CONFIG + 'disorder_file = "V.npy"\n')
    out = run_json(capsys, config)
    assert "spin blocks" in out["solver"]["path"]
    ref = transmissions(P.replace(disorder=disorder))
    assert out["T_to_M"]["B"]["+"] == pytest.approx(float(ref.to_lead("M")[3, 0]), abs=1e-14)


def test_text_output(config, capsys):
    assert main(["conductance", str(config)]) == 0
    text = capsys.readouterr().out
    assert "T(a<-M,+)" in text and "current-conservation residual" in text and "solver: folded" in text


@pytest.mark.parametrize("args,message", [
    (["--set", "W=9"], "W = 9 must satisfy"),
    (["--set", "foo=1"], "unknown parameter 'foo'"),
    (["--set", "phi=pi/"], "phi = 'pi/' is not a number"),
    (["--set", "mu"], "expected NAME=VALUE"),
])
def test_bad_input_exits_with_message(config, capsys, args, message):
    assert main(["conductance", str(config), *args]) == 2
    assert message in capsys.readouterr().err


def test_console_script_runs(config):
    out = subprocess.run([sys.executable, "-m", "jaxsge", "conductance", str(config), "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert "T_from_M" in json.loads(out)


def test_scan_writes_data_parameters_and_figure(config, tmp_path, capsys):
    out = tmp_path / "scan"
    assert main(["scan", str(config), "--out", str(out), "--nphi", "8", "--compare", "xi=3,4", "--no-progress"]) == 0
    data = np.load(out / "scan.npz")
    meta = json.loads((out / "scan.json").read_text())
    assert data["Gsc_x"].shape == (2, 8) and (out / "polar.png").stat().st_size > 0
    assert meta["system"]["params"]["Lx"] == 6 and meta["compare"] == {"name": "xi", "values": [3.0, 4.0]}
    assert meta["scanned"]["n_phi"] == 8
    reference = conversion_scan(P.replace(xi=4.0), phi=data["phi"][3])
    np.testing.assert_allclose(data["Gsc_y"][1, 3], reference.Gsc_y, atol=1e-13)


def test_scan_without_compare_records_no_compare(config, tmp_path):
    out = tmp_path / "scan"
    assert main(["scan", str(config), "--out", str(out), "--nphi", "8", "--no-progress", "--absolute"]) == 0
    meta = json.loads((out / "scan.json").read_text())
    assert "compare" not in meta and "compare_values" not in np.load(out / "scan.npz").files
    assert (out / "polar.png").stat().st_size > 0 and (out / "junction.png").stat().st_size > 0


def test_sensitivity_writes_values_derivatives_and_figure(config, tmp_path, capsys):
    out = tmp_path / "sens"
    assert main(["sensitivity", str(config), "--out", str(out), "--nphi", "8", "--wrt", "alpha3,dxc",
                 "--no-progress"]) == 0
    data = np.load(out / "sensitivity.npz")
    meta = json.loads((out / "sensitivity.json").read_text())
    assert data["dGsc_x_dalpha3"].shape == (8,) and data["dT_ddxc"].shape == (8, 5, 2, 5, 2)
    assert meta["wrt"] == ["alpha3", "dxc"] and (out / "sensitivity.png").stat().st_size > 0
    assert main(["sensitivity", str(config), "--out", str(out), "--wrt", "W"]) == 2
    assert "wrt = 'W'" in capsys.readouterr().err


def test_sensitivity_at_the_config_angle(config, tmp_path):
    out = tmp_path / "one"
    assert main(["sensitivity", str(config), "--out", str(out), "--nphi", "1", "--no-progress"]) == 0
    meta = json.loads((out / "sensitivity.json").read_text())
    assert meta["scanned"]["phi"] == [0.2]


def test_stack_config_reads_like_the_hamiltonian(stack_config):
    loaded = load_config(stack_config)
    stack, energy = loaded.system.stack(), loaded.system.energy()
    assert energy == 1.1 and stack.Lz == 3 and stack.lead_names == ("L", "R", "M")
    assert stack.layers[1] == stack.layers[2] and float(stack.layers[1].alpha1) == 0.1
    assert complex(np.asarray(stack.layers[0].hoppings[(2, 0)])[0, 1]) == 0.2j
    assert stack.side_leads[1].layers == (0, 1) and list(stack.side_leads[1].onsite) == [4.0, 3.0]


def test_stack_command_writes_what_the_api_computes(stack_config, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["stack", str(stack_config), "--explain", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "layer 0: dense (lowest slice)" in printed and "G_sc^x" in printed
    report = json.loads((out / "stack.json").read_text())
    loaded = load_config(stack_config)
    r = solve(loaded.system.stack(), loaded.system.energy())
    np.testing.assert_allclose(np.asarray(report["T"]), r.T, atol=1e-13)
    assert report["system"]["stack"]["layers"][0]["alpha3"] == -0.2 and report["leads"] == ["L", "R", "M"]
    assert np.load(out / "stack.npz")["T"].shape == (3, 2, 3, 2)
    drawing = tmp_path / "junction.svg"
    assert main(["stack", str(stack_config), "--draw", str(drawing)]) == 0
    assert drawing.read_text().startswith("<?xml")
    assert main(["stack", str(stack_config), "--draw", str(tmp_path / "junction.txt")]) == 2
    assert "--draw" in capsys.readouterr().err


def test_stack_config_runs_through_scan_sensitivity_and_parameter_names(stack_config, tmp_path):
    assert main(["scan", str(stack_config), "--out", str(tmp_path / "s"), "--nphi", "8", "--no-progress"]) == 0
    assert main(["sensitivity", str(stack_config), "--out", str(tmp_path / "d"), "--nphi", "8", "--no-progress",
                 "--wrt", "alpha1,M.dxc,layers[0].beta"]) == 0
    data = np.load(tmp_path / "d" / "sensitivity.npz")
    assert data["dGsc_x_dalpha1"].shape == (8,) and np.abs(data["dGsc_x_dM.dxc"]).max() > 0
    assert main(["conductance", str(stack_config), "--set", "M.dxc=-0.4", "--set", "layers[0].beta=0.2"]) == 0


def test_preset_configs_are_junctions(tmp_path):
    config = tmp_path / "barrier.toml"
    config.write_text('preset = "barrier"\nalpha1 = 0.3\nLx = 6\nLy = 6\nLz = 3\nW = 4\nn_barrier = 1\n')
    assert main(["stack", str(config), "--nphi", "8", "--out", str(tmp_path / "o")]) == 0
    data = np.load(tmp_path / "o" / "stack.npz")
    stack = junction(mechanism("barrier", JunctionParams(Lx=6, Ly=6, Lz=3, W=4, n_barrier=1), alpha1=0.3))
    expected = solve(stack.replace(phi=data["phi"]), 1.1, reflection=False)
    np.testing.assert_allclose(data["T"], expected.T, atol=1e-13)
    assert (tmp_path / "o" / "polar.png").stat().st_size > 0


@pytest.mark.parametrize("text, message", [
    ("Lx = 4\nLy = 4\nbogus = 1\n[[layers]]\nonsite = 4.0\n[top]\nonsite = 6.0\n[bottom]\nname = \"D\"\n",
     "'bogus' is not a parameter of this stack"),
    ("Lx = 4\nLy = 4\n[[layers]]\nonsite = 4.0\nalpha9 = 1\n", "unknown key"),
    ("Lx = 4\nLy = 4\n[[layers]]\nonsite = 4.0\nrepeat = 0\n", "repeat = 0 must satisfy"),
    ('preset = "nonsense"\n', "preset"),
    ("Lx = 4\nLy = 4\nenergy = 1.0\n[[layers]]\nonsite = 4.0\n", "at least two leads"),
    ("Lx = 4\nLy = 4\n[[layers]]\nonsite = 4.0\n[top]\nonsite = 6.0\n[bottom]\nname = \"D\"\n", "must set energy"),
    ("Lx = 4\nLy = 4\n[[layers]]\nonsite = 4.0\nhoppings = [{offset = [1, 0], value = \"x\"}]\n", "not a number"),
    ("Lx = 8.7\nLy = 4\nenergy = 1\n[[layers]]\nonsite = 4.0\n[top]\nonsite = 6.0\n[bottom]\nname = \"D\"\n",
     "Lx = 8.7 must be an integer"),
    ("Lx = 4\nLy = 4\nseed = 2.7\nenergy = 1\n[[layers]]\nonsite = 4.0\n[top]\nonsite = 6.0\n[bottom]\nname = \"D\"\n",
     "seed = 2.7 must"),
    ("Lx = 4\nLy = 4\nenergy = 1\n[[layers]]\nonsite = 4.0\n[[side_leads]]\nedge = \"-x\"\n[top]\nonsite = 6.0\n"
     "[bottom]\nname = \"D\"\n",
     "needs a name"),
])
def test_bad_stack_config_exits_2(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["stack", str(config)]) == 2
    assert message in capsys.readouterr().err


def test_conductance_takes_the_lean_right_hand_sides_when_every_channel_does_not_fit(config, capsys):
    """--memory-gib between the memory of the lean and of the full evaluation: the command takes the lean
    right-hand sides, says so (text and JSON), and gives the full path's numbers (1e-12): every
    conversion conductance, every T that involves a side lead, and M's self-reflection summed over a spin."""
    from jaxsge.solve.transmissions import evaluation_bytes, plan_for

    size = ["--set", "Lx=10", "--set", "Ly=9"]  # large enough for the lean sides to need less memory
    stack = junction(P.replace(Lx=10, Ly=9))
    pl = plan_for(stack, P.mu)
    lean, full = evaluation_bytes(stack, pl, False), evaluation_bytes(stack, pl, True)
    assert lean < full
    gib = f"{(lean + full) / 2 / 2 ** 30:.6g}"
    every = run_json(capsys, config, *size)
    fitted = run_json(capsys, config, *size, "--memory-gib", gib)
    assert "note" not in every and "unitarity" in fitted["note"] and "memory budget" in fitted["note"]
    for key in ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y"):
        assert fitted[key] == pytest.approx(every[key], abs=1e-12)
    T_full, T_lean = np.asarray(every["T"]["values"]), np.asarray(fitted["T"]["values"])
    side = slice(0, 4)
    np.testing.assert_allclose(T_lean[side], T_full[side], atol=1e-12, rtol=0)
    np.testing.assert_allclose(T_lean[:, :, side], T_full[:, :, side], atol=1e-12, rtol=0)
    np.testing.assert_allclose(T_lean[4, :, 4].sum(0), T_full[4, :, 4].sum(0), atol=1e-12, rtol=0)
    np.testing.assert_allclose(T_lean[4, :, 4].sum(1), T_full[4, :, 4].sum(1), atol=1e-12, rtol=0)
    assert main(["conductance", str(config), *size, "--memory-gib", gib]) == 0
    text = capsys.readouterr().out
    assert "note: lean right-hand sides" in text and "split between spin flip and no flip is not resolved" in text
    assert main(["conductance", str(config), *size]) == 0
    assert "note:" not in capsys.readouterr().out


ENSEMBLE_CONFIG = CONFIG + "K0 = [0.5]\nn_realizations = 1\nn_phi = 8\ndisorder_layers = \"2deg\"\nseed = 4\n"
ASKED = ["--no-fold", "--path", "dense", "--precision", "double"]


@pytest.mark.parametrize("command", ["conductance", "scan", "sensitivity", "stack", "ensemble"])
def test_the_solver_options_reach_the_solve(command, tmp_path, capsys):
    """--no-fold, --path and --precision (cli.common.add_solver, the same on every command) are recorded in the
    result as asked, and the solve took them: every layer dense (the default folds the 2DEG's clean layers)."""
    config = tmp_path / "c.toml"
    config.write_text(ENSEMBLE_CONFIG if command == "ensemble" else CONFIG)
    out = tmp_path / ("g.json" if command == "conductance" else "out")
    extra = {"conductance": [], "scan": ["--nphi", "8", "--no-progress"], "stack": [],
             "sensitivity": ["--nphi", "8", "--no-progress"], "ensemble": ["--no-progress"]}[command]
    assert main([command, str(config), "--out", str(out), *ASKED, *extra]) == 0
    if command == "ensemble":
        stats = json.loads((out / "stats.json").read_text())
        assert stats["identity"]["fold"] is False and stats["identity"]["path"] == "dense"
        assert json.loads((out / "manifest.json").read_text())["solver_requested"] == \
            {"path": "dense", "precision": "double", "fold": False}
        paths = list(stats["last_run"]["block"])
    else:
        report = json.loads((out if command == "conductance" else out / f"{command}.json").read_text())
        assert report["solver"]["requested"] == {"path": "dense", "precision": "double", "fold": False}
        paths = [report["solver"]["path"]]
    assert paths and all("3 dense layers, dense LU" in path and "folded" not in path for path in paths), paths
