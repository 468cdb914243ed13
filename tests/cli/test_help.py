"""Help texts are plain text (no reStructuredText markup from docstrings); one version everywhere."""

import argparse
import pathlib
import re
import tomllib

import pytest

import jaxsge
from jaxsge.cli.common import SOLVER_OPTIONS
from jaxsge.cli.main import COMMANDS, build_parser, main

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Any backtick (reST literals and roles, Markdown code) and any reST role such as :func: or :data:.
MARKUP = re.compile(r"`|:[a-z]+:`?")
SOLVING = ("conductance", "scan", "sensitivity", "densities", "ensemble", "stack", "kwant-check")
WRITING = ("conductance", "scan", "sensitivity", "densities", "ensemble", "stack", "well", "plot")


def subcommand_helps() -> dict:
    """Every subcommand's --help text, as argparse prints it, by name."""
    sub = argparse.ArgumentParser(prog="jaxsge").add_subparsers()
    return {parser.prog.split()[-1]: parser.format_help() for parser in (module.add_parser(sub) for module in COMMANDS)}


def test_every_help_text_is_plain():
    helps = {"jaxsge": build_parser().format_help(), **subcommand_helps()}
    assert set(helps) == {"jaxsge", *SOLVING, *WRITING}
    for name, text in helps.items():
        found = MARKUP.search(text)
        if found:
            pytest.fail(f"{name} --help shows markup: {found.group(0)!r} in ...{text[found.start() - 40:found.end()]}")


def test_markup_is_caught():
    """The pattern above finds what a docstring would leak (so the test can fail)."""
    for leaked in ("``x``", ":func:`solve`", "`x`", ":data:`X`"):
        assert MARKUP.search(leaked), leaked
    assert not MARKUP.search("e^2/h, 2 pi j / n_phi, HOST:PORT, --set K0=0.5,1.0")


def test_the_same_solver_and_output_options_on_every_command():
    """One source (cli.common.add_solver, add_output): every command that solves lists every solver option, and
    every command that writes a result --out and --overwrite."""
    helps = subcommand_helps()
    for name in SOLVING:
        for option in SOLVER_OPTIONS:
            assert option in helps[name], (name, option)
    for name in WRITING:
        assert "--out" in helps[name] and "--overwrite" in helps[name], name


def test_one_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"jaxsge {jaxsge.__version__}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "jaxsge.__version__"}
    assert (ROOT / "jaxsge" / "py.typed").exists()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["jaxsge"]
