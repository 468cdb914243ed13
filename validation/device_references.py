"""Reference numbers for the device check (``scripts/device_check.py``): small junctions of every
solver path, their spin-resolved transmissions, conversion conductances, a derivative and a
two-realization ensemble mean.

The numbers are stored in ``validation/device_references.json``. The test suite recomputes them
on CPU (``tests/device/test_device_check.py``), so they cannot go stale, and checks the
transmissions of every case against Kwant there. The device check recomputes them on whatever
backend it finds and compares to ``DEVICE_TOLERANCE``.

    python -m validation.device_references --write     # recompute on this machine and store
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile

import numpy as np

from jaxsge import JunctionParams, Stack, junction, junction_system, mechanism, solve, transmissions
from jaxsge.ensemble.report import load_ensemble
from jaxsge.ensemble.run import run_ensemble
from jaxsge.ensemble.spec import EnsembleSpec
from jaxsge.io.files import write_json
from jaxsge.model.stack import Layer, SideLead, VerticalLead
from jaxsge.observables import response
from jaxsge.observables.sensitivity import sensitivities

STORED = pathlib.Path(__file__).with_name("device_references.json")
DEVICE_TOLERANCE = 1e-10  # absolute, on transmissions (probabilities) and conductances (e^2/h)

SMALL = dict(Lx=8, Ly=7, Lz=4, W=4, n_barrier=1, theta=1.1, phi=0.6)
DISORDER_2DEG = dict(K0=0.8, seed=2, disorder_layers="2deg")

# name -> (system, options of solve / transmissions). Together they take every path of the
# planner: folded top + dense LU (full and lean right-hand sides), the Krylov lowest layer, spin
# blocks (disorder in every layer), dense slices with a bottom lead, three terminals, barrier SOC.
JUNCTIONS = {
    "folded_dense_full": (JunctionParams(**SMALL), dict(path="dense", reflection=True)),
    "folded_dense_lean_2deg_disorder": (JunctionParams(**SMALL, **DISORDER_2DEG), dict(path="dense", reflection=False)),
    "folded_krylov_2deg_disorder": (JunctionParams(**SMALL, **DISORDER_2DEG), dict(path="krylov", reflection=True)),
    "spin_blocks_every_layer_disorder": (JunctionParams(**SMALL, K0=0.8, seed=1), dict(path="dense", reflection=True)),
    "three_terminals": (JunctionParams(**SMALL, side_leads=("L", "R")), dict(path="dense", reflection=True)),
}
STACKS = {
    "barrier_soc": (junction(mechanism("both", JunctionParams(**SMALL), alpha1=0.4)), 1.1),
    "dense_slices_bottom_lead": (Stack(6, 5, (Layer(onsite=6.0), Layer(onsite=4.0, alpha3=-0.3, alpha1=0.1),
                                              Layer(onsite=6.0, dxc=-0.3), Layer(onsite=7.9, dxc=-0.5)),
                                       side_leads=(SideLead("L", "-x", layers=1, width=3),
                                                   SideLead("R", "+x", layers=1, width=3)),
                                       top=VerticalLead("M", onsite=6.0, dxc=-0.6), bottom=VerticalLead("D", onsite=5.5),
                                       theta=1.3, phi=0.4), 1.1),
}
DERIVATIVE = (JunctionParams(**SMALL, **DISORDER_2DEG), ("alpha3", "xi"))
ENSEMBLE = dict(junction=JunctionParams(**SMALL, **DISORDER_2DEG), n_realizations=2, n_phi=8)


def _record(r) -> dict:
    out = {"T": np.asarray(r.T), "path": r.plan.summary}
    out.update({k: np.asarray(v) for k, v in response.conversions(r.T, r.n_open, r.leads).items()})
    return out


def compute(scratch=None) -> dict:
    """Every reference quantity on the current JAX backend: {name: {quantity: array or path}}."""
    out = {}
    for name, (p, options) in JUNCTIONS.items():
        out[name] = _record(transmissions(p, **options))
    for name, (stack, energy) in STACKS.items():
        out[name] = _record(solve(stack, energy))
    p, wrt = DERIVATIVE
    s = sensitivities(p, wrt)
    out["derivative"] = {f"d{q}_d{w}": np.asarray(s.derivatives[q][w]) for q in ("Gsc_x", "Gsc_y") for w in wrt}
    out["derivative"]["path"] = s.path
    out["ensemble_mean"] = ensemble_mean(scratch)
    return out


def ensemble_mean(scratch=None) -> dict:
    """Mean over two realizations of G_sc(phi) from the ensemble engine (files written in ``scratch``)."""
    p = ENSEMBLE["junction"]
    spec = EnsembleSpec(junction_system(p), (("K0", (float(p.K0),)),), ENSEMBLE["n_realizations"], ENSEMBLE["n_phi"])
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        run_ensemble(spec, folder, progress=False)
        data = load_ensemble(folder, spec)
    return {k: np.asarray(data.disordered[k]).mean(axis=-2)[0] for k in ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y")}


def load() -> dict:
    """The stored references (JSON, strict)."""
    return json.loads(STORED.read_text())


def as_json(values: dict) -> dict:
    return {name: {k: (v if isinstance(v, str) else np.asarray(v, dtype=float).tolist()) for k, v in q.items()}
            for name, q in values.items()}


def compare(values: dict, stored: dict, tolerance: float = DEVICE_TOLERANCE) -> dict:
    """{name: {quantity: largest absolute difference}} and whether each is within tolerance."""
    report = {}
    for name, quantities in stored.items():
        for key, reference in quantities.items():
            if isinstance(reference, str):
                continue
            got = np.asarray(values[name][key], dtype=float)
            ref = np.asarray(reference, dtype=float)
            diff = float(np.max(np.abs(got - ref))) if got.shape == ref.shape else float("inf")
            report[f"{name}.{key}"] = {"max_abs_difference": diff, "passed": diff <= tolerance}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="store the numbers computed here")
    args = parser.parse_args()
    from jaxsge.core.precision import x64

    values = x64(compute)()
    if args.write:
        write_json(STORED, as_json(values))
        print(f"wrote {STORED}")


if __name__ == "__main__":
    main()
