"""Synchronous acknowledgement (issue 15 item 3): a leader started with HS_SYNC_REPLICAS=N answers a
write (every logged operation, both transports) only once N followers acknowledged a durable
watermark at or above the write's clock; a write not confirmed within HS_SYNC_TIMEOUT_MS is
answered REPLICATION_TIMEOUT (UNAVAILABLE / 503), stays durable on the leader and reaches the
followers when they catch up.  Real processes on loopback, the fixtures of test_replication.py.

* N=1, one follower: after every acknowledged write (mixed HTTP writes of test_replication's
  Workload and gRPC Insert / BatchInsert / Delete / CreateCollection / DeleteCollection) the
  follower's digests equal the leader's at once, without waiting.
* N=1, the follower frozen with SIGSTOP: writes fail after the timeout with the documented error
  (both transports), the follower is reported out of sync, /metrics counts the timeouts; after
  SIGCONT writes succeed again and the follower holds everything.
* N=2 with one follower: the documented error naming 1 of 2.
* N=0: writes are acknowledged without followers, as before (a frozen follower slows nothing).

Latencies of single inserts with N=0 and N=1 are printed (`pytest -s`) as lines starting with
`SYNC`.
"""
import signal
import time

import grpc

from conftest import http, ok
from test_replication import Workload, cluster, cluster_status, state, tmd, wait_converged  # noqa: F401

TIMEOUT_MS = 1500


def sync_env(n, timeout_ms=TIMEOUT_MS):
    return {"HS_SYNC_REPLICAS": str(n), "HS_SYNC_TIMEOUT_MS": str(timeout_ms)}


