"""``jaxsge COMMAND ...``: one dispatch over one module per command.

Every command validates its whole input before computing, and an error in it (a parameter
out of range, an unwritable output, a memory budget the machine does not have) ends in one
line ``jaxsge: error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import conductance, ensemble, scan, sensitivity, stack, well
from .common import run_command

COMMANDS = (conductance, scan, sensitivity, ensemble, stack, well)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxsge", description="Spin-charge conversion in magnetic tunnel junctions "
                                     "(conventions: docs/model.md)")
    parser.add_argument("--version", action="version", version=f"jaxsge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub).set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_command(args, argv)
    except ValueError as err:
        print(f"jaxsge: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of stdout went away (jaxsge ... | head): nothing left to say
        sys.stderr.close()
        return 0
    except OSError as err:  # for instance the disk filling up while a result is written
        where = f" {err.filename!r}" if err.filename else ""
        print(f"jaxsge: error: could not write{where}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxsge: interrupted (files already written are complete; an ensemble resumes with --resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
