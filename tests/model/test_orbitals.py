"""Orbitals per layer (``Layer.orbitals``): one orbital unchanged, independent orbitals, Kwant, inputs."""

import json
import pathlib

import numpy as np
import pytest

from jaxsge.core.lattice import T2G_L, spin_orbit_ls
from jaxsge.io.config import load_config
from jaxsge.model.stack import Layer, SideLead, Stack, VerticalLead, validate_stack
from jaxsge.solve.transmissions import solve

HERE = pathlib.Path(__file__).resolve().parent


def one_orbital_cases():
    """Small stacks over every path of the engine (folds, spin blocks, dense slices, a multi-layer side
    lead, a bottom lead, disorder, tables), as in tests/model/one_orbital_reference.json."""
    return {
        "paperlike": (Stack(Lx=5, Ly=4, layers=(Layer(onsite=4.0, alpha3=-0.3, K0=0.4), Layer(onsite=6.0, dxc=-0.1),
                                                Layer(onsite=7.9, dxc=-0.3, alpha1=0.2)),
                            side_leads=(SideLead("L", "-x", width=3), SideLead("R", "+x", width=3),
                                        SideLead("F", "-y", layers=0)),
                            top=VerticalLead("M", onsite=6.0, dxc=-0.6), theta=np.pi / 2, phi=np.array([0.3, 1.2])),
                      1.1),
        "multi": (Stack(Lx=4, Ly=4, layers=(Layer(onsite=4.0, beta=0.2, hoppings={(1, 1): 0.1j * np.eye(2)}),
                                            Layer(onsite=5.0, dxc=0.3, theta=0.4, phi=0.2,
                                                  up={(0, 0): -0.8, (1, 0): 0.1}),
                                            Layer(onsite=5.0), Layer(onsite=6.0)),
                        side_leads=(SideLead("L", "-x", layers=(1, 2), dxc=0.2), SideLead("R", "+x", layers=0)),
                        top=VerticalLead("M", onsite=6.0, dxc=-0.6),
                        bottom=VerticalLead("B", onsite=5.0, dxc=0.2, theta=1.0, phi=0.5), theta=1.0, phi=0.4), 1.3),
        "blocks": (Stack(Lx=4, Ly=5, layers=(Layer(onsite=4.0, alpha1=0.3),
                                             Layer(onsite=np.linspace(5, 6, 20).reshape(4, 5), K0=0.3),
                                             Layer(onsite=6.0, dxc=0.2)),
                         side_leads=(SideLead("L", "-x", onsite=4.0), SideLead("R", "+x", onsite=4.0)),
                         top=VerticalLead("M", onsite=6.0, dxc=-0.6)), 1.2),
    }


def test_one_orbital_equals_the_stored_numbers_of_the_single_orbital_engine():
    """Every transmission and every |S| entry of the engine before orbitals existed (stored from its
    commit cba8370 by the same calls) to 1e-13: the one-orbital paths are unchanged."""
    stored = json.loads((HERE / "one_orbital_reference.json").read_text())
    for name, (stack, energy) in one_orbital_cases().items():
        r = solve(stack, energy, smatrix=True)
        assert np.abs(r.T - np.asarray(stored[name]["T"])).max() < 1e-13, name
        assert np.abs(np.abs(r.S) - np.asarray(stored[name]["S_abs"])).max() < 1e-13, name


def test_explicit_one_orbital_blocks_equal_the_named_terms():
    """orbitals = 1 with full 2x2 blocks is the default layer (the promotions agree)."""
    stack, energy = one_orbital_cases()["multi"]
    layers = list(stack.layers)
    layers[0] = layers[0].replace(orbitals=1, hoppings={(1, 1): 0.1j * np.eye(2), (0, 0): np.zeros((2, 2))})
    a = solve(stack, energy).T
    b = solve(stack.replace(layers=tuple(layers)), energy).T
    assert np.abs(a - b).max() < 1e-13


SHIFTS = np.array([0.0, 0.35, -0.5])


