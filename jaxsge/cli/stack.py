"""``jaxsge stack CONFIG [--nphi N] [--out DIR] [--explain] [--draw PATH]``: any layered junction, every pair of leads.

Prints, when the leads are named for it (L, R, and B, F, with the injector M), G_sc and G_cs first,
then the conductances between every pair of leads, spin-summed and spin-resolved (e^2/h). ``--explain`` says
which path the solver takes for each layer and why. ``--nphi`` scans phi on [0, 2 pi) and draws
g_sc(phi). ``--out`` writes ``stack.json`` (the stack's full description, the path and why, the
results, timings), ``stack.npz``, ``stack.nc`` (labelled, with the provenance: ``io.results``),
with ``--nphi`` ``polar.png``, and ``run.json``, replacing a
previous stack result in that folder as a whole with ``--overwrite`` (README.md, Output files). ``--draw PATH``
draws the junction (layers and what they carry, the leads by edge and layer, the magnetization direction)
into a new file (an existing one only with ``--overwrite``).
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from .. import __version__
from ..core.precision import x64
from ..io.config import load_config
from ..io.files import output_file, result_folder, write_json, write_npz
from ..observables.harmonics import uniform_phi
from ..observables.scan import normalised_amplitude, spin_charge_pair
from ..io.results import provenance, stack_dataset, write_dataset
from ..plot.junction import draw_stack
from ..plot.results import draw_stack_result
from ..plot.style import value_text
from ..solve.transmissions import solve
from .common import add_config, add_output, add_solver, check_n_phi, command_line, lean_note, requested, solver_options
from .conductance import conversion_lines, conversions_or_undefined, warn_undefined


FILES = ("stack.json", "stack.npz", "stack.nc", "polar.png")


def add_parser(sub):
    cmd = sub.add_parser("stack", help="any layered junction (configs/stack_*.toml): conductances, G_sc, path")
    add_config(cmd)
    add_solver(cmd)
    cmd.add_argument("--nphi", type=int, help="scan phi over this many values on [0, 2 pi) (at least 8)")
    cmd.add_argument("--explain", action="store_true", help="print which path the solver takes for each layer, and why")
    add_output(cmd, "output folder (stack.json, stack.npz, stack.nc, polar.png with --nphi)", required=False)
    cmd.add_argument("--draw", metavar="PATH", help="draw the junction (layers, leads, magnetization) into PATH "
                     "(.png, .pdf or .svg)")
    return cmd


def _print(result, energy, conversion, undefined) -> None:
    """G_sc and G_cs first (where the leads define them), then the conductances between every pair of leads."""
    T = np.asarray(result.T)
    leads = result.leads
    if T.ndim > 4:
        print(f"{T.shape[0]} angles; the numbers below are for the first one")
        T = T[0]
    print(f"at energy {energy:g}, zero temperature; conductances in e^2/h (transmission probabilities)")
    for line in conversion_lines(conversion, undefined):
        print(line)
    print("conductance G(a <- b) between leads, summed over both spins in and out (the diagonal, a lead's "
          "reflection, is left out):")
    print("  a \\ b" + "".join(f"{name:>12}" for name in leads))
    for i, a in enumerate(leads):
        print(f"  {a:<6}" + "".join(f"{'-' if i == j else format(T[i, :, j, :].sum(), '.6g'):>12}"
                                    for j in range(len(leads))))
    print("spin-resolved T(a <- b, s), summed over the spin in a; s = +/- along lead b's spin axis:")
    print("  b   s " + "".join(f"{'to ' + name:>12}" for name in leads))
    for j, b in enumerate(leads):
        for k, sign in enumerate("+-"):
            print(f"  {b:<4}{sign} " + "".join(f"{'-' if i == j else format(T[i, :, j, k].sum(), '.6g'):>12}"
                                              for i in range(len(leads))))
    print(f"current-conservation residual: {np.max(result.conservation_residual()):.2e} (max over incoming lead and "
          "spin of |sum of outgoing probabilities - open channels|)")
    if result.T_orbital is not None:
        print("orbitals per lead (every lead conserves orbital and spin; T_orbital[..., to_lead, to_orbital, to_spin, "
              "from_lead, from_orbital, from_spin] in the --out files): "
              + ", ".join(f"{lead} ({', '.join(names)})" for lead, names in result.orbitals.items()))


@x64
def run(args, argv=None) -> int:
    config = load_config(args.config, args.set)
    options = solver_options(args)
    system = config.system
    stack = system.stack()
    energy = float(np.asarray(system.energy()))
    if args.nphi is not None:
        stack = stack.replace(phi=uniform_phi(check_n_phi(args.nphi, 8)))
    draw = None
    if args.draw:
        if not args.draw.endswith((".png", ".pdf", ".svg")):
            raise ValueError(f"--draw {args.draw!r}: the file name must end in .png, .pdf or .svg")
        draw = output_file(args.draw, "--draw", overwrite=args.overwrite)
    output = (result_folder(args.out, "stack", FILES, overwrite=args.overwrite) if args.out is not None
              else contextlib.nullcontext())
    with output:
        start = time.perf_counter()
        # One angle: every channel when it fits the memory budget; a scan needs the side leads' only.
        result = solve(stack, energy, reflection="auto" if args.nphi is None else False,
                       progress=args.nphi is not None, **options)
        seconds = time.perf_counter() - start
        conversion, undefined = conversions_or_undefined(result)
        warn_undefined(undefined)
        note = lean_note(result.reflection_resolved, "a scan needs the side leads' channels only" if args.nphi else
                         "every channel would exceed the memory budget")
        if draw is not None:
            draw_stack(system.stack(), draw, title=f"junction of {config.path.rsplit('/', 1)[-1]}")
            print(f"wrote {args.draw}")
        if args.out is not None:
            written = output.commit(lambda folder: _write(folder, args, argv, config, stack, energy, result, conversion,
                                                          undefined, seconds, note))
    if args.explain:
        print(result.plan.explain())
    _print(result, energy, conversion, undefined)
    print(f"solver: {result.plan.summary} ({seconds:.2f} s)")
    if note:
        print(f"note: {note}")
    if args.out is not None:
        print(f"wrote {args.out}: {', '.join(written)}")
    return 0


def _write(folder, args, argv, config, stack, energy, result, conversion, undefined, seconds, note) -> None:
    """stack.json, stack.npz, stack.nc and, with --nphi where g_sc is defined, polar.png into ``folder``."""
    report = {"jaxsge_version": __version__, "command": command_line(argv), "config": config.path, "energy": energy,
              "leads": list(result.leads), "T": result.T, "n_open": result.n_open,
              "conservation_residual": result.conservation_residual(),
              "solver": {"requested": requested(args), **result.solver_report,
                         "explain": result.plan.explain(), "seconds": seconds},
              "system": config.system.describe(), **conversion,
              "units": "conductances in e^2/h (transmission probabilities) at zero temperature; angles in radians",
              "axes": "T[..., to_lead, to_spin, from_lead, from_spin]; spin 0/1 = +/- along each lead's axis"}
    orbital = {} if result.T_orbital is None else {"T_orbital": result.T_orbital,
                                                     "n_open_orbital": result.n_open_orbital}
    if orbital:
        report.update(orbital, conserved=result.conserved, orbitals=result.orbitals,
                      axes_orbital="T_orbital[..., to_lead, to_orbital, to_spin, from_lead, from_orbital, from_spin]: "
                      "resolved by what each lead conserves (orbital and spin); each lead's orbitals as in 'orbitals', "
                      "zeros beyond a lead's own")
        if not result.reflection_resolved:
            report["axes_orbital"] += "; the top lead's self-reflection block is not computed (zeros, see note)"
    if args.nphi is not None:
        report["scanned"] = {"phi": "2 pi j / n_phi", "n_phi": args.nphi}
    if undefined:
        report["undefined"] = undefined
    if not result.reflection_resolved:
        report["note"] = note
    write_json(folder / "stack.json", report)
    arrays = dict(T=result.T, n_open=result.n_open, theta=np.asarray(stack.theta), phi=np.asarray(stack.phi),
                  energy=energy, **conversion, **orbital)
    write_npz(folder / "stack.npz", **arrays)
    figure = {"polar": False}
    if args.nphi is not None and any(key.startswith("Gsc_") for key in conversion):
        with contextlib.suppress(ValueError):  # G_sc vanishes at every angle: no figure
            normalised_amplitude(*spin_charge_pair(conversion))  # an axis without its lead pair is zero
            theta = float(np.ravel(np.asarray(stack.theta))[0])
            figure = {"polar": True, "titles": [config.path.rsplit("/", 1)[-1]],
                      "suptitle": (f"spin-charge conductance $|G_{{\\mathrm{{sc}}}}|(\\varphi)$: "
                                   f"{value_text('theta', theta)}, {value_text('energy', energy)}")}
    labelled = stack_dataset(arrays, {k: v for k, v in report.items() if k not in ("T", "n_open", *orbital)},
                             provenance(config.system, config.path, command_line(argv), stack), figure)
    write_dataset(folder / "stack.nc", labelled)
    draw_stack_result(labelled, folder)
