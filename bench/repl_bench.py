#!/usr/bin/env python3
"""Replication throughput and lag (issue 15, bench/README.md "Replication"): `make
bench-replication`, or bench/repl_bench.py [BUILD] [--seconds 30] [--rates 2000,10000]
[--catchup 200000].

1. Steady load: a leader and a follower on loopback (release build, fresh data directories,
   default settings), one collection of dim 128 (l2).  For each rate, build/bin/hs-grpc-load
   ingest --rate R writes R points/s in batches of R/20 (20 BatchInserts per second, async
   durability as the node's default) for --seconds; every 100 ms the driver reads the leader's
   clock and the follower's watermark (GET /api/cluster/status on each).  Lag in records = leader
   clock - follower watermark; lag in seconds = now - the first sample at which the leader's clock
   was above the follower's watermark (0 when caught up; 100 ms resolution).  Reports points/s
   written and applied (watermark advance over the load window), p50 / p99 / max lag, and the
   drain time after the load stops.
2. Catch-up: a new leader (log retained: HYPERSPACE_WAL_RETAIN_BYTES 8 GiB, so the follower reads
   the log, not a snapshot) takes --catchup points unpaced; then a new empty follower starts and
   the driver measures the time from its start until its watermark equals the leader's clock.

Prints key=value lines and a Markdown table.  Stdlib only; the processes are stopped at the end.
"""
import argparse
import bisect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, build, work, name, env=None, leader=None):
        self.grpc, self.http = free_port(), free_port()
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(os.path.join(work, name + ".log"), "ab")
        args = [os.path.join(build, "bin", "hyperspace-server"), "--host", "127.0.0.1",
                "--port", str(self.grpc), "--http-port", str(self.http), "--data-dir", self.dir]
        if leader:
            args += ["--role", "follower", "--leader", "127.0.0.1:%d" % leader.grpc]
        e = {k: v for k, v in os.environ.items() if not k.startswith(("HS_", "HYPERSPACE_"))}
        e.update(env or {})
        self.t_start = time.time()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        deadline = time.time() + 60
        while True:
            try:
                if self.req("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("%s did not start (see %s.log)" % (name, self.dir))
            time.sleep(0.05)
        self.t_ready = time.time()

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http, path), data=data,
                                   method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def status(self):
        return self.req("GET", "/api/cluster/status")[1]

    def clock(self):
        return self.status()["logical_clock"]

    def watermark(self):
        return self.status()["replication"]["watermark"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else 0


def load(build, leader, rate, n, first_id, batch):
    return subprocess.Popen(
        [os.path.join(build, "bin", "hs-grpc-load"), "ingest", "--target",
         "127.0.0.1:%d" % leader.grpc, "--collection", "bench", "--dim", "128", "--n", str(n),
         "--batch", str(batch), "--rate", str(rate), "--from", str(first_id)],
        stdout=subprocess.PIPE, text=True)


def steady(build, leader, follower, rate, seconds, first_id):
    n = int(rate * seconds)
    batch = max(1, rate // 20)
    hist_t, hist_c, lag_r, lag_s = [], [], [], []
    w0 = follower.watermark()
    t0 = time.time()
    p = load(build, leader, rate, n, first_id, batch)
    while p.poll() is None:
        t = time.time()
        c = leader.clock()
        hist_t.append(t)
        hist_c.append(c)
        w = follower.watermark()
        now = time.time()
        lag_r.append(max(0, c - w))
        i = bisect.bisect_right(hist_c, w)  # the first sample with the leader's clock above w
        lag_s.append(now - hist_t[i] if i < len(hist_c) else 0.0)
        time.sleep(max(0, 0.1 - (time.time() - t)))
    t_end = time.time()
    out = p.stdout.read()
    w_end = follower.watermark()
    c_end = leader.clock()
    while follower.watermark() < c_end:
        time.sleep(0.01)
    drain = time.time() - t_end
    written = float(out.split("vec_per_s=")[1].split()[0]) if "vec_per_s=" in out else 0
    return {"rate": rate, "points": n, "batch": batch, "written_per_s": written,
            "applied_per_s": (w_end - w0) / (t_end - t0), "samples": len(lag_r),
            "lag_rec_p50": pct(lag_r, 50), "lag_rec_p99": pct(lag_r, 99),
            "lag_rec_max": max(lag_r or [0]), "lag_s_p50": pct(lag_s, 50),
            "lag_s_p99": pct(lag_s, 99), "lag_s_max": max(lag_s or [0]), "drain_s": drain}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rates", default="2000,10000")
    ap.add_argument("--catchup", type=int, default=200000)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    work = tempfile.mkdtemp(prefix="repl-bench-", dir=build)
    nodes = []
    try:
        print("loadavg_start=%s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        leader = Node(build, work, "leader")
        nodes.append(leader)
        follower = Node(build, work, "follower", leader=leader)
        nodes.append(follower)
        st, body = leader.req("POST", "/api/collections",
                              {"name": "bench", "dimension": 128, "metric": "l2"})
        assert st in (200, 201), (st, body)
        results, first = [], 0
        for rate in [int(r) for r in a.rates.split(",")]:
            r = steady(build, leader, follower, rate, a.seconds, first)
            first += r["points"]
            results.append(r)
            print(" ".join("%s=%s" % (k, ("%.3f" % v) if isinstance(v, float) else v)
                           for k, v in r.items()))
        for s in nodes:
            s.stop()
        nodes = []

        # catch-up of a new follower from 0
        big = {"HYPERSPACE_WAL_RETAIN_BYTES": str(8 << 30)}
        leader = Node(build, work, "leader2", env=big)
        nodes.append(leader)
        st, body = leader.req("POST", "/api/collections",
                              {"name": "bench", "dimension": 128, "metric": "l2"})
        assert st in (200, 201), (st, body)
        p = load(build, leader, 0, a.catchup, 0, 1000)
        p.wait()
        clock = leader.clock()
        f = Node(build, work, "follower2", leader=leader)
        nodes.append(f)
        while f.watermark() < clock:
            time.sleep(0.02)
        done = time.time()
        flog = open(os.path.join(work, "follower2.log")).read()
        boot = "bootstrapped from the leader's snapshot" in flog
        cu = {"catchup_records": clock, "catchup_s_from_start": done - f.t_start,
              "catchup_s_from_ready": done - f.t_ready,
              "catchup_records_per_s": clock / (done - f.t_start), "via_snapshot": boot}
        print(" ".join("%s=%s" % (k, ("%.3f" % v) if isinstance(v, float) else v)
                       for k, v in cu.items()))
        print("loadavg_end=%s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        print()
        print("| load (points/s, batch) | written/s | applied/s | lag records p50 / p99 / max "
              "| lag s p50 / p99 / max | drain after load |")
        print("|---|---|---|---|---|---|")
        for r in results:
            print("| %d, %d | %.0f | %.0f | %d / %d / %d | %.2f / %.2f / %.2f | %.2f s |" % (
                r["rate"], r["batch"], r["written_per_s"], r["applied_per_s"], r["lag_rec_p50"],
                r["lag_rec_p99"], r["lag_rec_max"], r["lag_s_p50"], r["lag_s_p99"],
                r["lag_s_max"], r["drain_s"]))
        print()
        print("catch-up of a new follower: %d records in %.2f s from its start (%.0f records/s)%s"
              % (clock, done - f.t_start, cu["catchup_records_per_s"],
                 " through a snapshot" if boot else " from the log"))
    finally:
        for s in nodes:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
