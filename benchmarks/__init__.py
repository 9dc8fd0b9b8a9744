"""rxsubstrate's benchmark suite: ``python -m benchmarks`` from the repository root.

It starts a loopback aiohttp server in a process of its own, serving precomputed Substrate
streams, and measures each consumer in a fresh process, round after round: a tight reference
loop (aiohttp, split, one msgspec decode per read), rxsubstrate's ``iter()``, ``async_iter()``,
``subscribe()``, ``iterate``/``aiterate`` and an operator pipeline, the official ``substrate``
SDK, plain httpx + httpx-sse + ``json.loads``, and aiohttp reading the body unparsed (the
transport's ceiling). Then events/s and memory as the stream grows and as runs are added
(plotted with ``--plots``), the operators, the embedded engine, ``rxsubstrate serve`` against a
minimal aiohttp server, the directive sandbox and the import cost. Every figure is a median over
fresh processes with its min-max spread, and every comparison is made within one run, so its
ratios hold on a noisy machine. ``python -m benchmarks --help`` lists the options.
"""