def _shifted_orbitals(n, shift):
    """A two-layer junction whose n orbitals are copies of one orbital shifted by ``shift`` (n > 1), or the
    one-orbital junction shifted by shift[0] (n = 1): disorder, cubic and linear Rashba, exchange, a
    side lead across both layers; the leads continue the orbitals."""
    extra = {(0, 0): np.kron(np.diag(shift), np.eye(2))} if n > 1 else {}
    base = 0.0 if n > 1 else shift[0]
    lead_shift = shift if n > 1 else None
    return Stack(Lx=4, Ly=3, layers=(
        Layer(onsite=4.0 + base, alpha3=-0.3, K0=0.4, hoppings=dict(extra), orbitals=n),
        Layer(onsite=5.0 + base, dxc=0.4, alpha1=0.2, hoppings=dict(extra), orbitals=n)),
        side_leads=(SideLead("L", "-x", layers=0, width=2, orbital_onsite=lead_shift),
                    SideLead("R", "+x", layers=0, orbital_onsite=lead_shift),
                    SideLead("F", "-y", layers=(0, 1), dxc=0.3, orbital_onsite=lead_shift)),
        theta=1.0, phi=np.array([0.2, 2.0]), seed=3)


def test_three_orbitals_without_inter_orbital_terms_are_three_independent_problems():
    """T of three uncoupled orbitals (onsite shifted per orbital, leads continuing them) is the sum of the
    three one-orbital junctions' T, to 1e-12, at two angles and two disorder realizations."""
    options = dict(realizations=[0, 1], allow_closed=True)
    three = solve(_shifted_orbitals(3, SHIFTS), 1.8, **options)
    ref = sum(solve(_shifted_orbitals(1, [e]), 1.8, **options).T for e in SHIFTS)
    assert np.abs(ref).max() > 1.0
    assert np.abs(three.T - ref).max() < 1e-12
    assert np.abs(three.n_open - sum(solve(_shifted_orbitals(1, [e]), 1.8, **options).n_open
                                     for e in SHIFTS)).max() == 0


def _odd(a, b, gamma):
    """An in-plane hopping between t2g orbitals a and b, odd in the bond direction: H[r, r+d] = gamma (|a><b| -
    |b><a|) x 1_spin, so H[r, r-d] = -H[r, r+d] (the orbital Rashba term of an inversion-breaking interface)."""
    A = np.zeros((3, 3))
    A[a, b], A[b, a] = gamma, -gamma
    return np.kron(A, np.eye(2))


def t2g_junction(**changes):
    """A three-orbital t2g 2DEG (atomic L.S, dxy lowered, odd orbital-changing hoppings, cubic Rashba,
    disorder) under a one-orbital barrier (coupled by a 6x2 ``up`` table) and a one-orbital magnet with its
    top lead; side leads continuing the three orbitals (L) and a magnetic one (R)."""
    onsite = np.kron(np.diag([0.0, 0.0, -0.4]), np.eye(2)) + spin_orbit_ls(0.3)
    couple = np.kron(np.array([[-0.7], [-0.5], [-0.9]]), np.eye(2))
    stack = Stack(Lx=4, Ly=3, layers=(
        Layer(onsite=4.0, K0=0.5, alpha3=-0.2, orbitals=3, up={(0, 0): couple},
              hoppings={(0, 0): onsite, (1, 0): _odd(0, 2, 0.15), (0, 1): _odd(1, 2, 0.15)}),
        Layer(onsite=6.5, alpha1=0.2, dxc=-0.2), Layer(onsite=6.0, dxc=-0.4)),
        side_leads=(SideLead("L", "-x", orbital_onsite=[0.0, 0.0, -0.4]),
                    SideLead("R", "+x", width=2, offset=1, dxc=0.3, theta=0.5, phi=0.2)),
        top=VerticalLead("M", onsite=6.0, dxc=-0.6), theta=1.1, phi=0.6, seed=2)
    return stack.replace(**changes)


