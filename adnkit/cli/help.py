"""How the `adnkit` command talks: mistakes in one line (exit status 2), help that fits a screen, `--help-all`.

Parser      an argparse.ArgumentParser whose usage errors are one line, like adnkit's own errors
Formatter   `--[no-]train-attention` for switches; descriptions keep their line breaks
HelpAll     `--help-all`: the help with every flag that `--help` leaves out, each with its whole description
with_help   a flag's `--help` text (or none: `--help-all` only) and its `--help-all` text
"""

from __future__ import annotations

import argparse


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: `adnkit: error: MESSAGE; see `adnkit train --help``, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"adnkit: error: {message}; see `{self.prog} --help`\n")


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Switches as `--[no-]name`; the help column a little wider than argparse's, for the settings' flags."""

    def __init__(self, prog: str, **kwargs):
        super().__init__(prog, max_help_position=30, **kwargs)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, argparse.BooleanOptionalAction):
            return "--[no-]" + action.option_strings[0][2:]
        return super()._format_action_invocation(action)


class HelpAll(argparse.Action):
    """Print the help with every hidden flag shown and every description whole, then exit."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        for action in parser._actions:
            whole = getattr(action, "whole_help", None)
            if whole:
                action.help = whole
        parser.print_help()
        parser.exit()


def add_help_all(parser: argparse.ArgumentParser, hidden_count: int) -> None:
    """`--help-all` on a parser whose `--help` leaves out `hidden_count` flags."""
    parser.add_argument("--help-all", action=HelpAll,
                        help=f"this help with {hidden_count} more settings and every description whole")


def with_help(action: argparse.Action, short: str, whole: str, hidden: bool = False) -> argparse.Action:
    """Give `action` its `--help` text (`short`, or none when `hidden`) and its `--help-all` text (`whole`)."""
    action.help = argparse.SUPPRESS if hidden else _escaped(short)
    action.whole_help = _escaped(whole)
    return action


def _escaped(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help texts
