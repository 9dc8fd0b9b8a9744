"""Client configuration objects, and the checks ``Substrate()`` makes on what it is given."""

import ipaddress
import string
from collections.abc import Mapping
from urllib.parse import urlsplit

import msgspec

__all__ = ["Limits", "Retry", "Timeout", "check_api_key", "check_base_url", "check_headers"]


class Timeout(msgspec.Struct, frozen=True, kw_only=True):
    """How long the client waits, in seconds; ``None`` waits forever.

    Attributes:
        connect: for a stream, to connect and send the request and receive the response
            headers (``ConnectTimeout``); for ``run()``, whose answer comes only when the graph
            is done, to connect.
        read: between two reads of the body: an idle stream fails with ``ReadTimeout`` after
            this long, however long the whole run takes. ``run()`` waits this long for its
            answer.
        total: the most a whole run may take, retries and their waits included
            (``RunTimeout``); checked whenever the client waits for the server.
    """

    connect: float | None = 30.0
    read: float | None = 300.0
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"Timeout.{name} must be a positive number of seconds or None")


class Retry(msgspec.Struct, frozen=True, kw_only=True):
    """When a failed request is sent again.

    Only failures before the server answered are retried: a refused or reset connection
    (``ConnectError``) and the statuses 429, 502, 503 and 504. Once the server has answered a
    run with 200, nothing is retried, so no event is ever delivered twice. ``Retry(attempts=1)``
    (or ``Substrate(retry=None)``) turns retrying off.

    Attributes:
        attempts: requests sent at most, the first one included.
        backoff: the wait before the first retry; it doubles before each next one, and each
            wait is shortened by a random part of up to half (jitter), so that many clients
            failing together do not come back together.
        max_wait: the longest single wait. A ``Retry-After`` is waited for as the server asked
            when it is no longer than this; a longer one ends the retries, and the error
            carries ``retry_after``.
        give_up_after: no retry starts once this many seconds have passed since the first
            request (the wait included); ``Timeout.total`` also bounds them.
    """

    attempts: int = 3
    backoff: float = 0.5
    max_wait: float = 10.0
    give_up_after: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Retry.attempts counts the first request too: it must be 1 or more")
        for name in ("backoff", "max_wait", "give_up_after"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"Retry.{name} must be 0 or more seconds")


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Memory bounds of a run.

    Attributes:
        max_event_size: the most bytes one SSE event may span (``EventTooLarge`` past it).
        max_buffered_batches: how many undelivered batches (one per network read, 16 KiB of
            the stream at most) ``iter()`` holds before it stops reading the socket until the
            consumer catches up, when it reads on the client's loop thread (called inside a
            running event loop; elsewhere it reads one batch at a time, as it is consumed).
    """

    max_event_size: int = 16 * 1024 * 1024
    max_buffered_batches: int = 32


def check_api_key(api_key: str) -> None:
    """Refuse a key that cannot be what the user meant, without ever showing it.

    A trailing newline (a key read from a file) or other whitespace or control characters
    would be sent as part of the header, or make the HTTP library raise an error that quotes
    the header, key included.

    Raises:
        ValueError: the key has surrounding whitespace or a control character.
    """
    if api_key != api_key.strip() or any(c < " " or c == "\x7f" for c in api_key):
        raise ValueError(
            "the API key has surrounding whitespace or a control character (a line break?);"
            " strip it where it is read, e.g. os.environ['SUBSTRATE_API_KEY'].strip()"
        )


def check_base_url(base_url: str, *, with_key: bool = False) -> None:
    """Refuse a base URL that no request could be sent to, when the client is made (rather
    than at the first run, in the HTTP library's words).

    Raises:
        ValueError: not an ``http://`` or ``https://`` URL with a valid host, or it has a query
            or fragment (``/compose`` is appended to it), or whitespace; or it carries
            ``user:password@`` credentials while an API key is given (``with_key``). The
            message never shows the URL, which may hold a password.
    """
    example = "e.g. http://127.0.0.1:8787 or https://api.substrate.run"
    if any(c.isspace() or c < " " for c in base_url):
        raise ValueError(f"base_url has whitespace or a control character; {example}")
    try:
        parts = urlsplit(base_url)
        host = parts.hostname
        parts.port  # noqa: B018  (parsing the port is what raises on a bad one)
    except ValueError as exc:
        raise ValueError(f"base_url is not a valid URL ({exc}); {example}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base_url must start with http:// or https://; {example}")
    if not host:
        raise ValueError(f"base_url has no host; {example}")
    _check_host(host, example)
    if parts.query or parts.fragment:
        raise ValueError(f"base_url takes no query or fragment (/compose is appended); {example}")
    if with_key and parts.username is not None:
        raise ValueError(
            "base_url carries credentials (user:password@) and an API key is given: both would"
            " be the Authorization header; drop one of them"
        )


def _check_host(host: str, example: str) -> None:
    if ":" in host:  # an IPv6 literal: urlsplit has checked its brackets
        return
    if set(host) <= set(string.digits + "."):
        try:
            canonical = str(ipaddress.IPv4Address(host)) == host
        except ValueError:
            canonical = False
        if not canonical:
            raise ValueError(f"base_url's host is not an IPv4 address (like 127.0.0.1); {example}")
        return
    try:
        host.encode("idna")
    except UnicodeError:
        raise ValueError(
            f"base_url's host is not a valid name (an empty or over-long label?); {example}"
        ) from None


_TOKEN = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse headers that HTTP cannot carry, when the client is made.

    Raises:
        ValueError: a name that is not an HTTP token, or a value that is not a string or holds a
            control character (a line break?). The message names the header, never its value.
    """
    for name, value in headers.items():
        if not isinstance(name, str) or not name or not set(name) <= _TOKEN:
            raise ValueError(f"additional_headers: {name!r} is not a valid HTTP header name")
        if not isinstance(value, str) or any((c < " " and c != "\t") or c == "\x7f" for c in value):
            raise ValueError(
                f"additional_headers[{name!r}] must be a string without control characters"
                " (a line break?); its value is not shown"
            )
