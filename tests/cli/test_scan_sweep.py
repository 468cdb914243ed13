"""`jaxsge scan --sweep NAME=...`: the axis of a traced parameter (the t2g junction's gate, mu, xi, ...).

Checks: the swept values equal separate runs (`--set NAME=VALUE`) and `conversion_scan` of the same system
(1e-12 e^2/h); `--sweep mu` equals the batched Fermi-energy axis `--energy` of the paper's junction, whose
stack does not depend on mu (1e-12); scan.nc carries the coordinate named after the parameter and reloads
(`jaxsge.load`); `jaxsge plot` redraws the sweep's figures; a progress bar per value counts evaluations;
every mistake is one line before any work. Tiny junctions: the t2g one 5 x 4 x 3 (configs/t2g_small.toml
made smaller), the paper's 6 x 5 x 3 of test_commands.
"""

import json
import pathlib

import numpy as np
import pytest

import jaxsge
from jaxsge.cli.main import main
from jaxsge.io.config import load_config
from jaxsge.observables.harmonics import uniform_phi
from jaxsge.observables.scan import anisotropy, conversion_scan
from test_commands import CONFIG  # the tiny junction of the CLI tests (6 x 5 x 3)
from test_inputs import refused_in_process
from test_outputs import assert_refused, run_cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
T2G = str(ROOT / "configs" / "t2g_small.toml")
TINY_T2G = ["--set", "Lx=5", "--set", "Ly=4", "--set", "W=3", "--set", "Lz=3"]  # gate >= 0.45 opens its leads
KEYS = ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y")


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "junction.toml"
    path.write_text(CONFIG)
    return path


def test_gate_sweep_equals_separate_runs_reloads_and_replots(tmp_path, capsys):
    """--sweep gate=V1,V2 on the phi grid: each row equals `jaxsge scan --set gate=V` and conversion_scan of that
    system (1e-12 e^2/h); scan.nc has the dimension gate (units t, attrs naming the sweep) and reloads with
    jaxsge.load; map.png, anisotropy.png, polar.png; scan.json's per-value angle averages and anisotropy agree
    with the arrays; `jaxsge plot` redraws the same figures (byte-identical PNGs) from scan.nc; a progress bar
    per value."""
    out = tmp_path / "sweep"
    assert main(["scan", T2G, *TINY_T2G, "--out", str(out), "--nphi", "8", "--sweep", "gate=0.75,0.6"]) == 0
    captured = capsys.readouterr()
    err = captured.err.replace("\r", "\n")
    assert "scan 1/2 (gate = 0.6 t):" in err and "scan 2/2 (gate = 0.75 t):" in err and "8/8" in err
    assert captured.out.startswith("scan: max over phi of |G_sc| = ")
    assert "over gate = 0.6 .. 0.75 t (2 values), largest at gate = " in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["anisotropy.png", "junction.png", "map.png", "polar.png",
                                                     "run.json", "scan.json", "scan.nc", "scan.npz"]
    data = dict(np.load(out / "scan.npz"))
    np.testing.assert_array_equal(data["gate"], [0.6, 0.75])
    assert data["Gsc_x"].shape == data["g_sc"].shape == (1, 2, 8) and data["T"].shape == (1, 2, 8, 5, 2, 5, 2)
    system = load_config(T2G, [TINY_T2G[k] for k in range(1, len(TINY_T2G), 2)]).system
    for j, gate in enumerate((0.6, 0.75)):
        reference = conversion_scan(system.with_values(gate=gate), phi=uniform_phi(8))
        for key in KEYS:
            np.testing.assert_allclose(data[key][0, j], reference.G[key], rtol=0, atol=1e-12)
    one = tmp_path / "one"
    assert main(["scan", T2G, *TINY_T2G, "--set", "gate=0.75", "--out", str(one), "--nphi", "8",
                 "--no-progress"]) == 0
    with np.load(one / "scan.npz") as plain:
        for key in (*KEYS, "T"):
            np.testing.assert_allclose(data[key][0, 1], plain[key][0], rtol=0, atol=1e-12)

    meta = json.loads((out / "scan.json").read_text())
    assert meta["scanned"]["sweep"]["name"] == "gate" and meta["scanned"]["sweep"]["values"] == [0.6, 0.75]
    amplitude = np.hypot(data["Gsc_x"][0], data["Gsc_y"][0])
    panel = meta["panels"][0]
    np.testing.assert_allclose(panel["mean_abs_Gsc_per_value"], amplitude.mean(axis=-1), rtol=1e-14)
    np.testing.assert_allclose(panel["anisotropy_per_value"], anisotropy(amplitude), rtol=1e-14)
    np.testing.assert_allclose(panel["anisotropy_per_value"],
                               (amplitude.max(-1) - amplitude.min(-1)) / amplitude.mean(-1), rtol=1e-14)

    ds = jaxsge.load(out)
    assert ds["Gsc_x"].dims == ("compare", "gate", "phi") and ds.attrs["sweep"] == "gate"
    assert ds["gate"].attrs["units"] == "t" and "--set gate=VALUE" in ds["gate"].attrs["description"]
    np.testing.assert_array_equal(ds["Gsc_y"].sel(gate=0.75).values, data["Gsc_y"][:, 1])
    assert float(ds["energy"]) == 1.1  # the Fermi energy stays fixed: a scalar coordinate

    assert main(["plot", str(out)]) == 0
    assert sorted(p.name for p in (out / "replot").iterdir()) == ["anisotropy.png", "junction.png", "map.png",
                                                                  "polar.png", "run.json"]
    for name in ("anisotropy.png", "map.png", "polar.png"):  # drawn from scan.nc alone, byte for byte the same
        assert (out / "replot" / name).read_bytes() == (out / name).read_bytes(), name


