"""Labelled results (io/results.py): every command's .nc file gives back what it wrote, and `jaxsge plot`
redraws every figure of a result folder from the saved data without any solve."""

import json
import time

import jax
import numpy as np
import pytest

import jaxsge
from jaxsge.cli.main import main
from jaxsge.io.config import load_config
from jaxsge.model.stack import Stack

JUNCTION = """
Lx = 6
Ly = 5
Lz = 3
W = 3
n_barrier = 1
theta = "pi/3"
phi = 0.2
"""

STACK = """
Lx = 6
Ly = 5
energy = 1.1
theta = "pi/2"
phi = 0.4

[[layers]]
onsite = 4.0
alpha3 = -0.2
hoppings = [{offset = [1, 1], value = "0.05j"}, {offset = [2, 0], value = [[0.1, "0.2j"], ["-0.2j", 0.1]]}]

[[layers]]
onsite = 6.0
dxc = -0.2

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

ENSEMBLE = JUNCTION + "n_realizations = 2\nn_phi = 8\nK0 = [0.5]\n"


def same_stack(a: Stack, b: Stack) -> bool:
    """Equal structure, static fields and every leaf bit for bit."""
    la, lb = jax.tree_util.tree_flatten(a), jax.tree_util.tree_flatten(b)
    return la[1] == lb[1] and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la[0], lb[0]))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One folder per result kind, computed once (tiny junctions)."""
    root = tmp_path_factory.mktemp("results")
    (root / "junction.toml").write_text(JUNCTION)
    (root / "stack.toml").write_text(STACK)
    (root / "ensemble.toml").write_text(ENSEMBLE)
    runs = {"scan": ["scan", str(root / "junction.toml"), "--nphi", "8", "--compare", "xi=1,2"],
            "sensitivity": ["sensitivity", str(root / "junction.toml"), "--nphi", "8", "--wrt", "alpha3,dxc"],
            "stack": ["stack", str(root / "stack.toml"), "--nphi", "8"],
            "ensemble": ["ensemble", str(root / "ensemble.toml")]}
    for kind, argv in runs.items():
        assert main([*argv, "--out", str(root / kind), "--no-progress"] if kind != "stack" else
                    [*argv, "--out", str(root / kind)]) == 0
    return root


def test_load_gives_back_what_was_written(results):
    """Every kind: the arrays of the .nc bit-identical to the .npz (dQ_dNAME as d_Q.sel(parameter=NAME)), the
    provenance present, and the stack rebuilt from the attributes equal to the config's."""
    for kind, config, npz in (("scan", "junction.toml", "scan.npz"), ("sensitivity", "junction.toml",
                              "sensitivity.npz"), ("stack", "stack.toml", "stack.npz"),
                              ("ensemble", "ensemble.toml", "ensemble.npz")):
        ds = jaxsge.load(results / kind)
        assert ds.attrs["kind"] == kind
        assert ds.attrs["config_text"] == (results / config).read_text()
        for key in ("parameters", "jaxsge_version", "jax_version", "jaxlib_version", "numpy_version", "device_kind",
                    "created_utc", "command_line", "system", "stack"):
            assert ds.attrs[key], (kind, key)
        with np.load(results / kind / npz) as saved:
            for name in saved.files:
                if name.startswith("case_") or name in ("realizations", "compare_values"):
                    continue
                if name.startswith("d") and "_d" in name and kind == "sensitivity":
                    quantity, wrt = name[1:].split("_d", 1)
                    got = ds[f"d_{quantity}"].sel(parameter=wrt).values
                else:
                    got = ds[name].values
                assert got.dtype == saved[name].dtype, (kind, name)
                np.testing.assert_array_equal(got, saved[name], err_msg=f"{kind}: {name}")
        stack = jaxsge.stack_of(ds)
        original = load_config(results / config, [], allow_lists=kind == "ensemble").system.stack()
        if kind == "stack":  # --nphi scans phi
            original = original.replace(phi=ds["phi"].values)
        assert same_stack(stack, original), kind
        assert Stack.from_dict(json.loads(json.dumps(original.to_dict()))).to_dict() == original.to_dict()


