"""Automatic failover on etcd (issue 15 item 4): a real etcd (Debian etcd-server) on loopback
ports in a temporary directory and three hyperspace-server processes with HS_ETCD_ENDPOINTS,
writers with synchronous acknowledgement (HS_SYNC_REPLICAS=1) that record every acknowledged
write, and the leader killed with kill -9 or frozen with SIGSTOP at random moments.

Per cycle: a new writable leader within FAILOVER_LIMIT_S (measured, printed as FAILOVER lines with
`pytest -s`), every write acknowledged so far present with its vector on it; the old leader is
restarted (kill -9) or continued (SIGCONT) and must report itself a follower. Convergence is checked
with the writers paused; the node that was neither the old nor the new leader must have gone on
without a resync (its history a prefix of the new leader's).  At the end: 0
acknowledged writes lost, 0 phantoms (no id that was never sent, the point count equals the ids
found), no epoch in which writes were acknowledged by two nodes, digests equal on all nodes.

HS_FAILOVER_CYCLES: 2 by default (the integration suite's smoke run), 20 under ctest label
`cluster` (test `failover`), 200 under label `cluster-long` (`make test-cluster-long`);
HS_FAILOVER_SEED (printed) replays a run's choices of moments and signals.
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import http, ok
import conftest
from test_replication import cluster, cluster_status, wait_converged, wait_ready  # noqa: F401

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
CYCLES = int(os.environ.get("HS_FAILOVER_CYCLES", "2"))
SEED = int(os.environ.get("HS_FAILOVER_SEED", str(int(time.time()))))
TTL = 3
FAILOVER_LIMIT_S = 10.0  # lease TTL 3 s + 2 polls + promotion, with room for a loaded machine
COLL = "fo"

pytestmark = pytest.mark.skipif(not os.path.exists(ETCD), reason="etcd-server not installed")


def two_ports():
    """Two distinct loopback ports that were free a moment ago (both sockets held at once)."""
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        return a.getsockname()[1], b.getsockname()[1]


def start_etcd(d):
    """etcd on two fresh ports; (process, client url, log path) once /health answers, or None
    when it exited (a port taken by another process between the choice and etcd's bind)."""
    import urllib.request
    cp, pp = two_ports()
    path = os.path.join(d, "etcd-%d.log" % cp)
    with open(path, "wb") as log:
        p = subprocess.Popen([ETCD, "--name", "t", "--data-dir", os.path.join(d, "data-%d" % cp),
                              "--listen-client-urls", "http://127.0.0.1:%d" % cp,
                              "--advertise-client-urls", "http://127.0.0.1:%d" % cp,
                              "--listen-peer-urls", "http://127.0.0.1:%d" % pp,
                              "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % pp,
                              "--initial-cluster", "t=http://127.0.0.1:%d" % pp],
                             stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % cp
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=1).read()
            return p, url, path
        except OSError:
            if p.poll() is not None:
                return None
            if time.time() > deadline:
                p.kill()
                p.wait()
                with open(path, "rb") as f:
                    raise AssertionError("etcd did not answer /health within 60 s:\n" +
                                         f.read().decode("utf-8", "replace")[-3000:])
            time.sleep(0.1)


@pytest.fixture
def etcd():
    d = tempfile.mkdtemp(prefix="hs-etcd-")
    for _ in range(5):
        got = start_etcd(d)
        if got:
            break
    else:
        logs = "".join(open(os.path.join(d, f), "rb").read().decode("utf-8", "replace")[-1500:]
                       for f in os.listdir(d) if f.endswith(".log"))
        raise AssertionError("etcd exited at start 5 times:\n" + logs)
    p, url, _ = got
    yield url
    p.terminate()
    p.wait(10)
    shutil.rmtree(d, ignore_errors=True)


def status(s, timeout=1.0):
    try:
        st, _, body = http(s, "GET", "/api/cluster/status", timeout=timeout)
        return body if st == 200 else None
    except OSError:
        return None


class Recorder:
    """Writers: point i gets vector [i, i % 97]; `sent` every id tried, `acked` id -> (node, epoch)
    (epoch None when the node's epoch moved during the write)."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.sent, self.acked = set(), {}
        self.lock = threading.Lock()
        self.next = 0
        self.stop = False
        self.errors = 0
        self.last_error = None
        self.paused = threading.Event()  # set: no new write starts (a convergence check)

    def leader(self):
        for s in list(self.nodes):
            if s.proc is None:
                continue
            st = status(s, 0.5)
            if st and st["role"] == "Leader" and st["failover"]["writable"]:
                return s, st
        return None, None

    def run(self):
        s, st = None, None
        while not self.stop:
            if self.paused.is_set():
                time.sleep(0.01)
                continue
            if s is None:
                s, st = self.leader()
                if s is None:
                    time.sleep(0.05)
                    continue
            with self.lock:
                i = self.next
                self.next += 1
                self.sent.add(i)
            try:
                code, _, body = http(s, "POST", "/api/collections/%s/insert" % COLL,
                                     {"id": i, "vector": [float(i), float(i % 97)]}, timeout=2)
            except Exception as e:  # noqa: BLE001 - any failure is a write not acknowledged
                code = None
                self.last_error = repr(e)
            if code == 200:
                after = status(s, 1.0)
                e = st["failover"]["epoch"]
                if not after or (after.get("failover") or {}).get("epoch") != e:
                    e = None
                with self.lock:
                    self.acked[i] = (st["node_id"], e)
            else:
                self.errors += 1
                s = None


def present(s, ids):
    """id -> vector of the ids among `ids` that s holds."""
    out = {}
    ids = sorted(ids)
    for k in range(0, len(ids), 1000):
        part = ids[k:k + 1000]
        body = ok(http(s, "GET", "/api/collections/%s/points?ids=%s" % (
            COLL, ",".join(map(str, part)))))
        for p in body:
            out[int(p["id"])] = p["vector"]
    return out


def check_acked(s, rec):
    with rec.lock:
        acked = dict(rec.acked)
    have = present(s, acked)
    lost = [i for i in acked if i not in have]
    assert not lost, "%d acknowledged writes lost on %s, e.g. %s" % (len(lost), s.grpc_target,
                                                                      lost[:10])
    for i in acked:
        assert have[i] == [float(i), float(i % 97)], (i, have[i])
    return len(acked)


def test_failover_cycles(cluster, etcd):
    rng = random.Random(SEED)
    prefix = "/hs-test-%d" % SEED
    env = {"HS_ETCD_ENDPOINTS": etcd, "HS_CLUSTER_PREFIX": prefix, "HS_SYNC_REPLICAS": "1",
           "HS_SYNC_TIMEOUT_MS": "2000", "HS_ETCD_LEASE_TTL": str(TTL)}
    nodes = [cluster.factory(env=env)]
    for _ in range(2):
        nodes.append(wait_ready(cluster.factory(env=env, start=False,
                                                args=["--role", "follower"]).start(wait=False)))
    rec = Recorder(nodes)
    deadline = time.time() + 30
    while rec.leader()[0] is None:
        assert time.time() < deadline, "no leader elected"
        time.sleep(0.1)
    lead = rec.leader()[0]
    ok(http(lead, "POST", "/api/collections", {"name": COLL, "dimension": 2, "metric": "l2"}), 201)
    for s in nodes:  # followers following before the kills start
        if s is not lead:
            wait_converged(cluster, lead, [s], timeout=60)
    t = threading.Thread(target=rec.run)
    t.start()
    times = []
    rejoin = {}  # how old leaders rejoined: "continued" (a prefix) or "resynced" (diverged)
    try:
        for cycle in range(CYCLES):
            old, st = rec.leader()
            d = time.time() + 30
            while old is None:
                assert time.time() < d, "no writable leader"
                time.sleep(0.05)
                old, st = rec.leader()
            # both followers connected, so a sync write can be acknowledged
            time.sleep(rng.uniform(0.3, 1.5))
            before = {s: (status(s) or {}).get("replication") for s in nodes if s is not old}
            how = rng.choice(["kill", "stop"])
            old.proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGSTOP)
            t0 = time.time()
            new = None
            while new is None or new is old:
                assert time.time() - t0 < FAILOVER_LIMIT_S, "cycle %d: no new leader in %ss" % (
                    cycle, FAILOVER_LIMIT_S)
                time.sleep(0.02)
                new, nst = rec.leader()
            took = time.time() - t0
            times.append(took)
            n = check_acked(new, rec)
            print("FAILOVER cycle %d %s: new leader %s epoch %s after %.2fs (%d acknowledged)" % (
                cycle, how, nst["node_id"][:8], nst["failover"]["epoch"], took, n))
            if how == "kill":
                old.stop(sig=signal.SIGKILL)
                old.args = []
                wait_ready(old.start(wait=False))
            else:
                old.proc.send_signal(signal.SIGCONT)
            d = time.time() + 30
            while True:
                ost = status(old)
                if ost and ost["role"] == "Follower" and ost["replication"]["connected"]:
                    break
                assert time.time() < d, "cycle %d: the old leader did not rejoin: %s\n%s" % (
                    cycle, ost, old.output()[-4000:])
                time.sleep(0.05)
            # digests and watermarks compared at a quiet moment: with writes in flight the
            # leader's clock is ahead of what any follower can have
            rec.paused.set()
            try:
                wait_converged(cluster, new, [s for s in nodes if s is not new], timeout=60)
            except AssertionError:
                print("FAILOVER leader log:\n%s\nwriter: %d errors, last %s" % (
                    new.output()[-6000:], rec.errors, rec.last_error))
                raise
            finally:
                rec.paused.clear()
            # the third node held no more than the node elected (the most up-to-date): its
            # history is a prefix of the new leader's, so it went on without a resync
            third = [s for s in nodes if s is not old and s is not new][0]
            b, a = before[third], status(third)["replication"]
            assert b is not None, "cycle %d: the third node was not a follower" % cycle
            assert a["full_resyncs"] == b["full_resyncs"], (cycle, b, a, third.output()[-3000:])
            assert a["leader_changes_continued"] == b["leader_changes_continued"] + 1, (cycle, b, a)
            o = status(old)["replication"]
            outcome = "continued" if o["leader_changes_continued"] else "resynced"
            rejoin[outcome] = rejoin.get(outcome, 0) + 1
            print("FAILOVER cycle %d: the third node went on; the old leader %s" % (cycle,
                                                                                  outcome))
    finally:
        rec.stop = True
        t.join()
    lead = rec.leader()[0]
    followers = [s for s in nodes if s is not lead]
    wait_converged(cluster, lead, followers, timeout=60)
    n = check_acked(lead, rec)
    with rec.lock:
        sent = set(rec.sent)
    have = present(lead, sent)
    count = ok(http(lead, "GET", "/api/collections/%s" % COLL))
    total = count.get("count", count.get("vector_count", count.get("points_count")))
    assert total == len(have), "phantoms: %s points, %d of the sent ids" % (count, len(have))
    by_epoch = {}
    for node, e in rec.acked.values():
        if e is not None:
            by_epoch.setdefault(e, set()).add(node)
    both = {e: ns for e, ns in by_epoch.items() if len(ns) > 1}
    assert not both, "epochs with writes acknowledged by two nodes: %s" % both
    times.sort()
    print("FAILOVER %d cycles (seed %d): %d acknowledged, %d sent, %d present, %d epochs; "
          "failover s min %.2f median %.2f max %.2f; old leaders rejoined: %s" % (
              CYCLES, SEED, n, len(sent), len(have), len(by_epoch), times[0],
              times[len(times) // 2], times[-1], rejoin))
    assert n > 0
