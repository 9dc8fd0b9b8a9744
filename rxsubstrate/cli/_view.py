"""The live view: a panel per node, its text as it arrives, redrawn a few times a second.

rich (the ``rxsubstrate[cli]`` extra) draws it; only this module imports rich, and only the
commands that show a view import this module, when they show one.

Frames are drawn by rich's refresh thread at a fixed rate, however fast events come: the thread
reading the run only updates the ``Board``. While the run goes on, each panel shows the last
lines of its node's text that fit the terminal; the final frame shows every node's whole text.
"""

from __future__ import annotations

from types import TracebackType
from typing import Final

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from ._board import Board, NodeView, tally

__all__ = ["REFRESH_PER_SECOND", "LiveView"]

REFRESH_PER_SECOND: Final = 12.0
_STYLES: Final = {"waiting": "dim", "running": "yellow", "done": "green", "failed": "red"}
_PANEL_FRAME: Final = 4  # columns a panel's border and padding take


class LiveView:
    """Shows ``board`` live on ``console`` between ``__enter__`` and ``__exit__``.

    Args:
        board: the run's nodes, updated by the caller's thread.
        source: where the run comes from, shown under the panels.
        console: where to draw; default rich's console on stdout.
        refresh_per_second: how often a frame is drawn.
    """

    def __init__(
        self,
        board: Board,
        source: str,
        console: Console | None = None,
        refresh_per_second: float = REFRESH_PER_SECOND,
    ) -> None:
        self._frame = _Frame(board, source)
        self._live = Live(
            self._frame,
            console=console,
            refresh_per_second=refresh_per_second,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._frame.final = True
        self._live.stop()  # draws the final frame, uncropped


class _Frame:
    """One frame of the view, drawn anew from the board each time rich renders it."""

    def __init__(self, board: Board, source: str) -> None:
        self.board = board
        self.source = source
        self.final = False

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        views = self.board.view()
        footer = Text(tally(self.board, views), style="bold")
        footer.append("\n" + self.source, style="dim")
        lines = None
        if not self.final and views:
            height = options.height or console.height
            borders = 2 * len(views) + len(footer.wrap(console, options.max_width))
            lines = max(1, (height - borders) // len(views))
        for view in views:
            yield _panel(view, console, options.max_width - _PANEL_FRAME, lines)
        yield footer


def _panel(view: NodeView, console: Console, width: int, lines: int | None) -> Panel:
    """A node's panel: its name and kind above, its status below, the last ``lines`` lines of
    its text (all of it for None) inside."""
    style = _STYLES.get(view.status, "magenta")
    # Wrapping costs as much as the text is long: wrap no more than the lines that will show
    # (a wrapped line holds at most `width` characters and its line end).
    body = Text(view.text if lines is None else view.text[-lines * (width + 1) :])
    if view.error:
        body.append(("\n" if view.text else "") + view.error, style="red")
    if lines is not None:
        wrapped = body.wrap(console, max(width, 1))
        if len(wrapped) > lines:
            body = Text("\n").join(wrapped[-lines:])
    return Panel(
        body,
        title=Text(view.label.title, style="bold"),
        title_align="left",
        subtitle=Text(view.summary, style=style),
        subtitle_align="left",
        border_style=style,
    )
