"""The mixed-precision path (``precision="mixed"``: the lowest layer assembled and factorised in
complex64, refined by flexible GMRES against the exact complex128 operator) against the double
dense path (1e-10) and Kwant (1e-8) on every junction kind the Krylov path covers, disorder read
from a file included; its refusals (where it does not apply, a stalled refinement); the choice of
``precision="auto"``; and a site-resolved onsite energy on every path (the Krylov path once failed
on it in ``plan.krylov_shell``)."""

import json

import numpy as np
import pytest

import jaxsge.plan.plan as plan_module
from jaxsge import JunctionParams, junction, transmissions
from jaxsge.cli.main import main
from jaxsge.observables import response as rs
from jaxsge.plan.plan import plan
from tests.solve.test_paths import BASE, JUNCTIONS

TOL = 1e-10  # absolute, on transmission probabilities: mixed against double
KWANT_TOL = 1e-8


def file_disorder(Lx, Ly, Lz, seed=5, strength=0.8):
    """An explicit potential V(z, x, y) on the 2DEG only, as ``disorder_file`` gives it."""
    disorder = np.zeros((Lz, Lx, Ly))
    disorder[0] = strength * np.random.default_rng(seed).normal(size=(Lx, Ly))
    return disorder


MIXED_JUNCTIONS = {**JUNCTIONS, "disorder_file": dict(disorder=file_disorder(12, 10, 4))}


@pytest.mark.parametrize("name", MIXED_JUNCTIONS)
def test_mixed_equals_the_double_dense_path(name):
    p = JunctionParams(**{**BASE, **MIXED_JUNCTIONS[name]})
    for reflection in (True, False):
        double = transmissions(p, path="dense", precision="double", reflection=reflection)
        mixed = transmissions(p, precision="mixed", reflection=reflection)
        assert (mixed.plan.solver, mixed.plan.precision, double.plan.precision) == ("dense", "mixed", "double")
        np.testing.assert_allclose(mixed.T, double.T, atol=TOL, rtol=0)
        np.testing.assert_array_equal(mixed.n_open, double.n_open)
        report = mixed.solver_report
        assert report["precision"] == "mixed" and 0 < report["iterations"] <= report["max_iterations"]
        assert report["relative_residual"] <= report["tolerance"] == 1e-10
        assert "mixed precision" in mixed.path
    assert np.abs(double.T[:-1, :, -1, :]).max() > 1e-3, "the check must see a transmission out of M"


def test_site_resolved_onsite_energy_on_every_path():
    """Disorder from a file makes the 2DEG's onsite energy a profile (4 t + V(x, y)): the Krylov
    path (its shell and its operator's diagonal take the profile's mean) and the mixed path
    against the double dense path."""
    p = JunctionParams(**BASE, **MIXED_JUNCTIONS["disorder_file"])
    assert np.ndim(junction(p).layers[0].onsite) == 2
    dense = transmissions(p, path="dense", precision="double")
    krylov = transmissions(p, path="krylov")
    mixed = transmissions(p, precision="mixed")
    assert krylov.plan.solver == "krylov"
    np.testing.assert_allclose(krylov.T, dense.T, atol=1e-8, rtol=0)
    np.testing.assert_allclose(mixed.T, dense.T, atol=TOL, rtol=0)
    # The shell is found around the profile's mean: as few iterations as with the same potential drawn.
    assert krylov.solver_report["iterations"] <= 60


KWANT_CASES = {  # tests/solve/test_kwant_junction.py's geometries where the mixed path applies, and the Krylov one
    "square_clean": dict(Lx=6, Ly=6, Lz=4, W=4, n_barrier=1, theta=np.pi / 2, phi=0.3),
    "rect_odd_W_theta": dict(Lx=7, Ly=5, Lz=5, W=3, n_barrier=2, theta=0.7, phi=1.1, xi=9.6),
    "disorder_2deg_only": dict(Lx=8, Ly=6, Lz=3, W=4, n_barrier=1, theta=2.5, phi=-0.4, K0=1.0, seed=2,
                               disorder_layers="2deg"),
    "krylov_case": dict(Lx=9, Ly=8, Lz=4, W=5, n_barrier=1, theta=1.0, phi=0.8, K0=0.7, seed=2,
                        disorder_layers="2deg"),
    "disorder_file": dict(Lx=7, Ly=6, Lz=4, W=4, n_barrier=1, theta=1.3, phi=0.6, disorder=file_disorder(7, 6, 4)),
}


@pytest.mark.parametrize("name", KWANT_CASES)
def test_mixed_equals_kwant(name):
    pytest.importorskip("validation.kwant_junction", reason="Kwant is not installed (make kwant)")
    from tests.solve.test_kwant_junction import kwant_reference

    p = JunctionParams(**KWANT_CASES[name])
    ours = transmissions(p, precision="mixed")
    assert ours.plan.precision == "mixed"
    T, n_open = kwant_reference(p)
    np.testing.assert_array_equal(ours.n_open, n_open)
    np.testing.assert_allclose(ours.T, T, atol=KWANT_TOL, rtol=0)
    if name == "disorder_file":  # the Krylov path on the same file
        np.testing.assert_allclose(transmissions(p, path="krylov").T, T, atol=KWANT_TOL, rtol=0)


