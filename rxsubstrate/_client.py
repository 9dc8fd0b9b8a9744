"""The client: ``Substrate``, its cold ``RunStream`` Observable, and non-streaming results."""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import aclosing
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, overload

import msgspec
from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.scheduler.eventloop import AsyncIOScheduler

from ._backend import HOSTED_URL, EmbeddedEngine, RemoteServer
from ._bridges import SSEText, async_iterate, iterate, same_batch, sse_batch
from ._channel import Channel
from ._config import Limits, Retry, Timeout, check_headers
from ._errors import ClientClosed, NodeFailed
from ._event_stream import Tap
from ._events import Event
from ._graph import serialize, visualize
from ._iterate import pacing
from ._lifetime import ClientLifetime, Outcome
from ._loop_thread import CLOSED
from ._pipeline import Witness, awaited, piped, run_explained, witness_for
from ._secrets import Secrets, secret_headers
from ._transport import Transport

if TYPE_CHECKING:
    from ._graph import Node
    from ._merge import RunEvent
    from .engine import Engine

__all__ = ["RunResult", "RunStream", "Substrate"]

OutT = TypeVar("OutT")
Label = TypeVar("Label")


class Substrate:
    """A Substrate client whose runs are reactive streams.

    Where runs go is its ``backend``: a ``RemoteServer`` (``base_url``, default the hosted API
    when a key is given) or an ``EmbeddedEngine``. With neither ``api_key`` nor ``base_url``
    (and neither ``SUBSTRATE_API_KEY`` nor ``SUBSTRATE_BASE_URL`` in the environment) it runs
    graphs on the embedded local engine, started lazily on a loopback port and stopped by
    ``close()``; pass ``engine=`` to embed an engine of your own (custom node implementations,
    chunk delays). ``base_url=``, ``engine=`` and ``backend=`` exclude one another (mypy says so).

    Threads: async methods and subscriptions made inside a running asyncio loop do their I/O and
    deliver events on that loop. ``iter()`` where no loop runs reads on the calling thread,
    on an event loop of its own that it runs while it waits. Other sync methods, and
    subscriptions made where no loop runs, use the client's own loop thread, which starts on
    first use; ``subscribe`` callbacks then run on that thread.

    Lifetime: ``close()`` (or ``with``) releases the loop thread, the loops ``iter()`` drives,
    their sessions and the embedded server, and ends the runs still in flight with
    ``ClientClosed``. A client that is never closed is released the same way when it is garbage
    collected or the interpreter exits; a run in flight keeps its client alive.

    Args:
        api_key: the API key, sent as ``Authorization: Bearer``; never shown in a repr or error.
        base_url: the server, e.g. ``http://127.0.0.1:8787``; default the hosted API when a key
            is given.
        timeout: seconds for connecting and between reads, or a ``Timeout`` (which can also
            bound a whole run).
        retry: how requests that failed before the server answered are sent again (refused
            or reset connections, 429, 502, 503, 504); ``None`` sends each request once.
            Nothing is retried once a run's events have begun.
        limits: memory bounds (largest event, batches buffered for ``iter()``).
        engine: an ``rxsubstrate.engine.Engine`` to embed instead of the default one (short for
            ``backend=EmbeddedEngine(engine)``).
        additional_headers: sent with every request.
        secrets: your model providers' keys, sent as headers as the official SDK does; never
            shown in a repr or error.
        backend: where runs go, as an object: ``RemoteServer(url, key)`` or
            ``EmbeddedEngine(engine)``.

    Raises:
        ValueError: the key has surrounding whitespace or a line break (the message never
            shows the key), or ``base_url`` is not an http(s) URL with a host.
    """

    @overload
    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | Timeout | None = None,
        *,
        retry: Retry | None = ...,
        limits: Limits | None = None,
        additional_headers: Mapping[str, str] | None = None,
        secrets: Secrets | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        engine: Engine,
        timeout: float | Timeout | None = None,
        retry: Retry | None = ...,
        limits: Limits | None = None,
        additional_headers: Mapping[str, str] | None = None,
        secrets: Secrets | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        backend: RemoteServer | EmbeddedEngine,
        timeout: float | Timeout | None = None,
        retry: Retry | None = ...,
        limits: Limits | None = None,
        additional_headers: Mapping[str, str] | None = None,
        secrets: Secrets | None = None,
    ) -> None: ...

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | Timeout | None = None,
        *,
        retry: Retry | None = Retry(),  # noqa: B008  (frozen: one shared default is safe)
        limits: Limits | None = None,
        engine: Engine | None = None,
        additional_headers: Mapping[str, str] | None = None,
        secrets: Secrets | None = None,
        backend: RemoteServer | EmbeddedEngine | None = None,
    ) -> None:
        self.backend = _backend(api_key, base_url, engine, backend)
        check_headers(additional_headers or {})
        if timeout is None:
            timeout = Timeout()
        elif not isinstance(timeout, Timeout):
            timeout = Timeout(connect=float(timeout), read=float(timeout))
        self.timeout = timeout
        if retry is not None and not isinstance(retry, Retry):
            raise TypeError("retry= takes an rxsubstrate.Retry, or None to send requests once")
        self.retry = retry or Retry(attempts=1)
        self.limits = limits or Limits()
        provider_keys = secret_headers(secrets)
        self._headers = {**(additional_headers or {}), **provider_keys}
        self._secrets = tuple(provider_keys.values())
        self._life = ClientLifetime()
        self._finalizer = weakref.finalize(self, self._life.close)

    def __repr__(self) -> str:
        return f"Substrate({self.backend!r})"

    @property
    def base_url(self) -> str:
        """The server's URL; for the embedded engine, starts it."""
        return self._transport().base_url

    # The official SDK's static helpers, so that `Substrate.serialize(a, b)` ports unchanged.
    serialize = staticmethod(serialize)
    visualize = staticmethod(visualize)

    # -- runs ---------------------------------------------------------------------------------

    def stream(self, *nodes: Node[Any] | Mapping[str, Any]) -> RunStream:
        """A run of the graph of ``nodes`` (and every node they reference) as a cold Observable.

        Nothing is sent until something subscribes or iterates; each subscription is one run.
        A single mapping is taken as an already serialized dag.
        """
        return RunStream(_ServerRun(self, self._serialize(nodes)))

    async def async_stream(self, *nodes: Node[Any] | Mapping[str, Any]) -> RunStream:
        """``stream`` for code written against the official SDK's ``await async_stream(...)``."""
        return self.stream(*nodes)

    @overload
    def stream_many(
        self,
        graphs: Mapping[Label, Sequence[Node[Any]] | Node[Any]],
        max_concurrency: int = 8,
    ) -> Observable[RunEvent[Label, Event]]: ...

    @overload
    def stream_many(
        self, graphs: Sequence[Sequence[Node[Any]]], max_concurrency: int = 8
    ) -> Observable[RunEvent[int, Event]]: ...

    def stream_many(
        self,
        graphs: Mapping[Any, Sequence[Node[Any]] | Node[Any]] | Sequence[Sequence[Node[Any]]],
        max_concurrency: int = 8,
    ) -> Observable[RunEvent[Any, Event]]:
        """Many runs as one stream of ``RunEvent(run, event)``, at most ``max_concurrency`` at once.

        ``graphs`` maps labels to a node or a sequence of nodes; a plain sequence is labelled by
        position.
        """
        from ._merge import stream_many

        def as_nodes(graph: Sequence[Node[Any]] | Node[Any]) -> Sequence[Node[Any]]:
            return graph if isinstance(graph, Sequence) else (graph,)

        if isinstance(graphs, Mapping):
            labelled = {label: self.stream(*as_nodes(g)) for label, g in graphs.items()}
            return stream_many(labelled, max_concurrency=max_concurrency)
        return stream_many(
            [self.stream(*as_nodes(g)) for g in graphs], max_concurrency=max_concurrency
        )

    def run(self, *nodes: Node[Any] | Mapping[str, Any]) -> RunResult:
        """Run without streaming and wait for the whole result (on the client's loop thread).

        A request that failed before the server answered is sent again as ``retry`` allows.

        Raises:
            APIStatusError: the server refused the run; ``UnexpectedContentType``: its answer
                is not JSON; ``TransportError``: no answer (see the error tree).
        """
        dag = self._serialize(nodes)
        transport = self._transport()
        return RunResult(*self._life.call(transport.post_json(dag)))

    async def async_run(self, *nodes: Node[Any] | Mapping[str, Any]) -> RunResult:
        """Run without streaming, on the running loop."""
        dag = self._serialize(nodes)
        transport = await self._async_transport()
        return RunResult(*await self._life.call_here(partial(transport.post_json, dag), self))

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """End the runs in flight, release the loop thread, its session and the embedded server.

        Idempotent and thread-safe. Every run still going, on any loop, ends with
        ``ClientClosed`` after the events it had already received; later runs raise it. Returns
        once everything is released, except when called from a ``subscribe()`` callback (on the
        client's loop thread), where the release finishes once the callback returns.
        """
        self._finalizer.detach()
        self._life.close()

    async def aclose(self) -> None:
        """``close`` without blocking the running loop."""
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def __enter__(self) -> Substrate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Substrate:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- internals ----------------------------------------------------------------------------

    def _serialize(self, nodes: Sequence[Node[Any] | Mapping[str, Any]]) -> dict[str, Any]:
        if len(nodes) == 1 and isinstance(nodes[0], Mapping):
            return dict(nodes[0])
        from ._graph import Node

        if not nodes or not all(isinstance(n, Node) for n in nodes):
            raise TypeError("stream()/run() take nodes (or one serialized dag mapping)")
        return serialize(*cast("Sequence[Node[Any]]", nodes))

    def _transport(self) -> Transport:
        """The transport, made on first use; starts the embedded server when there is one."""
        life = self._life
        with life.lock:
            if life.closed:
                raise ClientClosed(CLOSED)
            if life.transport is None:
                life.backend = self.backend
                address = self.backend.address()
                life.transport = Transport(
                    address.base_url,
                    address.api_key,
                    self.timeout,
                    self.limits,
                    self.retry,
                    is_home=life.is_home,
                    extra_headers=self._headers,
                    secrets=self._secrets,
                )
            return life.transport

    async def _async_transport(self) -> Transport:
        transport = self._life.transport
        if transport is not None and not self._life.closed:
            return transport
        return await asyncio.get_running_loop().run_in_executor(None, self._transport)


