"""``jaxsge sensitivity CONFIG --out DIR --wrt alpha3,dxc [--nphi 64]``: derivatives by automatic differentiation.

Values and exact derivatives of G_sc, G_cs and every spin-resolved transmission with respect to
any parameter of the junction or stack (``--wrt``: names of ``model.system``, e.g. alpha3, dxc,
xi, U0, mu, K0 for the paper's junction; alpha1 for its barrier mechanism; layers[2].alpha1 or
M.dxc for a stack). ``--nphi N``: the angles 2 pi j / N (N = 1: the config's phi). With
``n_realizations`` in the config (and disorder), every realization 0 .. n - 1 is evaluated.
Writes ``sensitivity.npz``, ``sensitivity.json`` (every parameter, the angles, the maxima),
``sensitivity.png`` (G_sc and its derivatives against phi), ``sensitivity.nc`` (labelled, with the
provenance: ``io.results``) and ``run.json``, replacing a previous
sensitivity result in that folder as a whole with ``--overwrite`` (README.md, Output files).
"""

from __future__ import annotations

import time

import numpy as np

from .. import __version__
from ..core.precision import x64
from ..io.config import load_config
from ..io.files import result_folder
from ..observables.harmonics import uniform_phi
from ..observables.response import conversion_axes
from ..observables.sensitivity import sensitivities
from ..io.results import provenance, sensitivity_dataset, write_result
from ..plot.results import draw_sensitivity
from ..plot.style import unit, value_text
from .common import add_config, add_output, add_solver, check_n_phi, command_line, lean_note, requested, solver_options


FILES = ("sensitivity.npz", "sensitivity.json", "sensitivity.nc", "sensitivity.png")


def add_parser(sub):
    cmd = sub.add_parser("sensitivity", help="G_sc, G_cs and their derivatives (automatic differentiation) over phi")
    add_config(cmd)
    add_solver(cmd)
    add_output(cmd, "output folder (sensitivity.npz, sensitivity.json, sensitivity.nc, sensitivity.png)")
    cmd.add_argument("--wrt", default="alpha3", help="comma-separated parameters, e.g. alpha3,dxc (default alpha3)")
    cmd.add_argument("--nphi", type=int, help="number of angles phi on [0, 2 pi) (1: the config's phi; default 64)")
    cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
    return cmd


@x64
def run(args, argv=None) -> int:
    config = load_config(args.config, args.set)
    options = solver_options(args)
    wrt = [name.strip() for name in args.wrt.split(",") if name.strip()]
    n_phi = check_n_phi(args.nphi if args.nphi is not None else config.settings.get("n_phi", 64), 1)
    system = config.system
    if n_phi == 1 and np.ndim(system.values["phi"]):
        raise ValueError("--nphi 1 evaluates at the config's phi, which must then be one number")
    phi = np.asarray([float(np.asarray(system.values["phi"]))]) if n_phi == 1 else uniform_phi(n_phi)
    n_real = config.settings.get("n_realizations")
    realizations = None if n_real is None else list(range(n_real))
    system.check_names(wrt, "--wrt: wrt =")
    # Decided by the input, before any work: the figure needs a phi scan and a G_sc (the injector M and a lead pair).
    figure = n_phi > 1 and bool(conversion_axes(system.stack().lead_names))
    with result_folder(args.out, "sensitivity", FILES, overwrite=args.overwrite) as out:
        start = time.perf_counter()
        s = sensitivities(system, wrt, phi=phi, realizations=realizations, progress=not args.no_progress, **options)
        seconds = time.perf_counter() - start
        arrays, meta, labelled = _result(config, argv, args, system, phi, realizations, s, seconds, figure)

        def write(folder):
            write_result(folder, "sensitivity", arrays, meta, labelled)
            draw_sensitivity(labelled, folder)

        written = out.commit(write)
    for q in [q for q in s.values if q != "T"]:
        for name in s.wrt:
            per = "rad" if name in ("theta", "phi") else unit(name) or "unit of the parameter"
            print(f"max over phi |d{q}/d{name}| = {meta['max_abs_derivative'][f'd{q}_d{name}']:.4g} e^2/h per {per}")
    if not figure:
        print("no figure: " + ("--nphi 1 is a single angle" if n_phi == 1 else f"the leads {s.leads} have no G_sc "
                               "(the injector M and the pair L, R or B, F)"))
    print(f"wrote {args.out}: {', '.join(written)} in {seconds:.1f} s")
    return 0


def _result(config, argv, args, system, phi, realizations, s, seconds, figure):
    """The arrays of sensitivity.npz, the content of sensitivity.json, and the labelled Dataset of sensitivity.nc
    (``io.results``), from which ``plot.results.draw_sensitivity`` draws sensitivity.png where ``figure``."""
    arrays = {"phi": phi, "theta": np.asarray(system.values["theta"], dtype=float), **s.values,
              **{f"d{q}_d{name}": d for q, per in s.derivatives.items() for name, d in per.items()}}
    if realizations is not None:
        arrays["realizations"] = np.asarray(realizations)
    scalars = [q for q in s.values if q != "T"]
    meta = {"jaxsge_version": __version__, "command": command_line(argv), "config": config.path,
            "system": system.describe(), "wrt": list(s.wrt), "leads": list(s.leads),
            "scanned": {"phi": phi.tolist(), "n_phi": phi.size, "realizations": realizations},
            "solver": {"requested": requested(args), **s.solver}, "seconds": seconds,
            "units": "conductances in e^2/h; derivatives in e^2/h per unit of the parameter (energies in t, angles in "
                     "radians); zero temperature",
            "arrays": {"sensitivity.npz": "phi (n_phi); " + ", ".join(scalars) + " ([n_realizations,] n_phi); T "
                                          "([n_realizations,] n_phi, n_leads, 2, n_leads, 2); dQ_dNAME: derivative of "
                                          "Q with respect to NAME, same shape as Q"},
            "max_abs_derivative": {f"d{q}_d{name}": float(np.abs(s.derivatives[q][name]).max())
                                   for q in scalars for name in s.wrt}}
    if lean_note(s.reflection_resolved):
        meta["note"] = lean_note(s.reflection_resolved)
        print(f"note: {meta['note']}")
    attrs = provenance(system, config.path, command_line(argv))
    if not figure:
        return arrays, meta, sensitivity_dataset(arrays, meta, attrs, {"sensitivity": False})
    stack, theta = system.stack(), float(np.asarray(system.values["theta"]))
    suptitle = (f"$G_{{\\mathrm{{sc}}}}$ and its derivatives: {value_text('theta', theta)}, "
                f"$L_x \\times L_y = {stack.Lx} \\times {stack.Ly}$"
                + (f", mean of {len(realizations)} realizations" if realizations else ""))
    return arrays, meta, sensitivity_dataset(arrays, meta, attrs, {"sensitivity": True, "suptitle": suptitle})
