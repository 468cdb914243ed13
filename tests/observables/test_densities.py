"""Current-induced densities (observables/densities.py) against Kwant, sum rules, symmetry and derivatives.

Tolerances: 1e-8 absolute against Kwant's wave functions and against a direct inverse (densities
are of order 0.1-1 here; the agreement measured is about 1e-14 on the dense path); 1e-7 on the
Krylov and mixed paths (GMRES tolerance 1e-10, relative); derivatives against central
differences to rtol 1e-6.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsge.model.junction import JunctionParams, junction, mechanism
from jaxsge.observables.densities import densities, density_values, local_request
from jaxsge.solve.transmissions import plan_for, solve

SMALL = JunctionParams(Lx=5, Ly=4, Lz=4, W=3, n_barrier=2, theta=1.1, phi=0.6, mu=1.1, K0=0.5)
E = 1.1
TOL = 1e-8
DISORDERED = junction(mechanism("both", SMALL, alpha1=0.4))  # disorder in the 2DEG, SOC in 2DEG and barrier
KRYLOV_READY = junction(mechanism("2deg", SMALL.replace(disorder_layers="2deg")))  # folded top, one dense layer


def _kwant():
    """Kwant, or a skip (a failure under JAXSGE_REQUIRE_KWANT=1: tests/conftest.py imports it first)."""
    return pytest.importorskip("kwant", reason="Kwant is not installed (make kwant)")


def _kwant_densities(stack, layers, matrices):
    """Kwant's wave functions and ``operator.Density`` on each layer (``validation.kwant_model.densities``):
    (layers, leads, operators, Lx, Ly)."""
    _kwant()
    from jaxsge.validation import kwant_model

    return kwant_model.densities(stack, E, kwant_model.potentials(stack), layers, matrices)


def test_dense_every_layer_equals_kwant():
    """fold=False: the lowest slice's states and the back-substitution through the three slices above."""
    d = densities(DISORDERED, E, layer=(0, 1, 2, 3), fold=False)
    theirs = _kwant_densities(DISORDERED, d.layers, d.matrices)
    np.testing.assert_allclose(d.values, theirs, atol=TOL, rtol=0)
    assert np.abs(theirs[3]).max() > 1e-4, "the top layer must carry a density the check can see"
    assert np.abs(d.values[0, :, 3]).max() > 1e-3, "and a spin density in the 2DEG"


@pytest.mark.parametrize("name", ["lead_on_inner_layer", "bottom_fold_2deg_in_the_middle", "interlayer_table"])
def test_other_stacks_every_layer_equals_kwant(name):
    """Side leads on upper layers (their sources in the back-substitution), a bottom lead, an interlayer
    hopping table (a dense link between slices)."""
    _kwant()
    from tests.solve.test_kwant_stack import CASES

    stack = CASES[name]
    d = densities(stack, E, layer=tuple(range(stack.Lz)), fold=False, operators=("charge", "sx", "sz"))
    theirs = _kwant_densities(stack, d.layers, d.matrices)
    np.testing.assert_allclose(d.values, theirs, atol=TOL, rtol=0)


@pytest.mark.parametrize("path, precision", [("krylov", "double"), ("dense", "mixed"), ("dense", "double")])
def test_lowest_layer_paths_equal_kwant(path, precision):
    d = densities(KRYLOV_READY, E, layer=0, path=path, precision=precision)
    assert d.solver["solver"] == path and d.solver["precision"] == precision
    theirs = _kwant_densities(KRYLOV_READY, d.layers, d.matrices)
    np.testing.assert_allclose(d.values, theirs, atol=1e-7 if path == "krylov" or precision == "mixed" else TOL,
                               rtol=0)


