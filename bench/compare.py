#!/usr/bin/python3
"""Runs hs-bench and its peers (hnswlib, faiss) on the same files and prints Markdown tables:
every (system, threads, ef) row, the best single-thread QPS of each system at recall thresholds
with the ratio of ours to each peer, and build time and index size with their ratios.

  compare.py --dataset NAME --hs build/bin/hs-bench --hnswlib build/bin/peer-hnswlib
             [--faiss bench/peer_faiss.py] [--hs-variant LABEL=FLAGS ...] -- <common flags>
"""
import argparse
import subprocess
import sys

THRESHOLDS = (0.90, 0.95, 0.98, 0.99, 0.995, 0.998)


def run(label, cmd):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(proc.stdout)
    res = {"label": label, "rc": proc.returncode, "rows": [], "build": None, "bytes": None,
           "version": ""}
    for line in proc.stdout.splitlines():
        kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
        if line.startswith("system="):
            res["version"] = kv.get("version", "")
        elif "build_seconds" in kv:
            res["build"] = float(kv["build_seconds"])
        elif "index_bytes" in kv:
            res["bytes"] = int(kv["index_bytes"])
        elif line.startswith("ef="):
            res["rows"].append((int(kv["threads"]), int(kv["ef"]), float(kv["recall"]),
                                float(kv["qps"]), kv.get("mode", "")))
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
    return res


def best_qps(res, threshold):
    q = [qps for t, _, r, qps, _ in res["rows"] if t == 1 and r >= threshold]
    return max(q) if q else None


def main():
    argv = sys.argv[1:]
    common = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--hs")
    ap.add_argument("--hnswlib")
    ap.add_argument("--faiss")
    ap.add_argument("--hs-variant", action="append", default=[])
    a = ap.parse_args(own)
    results = []
    variants = a.hs_variant or ["hyperspace="]
    if a.hs:
        for v in variants:
            label, flags = v.split("=", 1)
            results.append(run(label, [a.hs] + common + flags.split()))
    peers = []
    if a.hnswlib:
        peers.append(run("hnswlib", [a.hnswlib] + common))
    if a.faiss:
        peers.append(run("faiss", ["/usr/bin/python3", a.faiss] + common))
    ours = [r for r in results]
    everyone = ours + peers

    print("\n| system | threads | ef | recall@10 | QPS |")
    print("|---|---|---|---|---|")
    for res in everyone:
        if res["rc"] != 0:
            print("| %s | — | — | failed (exit %d) | — |" % (res["label"], res["rc"]))
            continue
        for t, ef, r, qps, mode in res["rows"]:
            extra = " (%s)" % mode if mode else ""
            print("| %s | %d%s | %d | %.4f | %.0f |" % (res["label"], t, extra, ef, r, qps))

    ok_peers = [p for p in peers if p["rc"] == 0]
    print("\nBest single-thread QPS at recall@10 >= threshold (ratio = ours / peer):\n")
    head = "| recall >= | " + " | ".join(r["label"] for r in everyone) + " | " + \
        " | ".join("best ours / %s" % p["label"] for p in ok_peers) + " |"
    print(head)
    print("|" + "---|" * (1 + len(everyone) + len(ok_peers)))
    for th in THRESHOLDS:
        cells = []
        for res in everyone:
            q = best_qps(res, th) if res["rc"] == 0 else None
            cells.append("%.0f" % q if q else "—")
        mine = [best_qps(r, th) for r in ours if r["rc"] == 0]
        mine = max([m for m in mine if m] or [0])
        ratios = []
        for p in ok_peers:
            q = best_qps(p, th)
            if mine and q:
                ratios.append("%.2fx" % (mine / q))
            elif mine:
                ratios.append("peer never reaches it")
            else:
                ratios.append("—")
        print("| %.3f | %s | %s |" % (th, " | ".join(cells), " | ".join(ratios)))

    print("\n| system | version | build seconds | index bytes |")
    print("|---|---|---|---|")
    for res in everyone:
        if res["rc"] == 0:
            print("| %s | %s | %.2f | %s |" % (res["label"], res["version"], res["build"] or 0,
                                              res["bytes"]))
    for res in ours:
        if res["rc"] != 0:
            continue
        for p in ok_peers:
            if res["build"] and p["build"]:
                print("\n%s / %s: build time %.2fx, index bytes %.2fx" % (
                    res["label"], p["label"], res["build"] / p["build"],
                    (res["bytes"] or 0) / (p["bytes"] or 1)))
    return 0 if all(r["rc"] == 0 for r in everyone) else 1


if __name__ == "__main__":
    sys.exit(main())
