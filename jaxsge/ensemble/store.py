"""The ensemble folder: manifest, one verified file per finished unit, resumption without loss.

``OUT/manifest.json`` holds every parameter and the run's hash; ``OUT/units/*.npz`` one file per
finished unit, written atomically, verified on resume (a damaged or foreign file is set aside to
``OUT/damaged/`` and recomputed). Another run's folder, or one with more realizations than asked
(unless ``force``), is refused (``docs/ensemble.md``, Output folder).
"""

from __future__ import annotations

import datetime
import json
import pathlib
import warnings
import zipfile

import numpy as np

from .. import __version__
from ..io.files import atomic_write
from ..observables.response import conversion_axes
from .spec import EnsembleSpec, Unit, all_units, identity, run_hash

MANIFEST = "manifest.json"
UNITS = "units"
DAMAGED = "damaged"
RESULT_KEYS = ("T", "n_open", "solver_stats")


def conductance_keys(leads) -> tuple:
    return tuple(f"{kind}_{axis}" for kind in ("Gsc", "Gcs") for axis in conversion_axes(leads))


def write_unit(out_dir, spec: EnsembleSpec, unit: Unit, results: dict, digest: str) -> None:
    meta = {"run_hash": np.asarray(digest), "unit_case": np.asarray(unit.case, dtype=np.int64),
            "unit_realization": np.asarray(unit.realization, dtype=np.int64)}
    atomic_write(pathlib.Path(out_dir) / UNITS / unit.filename(spec.names), lambda fh: np.savez(fh, **results, **meta))


def _check_unit(path: pathlib.Path, unit: Unit, digest: str, keys, shapes) -> dict:
    """The unit's arrays, or a ValueError saying what is wrong with the file."""
    try:
        with np.load(path) as data:
            if str(data["run_hash"]) != digest:
                raise ValueError(f"it belongs to another run (hash {str(data['run_hash'])[:12]})")
            if tuple(data["unit_case"]) != tuple(unit.case) or int(data["unit_realization"]) != unit.realization:
                raise ValueError("it holds another unit")
            arrays = {k: data[k] for k in keys}
    except (OSError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"it cannot be read ({type(err).__name__}: {err})") from None
    for key, value in arrays.items():
        if key in shapes and value.shape != shapes[key]:
            raise ValueError(f"{key} has shape {value.shape}, expected {shapes[key]}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{key} holds NaN or infinity")
    return arrays


def read_unit(out_dir, spec: EnsembleSpec, unit: Unit, keys, shapes=None) -> dict:
    """The arrays of one finished unit; ValueError if the file is damaged or belongs to another run."""
    path = pathlib.Path(out_dir) / UNITS / unit.filename(spec.names)
    try:
        return _check_unit(path, unit, run_hash(spec), keys, shapes or {})
    except ValueError as err:
        raise ValueError(f"{str(path)!r}: {err}; refusing to use it") from None


def verified_units(out_dir, spec: EnsembleSpec, keys, shapes, set_aside: bool) -> set:
    """Units whose files are sound; with ``set_aside`` any other unit file of this run is moved to
    ``damaged/`` with a warning (so that it is recomputed)."""
    folder = pathlib.Path(out_dir) / UNITS
    names = {p.name for p in folder.glob("*.npz")}
    digest = run_hash(spec)
    good = set()
    for unit in all_units(spec):
        name = unit.filename(spec.names)
        if name not in names:
            continue
        try:
            _check_unit(folder / name, unit, digest, keys, shapes)
            good.add(unit)
        except ValueError as err:
            if set_aside:
                (folder.parent / DAMAGED).mkdir(exist_ok=True)
                (folder / name).replace(folder.parent / DAMAGED / name)
                warnings.warn(f"unit file {name} is unusable ({err}); moved to {DAMAGED}/ and recomputed",
                              stacklevel=2)
    return good


def manifest(spec: EnsembleSpec, largest: int) -> dict:
    return {"identity": identity(spec), "hash": run_hash(spec), "n_realizations": spec.n_realizations,
            "largest_n_realizations": largest, "jaxsge_version": __version__,
            "solver_requested": {"path": spec.path, "precision": spec.precision},
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "layout": {MANIFEST: "this file", f"{UNITS}/clean_*.npz": "the clean junction of each case",
                       f"{UNITS}/{'_'.join(n + '<i>' for n in spec.names)}_r<r>.npz": "realization r of a case",
                       "arrays per unit": "T (n_phi, n_leads, 2, n_leads, 2), n_open (n_phi, n_leads, 2), conversion "
                                          "conductances (n_phi,), solver_stats (n_phi, 2: iterations and relative "
                                          "residual of the Krylov path or of the mixed-precision refinement, zeros "
                                          "for the double dense path); run_hash, unit_case, "
                                          "unit_realization"}}


def _differences(a, b, prefix="") -> list:
    """Keys whose values differ between two JSON-like dicts, as dotted names."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [prefix or "(value)"] if a != b else []
    out = []
    for key in sorted(set(a) | set(b)):
        out += _differences(a.get(key), b.get(key), f"{prefix}{key}.") if key in a and key in b else [prefix + key]
    return [k.rstrip(".") for k in out]


def check_out_dir(out_dir, spec: EnsembleSpec, resume: bool, force: bool) -> int:
    """Refuse a folder that would mix runs or lose results; returns the largest n_realizations it held.

    Without ``resume`` the folder must be absent, empty, or hold this run's manifest and no
    finished unit. With ``resume`` it may also hold this run, with at most as many
    realizations as asked (more only with ``force``, which then keeps the extra unit files but
    reports on the first n).
    """
    out_dir = pathlib.Path(out_dir)
    if not out_dir.is_dir() or all(p.name == ".lock" for p in out_dir.iterdir()):
        return spec.n_realizations
    path = out_dir / MANIFEST
    if not path.is_file():
        raise ValueError(f"--out {str(out_dir)!r} is not empty and holds no ensemble run ({MANIFEST} missing); "
                         "choose another folder")
    try:
        old = json.loads(path.read_text())
        old_hash, old_identity = old["hash"], old["identity"]
        old_n = int(old.get("largest_n_realizations", old["n_realizations"]))
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{str(path)!r} is not a valid ensemble manifest ({err}); "
                         f"refusing to touch {str(out_dir)!r}") from None
    if old_hash != run_hash(spec):
        diff = ", ".join(_differences(old_identity, json.loads(json.dumps(identity(spec))))) or "format"
        raise ValueError(f"--out {str(out_dir)!r} holds a run with other parameters (differing: {diff}); "
                         "refusing to mix them: choose another folder")
    if not resume and any((out_dir / UNITS).glob("*.npz")):
        raise ValueError(f"--out {str(out_dir)!r} already holds this run; pass --resume to continue it")
    if old_n > spec.n_realizations and not force:
        raise ValueError(f"--out {str(out_dir)!r} holds this run with n_realizations = {old_n}; resuming with "
                         f"n_realizations = {spec.n_realizations} would replace its results by those of fewer "
                         "realizations: ask for at least as many, use another folder, or pass --force")
    return max(old_n, spec.n_realizations)