def _spectral_function(stack):
    """A(r, r) = i (G - G^dagger) on every site, (Lz, Lx, Ly, 2, 2), from a direct inverse of E - H - Sigma
    (Kwant's Hamiltonian and lead self-energies)."""
    _kwant()
    from jaxsge.validation import kwant_model

    syst = kwant_model.build(stack, kwant_model.potentials(stack))
    h = syst.hamiltonian_submatrix(sparse=False)
    a = E * np.eye(h.shape[0]) - h
    for lead, interface in zip(syst.leads, syst.lead_interfaces):
        orbitals = (2 * np.asarray(interface)[:, None] + np.arange(2)).ravel()
        a[np.ix_(orbitals, orbitals)] -= lead.selfenergy(E)
    g = np.linalg.inv(a)
    spectral = 1j * (g - g.conj().T)
    out = np.zeros((stack.Lz, stack.Lx, stack.Ly, 2, 2), complex)
    for i, site in enumerate(syst.sites):
        x, y, z = site.tag
        out[z, x, y] = spectral[2 * i:2 * i + 2, 2 * i:2 * i + 2]
    return out


def test_sum_over_leads_is_the_spectral_function():
    """sum_a G Gamma_a G^dagger = i (G - G^dagger) = A: charge (2 pi x the LDOS) and spin parts."""
    d = densities(DISORDERED, E, layer=(0, 2), fold=False)
    spectral = _spectral_function(DISORDERED)
    expected = np.einsum("lxyst,ots->loxy", spectral[list(d.layers)], d.matrices).real
    np.testing.assert_allclose(d.values.sum(axis=1), expected, atol=TOL, rtol=0)


def test_time_reversal_no_equilibrium_spin():
    """Without exchange anywhere (time-reversal symmetric), the spin density summed over every lead (the
    equilibrium one) vanishes on each site, while each lead's (the Edelstein response) does not."""
    stack = junction(mechanism("both", SMALL.replace(dxc=0.0), alpha1=0.4))
    stack = stack.replace(top=stack.top.replace(dxc=0.0))
    d = densities(stack, E, layer=(0, 1), fold=False, operators=("sx", "sy", "sz"))
    assert np.abs(d.values.sum(axis=1)).max() < 1e-12
    assert np.abs(d.values).max() > 1e-3


def test_injectivity_is_the_s_matrix_sensitivity():
    """Buttiker-Thomas-Pretre: the density of lead b's states of V summed over a layer is -Im sum over
    (a, channels) of S_ab^* dS_ab/dh for the field h V added to that layer (exact for a unitary S, from
    S = -1 + i W^dagger G W): the spin density a current induces is the sensitivity of the scattering to
    a Zeeman field there, the reciprocal (spin-to-charge) side of the Edelstein response."""
    from jaxsge.core.lattice import PAULI

    stack = DISORDERED
    d = densities(stack, E, layer=0)
    step = 1e-4
    for k in range(3):
        s_of = {h: solve(stack.replace(layers=(stack.layers[0].replace(hoppings={(0, 0): h * PAULI[k]}),)
                                       + stack.layers[1:]), E, smatrix=True).S for h in (step, -step)}
        derivative = (s_of[step] - s_of[-step]) / (2 * step)
        s0 = solve(stack, E, smatrix=True)
        lead_cols = _lead_columns(stack, s0)
        for b, cols in enumerate(lead_cols):
            x = np.sum(s0.S[:, cols].conj() * derivative[:, cols])
            np.testing.assert_allclose(d.total[0, b, 1 + k], -x.imag, rtol=1e-6, atol=1e-9)


def _lead_columns(stack, result):
    from jaxsge.solve.kernel import channel_layout

    _, lead_of, _, _ = channel_layout(stack, result.plan)
    return [np.flatnonzero(lead_of == a) for a in range(len(result.leads))]


@pytest.mark.parametrize("name, fold", [("alpha3", True), ("dxc", False)])
def test_derivative_equals_central_differences(name, fold):
    """jax.grad of a weighted sum of the 2DEG's (and, unfolded, the barrier's) densities against central
    differences, with respect to the cubic Rashba of the 2DEG or the magnet's exchange."""
    stack = KRYLOV_READY
    local, _, _ = local_request(stack, (0,) if fold else (0, 3), ("charge", "sx", "sy", "sz"))
    pl = plan_for(stack, E, fold=fold)
    weights = np.random.default_rng(1).normal(size=(len(local.layers), len(stack.lead_names), 4, stack.Lx, stack.Ly))

    def build(x):
        if name == "alpha3":
            return stack.replace(layers=(stack.layers[0].replace(alpha3=x),) + stack.layers[1:])
        return stack.replace(layers=tuple(layer.replace(dxc=x * layer.dxc) for layer in stack.layers))

    with jax.enable_x64(True):
        def f(x):
            return jnp.sum(jnp.asarray(weights) * density_values(build(x), E, pl, local))
        x0 = float(stack.layers[0].alpha3) if name == "alpha3" else 1.0
        grad = float(jax.grad(f)(x0))
        h = 1e-4
        central = (float(f(x0 + h)) - float(f(x0 - h))) / (2 * h)
    np.testing.assert_allclose(grad, central, rtol=1e-6)
    assert abs(grad) > 1e-3


