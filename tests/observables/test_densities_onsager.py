"""Onsager-Casimir reciprocity of the current-induced densities (issue 21: "Onsager-Casimir for the spin and
orbital densities against the reciprocal conductances where they are related").

M. Buttiker, H. Thomas, A. Pretre, Z. Phys. B 94, 133 (1994) (BTP): for a perturbation h O of the
Hamiltonian (O an onsite operator on the sites of a layer), the derivative of the scattering matrix
S_ab (into lead a from lead b) gives

- the injectivity of lead b, nu_b(O) = -Im sum_a sum_(channels) S_ab^* dS_ab/dh: the density of O carried
  by the states incoming from lead b, which is what ``jaxsge.densities`` computes from the scattering
  states (``Densities.total``, layer totals; tests/observables/test_densities.py checks it at one m);
- the emissivity of lead a, e_a(O) = -Im sum_b sum_(channels) S_ab^* dS_ab/dh: the same with the roles
  of the leads exchanged (rows of S instead of columns), the density of O of the states outgoing into a.

Time reversal Theta = (1_orbital x i sigma_y) K maps the Hamiltonian at magnetization m with the field h O
to the one at -m with the field eps_O h O (eps_O = Theta O Theta^-1 / O: +1 for charge and L.S, -1 for
sigma_k and L_k), and S(m, h) to S(-m, eps_O h)^T up to unitary changes of the channel basis within each
lead, to which both sums are blind. Hence the Onsager-Casimir relation

    nu_a(O; m) = eps_O e_a(O; -m)

for every lead a. What must be reversed: every time-odd field, i.e. the magnetization of the stack
(theta, phi -> pi - theta, phi + pi) and the own angles of any layer or lead (exchange); the spin-orbit
terms (Rashba, Dresselhaus, L.S, the orbital-changing gamma hopping), the hoppings, the onsite energies
and the disorder are time-even and stay. The relation is not an identity at one m: with spin-orbit
coupling and a non-collinear m, nu_a(O; m) differs from eps_O e_a(O; m) (asserted: by more than 1e-4).

Spin-charge reading (Brouwer's pumping formula, P. W. Brouwer, PRB 58, R10135 (1998)): the charge
emitted into lead a per unit change of a slowly varied field h O is (his Eq. (2)) dQ_a/dh = (1/2 pi) Im sum_b
sum_(channels) (dS_ab^*/dh) S_ab = e_a(O) / (2 pi) (units of e, h in units of t). So the relation reads: the
density of O per unit bias of lead a, ``Densities.per_unit_bias`` = nu_a / 2 pi, at m equals eps_O times the
charge pumped into lead a per unit change of a field h O at -m. For O = sigma_k summed over the 2DEG this is
the Edelstein response (a bias drives a spin density) against its Onsager partner (a varying Zeeman field
there drives a charge current), the pair of the spin-charge conversion conductances G_sc(m) and G_cs(-m) (the
paper's Eq. (4)) for densities instead of a magnetic lead.

Tolerances: 1e-8 absolute on layer totals of order 0.1-20 (the S derivative by a five-point central
difference, step 3e-4: truncation and rounding about 1e-11; reached 1e-12 on the one-orbital junction, 2DEG and
magnet layer, and 6e-11 on the t2g one, where step 1e-3 gives 5e-10); the failure at one m by more than 1e-4 (it
is 0.2-0.7).
"""

import numpy as np
import pytest

from jaxsge.core.lattice import PAULI, T2G_L
from jaxsge.model.junction import JunctionParams, junction, mechanism, t2g
from jaxsge.observables.densities import densities
from jaxsge.solve.kernel import channel_layout
from jaxsge.solve.transmissions import solve

ONE_ORBITAL = junction(mechanism("both", JunctionParams(Lx=5, Ly=4, Lz=4, W=3, n_barrier=2, theta=1.1, phi=0.6,
                                                        mu=1.1, K0=0.5), alpha1=0.4))
T2G = t2g(JunctionParams(Lx=4, Ly=4, Lz=3, W=4, n_barrier=1, theta=1.2, phi=0.7), lam=0.1, gamma=0.15, gate=0.6,
          K0=0.3, disorder_layers="2deg")
STEP = 3e-4
TOL = 1e-8
# Time-reversal parity of each operator: Theta O Theta^-1 = eps O.
PARITY = {"charge": 1, "sx": -1, "sy": -1, "sz": -1, "Lx": -1, "Ly": -1, "Lz": -1, "LdotS": 1}


def time_reversed(stack):
    """The stack with every time-odd field reversed: the magnetization of the stack and the own direction of
    each layer and lead (theta, phi -> pi - theta, phi + pi, i.e. n -> -n). Spin-orbit terms, hoppings,
    onsite energies and the disorder are time-even and stay."""
    def flip(owner):
        return owner if owner.theta is None else owner.replace(theta=np.pi - owner.theta, phi=owner.phi + np.pi)

    top = None if stack.top is None else flip(stack.top)
    bottom = None if stack.bottom is None else flip(stack.bottom)
    return stack.replace(theta=np.pi - stack.theta, phi=stack.phi + np.pi, layers=tuple(map(flip, stack.layers)),
                         side_leads=tuple(map(flip, stack.side_leads)), top=top, bottom=bottom)


