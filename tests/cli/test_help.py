"""Help texts are plain text (no reStructuredText markup from docstrings); one version everywhere."""

import argparse
import pathlib
import re
import tomllib

import pytest

import jaxsge
from jaxsge.cli.main import COMMANDS, build_parser, main

ROOT = pathlib.Path(__file__).resolve().parents[2]
MARKUP = re.compile(r"``|:(func|class|data|meth|mod|attr):`")


def test_every_help_text_is_plain():
    sub = argparse.ArgumentParser(prog="jaxsge").add_subparsers()
    parsers = {"jaxsge": build_parser(), **{module.__name__: module.add_parser(sub) for module in COMMANDS}}
    assert "jaxsge.cli.kwant_check" in parsers
    for name, parser in parsers.items():
        text = parser.format_help()
        assert not MARKUP.search(text), f"{name} --help shows markup: {MARKUP.search(text).group(0)!r}"


def test_one_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"jaxsge {jaxsge.__version__}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "jaxsge.__version__"}
    assert (ROOT / "jaxsge" / "py.typed").exists()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["jaxsge"]
