"""The subschemas of one ``json_schema`` as a graph: which a finite value can satisfy, and each
one flattened (``$ref`` followed, ``anyOf``/``oneOf`` reduced to one option, ``allOf`` merged).

A schema may refer to itself. That is fine when the recursion can stop (an optional property, an
array that may be empty, an ``anyOf`` option that does not recurse: a tree), and hopeless when it
cannot (``{"anyOf": [{"$ref": "#"}]}``, a required property of its own type): no finite value
satisfies it, whoever generates it. A subschema is *grounded* when a finite value can satisfy it:
all that it forces (its ``$ref`` target, ``allOf`` parts, required properties, and ``items`` when
``minItems`` > 0) is grounded, and so is one option of each ``anyOf``/``oneOf``. Grounding is
found in one pass over the graph (unit propagation, as for Horn clauses), linear in its size. Each
grounded subschema also gets a *rank*, one more than the ranks of what grounded it: following
only forced parts and lowest-ranked options, ranks fall at every step, so that walk ends.

Flattening is memoised, so a schema whose ``allOf`` parts share definitions is flattened once per
definition, not once per path to it. It comes in two kinds: *rich* takes each ``anyOf`` option the
schema's author put first (skipping ``null`` and what cannot be satisfied), *short* takes the
lowest-ranked one, the way out of a recursion.

Only ``$ref`` (local, siblings ignored), ``allOf``, ``anyOf``, ``oneOf``, ``properties``,
``required``, ``items`` and ``minItems`` are read, so a schema is called ungrounded only when it
surely is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .._errors import InvalidNodeArgs
from ._budget import Budget, Walk
from ._schema import integer_keyword, resolve_ref

__all__ = ["MAX_FLATTEN_DEPTH", "SchemaGraph"]

MAX_FLATTEN_DEPTH: Final = 128
"""How many ``$ref``/``allOf``/``anyOf`` steps deep flattening one subschema may go."""

_NEVER: Final = -1  # a child that can never be satisfied (the schema ``false``)
_UNGROUNDED: Final = -1


class SchemaGraph:
    """One ``json_schema``, analysed; build it with ``SchemaGraph.analyse``.

    Args:
        root: the schema (``$ref`` pointers resolve against it).
        budget: spent on the analysis and on flattening.
    """

    def __init__(self, root: Mapping[str, Any], budget: Budget) -> None:
        self._root = root
        self._budget = budget
        self._index: dict[int, int] = {}  # id(subschema) -> vertex
        self._schemas: list[Mapping[str, Any]] = []  # keeps every subschema (and its id) alive
        self._rank: list[int] = []
        self._flat: tuple[dict[int, Mapping[str, Any]], ...] = ({}, {})  # rich, short

    @classmethod
    def analyse(cls, root: Mapping[str, Any], budget: Budget) -> Walk[SchemaGraph]:
        """Walk every subschema reachable from ``root`` and rank the grounded ones.

        Raises:
            OverBudget: the schema is too large for the budget.
        """
        graph = cls(root, budget)
        yield from graph._analyse()
        return graph

    def grounded(self, schema: Any) -> bool:
        """Whether some finite value satisfies ``schema`` (a subschema of the root)."""
        return self._rank_of(schema) != _UNGROUNDED

    def flat(
        self, schema: Mapping[str, Any], where: str, *, short: bool, depth: int = 0
    ) -> Walk[Mapping[str, Any]]:
        """``schema`` with ``$ref`` followed, ``anyOf``/``oneOf`` reduced to one grounded option
        (the author's first non-null one, or with ``short`` the lowest-ranked one) and ``allOf``
        merged; memoised per subschema.

        Raises:
            InvalidNodeArgs: a bad ``$ref``, or nesting deeper than ``MAX_FLATTEN_DEPTH``.
            OverBudget: past the budget.
        """
        memo = self._flat[short]
        done = memo.get(id(schema))
        if done is not None:
            return done
        if depth > MAX_FLATTEN_DEPTH:
            raise InvalidNodeArgs(
                f"json_schema at {where!r} nests more than {MAX_FLATTEN_DEPTH} references deep"
            )
        if self._budget.spend():
            yield
        try:
            resolved = resolve_ref(self._root, schema)
        except ValueError as exc:
            raise InvalidNodeArgs(f"json_schema at {where!r}: {exc}") from None
        if resolved is not schema:
            result = yield from self.flat(resolved, where, short=short, depth=depth + 1)
        else:
            result = yield from self._combine(schema, where, short, depth)
        if id(schema) not in self._index:  # not met by the analysis: made up by the generator
            self._index[id(schema)] = len(self._schemas)
            self._schemas.append(schema)  # kept alive: its id is the memo's key
            self._rank.append(0)
        memo[id(schema)] = result
        return result

    def _combine(
        self, schema: Mapping[str, Any], where: str, short: bool, depth: int
    ) -> Walk[Mapping[str, Any]]:
        result: Mapping[str, Any] = schema
        for keyword in ("anyOf", "oneOf"):
            options = result.get(keyword)
            if not isinstance(options, list) or not options:
                continue
            option = self._choose(options, short)
            if option is None:
                raise InvalidNodeArgs(
                    f"json_schema at {where!r}: no {keyword} option can be satisfied"
                )
            chosen = yield from self.flat(option, where, short=short, depth=depth + 1)
            result = {**{k: v for k, v in result.items() if k != keyword}, **chosen}
        parts = result.get("allOf")
        if isinstance(parts, list) and parts:
            merged: dict[str, Any] = {k: v for k, v in result.items() if k != "allOf"}
            for part in parts:
                if not isinstance(part, Mapping):
                    continue
                flat = yield from self.flat(part, where, short=short, depth=depth + 1)
                properties = {**_mapping(merged, "properties"), **_mapping(flat, "properties")}
                required = dict.fromkeys([*_names(merged), *_names(flat)])
                if self._budget.spend(len(properties) + len(required)):
                    yield
                merged.update(flat)
                merged["properties"] = properties
                merged["required"] = list(required)
            result = merged
        return result

    def _choose(self, options: list[Any], short: bool) -> Mapping[str, Any] | None:
        grounded = [o for o in options if isinstance(o, Mapping) and self.grounded(o)]
        if short:
            return min(grounded, key=self._rank_of, default=None)
        for option in grounded:
            if option.get("type") != "null":
                return option
        return grounded[0] if grounded else None

    def _rank_of(self, schema: Any) -> int:
        if schema is False:
            return _UNGROUNDED
        vertex = self._index.get(id(schema)) if isinstance(schema, Mapping) else None
        return 0 if vertex is None else self._rank[vertex]

    def _vertex(self, schema: Mapping[str, Any]) -> int:
        vertex = self._index.get(id(schema))
        if vertex is None:
            vertex = self._index[id(schema)] = len(self._schemas)
            self._schemas.append(schema)
            self._rank.append(_UNGROUNDED)
        return vertex

    def _analyse(self) -> Walk[None]:
        forced: list[list[int]] = []  # vertex -> the children it forces
        groups: list[list[list[int]]] = []  # vertex -> its anyOf/oneOf option lists
        self._vertex(self._root)
        # Vertices are numbered as they are found, so visiting them in number order is a
        # breadth-first walk that ends when no new subschema turns up.
        while len(forced) < len(self._schemas):
            own_forced, own_groups = self._children(self._schemas[len(forced)])
            forced.append(own_forced)
            groups.append(own_groups)
            if self._budget.spend(1 + len(own_forced) + len(own_groups)):
                yield
        yield from self._ground(forced, groups)

    def _children(self, schema: Mapping[str, Any]) -> tuple[list[int], list[list[int]]]:
        if "$ref" in schema:
            try:
                target = resolve_ref(self._root, {"$ref": schema["$ref"]})
            except ValueError:
                return [], []  # reported by flattening, if the generator ever gets there
            return [self._vertex(target)], []
        forced = [c for c in map(self._child, _list(schema, "allOf")) if c is not None]
        properties = _mapping(schema, "properties")
        for name in _names(schema):
            child = self._child(properties.get(name))
            if child is not None:
                forced.append(child)
        if (integer_keyword(schema, "minItems") or 0) > 0:
            child = self._child(schema.get("items"))
            if child is not None:
                forced.append(child)
        groups = []
        for keyword in ("anyOf", "oneOf"):
            options = _list(schema, keyword)
            if options and all(isinstance(o, Mapping) or o is False for o in options):
                groups.append([_NEVER if o is False else self._vertex(o) for o in options])
            # (an option that is not a schema constrains nothing: that group is satisfied)
        return forced, groups

    def _child(self, schema: Any) -> int | None:
        """A child's vertex, ``_NEVER`` for ``false``, None for what constrains nothing."""
        if schema is False:
            return _NEVER
        return self._vertex(schema) if isinstance(schema, Mapping) else None

    def _ground(self, forced: list[list[int]], groups: list[list[list[int]]]) -> Walk[None]:
        """Unit propagation: a vertex is grounded once its last missing child is."""
        missing = [len(f) + len(g) for f, g in zip(forced, groups, strict=True)]
        highest = [0] * len(forced)  # the highest rank among the children that grounded it
        parents: list[list[tuple[int, int]]] = [[] for _ in forced]  # child -> (parent, group)
        group_done: list[bool] = []
        for vertex, (own_forced, own_groups) in enumerate(zip(forced, groups, strict=True)):
            for child in own_forced:
                if child != _NEVER:
                    parents[child].append((vertex, -1))
            for options in own_groups:
                group = len(group_done)
                group_done.append(False)
                for child in options:
                    if child != _NEVER:
                        parents[child].append((vertex, group))
        ready = [vertex for vertex, count in enumerate(missing) if count == 0]
        while ready:
            vertex = ready.pop()
            self._rank[vertex] = highest[vertex] + (1 if forced[vertex] or groups[vertex] else 0)
            for parent, group in parents[vertex]:
                if group >= 0:
                    if group_done[group]:
                        continue
                    group_done[group] = True
                highest[parent] = max(highest[parent], self._rank[vertex])
                missing[parent] -= 1
                if missing[parent] == 0:
                    ready.append(parent)
            if self._budget.spend(1 + len(parents[vertex])):
                yield


def _list(schema: Mapping[str, Any], keyword: str) -> list[Any]:
    value = schema.get(keyword)
    return value if isinstance(value, list) else []


def _mapping(schema: Mapping[str, Any], keyword: str) -> Mapping[str, Any]:
    value = schema.get(keyword)
    return value if isinstance(value, Mapping) else {}


def _names(schema: Mapping[str, Any]) -> list[str]:
    """The ``required`` names (strings only)."""
    return [name for name in _list(schema, "required") if isinstance(name, str)]
