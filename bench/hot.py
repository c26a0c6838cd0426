"""Where the samples of a `--profile` recording went: `python -m bench.hot FILE
[--top N] [--thread NAME]`. Reads py-spy's raw (collapsed) stacks and prints the
functions with the most samples, inclusive (on the stack) and self (on top)."""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# "func (path/to/module.py:123)" -> "func (module.py)"; lines split one function apart.
_FRAME = re.compile(r"^(.*?) \((?:.*/)?([^/:]+?)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame)
    return f"{m.group(1)} ({m.group(2)})" if m else frame


def load(
    path: Path, thread: str = "", callers_of: str = ""
) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    """(total samples, inclusive, self, per thread) counts; with `callers_of`, the
    "per thread" counter holds instead the callers of functions whose name has it."""
    total = 0
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if thread and thread not in frames[0]:
            continue
        n = int(count)
        total += n
        names = [_name(f) for f in frames[1:]]
        if callers_of:
            hits = [i for i, name in enumerate(names) if callers_of in name]
            if hits and hits[0] > 0:
                threads[f"{names[hits[0] - 1]} -> {names[hits[0]]}"] += n
        else:
            threads[frames[0]] += n
        for name in set(names):  # recursion counts once per sample
            inclusive[name] += n
        if names:
            self_[names[-1]] += n
    return total, inclusive, self_, threads


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.hot")
    p.add_argument("file", type=Path)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--thread", default="", help="only stacks of threads whose name has this")
    p.add_argument("--callers", default="", help="list who calls functions named like this")
    args = p.parse_args()
    total, inclusive, self_, threads = load(args.file, args.thread, args.callers)
    if not total:
        print("no samples")
        return
    print(f"{total} samples")
    first = f"callers of {args.callers!r}" if args.callers else "threads"
    for title, counts in ((first, threads), ("inclusive", inclusive), ("self", self_)):
        print(f"\n{title}:")
        for name, n in counts.most_common(args.top):
            print(f"  {100 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
