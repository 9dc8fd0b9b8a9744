"""The deterministic stand-in for a language model: plain English words, seeded, token by token.

The same seed always gives the same text, on every machine and Python run (the seed is hashed
with SHA-256, never with ``hash()``, which Python randomizes per process). A token is one word or
one punctuation mark; each chunk the generator yields is one token, words with their leading
space, so ``"".join(chunks)`` is the text and ``count_tokens(text) == len(chunks)``.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable
from typing import Any, Final, Protocol

import msgspec

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "TextGenerator",
    "count_tokens",
    "generate_text",
    "seed_of",
    "split_tokens",
]

DEFAULT_MAX_TOKENS: Final = 64
"""How many tokens a text node generates at most when its ``max_tokens`` is unset."""

_WORDS: Final = (  # noqa: SIM905 - a word list reads better as text
    "the a an of to in on for with from by about as at into over under between through after "
    "before during without river windmill garden stone light water field morning evening city "
    "road bridge harbor mountain valley forest island village market library letter story "
    "question answer idea plan model graph node stream signal system pattern method result "
    "moment season journey machine engine lantern window door table chair paper ink song "
    "quiet bright gentle careful simple steady clear early late small large old new green "
    "blue golden distant nearby curious patient honest brave useful strange familiar open "
    "builds carries finds keeps makes shows turns follows watches holds brings gives reads "
    "writes remembers explains answers joins measures opens closes grows changes returns "
    "slowly quickly often always rarely together again still perhaps indeed however then"
).split()
_TOKEN: Final = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")
_COUNTED: Final = re.compile(r"\w+|[^\w\s]")


class TextGenerator(Protocol):
    """Makes a node's text: given the prompt, a seed and a token budget, yields its chunks.

    Must be deterministic in ``seed`` (the engine derives it from the node kind and arguments) and
    yield at most ``max_tokens`` chunks whose concatenation is the text.
    """

    def __call__(self, prompt: str, *, seed: bytes, max_tokens: int) -> Iterable[str]: ...


def generate_text(prompt: str, *, seed: bytes, max_tokens: int) -> list[str]:
    """The default ``TextGenerator``: sentences of plain words, 16 to 96 tokens, cut at the budget.

    ``prompt`` is already part of ``seed``; the words do not depend on it otherwise. The text is
    made whole, a sentence at a time (at most 96 tokens: cheaper than a generator per token, which
    cost the engine a sixth of its time per delta).
    """
    del prompt
    rng = random.Random(int.from_bytes(hashlib.sha256(seed).digest()[:8], "big"))
    budget = min(max(max_tokens, 0), rng.randint(16, 96))
    tokens: list[str] = []
    while len(tokens) < budget:
        tokens += _sentence(rng, first=not tokens)
    del tokens[budget:]
    return tokens


def _sentence(rng: random.Random, *, first: bool) -> list[str]:
    length = rng.randint(5, 14)
    comma_after = rng.randint(2, length - 2) if rng.random() < 0.4 else -1
    words = rng.choices(_WORDS, k=length)
    tokens = [" " + word for word in words]
    opening = words[0].capitalize()
    tokens[0] = opening if first else " " + opening
    if comma_after >= 0:
        tokens.insert(comma_after + 1, ",")
    tokens.append(".")
    return tokens


def seed_of(*parts: Any) -> bytes:
    """A stable seed for JSON-like parts (dict key order does not matter)."""
    return hashlib.sha256(msgspec.json.encode(parts, order="sorted")).digest()


def split_tokens(text: str) -> list[str]:
    """``text`` cut into token chunks (each word keeps the whitespace before it)."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    """How many tokens (words and punctuation marks) ``text`` has."""
    return len(_COUNTED.findall(text))
