"""``jaxsge plot PATH [--format png|pdf|svg] [--out FOLDER] [--overwrite]``: every figure of a result, redrawn.

PATH: a result folder of ``scan``, ``sensitivity``, ``densities``, ``stack --out`` or ``ensemble`` (or its
labelled file scan.nc, sensitivity.nc, densities.nc, stack.nc, ensemble.nc). The figures are drawn from the saved data
alone (``plot.results``, the functions the commands themselves draw with): nothing is solved. The
Fermi contours of the paper's 2DEG are stored in the file as data. ``--out``: where the figures go
(default: the folder ``replot`` inside the result folder, so that the files the command wrote, which
its run.json lists with their SHA-256, stay as they were). The figures and a ``run.json`` replace
the folder's previous content as a whole, under the overwrite policy of every command: a non-empty
``--out`` is refused unless ``--overwrite`` is given, and then only a previous ``plot`` result is
replaced. The default ``replot`` folder is the one exception: it holds only figures drawn from the
result beside it, so a new ``plot`` of that result replaces its previous ``replot`` without asking
(and a rerun of the command with ``--overwrite`` replaces it along with the result).
"""

from __future__ import annotations

import pathlib
import time

from ..io.files import REPLOT, result_folder
from ..io.results import load
from ..plot.results import draw_result
from .common import add_output


def add_parser(sub):
    cmd = sub.add_parser("plot", help="redraw every figure of a result folder from its saved data (no solve)")
    cmd.add_argument("path", metavar="PATH", help="a result folder (or its scan.nc, sensitivity.nc, densities.nc, "
                     "stack.nc, ensemble.nc)")
    cmd.add_argument("--format", default="png", choices=("png", "pdf", "svg"), help="figure format (default png)")
    add_output(cmd, "folder of the figures (default: replot/ in the result folder, replaced by each plot of that "
               "result)", required=False, metavar="FOLDER")
    return cmd


def run(args, argv=None) -> int:
    start = time.perf_counter()
    ds = load(args.path)  # a path that holds no result is refused before any folder is made
    source = pathlib.Path(args.path)
    default = args.out is None
    folder = (source if source.is_dir() else source.parent) / REPLOT if default else pathlib.Path(args.out)
    with result_folder(folder, "plot", overwrite=args.overwrite or default) as out:
        written = out.commit(lambda where: draw_result(ds, where, args.format))
    print(f"redrew {ds.attrs['kind']} result {args.path}: {', '.join(written) or 'no figure'} into {folder} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0
