"""The ensemble folder: manifest, one verified file per finished unit, resumption without loss.

``OUT/manifest.json`` holds every parameter and the run's hash; ``OUT/units/*.npz`` one file per
finished unit, written atomically, verified on resume (a damaged or foreign file is set aside to
``OUT/damaged/`` and recomputed). Another run's folder, or one with more realizations than asked
(unless ``force``), is refused (``docs/ensemble.md``, Output folder).

An **archive** (:func:`pack`, :func:`unpack`) carries a run's finished units between machines
as one compressed ``.npz`` of at most ``ARCHIVE_LIMIT`` bytes: the manifest and, per key, the
arrays of every finished unit stacked. It holds every conversion conductance, the open channels
and the solver statistics exactly, but not the transmissions T (``OPTIONAL_KEYS``): at the
paper's size T is 51 kB per unit, 31 MB for the full Fig. 3 run, twice the limit. Units
unpacked from an archive therefore hold no T; the report takes them as they are (its
statistics use the conductances only) and leaves T out of ``ensemble.npz``.
"""

from __future__ import annotations

import datetime
import io
import json
import pathlib
import shutil
import warnings
import zipfile

import numpy as np

from .. import __version__
from ..io.files import LOCK, RECORD, REPLOT, TEMP, atomic_write, write_json
from ..observables.response import conversion_axes
from .spec import EnsembleSpec, Unit, all_units, identity, run_hash

MANIFEST = "manifest.json"
UNITS = "units"
DAMAGED = "damaged"
RESULT_KEYS = ("T", "n_open", "solver_stats")
OPTIONAL_KEYS = ("T",)  # absent from units unpacked from an archive
ARCHIVE_LIMIT = 16 * 2 ** 20
ARCHIVE_FORMAT = "jaxsge-ensemble-archive/1"


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
            arrays = {k: data[k] for k in keys if k in data.files or k not in OPTIONAL_KEYS}
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
            "solver_requested": {"path": spec.path, "precision": spec.precision, "fold": spec.fold},
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


def _left_over(path: pathlib.Path) -> bool:
    """The lock, a temporary file or an empty units/ folder: what a run killed before its manifest leaves."""
    return path.name == LOCK or path.name.startswith(TEMP) or (path.name == UNITS and path.is_dir()
                                                                and not any(path.iterdir()))


def check_out_dir(out_dir, spec: EnsembleSpec, resume: bool, force: bool, overwrite: bool = False,
                  report_files=()) -> int:
    """Refuse a folder that would mix runs or lose results; returns the largest n_realizations it held.

    Without ``resume`` the folder must be absent, empty, or hold this run's manifest and no
    finished unit. With ``resume`` it may also hold this run, with at most as many
    realizations as asked (more only with ``force``, which then keeps the extra unit files but
    reports on the first n). With ``overwrite`` (``--overwrite``, the overwrite policy of every
    command: ``io.files.Output``) a folder that holds an ensemble run (any, and nothing but its
    manifest, units, set-aside units, ``report_files``, ``run.json`` and ``replot``) is emptied
    of it first; anything else in it is refused.
    """
    out_dir = pathlib.Path(out_dir)
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: give one of them")
    if not out_dir.is_dir() or all(_left_over(p) for p in out_dir.iterdir()):
        return spec.n_realizations
    path = out_dir / MANIFEST
    if not path.is_file():
        raise ValueError(f"--out {str(out_dir)!r} is not empty and holds no ensemble run ({MANIFEST} missing); "
                         "choose another folder")
    if overwrite:
        owned = {MANIFEST, UNITS, DAMAGED, RECORD, REPLOT, *report_files}
        foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in owned and not _left_over(p))
        if foreign:
            raise ValueError(f"--out {str(out_dir)!r} holds an ensemble run and other files "
                             f"({', '.join(map(repr, foreign[:3]))}{', ...' if len(foreign) > 3 else ''}); "
                             "--overwrite replaces only an ensemble's own files: choose another folder")
        for name in (RECORD, MANIFEST, *report_files):  # the record first: a half-cleared folder is no finished run
            (out_dir / name).unlink(missing_ok=True)
        for name in (UNITS, DAMAGED, REPLOT):
            shutil.rmtree(out_dir / name, ignore_errors=True)
        return spec.n_realizations
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
                         "refusing to mix them: choose another folder, or pass --overwrite to replace that run")
    if not resume and any((out_dir / UNITS).glob("*.npz")):
        raise ValueError(f"--out {str(out_dir)!r} already holds this run; pass --resume to continue it, or --overwrite "
                         "to compute it again from the start")
    if old_n > spec.n_realizations and not force:
        raise ValueError(f"--out {str(out_dir)!r} holds this run with n_realizations = {old_n}; resuming with "
                         f"n_realizations = {spec.n_realizations} would replace its results by those of fewer "
                         "realizations: ask for at least as many, use another folder, or pass --force")
    return max(old_n, spec.n_realizations)


