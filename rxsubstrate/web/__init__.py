"""A run streamed to a browser's ``EventSource``, done so that one page load is one run.

A browser's ``EventSource`` reconnects whenever a stream ends, and to a proxy every reconnect
is a new graph run. So the stream these helpers write ends with a named event (``end``) on
which the page closes its ``EventSource``; its messages carry ids, so that a browser that
reconnects anyway says so (``Last-Event-ID``) and is answered 204, which stops it, and no run.
Text can be sent as plain chunks (``text=node``), so the page only appends them::

    const source = new EventSource("/story");
    source.onmessage = (e) => output.append(e.data);
    source.addEventListener("end", () => source.close());
    source.onerror = () => source.close();

- ``sse_response(request, stream, ...)``: a Starlette / FastAPI response (Starlette is imported
  on first use, never by ``import rxsubstrate``).
- ``await aiohttp_sse_response(request, stream, ...)``: the same from an aiohttp handler.
- ``sse_body(stream, ...)``: the text alone, an async iterator, for any other framework.
"""

from .._public import publish
from ._aiohttp import aiohttp_sse_response
from ._body import RunLike, SSEOptions, sse_body
from ._starlette import sse_response

__all__ = ["RunLike", "SSEOptions", "aiohttp_sse_response", "sse_body", "sse_response"]

publish(globals())
