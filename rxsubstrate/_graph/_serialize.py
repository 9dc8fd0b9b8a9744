"""``serialize``: nodes to the graph JSON ``POST /compose`` takes, as the official SDK sends it.

The graph holds the given nodes and every node they reach, through the futures their arguments
use and through explicit ``depends``. (The official SDK follows futures, and adds a depends-only
node it was not given but not what that node depends on in turn; following both all the way is
what the server needs.)
"""

from __future__ import annotations

from typing import Any

from ._future import Future
from ._ids import graph_id
from ._node import Node

__all__ = ["serialize"]


def serialize(*nodes: Node[Any]) -> dict[str, Any]:
    """The graph of ``nodes`` and everything they need, as JSON data.

    Returns:
        ``{"nodes", "edges", "initial_args", "futures", "id"}``: nodes and futures come after
        what they use; ``edges`` are ``[from_id, to_id, {}]`` for explicit ``depends``.

    Raises:
        TypeError: an argument is not a node.
        ValueError: no nodes, two different nodes share an id, or ``depends`` was changed
            into a cycle.
    """
    if not nodes:
        raise ValueError("serialize() needs at least one node")
    for node in nodes:
        if not isinstance(node, Node):
            raise TypeError(f"serialize() takes nodes, got {node!r}")
    ordered, futures = _walk(nodes)
    edges: list[list[Any]] = []
    for node in ordered:
        seen: set[str] = set()
        for dependency in node.depends:
            if dependency.id not in seen:
                seen.add(dependency.id)
                edges.append([dependency.id, node.id, {}])
    return {
        "nodes": [node.to_dict() for node in ordered],
        "edges": edges,
        "initial_args": {},
        "futures": [future.to_dict() for future in futures],
        "id": graph_id(),
    }


def _walk(roots: tuple[Node[Any], ...]) -> tuple[list[Node[Any]], list[Future]]:
    """Every node and future reachable from ``roots``, each after what it uses.

    An iterative depth-first walk, so a long chain of nodes cannot exhaust the stack.
    """
    nodes: dict[str, Node[Any]] = {}
    futures: dict[str, Future] = {}
    done: set[int] = set()
    started: set[int] = set()
    # Each entry is (item, expanded): an item is pushed once to expand its inputs, and again,
    # already expanded, to be emitted after them.
    stack: list[tuple[Node[Any] | Future, bool]] = [(root, False) for root in reversed(roots)]
    while stack:
        item, expanded = stack.pop()
        if id(item) in done:
            continue
        if expanded:
            done.add(id(item))
            if isinstance(item, Node):
                other = nodes.setdefault(item.id, item)
                if other is not item:
                    raise ValueError(f"two different nodes share the id {item.id!r}")
            else:
                futures.setdefault(item._id, item)
            continue
        if id(item) in started:
            raise ValueError(f"the graph has a cycle through {item!r}")
        started.add(id(item))
        stack.append((item, True))
        stack.extend((used, False) for used in reversed(_inputs(item)) if id(used) not in done)
    return list(nodes.values()), list(futures.values())


def _inputs(item: Node[Any] | Future) -> list[Node[Any] | Future]:
    """What ``item`` uses: a node its depends and argument futures, a future its operands."""
    if isinstance(item, Node):
        _, found = item.encode_args()
        return [*item.depends, *found.values()]
    _, found = item._directive.encode()
    origin = item._directive.origin
    return [*([origin] if origin is not None else []), *found.values()]
