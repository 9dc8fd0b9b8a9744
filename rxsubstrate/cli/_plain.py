"""The run as plain text, printed once it is over: for a stdout that is not a terminal (a pipe,
a file, a CI log), where a live view's escape sequences would be noise."""

from __future__ import annotations

from ._board import Board, tally

__all__ = ["plain_report"]


def plain_report(board: Board, source: str) -> str:
    """Each node's heading, status and text, then the totals and where the run came from.

    ::

        == story (ComputeText): done in 0.61s, 24 chunks, 41.0 chunks/s
        Quiet distant forest ...

        2 nodes (2 done), 50 events in 0.62s
        embedded engine: ...
    """
    views = board.view()
    blocks = []
    for view in views:
        label = view.label
        name = f"{label.name} ({label.kind})" if label.kind else label.name
        lines = [f"== {name}: {view.summary}"]
        if view.text:
            lines.append(view.text)
        if view.error:
            lines.append(view.error)
        blocks.append("\n".join(lines))
    blocks.append(f"{tally(board, views)}\n{source}")
    return "\n\n".join(blocks) + "\n"
