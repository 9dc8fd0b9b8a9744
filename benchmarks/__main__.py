"""``python -m benchmarks [--quick] [--markdown] [--only SECTION] [--profile CONSUMER]``."""

from __future__ import annotations

import argparse
import sys
import time

from ._consumers import CONSUMERS
from ._runner import SECTIONS, Settings, Suite, run_child
from ._server import ServerProcess
from ._table import machine, render


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
    parser.add_argument("--n", type=int, help="stream length for --profile (and throughput)")
    parser.add_argument("--mode", choices=["chunked", "events"], default="chunked")
    args = parser.parse_args(argv)

    settings = Settings.quick() if args.quick else Settings()
    if args.n:
        settings = Settings(**{**settings.__dict__, "n": args.n})
    with ServerProcess() as server:
        suite = Suite(server, settings)
        if args.profile:
            report = run_child(args.profile, suite.job(settings.n, args.mode), profile=True)
            print(report)
            return 0 if "function calls" in report else 1
        started = time.perf_counter()
        kind = "quick run" if args.quick else "full run"
        title = f"rxsubstrate benchmarks ({kind})"
        if args.markdown:
            print(f"# {title}\n\nMachine: {machine()}\n")
            print("Reproduce from the repository root with `python -m benchmarks` (`--markdown`")
            print("for this page); every figure on it comes from one run.\n", flush=True)
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
