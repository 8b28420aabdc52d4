"""Replication, the leader side (spec behaviour.md B11.2, grpc.md 5.2, http.md 6.24; docs/api/
grpc.md "Replication"), driven by a test client that calls the leader's RPCs directly:

* Replicate after a clock X: every logged operation of every collection and tenant with a clock
  above X, in strictly increasing clock order, catch-up then live with no gap and no duplicate
  (compared with the writes the test made), each record with its data (qualified collection,
  origin node, processed vector, string and typed metadata, string ids, collection parameters),
  the leader's node id as initial metadata; downstream_peers and the metrics follow the stream.
* Positions the leader cannot serve (log removed by a checkpoint, a clock ahead of the node) end
  with FAILED_PRECONDITION and `x-hyperspace-resync: snapshot`.
* A live follower that stops reading is cut with E_REPL_SLOW once 65,536 records behind.
* ReplicateSnapshot streams an archive that another node's restore accepts (same digests).
* ReplicationAck feeds cluster status (watermark, lag in records and seconds, connected).
* Followers refuse Replicate (E_FOLLOWER_REPLICATE) and name their leader when they refuse a
  write (gRPC trailing metadata, HTTP details and header); keys: a global admin key is required.
* Shutdown ends an open stream with UNAVAILABLE.
"""
import hashlib
import json
import re
import signal
import threading
import time
import urllib.request

import grpc
import pytest

from conftest import http, ok

SLOW = 65536


def stub_of(server, pb):
    return pb[1].DatabaseStub(grpc.insecure_channel(server.grpc_target))


def clock_of(server):
    return ok(http(server, "GET", "/api/cluster/status"))["logical_clock"]


