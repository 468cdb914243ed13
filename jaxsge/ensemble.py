"""Disorder ensembles: batched, sharded, resumable runs and their statistics (Fig. 3 of the paper).

An ensemble run evaluates the spin-resolved transmissions, and from them G_sc^x, G_sc^y
[Eq. (8) of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023)] and G_cs^x, G_cs^y,
for every exchange profile xi, disorder strength K0, disorder realization r and angle
phi_j = 2 pi j / n_phi, plus the clean junction for each xi.

Reproducibility. Realization r is ``model.disorder_potential(p, r)``: the standard-normal
draw of ``fold_in(PRNGKey(seed), r)`` scaled by K0 t, on every layer or on the 2DEG only. It
is a function of (seed, r) alone, and the same for every K0 and xi (common random numbers).
The work is split into *units* (one realization of one (xi, K0) case, all angles; or the
clean junction of one xi), and a unit's numbers do not depend on which other evaluations
share its batch, on the number of devices or on the number of processes (checked bit for bit
in ``tests/test_ensemble.py``).

Execution. Each process evaluates the units u with ``u % process_count == process_index``
(``jax.process_index()`` / ``jax.process_count()`` of JAX's multi-process runtime, started
with ``jax.distributed.initialize``), streaming their (realization, angle) evaluations through
one jitted function of fixed shape: ``shard_map`` over a 1D mesh of the process's local
devices, each device taking a block of ``block`` evaluations picked by the memory budget
(``solve.chunk_size_for``), the last block padded and trimmed.

Storage. ``OUT/manifest.json`` holds every parameter and the hash of those that determine the
numbers; ``OUT/units/*.npz`` one file per finished unit, written atomically (temporary file in
the same folder, fsync, ``os.replace``), so an interrupted run loses at most the units in
flight and ``resume=True`` computes only the missing ones. ``n_realizations`` is not part of
the hash: a finished run can be extended. At the end, process 0 assembles ``ensemble.npz``,
``stats.json`` and the figures.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import pathlib
import tempfile
import time
from typing import Iterable, NamedTuple, Optional

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import __version__
from .config import _coerce, params_dict, parse_number, read_toml
from .leads import open_channels
from .model import JunctionParams, disorder_potential, validate
from .precision import x64
from .response import conversions
from .scan import angular_harmonics
from .solve import _evaluate, chunk_size_for, dense_layers, path_name

FORMAT = "jaxsge-ensemble/1"
MANIFEST = "manifest.json"
UNITS = "units"
RESULT_KEYS = ("T", "n_open", "Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y")
CONDUCTANCES = ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y")
# Ensemble settings read from the config next to the junction parameters; K0 and xi may be lists.
ENSEMBLE_KEYS = ("n_realizations", "n_phi")
LIST_KEYS = ("K0", "xi")


@dataclasses.dataclass(frozen=True)
class EnsembleSpec:
    """What an ensemble run computes.

    ``params``: the junction (its ``K0``, ``xi`` and ``phi`` are ignored: the run takes the
    values below); ``K0`` and ``xi``: tuples of disorder strengths (units of t) and exchange
    decay lengths, one case per pair; ``n_realizations`` per case; ``n_phi`` angles
    phi_j = 2 pi j / n_phi at the polar angle ``params.theta``.
    """

    params: JunctionParams
    n_realizations: int
    K0: tuple
    xi: tuple
    n_phi: int = 64

    @property
    def phi(self) -> np.ndarray:
        return 2 * np.pi * np.arange(self.n_phi) / self.n_phi

    def case_params(self, xi_index: int, k0_index: int) -> JunctionParams:
        """The junction of one case (``k0_index = -1``: clean)."""
        k0 = 0.0 if k0_index < 0 else float(self.K0[k0_index])
        return self.params.replace(xi=float(self.xi[xi_index]), K0=k0, phi=0.0)


def validate_spec(spec: EnsembleSpec) -> None:
    """Raise ValueError naming the offending setting and its allowed range."""
    n = spec.n_realizations
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n_realizations = {n!r} must be an integer >= 1")
    if isinstance(spec.n_phi, bool) or not isinstance(spec.n_phi, (int, np.integer)) or spec.n_phi < 8:
        raise ValueError(f"n_phi = {spec.n_phi!r} must be an integer >= 8")
    for name in LIST_KEYS:
        values = getattr(spec, name)
        if not isinstance(values, tuple) or not values:
            raise ValueError(f"{name} must be a number or a non-empty list of numbers")
        if len(set(values)) != len(values):
            raise ValueError(f"{name} = {list(values)} holds a value twice")
    for k0 in spec.K0:
        if isinstance(k0, bool) or not isinstance(k0, (int, float)) or not (math.isfinite(k0) and k0 >= 0):
            raise ValueError(f"K0 = {k0!r} must be a finite number >= 0 (disorder strength in units of t)")
    if spec.params.disorder is not None:
        raise ValueError("an ensemble draws its own disorder: remove disorder_file (explicit potential) from the config")
    if spec.params.dxc_profile is not None and len(spec.xi) > 1:
        raise ValueError(f"xi = {list(spec.xi)}: with dxc_profile the exchange profile does not depend on xi; "
                         "give one xi")
    for i in range(len(spec.xi)):
        for j in range(-1, len(spec.K0)):
            validate(spec.case_params(i, j))


def _as_tuple(name: str, value) -> tuple:
    """A number, a list of numbers or a comma-separated string as a tuple of floats."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    return tuple(_coerce(name, v.strip() if isinstance(v, str) else v, None) for v in items)


