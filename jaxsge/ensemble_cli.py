"""Command line of disorder ensembles: ``jaxsge ensemble CONFIG.toml --out DIR [--resume]``.

Multi-process runs (one process per GPU, on one or several machines sharing the output folder)
go through ``jax.distributed``: ``--distributed`` lets JAX detect the cluster (SLURM, Open MPI,
...), or ``--coordinator HOST:PORT --num-processes N --process-id I`` names it explicitly.
"""

from __future__ import annotations

import argparse
import sys

CONFIG_HELP = ("TOML file: the junction parameters of shared/model.md plus n_realizations, n_phi (default 64); "
               "K0 and xi may be lists, e.g. K0 = [0.5, 1.0]")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``ensemble`` subcommand; its handler is ``args.handler(args)`` -> exit code."""
    cmd = subparsers.add_parser("ensemble", help="disorder-averaged G_sc(phi) over realizations (Fig. 3), resumable",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("config", help=CONFIG_HELP)
    cmd.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override a setting (repeatable), e.g. --set n_realizations=150 --set K0=0.5,1.0")
    cmd.add_argument("--out", required=True, help="output folder (manifest.json, units/, ensemble.npz, stats.json, figures)")
    cmd.add_argument("--resume", action="store_true", help="continue the run in --out: compute only missing realizations")
    cmd.add_argument("--memory-gib", type=float,
                     help="memory budget per device for one block of evaluations (default 4 GiB)")
    cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
    dist = cmd.add_argument_group("multi-process runs (jax.distributed)")
    dist.add_argument("--distributed", action="store_true",
                      help="call jax.distributed.initialize() with the cluster's own settings (SLURM, Open MPI, ...)")
    dist.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0's coordinator")
    dist.add_argument("--num-processes", type=int, help="number of processes")
    dist.add_argument("--process-id", type=int, help="index of this process, 0 .. num_processes - 1")
    cmd.set_defaults(handler=run)
    return cmd


def _initialize_distributed(args) -> None:
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if not args.distributed and all(v is None for v in explicit):
        return
    if not args.distributed and any(v is None for v in explicit):
        raise ValueError("--coordinator, --num-processes and --process-id go together (or use --distributed)")
    if args.num_processes is not None and not 0 <= args.process_id < args.num_processes:
        raise ValueError(f"--process-id {args.process_id} must satisfy 0 <= process_id < num_processes = "
                         f"{args.num_processes}")
    import jax

    jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                               process_id=args.process_id)


def run(args) -> int:
    """Handler of ``jaxsge ensemble``: run (or resume) the ensemble, then print the summary (process 0)."""
    from .ensemble import load_spec, run_and_report

    try:
        spec = load_spec(args.config, args.set)
        _initialize_distributed(args)
        meta = run_and_report(spec, args.out, resume=args.resume, memory_budget_gib=args.memory_gib,
                              progress=not args.no_progress)
    except ValueError as err:
        print(f"jaxsge: error: {err}", file=sys.stderr)
        return 2
    if meta is not None:
        for case in meta["cases"]:
            print(f"xi = {case['xi']:g}, K0 = {case['K0']:g}: {case['n_realizations']} realizations, "
                  f"max |<G_sc>| = {case['max_abs_mean_Gsc']:.4g} e^2/h, relative standard error "
                  f"{case['relative_stderr']:.2g} ({case['solver_path']})")
        run_info = meta["last_run"]
        print(f"computed {run_info['computed']} units ({run_info['evaluations']} evaluations) in "
              f"{run_info['seconds']:.1f} s; wrote {args.out}/ensemble.npz, stats.json, fig3.png, curves.png, "
              "convergence.png")
    return 0


def main(argv=None) -> int:
    """``python -m jaxsge.ensemble_cli ensemble ...``: the same subcommand without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="jaxsge")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
