"""Issue 20, classes 4-7 and 9: every input ends in a result or a one-line error, decided before the work.

4: a missing conversion axis (side leads on one axis only) is computed and written, never a late crash;
5: foreign files, deep nesting, JAX backends, empty grids, memory: one-line errors, not tracebacks;
6: every number has a range, the temperature a physical bound and a bounded quadrature;
7: meaningless inputs (overlapping or disconnected leads, one lead, equal --compare values, a junction
   made insulating by disorder) are refused or warned about; 9: messages name the key, the value and
   the nearest valid name. Junctions are tiny (5 x 4 x 3): fast on a 2-core CPU.
"""

import json
import os
import pathlib

import numpy as np
import pytest

from jaxsge.cli.main import main
from jaxsge.ensemble.report import figures
from jaxsge.ensemble.stats import ensemble_statistics
from jaxsge.io.config import JUNCTION_KEYS, SETTINGS, load_config
from jaxsge.model.junction import JunctionParams
from jaxsge.model.stack import Layer, SideLead, Stack, VerticalLead, validate_stack
from jaxsge.model.system import junction_system
from jaxsge.observables.scan import KT_MAX_FRACTION, check_temperature, conversion_scan
from jaxsge.observables.sensitivity import sensitivities
from jaxsge.plan.plan import subband_edges
from jaxsge.solve.transmissions import solve
from test_hardening import JUNCTION, STACK, assert_refused, run_cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = JunctionParams(Lx=5, Ly=4, Lz=3, W=3, n_barrier=1, theta=1.1, phi=0.3)


@pytest.fixture
def junction(tmp_path):
    path = tmp_path / "junction.toml"
    path.write_text(JUNCTION)
    return path


def write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def refused_in_process(capsys, args, *words):
    """main(args) ends in one line 'jaxsge: error: ...' naming every word, exit status 2."""
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxsge: error:") and err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)
    return err


# ---------------------------------------------------------------------------------------------
# 4. A missing axis: what exists is computed and written, checks before the work


def test_scan_with_side_leads_on_one_axis_writes_that_axis(junction, tmp_path, capsys):
    out = tmp_path / "scan"
    assert main(["scan", str(junction), "--set", "side_leads=F,B", "--out", str(out), "--nphi", "8",
                 "--no-progress"]) == 0
    assert "polar.png" in capsys.readouterr().out and (out / "polar.png").stat().st_size > 0
    with np.load(out / "scan.npz") as data:
        assert "Gsc_x" not in data.files and "Gcs_x" not in data.files
        gy, g_sc, phi = data["Gsc_y"][0], data["g_sc"][0], data["phi"]
    # Independent path: the Python scan of the same junction; g_sc = |G_sc^y| / max (x counts as zero).
    expected = conversion_scan(TINY.replace(side_leads=("F", "B")), phi=phi)
    np.testing.assert_allclose(gy, expected.Gsc_y, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g_sc, np.abs(gy) / np.abs(gy).max(), rtol=1e-12)
    np.testing.assert_allclose(expected.g_sc, g_sc, rtol=1e-12)
    meta = json.loads((out / "scan.json").read_text())
    assert set(meta["harmonics"]) == {"m", "Gsc_y", "Gcs_y", "g_sc"}


