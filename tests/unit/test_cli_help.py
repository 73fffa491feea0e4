"""`meetlat … --help` lists each command with the first paragraph of its help on one line."""

from __future__ import annotations

from collections.abc import Iterator

import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

from services.cli import app


def groups(
    command: TyperGroup, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], TyperGroup]]:
    yield path, command
    for name, sub in command.commands.items():
        if isinstance(sub, TyperGroup):
            yield from groups(sub, (*path, name))


def test_every_command_summary_is_its_first_paragraph_unbroken() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    listed = 0
    for path, group in groups(root):
        # wide enough that rich wraps no line: a summary must then sit on its command's line
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "2000"})
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        for name, command in group.commands.items():
            summary = " ".join((command.help or "").split("\n\n")[0].split())
            row = next(line for line in lines if line.startswith(f"│ {name} "))
            assert summary in row, (path, name, row)
            listed += 1
    assert listed > 30
