"""``visualize``: a graph as Mermaid flowchart text, the offline stand-in for the SDK's link.

The official SDK's ``Substrate.visualize`` returns a link to Substrate's hosted explorer with the
whole graph (prompts included) compressed into the URL. Offline there is no such site, and a link
would hand the graph to a third party when opened; Mermaid text is drawn locally by many tools
(GitHub and GitLab Markdown, VS Code, ``mmdc``) and reads well printed as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from .._wire import PLACEHOLDER, VISIBLE
from ._node import Node
from ._serialize import serialize

__all__ = ["visualize"]

_PLAIN: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.-()")


def visualize(*nodes: Node[Any]) -> str:
    """The graph of ``nodes`` (as ``serialize`` finds it) as a Mermaid flowchart.

    Each node is a box labelled with its kind and id (``hidden`` when its output is left out of
    the results); a solid arrow runs from a node to each node that uses its output through a
    future, a dotted arrow for an explicit ``depends``.

    Raises:
        TypeError, ValueError: as ``serialize``.
    """
    dag = serialize(*nodes)
    return "\n".join(_mermaid(dag))


def _mermaid(dag: dict[str, Any]) -> Iterator[str]:
    index = {node["id"]: i for i, node in enumerate(dag["nodes"])}
    names = {ident: f"n{i}" for ident, i in index.items()}
    origins: dict[str, frozenset[str]] = {}  # the nodes whose outputs each future reads
    for future in dag["futures"]:  # serialize() lists each after the futures it uses
        directive = future["directive"]
        found: set[str] = set()
        if directive["type"] == "trace":
            found.add(directive["origin_node_id"])
        for operand in _future_refs(directive):
            found |= origins[operand]
        origins[future["id"]] = frozenset(found)
    yield "flowchart TD"
    for node in dag["nodes"]:
        lines = [node["node"], node["id"]]
        if not node.get(VISIBLE):
            lines.append("(hidden)")
        yield f'    {names[node["id"]]}["{"<br/>".join(map(_escape, lines))}"]'
    for node in dag["nodes"]:
        sources: set[str] = set()
        for future_id in _future_refs(node["args"]):
            sources |= origins[future_id]
        for source in sorted(sources, key=index.__getitem__):
            yield f"    {names[source]} --> {names[node['id']]}"
    for source, target, _ in dag["edges"]:
        yield f"    {names[source]} -.-> {names[target]}"


def _future_refs(value: Any) -> Iterator[str]:
    """The ids of the futures ``value`` refers to: placeholders and ``future_id`` operands."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if key in (PLACEHOLDER, "future_id") and isinstance(inner, str):
                    yield inner
                else:
                    stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)


def _escape(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label: anything unusual as an entity code."""
    return "".join(c if c in _PLAIN else f"#{ord(c)};" for c in text)