class Tail:
    """A Replicate stream read by a thread into `msgs` (or stopped with `error`)."""

    def __init__(self, db, P, after, metadata=None, read=True):
        self.call = db.Replicate(P.ReplicationRequest(last_logical_clock=after),
                                 metadata=metadata)
        self.msgs, self.error = [], None
        self.go = threading.Event()
        if read:
            self.go.set()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.go.wait()
            for m in self.call:
                self.msgs.append(m)
                self.go.wait()
        except grpc.RpcError as e:
            self.error = e

    def wait_clock(self, clock, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.msgs and self.msgs[-1].logical_clock >= clock:
                return
            if self.error is not None:
                raise AssertionError("stream ended: %s %s" % (self.error.code(),
                                                             self.error.details()))
            time.sleep(0.02)
        raise AssertionError("stream at %s, not at %d" % (
            self.msgs[-1].logical_clock if self.msgs else None, clock))

    def wait_end(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the stream did not end"
        return self.error

    def close(self):
        self.call.cancel()
        self.go.set()
        self.thread.join(10)


def op_of(m):
    """(collection, kind, id) of a ReplicationLog."""
    kind = m.WhichOneof("operation")
    body = getattr(m, kind)
    ident = None
    if kind in ("insert", "delete"):
        ident = body.string_id or body.id64 or body.id
    return m.collection, kind, ident


def settled(ops):
    """ops without the records a later drop of their collection superseded: catch-up may leave
    those out (B11.6: of a deleted collection only its delete record is retained)."""
    out = []
    for i, (coll, kind, ident) in enumerate(ops):
        later_drop = any(c == coll and k == "delete_collection" for c, k, _ in ops[i + 1:])
        if not later_drop:
            out.append((coll, kind, ident))
    return out


def check_catch_up(got, expected):
    """The records a catch-up delivered against the writes made: the same, in order, except
    superseded records of dropped collections, which may be missing."""
    assert settled(got) == settled(expected)
    assert set(got) <= set(expected)
    assert len(got) == len(set(got))


class Writes:
    """Sequential writes over HTTP, each noted as the record(s) it must yield."""

    def __init__(self, server):
        self.s, self.ops = server, []

    def _do(self, method, path, body, tenant):
        hdrs = {"x-hyperspace-user-id": tenant} if tenant else None
        st, _, out = http(self.s, method, path, body, headers=hdrs)
        assert st in (200, 201, 204), out
        return out

    def create(self, name, tenant="default_admin", **cfg):
        body = {"name": name, "dimension": 3, "metric": "l2"}
        body.update(cfg)
        self._do("POST", "/api/collections", body, tenant)
        self.ops.append(("%s/%s" % (tenant, name), "create_collection", None))

    def drop(self, name, tenant="default_admin"):
        self._do("DELETE", "/api/collections/" + name, None, tenant)
        self.ops.append(("%s/%s" % (tenant, name), "delete_collection", None))

    def insert(self, name, points, tenant="default_admin"):
        self._do("POST", "/api/collections/%s/insert/batch" % name, {"vectors": points}, tenant)
        self.ops += [("%s/%s" % (tenant, name), "insert", p["id"]) for p in points]

    def delete(self, name, ident, tenant="default_admin"):
        self._do("POST", "/api/collections/%s/points/delete" % name, {"ids": [ident]}, tenant)
        self.ops.append(("%s/%s" % (tenant, name), "delete", ident))


def test_catch_up_then_live_in_clock_order_across_collections_and_tenants(server, pb):
    P, _ = pb
    db = stub_of(server, pb)
    w = Writes(server)
    node_id = ok(http(server, "GET", "/api/cluster/status"))["node_id"]
    # before X
    w.create("a")
    w.insert("a", [{"id": i, "vector": [i, 1, 2], "metadata": {"color": "red"},
                    "typed_metadata": {"n": i}} for i in range(1, 4)])
    w.create("s", tenant="t2", id_type="string", metric="cosine")
    w.insert("s", [{"id": "doc-1", "vector": [3, 0, 4], "metadata": {"tag": "x"},
                    "typed_metadata": {"n": 2}}], tenant="t2")
    x = clock_of(server)
    n_before = len(w.ops)
    # after X, before the stream opens: caught up
    w.insert("a", [{"id": 7, "vector": [7, 7, 7], "typed_metadata": {"ok": True, "f": 1.5}}])
    w.delete("a", 1)
    w.delete("s", "doc-1", tenant="t2")
    w.create("tmp", tenant="t2")
    w.drop("tmp", tenant="t2")
    t = Tail(db, P, x, metadata=(("x-hyperspace-node-id", "follower-one"),))
    try:
        assert dict(t.call.initial_metadata())["x-hyperspace-node-id"] == node_id
        t.wait_clock(clock_of(server))
        caught_up = [op_of(m) for m in t.msgs]
        check_catch_up(caught_up, w.ops[n_before:])
        assert ("t2/tmp", "delete_collection", None) in caught_up
        n_live = len(w.ops)
        # live: written while the stream waits
        st = ok(http(server, "GET", "/api/cluster/status"))
        assert len(st["downstream_peers"]) == 1 and st["downstream_peers"][0].startswith(
            "127.0.0.1:")
        f1 = [f for f in st["followers"] if f["node_id"] == "follower-one"]
        assert f1 and f1[0]["connected"] is True and f1[0]["watermark"] == x
        w.insert("a", [{"id": 8, "vector": [8, 0, 0]}])
        w.insert("s", [{"id": "doc-2", "vector": [0, 1, 0]}, {"id": "doc-3", "vector": [1, 0, 0]}],
                 tenant="t2")
        w.drop("a")
        t.wait_clock(clock_of(server))
        assert [op_of(m) for m in t.msgs] == caught_up + w.ops[n_live:]
        clocks = [m.logical_clock for m in t.msgs]
        assert clocks == sorted(set(clocks)) and clocks[0] > x
        assert clocks[-1] == clock_of(server)
        assert all(m.origin_node_id == node_id for m in t.msgs)
        by = {op_of(m): m for m in t.msgs}
        ins7 = by[("default_admin/a", "insert", 7)].insert
        assert list(ins7.vector) == [7.0, 7.0, 7.0]
        assert dict(ins7.metadata) == {"ok": "true", "f": "1.5"}
        assert ins7.typed_metadata["ok"].bool_value is True
        assert ins7.typed_metadata["f"].double_value == 1.5
        doc2 = by[("t2/s", "insert", "doc-2")].insert
        assert doc2.string_id == "doc-2" and doc2.id == 0 and list(doc2.vector) == [0.0, 1.0, 0.0]
        assert by[("t2/s", "delete", "doc-1")].delete.string_id == "doc-1"
        metrics = http(server, "GET", "/metrics")[2]
        assert "hyperspace_replication_followers 1\n" in metrics
        sent = int(re.search(r"^hyperspace_replication_records_sent_total (\d+)$", metrics,
                             re.M).group(1))
        assert sent == len(t.msgs)
    finally:
        t.close()
    # a closed stream leaves downstream_peers at once
    deadline = time.time() + 5
    while ok(http(server, "GET", "/api/cluster/status"))["downstream_peers"]:
        assert time.time() < deadline
        time.sleep(0.02)
    assert "hyperspace_replication_followers 0\n" in http(server, "GET", "/metrics")[2]

    # from 0: the whole history, the boot-time default collection first, typed metadata kept
    t0 = Tail(db, P, 0)
    try:
        t0.wait_clock(clock_of(server))
        ops = [op_of(m) for m in t0.msgs]
        check_catch_up(ops, [("default_admin/default", "create_collection", None)] + w.ops)
        clocks = [m.logical_clock for m in t0.msgs]
        assert clocks == sorted(set(clocks)) and clocks[-1] == clock_of(server)
        cre = [m for m in t0.msgs if op_of(m) == ("t2/s", "create_collection", None)][0]
        c = cre.create_collection
        assert (c.dimension, c.metric, c.quantization, c.id_type) == (3, "cosine", "none",
                                                                      "string")
        doc1 = [m for m in t0.msgs if op_of(m) == ("t2/s", "insert", "doc-1")][0].insert
        assert dict(doc1.metadata) == {"tag": "x", "n": "2"}
        assert set(doc1.typed_metadata) == {"n"} and doc1.typed_metadata["n"].int_value == 2
        assert [round(v, 6) for v in doc1.vector] == [0.6, 0.0, 0.8]  # processed: normalised
    finally:
        t0.close()


def test_positions_the_leader_cannot_serve_ask_for_a_snapshot(server_factory, pb):
    P, _ = pb
    s = server_factory(env={"HYPERSPACE_WAL_RETAIN_BYTES": "0",
                            "HS_CHECKPOINT_MIN_LOG_BYTES": "0"})
    db = stub_of(s, pb)
    db.CreateCollection(P.CreateCollectionRequest(name="tr", dimension=2, metric="l2"))
    db.BatchInsert(P.BatchInsertRequest(collection="tr", vectors=[
        P.VectorData(id=i, vector=[i, 0]) for i in range(50)]))
    now = clock_of(s)
    # ahead of the node
    t = Tail(db, P, now + 5)
    e = t.wait_end()
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert e.details() == "Clock %d is ahead of this leader's clock %d; bootstrap from a " \
                          "snapshot" % (now + 5, now)
    assert dict(e.trailing_metadata())["x-hyperspace-resync"] == "snapshot"
    # the checkpoint removes the log it covers (no retention)
    db.TriggerSnapshot(P.Empty())
    t = Tail(db, P, 10)
    e = t.wait_end()
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    assert e.details() == "Log truncated after clock 10; bootstrap from a snapshot"
    assert dict(e.trailing_metadata())["x-hyperspace-resync"] == "snapshot"
    # from the node's clock on it serves
    t = Tail(db, P, now)
    try:
        db.Insert(P.InsertRequest(collection="tr", id=99, vector=[9, 9]))
        t.wait_clock(now + 1)
        assert [op_of(m) for m in t.msgs] == [("default_admin/tr", "insert", 99)]
    finally:
        t.close()


def test_snapshot_stream_restores_on_another_node(server_factory, pb):
    P, _ = pb
    a = server_factory()
    w = Writes(a)
    w.create("c1")
    w.insert("c1", [{"id": i, "vector": [i, i / 2, 1], "metadata": {"k": i}} for i in range(300)])
    w.delete("c1", 5)
    w.create("s", tenant="t2", id_type="string")
    w.insert("s", [{"id": "u-%d" % i, "vector": [1, i, 0]} for i in range(20)], tenant="t2")
    db = stub_of(a, pb)
    call = db.ReplicateSnapshot(P.ReplicationSnapshotRequest(node_id="f-9"), timeout=60)
    assert dict(call.initial_metadata())["x-hyperspace-node-id"] == \
        ok(http(a, "GET", "/api/cluster/status"))["node_id"]
    chunks = list(call)
    assert chunks[-1].last and all(not c.last for c in chunks[:-1])
    assert chunks[-1].clock == clock_of(a)
    assert all(len(c.data) <= 1 << 20 for c in chunks)
    data = b"".join(c.data for c in chunks)
    assert "for node f-9" in a.output()
    b = server_factory()
    req = urllib.request.Request(b.url("/api/snapshots/boot.hsnap"), data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=60) as r:
        up = json.loads(r.read())
    assert up["logical_clock"] == chunks[-1].clock
    ok(http(b, "POST", "/api/snapshots/boot.hsnap/restore", {}))
    for name, tenant in (("c1", None), ("s", "t2")):
        hdrs = {"x-hyperspace-user-id": tenant} if tenant else None
        da = ok(http(a, "GET", "/api/collections/%s/digest" % name, headers=hdrs))
        db_ = ok(http(b, "GET", "/api/collections/%s/digest" % name, headers=hdrs))
        assert da == db_ and da["count"] > 0


def test_big_snapshot_comes_in_chunks_of_at_most_one_mib(server_factory, pb):
    P, _ = pb
    a = server_factory()
    db = stub_of(a, pb)
    db.CreateCollection(P.CreateCollectionRequest(name="big", dimension=256, metric="l2"))
    for k in range(4):
        db.BatchInsert(P.BatchInsertRequest(collection="big", vectors=[
            P.VectorData(id=k * 1000 + i, vector=[float(i % 7)] * 256) for i in range(1000)]))
    chunks = list(db.ReplicateSnapshot(P.ReplicationSnapshotRequest(), timeout=120))
    sizes = [len(c.data) for c in chunks]
    assert len(chunks) >= 3 and max(sizes) == 1 << 20
    assert all(s == 1 << 20 for s in sizes[:-1])
    assert chunks[-1].last and chunks[-1].clock == clock_of(a)


def test_acks_give_each_follower_its_lag(server, pb):
    P, _ = pb
    db = stub_of(server, pb)
    w = Writes(server)
    w.create("c")
    now = clock_of(server)
    r = db.ReplicationAck(P.ReplicationAckRequest(node_id="f1", durable_clock=now,
                                                  address="127.0.0.1:7001"))
    assert r.status == "Acknowledged clock %d" % now
    st = ok(http(server, "GET", "/api/cluster/status"))
    assert st["role"] == "Leader" and st["replication"] is None
    [f] = st["followers"]
    assert (f["node_id"], f["address"], f["watermark"], f["lag_records"], f["lag_seconds"],
            f["connected"]) == ("f1", "127.0.0.1:7001", now, 0, 0, False)
    assert abs(f["last_ack_ms"] / 1000 - time.time()) < 60
    w.insert("c", [{"id": i, "vector": [i, 0, 0]} for i in range(10)])
    time.sleep(1.2)
    for _ in range(60):  # the clock sampler may be starved on a loaded machine: look again
        st = ok(http(server, "GET", "/api/cluster/status"))
        [f] = st["followers"]
        if f["lag_seconds"] >= 1.0:
            break
        time.sleep(0.25)
    assert f["lag_records"] == 10 and 1.0 <= f["lag_seconds"] < 30
    g = db.ClusterStatus(P.Empty())
    assert g.role == "Leader" and g.logical_clock == now + 10
    assert [(x.node_id, x.watermark, x.lag_records) for x in g.followers] == [("f1", now, 10)]
    assert g.followers[0].lag_seconds >= 1.0 and not g.HasField("replication")
    # caught up again
    db.ReplicationAck(P.ReplicationAckRequest(node_id="f1", durable_clock=now + 10))
    [f] = ok(http(server, "GET", "/api/cluster/status"))["followers"]
    assert (f["lag_records"], f["lag_seconds"], f["address"]) == (0, 0, "127.0.0.1:7001")
    with pytest.raises(grpc.RpcError) as ei:
        db.ReplicationAck(P.ReplicationAckRequest(durable_clock=3))
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_followers_refuse_replication_and_name_their_leader_on_writes(server_factory, pb):
    P, _ = pb
    f = server_factory(args=["--role", "follower", "--leader", "127.0.0.1:59999"])
    db = stub_of(f, pb)
    t = Tail(db, P, 0)
    e = t.wait_end()
    assert (e.code(), e.details()) == (grpc.StatusCode.FAILED_PRECONDITION,
                                       "I am a follower, cannot replicate from me")
    assert "x-hyperspace-node-id" not in dict(t.call.initial_metadata())
    for call in (lambda: list(db.ReplicateSnapshot(P.ReplicationSnapshotRequest(), timeout=10)),
                 lambda: db.ReplicationAck(P.ReplicationAckRequest(node_id="x"))):
        with pytest.raises(grpc.RpcError) as ei:
            call()
        assert (ei.value.code(), ei.value.details()) == (
            grpc.StatusCode.FAILED_PRECONDITION, "I am a follower, cannot replicate from me")
    # writes: refused with the leader's address on both transports
    with pytest.raises(grpc.RpcError) as ei:
        db.Insert(P.InsertRequest(id=1, vector=[0.1] * 1024))
    assert ei.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert ei.value.details() == "Followers are read-only"
    assert dict(ei.value.trailing_metadata())["x-hyperspace-leader"] == "127.0.0.1:59999"
    st, hdrs, body = http(f, "POST", "/api/collections/default/insert",
                          {"id": 1, "vector": [0.1] * 1024})
    assert st == 409 and body["error"] == {"code": "FOLLOWER_READ_ONLY",
                                           "message": "Followers are read-only",
                                           "details": {"leader": "127.0.0.1:59999"}}
    assert hdrs["x-hyperspace-leader"] == "127.0.0.1:59999"
    st, hdrs, body = http(f, "DELETE", "/api/collections/default")
    assert st == 409 and hdrs["x-hyperspace-leader"] == "127.0.0.1:59999"
    # status: a follower's own replication, no followers of its own
    st = ok(http(f, "GET", "/api/cluster/status"))
    assert st["role"] == "Follower" and st["upstream_peer"] == "127.0.0.1:59999"
    assert st["downstream_peers"] == [] and "followers" not in st
    assert set(st["replication"]) == {"connected", "leader_node_id", "watermark", "reconnects",
                                      "last_error", "digest_checks", "digest_mismatches",
                                      "last_digest_check_ms", "last_digest_check",
                                      "leader_changes_continued", "full_resyncs"}
    g = db.ClusterStatus(P.Empty())
    assert g.role == "Follower" and g.upstream_peer == "127.0.0.1:59999"
    assert g.HasField("replication") and list(g.followers) == []


def test_replication_needs_a_global_admin_key(server_factory, pb, tmp_path):
    P, _ = pb
    keys = tmp_path / "keys"
    keys.write_text("admin %s acme\nreader %s\n" % (hashlib.sha256(b"acme-admin").hexdigest(),
                                                   hashlib.sha256(b"reader-key").hexdigest()))
    s = server_factory(env={"HYPERSPACE_API_KEY": "root-key",
                            "HYPERSPACE_API_KEYS_FILE": str(keys)})
    db = stub_of(s, pb)
    for md, code, text in (
            ((), grpc.StatusCode.UNAUTHENTICATED, "Missing x-api-key header"),
            ((("x-api-key", "nope"),), grpc.StatusCode.UNAUTHENTICATED, "Invalid API Key"),
            ((("x-api-key", "reader-key"),), grpc.StatusCode.PERMISSION_DENIED,
             "Role 'reader' is not allowed to call Replicate"),
            ((("x-api-key", "acme-admin"),), grpc.StatusCode.PERMISSION_DENIED,
             "Replicate requires an admin key that is not bound to a tenant")):
        e = Tail(db, P, 0, metadata=md).wait_end()
        assert (e.code(), e.details()) == (code, text)
    t = Tail(db, P, 0, metadata=(("x-api-key", "root-key"),))
    try:
        t.wait_clock(1)
        assert op_of(t.msgs[0]) == ("default_admin/default", "create_collection", None)
    finally:
        t.close()
    # cluster status is a reader's, as over HTTP
    g = db.ClusterStatus(P.Empty(), metadata=(("x-api-key", "reader-key"),))
    assert g.role == "Leader"


def test_shutdown_ends_an_open_stream_with_unavailable(server_factory, pb):
    P, _ = pb
    s = server_factory()
    t = Tail(stub_of(s, pb), P, 0)
    t.wait_clock(1)
    assert s.stop(signal.SIGTERM) == 0
    e = t.wait_end()
    assert (e.code(), e.details()) == (grpc.StatusCode.UNAVAILABLE, "Server is shutting down")


def test_a_live_follower_that_stops_reading_is_cut_when_too_far_behind(server_factory, pb):
    P, _ = pb
    s = server_factory(env={"HYPERSPACE_WAL_SYNC_MODE": "async"})
    db = stub_of(s, pb)
    dim = 128
    db.CreateCollection(P.CreateCollectionRequest(name="fast", dimension=dim, metric="l2"))
    t = Tail(db, P, 0)
    t.wait_clock(clock_of(s))  # live
    t.go.clear()  # stops reading: gRPC flow control holds the leader's next message
    total, batch = 0, 5000
    deadline = time.time() + 300
    while total < SLOW + 2 * batch and time.time() < deadline:
        db.BatchInsert(P.BatchInsertRequest(collection="fast", vectors=[
            P.VectorData(id=total + i, vector=[float(i % 13)] * dim) for i in range(batch)],
            durability=1))
        total += batch
    t.go.set()  # the buffered messages, then the status
    e = t.wait_end(60)
    assert e is not None, "the stream was not cut"
    assert (e.code(), e.details()) == (
        grpc.StatusCode.UNAVAILABLE,
        "Follower fell more than 65536 records behind; reconnect to resume")
    got = len(t.msgs)
    assert 0 < got < total
    # resuming from where it got to catches up (catch-up is never cut)
    t2 = Tail(db, P, t.msgs[-1].logical_clock)
    try:
        t2.wait_clock(clock_of(s), timeout=120)
        clocks = [m.logical_clock for m in t.msgs + t2.msgs]
        assert clocks == sorted(set(clocks)) and len(clocks) == total + 2
    finally:
        t2.close()


def test_concurrent_writers_resumed_stream_has_every_record_once(server_factory, pb):
    """Writers to three collections at once; a stream opened in the middle, cut and resumed
    after its last record: every acknowledged write after the start clock arrives exactly once,
    in clock order, as the (collection, id) the write gave that clock."""
    P, _ = pb
    s = server_factory()
    for n in ("w0", "w1", "w2"):
        ok(http(s, "POST", "/api/collections", {"name": n, "dimension": 2, "metric": "l2"}), 201)
    by_clock, errors, stop = {}, [], threading.Event()

    def writer(k):
        import random
        rng, next_id = random.Random(k), 0
        try:
            while not stop.is_set():
                n = rng.randint(1, 20)
                ids = list(range(next_id, next_id + n))
                next_id += n
                r = ok(http(s, "POST", "/api/collections/w%d/insert/batch" % k,
                            {"vectors": [{"id": i, "vector": [i, k]} for i in ids]}))
                last = r["logical_clock"]
                for j, i in enumerate(ids):
                    by_clock[last - n + 1 + j] = ("default_admin/w%d" % k, "insert", i)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.7)
    x = clock_of(s)
    db = stub_of(s, pb)
    got = []
    def some(tail):  # the writers keep writing: a live tail gets messages (slowly when loaded)
        deadline = time.time() + 30
        while not tail.msgs and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)

    t1 = Tail(db, P, x)
    some(t1)
    t1.close()
    got += t1.msgs
    resume = got[-1].logical_clock if got else x
    t2 = Tail(db, P, resume)
    some(t2)
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors
    try:
        t2.wait_clock(clock_of(s))
    finally:
        t2.close()
    got += t2.msgs
    clocks = [m.logical_clock for m in got]
    assert clocks == sorted(set(clocks)) and clocks[0] > x
    expected = sorted(c for c in by_clock if c > x)
    assert clocks == expected
    assert [op_of(m) for m in got] == [by_clock[c] for c in expected]
    assert len(t1.msgs) > 0 and len(t2.msgs) > 0
