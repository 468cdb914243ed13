"""The t2g junction (``model.junction.t2g``, ``preset = "t2g"``, docs/model.md "The t2g junction"): its 2DEG's
bulk bands from the solver's own tables against the closed-form t2g dispersion and the atomic levels at Gamma,
the Rashba splitting of the dxz/dyz pairs, the reduction to copies of the one-orbital junction, and the
transmissions and densities against Kwant.

Tolerances: bands 1e-12 (closed forms); copies 1e-12 (transmissions of order 0.01-1); Kwant 1e-8 (reached:
about 1e-14).
"""

import numpy as np
import pytest

from jaxsge.core.lattice import PAULI, T2G_L
from jaxsge.core.precision import x64
from jaxsge.io.config import load_config
from jaxsge.model.junction import T2G_DEFAULTS, JunctionParams, junction, t2g
from jaxsge.model.stack import bloch_hamiltonian
from jaxsge.model.system import junction_system
from jaxsge.observables.densities import densities
from jaxsge.solve.transmissions import solve

TOL = 1e-12
SMALL = JunctionParams(Lx=5, Ly=5, Lz=4, W=5, n_barrier=1, theta=1.2, phi=0.7)


@x64
def _bands(p: JunctionParams, kx, ky):
    """Eigenvalues of the 2DEG's Bloch Hamiltonian (exchange tail off), relative to its dxz/dyz bottom mu - gate."""
    layer = junction(p).layers[0].replace(dxc=0.0)
    h = np.asarray(bloch_hamiltonian(layer, kx, ky))
    return np.linalg.eigvalsh(h) - float(p.mu - p.gate)


def test_bulk_bands_are_the_closed_form_t2g_dispersion():
    """lam = gamma = 0: eps_yz = 2 t_h (1 - cos kx) + 2 t (1 - cos ky), eps_xz (x <-> y), eps_xy = 2 t (2 - cos kx
    - cos ky) - delta_E, each twice (spin), at t != 1 too."""
    p = t2g(SMALL, t=1.3, lam=0.0, gamma=0.0, t_h=0.07, delta_E=0.25)
    k = np.random.default_rng(0).uniform(-np.pi, np.pi, (200, 2))
    kx, ky = k[:, 0], k[:, 1]
    t, th = 1.3, 0.07
    yz = 2 * th * (1 - np.cos(kx)) + 2 * t * (1 - np.cos(ky))
    xz = 2 * t * (1 - np.cos(kx)) + 2 * th * (1 - np.cos(ky))
    xy = 2 * t * (2 - np.cos(kx) - np.cos(ky)) - 0.25
    expected = np.sort(np.repeat(np.stack([yz, xz, xy], 1), 2, axis=1), axis=1)
    np.testing.assert_allclose(_bands(p, kx, ky), expected, atol=TOL, rtol=0)


@pytest.mark.parametrize("lam, delta_E", [(0.04, 0.2), (0.1, 0.05), (0.3, 0.0), (-0.05, 0.2)])
def test_levels_at_gamma_are_the_atomic_spin_orbit_levels_in_the_crystal_field(lam, delta_E):
    """At Gamma: lam/2 (the dxz/dyz doublet with L_z S_z = +1/2) and the two doublets of the 2x2 block
    {|L_z = +-1, -+1/2>, |xy, +-1/2>}: E = [-(lam/2 + delta_E) +- sqrt((delta_E - lam/2)^2 + 2 lam^2)] / 2."""
    p = t2g(SMALL, lam=lam, delta_E=delta_E, gamma=0.08)
    root = np.sqrt((delta_E - lam / 2) ** 2 + 2 * lam ** 2)
    closed = np.sort(np.repeat([lam / 2, (-(lam / 2 + delta_E) + root) / 2, (-(lam / 2 + delta_E) - root) / 2], 2))
    np.testing.assert_allclose(_bands(p, 0.0, 0.0), closed, atol=TOL, rtol=0)
    if delta_E == 0:  # the l = 1 levels: lam/2 (j = 3/2, four states) and -lam (j = 1/2, two)
        np.testing.assert_allclose(closed, np.sort([lam / 2] * 4 + [-lam] * 2), atol=TOL)


def _splitting(p, direction, k):
    e = _bands(p, k * np.cos(direction), k * np.sin(direction))
    return e[:, 1::2] - e[:, 0::2]  # the three Kramers pairs, lowest first


