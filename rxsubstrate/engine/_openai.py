"""Text nodes answered by any OpenAI-compatible server: vLLM, llama.cpp's server, Ollama, OpenAI.

``OpenAITextBackend(url, model).install(engine)`` replaces the engine's stand-in text nodes
(``ComputeText``, ``MultiComputeText``, ``BatchComputeText`` and the model-named ones) with calls
to ``POST {url}/chat/completions`` with ``"stream": true``. Each upstream chunk's
``choices[i].delta.content`` becomes a node delta as it arrives; several choices are several
concurrent requests (servers differ in whether they honour ``n``). The node's ``model`` argument
is ignored: the backend's ``model`` answers every node.

An upstream failure fails the node with ``api_error``: a non-2xx answer as
``APIStatusError`` (its status and the upstream's own message), a broken or truncated stream as
``TransportError``, a chunk that is not JSON as ``MalformedEvent``.

The backend keeps one pooled ``aiohttp`` session, made on the loop of the first node it serves
and closed by the engine's ``aclose()``: a server (``rxsubstrate serve``, ``Substrate(engine=)``)
closes its engine when it shuts down; code that runs the engine itself awaits ``aclose()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

import aiohttp
import msgspec

from .._config import Timeout
from .._error_body import ERROR_BODY_LIMIT, error_message, message_in
from .._errors import APIStatusError, InvalidNodeArgs, MalformedEvent, TransportError
from .._sse import SSEDecoder
from .._wire import array_item
from ._impl import NodeContext
from ._kinds import MODEL_NODES, choice_count

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["OpenAITextBackend"]

# Node arguments passed through as the same-named OpenAI sampling parameters, when set.
_SAMPLING: Final = ("temperature", "max_tokens", "top_p", "frequency_penalty", "presence_penalty")
DEFAULT_TIMEOUT: Final = Timeout(connect=10.0, read=300.0)


class OpenAITextBackend:
    """Text nodes served by an OpenAI-compatible ``/chat/completions`` endpoint, streamed.

    Args:
        url: the API base, e.g. ``http://127.0.0.1:8000/v1`` (vLLM), ``http://127.0.0.1:8080/v1``
            (llama.cpp) or ``http://127.0.0.1:11434/v1`` (Ollama).
        model: the model name the server knows, sent with every request.
        api_key: sent as ``Authorization: Bearer``; never shown in a repr or an error.
        timeout: ``connect`` bounds connecting, ``read`` the longest silence while waiting for
            the next chunk, ``total`` (if set) one whole completion.

    Example:
        >>> engine = Engine()
        >>> OpenAITextBackend("http://127.0.0.1:11434/v1", "llama3.1").install(engine)
    """

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = aiohttp.ClientTimeout(
            total=timeout.total, connect=timeout.connect, sock_read=timeout.read
        )
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"OpenAITextBackend(url={self.url!r}, model={self.model!r})"

    def install(self, engine: Engine) -> None:
        """Register this backend for every text node kind on ``engine``; the engine's
        ``aclose()`` closes the backend's session."""
        engine.register("ComputeText", self.compute_text)
        engine.register("MultiComputeText", self.multi_compute_text)
        engine.register("BatchComputeText", self.batch_compute_text)
        for kind in MODEL_NODES:
            engine.register(kind, self.model_node)
        engine.on_close(self.aclose)

    async def aclose(self) -> None:
        """Close the pooled session (on the loop it was made on); a later node opens another."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def compute_text(
        self, args: dict[str, Any], context: NodeContext
    ) -> AsyncIterator[dict[str, Any]]:
        """``ComputeText``: deltas ``{"text": chunk}``."""
        async with (
            self._pooled() as session,
            contextlib.aclosing(self._complete(session, _messages(args), args)) as chunks,
        ):
            async for chunk in chunks:
                yield {"text": chunk}

    async def multi_compute_text(
        self, args: dict[str, Any], context: NodeContext
    ) -> AsyncIterator[dict[str, Any]]:
        """``MultiComputeText``: one request per choice, deltas as ``choices`` array items."""
        async for delta in self._choices(args, [_messages(args)] * choice_count(args)):
            yield delta

    async def model_node(
        self, args: dict[str, Any], context: NodeContext
    ) -> AsyncIterator[dict[str, Any]]:
        """``Llama3Instruct8B`` and the other model-named nodes: ``choices`` with ``text``."""
        if args.get("json_schema") is not None:
            raise InvalidNodeArgs("json_schema is not supported by the OpenAI-compatible backend")
        async for delta in self._choices(args, [_messages(args)] * choice_count(args)):
            yield delta

    async def batch_compute_text(
        self, args: dict[str, Any], context: NodeContext
    ) -> dict[str, Any]:
        """``BatchComputeText``: one request per prompt, answered whole as ``outputs``."""
        prompts = args.get("prompts") or []
        texts = [""] * len(prompts)
        conversations = [_messages({**args, "prompt": p}) for p in prompts]
        async with self._pooled() as session:
            streams = [self._complete(session, m, args) for m in conversations]
            async for index, chunk in _merge(streams):
                texts[index] += chunk
        return {"outputs": [{"text": text} for text in texts]}

    async def _choices(
        self, args: dict[str, Any], conversations: Sequence[list[dict[str, Any]]]
    ) -> AsyncIterator[dict[str, Any]]:
        async with self._pooled() as session:
            streams = [self._complete(session, m, args) for m in conversations]
            async for index, chunk in _merge(streams):
                yield {"choices": array_item(index, {"text": chunk})}

    @contextlib.asynccontextmanager
    async def _pooled(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The pooled session; on another loop than its own, a session of this node's own (a
        session belongs to the loop it was made on)."""
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed:
            session, self._session_loop = self._new_session(), loop
            self._session = session
        if self._session_loop is loop:
            yield session
        else:
            async with self._new_session() as own:
                yield own

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)

    async def _complete(
        self, session: aiohttp.ClientSession, messages: list[dict[str, Any]], args: dict[str, Any]
    ) -> AsyncGenerator[str, None]:
        """One streamed completion's content chunks; a completion with none yields ``""``.

        It ends at ``data: [DONE]``, or at the end of the body once a choice has finished.
        """
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True}
        body.update({k: args[k] for k in _SAMPLING if args.get(k) is not None})
        decoder = SSEDecoder()
        received = produced = 0
        finished = ended = False
        with _upstream_errors():
            async with session.post(f"{self.url}/chat/completions", json=body) as response:
                if response.status >= 400:
                    answer = await _read_prefix(response.content, ERROR_BODY_LIMIT)
                    raise APIStatusError(response.status, error_message(answer, "no message"))
                async for data in response.content.iter_any():
                    for payload in decoder.feed_data(data):
                        if payload.strip() == b"[DONE]":
                            ended = True
                            break
                        contents, done = _parse(payload, received)
                        received += 1
                        finished = finished or done
                        for content in contents:
                            produced += 1
                            yield content
                    if ended:
                        break
        finished = finished or ended
        if not finished:
            raise TransportError(
                f"the text backend's stream ended before [DONE] after {received} chunk(s)"
            )
        if not produced:
            yield ""