def test_sensitivity_figure_is_decided_before_the_work_and_reported_truly(junction, tmp_path, capsys):
    out = tmp_path / "y"
    assert main(["sensitivity", str(junction), "--set", "side_leads=F,B", "--out", str(out), "--nphi", "8",
                 "--no-progress"]) == 0
    assert "sensitivity.png" in capsys.readouterr().out and (out / "sensitivity.png").is_file()
    # A stack without the injector M: no G_sc, so no figure, and the command says so.
    stack = write(tmp_path, STACK.replace('name = "M"', 'name = "D"'), "nom.toml")
    out = tmp_path / "nom"
    assert main(["sensitivity", str(stack), "--wrt", "alpha3", "--out", str(out), "--nphi", "8",
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "no figure" in printed and "sensitivity.png" not in printed and not (out / "sensitivity.png").exists()


def test_ensemble_statistics_of_one_axis_and_of_a_vanishing_mean():
    rng = np.random.default_rng(3)
    gy = rng.normal(1.0, 0.1, (1, 1, 4, 8))  # (xi, K0, realizations, phi)
    stats = ensemble_statistics({"Gsc_y": gy, "Gcs_y": gy}, {"Gsc_y": gy[0, 0, :1], "Gcs_y": gy[0, 0, :1]},
                                ("Gsc_y", "Gcs_y"), 3)
    mean = gy.mean(axis=2)
    np.testing.assert_allclose(stats["g_sc"], np.abs(mean) / np.abs(mean).max(-1, keepdims=True), rtol=1e-12)
    assert figures(stats) == ["fig3.png", "curves.png", "convergence.png"]
    zero = np.zeros((1, 1, 3, 8))
    stats = ensemble_statistics({"Gsc_x": zero, "Gcs_x": zero}, {"Gsc_x": zero[0, 0, :1], "Gcs_x": zero[0, 0, :1]},
                                ("Gsc_x", "Gcs_x"), 3)
    assert "g_sc" not in stats and "clean_g_sc" not in stats and figures(stats) == ["curves.png"]
    assert all(np.all(np.isfinite(v)) for v in stats.values())


def test_ensemble_with_side_leads_on_one_axis_finishes_and_resumes(tmp_path):
    config = write(tmp_path, JUNCTION + 'K0 = 0.5\nn_realizations = 2\nn_phi = 8\ndisorder_layers = "2deg"\n'
                   'side_leads = ["F", "B"]\n')
    out = tmp_path / "e"
    for extra in ([], ["--resume"]):
        proc = run_cli("ensemble", config, "--out", out, "--no-progress", *extra)
        assert proc.returncode == 0, proc.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["figures"] == ["fig3.png", "curves.png", "convergence.png"]
    assert all((out / name).is_file() for name in stats["figures"])


# ---------------------------------------------------------------------------------------------
# 5. Files of another kind, nesting, backends, empty grids, memory


@pytest.mark.parametrize("kind, words", [
    ("npz", [".npz archive", "numpy.save"]),
    ("text", ["not the .npy format"]),
    ("pickled", ["not the .npy format"]),
    ("shape", ["disorder has shape (3, 5)"]),
    ("nan", ["NaN or infinity"]),
    ("huge", ["magnitude <= 1e+06"]),
    ("folder", ["is a folder"]),
    ("missing", ["does not exist"]),
])
def test_disorder_files_of_another_kind_are_one_line_errors(tmp_path, capsys, kind, words):
    path = tmp_path / "V.npy"
    if kind == "npz":
        with open(path, "wb") as fh:
            np.savez(fh, a=np.zeros((3, 5, 4)))
    elif kind == "text":
        path.write_text("0 0 0\n")
    elif kind == "pickled":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif kind == "folder":
        path.mkdir()
    elif kind != "missing":
        np.save(path, {"shape": np.zeros((3, 5)), "nan": np.full((3, 5, 4), np.nan),
                       "huge": np.full((3, 5, 4), 1e9)}[kind])
    config = write(tmp_path, JUNCTION + 'disorder_file = "V.npy"\n')
    refused_in_process(capsys, ["conductance", config], *words)


def test_config_files_of_another_kind_are_one_line_errors(tmp_path, capsys):
    refused_in_process(capsys, ["conductance", tmp_path], "is a folder")
    refused_in_process(capsys, ["conductance", "/dev/null"], "is not a regular file")
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # reading it would block forever
    refused_in_process(capsys, ["conductance", fifo], "is not a regular file")
    refused_in_process(capsys, ["conductance", write(tmp_path, "a = " + "[" * 5000 + "]" * 5000, "deep.toml")],
                       "too deeply")
    garbage = tmp_path / "garbage.toml"
    garbage.write_bytes(bytes(range(128, 256)))
    refused_in_process(capsys, ["conductance", garbage], "not UTF-8 text")
    refused_in_process(capsys, ["conductance", write(tmp_path, "Lx = 99999999999999999999999\n", "big.toml")],
                       "Lx = 99999999999999999999999 must satisfy")
    if os.geteuid() != 0:  # root reads anything
        locked = write(tmp_path, JUNCTION, "locked.toml")
        locked.chmod(0)
        refused_in_process(capsys, ["conductance", locked], "cannot be read", "Permission denied")


def test_a_byte_order_mark_is_accepted(tmp_path, capsys):
    plain = write(tmp_path, JUNCTION, "plain.toml")
    marked = tmp_path / "bom.toml"
    marked.write_bytes(b"\xef\xbb\xbf" + JUNCTION.encode())
    assert load_config(marked).system.describe() == load_config(plain).system.describe()
    assert main(["conductance", str(marked), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["system"]["params"]["Lx"] == 5


@pytest.mark.parametrize("platforms, command", [
    ("nonsense", "conductance"), ("nonsense", "scan"), ("nonsense", "sensitivity"), ("nonsense", "stack"),
    ("nonsense", "ensemble"), ("nonsense", "well"), ("cuda", "conductance"), ("cuda", "well"),
])
def test_an_unknown_or_unavailable_jax_backend_is_one_line_and_writes_nothing(tmp_path, platforms, command):
    if platforms == "cuda":
        import jax

        if any(d.platform == "gpu" for d in jax.devices()):
            pytest.skip("this machine has a GPU: JAX_PLATFORMS=cuda is available")
    config = ROOT / "configs" / "well_paper.toml" if command == "well" else write(tmp_path, JUNCTION)
    out = tmp_path / "out"
    args = [command, config] + ([] if command in ("conductance", "stack") else ["--out", out])
    proc = run_cli(*args, env={"JAX_PLATFORMS": platforms})
    assert_refused(proc, f"JAX_PLATFORMS='{platforms}'", "unset it")
    assert not out.exists()


def test_running_out_of_memory_is_one_line_suggesting_the_budget(junction, capsys, monkeypatch):
    from jax.errors import JaxRuntimeError

    from jaxsge.cli import conductance

    for error in (JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 9 GiB"), MemoryError()):
        def exhausted(args, argv=None, error=error):
            raise error
        monkeypatch.setattr(conductance, "run", exhausted)
        refused_in_process(capsys, ["conductance", junction], "ran out of memory", "--memory-gib")


@pytest.mark.parametrize("call, name", [
    (lambda: conversion_scan(TINY, phi=[]), "phi"),
    (lambda: conversion_scan(TINY, theta=np.zeros(0)), "theta"),
    (lambda: conversion_scan(TINY, energy=[], kT=0.05), "mu"),
    (lambda: sensitivities(junction_system(TINY), "alpha3", phi=[]), "phi"),
    (lambda: solve(junction_system(TINY).stack(), np.zeros((0,))), "energy"),
])
def test_empty_angle_or_energy_arrays_are_a_clear_error(call, name):
    with pytest.raises(ValueError, match=f"^{name} is an empty array; give at least one value$"):
        call()


# ---------------------------------------------------------------------------------------------
# 6. Ranges: temperature and magnitudes


def test_temperature_is_bounded_by_the_bandwidth_and_the_quadrature_it_implies(junction, tmp_path, capsys):
    stack = junction_system(TINY).stack()
    edges = subband_edges(stack)
    top = KT_MAX_FRACTION * (edges.max() - edges.min())
    check_temperature(stack, 1.1, top)  # the bound itself is allowed
    with pytest.raises(ValueError, match="leads' bandwidth"):
        check_temperature(stack, 1.1, top * 1.001)
    with pytest.raises(ValueError, match="subband edges, so the quadrature could need"):
        check_temperature(stack, 1.1, top, max_order=2 ** 16)
    assert check_temperature(stack, 1.1, np.asarray(0.05)) == 0.05 and check_temperature(stack, 1.1, 0) == 0.0
    for bad in (-1.0, float("nan"), float("inf"), True, "0.1", [0.1], 1j):
        with pytest.raises(ValueError, match="kT = .* must be a finite number >= 0"):
            check_temperature(stack, 1.1, bad)
    with pytest.raises(ValueError, match="leads' bandwidth"):
        conversion_scan(TINY, phi=[0.0], kT=1e6)
    out = tmp_path / "hot"
    refused_in_process(capsys, ["scan", junction, "--kT", "1e9", "--out", out, "--nphi", "8"], "kT = 1e+09",
                       "bandwidth")
    assert not out.exists()


@pytest.mark.parametrize("setting, words", [
    ("mu=2e6", ["|mu| <= 1e+06"]),
    ("K0=1e7", ["|K0| <= 1e+06"]),
    ("theta=1e300", ["|theta| <= 1e+06"]),
    ("dxc_profile=1,2,3e9", ["dxc_profile must hold numbers of magnitude <= 1e+06"]),
])
def test_every_number_has_a_magnitude_bound(junction, capsys, setting, words):
    refused_in_process(capsys, ["conductance", junction, "--set", setting], *words)


def test_hopping_table_entries_are_bounded(tmp_path, capsys):
    config = write(tmp_path, STACK.replace("alpha3 = -0.2\n", "alpha3 = -0.2\nhoppings = [{offset = [1, 0], "
                                                               "value = 1e9}]\n"))
    refused_in_process(capsys, ["stack", config], "layers[0].hoppings", "magnitude <= 1e+06")


def test_docs_give_a_range_for_every_key():
    text = (ROOT / "docs" / "configs.md").read_text()
    for key in JUNCTION_KEYS + tuple(SETTINGS):
        rows = [line for line in text.splitlines() if line.startswith("|") and f"`{key}`" in line.split("|")[1]]
        assert rows, key
    assert "Temperature rule" in text and "65536" in text and "1e6" in text


# ---------------------------------------------------------------------------------------------
# 7. Meaningless inputs: refused or warned about


BASE = Stack(4, 4, (Layer(onsite=4.0, alpha3=-0.2), Layer(onsite=6.0)),
             (SideLead("L", "-x"), SideLead("R", "+x")), top=VerticalLead("M", dxc=-0.6))


@pytest.mark.parametrize("stack, message", [
    (BASE.replace(side_leads=(SideLead("L", "-x", width=3, offset=0), SideLead("R", "-x", width=2, offset=2))),
     "side leads 'L' and 'R' overlap: both attach to edge -x, sites 2 .. 2 of layers 0 .. 0"),
    (BASE.replace(side_leads=(SideLead("L", "-x", layers=(0, 1)), SideLead("R", "-x", layers=1))),
     "overlap"),
    (BASE.replace(layers=(Layer(onsite=4.0, tz=0.0), Layer(onsite=6.0))),
     r"layers\[0\].tz = 0: layers 0 and 1 are not coupled, so leads \['L', 'R'\] \(below\) and \['M'\] \(above\)"),
    (BASE.replace(layers=(Layer(onsite=4.0, up={(0, 0): 0.0}), Layer(onsite=6.0))), "its up table is zero"),
    (BASE.replace(layers=(Layer(onsite=4.0), Layer(onsite=6.0, tz=0.0), Layer(onsite=6.0)), top=None),
     r"layers 2 \.\. 2 are coupled to no lead"),
    (BASE.replace(side_leads=()), "at least two leads"),
])
def test_meaningless_stacks_are_refused(stack, message):
    with pytest.raises(ValueError, match=message):
        validate_stack(stack)


@pytest.mark.parametrize("stack", [
    BASE.replace(side_leads=(SideLead("L", "-x", width=2, offset=0), SideLead("R", "-x", width=2, offset=2))),
    BASE.replace(side_leads=(SideLead("L", "-x", layers=0), SideLead("R", "-x", layers=1))),
    BASE.replace(side_leads=(SideLead("L", "-x", width=1, offset=0), SideLead("F", "-y", width=1, offset=0))),
    BASE.replace(layers=(Layer(onsite=4.0, tz=0.0), Layer(onsite=6.0)),
                 side_leads=(SideLead("L", "-x", layers=(0, 1)), SideLead("R", "+x"))),  # the lead bridges the cut
])
def test_adjacent_corner_and_bridging_leads_are_accepted(stack):
    validate_stack(stack)


def test_stack_config_with_only_m_is_refused(tmp_path, capsys):
    config = write(tmp_path, "Lx = 4\nLy = 4\nenergy = 1.1\n[[layers]]\nonsite = 4.0\n[top]\nname = \"M\"\n")
    refused_in_process(capsys, ["stack", config], "at least two leads", "it has 1: 'M'")


@pytest.mark.parametrize("compare", ["xi=7.2,7.20", "xi=pi,3.141592653589793", "W=3,3.0", "Lx=2**2+1,5"])
def test_compare_of_equal_values_is_refused(junction, tmp_path, capsys, compare):
    out = tmp_path / "scan"
    refused_in_process(capsys, ["scan", junction, "--compare", compare, "--out", out, "--nphi", "8"],
                       "are the same value")
    assert not out.exists()


@pytest.mark.parametrize("compare, words", [("=1,2", ["--compare '=1,2': the name is empty"]),
                                            ("xi=,", ["give at least one value"]),
                                            ("disorder_layers=all,2deg", ["plain numbers"])])
def test_malformed_compare_is_named(junction, tmp_path, capsys, compare, words):
    refused_in_process(capsys, ["scan", junction, "--compare", compare, "--out", tmp_path / "s", "--nphi", "8"],
                       *words)
    assert not (tmp_path / "s").exists()


def test_compare_of_integer_expressions_is_read_as_the_config_reads_them(junction, tmp_path, capsys):
    from jaxsge.cli.main import build_parser
    from jaxsge.cli.scan import compare_panels

    args = build_parser().parse_args(["scan", str(junction), "--out", str(tmp_path), "--compare", "Lx=2**2+1,6"])
    name, values, panels = compare_panels(args, load_config(junction))
    assert values == [5.0, 6.0] and [p.stack().Lx for p in panels] == [5, 6]


def test_a_junction_made_insulating_by_disorder_is_warned_about(junction, capsys):
    assert main(["conductance", str(junction), "--set", "K0=1e6", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "Gsc_x" not in report and "no current flows out of M" in report["undefined"]["Gsc_x"]
    assert captured.err.startswith("jaxsge: warning: Gsc_x, Gsc_y, Gcs_x, Gcs_y undefined: no current flows out of M")


def test_an_insulating_ensemble_stops_at_the_first_unit(tmp_path):
    config = write(tmp_path, JUNCTION + "K0 = 1e6\nn_realizations = 3\nn_phi = 8\n")
    out = tmp_path / "e"
    assert_refused(run_cli("ensemble", config, "--out", out, "--no-progress"), "K0 = 1e+06, realization 0",
                   "no current flows out of M", "lower K0")
    assert not list((out / "units").glob("*_r*.npz"))  # no disordered unit written, so a resume does not trip on one


@pytest.mark.parametrize("k0, words", [("0,0.5", ["K0 = 0.0 must be > 0", "clean junction"]),
                                       ("0", ["K0 = 0.0 must be > 0"])])
def test_an_ensemble_disorder_strength_of_zero_is_explained(tmp_path, capsys, k0, words):
    config = write(tmp_path, JUNCTION + "n_realizations = 2\nn_phi = 8\n")
    refused_in_process(capsys, ["ensemble", config, "--set", f"K0={k0}", "--out", tmp_path / "e"], *words)
    assert not (tmp_path / "e").exists()


# ---------------------------------------------------------------------------------------------
# 9. Messages that name the key, the value and the nearest valid name


@pytest.mark.parametrize("command, config, args, words", [
    ("conductance", "junction", ["--set", "alpah3=1"], ["unknown parameter 'alpah3' (did you mean 'alpha3'?)"]),
    ("conductance", "junction", ["--set", "muu=1"], ["(did you mean 'mu'?)"]),
    ("stack", "stack", ["--set", "M.dcx=1"], ["'M.dcx' is not a parameter of this stack (did you mean 'M.dxc'?)"]),
    ("stack", "stack", ["--set", "layers[0].alpah1=1"], ["(did you mean 'layers[0].alpha1'?)"]),
    ("stack", "stack", ["--set", "preset=barrier"], ["'preset' is a key of junction configs", "stack config"]),
    ("stack", "stack", ["--set", "Lz=3"], ["'Lz' is a key of junction configs"]),
    ("sensitivity", "junction", ["--wrt", "alpah3", "--nphi", "8"],
     ["--wrt: wrt = 'alpah3' is not a parameter", "(did you mean 'alpha3'?)"]),
])
def test_misspelt_and_misplaced_names_are_answered(tmp_path, capsys, command, config, args, words):
    path = write(tmp_path, JUNCTION if config == "junction" else STACK)
    extra = ["--out", str(tmp_path / "o")] if command == "sensitivity" else []
    refused_in_process(capsys, [command, path, *args, *extra], *words)


def test_table_keys_and_ragged_values_are_named(tmp_path, capsys):
    config = write(tmp_path, STACK.replace("alpha3 = -0.2\n", "alpah3 = -0.2\n"))
    refused_in_process(capsys, ["stack", config], "layers[0]: unknown key(s) ['alpah3'] (did you mean 'alpha3'?)")
    config = write(tmp_path, STACK.replace("alpha3 = -0.2\n", "alpha3 = -0.2\nhoppings = [{offset = [1, 0], "
                                                               "value = [[1, 2], [3]]}]\n"))
    refused_in_process(capsys, ["stack", config], "layers[0].hoppings", "[[1, 2], [3]]", "2x2 list")


def test_stack_preset_in_the_file_names_the_key(tmp_path, capsys):
    config = write(tmp_path, 'preset = "barrier"\n' + STACK)
    err = refused_in_process(capsys, ["stack", config], "'preset' is a key of junction configs")
    assert "not a number" not in err


def test_docs_say_what_the_code_does_with_a_preset_and_its_value(tmp_path, capsys):
    text = (ROOT / "docs" / "configs.md").read_text()
    assert "without a message" not in text and "A preset never overwrites a value given with it" in text
    config = write(tmp_path, JUNCTION + 'preset = "three_terminal"\nside_leads = ["L", "R", "F"]\n')
    refused_in_process(capsys, ["conductance", config], "preset = 'three_terminal' sets side_leads itself")


def test_ensemble_of_a_stack_without_conversion_leads_is_refused_before_writing(tmp_path, capsys):
    config = write(tmp_path, STACK.replace("alpha3 = -0.2\n", "alpha3 = -0.2\nK0 = 0.5\n").replace('name = "M"',
                                                                                                   'name = "D"')
                   .replace("energy = 1.1\n", "energy = 1.1\nn_realizations = 1\nn_phi = 8\n"))
    out = tmp_path / "e"
    refused_in_process(capsys, ["ensemble", config, "--out", out, "--no-progress"], "needs the injector M",
                       "('L', 'R', 'D')")
    assert not out.exists()
