"""``jaxsge plot PATH [--format png|pdf|svg] [--out FOLDER]``: every figure of a result, redrawn from its files.

PATH: a result folder of ``scan``, ``sensitivity``, ``stack --out`` or ``ensemble`` (or its labelled
file scan.nc, sensitivity.nc, stack.nc, ensemble.nc). The figures are drawn from the saved data
alone (``plot.results``, the functions the commands themselves draw with): nothing is solved. The
Fermi contours of the paper's 2DEG are stored in the file as data. ``--out``: where the figures go
(default: the folder ``replot`` inside the result folder, so that the files the command wrote, which
its run.json lists with their SHA-256, stay as they were).
"""

from __future__ import annotations

import pathlib
import time

from ..io.files import output_file
from ..io.results import load
from ..plot.results import draw_result


def add_parser(sub):
    cmd = sub.add_parser("plot", help="redraw every figure of a result folder from its saved data (no solve)")
    cmd.add_argument("path", metavar="PATH", help="a result folder (or its scan.nc, sensitivity.nc, stack.nc, "
                     "ensemble.nc)")
    cmd.add_argument("--format", default="png", choices=("png", "pdf", "svg"), help="figure format (default png)")
    cmd.add_argument("--out", metavar="FOLDER", help="folder of the figures (default: replot/ in the result folder)")
    return cmd


def run(args, argv=None) -> int:
    start = time.perf_counter()
    ds = load(args.path)
    source = pathlib.Path(args.path)
    folder = pathlib.Path(args.out) if args.out else (source if source.is_dir() else source.parent) / "replot"
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {str(folder)!r} exists and is not a folder")
    output_file(folder / f"{ds.attrs['kind']}.{args.format}", "--out")  # writable (made if absent), before drawing
    written = draw_result(ds, folder, args.format)
    print(f"redrew {ds.attrs['kind']} result {args.path}: {', '.join(written) or 'no figure'} into {folder} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0