def _backend(
    api_key: str | None,
    base_url: str | None,
    engine: Engine | None,
    backend: RemoteServer | EmbeddedEngine | None,
) -> RemoteServer | EmbeddedEngine:
    """The backend the arguments name (the environment fills in a key and a URL not given)."""
    given = [name for name, value in (("base_url", base_url), ("engine", engine)) if value]
    if backend is not None:
        if given or api_key:
            raise ValueError(f"pass backend= alone, not with {', '.join(given) or 'api_key'}=")
        return backend
    if engine is not None and base_url is not None:
        raise ValueError("pass either engine= (embedded) or base_url=, not both")
    if engine is not None:
        return EmbeddedEngine(engine)
    api_key = api_key or os.environ.get("SUBSTRATE_API_KEY") or None
    base_url = base_url or os.environ.get("SUBSTRATE_BASE_URL") or None
    if base_url is None and api_key is None:
        return EmbeddedEngine()
    return RemoteServer(base_url or HOSTED_URL, api_key)


class RunSource(Protocol):
    """Where a ``RunStream``'s events come from: a server's run of a dag, or a recording."""

    @property
    def dag(self) -> dict[str, Any] | None:
        """The dag a run runs; None for a recording."""
        ...

    @property
    def lifetime(self) -> ClientLifetime:
        """Owns the loop thread and tracks the runs in flight."""
        ...

    @property
    def max_buffered_batches(self) -> int: ...

    def prepare(self) -> None:
        """Called on the subscribing thread before a run on the loop thread; may block."""
        ...

    async def open(self, tap: Tap | None = None) -> AsyncGenerator[list[Event], None]:
        """The run's batches (``read_events``), on the running loop; ``tap`` sees each read."""
        ...


