"""``jaxsge kwant-check``: a user's config (junction and stack) cross-checked against Kwant."""

import json
import pathlib
import sys

import pytest

from jaxsge.cli.main import main
from jaxsge.validation.kwant_model import MAX_LAYER_SITES

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"
TOL = 1e-8  # absolute, on transmission probabilities (the cross-checks of tests/solve reach ~1e-14)

# Small sizes of the shipped configs (a few seconds each for Kwant on a 2-core CPU).
JUNCTION = [str(CONFIGS / "small.toml"), "--set", "Lx=6", "--set", "Ly=5", "--set", "Lz=4", "--set", "W=3",
            "--set", "theta=1.1", "--set", "phi=0.6"]
STACK = [str(CONFIGS / "stack_example.toml"), "--set", "Lx=11", "--set", "Ly=10"]
T2G = [str(CONFIGS / "t2g_small.toml")]  # preset = "t2g": the three-orbital 2DEG under a one-orbital barrier


def needs_kwant():
    pytest.importorskip("kwant", reason="Kwant is not installed (make kwant)")


@pytest.mark.parametrize("argv, leads", [(JUNCTION, ["L", "R", "F", "B", "M"]), (STACK, ["L", "R", "F", "B", "M"]),
                                         (T2G, ["L", "R", "F", "B", "M"])],
                         ids=["junction_config", "stack_config", "t2g_preset"])
def test_every_transmission_agrees_with_kwant(argv, leads, capsys):
    needs_kwant()
    assert main(["kwant-check", *argv, "--json", "--tolerance", str(TOL)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["open_channels_agree"] and report["leads"] == leads
    rows = report["transmissions"]
    assert len(rows) == (2 * len(leads)) ** 2, "every (lead a, spin, lead b, spin) pair"
    assert report["max_deviation"] == max(r["deviation"] for r in rows) <= TOL
    for r in rows:
        assert abs(r["jaxsge"] - r["kwant"]) == pytest.approx(r["deviation"], abs=1e-300)
    # The check must see something: transmissions out of M into the side leads, different per spin.
    into_side = {(r["to"], r["from_spin"]): r["kwant"] for r in rows if r["from"] == "M" and r["to"] != "M"}
    assert max(into_side.values()) > 1e-4
    assert abs(into_side[("L", "+")] - into_side[("L", "-")]) > 1e-6


def test_table_and_failure_status(capsys):
    """The text table; a tolerance below the rounding error makes the same check fail with status 1."""
    needs_kwant()
    assert main(["kwant-check", *JUNCTION]) == 0
    out = capsys.readouterr().out
    assert "largest deviation" in out and "passed" in out and len(out.splitlines()) > 100
    assert main(["kwant-check", *JUNCTION, "--tolerance", "1e-300"]) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.err and "exceeds the tolerance 1e-300" in captured.err


def test_refuses_a_junction_too_big_for_kwant(capsys):
    assert main(["kwant-check", str(CONFIGS / "paper.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxsge: error: Lx x Ly = 50 x 50 = 2500 sites per layer") and "\n" not in err
    assert f"at most {MAX_LAYER_SITES}" in err


def test_missing_kwant_says_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "kwant", None)  # "import kwant" now raises ImportError
    assert main(["kwant-check", *JUNCTION]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxsge: error: Kwant is not installed") and "make kwant" in err and "\n" not in err


@pytest.mark.parametrize("tolerance", ["0", "-1e-8", "nan", "inf"])
def test_bad_tolerance(tolerance, capsys):
    assert main(["kwant-check", *JUNCTION, f"--tolerance={tolerance}"]) == 2
    assert "--tolerance" in capsys.readouterr().err


def test_t2g_densities_agree_with_kwant(capsys):
    """--densities: the spin, orbital (L_k) and L.S densities of the t2g 2DEG and the charge and spin densities
    of the barrier above it, every site and lead, against Kwant's wave functions (1e-8, absolute); a tolerance
    below the agreement reached fails the check (exit 1), and a layer out of range is a one-line error."""
    needs_kwant()
    assert main(["kwant-check", *T2G, "--densities", "0,1", "--json", "--tolerance", str(TOL)]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["densities"]["rows"]
    assert [(r["layer"], r["operator"]) for r in rows] == (
        [(0, name) for name in ("charge", "sx", "sy", "sz", "Lx", "Ly", "Lz", "LdotS")]
        + [(1, name) for name in ("charge", "sx", "sy", "sz")])
    assert report["passed"] and report["densities"]["max_deviation"] <= TOL
    # The check sees something: spin and orbital densities of order 0.1-1 per unit bias.
    assert min(r["max_abs_kwant"] for r in rows) > 1e-2
    worst = report["densities"]["max_deviation"]
    assert worst > report["max_deviation"] / 1e3, "densities are compared, not the transmissions twice"
    assert main(["kwant-check", *T2G, "--densities", "0", "--tolerance", f"{worst / 10:g}"]) == 1
    assert "density deviation" in capsys.readouterr().err
    assert main(["kwant-check", *T2G, "--densities", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxsge: error: --densities = '4'") and "\n" not in err