def with_field(stack, z, h, matrix):
    """The stack with h O added to the onsite block of every site of layer z (its table's (0, 0) entry)."""
    layer = stack.layers[z]
    table = dict(layer.hoppings)
    table[(0, 0)] = np.asarray(table.get((0, 0), 0.0)) + h * matrix
    return stack.replace(layers=stack.layers[:z] + (layer.replace(hoppings=table),) + stack.layers[z + 1:])


def smatrix_response(stack, energy, z, matrix):
    """-Im (S^* dS/dh) per element, summed over the channels of each pair of leads: (leads a, leads b), S at
    h = 0 and dS/dh by the five-point central difference (step STEP). Its sum over a is the injectivity of
    b, its sum over b the emissivity of a."""
    s = {k: solve(with_field(stack, z, k * STEP, matrix), energy, smatrix=True) for k in (-2, -1, 0, 1, 2)}
    derivative = (s[-2].S - 8 * s[-1].S + 8 * s[1].S - s[2].S) / (12 * STEP)
    _, lead_of, _, _ = channel_layout(stack, s[0].plan)
    element = -(s[0].S.conj() * derivative).imag
    n = len(s[0].leads)
    return np.array([[element[np.ix_(lead_of == a, lead_of == b)].sum() for b in range(n)] for a in range(n)])


def _operators(stack, z):
    n = stack.layers[z].orbitals
    ops = {"charge": np.eye(2 * n)}
    ops.update({f"s{c}": np.kron(np.eye(n), PAULI[k]) for k, c in enumerate("xyz")})
    if n == 3:
        ops.update({f"L{c}": np.kron(T2G_L[k], np.eye(2)) for k, c in enumerate("xyz")})
        ops["LdotS"] = sum(np.kron(T2G_L[k], PAULI[k]) for k in range(3)) / 2
    return ops


@pytest.mark.parametrize("case", ["one_orbital", "magnet_layer", "t2g"])
def test_injectivity_at_m_is_the_emissivity_at_minus_m(case):
    """nu_a(O; m) = eps_O e_a(O; -m) for every lead a and O in charge, sigma_k (and on the t2g 2DEG L_k and L.S),
    summed over the 2DEG, or over the magnet's layer (its states by back-substitution, fold=False), (1e-8); the
    same relation at the same m fails for the time-odd operators (by more than 1e-4): the reversal of m is what
    makes it hold. One-orbital case: disorder, cubic Rashba (-0.2) in the 2DEG, linear Rashba (0.4) in the barrier; t2g
    case: disorder, L.S (lam = 0.1), the orbital-changing hopping (gamma = 0.15), both with a non-collinear
    magnetization (theta, phi not on an axis or a mirror plane)."""
    stack, energy = (junction(T2G), float(T2G.mu)) if case == "t2g" else (ONE_ORBITAL, 1.1)
    z = 3 if case == "magnet_layer" else 0  # the magnet's layer: a dense slice above the 2DEG (fold=False)
    ops = _operators(stack, z)
    d = densities(stack, energy, layer=z, operators=ops, precision="double", fold=z == 0)
    reversed_stack = time_reversed(stack)
    worst, smallest_failure = 0.0, np.inf
    for o, (name, matrix) in enumerate(ops.items()):
        injectivity = d.total[0, :, o]  # (leads,)
        eps = PARITY[name]
        at_m = smatrix_response(stack, energy, z, matrix)
        at_minus_m = smatrix_response(reversed_stack, energy, z, matrix)
        # BTP at the same m (the check of test_densities): the wave functions' density is the column sum.
        np.testing.assert_allclose(injectivity, at_m.sum(axis=0), atol=TOL, rtol=0, err_msg=name)
        # Onsager-Casimir: the injectivity at m is eps times the emissivity (row sum) at -m.
        np.testing.assert_allclose(injectivity, eps * at_minus_m.sum(axis=1), atol=TOL, rtol=0, err_msg=name)
        worst = max(worst, np.abs(injectivity - eps * at_minus_m.sum(axis=1)).max())
        if eps == -1:
            failure = np.abs(injectivity - eps * at_m.sum(axis=1)).max()
            assert failure > 1e-4, f"{name}: the relation at the same m must fail, it holds to {failure:.2e}"
            smallest_failure = min(smallest_failure, failure)
    assert np.abs(d.total[0, :, 1:4]).max() > 1e-3, "spin densities the check can see"
    print(f"{case}: Onsager-Casimir reached {worst:.1e}; same-m relation off by >= {smallest_failure:.1e}")

