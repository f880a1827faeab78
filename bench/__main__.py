"""`python -m bench [--quick] [--json FILE]`: measure, print a table, write JSON.
`python -m bench --soak MINUTES`: the soak alone (bench.soak)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import aged, broadcast, soak, dashboard, parsing, pipeline, replays, segments, settlement, workbook
from bench.figures import Figure
from bench.soak import RATE


def main() -> None:
    args = argparse.ArgumentParser(prog="python -m bench")
    args.add_argument("--quick", action="store_true", help="finish in under a minute")
    args.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args.add_argument("--soak", type=int, metavar="MINUTES", help="run the soak alone, this many minutes")
    args.add_argument("--soak-rate", type=float, default=RATE, help=f"messages a second in the soak ({RATE:g})")
    args.add_argument("--soak-db", choices=("sqlite", "postgres"), action="append",
                      help="the soak's database (both unless given)")
    options = args.parse_args()
    figures: list[Figure] = []
    if options.soak:
        figures = soak.run(options.soak, options.soak_rate, tuple(options.soak_db or ("sqlite", "postgres")))
    suites = () if options.soak else (parsing, pipeline, aged, settlement, segments, dashboard, replays, broadcast,
                                      workbook)
    for suite in suites:
        figures.extend(suite.run(options.quick))
    print(f"{'figure':<44} {'value':>12} {'unit':<8} {'target':<10} {'limit':<16} ok")
    for f in figures:
        print(f"{f.name:<44} {f.value:>12} {f.unit:<8} {f.target:<10} {f.limit:<16} {'yes' if f.ok else 'NO'}")
    if options.json:
        options.json.write_text(json.dumps({"figures": [f.to_json() for f in figures]}, indent=1),
                                encoding="utf-8")


if __name__ == "__main__":
    main()