def test_mu_sweep_at_one_angle_equals_the_energy_axis(config, tmp_path, capsys):
    """--sweep mu --nphi 1 with --compare xi: (panels, values, 1) arrays equal to the batched --energy axis of the
    paper's junction (its stack does not depend on mu) and to conversion_scan (1e-12 e^2/h); sweep.png; no scalar
    energy coordinate (mu is the axis); one progress bar per panel and value, numbered across both."""
    sweep, energy = tmp_path / "sweep", tmp_path / "energy"
    common = [str(config), "--nphi", "1", "--compare", "xi=1,2"]
    assert main(["scan", *common, "--out", str(sweep), "--sweep", "mu=0.9,1.0,1.2"]) == 0
    captured = capsys.readouterr()
    printed, err = captured.out.splitlines(), captured.err.replace("\r", "\n")
    assert printed[0].startswith("xi = 1 a: |G_sc| = ") and "over mu = 0.9 .. 1.2 t (3 values)" in printed[0]
    assert printed[1].startswith("xi = 2 a: ")
    assert "scan 1/6 (xi = 1 a, mu = 0.9 t):" in err and "scan 6/6 (xi = 2 a, mu = 1.2 t):" in err  # one bar per run
    assert main(["scan", *common, "--out", str(energy), "--energy", "0.9,1.0,1.2", "--no-progress"]) == 0
    assert sorted(p.name for p in sweep.iterdir()) == ["junction.png", "run.json", "scan.json", "scan.nc",
                                                       "scan.npz", "sweep.png"]
    with np.load(sweep / "scan.npz") as a, np.load(energy / "scan.npz") as b:
        np.testing.assert_array_equal(a["mu"], b["energy"])
        assert a["Gsc_x"].shape == (2, 3, 1) and "g_sc" not in a.files
        for key in (*KEYS, "T"):
            np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-12)
        p = jaxsge.JunctionParams(Lx=6, Ly=5, Lz=3, W=3, n_barrier=1, theta=np.pi / 3, phi=0.2)
        for key in KEYS:
            np.testing.assert_allclose(a[key][1, 2, 0], conversion_scan(p.replace(xi=2.0, mu=1.2)).G[key], rtol=0,
                                       atol=1e-12)
    ds = jaxsge.load(sweep / "scan.nc")
    assert ds["Gcs_y"].dims == ("compare", "mu", "phi") and "energy" not in ds.coords


@pytest.mark.parametrize("args, words", [
    (["--sweep", "xi=1,2", "--energy", "1.0,1.1"], ["--sweep xi and --energy", "give one of them"]),
    (["--sweep", "Lx=5,6"], ["--sweep Lx", "static setting", "--set Lx=VALUE", "parameters are: t, mu, alpha3,"]),
    (["--sweep", "n_phi=8,16"], ["--sweep n_phi", "run setting (--nphi, --kT)"]),
    (["--sweep", "xii=1,2"], ["--sweep xii", "not a parameter", "did you mean 'xi'", "traced parameters are"]),
    (["--sweep", "gate=0.5,0.6"], ["--sweep gate", "belongs to the t2g junction"]),
    (["--sweep", "theta=0,1"], ["--sweep theta", "phi is the scan's angle axis", "theta is fixed"]),
    (["--sweep", "xi"], ["--sweep 'xi'", "NAME=START:STOP:N"]),
    (["--sweep", "xi=1:2"], ["--sweep xi '1:2'", "NAME=START:STOP:N"]),
    (["--sweep", "xi=2:1:3"], ["START = 2 must be below STOP = 1"]),
    (["--sweep", "xi=1,abc"], ["--sweep xi = 'abc'"]),
    (["--sweep", "xi=1"], ["at least two values", "--set xi=VALUE"]),
    (["--sweep", "xi=1,1.0"], ["holds a value twice"]),
    (["--sweep", "xi=1,-1"], ["--sweep xi = -1 a:", "xi = -1.0 must be > 0"]),
    (["--sweep", "mu=0.3,1.0"], ["--sweep mu = 0.3 t:", "no open channel", "values of mu at which every lead"]),
    (["--sweep", "mu=1.0,2.0"], ["--sweep mu = 2 t:", "subband edge"]),
    (["--sweep", "xi=1,2", "--compare", "xi=3,4"], ["--compare xi and --sweep xi"]),
    (["--sweep", "xi=1,-1", "--compare", "alpha3=0,0.2"], ["--sweep xi = -1 a (--compare alpha3 = 0 t): xi = -1.0"]),
    (["--sweep", "mu=1.0,1.1", "--kT", "5"], ["--sweep mu = 1 t:", "kT = 5 must be <="]),
])
def test_bad_sweep_refused_before_any_work(config, tmp_path, capsys, args, words):
    """Every mistake: one line naming the option, the parameter, the value and what is allowed, exit status 2,
    nothing written."""
    out = tmp_path / "never"
    refused_in_process(capsys, ["scan", config, "--out", out, *args], *words)
    assert not out.exists()


def test_a_closed_lead_at_a_gate_is_refused_from_the_command_line(tmp_path):
    """The command as typed in a terminal: a gate at which the t2g side leads have no open channel ends in one line
    naming the value, exit status 2, before any folder is made."""
    out = tmp_path / "never"
    result = run_cli("scan", T2G, *TINY_T2G, "--out", out, "--sweep", "gate=0.3:0.6:3", "--nphi", "8")
    assert_refused(result.returncode, result.stderr, "--sweep gate = 0.3 t:", "no open channel",
                   "values of gate at which every lead has open channels")
    assert not out.exists()
