"""rxsubstrate's benchmark suite: ``python -m benchmarks`` from the repository root.

It starts a loopback aiohttp server in a process of its own, serving precomputed Substrate
streams, and measures each consumer in a fresh process: rxsubstrate's ``iter()``,
``async_iter()``, ``subscribe()`` and an operator pipeline, the official ``substrate`` SDK, plain
httpx + httpx-sse + ``json.loads``, and aiohttp reading the body unparsed (the transport
ceiling). Then memory as the stream grows, many runs at once, the operators, the embedded
engine and the import cost. Every figure of a table comes from the same run, so its ratios hold
on a noisy machine. ``python -m benchmarks --help`` lists the options.
"""
