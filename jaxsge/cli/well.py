"""``jaxsge well CONFIG --out DIR [--set NAME=VALUE ...]``: the quantum well of the second seed paper (Figs. 2-6)."""

from __future__ import annotations

from ..well import figures


def add_parser(sub):
    figures.add_parser(sub)
    return sub.choices["well"]


def run(args, argv=None) -> int:
    return figures.run_well(args)
