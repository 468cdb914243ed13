"""Inputs of the quantum well: jaxsge.well.config (the [well] table and the figure tables) and the
checks of jaxsge.well.model that run before any computation. Nothing here computes a state."""

import pathlib
import re

import numpy as np
import pytest

from jaxsge.well.config import DEFAULT_SECTIONS, load_well_config
from jaxsge.well.figures import well_report
from jaxsge.well.model import KD_LIMIT, WellNumerics, WellParams, resolve_numerics, validate

ROOT = pathlib.Path(__file__).resolve().parents[2]


def assert_plain(message: str) -> None:
    """Messages show plain numbers, never NumPy reprs."""
    assert "np." not in message and "array(" not in message, message


def test_paper_config_is_the_defaults():
    """configs/well_paper.toml writes out exactly WellParams() and DEFAULT_SECTIONS (the seed's Sec. III A)."""
    p, sections = load_well_config(ROOT / "configs" / "well_paper.toml")
    assert p == WellParams() and sections == DEFAULT_SECTIONS


def test_overrides():
    p, sections = load_well_config(None, ["d=3", "fig3.n_alpha=11", "fig4.alpha_L=0.01,0.02", "fig6.alpha=pi/1000",
                                          "numerics.n_k_factor=2.0"])
    assert float(p.d) == 3.0 and sections["fig3"]["n_alpha"] == 11 and sections["fig4"]["alpha_L"] == [0.01, 0.02]
    assert sections["fig6"]["alpha"] == [np.pi / 1000]
    assert sections["numerics"]["n_k_factor"] == 2 and isinstance(sections["numerics"]["n_k_factor"], int)


@pytest.mark.parametrize("override, name", [
    ("nope=1", "nope"), ("fig3.nope=1", "fig3.nope"), ("fig7.n_d=3", "fig7.n_d"), ("d=abc", "d"),
    ("fig3.n_alpha=2.5", "fig3.n_alpha"), ("fig6.n_d=151.5", "fig6.n_d"), ("fig4.n_z=1", "fig4.n_z"),
    ("numerics.n_k_factor=0", "numerics.n_k_factor"), ("fig2.alpha_L=0.01,nan", "fig2.alpha_L"),
    ("fig3.alpha_L_max=0", "fig3.alpha_L_max"), ("fig3.resolved_alpha_R=1e999", "fig3.resolved_alpha_R"),
    ("fig4.margin=-0.1", "fig4.margin"), ("fig5.d=0.5,0", "fig5.d"), ("fig6.d_min=0", "fig6.d_min"),
    ("fig6.d_max=0.1", "fig6.d_max"), ("fig6.maxima_below=0.1", "fig6.maxima_below"),
    ("fig6.maxima_below=10.5", "fig6.maxima_below"), ("derivatives.step_alpha=0", "derivatives.step_alpha"),
    ("derivatives.step_d=2.2", "derivatives.step_d"), ("fig3.alpha_R=", "fig3.alpha_R"),
    ("V_L=2", "V_L"), ("mass=2e4", "mass"), ("E_F=-1", "E_F"), ("Delta_R=2.5", "V_R")])
def test_bad_setting_is_refused_naming_it(override, name):
    with pytest.raises(ValueError, match=re.escape(name)) as err:
        load_well_config(None, [override])
    assert_plain(str(err.value))


def test_spin_degenerate_derivative_points_are_refused():
    """spin_derivatives cannot take Delta = alpha = 0; the config says so before any computation."""
    zero = ["Delta=0", "fig2.alpha_R=0"]
    load_well_config(None, zero)
    with pytest.raises(ValueError, match=re.escape("fig2.alpha_L[0]")):
        load_well_config(None, zero + ["fig2.alpha_L=0,0.05"])
    with pytest.raises(ValueError, match=re.escape("fig5.alpha")):
        load_well_config(None, zero + ["fig5.alpha=0"])


@pytest.mark.parametrize("text, pattern", [
    ("d = 2.2\n", "unknown entry 'd'"), ("[fig7]\nn = 1\n", "unknown entry 'fig7'"),
    ("fig2 = 3\n", "fig2 must be a table"), ("[well]\nd = 'x'\n", "d = 'x'"),
    ("[well]\nE_F = nan\n", "E_F = nan"), ("[well]\nd = [1, 2]\n", "d = [1, 2]"),
    ("[fig6]\nn_d = 151.5\n", "fig6.n_d = 151.5"), ("[fig6]\nn_d = true\n", "fig6.n_d"), ("[well\n", "not valid TOML")])
def test_bad_config_file_is_refused(tmp_path, text, pattern):
    config = tmp_path / "well.toml"
    config.write_text(text)
    with pytest.raises(ValueError, match=re.escape(pattern)):
        load_well_config(config)


@pytest.mark.parametrize("change, pattern", [
    ({"d": np.array([1.0, 0.0])}, "d = 0.0 (entry 1 of the batch) must be > 0"),
    ({"V_R": 1e300}, "V_R = 1e+300 must be within +/-10000 eV"),
    ({"d": 2e4}, "d = 20000.0 must be > 0 and at most 10000"),
    ({"mass": 1e-5}, "mass = 1e-05 must be between"),
    ({"E_F": np.array([3.0, 6.0])}, "V_L = 5.0 (entry 1 of the batch) must exceed E_F + |Delta_L| = 6.0"),
    ({"Delta": np.array([1j])}, "Delta = 1j (entry 0 of the batch) must be a real number"),
    ({"d": np.ones(2), "V_L": np.full(3, 5.0)}, "do not broadcast together: d (2,), V_L (3,)"),
    ({"alpha_L": np.array([])}, "alpha_L is an empty array")])
def test_validate_names_the_first_bad_entry_in_plain_numbers(change, pattern):
    with pytest.raises(ValueError, match=re.escape(pattern)) as err:
        validate(WellParams().replace(**change))
    assert_plain(str(err.value))


def test_grids_beyond_the_solver_are_refused_before_they_are_sized():
    """k_max d above KD_LIMIT would need millions of grid points per parameter point (or overflow)."""
    with pytest.raises(ValueError, match="k_max d = .* must be at most 1600"):
        resolve_numerics(WellParams(d=KD_LIMIT / 9.0))
    with pytest.raises(ValueError, match="n_k = 4194304 must be at most"):
        resolve_numerics(WellParams(), WellNumerics(n_k=2 ** 22))


def test_report_refuses_a_too_wide_scan_before_computing_or_creating_the_folder(tmp_path):
    """fig6.d_max = 200 nm at alpha = 0.01 needs k_max d = 1900: refused, named by its scan, nothing created."""
    p, sections = load_well_config(None, ["fig6.d_max=200", "fig6.n_d=2", "fig6.alpha=0.01"])
    with pytest.raises(ValueError, match=re.escape("the fig6 scan (set by fig6.d_min, fig6.d_max, fig6.alpha)")):
        well_report(p, sections, tmp_path / "out")
    assert not (tmp_path / "out").exists()