def mixed_counts_junction():
    """Two three-orbital layers under a two-orbital one (coupled by a 6x4 table with an in-plane offset) and a
    one-orbital magnet with the top lead; a side lead across both three-orbital layers, one on the
    two-orbital layer."""
    rng = np.random.default_rng(5)
    ls = spin_orbit_ls(0.25)
    six_by_four = 0.3 * (rng.normal(size=(6, 4)) + 1j * rng.normal(size=(6, 4)))
    return Stack(Lx=3, Ly=3, layers=(
        Layer(onsite=4.0, orbitals=3, K0=0.3, hoppings={(0, 0): ls, (1, 0): _odd(0, 2, 0.1)}),
        Layer(onsite=4.5, orbitals=3, dxc=0.3, hoppings={(0, 0): ls, (0, 1): _odd(1, 2, 0.2)},
              up={(0, 0): six_by_four, (1, 0): 0.5 * six_by_four}),
        Layer(onsite=5.0, orbitals=2, alpha1=0.3, up={(0, 0): np.kron(np.array([[-1.0], [-0.6]]), np.eye(2))}),
        Layer(onsite=6.0, dxc=-0.5)),
        side_leads=(SideLead("L", "-x", layers=(0, 1), orbital_onsite=[0.1, 0.0, -0.2]),
                    SideLead("R", "+y", layers=2, width=2, onsite=3.0)),
        top=VerticalLead("M", onsite=6.0, dxc=-0.6), theta=0.7, phi=1.9, seed=4)


def folded_orbitals_junction(bottom: bool = False):
    """A three-orbital t2g 2DEG under three three-orbital layers that fold into a three-orbital top lead (one
    with orbital energies, one with exchange along the stack's axis, one plain; the lead with its own orbital
    energies); with ``bottom``, a three-orbital layer with orbital energies folded into a bottom lead below."""
    energies = np.kron(np.diag([0.0, 0.2, -0.3]), np.eye(2))
    layers = (Layer(onsite=4.0, K0=0.5, alpha3=-0.2, orbitals=3,
                    hoppings={(0, 0): spin_orbit_ls(0.3), (1, 0): _odd(0, 2, 0.15)}),
              Layer(onsite=6.5, orbitals=3, dxc=-0.2, hoppings={(0, 0): energies}),
              Layer(onsite=6.0, orbitals=3, dxc=0.4), Layer(onsite=6.0, orbitals=3))
    stack = Stack(Lx=4, Ly=3, layers=layers,
                  side_leads=(SideLead("L", "-x", orbital_onsite=[0.0, 0.0, -0.4]), SideLead("R", "+x", width=2)),
                  top=VerticalLead("M", onsite=6.0, dxc=-0.6, orbital_onsite=[0.1, 0.0, 0.3]), theta=1.1, phi=0.6,
                  seed=2)
    if not bottom:
        return stack
    return stack.replace(layers=(Layer(onsite=5.0, orbitals=3, hoppings={(0, 0): energies}),) + layers,
                         side_leads=tuple(lead.replace(layers=(1, 1)) for lead in stack.side_leads),
                         bottom=VerticalLead("D", onsite=5.0, dxc=0.3, orbital_onsite=[0.0, -0.1, 0.1]))


def spin_block_orbitals_junction():
    """The folded junction with two of its three-orbital layers in spin blocks: one disordered with an
    orbital-mixing, spin-independent onsite block, one with an onsite profile."""
    stack = folded_orbitals_junction()
    layers = stack.layers
    mixing = np.kron(np.array([[0.0, 0.2, 0.1], [0.2, 0.1, 0.0], [0.1, 0.0, -0.2]]), np.eye(2))
    return stack.replace(layers=(layers[0], layers[1].replace(K0=0.4, hoppings={(0, 0): mixing}),
                                 layers[2].replace(onsite=np.linspace(5.8, 6.2, 12).reshape(4, 3)), layers[3]))


def test_orbitals_in_spin_blocks_and_lean_right_hand_sides():
    """Three-orbital layers in spin blocks (orbital-mixing onsite block, disorder, profile) under a folded layer
    equal every layer dense (1e-10); the lean right-hand sides give the same transmissions between side
    leads and to the top lead (1e-12)."""
    stack = spin_block_orbitals_junction()
    r = solve(stack, 1.5)
    assert r.plan.top_fold == (3,) and r.plan.blocks == (2, 1)
    assert np.abs(r.T - solve(stack, 1.5, fold=False).T).max() < 1e-10
    lean = solve(stack, 1.5, reflection=False)
    assert not lean.reflection_resolved
    assert np.abs(lean.T[:2] - r.T[:2]).max() < 1e-12 and np.abs(lean.T[:, :, :2] - r.T[:, :, :2]).max() < 1e-12