def wait_follower_known(leader, n=1, timeout=30):
    """Until the leader lists n connected followers that acknowledged."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        fs = cluster_status(leader)["followers"]
        if sum(1 for f in fs if f["connected"] and f["last_ack_ms"]) >= n:
            return fs
        time.sleep(0.05)
    raise AssertionError("followers not connected: %s" % cluster_status(leader))


class Checked(Workload):
    """The Workload whose every acknowledged write is checked on the follower at once."""

    def __init__(self, cl, leader, follower, seed):
        super().__init__(leader, seed)
        self.cl, self.f, self.checks = cl, follower, 0

    def call(self, method, path, tenant, body=None, status=200):
        out = super().call(method, path, tenant, body, status)
        assert state(self.cl, self.f) == state(self.cl, self.s), (method, path)
        self.checks += 1
        return out


def test_sync_every_acknowledged_write_is_on_the_follower(cluster):
    leader = cluster.leader(env=sync_env(1, 10000))
    f = cluster.follower(leader)
    wait_follower_known(leader)
    w = Checked(cluster, leader, f, seed=11)
    w.setup()
    w.run(1500)
    assert w.checks > 100
    # gRPC writes, each checked right after its answer
    P, stub = cluster.pb[0], cluster.stub(leader)
    md = tmd("default_admin")

    def same():
        assert state(cluster, f) == state(cluster, leader)

    stub.CreateCollection(P.CreateCollectionRequest(name="g", dimension=2, metric="l2"),
                          metadata=md)
    same()
    for i in range(20):
        stub.Insert(P.InsertRequest(collection="g", id=i, vector=[i, 1]), metadata=md)
        same()
    stub.BatchInsert(P.BatchInsertRequest(collection="g", vectors=[
        P.VectorData(id=100 + i, vector=[1, i]) for i in range(30)]), metadata=md)
    same()
    stub.Delete(P.DeleteRequest(collection="g", id=3), metadata=md)
    same()
    stub.DeleteCollection(P.DeleteCollectionRequest(name="g"), metadata=md)
    same()
    st = cluster_status(leader)
    assert [x["in_sync"] for x in st["followers"]] == [True]
    metrics = http(leader, "GET", "/metrics")[2]
    assert "hyperspace_replication_sync_timeouts_total 0\n" in metrics


def insert(s, i, tenant="default_admin"):
    return http(s, "POST", "/api/collections/vecs/insert", {"id": i, "vector": [i, 1.0]},
                headers={"X-Hyperspace-User-Id": tenant})


def test_sync_timeout_with_a_frozen_follower(cluster):
    leader = cluster.leader(env=sync_env(1))
    f = cluster.follower(leader)
    wait_follower_known(leader)
    ok(http(leader, "POST", "/api/collections", {"name": "vecs", "dimension": 2, "metric": "l2"}),
       201)
    ok(insert(leader, 1))
    f.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.time()
        st, _, body = insert(leader, 2)
        took = time.time() - t0
        assert st == 503, body
        assert body["error"]["code"] == "REPLICATION_TIMEOUT", body
        assert "confirmed by 0 of the 1 followers required within %d ms" % TIMEOUT_MS \
            in body["error"]["message"], body
        assert "durable on the leader" in body["error"]["message"], body
        assert TIMEOUT_MS / 1000 - 0.1 <= took < TIMEOUT_MS / 1000 + 2, took
        # the write is there on the leader
        got = ok(http(leader, "GET", "/api/collections/vecs/points/2"))
        assert got["id"] == 2, got
        # gRPC: UNAVAILABLE with the same message
        P, stub = cluster.pb[0], cluster.stub(leader)
        try:
            stub.Insert(P.InsertRequest(collection="vecs", id=3, vector=[3, 1]),
                        metadata=tmd("default_admin"))
            raise AssertionError("the gRPC insert was acknowledged")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e
            assert "confirmed by 0 of the 1 followers" in e.details(), e.details()
        # a collection create and drop wait as well
        st, _, body = http(leader, "POST", "/api/collections",
                           {"name": "other", "dimension": 2, "metric": "l2"})
        assert st == 503 and body["error"]["code"] == "REPLICATION_TIMEOUT", body
        st, _, body = http(leader, "DELETE", "/api/collections/other")
        assert st == 503 and body["error"]["code"] == "REPLICATION_TIMEOUT", body
        fs = cluster_status(leader)["followers"]
        assert [x["in_sync"] for x in fs] == [False], fs
        metrics = http(leader, "GET", "/metrics")[2]
        assert "hyperspace_replication_sync_timeouts_total 4\n" in metrics
    finally:
        f.proc.send_signal(signal.SIGCONT)
    # the follower catches up; writes are acknowledged again
    wait_converged(cluster, leader, [f])
    ok(insert(leader, 4))
    assert state(cluster, f) == state(cluster, leader)
    wait_converged(cluster, leader, [f])
    fs = cluster_status(leader)["followers"]
    assert [x["in_sync"] for x in fs] == [True], fs


def test_sync_more_replicas_than_followers(cluster):
    # (the one follower must confirm within the timeout: 5 s, room for a loaded machine)
    leader = cluster.leader(env=sync_env(2, 5000))
    f = cluster.follower(leader)
    wait_follower_known(leader)
    st, hdrs, body = http(leader, "POST", "/api/collections",
                          {"name": "vecs", "dimension": 2, "metric": "l2"})
    assert st == 503, body
    assert body["error"]["code"] == "REPLICATION_TIMEOUT", body
    assert "confirmed by 1 of the 2 followers required within 5000 ms" in body["error"]["message"], body
    # durable on the leader, and on the one follower
    ok(http(leader, "GET", "/api/collections/vecs/stats"))
    assert ("default_admin", "vecs") in state(cluster, f)
    st, _, body = insert(leader, 1)
    assert st == 503 and body["error"]["code"] == "REPLICATION_TIMEOUT", body
    wait_converged(cluster, leader, [f])


def test_per_request_sync_replicas(cluster):
    """X-Hyperspace-Sync-Replicas / x-hyperspace-sync-replicas: a write asks for more followers
    than the node's setting (never fewer); bad values are refused naming the header and change
    nothing."""
    leader = cluster.leader(env=sync_env(0, 5000))
    f = cluster.follower(leader)
    wait_follower_known(leader)
    ok(http(leader, "POST", "/api/collections", {"name": "vecs", "dimension": 2, "metric": "l2"},
            headers={"X-Hyperspace-Sync-Replicas": "1"}), 201)
    assert ("default_admin", "vecs") in state(cluster, f)  # on the follower when answered
    for i in range(1, 21):
        ok(http(leader, "POST", "/api/collections/vecs/insert", {"id": i, "vector": [i, 1.0]},
                headers={"X-Hyperspace-Sync-Replicas": "1"}))
        assert state(cluster, f) == state(cluster, leader), i
    # more than there are followers: the documented error after the node's timeout
    st, _, body = http(leader, "POST", "/api/collections/vecs/insert",
                       {"id": 100, "vector": [1, 2]}, headers={"X-Hyperspace-Sync-Replicas": "2"})
    assert st == 503 and body["error"]["code"] == "REPLICATION_TIMEOUT", body
    assert "confirmed by 1 of the 2 followers required within 5000 ms" in body["error"]["message"]
    # bad values: 400 naming the header, nothing written
    for bad in ("abc", "-1", "65", "1.5", "", "99999999999999999999"):
        st, _, body = http(leader, "POST", "/api/collections/vecs/insert",
                           {"id": 200, "vector": [1, 2]}, headers={"X-Hyperspace-Sync-Replicas": bad})
        if bad == "":  # an empty header is no header for some HTTP stacks: then it is a write
            continue
        assert st == 400, (bad, body)
        assert body["error"]["code"] == "INVALID_ARGUMENT", body
        assert "x-hyperspace-sync-replicas must be a whole number from 0 to 64" in \
            body["error"]["message"], body
    assert http(leader, "GET", "/api/collections/vecs/points/200")[0] == 404
    # gRPC: the same through metadata
    P, stub = cluster.pb[0], cluster.stub(leader)
    stub.Insert(P.InsertRequest(collection="vecs", id=300, vector=[3, 1]),
                metadata=tmd("default_admin") + [("x-hyperspace-sync-replicas", "1")])
    assert state(cluster, f) == state(cluster, leader)
    for pid, md, code, text in (
            (301, ("x-hyperspace-sync-replicas", "2"), grpc.StatusCode.UNAVAILABLE,
             "confirmed by 1 of the 2 followers"),
            (302, ("x-hyperspace-sync-replicas", "x"), grpc.StatusCode.INVALID_ARGUMENT,
             "x-hyperspace-sync-replicas must be a whole number from 0 to 64 (got 'x')")):
        try:
            stub.Insert(P.InsertRequest(collection="vecs", id=pid, vector=[3, 1]),
                        metadata=tmd("default_admin") + [md])
            raise AssertionError("acknowledged with %s" % (md,))
        except grpc.RpcError as e:
            assert e.code() == code, e
            assert text in e.details(), e.details()
    # the refused one is not there; the timed-out one is (durable on the leader)
    got = stub.GetPoints(P.GetPointsRequest(collection="vecs", ids=[301, 302]),
                         metadata=tmd("default_admin"))
    assert [p.id for p in got.points] == [301]
    # a node setting above the request's wins: 0 asks for nothing less
    l2 = cluster.leader(env=sync_env(1, 500))
    ok(http(l2, "POST", "/api/collections", {"name": "w", "dimension": 2, "metric": "l2"},
            headers={"X-Hyperspace-Sync-Replicas": "0"}), 503)


def latencies(leader, n=500):
    ok(http(leader, "POST", "/api/collections", {"name": "vecs", "dimension": 2, "metric": "l2"}),
       201)
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        ok(insert(leader, i))
        out.append(time.perf_counter() - t0)
    out.sort()
    return out[len(out) // 2] * 1000, out[int(len(out) * 0.99)] * 1000


def test_async_unchanged_and_latency(cluster):
    leader = cluster.leader()
    f = cluster.follower(leader)
    wait_follower_known(leader)
    p50, p99 = latencies(leader)
    print("SYNC N=0: single insert p50 %.2f ms p99 %.2f ms" % (p50, p99))
    # a frozen follower holds nothing up
    f.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.time()
        for i in range(1000, 1020):
            ok(insert(leader, i))
        assert time.time() - t0 < 2
    finally:
        f.proc.send_signal(signal.SIGCONT)
    wait_converged(cluster, leader, [f])
    assert "hyperspace_replication_sync_timeouts_total 0\n" in http(leader, "GET", "/metrics")[2]


def test_sync_latency(cluster):
    leader = cluster.leader(env=sync_env(1, 10000))
    f = cluster.follower(leader)
    wait_follower_known(leader)
    p50, p99 = latencies(leader)
    print("SYNC N=1: single insert p50 %.2f ms p99 %.2f ms" % (p50, p99))
    assert state(cluster, f) == state(cluster, leader)
