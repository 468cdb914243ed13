"""``jaxsge well CONFIG --out DIR [--overwrite] [--set NAME=VALUE ...]``: the magnetic quantum well of A. Hariri,
M. Alawein, A. Manchon, arXiv:1907.07116 (its Figs. 2-6).

The config (``configs/well_paper.toml``) is read by :mod:`jaxsge.well.config` (``--set d=3``,
``--set fig3.n_alpha=51``); :func:`jaxsge.well.figures.well_report` checks every input and the output
folder first (a previous well result there is replaced only with ``--overwrite``), then writes ``well.npz``,
``well.json`` and ``well_fig2_states.png`` ... ``well_fig6_thickness.png``; each progress bar names its figure.
"""

from __future__ import annotations

import time

from ..core.precision import x64
from ..well.config import load_well_config
from ..well.figures import UNITS_NOTE, well_report
from .common import add_output, command_line


def add_parser(sub):
    cmd = sub.add_parser("well", help="magnetic quantum well with interfacial Rashba coupling "
                                      "(Figs. 2-6 of Hariri, Alawein, Manchon)")
    cmd.add_argument("config", help="TOML file with a [well] table and figure tables (configs/well_paper.toml)")
    add_output(cmd, "output folder (well.npz, well.json, well_fig*.png)")
    cmd.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override a well parameter (d=3) or a figure setting (fig3.n_alpha=51); repeatable")
    cmd.add_argument("--no-progress", action="store_true", help="no progress bars")
    return cmd


@x64
def run(args, argv=None) -> int:
    params, sections = load_well_config(args.config, args.set)
    start = time.perf_counter()
    meta = well_report(params, sections, args.out, progress=not args.no_progress, command=command_line(argv),
                       overwrite=args.overwrite)
    summary = meta["summary"]
    for entry in summary["fig2"]:
        print(f"alpha_L = {entry['alpha_L']:g}, alpha_R = {entry['alpha_R']:g}: {entry['n_states']} states "
              f"({entry['n_plus']} +, {entry['n_minus']} -), int_0^d S_y dz = {entry['S_well']:.5g}")
    for entry in summary["fig3"]:
        changes = ", ".join(f"{c['n_before']}->{c['n_after']} at alpha_L = {c['alpha_L']:.5g}"
                            for c in entry["state_changes"]) or "none"
        print(f"alpha_R = {entry['alpha_R']:g}: {entry['n_states_at_0']} states at alpha_L = 0; changes: {changes}")
    for entry in summary["fig6"]:
        print(f"alpha_L = -alpha_R = {entry['alpha_L']:g}: first state at d = {entry['d_first_state']}, "
              f"maxima of int S below {sections['fig6']['maxima_below']:g} nm at d = "
              f"{[round(x, 3) for x, _ in entry['local_maxima_S_well']]}")
    for key, why in meta.get("undefined", {}).items():
        print(f"{key}: undefined ({why})")
    print(f"wrote {args.out}: well.npz, well.json, well_fig2..6 png, run.json in {time.perf_counter() - start:.1f} s "
          f"({UNITS_NOTE})")
    return 0