@pytest.mark.parametrize("bottom", [False, True])
def test_orbitals_fold_into_vertical_leads(bottom):
    """Three-orbital layers (orbital-diagonal: plain, with exchange along the lead's axis, with an onsite block
    diag(e) x 1_spin) fold per sine mode and orbital into three-orbital vertical leads; the same numbers as
    every layer dense (1e-10)."""
    stack = folded_orbitals_junction(bottom)
    r = solve(stack, 1.5)
    assert r.plan.top_fold == ((4, 3, 2) if bottom else (3, 2, 1)) and r.plan.bottom_fold == ((0,) if bottom else ())
    assert np.abs(r.T - solve(stack, 1.5, fold=False).T).max() < 1e-10
    assert r.conservation_residual().max() < 1e-12


def test_l_matrices_are_the_t2g_angular_momentum():
    """(L_k)_ab = -i eps_kab in (dyz, dxz, dxy): [L_x, L_y] = i L_z, L^2 = 2 (l = 1); L.S has the j = 3/2 and
    j = 1/2 levels lambda/2 and -lambda (t2g: effective l = 1 with a sign)."""
    Lx, Ly, Lz = T2G_L
    assert np.abs(Lx @ Ly - Ly @ Lx - 1j * Lz).max() < 1e-15
    assert np.abs(sum(L @ L for L in T2G_L) - 2 * np.eye(3)).max() < 1e-15
    levels = np.linalg.eigvalsh(spin_orbit_ls(1.0))
    assert np.allclose(levels, [-1, -1, 0.5, 0.5, 0.5, 0.5], atol=1e-14)


@pytest.mark.parametrize("fold", [True, False])
def test_orbitals_planned_path_equals_all_dense(fold):
    """The t2g junction with the magnet folded into the top lead and with every layer dense agree (1e-10);
    current is conserved (1e-12)."""
    stack = t2g_junction()
    r = solve(stack, 1.5, fold=fold)
    ref = solve(stack, 1.5, fold=False)
    assert np.abs(r.T - ref.T).max() < 1e-10
    assert r.conservation_residual().max() < 1e-12
    if fold:
        assert r.plan.top_fold == (2,)


KWANT_CASES = {"t2g": t2g_junction, "mixed_counts": mixed_counts_junction, "folded": folded_orbitals_junction,
               "folded_bottom": lambda: folded_orbitals_junction(bottom=True),
               "spin_blocks": spin_block_orbitals_junction}


@pytest.mark.parametrize("name", list(KWANT_CASES) + ["folded_krylov"])
def test_orbitals_equal_kwant(name):
    """Every spin-resolved transmission against the independent Kwant model (one site family per layer,
    norbs = 2 n, spin conservation law x 1_orbitals) to 1e-8: atomic L.S in the t2g basis, orbital-changing
    hoppings odd in the bond direction, disorder, mixed orbital counts (3, 3, 2, 1) coupled by
    rectangular tables, side leads continuing three orbitals, across two layers, or one; three-orbital
    layers folded into three-orbital top and bottom leads, and in spin blocks; the Krylov path."""
    pytest.importorskip("kwant", reason="Kwant is not installed (make kwant)")
    from jaxsge.validation.kwant_model import compare

    if name == "folded_krylov":
        out = compare(folded_orbitals_junction(), 1.5, path="krylov")
        assert out["result"].plan.solver == "krylov"
    else:
        out = compare(KWANT_CASES[name](), 1.5)
    assert np.abs(out["jaxsge"]).max() > 0.1
    assert out["max_deviation"] < 1e-8, out["max_deviation"]
    assert np.array_equal(out["n_open_jaxsge"], out["n_open_kwant"])


def test_orbital_inputs_are_refused_with_the_parameter():
    good = t2g_junction()
    layers = good.layers
    cases = [
        (good.replace(layers=(layers[0].replace(orbitals=0),) + layers[1:]), "layers[0].orbitals = 0"),
        (good.replace(layers=(layers[0].replace(up={}),) + layers[1:]), "tz couples equal orbital counts"),
        (good.replace(layers=(layers[0].replace(up={(0, 0): np.ones((6, 6))}),) + layers[1:]),
         "must be a 6x2 matrix"),
        (good.replace(layers=(layers[0].replace(hoppings={(1, 0): np.ones((4, 4))}),) + layers[1:]),
         "must be a number or a 2x2 matrix (times the identity on the 3 orbitals) or a 6x6 matrix"),
        (good.replace(side_leads=(SideLead("L", "-x", orbital_onsite=[0.0, 1.0]),) + good.side_leads[1:]),
         "orbital_onsite has shape (2,)"),
        (good.replace(top=VerticalLead("M", orbital_onsite=[0.0, 1.0])),
         "top lead 'M'.orbital_onsite has shape (2,); give one energy per orbital of the layer it attaches to (1)"),
        (Stack(Lx=3, Ly=3, layers=(Layer(orbitals=2, up={(0, 0): np.ones((4, 2))}), Layer()),
               side_leads=(SideLead("L", "-x", layers=(0, 1)), SideLead("R", "+x"))), "different orbital counts"),
    ]
    for stack, message in cases:
        with pytest.raises(ValueError, match=None) as err:
            validate_stack(stack)
        assert message in str(err.value), (message, str(err.value))


