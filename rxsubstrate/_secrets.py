"""``Secrets``: your own model providers' keys, sent with each request as the official SDK does."""

from __future__ import annotations

import dataclasses
from typing import Final

__all__ = ["Secrets", "secret_headers"]

_HEADERS: Final = {
    "openai": "x-substrate-openai-api-key",
    "anthropic": "x-substrate-anthropic-api-key",
}
"""The header each provider's key travels in, as the official SDK names them."""


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class Secrets:
    """Your own API keys for model providers, for the nodes the server runs on their models.

    Pass it as ``Substrate(secrets=...)``. As with the official SDK, each key that is set is sent
    with every request, in a header (``x-substrate-openai-api-key``,
    ``x-substrate-anthropic-api-key``), and nowhere else. ``repr`` shows only which keys are set;
    no error message names a key. The local engine ignores them.

    Args:
        openai: an OpenAI API key.
        anthropic: an Anthropic API key.

    Raises:
        TypeError: a key is not a string.
        ValueError: a key is empty, has whitespace around it, or holds a character an HTTP header
            cannot carry (the message names the provider, never the key).
    """

    openai: str | None = None
    anthropic: str | None = None

    def __post_init__(self) -> None:
        for provider in _HEADERS:
            key = getattr(self, provider)
            if key is None:
                continue
            if not isinstance(key, str):
                raise TypeError(f"Secrets.{provider} must be a string, got {type(key).__name__}")
            if not key or key != key.strip() or not (key.isascii() and key.isprintable()):
                raise ValueError(
                    f"Secrets.{provider} must be a non-empty key of printable ASCII characters"
                    " with no whitespace around it (it travels in an HTTP header)"
                )

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{provider}={'<set>' if getattr(self, provider) is not None else None}"
            for provider in _HEADERS
        )
        return f"Secrets({shown})"


def secret_headers(secrets: Secrets | None) -> dict[str, str]:
    """The headers that carry ``secrets``' keys (none for ``None``).

    Raises:
        TypeError: ``secrets`` is not a ``Secrets``.
    """
    if secrets is None:
        return {}
    if not isinstance(secrets, Secrets):
        raise TypeError(f"secrets must be an rxsubstrate.Secrets, got {type(secrets).__name__}")
    headers: dict[str, str] = {}
    for provider, header in _HEADERS.items():
        key = getattr(secrets, provider)
        if key is not None:
            headers[header] = key
    return headers