def test_plot_redraws_every_figure_without_a_solve(results, tmp_path, monkeypatch, capsys):
    """`jaxsge plot` draws each folder's figures again with the solver entry points disabled; png, pdf, svg."""
    import importlib

    def no_solve(*args, **kwargs):
        raise AssertionError("jaxsge plot solved something")

    # Every way into a solve (and the closed-form Fermi contours, which plot reads from the file instead).
    for module, names in (("jaxsge.solve.transmissions", ("solve", "transmissions", "plan_for")),
                          ("jaxsge.observables.scan", ("conversion_scan",)),
                          ("jaxsge.observables.sensitivity", ("sensitivities",)),
                          ("jaxsge.observables.fermi", ("junction_contours", "fermi_contour_bands"))):
        for name in names:
            monkeypatch.setattr(importlib.import_module(module), name, no_solve)
    expected = {"scan": ["polar", "junction"], "sensitivity": ["sensitivity"], "stack": ["polar"],
                "ensemble": ["fig3", "curves", "convergence"]}
    for kind, names in expected.items():
        for fmt in ("png", "pdf", "svg"):
            out = tmp_path / f"{kind}-{fmt}"
            start = time.perf_counter()
            assert main(["plot", str(results / kind), "--format", fmt, "--out", str(out)]) == 0
            print(f"jaxsge plot {kind} --format {fmt}: {time.perf_counter() - start:.2f} s")
            assert sorted(p.name for p in out.iterdir()) == sorted([*(f"{n}.{fmt}" for n in names), "run.json"])
            assert all((out / f"{n}.{fmt}").stat().st_size > 1000 for n in names)
            if fmt == "png":  # the command and plot draw through the same function of the saved data
                for n in names:
                    assert (out / f"{n}.png").read_bytes() == (results / kind / f"{n}.png").read_bytes(), (kind, n)


def test_default_folder_leaves_the_result_as_written(results, capsys):
    """Without --out the figures go to replot/: the files run.json vouches for are unchanged."""
    record = json.loads((results / "sensitivity" / "run.json").read_text())
    assert main(["plot", str(results / "sensitivity" / "sensitivity.nc"), "--format", "svg"]) == 0
    assert sorted(p.name for p in (results / "sensitivity").iterdir() if p.is_file()) == sorted(
        [*record["files"], "run.json"])
    assert sorted(p.name for p in (results / "sensitivity" / "replot").iterdir()) == ["run.json", "sensitivity.svg"]
    # The default folder holds only figures of this result: a new plot replaces it without --overwrite.
    assert main(["plot", str(results / "sensitivity"), "--format", "pdf"]) == 0
    assert sorted(p.name for p in (results / "sensitivity" / "replot").iterdir()) == ["run.json", "sensitivity.pdf"]


