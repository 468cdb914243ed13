"""The solver paths of the lowest layer against each other: the matrix-free Krylov path
(``solve.krylov``) and the lean dense path (top lead's reflection from unitarity) against the
full dense solve, which the Kwant cross-checks pin down; plus Kwant directly, unitarity,
Onsager-Casimir, derivatives and the refusal of unconverged solves."""

import json
import subprocess
import sys

import numpy as np
import pytest

import jaxsge.plan.plan as plan_module
from jaxsge import JunctionParams, transmissions
from jaxsge.observables import response as rs
from jaxsge.observables.sensitivity import sensitivities

TOL = 1e-8  # absolute, on transmission probabilities and conductances (e^2/h)

BASE = dict(Lx=12, Ly=10, Lz=4, W=6, n_barrier=1, phi=0.4)
JUNCTIONS = {
    "clean": dict(),
    "disorder_2deg": dict(K0=0.5, seed=3, disorder_layers="2deg"),
    "rectangular": dict(Lx=13, Ly=8, W=5),
    "theta_off_plane": dict(theta=0.7, phi=1.9, xi=9.6),
    "three_terminals": dict(side_leads=("L", "R"), K0=0.3, seed=1, disorder_layers="2deg"),
}


def conductances(r):
    return {k: np.asarray(v) for k, v in rs.conversions(r.T, r.n_open, r.leads).items()}


@pytest.mark.parametrize("name", JUNCTIONS)
def test_krylov_and_lean_dense_equal_the_full_dense_solve(name):
    p = JunctionParams(**{**BASE, **JUNCTIONS[name]})
    full = transmissions(p, path="dense", reflection=True)
    krylov = transmissions(p, path="krylov", reflection=True)
    krylov_lean = transmissions(p, path="krylov", reflection=False)
    lean = transmissions(p, path="dense", reflection=False)
    assert krylov.plan.solver == "krylov" and full.plan.solver == "dense"
    np.testing.assert_allclose(krylov.T, full.T, atol=TOL, rtol=0)
    top = full.index("M")
    for r in (krylov_lean, lean):  # only the sums of M's spin-resolved self-reflection are resolved
        mask = np.ones(full.T.shape, bool)
        mask[top, :, top, :] = False
        np.testing.assert_allclose(r.T[mask], full.T[mask], atol=TOL, rtol=0)
        np.testing.assert_allclose(r.T[top, :, top, :].sum(0), full.T[top, :, top, :].sum(0), atol=TOL, rtol=0)
    reference = conductances(full)
    for r in (krylov, krylov_lean, lean):
        got = conductances(r)
        assert set(got) == set(reference)
        for key in reference:
            np.testing.assert_allclose(got[key], reference[key], atol=TOL, rtol=0, err_msg=key)
    report = krylov.solver_report
    assert report["solver"] == "krylov" and 0 < report["iterations"] <= report["max_iterations"]
    assert report["relative_residual"] <= report["tolerance"]
    assert np.abs(full.T[:-1, :, top, :]).max() > 1e-3, "the check must see a transmission out of M"


def test_every_layer_disorder_is_dense_only_and_lean_equals_full():
    p = JunctionParams(**BASE, K0=0.6, seed=2)
    with pytest.raises(ValueError, match="does not apply.*spin blocks"):
        transmissions(p, path="krylov")
    assert transmissions(p, path="auto").plan.solver == "dense"
    full, lean = transmissions(p, reflection=True), transmissions(p, reflection=False)
    reference, got = conductances(full), conductances(lean)
    for key in reference:
        np.testing.assert_allclose(got[key], reference[key], atol=TOL, rtol=0, err_msg=key)


def test_lean_equals_full_when_a_side_lead_spans_the_layers_of_the_lowest_slice():
    """A side lead over layers 0-1 makes the lowest slice two layers deep; the lean right-hand
    sides once added the top lead's transposed solve there with unshifted rows (0.16 off)."""
    from jaxsge import solve
    from jaxsge.model.stack import Layer, SideLead, Stack, VerticalLead

    s = Stack(6, 5, (Layer(onsite=4.0, alpha3=-0.2), Layer(onsite=5.0, alpha1=0.1), Layer(onsite=6.0, dxc=-0.2)),
              side_leads=(SideLead("L", "-x", layers=(0, 1), width=3), SideLead("R", "+x", layers=0, width=3)),
              top=VerticalLead("M", onsite=6.0, dxc=-0.6), theta=1.3, phi=0.4)
    full, lean = solve(s, 1.1, reflection=True), solve(s, 1.1, reflection=False)
    assert full.plan.slices[-1] == (0, 1)
    top = full.index("M")
    mask = np.ones(full.T.shape, bool)
    mask[top, :, top, :] = False
    np.testing.assert_allclose(lean.T[mask], full.T[mask], atol=1e-10, rtol=0)
    np.testing.assert_allclose(lean.T[top, :, top, :].sum(0), full.T[top, :, top, :].sum(0), atol=1e-10, rtol=0)
    assert np.abs(full.T[mask]).max() > 1e-2


