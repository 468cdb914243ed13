"""Options shared by the commands, and how they become solver arguments."""

from __future__ import annotations

import os
import re
import sys

from ..core.batching import memory_budget
from ..plan.plan import PRECISIONS, SOLVERS
from ..solve.transmissions import LEAN_NOTE

CONFIG_HELP = ("TOML config: a junction (keys of docs/model.md, optionally preset = ...) or a stack written layer by "
               "layer ([[layers]] tables); see docs/configs.md")


def add_config(cmd, note: str = "", example: str = "--set phi=pi/4") -> None:
    cmd.add_argument("config", help=CONFIG_HELP + note)
    cmd.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help=f"override a parameter or setting (repeatable), e.g. {example}")


def add_output(cmd, what: str, *, required: bool = True, metavar: str = "DIR") -> None:
    """``--out`` and ``--overwrite``: the one overwrite policy of every command that writes a result
    (``io.files.Output``): a non-empty ``--out`` is refused unless ``--overwrite`` is given, and then only a
    previous result of the same command is replaced."""
    cmd.add_argument("--out", required=required, metavar=metavar, help=what)
    cmd.add_argument("--overwrite", action="store_true",
                     help="replace a previous result of this command in --out (without it, a non-empty --out is "
                          "refused; files that are not this command's result are never replaced)")


SOLVER_OPTIONS = ("--path", "--precision", "--no-fold", "--memory-gib")


def add_solver(cmd, memory: str = "for one batch of evaluations") -> None:
    """The solver options of every command that solves (:data:`SOLVER_OPTIONS`), turned into solver arguments by
    :func:`solver_options` and recorded by :func:`requested`."""
    cmd.add_argument("--path", choices=SOLVERS, default="auto",
                     help="solver of the lowest layer slice: dense LU, Krylov (GMRES), or auto (default)")
    cmd.add_argument("--precision", choices=PRECISIONS, default="auto",
                     help="arithmetic of that solve: double (complex128), mixed (a complex64 LU refined to double "
                          "accuracy by GMRES, where the Krylov path's operator exists), or auto (default: mixed where "
                          "it applies and is measured faster; docs/performance.md)")
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
    return {"path": args.path, "precision": args.precision, "fold": not args.no_fold}


def lean_note(reflection_resolved: bool, why: str = "every channel would exceed the memory budget"):
    """What every command prints and writes when it took the lean right-hand sides (by default
    because the memory budget chose them: ``solve.transmissions.choose_reflection``), or None."""
    if reflection_resolved:
        return None
    return f"lean right-hand sides ({why}): " + LEAN_NOTE


def command_line(argv) -> list:
    return list(sys.argv if argv is None else ["jaxsge", *argv])


def check_n_phi(n, minimum: int) -> int:
    """The number of angles of a phi scan (``--nphi`` or the config's ``n_phi``), checked."""
    if isinstance(n, bool) or not isinstance(n, int) or not minimum <= n <= 100_000:
        raise ValueError(f"nphi = {n!r} must be an integer between {minimum} and 100000")
    return n


def plain_text(docstring: str) -> str:
    """A docstring as help text: reStructuredText literals and roles (``x``, :func:`x`) become plain x."""
    return re.sub(r":[a-z]+:`~?([^`]+)`|``([^`]+)``", lambda m: m.group(1) or m.group(2), docstring)


def starts_distributed(args) -> bool:
    """Whether the command starts JAX's multi-process runtime itself (which must precede any device query)."""
    return bool(getattr(args, "distributed", False)) or any(
        getattr(args, name, None) is not None for name in ("coordinator", "num_processes", "process_id"))


def check_backend() -> None:
    """ValueError unless JAX can start a backend: an unknown or unavailable ``JAX_PLATFORMS`` (cuda on a
    machine without a GPU, a misspelt name) is reported in one line before anything is read or written."""
    import jax

    try:
        jax.devices()
    except (RuntimeError, AssertionError) as err:  # JAX raises AssertionError for a platform without its plugin
        asked = os.environ.get("JAX_PLATFORMS", "")
        detail = str(err).split(" (set JAX_PLATFORMS")[0].strip().rstrip(".") or "no such backend on this machine"
        raise ValueError(f"JAX cannot start the backend JAX_PLATFORMS={asked!r}: {detail}; set JAX_PLATFORMS to a "
                         "platform this machine has (cpu, or cuda with a GPU and jax[cuda]) or unset it") from None


def run_command(args, argv) -> int:
    """Run a parsed command, the JAX backend checked first (after ``jax.distributed`` starts, for a
    multi-process ensemble), and memory exhausted on the device or the host turned into a one-line error."""
    if not starts_distributed(args):
        check_backend()
    from jax.errors import JaxRuntimeError

    try:
        return args.run(args, argv)
    except JaxRuntimeError as err:
        if "RESOURCE_EXHAUSTED" not in str(err) and "out of memory" not in str(err).lower():
            raise
        raise ValueError(f"the device ran out of memory ({str(err).splitlines()[0][:200]}); give a smaller "
                         "--memory-gib (memory per batch of evaluations) or a smaller junction") from None
    except MemoryError:
        raise ValueError("the host ran out of memory; give a smaller --memory-gib (memory per batch of "
                         "evaluations) or a smaller junction") from None


def quantity_text(name: str, value) -> str:
    """``name = value unit`` in plain text for a summary line: angles in multiples of pi, energies in units of t,
    lengths in lattice constants a (``plot.style.unit``), e.g. ``xi = 7.2 a``, ``mu = 1.1 t``, ``phi = pi/4``."""
    from ..plot.style import unit

    value = float(value)
    if name in ("theta", "phi"):
        return f"{name} = {angle_text(value)}"
    u = unit(name)
    return f"{name} = {value:.4g}" + (f" {u}" if u else "")


def angle_text(angle: float) -> str:
    """An angle (radians) in multiples of pi as plain text: 0, pi/4, 3pi/2, 0.0955pi (``plot.style.pi_fraction``)."""
    from ..plot.style import pi_fraction

    return pi_fraction(angle).replace("\\pi", "pi")
