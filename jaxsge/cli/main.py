"""``jaxsge COMMAND ...``: one dispatch over one module per command.

Every command validates its whole input before computing, and an error in it (a parameter
out of range, an unwritable output, a memory budget the machine does not have) ends in one
line ``jaxsge: error: ...`` and exit status 2, never a traceback. SIGINT (Ctrl-C) and SIGTERM
end a run the same way: the output is left as it was before the run (``io.files.Output``:
staging folder and temporary files removed, lock released), one line says so, and the exit
status is 128 + the signal's number (130, 143).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import signal
import sys
import threading
import warnings

from .. import __version__
from . import conductance, densities, ensemble, kwant_check, plot, scan, sensitivity, stack, well
from .common import run_command

COMMANDS = (conductance, scan, sensitivity, densities, ensemble, stack, well, kwant_check, plot)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxsge", description="Spin-charge conversion in magnetic tunnel junctions "
                                     "(conventions: docs/model.md)")
    parser.add_argument("--version", action="version", version=f"jaxsge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub).set_defaults(run=module.run)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as SIGINT raises KeyboardInterrupt, so that both clean up alike."""


def _terminate(signum, frame):
    if frame is not None and any(frame.f_code is getattr(callback, "__code__", None) for callback in gc.callbacks):
        # An exception raised inside a garbage-collector callback (JAX registers one) is printed and
        # ignored: deliver the signal again from a helper thread once the callback has returned.
        threading.Timer(0.05, signal.raise_signal, (signum,)).start()
        return
    raise Terminated


@contextlib.contextmanager
def _sigterm_as_interrupt():
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _warn(message, category, filename, lineno, file=None, line=None):
    print(f"jaxsge: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    with _sigterm_as_interrupt(), warnings.catch_warnings():
        warnings.showwarning = _warn  # one line per warning (a damaged unit set aside, a folder made again)
        return _run(args, argv)


def _run(args, argv) -> int:
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
    except KeyboardInterrupt as err:
        signum = signal.SIGTERM if isinstance(err, Terminated) else signal.SIGINT
        print(f"jaxsge: interrupted by {signum.name}: the output is as it was before this run (an ensemble keeps its "
              "finished realizations: continue it with --resume)", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