def _as_int(name: str, value) -> int:
    number = parse_number(value, name) if isinstance(value, str) else value
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not float(number).is_integer():
        raise ValueError(f"{name} = {value!r} must be an integer")
    return int(number)


def load_spec(config: Optional[str] = None, overrides: Iterable[str] = ()) -> EnsembleSpec:
    """An EnsembleSpec from a flat TOML config (junction parameters of ``shared/model.md`` plus
    ``n_realizations``, ``n_phi``; ``K0`` and ``xi`` a number or a list) and ``name=value``
    overrides (lists comma-separated: ``K0=0.5,1.0``). ``phi`` is ignored (the run scans it)."""
    values = {} if config is None else dict(read_toml(config))
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected name=value")
        name, value = item.split("=", 1)
        values[name.strip()] = value.strip()
    if "K0" not in values:
        raise ValueError("K0 must be given (one disorder strength or a list, units of t)")
    settings = {name: _as_int(name, values.pop(name)) for name in ENSEMBLE_KEYS if name in values}
    if "n_realizations" not in settings:
        raise ValueError("n_realizations must be given (an integer >= 1)")
    lists = {name: _as_tuple(name, values.pop(name)) for name in LIST_KEYS if name in values}
    values.pop("phi", None)
    base = pathlib.Path(config).parent if config is not None else None
    junction = {name: _coerce(name, value, base) for name, value in values.items()}
    if "disorder_file" in junction:
        raise ValueError("an ensemble draws its own disorder: remove disorder_file (explicit potential) from the config")
    if "dxc_profile" in junction:
        junction["dxc_profile"] = np.asarray(junction["dxc_profile"], dtype=float)
    params = JunctionParams(**junction)
    spec = EnsembleSpec(params, K0=lists["K0"], xi=lists.get("xi", (float(params.xi),)), **settings)
    validate_spec(spec)
    return spec


def identity(spec: EnsembleSpec) -> dict:
    """Everything that determines the numbers of a run (not n_realizations: runs can be extended)."""
    params = {k: v for k, v in params_dict(spec.params).items() if k not in ("K0", "xi", "phi")}
    return {"format": FORMAT, "params": params, "K0": [float(k) for k in spec.K0], "xi": [float(x) for x in spec.xi],
            "n_phi": int(spec.n_phi),
            "phi": "2 pi j / n_phi, j = 0 .. n_phi - 1"}


