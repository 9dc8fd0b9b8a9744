"""``python -m benchmarks [--quick] [--markdown] [--plots] [--only SECTION] [--profile CONSUMER]``.

The page: ``python -m benchmarks --markdown --plots > benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import sys
import time

from ._consumers import CONSUMERS
from ._runner import SECTIONS, Settings, Suite, run_child
from ._server import ServerProcess
from ._table import machine, render

PAGE_INTRO = """\
Reproduce from the repository root with `python -m benchmarks --markdown --plots >
benchmarks/RESULTS.md`; every figure on this page comes from that one run, each the median over
fresh processes with the min-max spread of the rounds in brackets. Other results:
[the server under load and attack](RESULTS-server.md),
[hostile graphs against the engine](RESULTS-engine-limits.md),
[the directive sandbox, measured alone](RESULTS-directives.md).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="rxsubstrate's benchmark suite."
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, one repetition: a smoke run (CI)"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print markdown tables (for RESULTS.md)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SECTIONS),
        metavar="SECTION",
        help=f"run only this section (repeatable): {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(CONSUMERS),
        metavar="CONSUMER",
        help=f"cProfile one consumer (top 25 by tottime): {', '.join(CONSUMERS)}",
    )
    parser.add_argument(
        "--plots", action="store_true", help="draw the sweeps' plots into benchmarks/plots"
    )
    parser.add_argument("--n", type=int, help="stream length for --profile (and throughput)")
    parser.add_argument("--mode", choices=["chunked", "events"], default="chunked")
    args = parser.parse_args(argv)

    settings = Settings.quick_run() if args.quick else Settings()
    if args.n:
        settings = Settings(**{**settings.__dict__, "n": args.n})
    suite = Suite(settings, plots=args.plots)  # starts its processes while the server starts
    try:
        with ServerProcess() as server:
            suite.server = server
            return _run(args, suite, settings)
    finally:
        suite.close()


def _run(args: argparse.Namespace, suite: Suite, settings: Settings) -> int:
    if args.profile:
        report = run_child(args.profile, suite.job(settings.n, args.mode), profile=True)
        print(report)
        return 0 if "function calls" in report else 1
    started = time.perf_counter()
    kind = "quick run" if args.quick else "full run"
    title = f"rxsubstrate benchmarks ({kind})"
    if args.markdown:
        print(f"# {title}\n\nMachine: {machine()}\n")
        print(PAGE_INTRO, flush=True)
    else:
        print(f"{title}\nMachine: {machine()}\n", flush=True)
    for name, section_fn in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        for section in section_fn(suite):
            print(render(section, markdown=args.markdown))
            sys.stdout.flush()
    print(f"Took {time.perf_counter() - started:.1f} s; {suite.failures} failed check(s).")
    return 1 if suite.failures else 0


if __name__ == "__main__":
    sys.exit(main())