@contextlib.contextmanager
def _upstream_errors() -> Iterator[None]:
    """aiohttp's failures, as the node error a user can act on."""
    try:
        yield
    except TimeoutError as exc:  # aiohttp's connect and read timeouts are TimeoutErrors too
        raise TransportError("the text backend did not answer within the timeout") from exc
    except aiohttp.ClientPayloadError as exc:
        raise TransportError(f"the text backend's stream broke: {exc}") from exc
    except aiohttp.ClientError as exc:
        raise TransportError(f"cannot reach the text backend: {exc}") from exc


def _parse(payload: bytes, index: int) -> tuple[list[str], bool]:
    """One upstream chunk's content pieces, and whether a choice finished in it.

    Role-only and usage chunks have no content. An ``{"error": ...}`` chunk (some servers report
    failures mid-stream that way) raises ``APIStatusError``.
    """
    try:
        chunk = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise MalformedEvent(
            f"the text backend sent a chunk that is not JSON: {exc}", payload, index
        ) from None
    if not isinstance(chunk, dict):
        raise MalformedEvent("the text backend sent a chunk that is not an object", payload, index)
    if "error" in chunk:
        raise APIStatusError(_error_status(chunk["error"]), message_in(chunk) or "unknown error")
    contents: list[str] = []
    finished = False
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        finished = finished or bool(choice.get("finish_reason"))
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str) and content:
            contents.append(content)
    return contents, finished


async def _merge(streams: Sequence[AsyncIterator[str]]) -> AsyncIterator[tuple[int, str]]:
    """Chunks of several completions as ``(index, chunk)``, as each arrives.

    The first failure fails the whole merge; closing it cancels every request still going.
    """
    queue: asyncio.Queue[tuple[int, str | None] | BaseException] = asyncio.Queue(64)

    async def pump(index: int, stream: AsyncIterator[str]) -> None:
        try:
            async for chunk in stream:
                await queue.put((index, chunk))
        except Exception as exc:  # handed to the consumer, which raises it
            await queue.put(exc)
        else:
            await queue.put((index, None))

    tasks = [asyncio.ensure_future(pump(i, s)) for i, s in enumerate(streams)]
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            index, chunk = item
            if chunk is None:
                remaining -= 1
            else:
                yield index, chunk
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _messages(args: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if args.get("system_prompt"):
        messages.append({"role": "system", "content": str(args["system_prompt"])})
    prompt = str(args.get("prompt") or "")
    images = args.get("image_uris") or []
    if images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
        parts += [{"type": "image_url", "image_url": {"url": str(uri)}} for uri in images]
        messages.append({"role": "user", "content": parts})
    else:
        messages.append({"role": "user", "content": prompt})
    return messages


async def _read_prefix(content: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to ``limit`` bytes of a body (all of it when shorter)."""
    data = bytearray()
    while len(data) < limit and (chunk := await content.read(limit - len(data))):
        data += chunk
    return bytes(data)


def _error_status(error: Any) -> int:
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) and 400 <= code <= 599 else 502