def run_hash(spec: EnsembleSpec) -> str:
    text = json.dumps(identity(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Unit(NamedTuple):
    """One realization of one (xi, K0) case over all angles; ``k0_index = -1``: the clean junction."""

    xi_index: int
    k0_index: int
    realization: int

    @property
    def filename(self) -> str:
        if self.k0_index < 0:
            return f"clean_xi{self.xi_index}.npz"
        return f"xi{self.xi_index}_K0{self.k0_index}_r{self.realization:06d}.npz"


def all_units(spec: EnsembleSpec) -> list:
    """Every unit of the run: the clean junctions, then realization by realization over the cases,
    so that an interrupted run holds about as many realizations of each case."""
    clean = [Unit(i, -1, 0) for i in range(len(spec.xi))]
    cases = [(i, j) for i in range(len(spec.xi)) for j in range(len(spec.K0))]
    return clean + [Unit(i, j, r) for r in range(spec.n_realizations) for i, j in cases]


# ---------------------------------------------------------------------------------------------
# Evaluation


def _evaluate_unit_angle(base: JunctionParams, xi, k0, index, phi, channels, n_dense: int) -> dict:
    """Transmissions and conversion conductances of realization ``index`` at one angle (traceable)."""
    p = base.replace(xi=xi, K0=k0)
    p = p.replace(disorder=disorder_potential(p, index))
    T, n_open, _ = _evaluate(p, p.theta, phi, p.mu, channels, n_dense, False)
    return {"T": T, "n_open": n_open, **conversions(T, n_open)}


def _block_function(base: JunctionParams, channels, n_dense: int, mesh: Mesh):
    """Jitted function of (xi, K0, realization index, phi) arrays of length block x devices.

    ``shard_map`` hands each device its own block, so the compiled per-device program has the
    same shape whatever the number of devices.
    """
    batch = PartitionSpec("batch")
    per_device = jax.vmap(lambda xi, k0, index, phi: _evaluate_unit_angle(base, xi, k0, index, phi, channels, n_dense))
    return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(batch,) * 4, out_specs=batch))


def local_mesh() -> Mesh:
    """1D mesh over this process's devices (each process of a jax.distributed job has its own)."""
    return Mesh(np.asarray(jax.local_devices()), ("batch",))


def device_block(block: int, mesh: Mesh) -> int:
    """Evaluations per device per call: ``block``, except 1 for several CPU devices in one process.

    jaxlib's batched LAPACK kernels on CPU wait, inside a thread of the intra-op pool, for the
    sub-tasks they queue on that same pool; several CPU devices of one process running them at
    once can take every thread of the pool and deadlock. With one matrix per call they run
    inline. (Several CPU devices share the same cores anyway; results do not depend on the block.)
    """
    if mesh.size > 1 and mesh.devices.flat[0].platform == "cpu":
        return 1
    return block


def _stream_units(units, spec: EnsembleSpec, fn, block: int, sharding, on_done):
    """Evaluate the units' (unit, angle) pairs in blocks, calling ``on_done(unit, results)`` as each completes.

    One block stays in flight: the next one is dispatched (asynchronously) before the results of
    the previous one are fetched and written, so that the devices do not wait for the host.
    """
    n_phi = spec.n_phi
    cases = [spec.case_params(u.xi_index, u.k0_index) for u in units]
    xi = np.repeat(np.asarray([p.xi for p in cases], dtype=float), n_phi)
    k0 = np.repeat(np.asarray([p.K0 for p in cases], dtype=float), n_phi)
    index = np.repeat([u.realization for u in units], n_phi).astype(np.int64)
    phi = np.tile(spec.phi, len(units))
    total = phi.size
    results, written = {}, 0

    def collect(start, out):
        nonlocal written
        stop = min(start + block, total)
        for k, v in jax.device_get(out).items():
            results.setdefault(k, np.empty((total,) + v.shape[1:], v.dtype))[start:stop] = v[: stop - start]
        while written < len(units) and (written + 1) * n_phi <= stop:
            sl = slice(written * n_phi, (written + 1) * n_phi)
            on_done(units[written], {k: v[sl] for k, v in results.items()})
            written += 1

    in_flight = None
    for start in range(0, total, block):
        idx = np.minimum(np.arange(start, start + block), total - 1)  # the last block is padded, then trimmed
        out = fn(*(jax.device_put(a[idx], sharding) for a in (xi, k0, index, phi)))
        if in_flight is not None:
            collect(*in_flight)
        in_flight = (start, out)
    if in_flight is not None:
        collect(*in_flight)


# ---------------------------------------------------------------------------------------------
# Storage


