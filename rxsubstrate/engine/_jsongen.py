"""Deterministic JSON values that satisfy a ``json_schema``, and the deltas that stream them.

Supports what structured-output schemas use: ``type`` (one or a list), ``properties`` (every
property is generated near the top, only required ones deeper), ``required``, ``items``, ``enum``,
``const``, ``minimum``/``maximum`` (and exclusive forms), ``minLength``/``maxLength``,
``minItems``/``maxItems``, a few string ``format`` values, local ``$ref``, ``anyOf``/``oneOf``
(the first option a finite value can satisfy) and ``allOf`` (merged). Strings are words from the
engine's text generator. A keyword of the wrong type is ignored, as the checker ignores it.

The schema is a stranger's: the work is a walk on a ``Budget`` (steps and output characters,
spent as the value is built) that pauses every few hundred steps so the loop runs meanwhile. A
schema no finite value satisfies (``{"anyOf": [{"$ref": "#"}]}``) is refused before any value is
built; one that asks for more than ``MAX_ITEMS`` items in one array or nests deeper than
``MAX_DEPTH`` is refused with ``InvalidNodeArgs``, as is one over budget (``OverBudget``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from typing import Any, Final

import msgspec

from .._errors import InvalidNodeArgs
from .._quote import clip
from .._wire import array_item
from ._budget import Budget, Walk, finish
from ._schema import integer_keyword, number_keyword
from ._schema_graph import SchemaGraph
from ._text import TextGenerator, seed_of, split_tokens

__all__ = ["MAX_DEPTH", "MAX_ITEMS", "JsonGenerator", "delta_chunks", "schema_problem"]

MAX_ITEMS: Final = 100
MAX_DEPTH: Final = 32
MAX_STRING: Final = 10_000
_SHALLOW: Final = 6  # below this depth, only required properties and minItems items
_UNSATISFIABLE: Final = (
    "json_schema is recursive: no finite value satisfies it (it refers back to itself through"
    " required properties, non-empty arrays, or anyOf/oneOf/allOf/$ref alone)"
)

_FORMATS: Final = {
    "date-time": "2024-06-17T12:00:00Z",
    "date": "2024-06-17",
    "time": "12:00:00",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def schema_problem(schema: Mapping[str, Any], *, steps: int) -> str | None:
    """Why no value can be generated for ``schema``, or None; for a schema known at ``prepare``.

    The check is linear in the schema's size and runs at once (``steps`` bounds it).
    """
    try:
        graph = finish(SchemaGraph.analyse(schema, Budget("json_schema", steps=steps, size=0)))
    except InvalidNodeArgs as exc:
        return exc.message
    return None if graph.grounded(schema) else _UNSATISFIABLE


class JsonGenerator:
    """Values for one node's ``json_schema``, all on one budget (every choice, every prompt).

    Args:
        schema: the ``json_schema`` argument.
        text: makes the strings.
        budget: spent while analysing the schema and building values.
    """

    def __init__(self, schema: Any, text: TextGenerator, budget: Budget) -> None:
        self._root: Mapping[str, Any] = schema if isinstance(schema, Mapping) else {}
        self._text = text
        self._budget = budget
        self._graph: SchemaGraph | None = None
        self._const_sizes: dict[int, int] = {}

    def value(self, prompt: str, seed: bytes) -> Walk[Any]:
        """A walk returning a value that satisfies the schema, the same for the same seed.

        Raises:
            InvalidNodeArgs: the schema cannot be satisfied within the limits, or has a bad $ref.
            OverBudget: building it would pass the budget.
        """
        if self._graph is None:
            self._graph = yield from SchemaGraph.analyse(self._root, self._budget)
            if not self._graph.grounded(self._root):
                raise InvalidNodeArgs(_UNSATISFIABLE)
        walk = _Walk(self, self._graph, prompt, seed)
        return (yield from walk.value(self._root, "", 0, ()))


class _Walk:
    """One value's walk: the seed and prompt it is for, and the schemas on the current path."""

    def __init__(self, owner: JsonGenerator, graph: SchemaGraph, prompt: str, seed: bytes):
        self._owner = owner
        self._budget = owner._budget
        self._graph = graph
        self._prompt = prompt
        self._seed = seed.hex()

    def value(
        self, schema: Mapping[str, Any], path: str, depth: int, above: tuple[int, ...]
    ) -> Walk[Any]:
        if self._budget.spend():
            yield
        if depth > MAX_DEPTH:
            raise InvalidNodeArgs(f"json_schema nests deeper than {MAX_DEPTH} levels at {path!r}")
        # Deep down, the shortest way out of any recursion; near the top, the author's choices.
        flat = yield from self._graph.flat(schema, path or "$", short=depth >= _SHALLOW)
        above = (*above, id(flat))
        rng = random.Random(seed_of(self._seed, path))
        if "const" in flat:
            self._budget.produce(self._const_size(flat))
            return flat["const"]
        options = flat.get("enum")
        if isinstance(options, list) and options:
            choice = rng.choice(options)
            self._budget.produce(len(msgspec.json.encode(choice)))
            return choice
        kind = _kind(flat)
        if kind == "object":
            return (yield from self._object(flat, path, depth, above))
        if kind == "array":
            return (yield from self._array(flat, rng, path, depth, above))
        self._budget.produce(8)
        if kind in ("integer", "number"):
            return _number(flat, rng, path, integer=kind == "integer")
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(flat, rng, path)

    def _object(
        self, schema: Mapping[str, Any], path: str, depth: int, above: tuple[int, ...]
    ) -> Walk[dict[str, Any]]:
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            properties = {}
        required = dict.fromkeys(n for n in _list(schema, "required") if isinstance(n, str))
        names = list(properties) if depth < _SHALLOW else [n for n in properties if n in required]
        names += [n for n in required if n not in properties]
        value: dict[str, Any] = {}
        for name in names:
            sub = properties.get(name, True)
            sub = sub if isinstance(sub, Mapping) else {}
            if name not in required and not (yield from self._worth_it(sub, path, above)):
                continue  # an optional property that cannot be made, or would recurse
            self._budget.produce(len(name) + 4)
            value[name] = yield from self.value(sub, f"{path}.{clip(name)}", depth + 1, above)
        return value

    def _array(
        self,
        schema: Mapping[str, Any],
        rng: random.Random,
        path: str,
        depth: int,
        above: tuple[int, ...],
    ) -> Walk[list[Any]]:
        low = max(integer_keyword(schema, "minItems") or 0, 0)
        if low > MAX_ITEMS:
            raise InvalidNodeArgs(
                f"json_schema asks for at least {low} items at {path or '$'!r}; the local engine "
                f"generates at most {MAX_ITEMS}"
            )
        high = integer_keyword(schema, "maxItems")
        high = max(low, 3) if high is None else high
        items = schema.get("items")
        item_schema: Mapping[str, Any] = items if isinstance(items, Mapping) else {}
        count = low
        if depth < _SHALLOW and (yield from self._worth_it(item_schema, path, above)):
            count = min(max(rng.randint(2, 3), low), high)
        self._budget.produce(2)
        value = []
        for index in range(count):
            item = yield from self.value(item_schema, f"{path}[{index}]", depth + 1, above)
            value.append(item)
        return value

    def _worth_it(self, schema: Mapping[str, Any], path: str, above: tuple[int, ...]) -> Walk[bool]:
        """Whether an optional part is worth generating: satisfiable, and not a schema already
        being generated further up (which would only nest the same thing again)."""
        if not self._graph.grounded(schema):
            return False
        flat = yield from self._graph.flat(schema, path or "$", short=False)
        return id(flat) not in above

    def _string(self, schema: Mapping[str, Any], rng: random.Random, path: str) -> str:
        known = schema.get("format")
        if isinstance(known, str) and known in _FORMATS:
            text = _FORMATS[known]
        else:
            seed = seed_of(self._seed, path, "text")
            words = "".join(
                self._owner._text(self._prompt, seed=seed, max_tokens=rng.randint(2, 6))
            )
            text = words.strip(" .,") or "value"
        low = integer_keyword(schema, "minLength") or 0
        if low > MAX_STRING:
            raise InvalidNodeArgs(f"json_schema asks for a string of at least {low} characters")
        self._budget.produce(max(low, len(text)) + 2)
        self._budget.spend(low // 256)
        while len(text) < low:
            text = f"{text} {text}"
        high = integer_keyword(schema, "maxLength")
        return text if high is None else text[: max(high, 0)]

    def _const_size(self, schema: Mapping[str, Any]) -> int:
        sizes = self._owner._const_sizes
        size = sizes.get(id(schema))
        if size is None:
            size = sizes[id(schema)] = len(msgspec.json.encode(schema["const"]))
            self._budget.spend(size // 256)
        return size


def _list(schema: Mapping[str, Any], keyword: str) -> list[Any]:
    value = schema.get(keyword)
    return value if isinstance(value, list) else []


def _kind(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        names = [k for k in kind if isinstance(k, str)]
        kind = next((k for k in names if k != "null"), names[0] if names else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _number(schema: Mapping[str, Any], rng: random.Random, path: str, *, integer: bool) -> Any:
    low, high = number_keyword(schema, "minimum"), number_keyword(schema, "maximum")
    above = number_keyword(schema, "exclusiveMinimum")
    below = number_keyword(schema, "exclusiveMaximum")

    def fits(value: int | float) -> bool:
        return (
            (low is None or value >= low)
            and (high is None or value <= high)
            and (above is None or value > above)
            and (below is None or value < below)
        )

    # The whole numbers allowed, in exact integer arithmetic (bounds may pass 2**53).
    starts = [_ceil(low)] if low is not None else []
    starts += [_floor(above) + 1] if above is not None else []
    ends = [_floor(high)] if high is not None else []
    ends += [_ceil(below) - 1] if below is not None else []
    end = min(ends, default=None)
    start = max(starts, default=0 if end is None or end >= 0 else end - 100)
    end = start + 100 if end is None else end
    candidates: list[int | float] = [rng.randint(start, end)] if start <= end else []
    if not integer:
        try:
            floor = float(next((b for b in (low, above) if b is not None), start))
            ceiling = float(next((b for b in (high, below) if b is not None), end))
            candidates[:0] = [round(floor + (ceiling - floor) * rng.random(), 2)]
            candidates.append((floor + ceiling) / 2)
            # A range too narrow for those (a few subnormals wide): its own ends, or the floats
            # just inside them.
            candidates += [
                floor if above is None else math.nextafter(floor, math.inf),
                ceiling if below is None else math.nextafter(ceiling, -math.inf),
            ]
        except OverflowError:
            pass  # bounds past the float range: a whole number will do
    for value in candidates:
        if fits(value):
            return value
    raise InvalidNodeArgs(f"json_schema at {path or '$'!r}: no number satisfies its bounds")


def _floor(value: int | float) -> int:
    return value if isinstance(value, int) else int(value // 1)


def _ceil(value: int | float) -> int:
    return value if isinstance(value, int) else int(-(-value // 1))


def delta_chunks(value: Any) -> Iterator[Any]:
    """Chunks in delta shape that rebuild ``value`` when merged in order with ``merge_chunk``.

    Strings come a token at a time, arrays as ``array.item`` chunks, objects field by field;
    other values (and empty containers) come whole.
    """
    if isinstance(value, str):
        yield from split_tokens(value) or [""]
    elif isinstance(value, dict):
        if not value:
            yield {}
        for key, item in value.items():
            for chunk in delta_chunks(item):
                yield {key: chunk}
    elif isinstance(value, list):
        if not value:
            yield []
        for index, item in enumerate(value):
            for chunk in delta_chunks(item):
                yield array_item(index, chunk)
    else:
        yield value
