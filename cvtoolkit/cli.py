"""The ``cvtoolkit`` command: one sub-command per module in :mod:`cvtoolkit.commands`.

Each command module has ``add_arguments(parser)`` and ``run(args) -> int``;
its docstring's first line is the one-line help. Errors the user can fix
(:class:`cvtoolkit.errors.CvToolkitError`) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from cvtoolkit import __version__
from cvtoolkit.errors import CvToolkitError

COMMANDS = ("compare", "pack", "extract", "train", "fit", "predict", "evaluate", "audit", "export")
"""Sub-command names, in the order ``--help`` lists them."""


def _quiet_backends() -> None:
    # TensorFlow's C++ start-up chatter is not for the user; oneDNN stays at TensorFlow's default (on).
    from cvtoolkit._quiet import quiet_tensorflow_import
    from cvtoolkit.parallel import native_thread_defaults

    quiet_tensorflow_import()
    native_thread_defaults()  # OpenMP threads wait passively (before scikit-learn loads it)


def _selected_command(argv: Sequence[str] | None) -> str | None:
    """The sub-command named on the command line, if any (before parsing)."""
    for token in argv or ():
        if token in COMMANDS:
            return token
        if not token.startswith("-"):
            return None
    return None


def build_parser(argv: Sequence[str] | None = None, *, full: bool = True) -> argparse.ArgumentParser:
    """The argument parser.

    Every command module is imported for its one-line help, but only the
    command being run (or all of them with ``full=True``) gets its arguments
    added: some commands list choices that import Keras, and ``cvtoolkit
    --help`` should not wait for TensorFlow.
    """
    selected = _selected_command(argv)
    parser = argparse.ArgumentParser(
        prog="cvtoolkit",
        description="Classical computer vision and Keras CNNs on the same data, split and metrics.",
    )
    parser.add_argument("--version", action="version", version=f"cvtoolkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, argparse.ArgumentParser] = {}
    parser._cvtoolkit_commands = commands  # main() reports a misspelt option with the command's own usage
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"cvtoolkit.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"cvtoolkit.commands.{name}":
                continue  # command not built yet
            raise
        doc = (module.__doc__ or name).strip()
        p = sub.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        commands[name] = p
        if full or name == selected:
            module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _unknown_options(parser: argparse.ArgumentParser, command: str | None, extras: Sequence[str]) -> None:
    """Refuse unknown arguments with the command's own usage and a "did you mean" (exits 2)."""
    import difflib

    target = getattr(parser, "_cvtoolkit_commands", {}).get(command or "", parser)
    known = [opt for action in target._actions for opt in action.option_strings if opt.startswith("--")]
    message = f"unrecognized arguments: {' '.join(extras)}"
    for token in extras:
        if token.startswith("--"):
            close = difflib.get_close_matches(token.split("=", 1)[0], known, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]}?"
    target.error(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    _quiet_backends()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv, full=False)
    args, extras = parser.parse_known_args(argv)
    if extras:
        _unknown_options(parser, getattr(args, "command", None), extras)
    # --quiet: warnings and errors only (the INFO lines are progress, like the bars it turns off)
    level = logging.DEBUG if args.verbose else logging.WARNING if getattr(args, "quiet", False) else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except CvToolkitError as err:
        print(f"cvtoolkit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cvtoolkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # a write failed (full disk, read-only, permissions): one line, not a traceback
        from cvtoolkit.io.outputs import describe_os_error

        logging.getLogger("cvtoolkit").debug("OSError", exc_info=True)
        print(f"cvtoolkit {args.command}: error: {describe_os_error(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