def test_mixed_is_refused_where_it_does_not_apply():
    every_layer = JunctionParams(**BASE, K0=0.6, seed=2)
    with pytest.raises(ValueError, match=r"precision = 'mixed' does not apply.*spin blocks.*precision double"):
        transmissions(every_layer, precision="mixed")
    with pytest.raises(ValueError, match=r"precision = 'mixed' needs the dense factorisation"):
        transmissions(JunctionParams(**BASE), path="krylov", precision="mixed")
    with pytest.raises(ValueError, match=r"precision = 'single' must be one of"):
        transmissions(JunctionParams(**BASE), precision="single")
    auto = transmissions(every_layer, reflection=False)
    assert auto.plan.precision == "double" and "mixed does not apply" in auto.plan.explain()


def test_stalled_refinement_is_refused(monkeypatch, fresh_plans):
    """One GMRES step against the complex64 LU leaves a residual far above 1e-10: an error, no number."""
    monkeypatch.setattr(plan_module, "MIXED_MAX_ITER", 1)
    p = JunctionParams(**BASE, **JUNCTIONS["disorder_2deg"])
    with pytest.raises(ValueError, match=r"refinement .* stalled: relative residual .* after 1 iterations, above "
                                         r"the tolerance 1e-10 \(limit 1 iterations\); use --precision double"):
        transmissions(p, precision="mixed")


def test_auto_precision_follows_the_measured_rule():
    """On CPU: double below MIXED_SITES_CPU sites per layer, mixed from there where it applies
    (planning only: nothing is solved at 50 x 50)."""
    small = plan(junction(JunctionParams(Lx=20, Ly=20, W=12)), 1.0)
    paper = plan(junction(JunctionParams()), 1.0)
    assert small.precision == "double" and "below 900 sites per layer mixed" in small.explain()
    assert plan(junction(JunctionParams(Lx=30, Ly=30, W=18)), 1.0).precision == "mixed"
    assert paper.precision == "mixed" and paper.solver == "dense" and paper.krylov is not None
    assert "precision: mixed (auto" in paper.explain() and "mixed precision" in paper.summary
    assert plan(junction(JunctionParams()), 1.0, precision="double").precision == "double"
    krylov = plan(junction(JunctionParams(Lx=60, Ly=60, W=36)), 1.0)  # auto takes the Krylov path there
    assert krylov.solver == "krylov" and krylov.precision == "double"


def test_conductance_command_records_the_precision(tmp_path, capsys):
    """--precision on the command line, recorded (requested and taken) in the JSON output, with
    disorder read from a file (a site-resolved onsite energy) on the Krylov and mixed paths."""
    p = JunctionParams(**BASE, **MIXED_JUNCTIONS["disorder_file"])
    np.save(tmp_path / "V.npy", p.disorder)
    config = tmp_path / "small.toml"
    config.write_text("".join(f"{k} = {v}\n" for k, v in BASE.items()) + 'disorder_file = "V.npy"\n')
    reference = float(rs.conversions(*(lambda r: (r.T, r.n_open, r.leads))(
        transmissions(p, path="dense", precision="double")))["Gsc_x"])
    for options, precision, requested in ((["--precision", "mixed"], "mixed", "mixed"),
                                          (["--path", "krylov"], "double", "auto")):
        assert main(["conductance", str(config), "--json", *options]) == 0
        report = json.loads(capsys.readouterr().out)
        solver = report["solver"]
        assert solver["precision"] == precision and solver["requested"]["precision"] == requested
        assert solver["relative_residual"] <= 1e-10 and solver["iterations"] > 0
        assert f"precision: {precision}" in solver["explain"]
        assert abs(report["Gsc_x"] - reference) < 1e-8


def test_ensemble_spec_carries_the_precision():
    """The ensemble's precision is validated, and part of the run's identity when not "auto" (runs
    written before the option keep their identity)."""
    import dataclasses

    from jaxsge.ensemble.spec import identity, spec_from_settings, validate_spec
    from jaxsge.model.system import junction_system

    system = junction_system(JunctionParams(**BASE, K0=0.5, disorder_layers="2deg"))
    auto = spec_from_settings(system, {}, 2, 8)
    double = spec_from_settings(system, {}, 2, 8, precision="double")
    validate_spec(double)
    assert "precision" not in identity(auto) and identity(double)["precision"] == "double"
    with pytest.raises(ValueError, match="precision = 'single' must be one of auto, double, mixed"):
        validate_spec(dataclasses.replace(auto, precision="single"))


def test_ensembles_on_the_krylov_and_mixed_paths_equal_the_dense_path(tmp_path):
    """The ensemble engine runs the GMRES loops of the Krylov and mixed paths inside its shard_map:
    every unit's conductances equal the dense double path's (mixed 1e-10, Krylov 1e-8 absolute)."""
    from jaxsge.ensemble.report import load_ensemble
    from jaxsge.ensemble.run import run_ensemble
    from jaxsge.ensemble.spec import spec_from_settings
    from jaxsge.model.system import junction_system

    system = junction_system(JunctionParams(**BASE, K0=0.5, disorder_layers="2deg"))
    data = {}
    for name, path, precision in (("dense", "dense", "double"), ("mixed", "dense", "mixed"),
                                  ("krylov", "krylov", "double")):
        spec = spec_from_settings(system, {}, 2, 8, path=path, precision=precision)
        run_ensemble(spec, tmp_path / name, progress=False)
        data[name] = load_ensemble(tmp_path / name, spec)
    for name, tolerance in (("mixed", 1e-10), ("krylov", 1e-8)):
        for key in ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y"):
            np.testing.assert_allclose(data[name].disordered[key], data["dense"].disordered[key], rtol=0,
                                       atol=tolerance)
