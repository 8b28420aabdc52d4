"""The node-wide change stream: gRPC SubscribeToEvents without a collection and HTTP
GET /api/events (grpc.md and http.md, "Change stream"): every change of every collection of the
caller's tenant, in clock order, each naming its collection; other tenants' changes are never
seen; a collection's deletion ends nothing; resuming after the last clock seen loses nothing and
repeats nothing.
"""
import random
import threading

import grpc

from conftest import http, ok


def stub_of(server, pb):
    return pb[1].DatabaseStub(grpc.insecure_channel(server.grpc_target))


def position(server, headers=None):
    body = ok(http(server, "GET", "/api/events", headers=headers))
    assert body["events"] == []  # without `after`: the current position, at once
    return body["next"]


def poll_all(server, after, want, headers=None, limit=7):
    """Follows /api/events from `after` in small pages until `want` events came."""
    out = []
    while len(out) < want:
        body = ok(http(server, "GET", "/api/events?after=%d&limit=%d&wait_ms=2000" % (after, limit),
                       headers=headers))
        assert body["events"], "no event within 2 s after %d (%d of %d)" % (after, len(out), want)
        out += body["events"]
        after = body["next"]
    return out, after


def test_every_collection_of_the_tenant_in_clock_order(server, pb):
    P, _ = pb
    db = stub_of(server, pb)
    other = {"x-hyperspace-user-id": "othertenant"}
    start = position(server)
    start_other = position(server, other)
    ok(http(server, "POST", "/api/collections", {"name": "na", "dimension": 2, "metric": "l2"}), 201)
    ok(http(server, "POST", "/api/collections", {"name": "nb", "dimension": 3, "metric": "cosine"}), 201)
    ok(http(server, "POST", "/api/collections", {"name": "nx", "dimension": 2, "metric": "l2"},
            headers=other), 201)
    db.Insert(P.InsertRequest(collection="na", id=1, vector=[1, 2], metadata={"k": "v"}))
    ok(http(server, "POST", "/api/collections/nx/insert", {"id": 5, "vector": [0, 1]},
            headers=other))
    ok(http(server, "POST", "/api/collections/nb/insert/batch", {"vectors": [
        {"id": 2, "vector": [0, 0, 1], "typed_metadata": {"n": 3}}, {"id": 3, "vector": [1, 0, 0]}]}))
    db.Delete(P.DeleteRequest(collection="na", id=1))
    want = [("na", "create"), ("nb", "create"), ("na", "upsert"), ("nb", "upsert"),
            ("nb", "upsert"), ("na", "delete"), ("na", "drop"), ("nb", "upsert")]
    # HTTP, in pages of 3 (na's changes are read before it is dropped: a reader that reaches a
    # dropped collection's changes only after the drop gets the drop alone, below)
    evs, nxt = poll_all(server, start, 6, limit=3)
    assert http(server, "DELETE", "/api/collections/na")[0] in (200, 204)
    db.Insert(P.InsertRequest(collection="nb", id=4, vector=[0, 1, 0]))
    more, nxt = poll_all(server, nxt, 2, limit=3)
    evs += more
    assert [(e["collection"], e["type"]) for e in evs] == want
    clocks = [e["clock"] for e in evs]
    assert clocks == sorted(clocks) and len(set(clocks)) == len(clocks) and clocks[0] > start
    assert evs[3]["point"]["typed_metadata"] == {"n": 3}
    assert ok(http(server, "GET", "/api/events?after=%d&wait_ms=0" % nxt))["events"] == []
    # the other tenant sees only its own
    theirs, _ = poll_all(server, start_other, 2, headers=other)
    assert [(e["collection"], e["type"]) for e in theirs] == [("nx", "create"), ("nx", "upsert")]
    # the types filter
    drops = ok(http(server, "GET", "/api/events?after=%d&types=drop,delete" % start))["events"]
    assert [(e["collection"], e["type"]) for e in drops] == [("na", "drop")]  # na is gone
    deletes = ok(http(server, "GET", "/api/events?after=%d&types=delete,upsert" % start))["events"]
    assert [(e["collection"], e["type"]) for e in deletes] == [("nb", "upsert")] * 3
    # gRPC from the same start, now that na is gone: nb's changes and na's drop (not na's
    # earlier changes), and the drop does not end the stream
    E = P.EventType
    stream = db.SubscribeToEvents(P.EventSubscriptionRequest(after_clock=start))
    got = []
    for ev in stream:
        kind = ev.WhichOneof("payload")
        body = getattr(ev, kind)
        got.append((body.collection, ev.type, body.logical_clock))
        if len(got) == 5:
            break
    kept = [i for i, w in enumerate(want) if w[0] == "nb" or w[1] == "drop"]
    assert [g[2] for g in got] == [clocks[i] for i in kept]
    assert [g[1] for g in got] == [E.Value(n) for n in (
        "COLLECTION_CREATED", "VECTOR_INSERTED", "VECTOR_INSERTED", "COLLECTION_DELETED",
        "VECTOR_INSERTED")]
    assert [g[0] for g in got] == [want[i][0] for i in kept]
    # live: a write after the subscription arrives on it
    db.Insert(P.InsertRequest(collection="nb", id=9, vector=[1, 1, 1]))
    ev = next(stream)
    assert (ev.vector_inserted.collection, ev.vector_inserted.id) == ("nb", 9)
    stream.cancel()


def test_resumed_consumer_sees_every_write_once(server, pb):
    """Writers on four collections while a consumer follows /api/events in small pages and
    restarts from the last clock it kept at random moments: each write exactly once, in order."""
    P, _ = pb
    db = stub_of(server, pb)
    names = ["r%d" % i for i in range(4)]
    for n in names:
        ok(http(server, "POST", "/api/collections", {"name": n, "dimension": 2, "metric": "l2"}), 201)
    start = position(server)
    total = 2000
    def writer(w):
        rnd = random.Random(w)
        for i in range(total // 4):
            db.Insert(P.InsertRequest(collection=names[w], id=i, vector=[rnd.random(), 1.0]))
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    rnd = random.Random(7)
    seen, after = [], start
    while len(seen) < total:
        # a consumer that forgets everything but its position, every few pages
        evs, after = poll_all(server, after, min(total - len(seen), rnd.randint(1, 300)),
                              limit=rnd.randint(1, 50))
        seen += [(e["collection"], e["point"]["id"], e["clock"]) for e in evs]
    for t in threads:
        t.join()
    assert len(seen) == total
    clocks = [s[2] for s in seen]
    assert clocks == sorted(clocks) and len(set(clocks)) == total
    for n in names:  # per collection: ids 0.. in order, once each
        assert [s[1] for s in seen if s[0] == n] == list(range(total // 4))
