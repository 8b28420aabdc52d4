"""Convergence checks (issue 15 item 2): a follower compares its per-collection digests with the
leader's (GetDigest) after each catch-up and every HS_REPL_VERIFY_SEC, only where both report the
same collection clock; a mismatch is logged at ERROR, counted (cluster status `replication`,
/metrics) and repaired by the snapshot bootstrap.  Real processes on loopback, the fixtures of
test_replication.py.

The follower's state is made to differ without replication: the follower is stopped and
build/bin/hs-replica-write writes a point into one of its collections at the clock the leader's
next write will get (or below it), as a record from another history would; the leader then writes
into that collection, so both sides reach the same collection clock with different points.
"""
import os
import re
import subprocess
import time

from conftest import ROOT, http
from test_replication import (Workload, cluster, cluster_status, state, wait_converged,  # noqa: F401
                              wait_ready)

TOOL = os.path.join(os.path.dirname(os.environ.get(
    "HS_SERVER_BIN", os.path.join(ROOT, "build", "bin", "hyperspace-server"))), "hs-replica-write")


def replication(f):
    return cluster_status(f)["replication"]


def wait_for(what, fn, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def metric(s, name):
    text = http(s, "GET", "/metrics")[2]
    m = re.search(r"^%s (\d+)$" % name, text, re.M)
    return int(m.group(1)) if m else None


def test_digest_checks_detect_and_repair_a_diverged_follower(cluster):
    leader = cluster.leader()
    env = {"HS_REPL_VERIFY_SEC": "1"}
    f = cluster.follower(leader, env=env)
    w = Workload(leader, seed=21)
    w.setup()
    w.run(400)
    w.create("t2", "tampered", "vecs")
    w.upsert("t2", "tampered", 40)
    wait_converged(cluster, leader, [f])

    # caught up: rounds compare every collection, none differs
    n = len(state(cluster, leader))
    rep = wait_for("a check of every collection", lambda: (
        lambda r: r if r["digest_checks"] >= n and (r["last_digest_check"] or "").startswith(
            "ok") else None)(replication(f)))
    assert rep["digest_mismatches"] == 0, rep
    assert rep["last_digest_check_ms"] > 0
    assert metric(f, "hyperspace_replication_digest_checks_total") >= n
    assert metric(f, "hyperspace_replication_digest_mismatches_total") == 0
    g = cluster.stub(f).ClusterStatus(cluster.pb[0].Empty()).replication
    assert g.digest_checks >= n and g.digest_mismatches == 0 and g.last_digest_check_ms > 0
    assert g.last_digest_check.startswith("ok"), g
    assert "digest mismatch" not in f.output()

    # a point written into the stopped follower's collection at the leader's next clock
    f.stop()
    clock = cluster_status(leader)["logical_clock"]
    r = subprocess.run([TOOL, f.data_dir, "t2", "tampered", str(clock + 1), "999999", "8"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    w.upsert("t2", "tampered", 1)  # the leader's write: clock >= clock + 1 in that collection
    wait_ready(f.start(wait=False))

    # detected (both sides at the same collection clock), counted, repaired by the bootstrap
    wait_for("the mismatch", lambda: replication(f)["digest_mismatches"] >= 1)
    # (the bootstrap's log line follows its restore: the state may converge just before it)
    wait_for("the bootstrap", lambda: "bootstrapped from the leader's snapshot" in f.output())
    wait_converged(cluster, leader, [f])
    out = f.output()
    assert re.search(r"ERROR replication: digest mismatch: collection 'tampered' of tenant 't2' "
                     r"at clock \d+: leader hash \d+ \(\d+ points\), follower clock \d+ hash \d+",
                     out), out[-4000:]
    assert metric(f, "hyperspace_replication_digest_mismatches_total") >= 1
    # after the repair the checks agree again (no second mismatch)
    mism = replication(f)["digest_mismatches"]
    wait_for("an ok check after the repair", lambda: (replication(f)["last_digest_check"] or "")
             .startswith("ok"))
    w.run(100)
    wait_converged(cluster, leader, [f])
    time.sleep(1.5)
    assert replication(f)["digest_mismatches"] == mism
    assert state(cluster, f) == state(cluster, leader)


def test_digest_checks_off(cluster):
    leader = cluster.leader()
    f = cluster.follower(leader, env={"HS_REPL_VERIFY_SEC": "0"})
    w = Workload(leader, seed=22)
    w.setup()
    w.run(100)
    wait_converged(cluster, leader, [f])
    time.sleep(1)
    rep = replication(f)
    assert rep["digest_checks"] == 0 and rep["last_digest_check"] is None, rep
