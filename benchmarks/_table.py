"""The report: sections of rows, printed as aligned text or as markdown, and the machine."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field

__all__ = ["Section", "machine", "render"]


@dataclass
class Section:
    """One table: a title, its columns, rows of cells (already formatted), and notes below."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Text printed as is after the table (another script's report).
    preformatted: str = ""
    #: A plot of the section, relative to the markdown page (``plots/scale.png``).
    image: str = ""

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])


def machine() -> str:
    """The CPU model, core count and Python version: figures mean little without them."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"({sys.implementation.name}), {platform.system()} {platform.release()}"
    )


def render(section: Section, *, markdown: bool) -> str:
    """One section as aligned text, or as a markdown heading, table and notes."""
    return _markdown(section) if markdown else _text(section)


def _text(section: Section) -> str:
    widths = [len(c) for c in section.columns]
    for row in section.rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=False)]

    def line(cells: list[str]) -> str:
        first, *rest = cells
        parts = [first.ljust(widths[0])]
        parts += [cell.rjust(w) for cell, w in zip(rest, widths[1:], strict=False)]
        return "  ".join(parts).rstrip()

    lines = [section.title, "=" * len(section.title), line(section.columns)]
    lines.append("  ".join("-" * w for w in widths))
    lines += [line(row) for row in section.rows]
    lines += [f"  * {note}" for note in section.notes]
    if section.preformatted:
        lines += ["", section.preformatted]
    if section.image:
        lines.append(f"  (plot: benchmarks/{section.image})")
    return "\n".join(lines) + "\n"


def _markdown(section: Section) -> str:
    lines = [f"## {section.title}", ""]
    lines.append("| " + " | ".join(section.columns) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(section.columns) - 1)) + "|")
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in section.rows]
    if section.notes:
        lines.append("")
        lines += [f"- {note}" for note in section.notes]
    if section.preformatted:
        lines += ["", "```text", section.preformatted, "```"]
    if section.image:
        lines += ["", f"![{section.title}]({section.image})"]
    return "\n".join(lines) + "\n"
