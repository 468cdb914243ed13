"""`jaxsge scan --energy`: the Fermi-energy (gate) axis, its checks before any work, progress per evaluation and
readable summaries. Tiny junctions (6 x 5 x 3): each run takes seconds on a 2-core CPU."""

import json

import numpy as np
import pytest

from jaxsge.cli.main import main
from jaxsge.model.junction import JunctionParams
from jaxsge.observables.scan import conversion_scan
from test_commands import CONFIG  # the tiny junction of the CLI tests (6 x 5 x 3)
from test_inputs import refused_in_process

P = JunctionParams(Lx=6, Ly=5, Lz=3, W=3, n_barrier=1, theta=np.pi / 3, phi=0.2)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "junction.toml"
    path.write_text(CONFIG)
    return path


def test_energy_axis_at_the_config_angle(config, tmp_path, capsys):
    """--nphi 1 --energy V1,V2,...: the conductances against energy at the config's phi, equal to an independent
    conversion_scan at each energy (1e-13 e^2/h); the values sorted; energy.png; readable summary lines."""
    out = tmp_path / "line"
    assert main(["scan", str(config), "--out", str(out), "--nphi", "1", "--energy", "1.2,0.9,1.0",
                 "--compare", "xi=1,2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    with np.load(out / "scan.npz") as data:
        np.testing.assert_array_equal(data["energy"], [0.9, 1.0, 1.2])
        np.testing.assert_array_equal(data["phi"], [0.2])
        assert data["Gsc_x"].shape == (2, 3, 1) and data["T"].shape == (2, 3, 1, 5, 2, 5, 2)
        assert "g_sc" not in data.files  # one angle: nothing to normalise over
        for i, xi in enumerate((1.0, 2.0)):
            for j, mu in enumerate((0.9, 1.0, 1.2)):
                reference = conversion_scan(P.replace(xi=xi, mu=mu))
                for key in ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y"):
                    np.testing.assert_allclose(data[key][i, j, 0], reference.G[key], rtol=0, atol=1e-13)
    meta = json.loads((out / "scan.json").read_text())
    assert meta["scanned"]["energy"] == {"name": "mu", "given": "1.2,0.9,1.0", "values": [0.9, 1.0, 1.2],
                                         "n_energy": 3}
    assert meta["scanned"]["phi_value"] == 0.2 and "harmonics" not in meta
    assert sorted(p.name for p in out.iterdir()) == ["energy.png", "junction.png", "run.json", "scan.json",
                                                     "scan.nc", "scan.npz"]
    lines = printed.splitlines()
    assert lines[0].startswith("xi = 1 a: |G_sc| = ") and "e^2/h over mu = 0.9 .. 1.2 t (3 energies)" in lines[0]
    assert "largest at mu = " in lines[0] and lines[1].startswith("xi = 2 a: ")
    assert "{" not in printed and "'" not in printed  # no Python dict or repr in the summary


def test_phi_energy_map_equals_plain_scans(config, tmp_path, capsys):
    """--energy START:STOP:N over the phi grid: (panels, energies, angles) arrays whose rows equal plain scans at
    each energy (--set mu=..., 1e-13 e^2/h), g_sc normalised over phi at each energy, map.png."""
    out = tmp_path / "map"
    assert main(["scan", str(config), "--out", str(out), "--nphi", "8", "--energy", "0.9:1.3:3", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("scan: max over phi of |G_sc| = ") and ", phi = " in printed and "; solver: " in printed
    data = dict(np.load(out / "scan.npz"))
    np.testing.assert_allclose(data["energy"], [0.9, 1.1, 1.3], rtol=0, atol=1e-15)
    assert data["Gsc_y"].shape == data["g_sc"].shape == (1, 3, 8)
    np.testing.assert_allclose(data["g_sc"].max(axis=-1), 1.0, rtol=0, atol=1e-15)
    assert (out / "map.png").stat().st_size > 1000 and not (out / "polar.png").exists()
    meta = json.loads((out / "scan.json").read_text())
    assert len(meta["panels"][0]["phi_of_local_maxima_g_sc"]) == 3
    assert np.asarray(meta["harmonics"]["Gsc_x"]).shape == (1, 3, 4)
    plain = tmp_path / "plain"
    assert main(["scan", str(config), "--out", str(plain), "--nphi", "8", "--set", f"mu={float(data['energy'][1])!r}",
                 "--no-progress"]) == 0
    with np.load(plain / "scan.npz") as one:
        for key in ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y"):
            np.testing.assert_allclose(data[key][0, 1], one[key][0], rtol=0, atol=1e-13)


@pytest.mark.parametrize("args, words", [
    (["--energy", "0.9:1.2"], ["--energy '0.9:1.2'", "START:STOP:N"]),
    (["--energy", "1.2:0.9:5"], ["START = 1.2 must be below STOP = 0.9"]),
    (["--energy", "0.9:1.2:1"], ["--energy N = 1", "2 <= --energy N <= 10000"]),
    (["--energy", "0.9:1.2:2.5"], ["--energy N = '2.5'"]),
    (["--energy", "0.9,abc"], ["--energy = 'abc'"]),
    (["--energy", "1.0"], ["at least two energies", "--set mu=VALUE"]),
    (["--energy", "1.0,1"], ["holds a value twice"]),
    (["--energy", "0.9,"], ["an empty value"]),
    (["--energy", "0.3,1.0"], ["--energy: mu = 0.3 t", "no open channel", "every lead has open channels"]),
    (["--energy", "1.0,2.0"], ["--energy: mu = 2 t", "subband edge"]),
    (["--energy", "1.0,1.1", "--nphi", "4"], ["nphi = 4"]),
    (["--nphi", "1"], ["--nphi 1", "--energy"]),
    (["--energy", "1.0,1.1", "--compare", "mu=1,1.1"], ["--compare mu and --energy"]),
])
def test_bad_energy_axis_refused_before_any_work(config, tmp_path, capsys, args, words):
    """Every mistake: one line naming the option and the value, exit status 2, nothing written."""
    out = tmp_path / "never"
    refused_in_process(capsys, ["scan", config, "--out", out, *args], *words)
    assert not out.exists()


def test_progress_per_evaluation_named_by_panel(config, tmp_path, capsys, monkeypatch):
    """The bar counts evaluations (energies x angles), with the time left, one per panel named by its value; a large
    evaluation (here: the threshold lowered to 0) advances in PROGRESS_STEPS calls of balanced sizes, with the
    same numbers as one call per energy (1e-13 e^2/h)."""
    import importlib

    batching, transmissions = (importlib.import_module(f"jaxsge.{m}") for m in ("core.batching", "solve.transmissions"))

    out = tmp_path / "bar"
    assert main(["scan", str(config), "--out", str(out), "--nphi", "8", "--energy", "1.0,1.1",
                 "--compare", "xi=1,2"]) == 0
    err = capsys.readouterr().err.replace("\r", "\n")
    assert "scan 1/2 (xi = 1 a):" in err and "scan 2/2 (xi = 2 a):" in err
    assert "16/16" in err and "evaluation" in err and "chunk" not in err

    steps = []  # (label, total, updates) of every bar

    class Recorder:
        def __init__(self, total, unit, desc, disable):
            assert unit == "evaluation" and not disable
            steps.append((desc, total, []))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            steps[-1][2].append(n)

    monkeypatch.setattr(transmissions, "tqdm", Recorder)
    monkeypatch.setattr(batching, "PROGRESS_ORDER", 0)
    cut = tmp_path / "cut"
    assert main(["scan", str(config), "--out", str(cut), "--nphi", "8", "--energy", "1.0,1.1",
                 "--compare", "xi=1,2"]) == 0
    assert steps == [("scan 1/2 (xi = 1 a)", 16, [1] * 16), ("scan 2/2 (xi = 2 a)", 16, [1] * 16)]
    with np.load(out / "scan.npz") as whole, np.load(cut / "scan.npz") as parts:
        for key in ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y"):
            np.testing.assert_allclose(parts[key], whole[key], rtol=0, atol=1e-13)