@pytest.mark.parametrize("name", ["clean", "disorder_2deg"])
def test_krylov_path_is_unitary_for_every_incoming_channel(name):
    r = transmissions(JunctionParams(**{**BASE, **JUNCTIONS[name]}), path="krylov", smatrix=True)
    assert r.plan.solver == "krylov"
    np.testing.assert_allclose(r.S.conj().T @ r.S, np.eye(r.S.shape[0]), atol=TOL)
    np.testing.assert_allclose(r.T.sum(axis=(0, 1)), r.n_open, atol=TOL)


def test_krylov_path_obeys_onsager_casimir():
    """G_sc(dxc) = G_cs(-dxc) [Eq. (4) of the seed paper], both through the Krylov path."""
    p = JunctionParams(**BASE, **JUNCTIONS["disorder_2deg"], theta=1.2).replace(phi=np.array([0.3, 1.7]))
    a = transmissions(p, path="krylov", reflection=False)
    b = transmissions(p.replace(dxc=-p.dxc), path="krylov", reflection=False)
    for axis in "xy":
        pair = rs.AXIS_PAIRS[axis]
        gsc = np.asarray(rs.spin_charge(a.T, a.n_open, a.leads, pair))
        gcs = np.asarray(rs.charge_spin(b.T, b.n_open, b.leads, pair))
        assert np.abs(gsc).min() > 1e-5
        np.testing.assert_allclose(gsc, gcs, atol=TOL, rtol=0)


def test_krylov_path_equals_kwant():
    kwant_junction = pytest.importorskip("validation.kwant_junction", reason="Kwant is not installed (make kwant)")
    from tests.solve.test_kwant_junction import kwant_reference

    p = JunctionParams(Lx=9, Ly=8, Lz=4, W=5, n_barrier=1, theta=1.0, phi=0.8, K0=0.7, seed=2,
                       disorder_layers="2deg")
    assert kwant_junction is not None
    ours = transmissions(p, path="krylov")
    T, n_open = kwant_reference(p)
    np.testing.assert_array_equal(ours.n_open, n_open)
    np.testing.assert_allclose(ours.T, T, atol=TOL, rtol=0)


@pytest.mark.parametrize("path", ["dense", "krylov"])
def test_derivatives_through_both_paths_equal_finite_differences(path):
    """Forward mode (implicit differentiation of the GMRES solves on the Krylov path) against
    central differences of the dense solve, rtol 1e-6 relative to the largest derivative."""
    p = JunctionParams(**BASE, **JUNCTIONS["disorder_2deg"], theta=1.2)
    wrt = ("alpha3", "xi", "K0")
    s = sensitivities(p, wrt, path=path)
    assert (s.solver["solver"] == "krylov") == (path == "krylov")
    for name in wrt:
        h = 1e-4 * max(1.0, abs(float(getattr(p, name))))
        plus = conductances(transmissions(p.replace(**{name: getattr(p, name) + h}), path="dense"))
        minus = conductances(transmissions(p.replace(**{name: getattr(p, name) - h}), path="dense"))
        for q in ("Gsc_x", "Gsc_y", "Gcs_x"):
            fd = (plus[q] - minus[q]) / (2 * h)
            ad = s.derivatives[q][name]
            assert abs(fd) > 1e-4, (q, name)
            np.testing.assert_allclose(ad, fd, rtol=1e-6, atol=0, err_msg=f"d{q}/d{name}")


def test_unconverged_krylov_solve_is_refused(monkeypatch, fresh_plans):
    monkeypatch.setattr(plan_module, "KRYLOV_MAX_ITER", 2)
    p = JunctionParams(**BASE, **JUNCTIONS["disorder_2deg"])
    with pytest.raises(ValueError, match=r"did not converge.*tolerance 1e-10.*limit 2 iterations"):
        transmissions(p, path="krylov")


def test_conductance_command_reports_the_krylov_solve(tmp_path):
    config = tmp_path / "small.toml"
    config.write_text("Lx = 12\nLy = 10\nLz = 4\nW = 6\nn_barrier = 1\nphi = 0.4\nK0 = 0.5\n"
                      "disorder_layers = \"2deg\"\n")
    done = subprocess.run([sys.executable, "-m", "jaxsge", "conductance", str(config), "--path", "krylov", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    solver = report["solver"]
    assert solver["solver"] == "krylov" and solver["requested"]["path"] == "krylov"
    assert 0 < solver["iterations"] <= solver["max_iterations"] and solver["relative_residual"] <= 1e-10
    dense = transmissions(JunctionParams(**BASE, K0=0.5, disorder_layers="2deg"), path="dense")
    assert abs(report["Gsc_x"] - float(conductances(dense)["Gsc_x"])) < TOL