def pack(out_dir, spec: EnsembleSpec, archive, limit: int = ARCHIVE_LIMIT) -> dict:
    """Write the finished units of ``out_dir`` into one compressed ``.npz`` (see the module
    docstring); a ValueError, and no file, when it would exceed ``limit`` bytes. Returns what it holds."""
    folder = pathlib.Path(out_dir) / UNITS
    digest = run_hash(spec)
    leads = spec.case_system(all_units(spec)[0].case).stack().lead_names
    keys = [k for k in RESULT_KEYS + conductance_keys(leads) if k not in OPTIONAL_KEYS]
    units = [u for u in all_units(spec) if (folder / u.filename(spec.names)).is_file()]
    read = [_check_unit(folder / u.filename(spec.names), u, digest, keys, {}) for u in units]
    arrays = {f"unit_{k}": np.stack([r[k] for r in read]) for k in keys} if read else {}
    info = {"format": ARCHIVE_FORMAT, "hash": digest, "identity": identity(spec), "units": len(units),
            "of": len(all_units(spec)), "keys": keys,
            "left_out": "T (the transmissions), kept only in the unit files of the machine that ran them"}
    data = dict(archive_manifest=np.asarray(json.dumps(info)), unit_case=np.asarray([u.case for u in units], np.int64),
                unit_realization=np.asarray([u.realization for u in units], np.int64), **arrays)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **data)
    size = buffer.getbuffer().nbytes
    if size > limit:
        raise ValueError(f"the archive of {len(units)} units would be {size / 2 ** 20:.1f} MiB, more than "
                         f"{limit / 2 ** 20:.1f} MiB")
    atomic_write(archive, lambda fh: fh.write(buffer.getvalue()))
    return {**info, "bytes": size}


def read_archive(archive, spec: EnsembleSpec) -> dict:
    """Unit -> its arrays, from an archive of this run (a ValueError for another run's or a damaged one)."""
    try:
        with np.load(archive) as data:
            info = json.loads(str(data["archive_manifest"]))
            contents = {k: data[k] for k in data.files}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{str(archive)!r} is not a readable ensemble archive ({type(err).__name__}: {err})") from None
    if info.get("format") != ARCHIVE_FORMAT or info.get("hash") != run_hash(spec):
        raise ValueError(f"{str(archive)!r} holds another run (hash {str(info.get('hash'))[:12]}); refusing to use it")
    out = {}
    for k, (case, realization) in enumerate(zip(contents["unit_case"], contents["unit_realization"])):
        arrays = {key: contents[f"unit_{key}"][k] for key in info["keys"]}
        if not all(np.all(np.isfinite(a)) for a in arrays.values()):
            raise ValueError(f"{str(archive)!r}: unit {k} holds NaN or infinity; refusing to use it")
        out[Unit(tuple(int(c) for c in case), int(realization))] = arrays
    return out


def unpack(archive, out_dir, spec: EnsembleSpec) -> int:
    """Write the units of an archive of this run that ``out_dir`` lacks as unit files (and the
    manifest when the folder has none), so that ``--resume`` continues from them; the count written."""
    units = read_archive(archive, spec)
    out_dir = pathlib.Path(out_dir)
    (out_dir / UNITS).mkdir(parents=True, exist_ok=True)
    if not (out_dir / MANIFEST).is_file():
        write_json(out_dir / MANIFEST, manifest(spec, spec.n_realizations))
    digest, written = run_hash(spec), 0
    for unit, arrays in units.items():
        if not (out_dir / UNITS / unit.filename(spec.names)).is_file():
            write_unit(out_dir, spec, unit, arrays, digest)
            written += 1
    return written