@pytest.mark.parametrize("options, tolerance", [({"path": "krylov"}, 1e-8), ({"precision": "mixed"}, 1e-10)])
def test_orbitals_on_the_krylov_and_mixed_paths(options, tolerance):
    """The three-orbital 2DEG (L.S and odd orbital hoppings off the Krylov diagonal, applied in real space;
    disorder; a three-orbital side lead) under layers folded into a three-orbital top lead: GMRES (relative
    residual 1e-10) and the complex64 LU refined by it equal the dense LU."""
    stack = folded_orbitals_junction()
    dense = solve(stack, 1.5, path="dense")
    r = solve(stack, 1.5, **options)
    assert r.solver_report["relative_residual"] <= 1e-10
    assert np.abs(r.T - dense.T).max() < tolerance


def test_orbitals_from_a_config_and_through_to_dict(tmp_path):
    """A stack config with an orbital layer (full blocks in its tables, orbital_onsite of a lead) builds the
    same stack as Python; to_dict / from_dict keep it."""
    config = tmp_path / "orbitals.toml"
    config.write_text("""
Lx = 3
Ly = 3
energy = 1.5
[[layers]]
orbitals = 2
hoppings = [{offset = [0, 0], value = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0.3, 0], [0, 0, 0, 0.3]]},
            {offset = [1, 0], value = [[0, 0, 0.1, 0], [0, 0, 0, 0.1], [-0.1, 0, 0, 0], [0, -0.1, 0, 0]]}]
up = [{offset = [0, 0], value = [[-1, 0], [0, -1], [-0.5, 0], [0, -0.5]]}]
[[layers]]
onsite = 6.0
[[side_leads]]
name = "L"
edge = "-x"
orbital_onsite = [0, 0.3]
[[side_leads]]
name = "R"
edge = "+x"
[top]
onsite = 6.0
""")
    stack = load_config(config).system.stack()
    assert stack.layers[0].orbitals == 2 and stack.layers[0].hoppings[(0, 0)].shape == (4, 4)
    again = Stack.from_dict(stack.to_dict())
    a, b = solve(stack, 1.5).T, solve(again, 1.5).T
    assert np.abs(a).max() > 0.1 and np.abs(a - b).max() == 0
    bad = config.read_text().replace("[[-1, 0], [0, -1], [-0.5, 0], [0, -0.5]]", "[[-1, 0, 0], [0, -1, 0]]")
    config.write_text(bad)
    with pytest.raises(ValueError, match="must be a number, a 2x2 list"):
        load_config(config)


def test_orbital_sensitivities_equal_central_differences():
    """Forward-mode derivatives of T through three-orbital dense, spin-block and folded layers (energy, the
    2DEG's alpha3, the top lead's exchange, the disorder strength of a spin-block layer) against central
    differences (step 1e-5, rtol 1e-6 of the largest derivative)."""
    from jaxsge.model.system import stack_system
    from jaxsge.observables.sensitivity import sensitivities

    system = stack_system(spin_block_orbitals_junction(), 1.5)
    wrt = ("energy", "layers[0].alpha3", "M.dxc", "layers[1].K0")
    result = sensitivities(system, wrt)
    for name in wrt:
        def T(x, name=name):
            moved = system.with_values(**{name: x})
            return solve(moved.stack(), moved.energy()).T

        x0, h = system.values[name], 1e-5
        fd = (T(x0 + h) - T(x0 - h)) / (2 * h)
        assert np.abs(fd).max() > 0.1
        assert np.abs(result.derivatives["T"][name] - fd).max() < 1e-6 * np.abs(fd).max(), name
