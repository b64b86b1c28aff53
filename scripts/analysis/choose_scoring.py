#!/usr/bin/env python3
"""Compares `choose`'s scorings and fits their temperatures from `vprog eval` runs.

    python3 scripts/analysis/choose_scoring.py --dev SET_DEV RUN_DEV --test SET_TEST RUN_TEST

Each RUN is the output directory of `vprog eval SET --mode fast` (any mode
works where the fast path answered: the item's trace is the fast program's).
Every `choose` step notes all five scores of every option (`options`), so one
run gives every scoring's answer. For each scoring it prints the accuracy per
split and question type, fits the softmax temperature on the DEV split only
(minimum negative log-likelihood of the right options), and reports the
expected calibration error (10 equal-width bins) before (T = 1) and after on
both splits. The method to ship is the most accurate on dev (ties: the lower
dev NLL at its fitted temperature); the test split is only reported.
--json FILE writes everything as JSON.
"""
import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

SCORINGS = ["mean", "sum", "pmi", "letter", "letter_calibrated"]


def load_set(path):
    items = {}
    for n, line in enumerate(open(path), 1):
        if line.strip():
            q = json.loads(line)
            ans = q["answer"]
            if isinstance(ans, str):
                ans = q["options"].index(ans)
            items[q["id"]] = {"answer": ans, "type": q.get("type", "untyped"), "video": q["video"]}
    return items


def choose_notes(trace_dir):
    """The `options` note of the trace's `choose` step, or None."""
    path = Path(trace_dir) / "trace.json"
    if not path.is_file():
        return None
    t = json.load(open(path))
    steps = list(t.get("steps", []))
    while steps:
        s = steps.pop()
        steps.extend(s.get("children", []))
        if s.get("op") == "choose":
            notes = {n["key"]: n["value"] for n in s.get("notes", [])}
            return notes.get("options"), s.get("duration_ms")
    return None


def load_run(set_path, run_dir):
    items = load_set(set_path)
    rows = []
    for iid, meta in items.items():
        found = choose_notes(Path(run_dir) / "items" / iid)
        if not found or not found[0]:
            print(f"warning: {iid}: no choose step with option scores in {run_dir}", file=sys.stderr)
            continue
        opts, _ = found
        scores = {m: [o[m] for o in opts] for m in SCORINGS if all(m in o for o in opts)}
        rows.append({"id": iid, **meta, "scores": scores})
    return rows


def softmax(xs, t):
    m = max(xs)
    e = [math.exp((x - m) / t) for x in xs]
    s = sum(e)
    return [v / s for v in e]


def argmax(xs):
    best = 0
    for i, x in enumerate(xs):
        if x > xs[best]:
            best = i
    return best


def nll(rows, m, t):
    return -sum(math.log(max(softmax(r["scores"][m], t)[r["answer"]], 1e-300)) for r in rows) / max(len(rows), 1)


def fit_temperature(rows, m):
    """Golden-section search of log T in [-4, 4] for the minimum NLL."""
    lo, hi = -4.0, 4.0
    g = (math.sqrt(5) - 1) / 2
    f = lambda lt: nll(rows, m, math.exp(lt))
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = f(b)
    return math.exp((lo + hi) / 2)


def ece(rows, m, t, bins=10):
    buckets = defaultdict(list)
    for r in rows:
        p = softmax(r["scores"][m], t)
        k = argmax(r["scores"][m])
        conf = p[k]
        buckets[min(int(conf * bins), bins - 1)].append((conf, k == r["answer"]))
    n = max(len(rows), 1)
    return sum(len(b) / n * abs(sum(c for c, _ in b) / len(b) - sum(ok for _, ok in b) / len(b)) for b in buckets.values())


def accuracy(rows, m):
    return sum(argmax(r["scores"][m]) == r["answer"] for r in rows) / max(len(rows), 1)


def per_type(rows, m):
    by = defaultdict(lambda: [0, 0])
    for r in rows:
        by[r["type"]][0] += argmax(r["scores"][m]) == r["answer"]
        by[r["type"]][1] += 1
    return {k: f"{a}/{n}" for k, (a, n) in sorted(by.items())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", nargs=2, metavar=("SET", "RUN"), required=True)
    ap.add_argument("--test", nargs=2, metavar=("SET", "RUN"))
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()
    dev = load_run(*a.dev)
    test = load_run(*a.test) if a.test else []
    if not dev:
        sys.exit("no dev item has option scores")
    out = {"dev_items": len(dev), "test_items": len(test), "scorings": {}}
    for m in SCORINGS:
        if not all(m in r["scores"] for r in dev + test):
            continue
        t = fit_temperature(dev, m)
        out["scorings"][m] = {
            "temperature": t,
            "dev": {"accuracy": accuracy(dev, m), "per_type": per_type(dev, m), "nll_t1": nll(dev, m, 1.0), "nll_fit": nll(dev, m, t),
                    "ece_t1": ece(dev, m, 1.0), "ece_fit": ece(dev, m, t)},
            "test": {"accuracy": accuracy(test, m), "per_type": per_type(test, m), "ece_t1": ece(test, m, 1.0), "ece_fit": ece(test, m, t)}
            if test else None,
        }
    best = max(out["scorings"], key=lambda m: (out["scorings"][m]["dev"]["accuracy"], -out["scorings"][m]["dev"]["nll_fit"]))
    out["chosen_on_dev"] = best
    print(f"{'scoring':<18} {'T (dev)':>8} {'dev acc':>8} {'test acc':>9} {'dev ECE T=1':>12} {'dev ECE fit':>12} {'test ECE T=1':>13} {'test ECE fit':>13}")
    for m, s in out["scorings"].items():
        tst = s["test"] or {}
        fmt = lambda x: f"{x:.3f}" if isinstance(x, float) else "-"
        print(f"{m:<18} {s['temperature']:>8.3f} {s['dev']['accuracy']:>8.3f} {fmt(tst.get('accuracy')):>9} {s['dev']['ece_t1']:>12.3f} "
              f"{s['dev']['ece_fit']:>12.3f} {fmt(tst.get('ece_t1')):>13} {fmt(tst.get('ece_fit')):>13}")
    for m, s in out["scorings"].items():
        print(f"{m}: dev per type {s['dev']['per_type']}" + (f"; test per type {s['test']['per_type']}" if s["test"] else ""))
    print(f"chosen on dev: {best}")
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
