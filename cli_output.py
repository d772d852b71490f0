"""The one renderer of the command line: every command's answer goes through `render`, which
prints JSON with --json and the lines or tables for people otherwise, on consoles that wrap for a
terminal and never for a pipe."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from facesim.wording import printable

# A table is at most this wide when the output is not a terminal: wide enough for any path.
PIPED_WIDTH = 100_000


def _console(stream: Any, *, stderr: bool = False) -> Console:
    """A terminal gets rich's wrapping at its width; a pipe or file is read by scripts, so no line
    is wrapped or cut at the 80 columns rich would otherwise assume."""
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=PIPED_WIDTH)


out = _console(sys.stdout)
err = _console(sys.stderr, stderr=True)


@dataclasses.dataclass(frozen=True)
class Output:
    """A command's output in both its forms: `data` for --json, and `text`, which prints the lines
    or tables for people."""

    data: Any
    text: Callable[[], None]
    json_lines: bool = False  # one compact object a line, for answers that stream (match)
    write_json: Callable[[], None] | None = None  # where the JSON is an export of its own (clusters)


def render(output: Output, as_json: bool) -> None:
    """The one place that chooses between JSON and text, so --json means the same in every command."""
    if not as_json:
        output.text()
    elif output.write_json is not None:
        output.write_json()
    else:
        sys.stdout.write(json.dumps(output.data, indent=None if output.json_lines else 2) + "\n")


def print_lines(lines: list[str], console: Console | None = None, soft_wrap: bool = False) -> None:
    """Sentences as they are (on stdout unless another console is given): no markup, since paths
    and names may hold brackets."""
    for line in lines:
        (console or out).print(line, markup=False, soft_wrap=soft_wrap)


def print_notes(notes: list[str]) -> None:
    print_lines([f"note: {printable(note)}" for note in notes], err)


def print_table(title: str, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
    """A titled table whose cells fold rather than cut, so a long path is shown whole; a verdict
    (a bool) shows as a green yes or a plain no."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(("[green]yes[/green]" if cell else "no") if isinstance(cell, bool) else cell for cell in row))
    out.print(table)


def print_cells(rows: list[list[str]]) -> None:
    """Tab-separated lines, tabs kept (rich would expand them to spaces, and `cut -f` would no
    longer find the columns)."""
    for cells in rows:
        sys.stdout.write("\t".join(printable(cell) for cell in cells) + "\n")


def print_phrases(head: str, phrases: list[str]) -> None:
    """A summary line of comma-separated phrases. A terminal narrower than the line breaks it
    between phrases, never inside one ("3 without / a face"); a pipe gets one line."""
    if not out.is_terminal:
        out.print(head + ", ".join(phrases), markup=False, soft_wrap=True)
        return
    lines, line = [], head
    for number, phrase in enumerate(phrases):
        piece = phrase + ("," if number < len(phrases) - 1 else "")
        if line.strip() and len(line) + len(piece) > out.width:
            lines.append(line.rstrip())
            line = "  "
        line += piece + " "
    lines.append(line.rstrip())
    out.print("\n".join(lines), markup=False, soft_wrap=True)
