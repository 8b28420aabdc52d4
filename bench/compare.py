#!/usr/bin/python3
"""Runs hs-bench and its peers (hnswlib, faiss) on the same files and prints Markdown tables:
every (system, threads, ef) row, the best single-thread QPS of each system at recall thresholds
with the ratio of our best variant to each peer, and build time and index size with their ratios.

  compare.py --dataset NAME [--hs build/bin/hs-bench] [--hnswlib build/bin/peer-hnswlib]
             [--faiss bench/peer_faiss.py] [--hs-extra=FLAGS] [--hs-variant LABEL=FLAGS ...]
             -- <common flags: --metric ... --base ... --query ... --truth ... --ef ...>

The common flags go to every system; --hs-extra flags go to every hs-bench run, and each
--hs-variant is one hs-bench run with its own extra flags (e.g. "hs-sq8=--quant scalar").
Write --hs-extra="--quant scalar" or --hs-extra=--no-repair (a lone flag needs the "=").
Raw outputs are echoed to stderr, the tables go to stdout.  Exit status 1 when any system
failed (reported in the tables with its exit code).  Python standard library only.
"""
import argparse
import shlex
import subprocess
import sys

THRESHOLDS = ("0.90", "0.95", "0.98", "0.99", "0.995", "0.998")


def run(label, cmd):
    """Runs one system; returns its parsed output lines (and exit code)."""
    print("## %s: %s" % (label, " ".join(shlex.quote(c) for c in cmd)), file=sys.stderr,
          flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # its stderr passes through
    sys.stderr.write(proc.stdout)
    sys.stderr.flush()
    res = {"label": label, "rc": proc.returncode, "rows": [], "build": None, "bytes": None,
           "rss": None, "version": "", "build_threads": None}
    for line in proc.stdout.splitlines():
        kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
        try:
            if "system" in kv:
                res["version"] = "%s %s" % (kv["system"], kv.get("version", ""))
            elif "build_seconds" in kv:
                res["build"] = float(kv["build_seconds"])
                res["build_threads"] = kv.get("threads")
            elif line.startswith("ef="):
                res["rows"].append((int(kv["threads"]), int(kv["ef"]), float(kv["recall"]),
                                    float(kv["qps"]), kv.get("mode", "")))
            if "index_bytes" in kv:
                res["bytes"] = int(kv["index_bytes"])
            if "rss_growth_bytes" in kv:
                res["rss"] = int(kv["rss_growth_bytes"])
        except (KeyError, ValueError):
            print("compare.py: %s: cannot parse %r" % (label, line), file=sys.stderr)
    if res["rc"] == 0 and not res["rows"]:
        res["rc"] = -1000  # ran but printed no result rows: report it as failed
    return res


def status(res):
    return "no result lines" if res["rc"] == -1000 else "failed (exit %d)" % res["rc"]


def best_qps(res, threshold):
    q = [qps for t, _, r, qps, _ in res["rows"] if t == 1 and r >= threshold]
    return max(q) if q else None


def fmt(x, pattern="%.0f"):
    return pattern % x if x is not None else "—"


def ratio(a, b):
    return "%.2fx" % (a / b) if a is not None and b else "—"


def main():
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    own, common = argv[:cut], argv[cut + 1:]
    ap = argparse.ArgumentParser(description="hs-bench beside hnswlib and faiss")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--hs", help="path of hs-bench")
    ap.add_argument("--hnswlib", help="path of peer-hnswlib")
    ap.add_argument("--faiss", help="path of peer_faiss.py (run with /usr/bin/python3)")
    ap.add_argument("--hs-extra", default="", help="flags added to every hs-bench run")
    ap.add_argument("--hs-variant", action="append", default=[], metavar="LABEL=FLAGS")
    a = ap.parse_args(own)
    k = common[common.index("--k") + 1] if "--k" in common[:-1] else "10"

    ours, peers = [], []
    if a.hs:
        for v in a.hs_variant or ["hyperspace="]:
            label, _, flags = v.partition("=")
            cmd = [a.hs] + common + shlex.split(a.hs_extra) + shlex.split(flags)
            ours.append(run(label, cmd))
    if a.hnswlib:
        peers.append(run("hnswlib", [a.hnswlib] + common))
    if a.faiss:
        peers.append(run("faiss", ["/usr/bin/python3", a.faiss] + common))
    everyone = ours + peers
    if not everyone:
        ap.error("nothing to run: give --hs, --hnswlib and/or --faiss")
    ok_ours = [r for r in ours if r["rc"] == 0]
    ok_peers = [p for p in peers if p["rc"] == 0]
    ratio_peers = ok_peers if ok_ours else []

    print("### %s\n" % a.dataset)
    print("| system | threads | ef | recall@%s | QPS |" % k)
    print("|---|---|---|---|---|")
    for res in everyone:
        if res["rc"] != 0:
            print("| %s | — | — | %s | — |" % (res["label"], status(res)))
        for t, ef, r, qps, mode in res["rows"]:
            t_cell = "%d (%s)" % (t, mode) if mode else "%d" % t
            print("| %s | %s | %d | %.4f | %.0f |" % (res["label"], t_cell, ef, r, qps))

    print("\nBest single-thread QPS at recall@%s >= threshold; ratio = best of ours / peer:\n" % k)
    head = ["recall >="] + [r["label"] for r in everyone] + \
        ["ours / %s" % p["label"] for p in ratio_peers]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label in THRESHOLDS:
        th = float(label)
        cells = [fmt(best_qps(r, th)) if r["rc"] == 0 else "failed" for r in everyone]
        mine = [q for q in (best_qps(r, th) for r in ok_ours) if q is not None]
        mine = max(mine) if mine else None
        ratios = []
        for p in ratio_peers:
            q = best_qps(p, th)
            if q is None and mine is not None:
                ratios.append("peer never reaches it")
            else:
                ratios.append(ratio(mine, q))
        print("| %s | %s |" % (label, " | ".join(cells + ratios)))

    print("\n| system | version | build seconds (threads) | index bytes | RSS growth bytes |")
    print("|---|---|---|---|---|")
    for res in everyone:
        if res["rc"] != 0:
            print("| %s | %s | %s | — | — |" % (res["label"], res["version"] or "—",
                                                status(res)))
            continue
        print("| %s | %s | %s (%s) | %s | %s |" % (
            res["label"], res["version"], fmt(res["build"], "%.2f"), res["build_threads"],
            fmt(res["bytes"], "%d"), fmt(res["rss"], "%d")))
    if ok_ours and ok_peers:
        print("\n| ours / peer | build time | index bytes |")
        print("|---|---|---|")
        for res in ok_ours:
            for p in ok_peers:
                print("| %s / %s | %s | %s |" % (
                    res["label"], p["label"], ratio(res["build"], p["build"]),
                    ratio(res["bytes"], p["bytes"])))
    return 0 if all(r["rc"] == 0 for r in everyone) else 1


if __name__ == "__main__":
    sys.exit(main())