def _fit(k, split):
    """Least-squares a1 k + a3 k^3 + a5 k^5 of a splitting."""
    coefficients, *_ = np.linalg.lstsq(np.stack([k, k ** 3, k ** 5], 1), split, rcond=None)
    return coefficients


def test_rashba_splitting_of_the_dxz_dyz_pairs():
    """Defaults (t_h = 0.1, delta_E = 0.2, lam = 0.04, gamma = 0.08): the upper dxz/dyz pair (lam/2 at Gamma,
    j_z = +-3/2) splits cubically (no linear term: C4v allows none between j_z = +-3/2), anisotropically like
    the two-band model's alpha3 (p_x^2 - p_y^2)(sigma_x p_y - sigma_y p_x) (largest along x, small along the
    diagonal); the lower dxz/dyz pair (mixed with dxy) and the dxy pair split linearly. Numbers
    (docs/model.md): upper pair split / k^3 = 0.618 along x and 0.102 along the diagonal (the two-band model:
    2 |alpha3| = 0.4 along x, 0 along the diagonal); linear slopes 0.0678. Without gamma or
    without lam every band stays spin-degenerate (inversion symmetry; no spin mixing)."""
    p = t2g(SMALL)
    k = np.linspace(0.005, 0.08, 16)
    along_x, diagonal = (np.array([_fit(k, s) for s in _splitting(p, a, k).T]) for a in (0.0, np.pi / 4))
    for angle, fit in ((0.0, along_x), (np.pi / 4, diagonal)):
        small = _splitting(p, angle, np.array([0.004, 0.008]))
        assert small[1, 2] / small[0, 2] == pytest.approx(8.0, rel=2e-3), "upper dxz/dyz pair: cubic (k -> 2k: x 8)"
        assert small[1, :2] / small[0, :2] == pytest.approx(2.0, rel=2e-3), "lower pairs: linear (x 2)"
        assert abs(fit[1, 0] - 0.0678) < 2e-3 and abs(fit[0, 0] - 0.0678) < 2e-3, "linear slopes"
    # The cubic coefficient in the limit k -> 0 (split / k^3 at k = 0.002), along x, at pi/8 and the diagonal:
    # 2 k^3 sqrt(a^2 cos^2(2 phi_k) + b^2) with 2a = 0.609 (the alpha3-like, four-fold part; the two-band model
    # has 2 |alpha3| = 0.4 and b = 0) and 2b = 0.102 (an isotropic cubic part the two-band model lacks).
    cubic = np.array([_splitting(p, a, np.array([0.002]))[0, 2] for a in (0.0, np.pi / 8, np.pi / 4)]) / 0.002 ** 3
    assert cubic == pytest.approx([0.6176, 0.4427, 0.1024], abs=1e-3)
    a, b = np.sqrt(cubic[0] ** 2 - cubic[2] ** 2), cubic[2]
    assert cubic[1] == pytest.approx(np.sqrt(a ** 2 / 2 + b ** 2), rel=1e-3)
    assert along_x[2, 1] == pytest.approx(0.61, abs=0.02), "the fit over k <= 0.08 (higher orders included)"
    for off in ({"gamma": 0.0}, {"lam": 0.0}):
        split = _splitting(t2g(SMALL, **off), 0.3, np.linspace(0.01, 1.0, 30))
        assert np.abs(split).max() < 1e-12, off


@pytest.mark.parametrize("coupling", ["orbital", "dxy"])
def test_without_orbital_physics_the_junction_is_copies_of_the_one_orbital_junction(coupling):
    """lam = gamma = delta_E = 0, t_h = t, gate = mu: three identical orbitals. "orbital" (every layer three
    orbitals): T = 3 x the paper's junction's. "dxy" (only dxy coupled to the one-orbital barrier): the
    magnet's transmissions are the paper's, the side leads' ones the paper's plus twice those of the 2DEG
    alone (dxz, dyz, reached from the side leads only)."""
    base = SMALL.replace(alpha3=-0.2, K0=0.4, disorder_layers="2deg", mu=1.1)
    p = t2g(base, lam=0.0, gamma=0.0, delta_E=0.0, t_h=1.0, gate=1.1, alpha3=-0.2, t2g_coupling=coupling)
    ours = solve(junction(p), 1.1).T
    paper = solve(junction(base), 1.1).T
    if coupling == "orbital":
        np.testing.assert_allclose(ours, 3 * paper, atol=TOL, rtol=0)
    else:
        stack = junction(base)
        alone = solve(stack.replace(layers=stack.layers[:1], top=None), 1.1).T  # the 2DEG with its side leads
        np.testing.assert_allclose(ours[:, :, -1], paper[:, :, -1], atol=TOL, rtol=0)
        np.testing.assert_allclose(ours[-1], paper[-1], atol=TOL, rtol=0)
        np.testing.assert_allclose(ours[:-1, :, :-1], paper[:-1, :, :-1] + 2 * alone, atol=TOL, rtol=0)
    assert np.abs(paper[:-1, :, -1]).max() > 1e-3, "the magnet must reach the side leads"


