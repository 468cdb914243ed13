"""Labelled results: every command's arrays as one xarray Dataset in a NetCDF4 file, and back.

Format: NetCDF4 (HDF5) written by ``h5netcdf``, opened by plain ``xarray.open_dataset(path,
engine="h5netcdf")`` (or netCDF4, h5py, ncdump) without jaxsge: the ecosystem's format for named
dimensions, coordinates and attributes. Complex arrays are stored as two real variables,
``NAME__real`` and ``NAME__imag``, because strict NetCDF4 has no complex type (h5netcdf's
``invalid_netcdf`` would write files that the netCDF-C library cannot read); :func:`load` joins
them again. Dictionaries in the attributes (the parameters, the stack, the command's JSON report)
are JSON text, since NetCDF attributes hold only numbers, text and 1-D arrays.

Provenance (attributes of every file): ``config_text`` (the config file's text, not its path),
``config_name``, ``parameters`` (the resolved values), ``system`` and ``stack`` (``Stack.to_dict``,
turned back by :func:`stack_of`), ``jaxsge_version``, ``jax_version``, ``jaxlib_version``,
``numpy_version``, ``device_kind``, ``created_utc``, ``command_line`` and, when jaxsge runs from a
git checkout, ``git_commit``.
"""

from __future__ import annotations

import datetime
import functools
import json
import pathlib
import subprocess

import numpy as np

from .describe import plain
from .files import write_json, write_npz

#: The labelled file of each result kind (the ``kind`` attribute), in the folder a command writes.
FILES = {"scan": "scan.nc", "sensitivity": "sensitivity.nc", "stack": "stack.nc", "ensemble": "ensemble.nc",
         "densities": "densities.nc"}
#: The trailing dimensions of the transmission arrays: T[..., to_lead, to_spin, from_lead, from_spin].
T_DIMS = ("to_lead", "to_spin", "from_lead", "from_spin")
OPEN_DIMS = ("lead", "spin")
#: The same resolved by the orbital too (``Transmissions.T_orbital``, ``n_open_orbital``).
T_ORBITAL_DIMS = ("to_lead", "to_orbital", "to_spin", "from_lead", "from_orbital", "from_spin")
OPEN_ORBITAL_DIMS = ("lead", "orbital", "spin")
UNITS = {"phi": "rad", "theta": "rad", "energy": "t", "kT": "t", "fermi_phi": "rad", "fermi_kx": "1/a",
         "fermi_ky": "1/a"}


