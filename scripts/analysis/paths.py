#!/usr/bin/env python3
"""Fast only, slow only and auto at a given θ, per question type, from a compare run.

    python3 scripts/analysis/paths.py --theta 0.42 RUN [RUN ...]

Each RUN is the output directory of `vprog eval SET --mode compare` (or of
`vprog calibrate`): every result line holds both paths' answers and
confidences. Auto is simulated with the planner's decision rule
(`planner::reason::decide`): the fast answer when its confidence is ≥ θ,
otherwise the more confident of the two paths (ties: fast), the fast answer
when the slow path gave none. Take θ from a calibration of the *dev* split
(`jq .theta runs/dev-cal.calibration.json`) and report the test split with it.
--json FILE writes the table as JSON.
"""
import argparse
import json
from collections import defaultdict
from pathlib import Path


def confidence(path):
    """A path's confidence, or None where it gave no answer (as the planner sees it)."""
    if path and path.get("error") is None and path.get("answer") is not None:
        return path.get("confidence")
    return None


def runs_slow(theta, fast):
    """Whether auto runs the slow path, as planner::reason::runs_slow."""
    f = confidence(fast)
    return f is None or f < theta


def decide(theta, fast, slow):
    """'fast', 'slow', 'fallback' or None, as planner::reason::decide in auto mode."""
    f, s = confidence(fast), confidence(slow)
    if f is not None and f >= theta:
        return "fast"
    if f is not None and s is not None:
        return "slow" if s > f else "fast"
    if f is not None:
        return "fallback"
    if s is not None:
        return "slow"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--theta", type=float, required=True)
    ap.add_argument("--json")
    ap.add_argument("runs", nargs="+")
    args = ap.parse_args()

    rows = []
    for run in args.runs:
        for line in open(Path(run) / "results.jsonl"):
            if line.strip():
                rows.append(json.loads(line))
    if not rows:
        raise SystemExit("no result lines")

    table = defaultdict(lambda: defaultdict(lambda: [0, 0]))  # strategy -> type -> [right, n]
    slow_runs = 0
    cost = defaultdict(float)
    for r in rows:
        fast, slow = r.get("fast"), r.get("slow")
        t = r.get("type") or "untyped"
        ok_fast = bool(fast and fast.get("correct"))
        ok_slow = bool(slow and slow.get("correct"))
        path = decide(args.theta, fast, slow)
        ok_auto = {"fast": ok_fast, "fallback": ok_fast, "slow": ok_slow}.get(path, False)
        ran_slow = runs_slow(args.theta, fast)
        slow_runs += ran_slow
        cost["fast_only_s"] += (fast or {}).get("seconds") or 0.0
        cost["auto_s"] += ((fast or {}).get("seconds") or 0.0) + (((slow or {}).get("seconds") or 0.0) if ran_slow else 0.0)
        for name, ok in (("fast only", ok_fast), ("slow only", ok_slow), (f"auto (θ = {args.theta:.3f})", ok_auto)):
            for key in (t, "all"):
                table[name][key][0] += ok
                table[name][key][1] += 1

    types = sorted({r.get("type") or "untyped" for r in rows}) + ["all"]
    print("| strategy | " + " | ".join(f"{t} ({table['fast only'][t][1]})" for t in types) + " |")
    print("|---|" + "---|" * len(types))
    for name, per in table.items():
        cells = []
        for t in types:
            right, n = per[t]
            cells.append(f"{right} ({100 * right / n:.1f}%)" if t == "all" else f"{right}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    n = len(rows)
    print(f"\nauto runs the slow path on {slow_runs} of {n}; mean seconds per question: "
          f"fast only {cost['fast_only_s'] / n:.1f}, auto {cost['auto_s'] / n:.1f}")
    if args.json:
        out = {name: {t: {"right": v[0], "n": v[1]} for t, v in per.items()} for name, per in table.items()}
        out["slow_runs"] = slow_runs
        out["theta"] = args.theta
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