def test_every_t2g_number_is_a_traced_parameter():
    """--set reaches t_h, delta_E, lam, gamma, gate; the system has them as parameters; a t2g key without the
    preset, or the preset's numbers on the paper's junction, is refused naming it."""
    from pathlib import Path

    config = Path(__file__).resolve().parents[2] / "configs" / "t2g_small.toml"
    system = load_config(config, ["lam=0.07", "gate=0.5", "t_h=0.2"]).system
    assert {"t_h", "delta_E", "lam", "gamma", "gate"} <= set(system.names)
    assert (system.values["lam"], system.values["gate"], system.values["t_h"]) == (0.07, 0.5, 0.2)
    assert system.values["delta_E"] == T2G_DEFAULTS["delta_E"] and system.values["alpha3"] == 0.0
    assert "lam" not in junction_system(SMALL).names
    with pytest.raises(ValueError, match="lam belong to the t2g junction"):
        load_config(Path(__file__).resolve().parents[2] / "configs" / "small.toml", ["lam=0.1"])
    with pytest.raises(ValueError, match="gamma"):
        junction_system(SMALL.replace(gamma=0.1))
    with pytest.raises(ValueError, match="t_h"):
        junction_system(t2g(SMALL, t_h=-0.1))


def _kwant_t2g_densities(stack, energy, matrices, z=0):
    """Kwant's wave functions and ``operator.Density`` on the 2DEG (``validation.kwant_model.densities``): (leads,
    operators, Lx, Ly)."""
    pytest.importorskip("kwant", reason="Kwant is not installed (make kwant)")
    from jaxsge.validation import kwant_model

    return kwant_model.densities(stack, energy, kwant_model.potentials(stack), (z,), matrices)[0]


@pytest.mark.parametrize("gate", [0.6, 0.45])
def test_spin_and_orbital_densities_equal_kwant(gate):
    """Spin sigma_k x 1_orbital and orbital L_k x 1_spin densities of the t2g 2DEG (disordered) against Kwant's
    wave functions (1e-8)."""
    p = t2g(SMALL, lam=0.1, gamma=0.15, gate=gate, K0=0.3, disorder_layers="2deg")
    stack = junction(p)
    operators = {"sx": "sx", "sy": "sy", "sz": "sz"}
    operators.update({f"L{c}": np.kron(T2G_L[k], np.eye(2)) for k, c in enumerate("xyz")})
    operators["LdotS"] = sum(np.kron(T2G_L[k], PAULI[k]) for k in range(3)) / 2
    d = densities(stack, float(p.mu), layer=0, operators=operators, precision="double")
    theirs = _kwant_t2g_densities(stack, float(p.mu), d.matrices)
    np.testing.assert_allclose(d.values[0], theirs, atol=1e-8, rtol=0)
    assert np.abs(theirs[:, 3:6]).max() > 1e-3 and np.abs(theirs[:, :3]).max() > 1e-3, "densities the check sees"


def test_densities_in_the_one_orbital_layer_above_equal_kwant():
    """The transition layer above the three-orbital 2DEG (one orbital, its states after the 2DEG's in no slice of
    its own size): spin densities and the torque there against Kwant (1e-8); layers of different orbital counts
    in one request are refused naming them."""
    p = t2g(SMALL, lam=0.1, gamma=0.15, gate=0.6)
    stack = junction(p)
    d = densities(stack, float(p.mu), layer=1, operators=("charge", "sx", "sy", "sz"), fold=False)
    theirs = _kwant_t2g_densities(stack, float(p.mu), d.matrices, z=1)
    np.testing.assert_allclose(d.values[0], theirs, atol=1e-8, rtol=0)
    assert np.abs(theirs[:, 1:]).max() > 1e-4
    with pytest.raises(ValueError, match="different orbital counts"):
        densities(stack, float(p.mu), layer=(0, 1), fold=False)
