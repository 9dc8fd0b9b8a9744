"""The request body: its JSON shape bounded on the bytes, then decoded to the ``dag``.

Decoding is cheap per byte but not per value: 8 MB of ``[[],[],...]`` is 2.7 million lists, 600
MB of Python objects and most of a second of CPU (and msgspec gives up past about 1,000 levels
with a ``RecursionError``). So before decoding, ``check_shape`` counts the values and measures the
nesting on the bytes themselves, with a few passes of C-speed ``bytes`` methods over chunks of the
body, and refuses a body over ``max_json_values`` or ``max_json_depth``. No I/O here; call
``decode_dag`` from a worker thread for a large body (each step holds the GIL for a few
milliseconds at most, apart from the final ``msgspec`` decode of an already bounded body).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ._limits import ServerLimits
from ._refusal import Refusal

__all__ = ["check_shape", "decode_dag"]

_CHUNK: Final = 256 * 1024
# Keeps the bytes that make the structure of JSON, with both kinds of brackets made one kind:
# nesting depth does not care which (and mismatched ones are the decoder's to report).
_AS_SQUARE: Final = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE: Final = bytes(range(256)).translate(None, b"[]{},")


def decode_dag(body: bytes, limits: ServerLimits) -> Any:
    """The ``dag`` of a ``{"dag": {...}}`` body, after its shape has passed ``check_shape``.

    Raises:
        Refusal: a 400 ``invalid_request_error`` naming what is wrong.
    """
    check_shape(body, max_depth=limits.max_json_depth, max_values=limits.max_json_values)
    try:
        payload = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _invalid(f"the request body is not JSON: {exc}") from None
    if not isinstance(payload, dict) or "dag" not in payload:
        raise _invalid('the request body must be {"dag": {...}}')
    return payload["dag"]


def check_shape(body: bytes, *, max_depth: int, max_values: int) -> None:
    """Refuse a JSON text with more than ``max_values`` values or nested deeper than ``max_depth``.

    Exact for valid JSON; malformed text either passes (``msgspec`` then says what is wrong) or is
    refused for its apparent size.

    Raises:
        Refusal: a 400 ``invalid_request_error``.
    """
    # Upper bounds first (strings may hold these bytes too): most bodies stop here.
    brackets = body.count(b"[") + body.count(b"{")
    if brackets <= max_depth and brackets + body.count(b",") < max_values:
        return
    structure = _structure(body, max_values)
    if structure is None:
        raise _invalid(f"the request body holds more than {max_values} JSON values")
    containers = structure.count(b"[")
    if containers > max_depth and _deeper_than(structure.replace(b",", b""), max_depth):
        raise _invalid(f"the request body nests arrays and objects deeper than {max_depth} levels")


def _structure(body: bytes, max_values: int) -> bytes | None:
    """The brackets (all made square) and commas of ``body`` outside its strings; None as soon
    as they make more than ``max_values`` values.

    Escaped backslashes go first, so every ``\\"`` left is an escaped quote; without them, a
    string is plain ``"..."`` and splitting on quotes alternates outside, inside, outside. The
    body goes in chunks so that no single call holds the GIL for long, and a body far over the
    limit is refused after its first chunks.
    """
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in body else body
    parts: list[bytes] = []
    inside = False
    values = 1  # a value is the root, the first item of a non-empty container, or follows a comma
    for start in range(0, len(text), _CHUNK):
        pieces = text[start : start + _CHUNK].split(b'"')
        outside = b"".join(pieces[1 if inside else 0 :: 2])
        structure = outside.translate(_AS_SQUARE, _NOT_STRUCTURE)
        values += len(structure) - structure.count(b"]")
        if values > max_values:
            return None
        parts.append(structure)
        inside ^= len(pieces) % 2 == 0
    return b"".join(parts)


def _deeper_than(brackets: bytes, depth: int) -> bool:
    """Whether square ``brackets`` nest deeper than ``depth``: peel the innermost pairs, level by
    level.

    Raises:
        Refusal: the brackets do not match.
    """
    for _ in range(depth):
        peeled = brackets.replace(b"[]", b"")
        if not peeled:
            return False
        if len(peeled) == len(brackets):  # unbalanced, and maybe deeper than msgspec can go
            raise _invalid("the request body is not JSON: its brackets do not match")
        brackets = peeled
    return True


def _invalid(message: str) -> Refusal:
    return Refusal(400, "invalid_request_error", message)