def test_batched_over_angles_and_energies_equals_single_points():
    theta, energy = np.array([0.3, 1.1]), np.array([[1.0], [1.2]])
    d = densities(KRYLOV_READY.replace(theta=theta), energy, layer=0, operators=("sy",))
    assert d.values.shape == (2, 2, 1, len(KRYLOV_READY.lead_names), 1, 5, 4)
    one = densities(KRYLOV_READY.replace(theta=0.3), 1.2, layer=0, operators=("sy",))
    np.testing.assert_allclose(d.values[1, 0], one.values, atol=1e-13, rtol=0)


def test_thermal_average_converges_to_the_zero_temperature_values():
    """At kT = 1e-4 t the thermal window is far narrower than any variation of the densities."""
    cold = densities(KRYLOV_READY, E, layer=0, operators=("charge", "sy"))
    warm = densities(KRYLOV_READY, E, layer=0, operators=("charge", "sy"), kT=1e-4)
    assert warm.quadrature_nodes > 0
    np.testing.assert_allclose(warm.values, cold.values, atol=1e-6 * np.abs(cold.values).max(), rtol=0)


def test_torque_is_exchange_times_m_cross_spin():
    d = densities(DISORDERED, E, layer=(0, 3), fold=False)
    tau = d.torque()
    assert tau.shape == (2, len(DISORDERED.lead_names), 3, 5, 4)
    m = d.magnetization[1]
    spin = d.values[1, :, 1:4]  # (leads, 3, x, y)
    expected = d.dxc[1] / 2 * np.cross(m[None, :, None, None], spin, axis=1)
    np.testing.assert_allclose(tau[1], expected, atol=1e-15, rtol=0)
    np.testing.assert_allclose(np.einsum("i,aixy->axy", m, tau[1]), 0, atol=1e-13)  # tau is normal to m
    assert np.abs(tau[1]).max() > 1e-5


def test_inputs_are_refused_with_one_clear_error():
    with pytest.raises(ValueError, match="fold=False"):
        densities(KRYLOV_READY, E, layer=2)  # folded into the top lead
    with pytest.raises(ValueError, match="layer"):
        densities(KRYLOV_READY, E, layer=7)
    with pytest.raises(ValueError, match="Hermitian"):
        densities(KRYLOV_READY, E, operators=[np.array([[0, 1], [0, 0]])])
    with pytest.raises(ValueError, match="must be one of"):
        densities(KRYLOV_READY, E, operators="spin")
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        densities(KRYLOV_READY, E, operators=[np.eye(3)])
    with pytest.raises(ValueError, match="energy"):
        densities(KRYLOV_READY)


def test_orbital_operators_by_name():
    """Lx, Ly, Lz, LdotS name L_k x 1_spin and (1/2) sum_k L_k x sigma_k on a three-orbital layer (d = 6); on a
    one-orbital layer they are refused, saying why."""
    from jaxsge.core.lattice import PAULI, T2G_L
    from jaxsge.observables.densities import operator_matrices

    names, blocks = operator_matrices(("sy", "Lx", "Lz", "LdotS"), 6)
    assert names == ("sy", "Lx", "Lz", "LdotS")
    np.testing.assert_array_equal(blocks[0], np.kron(np.eye(3), PAULI[1]))
    np.testing.assert_array_equal(blocks[1], np.kron(T2G_L[0], np.eye(2)))
    np.testing.assert_array_equal(blocks[2], np.kron(T2G_L[2], np.eye(2)))
    np.testing.assert_allclose(blocks[3], sum(np.kron(T2G_L[k], PAULI[k]) for k in range(3)) / 2, atol=0)
    with pytest.raises(ValueError, match="layer of 3 orbitals"):
        operator_matrices(("Lz",), 2)
