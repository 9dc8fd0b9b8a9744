"""Where ``run`` and ``record`` send their run: the embedded engine unless a server or a key is
given, on the command line or in the environment, as ``Substrate()`` itself decides."""

from __future__ import annotations

import argparse
import os
from typing import Final

from .._backend import HOSTED_URL
from .._client import Substrate
from ._key_file import read_key
from ._usage import BadArguments, non_negative_seconds

__all__ = ["STAND_IN", "add_backend_arguments", "client_of"]

STAND_IN: Final = "the built-in text is a local stand-in (seeded words), not a model's output"


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """``--base-url``, ``--api-key`` / ``--api-key-file``, ``--chunk-delay``."""
    where = parser.add_argument_group(
        "where the run goes",
        "default: the embedded local engine, unless a server or a key is given here or in"
        " $SUBSTRATE_BASE_URL / $SUBSTRATE_API_KEY",
    )
    where.add_argument(
        "--base-url",
        metavar="URL",
        help="a Substrate-compatible server, e.g. http://127.0.0.1:8787 (rxsubstrate serve)"
        f" (default: $SUBSTRATE_BASE_URL, else {HOSTED_URL} when a key is given)",
    )
    key = where.add_mutually_exclusive_group()
    key.add_argument(
        "--api-key-file",
        metavar="PATH",
        help="the API key: the first line of PATH ('-': of stdin) (default: $SUBSTRATE_API_KEY)",
    )
    key.add_argument(
        "--api-key",
        help="the API key itself; discouraged, as every local user can read a process's"
        " arguments (default: $SUBSTRATE_API_KEY)",
    )
    where.add_argument(
        "--chunk-delay",
        type=non_negative_seconds,
        default=0.02,
        metavar="SECONDS",
        help="the embedded engine's pause between a node's deltas, so that the view streams",
    )


def client_of(args: argparse.Namespace) -> tuple[Substrate, str]:
    """The client the options name, and a line saying where its runs go.

    Raises:
        BadArguments: the key file cannot be read, or the URL or key is not usable.
    """
    key = args.api_key
    if args.api_key_file:
        try:
            key = read_key(args.api_key_file)
        except (OSError, ValueError) as exc:
            raise BadArguments(str(exc)) from None
    url = args.base_url
    env_url = os.environ.get("SUBSTRATE_BASE_URL")
    if not (key or url or env_url or os.environ.get("SUBSTRATE_API_KEY")):
        from ..engine import Engine

        engine = Substrate(engine=Engine(chunk_delay=args.chunk_delay))
        return engine, f"embedded engine ({args.chunk_delay:g}s between deltas): {STAND_IN}"
    try:
        client = Substrate(key, url)
    except ValueError as exc:  # the message never shows the key
        raise BadArguments(str(exc)) from None
    return client, f"server {url or env_url or HOSTED_URL}"
