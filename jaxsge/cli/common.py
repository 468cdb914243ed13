"""Options shared by the commands, and how they become solver arguments."""

from __future__ import annotations

import sys

from ..core.batching import memory_budget
from ..plan.plan import PRECISIONS, SOLVERS

CONFIG_HELP = ("TOML config: a junction (keys of docs/model.md, optionally preset = ...) or a stack written layer by "
               "layer ([[layers]] tables); see docs/configs.md")


def add_config(cmd, note: str = "", example: str = "--set phi=pi/4") -> None:
    cmd.add_argument("config", help=CONFIG_HELP + note)
    cmd.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help=f"override a parameter or setting (repeatable), e.g. {example}")


def add_solver(cmd, fold: bool = True, memory: str = "for one batch of evaluations") -> None:
    cmd.add_argument("--path", choices=SOLVERS, default="auto",
                     help="solver of the lowest layer slice: dense LU, Krylov (GMRES), or auto (default)")
    cmd.add_argument("--precision", choices=PRECISIONS, default="auto",
                     help="arithmetic of that solve: double (complex128), mixed (a complex64 LU refined to double "
                          "accuracy by GMRES, where the Krylov path's operator exists), or auto (default: mixed where "
                          "it applies and is measured faster; docs/performance.md)")
    if fold:
        cmd.add_argument("--no-fold", action="store_true", help="eliminate every layer densely (no folding, no "
                         "spin blocks): a cross-check of the folding")
    cmd.add_argument("--memory-gib", type=float, metavar="GIB",
                     help=f"memory budget {memory} (default: 60%% of what the device has)")


def solver_options(args) -> dict:
    """Solver keyword arguments from the options; the memory budget is checked against the machine now."""
    memory_budget(args.memory_gib)
    return {"fold": not args.no_fold, "path": args.path, "precision": args.precision,
            "memory_budget_gib": args.memory_gib}


def requested(args) -> dict:
    """The solver options as given, recorded in every result file beside the path taken."""
    return {"path": args.path, "precision": args.precision, "fold": not getattr(args, "no_fold", False)}


def command_line(argv) -> list:
    return list(sys.argv if argv is None else ["jaxsge", *argv])


def check_n_phi(n, minimum: int) -> int:
    """The number of angles of a phi scan (``--nphi`` or the config's ``n_phi``), checked."""
    if isinstance(n, bool) or not isinstance(n, int) or not minimum <= n <= 100_000:
        raise ValueError(f"nphi = {n!r} must be an integer between {minimum} and 100000")
    return n