class _ServerRun:
    """A run of ``dag`` on ``client``'s server; it keeps the client alive."""

    def __init__(self, client: Substrate, dag: dict[str, Any]) -> None:
        self.client = client
        self.dag = dag
        self.lifetime = client._life

    @property
    def max_buffered_batches(self) -> int:
        return self.client.limits.max_buffered_batches

    def prepare(self) -> None:
        self.client._transport()  # may start the embedded server: this thread can wait for it

    async def open(self, tap: Tap | None = None) -> AsyncGenerator[list[Event], None]:
        transport = await self.client._async_transport()
        return transport.stream_batches(self.dag, tap)


class RunStream(Observable[Event]):
    """One graph, run once per subscription: a cold ``Observable`` of typed events.

    ``on_completed`` follows ``graph.result``; a failure arrives as ``on_error`` with an
    ``rxsubstrate.SubstrateError``. Disposing the subscription cancels the request and closes
    the connection. Events are delivered on the running loop when subscribed inside one (or on
    the loop of an ``AsyncIOScheduler`` passed as ``scheduler``), else on the client's loop
    thread. ``rxsubstrate.replay`` gives the same kind of stream, read from a recording, with
    a loop thread of its own.

    Errors raised by the subscriber's own callbacks follow reactivex's sources
    (``reactivex.from_iterable``): what ``on_next`` raises ends the run and goes to
    ``on_error``; with no ``on_error`` (or one that raises) it is not swallowed but handed to
    the delivering loop's exception handler, as reactivex's ``AsyncIOScheduler`` does, which by
    default logs it with its traceback. ``close()`` on the client ends the subscription with
    ``on_error(ClientClosed)``; subscribing to a closed client raises (or sends) it at once.

    It also has the official SDK's helpers: ``iter()``, ``async_iter()``, ``iter_events()``,
    ``async_iter_events()``. Piped through operators, it is read with ``rxsubstrate.iterate``
    (``for``) or ``rxsubstrate.aiterate`` (``async for``), whose buffer paces the run. Its
    ``run()`` and ``await``, and those of its pipelines (``pipe`` returns one whose ``run()``
    does this), say why nothing came: ``NodeFailed``, or ``NoValue`` naming a node that is not
    in the graph, hidden or filtered out; in a running event loop, ``run()`` raises
    ``WouldDeadlock`` instead of blocking it.
    """

    def __init__(self, source: RunSource) -> None:
        super().__init__()
        self._source = source

    @property
    def dag(self) -> dict[str, Any] | None:
        """The dag each subscription runs; None for a replay."""
        return self._source.dag

    def _subscribe_core(
        self, observer: abc.ObserverBase[Event], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        source = self._source
        if isinstance(scheduler, AsyncIOScheduler):
            loop: asyncio.AbstractEventLoop | None = scheduler._loop
        else:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        if loop is None:
            source.prepare()
        pump = partial(self._pump, observer, pacing(), witness_for(self))
        run = source.lifetime.launch(pump, partial(_end, observer), source, loop)
        return Disposable(partial(run.cancel, "its subscription was disposed"))

    async def _pump(
        self,
        observer: abc.ObserverBase[Event],
        channel: Channel[Any] | None,
        witness: Witness | None,
    ) -> None:
        """Deliver the run's events; paced by ``channel`` (an iteration's), shown to ``witness``
        (a pipeline's ``run()``), when the subscription was made for one of them."""
        async with aclosing(await self._source.open()) as batches:
            on_next = observer.on_next
            async for batch in batches:
                if witness is not None:
                    witness.saw(batch)
                if channel is None:  # the common path: nothing more per event
                    for event in batch:
                        on_next(event)
                else:
                    for event in batch:
                        on_next(event)
                        if channel.full():
                            await channel.space()
                del batch  # a run waiting for its server holds no events

    if not TYPE_CHECKING:  # the inherited overloads type it; at run time it is explained

        def pipe(self, *operators: Callable[[Any], Any]) -> Any:
            """reactivex's ``pipe``; when the result is a plain Observable, its ``run()`` and
            ``await`` say why it gave no value (``NoValue``, ``NodeFailed``)."""
            return piped(self, self, None, operators)

    def run(self, scheduler: abc.SchedulerBase | None = None) -> Event:
        """Wait for the run to end and return its last event, the ``GraphResult``.

        Raises:
            WouldDeadlock: called inside a running event loop (``await`` the stream there).
        """
        return run_explained(self, self, None, scheduler)

    def __await__(self) -> Generator[Any, None, Event]:
        return awaited(self, self, None)

    def __iter__(self) -> Iterator[Event]:
        """``for event in stream``: ``stream.iter()`` (without this, Python would fall back on
        reactivex's slicing and loop forever on empty slices)."""
        return self.iter()

    def __aiter__(self) -> AsyncIterator[Event]:
        """``async for event in stream``: ``stream.async_iter()``."""
        return self.async_iter()

    def iter(self) -> Iterator[Event]:
        """The run's events on the calling thread.

        Where no event loop runs, the I/O runs on the calling thread too, on an event loop the
        client lends the iterator, which it runs while it waits for events (so iterating costs
        no hand-over between threads; the iterator may be read from one thread after another).
        The loop goes back to the client with its pooled connection, which the next ``iter()``
        reuses.
        Inside a running loop, the I/O runs on the client's loop thread (a replay's on its own).

        At most ``Limits.max_buffered_batches`` network reads wait for a slow consumer; then
        reading pauses. Closing the iterator early (``break``), or dropping it, cancels the
        request. If the client is closed meanwhile, the events already received come first,
        then ``ClientClosed``.
        """
        return self._iter()

    def _iter(self) -> Generator[Event, None, None]:
        source = self._source
        source.prepare()
        return iterate(source.open, source.lifetime, source.max_buffered_batches, source)

    def async_iter(self) -> AsyncIterator[Event]:
        """The run's events, read on the running loop as the consumer asks for them.

        ``break`` (or dropping the iterator), ``aclose()`` or cancelling the task reading it
        cancels the request.
        """
        return async_iterate(self._source.open, self._source.lifetime, self._source, same_batch)

    def iter_events(self) -> Iterator[str]:
        """The run as SSE text, one event per item, byte for byte what the official SDK's
        ``iter_events()`` yields (``event: message\ndata: {json}\n\n``).

        The iterator is also an async iterator, which Starlette's ``StreamingResponse`` reads on
        its own loop: no worker thread waits on the run, and the run is cancelled as soon as the
        response's client goes away. Read with ``for``, it is ``iter()``'s events as text. For a
        browser's ``EventSource``, which reconnects (a new run) when the stream ends, use
        ``rxsubstrate.web`` instead.
        """
        return SSEText(self._iter, self.async_iter_events)

    def async_iter_events(self) -> AsyncIterator[str]:
        """``iter_events`` on the running loop."""
        return async_iterate(self._source.open, self._source.lifetime, self._source, sse_batch)


def _end(observer: abc.ObserverBase[Event], outcome: Outcome) -> None:
    """Tell a subscriber how its run ended, on the run's loop.

    What its callbacks raise here has nowhere else to go: the loop's exception handler gets it.
    """
    try:
        if outcome is None:
            observer.on_completed()
        elif isinstance(outcome, Exception):  # not CancelledError: the subscriber disposed
            observer.on_error(outcome)
    except Exception as exc:  # the subscriber's callback, or reactivex's default on_error
        asyncio.get_running_loop().call_exception_handler(
            {
                "message": "Unhandled error in an rxsubstrate subscription (its callback raised,"
                " or its run failed and it has no on_error)",
                "exception": exc,
            }
        )


class RunResult:
    """The answer of a non-streaming run: ``json`` as the server sent it, ``get(node)``."""

    def __init__(self, json: dict[str, Any], request_id: str | None) -> None:
        self.json = json
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"RunResult(request_id={self.request_id!r}, nodes={list(self.outputs)})"

    @property
    def outputs(self) -> dict[str, Any]:
        """Each visible node's output by node id."""
        data = self.json.get("data")
        return data if isinstance(data, dict) else {}

    def get(self, node: Node[OutT]) -> OutT:
        """The node's output, as its typed output Struct when the node class has one.

        Raises:
            KeyError: the node is not in the result (hidden, or not part of the graph).
            NodeFailed: the node failed; the error carries its type and message.
        """
        output = self.outputs.get(node.id)
        if output is None:
            raise KeyError(f"node {node.id} is not in the result (is it hidden?)")
        if (
            isinstance(output, dict)
            and set(output) <= {"type", "message", "status_code"}
            and ("message" in output and "type" in output)
        ):
            raise NodeFailed(node.id, str(output["type"]), str(output["message"]))
        output_type = getattr(node, "output_type", None)
        if output_type is None:
            return cast(OutT, output)
        return cast(OutT, msgspec.convert(output, output_type))