def _fsync_dir(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: pathlib.Path, write) -> None:
    """Write through ``write(fh)`` into a temporary file next to ``path``, fsync it, rename it over ``path``.

    A reader sees either no file or the whole file, whatever happens to the writer.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _write_unit(out_dir: pathlib.Path, unit: Unit, results: dict, digest: str, block: int) -> None:
    arrays = {k: results[k] for k in RESULT_KEYS}
    meta = {"run_hash": np.asarray(digest), "unit": np.asarray(unit, dtype=np.int64), "block": np.asarray(block)}
    _atomic_write(out_dir / UNITS / unit.filename, lambda fh: np.savez(fh, **arrays, **meta))


def read_unit(out_dir, unit: Unit, digest: str) -> dict:
    """The arrays of one finished unit; ValueError if the file belongs to another run."""
    path = pathlib.Path(out_dir) / UNITS / unit.filename
    with np.load(path) as data:
        if str(data["run_hash"]) != digest or tuple(data["unit"]) != tuple(unit):
            raise ValueError(f"{path} belongs to another run (hash {str(data['run_hash'])[:12]}); refusing to mix runs")
        return {k: data[k] for k in RESULT_KEYS}


def finished_units(out_dir, spec: EnsembleSpec) -> set:
    folder = pathlib.Path(out_dir) / UNITS
    names = {p.name for p in folder.glob("*.npz")} if folder.is_dir() else set()
    return {u for u in all_units(spec) if u.filename in names}


def _manifest(spec: EnsembleSpec) -> dict:
    return {"identity": identity(spec), "hash": run_hash(spec), "n_realizations": spec.n_realizations,
            "jaxsge_version": __version__, "written": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "layout": {MANIFEST: "this file", f"{UNITS}/clean_xi<i>.npz": "clean junction of xi[i]",
                       f"{UNITS}/xi<i>_K0<j>_r<r>.npz": "realization r of (xi[i], K0[j])",
                       "arrays per unit": "T (n_phi, 5, 2, 5, 2), n_open (n_phi, 5, 2), Gsc_x, Gsc_y, Gcs_x, Gcs_y "
                                          "(n_phi,); run_hash, unit (xi_index, k0_index, realization), block"}}


def _differences(a, b, prefix="") -> list:
    """Keys whose values differ between two JSON-like dicts, as dotted names."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [prefix or "(value)"] if a != b else []
    out = []
    for key in sorted(set(a) | set(b)):
        out += _differences(a.get(key), b.get(key), f"{prefix}{key}.") if key in a and key in b else [prefix + key]
    return [k.rstrip(".") for k in out]


def check_out_dir(out_dir, spec: EnsembleSpec, resume: bool) -> int:
    """Refuse a folder that would mix runs or lose results; returns the number of finished units.

    Without ``resume`` the folder must be absent, empty, or hold this run's manifest and no
    finished unit. With ``resume`` it may be absent or empty, or hold this run.
    """
    out_dir = pathlib.Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {str(out_dir)!r} exists and is not a folder")
    entries = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    if not entries:
        return 0
    path = out_dir / MANIFEST
    if not path.is_file():
        raise ValueError(f"--out {str(out_dir)!r} is not empty and holds no ensemble run ({MANIFEST} missing); "
                         "choose another folder")
    try:
        old = json.loads(path.read_text())
        old_hash, old_identity = old["hash"], old["identity"]
    except (ValueError, KeyError) as err:
        raise ValueError(f"{path} is not a valid ensemble manifest ({err}); refusing to touch {str(out_dir)!r}") from None
    if old_hash != run_hash(spec):
        diff = ", ".join(_differences(old_identity, json.loads(json.dumps(identity(spec))))) or "format"
        raise ValueError(f"--out {str(out_dir)!r} holds a run with other parameters (differing: {diff}); "
                         "refusing to mix them: choose another folder")
    done = len(finished_units(out_dir, spec))
    if done and not resume:
        raise ValueError(f"--out {str(out_dir)!r} already holds this run ({done} units finished); "
                         "pass --resume to continue it")
    return done


