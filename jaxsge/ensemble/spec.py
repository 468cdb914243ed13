"""What an ensemble run computes: cases, realizations, angles, and the identity that names the run.

An ensemble evaluates the spin-resolved transmissions, and from them G_sc and G_cs
[Eq. (8) of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023)], for every case (a value
of each listed parameter, the disorder strength last), every disorder realization r and every
angle phi_j = 2 pi j / n_phi, plus the clean junction of every combination of the other
parameters. Realization r depends on (seed, r) alone (``core.lattice.disorder_realization``;
``docs/ensemble.md``, Reproducibility), and the work is split into *units* (one realization of
one case, all angles; or one clean case) whose numbers do not depend on their batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import NamedTuple, Tuple

import numpy as np

from ..model.system import System
from ..observables.harmonics import uniform_phi
from ..plan.plan import PRECISIONS, SOLVERS

FORMAT = "jaxsge-ensemble/2"


@dataclasses.dataclass(frozen=True)
class EnsembleSpec:
    """An ensemble run: the system, its cases, how many realizations and angles.

    ``cases``: ((name, values), ...) in array order, the disorder strength ``disorder`` last;
    ``n_realizations`` per disordered case; ``n_phi`` angles phi_j = 2 pi j / n_phi at the
    system's theta; ``path``: solver of the lowest layer ("auto", "dense", "krylov"; part of the
    run's identity, since the paths agree to the Krylov tolerance, not bit for bit); ``precision``:
    of its solve ("auto" or "double", both double in an ensemble for now: ``validate_spec``; part
    of the identity when not "auto"); ``fold``: False eliminates every layer densely (``--no-fold``,
    a cross-check of the folding; part of the identity when False).
    """

    system: System
    cases: Tuple[Tuple[str, Tuple[float, ...]], ...]
    n_realizations: int
    n_phi: int = 64
    disorder: str = "K0"
    path: str = "auto"
    precision: str = "auto"
    fold: bool = True

    @property
    def phi(self) -> np.ndarray:
        return uniform_phi(self.n_phi)

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(name for name, _ in self.cases)

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(len(values) for _, values in self.cases)

    def values(self, case: Tuple[int, ...]) -> dict:
        """Parameter values of a case (disorder index -1: the clean junction)."""
        return {name: 0.0 if (name == self.disorder and i < 0) else float(values[i])
                for (name, values), i in zip(self.cases, case)}

    def case_system(self, case: Tuple[int, ...]) -> System:
        return self.system.with_values(**self.values(case), phi=0.0)


class Unit(NamedTuple):
    """One realization of one case over all angles; a disorder index of -1 marks a clean case."""

    case: Tuple[int, ...]
    realization: int

    @property
    def clean(self) -> bool:
        return self.case[-1] < 0

    def filename(self, names) -> str:
        if self.clean:
            label = "_".join(f"{n}{i}" for n, i in zip(names[:-1], self.case[:-1]))
            return f"clean_{label}.npz" if label else "clean.npz"
        label = "_".join(f"{n}{i}" for n, i in zip(names, self.case))
        return f"{label}_r{self.realization:06d}.npz"


def all_units(spec: EnsembleSpec) -> list:
    """The clean cases, then realization by realization over the disordered cases, so that an
    interrupted run holds about as many realizations of each case."""
    return ([Unit(c + (-1,), 0) for c in np.ndindex(*spec.shape[:-1])]
            + [Unit(c, r) for r in range(spec.n_realizations) for c in np.ndindex(*spec.shape)])


def validate_spec(spec: EnsembleSpec) -> None:
    """Raise ValueError naming the offending setting, its value and what is allowed."""
    for setting, low, high in (("n_realizations", 1, 10 ** 9), ("n_phi", 8, 100_000)):  # as scan's --nphi
        n = getattr(spec, setting)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not low <= n <= high:
            raise ValueError(f"{setting} = {n!r} must be an integer between {low} and {high}")
    if spec.path not in SOLVERS:
        raise ValueError(f"path = {spec.path!r} must be one of {', '.join(SOLVERS)}")
    if spec.precision not in PRECISIONS:
        raise ValueError(f"precision = {spec.precision!r} must be one of {', '.join(PRECISIONS)}")
    junction = spec.system.kind == "junction"
    if junction and spec.system.base.dxc_profile is not None and len(dict(spec.cases).get("xi", ())) > 1:
        raise ValueError("xi is listed, but the config's dxc_profile replaces the exponential exchange profile, so xi "
                         "has no effect: list xi without a dxc_profile, or give one xi")
    if junction and spec.system.base.disorder is not None:
        raise ValueError("disorder_file gives one fixed potential: an ensemble draws its realizations from (seed, "
                         "realization) with K0; remove disorder_file")
    if not spec.cases or spec.cases[-1][0] != spec.disorder:
        raise ValueError(f"the disorder strength {spec.disorder} must be given (one value or a list)")
    for k, (name, values) in enumerate(spec.cases):
        if name in spec.names[:k]:
            raise ValueError(f"{name} is listed twice")
        spec.system.check_names([name], what="ensemble case")
        if name in ("phi", spec.system.energy_name) and name != spec.disorder:
            raise ValueError(f"{name} cannot be an ensemble case (the run scans phi at the system's energy)")
        if not isinstance(values, tuple) or not values:
            raise ValueError(f"{name} must be a number or a non-empty list of numbers")
        if len(set(values)) != len(values):
            raise ValueError(f"{name} = {list(values)} holds a value twice")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name} = {v!r} must be a finite number")
    for v in spec.cases[-1][1]:
        if not v > 0:
            raise ValueError(f"{spec.disorder} = {v!r} must be > 0 (disorder strength in units of t): every run also "
                             f"computes the clean junction ({spec.disorder} = 0), so list only the disorder strengths")
    if np.ndim(spec.system.values["theta"]):
        raise ValueError("theta must be one number for an ensemble (the run scans phi)")
    for case in {u.case for u in all_units(spec)}:
        spec.case_system(case)  # validates every case's parameters


def identity(spec: EnsembleSpec) -> dict:
    """Everything that determines the numbers of a run (not n_realizations: a run can be extended)."""
    described = spec.system.describe()
    if described["kind"] == "junction":
        described["params"] = {k: v for k, v in described["params"].items() if k not in spec.names + ("phi",)}
    else:
        described["stack"].pop("phi", None)
    return {"format": FORMAT, "system": described, "cases": {name: list(values) for name, values in spec.cases},
            "disorder": spec.disorder, "path": spec.path, "n_phi": int(spec.n_phi),
            "phi": "2 pi j / n_phi, j = 0 .. n_phi - 1",
            # (runs written before the precision option keep their identity under the default)
            **({"precision": spec.precision} if spec.precision != "auto" else {}),
            **({"fold": False} if not spec.fold else {})}


def run_hash(spec: EnsembleSpec) -> str:
    text = json.dumps(identity(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def spec_from_settings(system: System, lists, n_realizations, n_phi=64, disorder: str = "K0",
                       path: str = "auto", precision: str = "auto", fold: bool = True) -> EnsembleSpec:
    """An EnsembleSpec from a loaded config: its list-valued parameters are the cases, the disorder
    strength last. The paper's junction always has an xi axis (one value when not listed), as
    in the paper's Fig. 3."""
    lists = dict(lists)
    if disorder not in system.values:
        raise ValueError(f"an ensemble needs the disorder strength {disorder}: this {system.kind} has no parameter "
                         f"{disorder} (set K0 on the disordered layers, with one common value)")
    if n_realizations is None:
        raise ValueError("n_realizations must be given (an integer >= 1)")
    strengths = lists.pop(disorder, (float(system.values[disorder]),))
    if system.kind == "junction" and "xi" not in lists:
        lists = {"xi": (float(system.values["xi"]),), **lists}
    cases = tuple((name, tuple(values)) for name, values in lists.items()) + ((disorder, tuple(strengths)),)
    return EnsembleSpec(system, cases, int(n_realizations), int(n_phi), disorder, path, precision, bool(fold))
