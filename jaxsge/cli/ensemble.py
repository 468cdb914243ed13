"""``jaxsge ensemble CONFIG --out DIR [--resume] [--force] [--overwrite]``: disorder-averaged G_sc(phi) (Fig. 3).

The config is a junction or a stack config with ``n_realizations``, ``n_phi`` (default 64) and
the disorder strength ``K0`` (one value or a list); any other parameter may be a list too
(``xi = [7.2, 9.6]``): one case per combination. The run is resumable (``--resume``),
reproducible from ``seed`` and the realization index, and refuses to mix or shrink runs
(``--force`` to report on fewer realizations than the folder holds; ``--overwrite`` to replace
a previous ensemble run in the folder and start again). Multi-process runs (one
process per GPU, on one or several machines sharing the output folder) go through
``jax.distributed``: ``--distributed`` lets JAX detect the cluster (SLURM, Open MPI, ...), or
``--coordinator HOST:PORT --num-processes N --process-id I`` names it (``docs/ensemble.md``).
``--time-limit SECONDS`` stops before a block of units that would end past it; the exit status
is then 3 (more to do: run again with ``--resume``), 0 when the run is complete.
"""

from __future__ import annotations

import argparse

from ..core.batching import memory_budget
from ..core.precision import x64
from ..ensemble.report import run_and_report
from ..ensemble.spec import spec_from_settings, validate_spec
from ..io.config import load_config
from ..io.results import provenance
from .common import add_config, add_output, add_solver, check_backend, command_line, plain_text, quantity_text

MORE_TO_DO = 3  # exit status of a run stopped by --time-limit with units left


def add_parser(sub):
    cmd = sub.add_parser("ensemble", help="disorder-averaged G_sc(phi) over realizations (Fig. 3), resumable",
                         description=plain_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config(cmd, "; plus n_realizations, n_phi and K0 (a number or a list)",
               "--set n_realizations=150 --set K0=0.5,1.0")
    add_solver(cmd, memory="per device for one block of units")
    add_output(cmd, "output folder (manifest.json, units/, ensemble.npz, stats.json, ensemble.nc, figures)")
    cmd.add_argument("--resume", action="store_true",
                     help="continue the run in --out: compute only missing realizations")
    cmd.add_argument("--force", action="store_true",
                     help="with --resume: accept fewer realizations than the folder holds (the extra ones are kept)")
    cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
    cmd.add_argument("--time-limit", type=float, metavar="SECONDS",
                     help=f"start no block of units that would end past this many seconds; exit status {MORE_TO_DO} "
                          "when units are left (continue with --resume)")
    dist = cmd.add_argument_group("multi-process runs (jax.distributed)")
    dist.add_argument("--distributed", action="store_true",
                      help="call jax.distributed.initialize() with the cluster's own settings (SLURM, Open MPI, ...)")
    dist.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0's coordinator")
    dist.add_argument("--num-processes", type=int, help="number of processes")
    dist.add_argument("--process-id", type=int, help="index of this process, 0 .. num_processes - 1")
    return cmd


def _initialize_distributed(args) -> bool:
    """Start jax.distributed if the options ask for it; whether it was started."""
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if not args.distributed and all(v is None for v in explicit):
        return False
    if not args.distributed and any(v is None for v in explicit):
        raise ValueError("--coordinator, --num-processes and --process-id go together (or use --distributed)")
    if args.num_processes is not None and not (args.num_processes >= 1 and 0 <= args.process_id < args.num_processes):
        raise ValueError(f"--process-id {args.process_id} must satisfy 0 <= process_id < num_processes = "
                         f"{args.num_processes}")
    import jax

    jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                               process_id=args.process_id)
    return True


def spec_of(args):
    """The validated EnsembleSpec of the parsed options (config, --set, --path, --precision, --no-fold)."""
    config = load_config(args.config, args.set, allow_lists=True)
    spec = spec_from_settings(config.system, config.lists, config.settings.get("n_realizations"),
                              config.settings.get("n_phi", 64), path=args.path, precision=args.precision,
                              fold=not args.no_fold)
    validate_spec(spec)
    return spec


@x64
def run(args, argv=None) -> int:
    # JAX's multi-process runtime must start before anything touches a device, even validation
    # (the junction is built with jax.numpy).
    if _initialize_distributed(args):
        check_backend()  # main could not check before jax.distributed started
    spec = spec_of(args)
    if args.force and not args.resume:
        raise ValueError("--force only applies with --resume")
    if args.overwrite and args.resume:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: give one of them")
    memory_budget(args.memory_gib)
    if args.time_limit is not None and not (args.time_limit > 0 and args.time_limit < float("inf")):
        raise ValueError(f"--time-limit {args.time_limit!r} must be a positive number of seconds")
    meta = run_and_report(spec, args.out, resume=args.resume, force=args.force, memory_budget_gib=args.memory_gib,
                          progress=not args.no_progress, time_limit=args.time_limit,
                          attrs=provenance(spec.system, args.config, command_line(argv)), overwrite=args.overwrite)
    if meta is not None and "more_to_do" in meta:
        run_info = meta["last_run"]
        print(f"computed {run_info['computed']} units in {run_info['seconds']:.1f} s; more to do: {meta['more_to_do']} "
              f"units left after the time limit of {args.time_limit:g} s: run again with --resume")
        return MORE_TO_DO
    if meta is not None:
        for case in meta["cases"]:
            label = ", ".join(quantity_text(k, v) for k, v in case["case"].items())
            error = (f", relative standard error {case['relative_stderr']:.2g}" if "relative_stderr" in case
                     else ", standard error undefined (one realization)")
            print(f"{label}: {case['n_realizations']} realizations, max |<G_sc>| = {case['max_abs_mean_Gsc']:.4g} "
                  f"e^2/h{error}")
        run_info = meta["last_run"]
        for key, why in meta["undefined"].items():
            print(f"{key}: {why}")
        print(f"computed {run_info['computed']} units ({run_info['evaluations']} evaluations) in "
              f"{run_info['seconds']:.1f} s; wrote {args.out}/ensemble.npz, stats.json, ensemble.nc, "
              + ", ".join(meta["figures"]))
    return 0


if __name__ == "__main__":  # python -m jaxsge.cli.ensemble ensemble ...: as the multi-process tests start it
    import sys

    from .main import main

    sys.exit(main(sys.argv[1:]))