def _barrier(name: str) -> None:
    """Wait for every process of a jax.distributed job (no-op for a single process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


# ---------------------------------------------------------------------------------------------
# The run


@dataclasses.dataclass(frozen=True)
class RunReport:
    """What one process did: units it computed, evaluations, seconds, block size per device, devices."""

    computed: int
    evaluations: int
    seconds: float
    block: dict
    devices: int
    process_index: int
    process_count: int


def _groups(spec: EnsembleSpec, units) -> dict:
    """Units by solver path (number of densely eliminated layers): one compiled function each."""
    groups = {}
    for u in units:
        groups.setdefault(dense_layers(spec.case_params(u.xi_index, u.k0_index)), []).append(u)
    return groups


@x64
def run_ensemble(spec: EnsembleSpec, out_dir, *, resume: bool = False, memory_budget_gib=None,
                 progress: bool = True, on_unit=None) -> RunReport:
    """Compute this process's missing units of ``spec`` into ``out_dir`` (see the module docstring).

    ``memory_budget_gib`` (per device, default that of ``solve.chunk_size_for``) picks the block of
    evaluations each device takes per call; ``on_unit(unit)`` is called after each unit is on disk.
    Every input error is raised (ValueError) before anything is written.
    """
    validate_spec(spec)
    out_dir = pathlib.Path(out_dir)
    units = all_units(spec)
    channels = open_channels(spec.case_params(0, -1))
    blocks = {n: chunk_size_for(spec.params, n, memory_budget_gib) for n in _groups(spec, units)}
    check_out_dir(out_dir, spec, resume)
    mesh = local_mesh()
    blocks = {n: device_block(b, mesh) for n, b in blocks.items()}
    pid, count = jax.process_index(), jax.process_count()
    if pid == 0:
        (out_dir / UNITS).mkdir(parents=True, exist_ok=True)
        for stale in (out_dir / UNITS).glob(".tmp-*"):  # left by a killed writer; no one writes before the barrier
            stale.unlink()
        _atomic_write(out_dir / MANIFEST, lambda fh: fh.write(json.dumps(_manifest(spec), indent=1).encode()))
    _barrier("jaxsge-ensemble-start")
    done = finished_units(out_dir, spec)
    mine = [u for k, u in enumerate(units) if k % count == pid and u not in done]
    digest = run_hash(spec)
    sharding = NamedSharding(mesh, PartitionSpec("batch"))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(mine), unit="realization", desc=f"process {pid}/{count}" if count > 1 else "ensemble")
    start = time.perf_counter()

    def finished(unit, results, block):
        _write_unit(out_dir, unit, results, digest, block)
        if bar is not None:
            bar.update(1)
        if on_unit is not None:
            on_unit(unit)

    try:
        for n_dense, group in _groups(spec, mine).items():
            fn = _block_function(spec.params.replace(phi=0.0), channels, n_dense, mesh)
            # No larger than needed: padding beyond the pending evaluations would be computed for nothing.
            block = min(blocks[n_dense], -(-len(group) * spec.n_phi // mesh.size))
            _stream_units(group, spec, fn, block * mesh.size, sharding, lambda u, r: finished(u, r, block))
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    _barrier("jaxsge-ensemble-end")
    return RunReport(len(mine), len(mine) * spec.n_phi, seconds, {path_name(spec.params.Lz, n): b for n, b in blocks.items()},
                     mesh.size, pid, count)


# ---------------------------------------------------------------------------------------------
# Assembly and statistics


@dataclasses.dataclass(frozen=True)
class EnsembleData:
    """All units of a finished run. Disordered arrays: (n_xi, n_K0, n_realizations, n_phi, ...);
    clean ones: (n_xi, n_phi, ...)."""

    spec: EnsembleSpec
    disordered: dict
    clean: dict


def load_ensemble(out_dir, spec: EnsembleSpec) -> EnsembleData:
    """Read every unit of the run (the merge step after a multi-process run); ValueError if any is missing."""
    out_dir = pathlib.Path(out_dir)
    missing = [u for u in all_units(spec) if u not in finished_units(out_dir, spec)]
    if missing:
        raise ValueError(f"{len(missing)} of {len(all_units(spec))} units are missing in {str(out_dir)!r} "
                         f"(first: {missing[0].filename}); run again with --resume")
    digest = run_hash(spec)
    n_xi, n_k0 = len(spec.xi), len(spec.K0)
    clean = [read_unit(out_dir, Unit(i, -1, 0), digest) for i in range(n_xi)]
    cases = [[[read_unit(out_dir, Unit(i, j, r), digest) for r in range(spec.n_realizations)] for j in range(n_k0)]
             for i in range(n_xi)]
    return EnsembleData(spec, {k: np.asarray([[[u[k] for u in c] for c in row] for row in cases]) for k in RESULT_KEYS},
                        {k: np.stack([u[k] for u in clean]) for k in RESULT_KEYS})


def mean_and_stderr(samples, axis: int = 0):
    """Mean over ``axis`` and its standard error s / sqrt(n), s the sample standard deviation
    (ddof = 1), i.e. the population standard deviation over sqrt(n - 1); NaN for n = 1."""
    samples = np.asarray(samples)
    n = samples.shape[axis]
    mean = samples.mean(axis=axis)
    if n < 2:
        return mean, np.full(mean.shape, np.nan)
    return mean, samples.std(axis=axis, ddof=1) / np.sqrt(n)


def running_mean_and_stderr(samples, axis: int = 0):
    """Mean and standard error of the first n samples for n = 1 .. N, stacked on a new leading axis."""
    samples = np.moveaxis(np.asarray(samples), axis, 0)
    n = np.arange(1, samples.shape[0] + 1).reshape((-1,) + (1,) * (samples.ndim - 1))
    mean = np.cumsum(samples, axis=0) / n
    # Sum of squared deviations of each prefix from its own mean (exact in float64 for these sizes).
    squares = np.cumsum(samples ** 2, axis=0) - n * mean ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        stderr = np.sqrt(np.maximum(squares, 0) / (n - 1)) / np.sqrt(n)
    stderr[0] = np.nan
    return mean, stderr


def normalised_amplitude(gx, gy) -> np.ndarray:
    """g_sc(phi) = sqrt(Gx^2 + Gy^2) / max over phi (last axis) [Fig. 3 of the paper]."""
    amplitude = np.hypot(gx, gy)
    return amplitude / amplitude.max(axis=-1, keepdims=True)


def jackknife_g_sc(gx, gy) -> np.ndarray:
    """Jackknife standard error of g_sc of the mean curves; ``gx``, ``gy``: (n, n_phi) samples."""
    n = gx.shape[0]
    if n < 2:
        return np.full(gx.shape[1:], np.nan)
    leave_out = [(gx.sum(0) - gx) / (n - 1), (gy.sum(0) - gy) / (n - 1)]
    g = normalised_amplitude(*leave_out)
    return np.sqrt((n - 1) / n * ((g - g.mean(0)) ** 2).sum(0))


def ensemble_statistics(data: EnsembleData) -> dict:
    """Means, standard errors, g_sc of the mean curves and convergence with n, per (xi, K0) case.

    Arrays (NumPy) keyed ``mean_<G>``, ``stderr_<G>`` (n_xi, n_K0, n_phi) for each conductance
    G; ``g_sc``, ``g_sc_stderr`` (jackknife) of the mean curves; ``clean_g_sc`` (n_xi, n_phi);
    ``running_mean_Gsc_x``/``_y`` and ``running_stderr_Gsc_x``/``_y`` (n_xi, n_K0, n, n_phi); and
    the convergence measures (n_xi, n_K0, n): ``convergence`` = max_phi |<G>_n - <G>_N| /
    max_phi |<G>_N|, ``relative_stderr`` = max_phi SE_n / max_phi |<G>_N|, with
    |G| = sqrt(Gx^2 + Gy^2), and ``convergence_g_sc`` = max_phi |g_sc,n - g_sc,N| (g_sc of the
    running means).
    """
    d, out = data.disordered, {}
    for key in CONDUCTANCES:
        out[f"mean_{key}"], out[f"stderr_{key}"] = mean_and_stderr(d[key], axis=2)
    out["g_sc"] = normalised_amplitude(out["mean_Gsc_x"], out["mean_Gsc_y"])
    out["g_sc_stderr"] = np.asarray([[jackknife_g_sc(gx, gy) for gx, gy in zip(rx, ry)]
                                     for rx, ry in zip(d["Gsc_x"], d["Gsc_y"])])
    out["clean_g_sc"] = normalised_amplitude(data.clean["Gsc_x"], data.clean["Gsc_y"])
    for key in ("Gsc_x", "Gsc_y"):
        mean, stderr = running_mean_and_stderr(d[key], axis=2)
        out[f"running_mean_{key}"], out[f"running_stderr_{key}"] = np.moveaxis(mean, 0, 2), np.moveaxis(stderr, 0, 2)
    final = np.hypot(out["mean_Gsc_x"], out["mean_Gsc_y"]).max(axis=-1)[..., None]
    change = np.hypot(out["running_mean_Gsc_x"] - out["mean_Gsc_x"][:, :, None],
                      out["running_mean_Gsc_y"] - out["mean_Gsc_y"][:, :, None]).max(axis=-1)
    out["convergence"] = change / final
    out["relative_stderr"] = np.hypot(out["running_stderr_Gsc_x"], out["running_stderr_Gsc_y"]).max(axis=-1) / final
    running_g = normalised_amplitude(out["running_mean_Gsc_x"], out["running_mean_Gsc_y"])
    out["convergence_g_sc"] = np.abs(running_g - out["g_sc"][:, :, None]).max(axis=-1)
    return out


# ---------------------------------------------------------------------------------------------
# Outputs


def _fermi_contours(p: JunctionParams):
    """Fermi contours of the 2DEG at phi = 0 and 3 pi / 2 for the inset of a polar panel."""
    from .model import exchange_profile
    from .plot import fermi_contour_bands

    dxc0 = float(np.asarray(exchange_profile(p))[0])
    return [(f"phi = {label}", *fermi_contour_bands(float(p.t), float(p.mu), float(p.alpha3), dxc0,
                                                    float(np.asarray(p.theta)), angle, k_max=1.8))
            for label, angle in (("0", 0.0), ("3pi/2", 1.5 * np.pi))]


def plot_fig3(data: EnsembleData, stats: dict, path):
    """Fig. 3 (b), (c): disorder-averaged g_sc(phi), one panel per xi, every K0 over the clean curve."""
    from .plot import polar_panels

    spec = data.spec
    curves, titles, contours = [], [], []
    for i, xi in enumerate(spec.xi):
        panel = {"clean": stats["clean_g_sc"][i]}
        panel.update({f"K0 = {k0:g} (mean of {spec.n_realizations})": stats["g_sc"][i, j] for j, k0 in enumerate(spec.K0)})
        curves.append(panel)
        titles.append(f"xi = {xi:g} = {xi / spec.params.Lz:g} Lz")
        contours.append(_fermi_contours(spec.case_params(i, -1)))
    p = spec.params
    fig = polar_panels(spec.phi, curves, titles, contours,
                       suptitle=(f"disorder-averaged g_sc(phi), theta = {float(p.theta):.3g}, Lx = {p.Lx}, Ly = {p.Ly}, "
                                 f"W = {p.W}, disorder on {'every layer' if p.disorder_layers == 'all' else 'the 2DEG'}"))
    # Room for the suptitle and for a legend of three or more curves below each panel.
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + 1.0)
    fig.subplots_adjust(top=0.84, bottom=0.2)
    fig.savefig(path, dpi=130)
    return fig


def plot_curves(data: EnsembleData, stats: dict, path):
    """G_sc^x and G_sc^y against phi: clean, and mean +- standard error for each K0, one row per xi."""
    import matplotlib.pyplot as plt

    spec = data.spec
    fig, axes = plt.subplots(len(spec.xi), 2, figsize=(10, 3.4 * len(spec.xi)), squeeze=False, sharex=True)
    for i, xi in enumerate(spec.xi):
        for col, key in enumerate(("Gsc_x", "Gsc_y")):
            ax = axes[i, col]
            ax.plot(spec.phi, data.clean[key][i], "k--", lw=1.2, label="clean")
            for j, k0 in enumerate(spec.K0):
                mean, err = stats[f"mean_{key}"][i, j], stats[f"stderr_{key}"][i, j]
                ax.plot(spec.phi, mean, lw=1.5, label=f"K0 = {k0:g}")
                ax.fill_between(spec.phi, mean - err, mean + err, alpha=0.3)
            ax.set_title(f"{key.replace('Gsc_', 'G_sc^')}, xi = {xi:g}", fontsize=10)
            ax.set_ylabel("e^2/h")
            ax.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("phi (rad)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return fig


def plot_convergence(data: EnsembleData, stats: dict, path):
    """Convergence with the number of realizations: change of the running mean and relative standard error."""
    import matplotlib.pyplot as plt

    spec = data.spec
    n = np.arange(1, spec.n_realizations + 1)
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for i, xi in enumerate(spec.xi):
        for j, k0 in enumerate(spec.K0):
            label = f"xi = {xi:g}, K0 = {k0:g}"
            axes[0].loglog(n[:-1], stats["convergence"][i, j, :-1], lw=1.2, label=label)
            axes[1].loglog(n[1:], stats["relative_stderr"][i, j, 1:], lw=1.2, label=label)
            axes[2].loglog(n[:-1], stats["convergence_g_sc"][i, j, :-1], lw=1.2, label=label)
    if spec.n_realizations > 1:
        ref = stats["relative_stderr"][..., 1].max()
        axes[1].loglog(n[1:], ref * np.sqrt(2 / n[1:]), "k:", lw=1, label="1/sqrt(n)")
    axes[0].set_title("max_phi |<G_sc>_n - <G_sc>_N| / max_phi |<G_sc>_N|", fontsize=9)
    axes[1].set_title("standard error of <G_sc>_n / max_phi |<G_sc>_N|", fontsize=9)
    axes[2].set_title("max_phi |g_sc(<G>_n) - g_sc(<G>_N)|", fontsize=9)
    for ax in axes:
        ax.set_xlabel("realizations n")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return fig


def _summary(data: EnsembleData, stats: dict) -> list:
    spec, out = data.spec, []
    n_max = min(8, (spec.n_phi - 1) // 2)
    for i, xi in enumerate(spec.xi):
        for j, k0 in enumerate(spec.K0):
            g = stats["g_sc"][i, j]
            local_max = np.flatnonzero((g > np.roll(g, 1)) & (g >= np.roll(g, -1)))
            out.append({"xi": xi, "K0": k0, "n_realizations": spec.n_realizations,
                        "solver_path": path_name(spec.params.Lz, dense_layers(spec.case_params(i, j))),
                        "max_abs_mean_Gsc": float(np.hypot(stats["mean_Gsc_x"][i, j], stats["mean_Gsc_y"][i, j]).max()),
                        "max_stderr_Gsc_x": float(stats["stderr_Gsc_x"][i, j].max()),
                        "max_stderr_Gsc_y": float(stats["stderr_Gsc_y"][i, j].max()),
                        "max_g_sc_stderr": float(stats["g_sc_stderr"][i, j].max()),
                        "relative_stderr": float(stats["relative_stderr"][i, j, -1]),
                        "g_sc_change_since_half_the_realizations": float(stats["convergence_g_sc"][i, j, (spec.n_realizations - 1) // 2]),
                        "phi_of_local_maxima_g_sc": spec.phi[local_max].tolist(),
                        "harmonics_mean_Gsc_x": angular_harmonics(stats["mean_Gsc_x"][i, j], n_max).tolist(),
                        "harmonics_mean_Gsc_y": angular_harmonics(stats["mean_Gsc_y"][i, j], n_max).tolist()})
    return out


def write_outputs(out_dir, data: EnsembleData, stats: dict, report: Optional[RunReport] = None) -> dict:
    """ensemble.npz (every unit and statistic), stats.json (summary) and the three figures."""
    out_dir = pathlib.Path(out_dir)
    spec = data.spec
    arrays = {"phi": spec.phi, "xi": np.asarray(spec.xi), "K0": np.asarray(spec.K0),
              **data.disordered, **{f"clean_{k}": v for k, v in data.clean.items()}, **stats}
    _atomic_write(out_dir / "ensemble.npz", lambda fh: np.savez(fh, **arrays))
    meta = {"format": FORMAT, "hash": run_hash(spec), "identity": identity(spec), "n_realizations": spec.n_realizations,
            "jaxsge_version": __version__, "cases": _summary(data, stats),
            "stderr": "s / sqrt(n) with s the sample standard deviation (ddof = 1); g_sc: jackknife",
            "g_sc": "sqrt(<Gx>^2 + <Gy>^2) / max over phi, of the disorder-averaged conductances",
            "units": "conductances in e^2/h; angles in radians; K0 in units of t",
            "arrays": {"ensemble.npz": "phi, xi, K0; T, n_open, Gsc_x, Gsc_y, Gcs_x, Gcs_y (n_xi, n_K0, n_realizations, "
                                       "n_phi, ...); clean_* (n_xi, n_phi, ...); mean_*, stderr_*, g_sc, g_sc_stderr "
                                       "(n_xi, n_K0, n_phi); running_* (n_xi, n_K0, n, n_phi); convergence, "
                                       "relative_stderr, convergence_g_sc (n_xi, n_K0, n); clean_g_sc (n_xi, n_phi)"}}
    if report is not None:
        meta["last_run"] = dataclasses.asdict(report)
    _atomic_write(out_dir / "stats.json", lambda fh: fh.write(json.dumps(meta, indent=1).encode()))
    import matplotlib.pyplot as plt

    for name, plot in (("fig3.png", plot_fig3), ("curves.png", plot_curves), ("convergence.png", plot_convergence)):
        plt.close(plot(data, stats, out_dir / name))
    return meta


@x64
def run_and_report(spec: EnsembleSpec, out_dir, *, resume: bool = False, memory_budget_gib=None,
                   progress: bool = True) -> Optional[dict]:
    """``run_ensemble``, then (process 0) assemble and write the statistics and figures; returns stats.json's content."""
    report = run_ensemble(spec, out_dir, resume=resume, memory_budget_gib=memory_budget_gib, progress=progress)
    if report.process_index != 0:
        return None
    data = load_ensemble(out_dir, spec)
    return write_outputs(out_dir, data, ensemble_statistics(data), report)