@functools.lru_cache(maxsize=1)
def git_commit():
    """The commit of jaxsge's source tree when it is a git checkout (None otherwise)."""
    source = pathlib.Path(__file__).resolve().parents[2]
    if not (source / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance(system, config_path=None, argv=None, stack=None) -> dict:
    """The provenance attributes of a result of ``system`` (module docstring); ``config_path``: the config file,
    whose text is stored; ``argv``: the command line (a list); ``stack``: the stack solved when it is not the
    system's own (``jaxsge stack --nphi`` scans phi)."""
    import jax
    import jaxlib

    from .. import __version__

    attrs = {"parameters": json.dumps(plain(system.values)), "system": json.dumps(system.describe()),
             "stack": json.dumps((system.stack() if stack is None else stack).to_dict()),
             "energy_name": system.energy_name,
             "jaxsge_version": __version__, "jax_version": jax.__version__, "jaxlib_version": jaxlib.__version__,
             "numpy_version": np.__version__, "device_kind": jax.devices()[0].device_kind,
             "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if config_path is not None:
        path = pathlib.Path(config_path)
        attrs["config_name"] = path.name
        attrs["config_text"] = path.read_bytes().decode("utf-8-sig")
    if argv is not None:
        attrs["command_line"] = json.dumps([str(a) for a in argv])
    if git_commit():
        attrs["git_commit"] = git_commit()
    return attrs


def _dims(name, shape, templates, sizes):
    """The first template (dimension names) whose known sizes match ``shape``; else names of this variable's own."""
    for template in templates:
        if len(template) == len(shape) and all(sizes.get(d, n) == n for d, n in zip(template, shape)):
            return tuple(template)
    return tuple(f"{name}_dim{i}" for i in range(len(shape)))


def dataset(kind, arrays, coords, templates, attrs, units=None):
    """A Dataset of ``arrays`` (name -> array) with the coordinates ``coords`` (name -> 1-D array); each array's
    dimensions are the first matching template of ``templates(name)`` (a list of tuples of names)."""
    import xarray as xr

    sizes = {name: np.size(value) for name, value in coords.items()}
    variables = {}
    for name, value in arrays.items():
        arr = np.asarray(value)
        dims = _dims(name, arr.shape, templates(name), sizes)
        sizes.update(zip(dims, arr.shape))
        unit = {"units": (units or {}).get(name, "e^2/h" if name.startswith(("G", "mean_G", "stderr_G", "clean_G"))
                                           else "")}
        if np.iscomplexobj(arr):
            variables[f"{name}__real"] = xr.Variable(dims, arr.real, {**unit, "complex": "real part"})
            variables[f"{name}__imag"] = xr.Variable(dims, arr.imag, {**unit, "complex": "imaginary part"})
        else:
            variables[name] = xr.Variable(dims, arr, unit)
    ds = xr.Dataset(variables, coords={name: (name, np.asarray(value), {"units": UNITS.get(name, "")})
                                       for name, value in coords.items()},
                    attrs={"kind": kind, **attrs})
    return ds


def write_dataset(path, ds) -> None:
    """The Dataset as NetCDF4 through h5netcdf (into a command's staging folder: ``io.files.Output``)."""
    ds.to_netcdf(path, engine="h5netcdf")


def write_result(folder, name: str, arrays: dict, meta: dict, ds) -> None:
    """A command's three data files in ``folder``: NAME.npz (the arrays), NAME.json (the report) and
    NAME.nc (the labelled Dataset), in that order."""
    folder = pathlib.Path(folder)
    write_npz(folder / f"{name}.npz", **arrays)
    write_json(folder / f"{name}.json", meta)
    write_dataset(folder / f"{name}.nc", ds)


def load(path):
    """A result back: from a result folder (its labelled file) or a ``.nc`` file, an xarray Dataset in memory
    with the arrays as written (complex ones joined again) and the provenance in ``attrs``; ValueError when
    ``path`` is neither."""
    import xarray as xr

    path = pathlib.Path(path)
    if path.is_dir():
        found = [path / name for name in FILES.values() if (path / name).is_file()]
        if not found:
            raise ValueError(f"{str(path)!r} is not a jaxsge result folder: none of {', '.join(FILES.values())} in it "
                             "(results of jaxsge before 0.3.0 have none: run the command again)")
        path = found[0]
    elif not path.is_file():
        raise ValueError(f"{str(path)!r} does not exist")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as opened:
            ds = opened.load()
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"{str(path)!r} is not a jaxsge result (a NetCDF4 file written by jaxsge): {err}") from None
    if ds.attrs.get("kind") not in FILES:
        raise ValueError(f"{str(path)!r} is not a jaxsge result: no result kind in its attributes")
    for name in [n for n in ds.data_vars if n.endswith("__real")]:
        base = name[:-len("__real")]
        ds[base] = ds[name] + 1j * ds[f"{base}__imag"]
        ds[base].attrs = {"units": ds[name].attrs.get("units", "")}
        ds = ds.drop_vars([name, f"{base}__imag"])
    return ds


def stack_of(ds):
    """The Stack a result was computed for, equal to the original (``Stack.from_dict`` of its ``stack`` attribute)."""
    from ..model.stack import Stack

    return Stack.from_dict(json.loads(ds.attrs["stack"]))


def meta_of(ds) -> dict:
    """The command's JSON report stored with the result (the ``meta`` attribute)."""
    return json.loads(ds.attrs.get("meta", "{}"))


# -------------------------------------------------------------------------------------------------
# One builder per result kind: the arrays the command writes into its .npz, labelled.


def scan_dataset(arrays, meta, attrs, figure, contours=None, energy=None, sweep=None):
    """scan.nc: dimensions compare (one panel per --compare value), [energy (--energy: the Fermi energies, in t) or
    the swept parameter (--sweep NAME: a dimension named NAME),] phi, to_lead, to_spin, from_lead, from_spin,
    lead, spin; ``figure``: what the figures show (JSON-able); ``contours``: per panel the 2DEG's Fermi contours
    (``observables.fermi.junction_contours``) or None; ``energy``: where the Fermi energy is not an axis, its
    value as a scalar coordinate; ``sweep``: (NAME, attributes of its coordinate: units, long_name, description),
    NAME also the ``sweep`` attribute of the Dataset."""
    arrays = dict(arrays)
    n_panels = np.shape(arrays["T"])[0]
    coords = {"phi": arrays.pop("phi"), "compare": arrays.pop("compare_values", np.arange(n_panels, dtype=float)),
              **_lead_coords(meta["leads"])}
    lead = ("compare", "phi")
    axis = sweep[0] if sweep is not None else "energy" if "energy" in arrays else None
    if axis is not None:  # the energy axis of --energy, or the parameter of --sweep
        coords[axis] = arrays.pop(axis)
        lead = ("compare", axis, "phi")
        if sweep is not None:
            attrs = {**attrs, "sweep": axis}
    scalars = {"theta": arrays.pop("theta")}
    arrays.update(_contour_arrays(contours, ("compare",)))
    coords.update(_contour_coords(contours))
    ds = dataset("scan", arrays, coords, lambda name: [(*lead, *T_DIMS), (*lead, *OPEN_DIMS), ("compare", *OPEN_DIMS),
                                                       lead, *_contour_templates(name, ("compare",))],
                 {**attrs, "meta": json.dumps(plain(meta)), "figure": json.dumps(figure)})
    if sweep is not None:
        ds[axis].attrs.update(sweep[1])
    elif "energy" in coords:
        ds["energy"].attrs["long_name"] = f"Fermi energy ({attrs.get('energy_name', 'energy')})"
    if energy is not None:
        ds = ds.assign_coords(energy=((), np.asarray(energy), {"units": "t"}))
    return ds.assign_coords(theta=((), scalars["theta"], {"units": "rad"}))


def sensitivity_dataset(arrays, meta, attrs, figure):
    """sensitivity.nc: dimensions [realization,] phi, the transmission dimensions, and parameter (the --wrt
    names) for the derivatives ``d_Q`` (``d_Q.sel(parameter=NAME)`` is ``dQ_dNAME`` of sensitivity.npz)."""
    arrays = dict(arrays)
    wrt = meta["wrt"]
    coords = {"phi": arrays.pop("phi"), "parameter": np.asarray(wrt), **_lead_coords(meta["leads"])}
    if "realizations" in arrays:
        coords["realization"] = arrays.pop("realizations")
    theta = arrays.pop("theta")
    values = {k: v for k, v in arrays.items() if not k.startswith("d") or "_d" not in k}
    for name in [k for k in values if not k.startswith("d")]:
        keys = [f"d{name}_d{w}" for w in wrt]
        if all(k in arrays for k in keys):
            values[f"d_{name}"] = np.stack([arrays[k] for k in keys])
    lead = ("realization", "phi") if "realization" in coords else ("phi",)
    ds = dataset("sensitivity", values, coords,
                 lambda name: [(*(("parameter",) if name.startswith("d_") else ()), *lead, *tail)
                               for tail in (T_DIMS, OPEN_DIMS, ())],
                 {**attrs, "meta": json.dumps(plain(meta)), "figure": json.dumps(figure)},
                 units={f"d_{q}": "e^2/h per unit of the parameter" for q in values})
    return ds.assign_coords(theta=(() if np.ndim(theta) == 0 else ("theta",), theta, {"units": "rad"}))


def stack_dataset(arrays, meta, attrs, figure):
    """stack.nc: [phi,] and the transmission dimensions; energy and theta as scalar coordinates."""
    arrays = dict(arrays)
    phi, theta, energy = (np.asarray(arrays.pop(k)) for k in ("phi", "theta", "energy"))
    coords = _lead_coords(meta["leads"])
    lead = ()
    if phi.ndim:
        coords["phi"], lead = phi, ("phi",)
    if "T_orbital" in arrays:  # orbital index 0 .. n - 1; each lead's labels are the meta's "orbitals"
        orbitals = np.arange(np.shape(arrays["n_open_orbital"])[-2])
        coords.update(orbital=orbitals, to_orbital=orbitals, from_orbital=orbitals)
    ds = dataset("stack", arrays, coords,
                 lambda name: {"T_orbital": [(*lead, *T_ORBITAL_DIMS)], "n_open_orbital": [(*lead, *OPEN_ORBITAL_DIMS)]
                               }.get(name, [(*lead, *T_DIMS), (*lead, *OPEN_DIMS), OPEN_DIMS, lead]),
                 {**attrs, "meta": json.dumps(plain(meta)), "figure": json.dumps(figure)})
    ds = ds.assign_coords(energy=((), energy, {"units": "t"}))
    if not phi.ndim:
        ds = ds.assign_coords(phi=((), phi, {"units": "rad"}))
    return ds.assign_coords(theta=(() if theta.ndim == 0 else ("theta_dim",), theta, {"units": "rad"}))


def ensemble_dataset(arrays, meta, attrs, figure, cases, contours=None):
    """ensemble.nc: one dimension per case axis (named as the parameter, the disorder strength last), then
    realization, phi and the transmission dimensions; clean_* lack the disorder axis, the statistics lack
    realization; harmonic m, and the running measures over n (realizations so far)."""
    arrays = dict(arrays)
    names = [name for name, _ in cases]
    coords = {"phi": arrays.pop("phi"), **{name: np.asarray(values, dtype=float) for name, values in cases},
              **_lead_coords(meta["leads"]), "realization": np.arange(meta["n_realizations"])}
    for name in names:
        arrays.pop(f"case_{name}", None)
    arrays.update(_contour_arrays(contours, tuple(names[:-1])))
    coords.update(_contour_coords(contours))
    n = meta["n_realizations"]
    coords["n"] = np.arange(1, n + 1)

    def templates(name):
        cs = tuple(names) if not name.startswith("clean_") else tuple(names[:-1])
        return [(*cs, "realization", "phi", *T_DIMS), (*cs, "realization", "phi", *OPEN_DIMS),
                (*cs, "realization", *OPEN_DIMS), (*cs, "realization", "phi"), (*cs, "phi", *T_DIMS),
                (*cs, "phi", *OPEN_DIMS), (*cs, *OPEN_DIMS), (*cs, "phi"), (*cs, "n", "phi"), (*cs, "n"),
                (*cs, "harmonic"), (*cs, "n_minus_1"), *_contour_templates(name, tuple(names[:-1]))]

    return dataset("ensemble", arrays, coords, templates,
                   {**attrs, "meta": json.dumps(plain(meta)), "figure": json.dumps(figure),
                    "case_axes": json.dumps(names)})


def densities_dataset(arrays, meta, attrs, figure):
    """densities.nc: ``density`` with dimensions [realization,] phi, layer, lead, operator, x, y (site maps),
    ``total`` without x, y (layer totals), ``torque_total`` ([realization,] phi, layer, lead, component; with the
    three spin operators), ``magnetization`` (phi, layer, component) and the operators' blocks
    ``operator_matrix`` (operator, row, col; complex); theta and the Fermi energy as scalar coordinates."""
    arrays = dict(arrays)
    theta, energy = (np.asarray(arrays.pop(k)) for k in ("theta", "energy"))
    coords = {"phi": arrays.pop("phi"), "layer": arrays.pop("layers"), "lead": np.asarray(meta["leads"]),
              "operator": np.asarray(meta["operators"]), "component": np.asarray(["x", "y", "z"])}
    coords["x"], coords["y"] = (np.arange(n) for n in np.shape(arrays["density"])[-2:])
    lead = ("phi",)
    if "realizations" in arrays:
        coords["realization"], lead = arrays.pop("realizations"), ("realization", "phi")
    units = {"density": "1/t per site (sum over the lead's channels of psi^dagger O psi; per unit bias: / 2 pi)",
             "total": "1/t per layer (per unit bias: / 2 pi)", "magnetization": "unit vector", "operator_matrix": "",
             "torque_total": "1 (angular momentum per unit time given to the layer's magnetization, hbar = 1, as "
                             "density times t; per unit bias: / 2 pi)"}
    ds = dataset("densities", arrays, coords,
                 lambda name: [(*lead, "layer", "lead", "component")] if name == "torque_total" else [
                     (*lead, "layer", "lead", "operator", "x", "y"), (*lead, "layer", "lead", "operator"),
                     ("phi", "layer", "component"), ("operator", "row", "col")],
                 {**attrs, "meta": json.dumps(plain(meta)), "figure": json.dumps(figure)}, units=units)
    return ds.assign_coords(theta=((), theta, {"units": "rad"}), energy=((), energy, {"units": "t"}))


def _lead_coords(leads):
    leads = np.asarray(list(leads))
    spins = np.asarray(["+", "-"])
    return {"lead": leads, "to_lead": leads, "from_lead": leads, "spin": spins, "to_spin": spins, "from_spin": spins}


def _contour_arrays(contours, lead_dims):
    """The Fermi contours (per panel: a list over angles of phi, k, bands) as ``fermi_bands`` with dimensions
    ``(*panels, fermi_phi, band, fermi_ky, fermi_kx)``; nothing without contours."""
    if not contours or not all(contours):
        return {}
    return {"fermi_bands": np.asarray([[c["bands"] for c in panel] for panel in contours])}


def _contour_coords(contours):
    if not contours or not all(contours):
        return {}
    k = np.asarray(contours[0][0]["k"])
    return {"fermi_phi": np.asarray([c["phi"] for c in contours[0]]), "fermi_kx": k, "fermi_ky": k}


def _contour_templates(name, lead_dims):
    if name != "fermi_bands":
        return []
    return [(*lead_dims, "fermi_phi", "band", "fermi_ky", "fermi_kx")]


def contours_of(ds, panels):
    """The Fermi contours stored in ``ds`` back as ``junction_contours`` gives them, one list per panel (flattened
    panel index); None when the result has none."""
    if "fermi_bands" not in ds:
        return None
    bands = np.asarray(ds["fermi_bands"].values)
    bands = bands.reshape((panels,) + bands.shape[-4:])
    k = np.asarray(ds["fermi_kx"].values)
    return [[{"phi": float(a), "k": k, "bands": bands[p, i]} for i, a in enumerate(ds["fermi_phi"].values)]
            for p in range(panels)]