def test_plot_out_follows_the_overwrite_policy(results, tmp_path, capsys):
    """An explicit --out: a previous plot there only with --overwrite, anything else never."""
    out = tmp_path / "figures"
    assert main(["plot", str(results / "sensitivity"), "--out", str(out)]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["plot", str(results / "sensitivity"), "--out", str(out), "--format", "svg"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxsge: error: --out ") and "already holds a jaxsge plot result" in err \
        and "--overwrite" in err and err.count("\n") == 1, err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main(["plot", str(results / "sensitivity"), "--out", str(out), "--format", "svg", "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["run.json", "sensitivity.svg"]
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["plot", str(results / "sensitivity"), "--out", str(out), "--overwrite"]) == 2
    assert "'notes.txt'" in capsys.readouterr().err and (out / "notes.txt").read_text() == "mine"


def test_complex_arrays_round_trip(tmp_path):
    """NetCDF4 has no complex type: real and imaginary parts are two variables, joined again by load."""
    from jaxsge.io.results import dataset, write_dataset

    z = np.random.default_rng(0).standard_normal((3, 4)) * (1 + 0.5j) + 1e-300j
    ds = dataset("stack", {"Z": z, "n": np.arange(3)}, {"phi": np.linspace(0, 1, 3)},
                 lambda name: [("phi", "k")] if name == "Z" else [("phi",)], {"stack": "{}"})
    write_dataset(tmp_path / "stack.nc", ds)
    back = jaxsge.load(tmp_path)
    assert back["Z"].dtype == np.complex128 and back["Z"].dims == ("phi", "k")
    np.testing.assert_array_equal(back["Z"].values, z)
    np.testing.assert_array_equal(back["n"].values, np.arange(3))
    assert "Z__real" not in back and "Z__imag" not in back


def test_plot_bad_path(results, tmp_path, capsys):
    """Not a result folder, a file of another kind, a missing path: one line, exit 2."""
    (tmp_path / "other.nc").write_text("not netcdf")
    for path in (tmp_path, results / "scan" / "scan.json", tmp_path / "other.nc", tmp_path / "absent"):
        assert main(["plot", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("jaxsge: error: ") and err.count("\n") == 1, err


@pytest.fixture(scope="module")
def energy_results(tmp_path_factory):
    """Two energy scans of the tiny junction: at one angle (energy.png) and over phi (map.png)."""
    root = tmp_path_factory.mktemp("energy")
    (root / "junction.toml").write_text(JUNCTION)
    runs = {"line": ["--nphi", "1", "--energy", "0.9,1.0,1.2", "--compare", "xi=1,2"],
            "map": ["--nphi", "8", "--energy", "0.9:1.3:3"]}
    for name, args in runs.items():
        assert main(["scan", str(root / "junction.toml"), *args, "--out", str(root / name), "--no-progress"]) == 0
    return root


def test_energy_scan_round_trip_and_replot(energy_results, tmp_path, monkeypatch):
    """An energy scan: scan.nc holds every array of scan.npz bit for bit on the dimensions (compare, energy, phi, ...),
    the energy a coordinate in units of t; `jaxsge plot` redraws energy.png / map.png byte-identical without any
    solve."""
    import importlib

    for name, figure in (("line", "energy"), ("map", "map")):
        ds = jaxsge.load(energy_results / name)
        assert ds.attrs["kind"] == "scan" and ds["energy"].attrs["units"] == "t"
        assert ds["energy"].attrs["long_name"] == "Fermi energy (mu)"
        assert ds["Gsc_x"].dims == ("compare", "energy", "phi") and ds["Gsc_x"].attrs["units"] == "e^2/h"
        assert ds["T"].dims == ("compare", "energy", "phi", "to_lead", "to_spin", "from_lead", "from_spin")
        with np.load(energy_results / name / "scan.npz") as saved:
            assert "energy" in saved.files
            for key in saved.files:  # the --compare values are the coordinate compare
                got = ds["compare" if key == "compare_values" else key].values
                assert got.dtype == saved[key].dtype, (name, key)
                np.testing.assert_array_equal(got, saved[key], err_msg=f"{name}: {key}")
        assert same_stack(jaxsge.stack_of(ds), load_config(energy_results / "junction.toml", []).system.stack())

    def no_solve(*args, **kwargs):
        raise AssertionError("jaxsge plot solved something")

    for module, names in (("jaxsge.solve.transmissions", ("solve", "plan_for")),
                          ("jaxsge.observables.scan", ("conversion_scan",))):
        for name in names:
            monkeypatch.setattr(importlib.import_module(module), name, no_solve)
    for name, figure in (("line", "energy"), ("map", "map")):
        out = tmp_path / name
        assert main(["plot", str(energy_results / name), "--out", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == sorted([f"{figure}.png", "junction.png", "run.json"])
        assert (out / f"{figure}.png").read_bytes() == (energy_results / name / f"{figure}.png").read_bytes()
