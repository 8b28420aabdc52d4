"""The change stream: gRPC SubscribeToEvents and HTTP GET /api/collections/{name}/events
(grpc.md "Change stream", http.md "Change stream").

* Every kind of change arrives once, in log order, with its clock, id, metadata (strings and
  typed), stored vector, and the collection's creation and deletion.
* A consumer killed (SIGKILL) and restarted at random moments, and one that drops its stream at
  random moments, each resuming after the last clock it wrote down, see every one of 100,000
  writes exactly once and in order while the writes go on and checkpoints remove old log.
* Errors: a position the retained log no longer holds (at the start and while streaming), a
  clock ahead of the node, an unknown collection, bad arguments, an unknown field.
* A consumer that stops reading holds up neither writers nor other consumers, and later gets
  everything it missed.
* A client of the later original releases (their message layout, no after_clock) gets the
  changes applied after it subscribed.
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading

import grpc
import pytest

from conftest import http, ok, restart

REWORDED = bool(os.environ.get("HS_ERROR_REWORD"))


def stub_of(server, pb):
    return pb[1].DatabaseStub(grpc.insecure_channel(server.grpc_target))


def take(it, n):
    """The next n messages of a stream."""
    out = []
    for ev in it:
        out.append(ev)
        if len(out) == n:
            break
    return out


def key(P, ev):
    """(type, clock, id) of an EventMessage."""
    kind = ev.WhichOneof("payload")
    body = getattr(ev, kind)
    return ev.type, body.logical_clock, getattr(body, "id", None)


# ---- every kind of change, both transports ----------------------------------------------------

def test_every_change_once_in_order_with_its_data(server, pb):
    P, _ = pb
    db = stub_of(server, pb)
    clock0 = ok(http(server, "GET", "/api/cluster/status"))["logical_clock"]
    db.CreateCollection(P.CreateCollectionRequest(name="ev", dimension=3, metric="cosine", m=8))
    db.Insert(P.InsertRequest(collection="ev", id=7, vector=[3, 0, 4], metadata={"a": "x"}))
    ok(http(server, "POST", "/api/collections/ev/insert/batch", {"vectors": [
        {"id": 8, "vector": [0, 1, 0], "typed_metadata": {"n": 5, "f": 2.5, "b": True,
                                                          "l": ["u", 1]}},
        {"id": 9, "vector": [1, 0, 0]}]}))
    db.Delete(P.DeleteRequest(collection="ev", id=7))
    db.Delete(P.DeleteRequest(collection="ev", id=12345))  # not live: no event
    db.Configure(P.ConfigUpdate(collection="ev", ef_search=50))  # takes no clock: no event
    stream = db.SubscribeToEvents(P.EventSubscriptionRequest(collection="ev", after_clock=0))
    evs = take(stream, 5)
    E = P.EventType
    assert [e.type for e in evs] == [E.Value("COLLECTION_CREATED"), E.Value("VECTOR_INSERTED"),
                                     E.Value("VECTOR_INSERTED"), E.Value("VECTOR_INSERTED"),
                                     E.Value("VECTOR_DELETED")]
    clocks = [key(P, e)[1] for e in evs]
    assert clocks == list(range(clock0 + 1, clock0 + 6))  # nothing else ticked meanwhile
    created = evs[0].collection_created
    assert (created.collection, created.config.dimension, created.config.metric,
            created.config.m) == ("ev", 3, "cosine", 8)
    assert created.config.ef_search == 0  # as created (0: the default), not as configured
    node = ok(http(server, "GET", "/api/cluster/status"))["node_id"]
    assert {e.WhichOneof("payload") and getattr(e, e.WhichOneof("payload")).origin_node_id
            for e in evs} == {node}
    a = evs[1].vector_inserted
    assert (a.id, a.collection, dict(a.metadata), list(a.vector)) == (
        7, "ev", {"a": "x"}, pytest.approx([0.6, 0, 0.8]))  # the stored (normalised) vector
    assert len(a.typed_metadata) == 0  # strings only: the typed map stays empty
    b = evs[2].vector_inserted
    assert b.id == 8 and dict(b.metadata) == {"n": "5", "f": "2.5", "b": "true", "l": '["u",1]'}
    t = b.typed_metadata
    assert (t["n"].int_value, t["f"].double_value, t["b"].bool_value) == (5, 2.5, True)
    assert [v.WhichOneof("kind") for v in t["l"].list_value.values] == ["string_value",
                                                                       "int_value"]
    assert evs[4].vector_deleted.id == 7
    # the same changes over HTTP, then the deletion ends the gRPC stream with OK
    body = ok(http(server, "GET", "/api/collections/ev/events?after=0"))
    assert [(e["type"], e["clock"]) for e in body["events"]] == list(zip(
        ["create", "upsert", "upsert", "upsert", "delete"], clocks))
    assert body["next"] == clocks[-1]
    assert body["events"][2]["point"] == {"id": 8, "vector": [0, 1, 0], "metadata": {
        "n": "5", "f": "2.5", "b": "true", "l": '["u",1]'}, "typed_metadata": {
        "n": 5, "f": 2.5, "b": True, "l": ["u", 1]}}
    assert body["events"][0]["config"]["dimension"] == 3
    db.DeleteCollection(P.DeleteCollectionRequest(name="ev"))
    last = take(stream, 1)[0]
    assert last.type == E.Value("COLLECTION_DELETED")
    assert last.collection_deleted.logical_clock == clocks[-1] + 1
    assert list(stream) == []  # the stream ended with OK
    with pytest.raises(grpc.RpcError) as ei:
        list(db.SubscribeToEvents(P.EventSubscriptionRequest(collection="ev", after_clock=0)))
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND


def test_types_filter_and_live_subscription(server, pb):
    P, _ = pb
    db = stub_of(server, pb)
    db.CreateCollection(P.CreateCollectionRequest(name="tf", dimension=2, metric="l2"))
    for i in range(4):
        db.Insert(P.InsertRequest(collection="tf", id=i, vector=[i, 1]))
    E = P.EventType
    before = db.GetDigest(P.DigestRequest(collection="tf")).logical_clock
    # without after_clock: only what is applied after the subscription (the later releases'
    # way).  When the subscription is in place is not known to the client, so a writer keeps
    # making changes until the first one arrives.
    live = db.SubscribeToEvents(P.EventSubscriptionRequest(
        collection="tf", types=[E.Value("VECTOR_DELETED")]))
    first = keep_writing(lambda k: (
        db.Insert(P.InsertRequest(collection="tf", id=100 + k, vector=[k, 1])),
        db.Delete(P.DeleteRequest(collection="tf", id=100 + k))), live)
    assert first.type == E.Value("VECTOR_DELETED") and first.vector_deleted.id >= 100
    assert first.vector_deleted.logical_clock > before + 1  # never one from before
    live.cancel()
    for i in range(100, 200):  # leave only ids 0..3
        db.Delete(P.DeleteRequest(collection="tf", id=i))
    db.Insert(P.InsertRequest(collection="tf", id=10, vector=[1, 1]))
    db.Delete(P.DeleteRequest(collection="tf", id=2))
    # HTTP: types and limit; next continues where the page stopped
    page = ok(http(server, "GET", "/api/collections/tf/events?after=0&types=upsert&limit=2"))
    assert [e["point"]["id"] for e in page["events"]] == [0, 1]
    page = ok(http(server, "GET", "/api/collections/tf/events?after=%d&types=upsert&limit=1000"
                   % page["next"]))
    ids = [e["point"]["id"] for e in page["events"]]
    assert ids[:2] == [2, 3] and ids[-1] == 10 and all(100 <= i < 200 for i in ids[2:-1])
    # `next` passed the changes the types leave out too (the delete of id 2, the last change)
    assert page["next"] == db.GetDigest(P.DigestRequest(collection="tf")).logical_clock
    # no `after`: no event and the position to follow from; a long poll gets the next change
    pos = ok(http(server, "GET", "/api/collections/tf/events"))
    assert pos["events"] == [] and pos["next"] == page["next"]
    threading.Timer(0.2, lambda: db.Insert(P.InsertRequest(collection="tf", id=11,
                                                          vector=[2, 2]))).start()
    got = ok(http(server, "GET", "/api/collections/tf/events?after=%d&wait_ms=20000" %
                  pos["next"]))
    assert [e["point"]["id"] for e in got["events"]] == [11]


def test_payload_updates_are_upserts_and_freezing_is_no_change(server, pb):
    P, _ = pb
    db = stub_of(server, pb)
    db.CreateCollection(P.CreateCollectionRequest(name="pu", dimension=2, metric="l2"))
    db.Insert(P.InsertRequest(collection="pu", id=1, vector=[1, 2], metadata={"a": "x"}))
    start = db.GetDigest(P.DigestRequest(collection="pu")).logical_clock
    ok(http(server, "POST", "/api/collections/pu/payload", {"id": 1, "metadata": {"b": "y"}}))
    ok(http(server, "POST", "/api/collections/pu/freeze"))
    ok(http(server, "POST", "/api/collections/pu/unfreeze"))
    ok(http(server, "POST", "/api/collections/pu/payload", {"id": 1, "mode": "delete",
                                                            "keys": ["a"]}))
    stream = db.SubscribeToEvents(P.EventSubscriptionRequest(collection="pu", after_clock=start))
    first, second = [e.vector_inserted for e in take(stream, 2)]
    stream.cancel()
    # the whole point as it stands after each update, with its stored vector
    assert (first.id, dict(first.metadata), list(first.vector)) == (1, {"a": "x", "b": "y"},
                                                                   [1, 2])
    assert (second.id, dict(second.metadata), list(second.vector)) == (1, {"b": "y"}, [1, 2])
    assert second.logical_clock == first.logical_clock + 1  # freezing took no clock


# ---- errors ----------------------------------------------------------------------------------------

def keep_writing(write, stream):
    """Calls write(k) for k = 0, 1, ... on a thread until the stream yields; returns that first
    message (the writes before the subscription was in place are not sent)."""
    got = threading.Event()

    def run():
        k = 0
        while not got.is_set():
            write(k)
            k += 1
            got.wait(0.05)
    t = threading.Thread(target=run)
    t.start()
    try:
        return next(iter(stream))
    finally:
        got.set()
        t.join()


def rpc_error(call):
    with pytest.raises(grpc.RpcError) as ei:
        list(call)
    return ei.value.code(), ei.value.details()


def test_positions_the_log_no_longer_holds(server_factory, pb):
    P, _ = pb
    s = server_factory(env={"HYPERSPACE_WAL_RETAIN_BYTES": "0",
                            "HS_CHECKPOINT_MIN_LOG_BYTES": "0"})
    db = stub_of(s, pb)
    db.CreateCollection(P.CreateCollectionRequest(name="tr", dimension=2, metric="l2"))
    db.BatchInsert(P.BatchInsertRequest(collection="tr", vectors=[
        P.VectorData(id=i, vector=[i, 0]) for i in range(50)]))
    floor = db.GetDigest(P.DigestRequest(collection="tr")).logical_clock
    db.TriggerSnapshot(P.Empty())  # the checkpoint removes the log it covers (no retention)
    code, msg = rpc_error(db.SubscribeToEvents(P.EventSubscriptionRequest(
        collection="tr", after_clock=10)))
    assert code == grpc.StatusCode.OUT_OF_RANGE
    assert msg == ("The log of collection 'tr' no longer holds the events after clock 10 (it "
                   "holds those after %d): read the collection again and subscribe after the "
                   "clock it had before the read" % floor)
    st, _, body = http(s, "GET", "/api/collections/tr/events?after=10")
    assert (st, body["error"]) == (410, {"code": "LOG_TRUNCATED", "message": msg})
    # from the floor on it works: the next write is the first event
    stream = db.SubscribeToEvents(P.EventSubscriptionRequest(collection="tr", after_clock=floor))
    db.Insert(P.InsertRequest(collection="tr", id=99, vector=[9, 9]))
    [ev] = take(stream, 1)
    assert ev.vector_inserted.id == 99 and ev.vector_inserted.logical_clock == floor + 1
    stream.cancel()
    # a clock the node has not reached
    now = ok(http(s, "GET", "/api/cluster/status"))["logical_clock"]
    code, msg = rpc_error(db.SubscribeToEvents(P.EventSubscriptionRequest(
        collection="tr", after_clock=now + 5)))
    assert code == grpc.StatusCode.OUT_OF_RANGE
    assert msg.startswith("Clock %d is ahead of this node's clock %d, so it does not come from "
                          "this node's log" % (now + 5, now))
    st, _, body = http(s, "GET", "/api/collections/tr/events?after=%d" % (now + 5))
    assert (st, body["error"]["code"]) == (400, "CLOCK_AHEAD")


def test_a_consumer_that_falls_behind_the_retained_log_is_told_so(server_factory, pb):
    P, _ = pb
    s = server_factory(env={"HYPERSPACE_WAL_RETAIN_BYTES": "0",
                            "HS_CHECKPOINT_MIN_LOG_BYTES": "0"})
    db = stub_of(s, pb)
    db.CreateCollection(P.CreateCollectionRequest(name="fb", dimension=2, metric="l2"))
    stream = db.SubscribeToEvents(P.EventSubscriptionRequest(collection="fb", after_clock=0))
    take(stream, 1)  # open: its creation
    # 48 MB of events it does not read: more than gRPC's flow control lets the server send
    # ahead, so the server's reader waits in the middle of this log (one message in flight)
    big = "x" * 60000
    ids = list(range(800))
    for b in range(0, 800, 100):
        db.BatchInsert(P.BatchInsertRequest(collection="fb", vectors=[
            P.VectorData(id=i, vector=[i, 1], metadata={"s": big}) for i in range(b, b + 100)]))
    db.TriggerSnapshot(P.Empty())
    for r in range(2):  # the log after it goes too, before the reader got there
        db.Insert(P.InsertRequest(collection="fb", id=1000 + r, vector=[1, 1]))
        ids.append(1000 + r)
        db.TriggerSnapshot(P.Empty())
    got = []
    with pytest.raises(grpc.RpcError) as ei:
        for ev in stream:
            got.append(ev.vector_inserted.id)
    assert ei.value.code() == grpc.StatusCode.OUT_OF_RANGE, ei.value.details()
    assert "no longer holds the events after clock" in ei.value.details()
    assert got == ids[:len(got)]  # what it did get came in order, without a gap
    assert len(got) < len(ids)


def test_bad_requests(srv, pb):
    P, _ = pb
    db = stub_of(srv, pb)
    INV = grpc.StatusCode.INVALID_ARGUMENT
    db.CreateCollection(P.CreateCollectionRequest(name="br", dimension=2, metric="l2"))
    assert rpc_error(db.SubscribeToEvents(P.EventSubscriptionRequest(after_clock=1 << 60))) == (
        grpc.StatusCode.OUT_OF_RANGE, rpc_error(db.SubscribeToEvents(
            P.EventSubscriptionRequest(after_clock=1 << 60)))[1])  # node-wide: a clock ahead
    assert rpc_error(db.SubscribeToEvents(P.EventSubscriptionRequest(collection="no/pe"))) == (
        INV, "Invalid collection name 'no/pe': use 1-64 characters from A-Z a-z 0-9 _ . - not "
        "starting with '.'")
    assert rpc_error(db.SubscribeToEvents(P.EventSubscriptionRequest(
        collection="missing", after_clock=0))) == (grpc.StatusCode.NOT_FOUND,
                                                  "Collection 'missing' not found")
    # an enum value no release defines, sent as raw bytes (field 1, varint 77; field 2 "br")
    with grpc.insecure_channel(srv.grpc_target) as ch:
        call = ch.unary_stream("/hyperspace.Database/SubscribeToEvents",
                               request_serializer=lambda b: b, response_deserializer=lambda b: b)
        assert rpc_error(call(b"\x08\x4d\x12\x02br", timeout=20)) == (
            INV, "types[0] is 77, which is not an event type")
        # a field this server does not define is refused, never ignored
        code, msg = rpc_error(call(b"\x12\x02br\x28\x01", timeout=20))
        assert code == INV and msg.startswith(
            "Unsupported field 5 of message hyperspace.EventSubscriptionRequest")
    for q, field in (("after=x", "after"), ("after=0&limit=0", "limit"),
                     ("after=0&limit=1001", "limit"), ("after=0&wait_ms=30001", "wait_ms"),
                     ("after=0&types=", "types"), ("after=0&types=upsert,nope", "types")):
        st, _, body = http(srv, "GET", "/api/collections/br/events?" + q)
        assert st == 400 and body["error"]["message"].startswith("Field '%s'" % field), (q, body)
    st, _, body = http(srv, "GET", "/api/collections/missing/events?after=0")
    assert (st, body["error"]["code"]) == (404, "COLLECTION_NOT_FOUND")


# ---- a stalled consumer ----------------------------------------------------------------------

def test_a_stalled_consumer_holds_up_no_writer_and_no_other_consumer(server, pb):
    P, _ = pb
    db = stub_of(server, pb)
    dim = 64
    db.CreateCollection(P.CreateCollectionRequest(name="st", dimension=dim, metric="l2"))
    stalled = db.SubscribeToEvents(P.EventSubscriptionRequest(collection="st", after_clock=0))
    take(stalled, 1)  # then it reads nothing while 30,000 points (about 8 MB of events) go in
    n = 30000
    for b in range(0, n, 1000):
        assert db.BatchInsert(P.BatchInsertRequest(collection="st", vectors=[
            P.VectorData(id=i, vector=[float(i)] * dim, metadata={"i": str(i)})
            for i in range(b, b + 1000)])).success
    # every write was acknowledged; another consumer reads all of it meanwhile
    other = db.SubscribeToEvents(P.EventSubscriptionRequest(collection="st", after_clock=0))
    evs = take(other, n + 1)
    assert [e.vector_inserted.id for e in evs[1:]] == list(range(n))
    other.cancel()
    # the stalled one picks up where it stopped: everything, in order, once
    rest = take(stalled, n)
    assert [e.vector_inserted.id for e in rest] == list(range(n))
    assert rest[-1].vector_inserted.metadata["i"] == str(n - 1)
    assert list(rest[-1].vector_inserted.vector) == [float(n - 1)] * dim
    stalled.cancel()


def test_shutdown_ends_streams_with_unavailable(server_factory, pb):
    P, _ = pb
    s = server_factory()
    db = stub_of(s, pb)
    db.CreateCollection(P.CreateCollectionRequest(name="sd", dimension=2, metric="l2"))
    stream = db.SubscribeToEvents(P.EventSubscriptionRequest(collection="sd", after_clock=0))
    take(stream, 1)
    assert s.stop() == 0
    code, msg = rpc_error(stream)
    assert (code, msg) == (grpc.StatusCode.UNAVAILABLE, "Server is shutting down")


# ---- a client of the later releases ----------------------------------------------------------

LATER_EVENTS = """
syntax = "proto3";
package laterevents;
message MetadataValue { oneof kind { string string_value = 1; int64 int_value = 2;
                                     double double_value = 3; bool bool_value = 4; } }
enum EventType { EVENT_UNKNOWN = 0; VECTOR_INSERTED = 1; VECTOR_DELETED = 2;
                 TRAJECTORY_STEP = 3; }
message EventSubscriptionRequest { repeated EventType types = 1; optional string collection = 2; }
message VectorInsertedEvent { uint32 id = 1; string collection = 2; uint64 logical_clock = 3;
  string origin_node_id = 4; map<string, string> metadata = 5;
  map<string, MetadataValue> typed_metadata = 6; }
message VectorDeletedEvent { uint32 id = 1; string collection = 2; uint64 logical_clock = 3;
  string origin_node_id = 4; }
message TrajectoryStepEvent { uint32 id = 1; string collection = 2; float x = 3; float y = 4; }
message EventMessage { EventType type = 1; oneof payload {
  VectorInsertedEvent vector_inserted = 2; VectorDeletedEvent vector_deleted = 3;
  TrajectoryStepEvent trajectory_step = 4; } }
"""


def test_a_later_release_client_gets_the_changes_after_it_subscribed(server, pb):
    P, _ = pb
    out = tempfile.mkdtemp(prefix="hs-later-events-")
    with open(os.path.join(out, "later_events.proto"), "w") as f:
        f.write(LATER_EVENTS)
    subprocess.run(["protoc", "-I" + out, "--python_out=" + out,
                    os.path.join(out, "later_events.proto")], check=True)
    sys.path.insert(0, out)
    import later_events_pb2 as L
    db = stub_of(server, pb)
    db.CreateCollection(P.CreateCollectionRequest(name="lt", dimension=2, metric="l2"))
    db.Insert(P.InsertRequest(collection="lt", id=1, vector=[1, 1]))  # before: not sent
    with grpc.insecure_channel(server.grpc_target) as ch:
        call = ch.unary_stream("/hyperspace.Database/SubscribeToEvents",
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=L.EventMessage.FromString)
        stream = call(L.EventSubscriptionRequest(collection="lt"), timeout=60)
        ins = keep_writing(lambda k: ok(http(server, "POST", "/api/collections/lt/insert", {
            "id": 2 + k, "vector": [2, 2], "metadata": {"s": "v"},
            "typed_metadata": {"n": 3}})), stream)
        db.Delete(P.DeleteRequest(collection="lt", id=1))
        evs = [ins]
        while evs[-1].type != L.VECTOR_DELETED:
            evs += take(stream, 1)
        stream.cancel()
    assert ins.type == L.VECTOR_INSERTED
    v = ins.vector_inserted
    assert v.id >= 2 and (v.collection, dict(v.metadata)) == ("lt", {"s": "v", "n": "3"})
    assert (v.typed_metadata["n"].int_value, v.typed_metadata["s"].string_value) == (3, "v")
    assert all(e.type == L.VECTOR_INSERTED for e in evs[:-1])
    dele = evs[-1].vector_deleted
    assert dele.id == 1 and dele.collection == "lt" and dele.logical_clock > v.logical_clock


# ---- exactly once across kills and disconnects ---------------------------------------------------

CONSUMER = r'''
import os, random, sys
sys.path.insert(0, sys.argv[1])
import grpc, hyperspace_pb2 as P, hyperspace_pb2_grpc as R
target, name, path, seed = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
rng = random.Random(seed)
# the consumer's durable state is its file: one line per event it processed
with open(path, "rb") as f:
    data = f.read()
if data and not data.endswith(b"\n"):  # killed in the middle of a line
    data = data[:data.rindex(b"\n") + 1] if b"\n" in data else b""
    with open(path, "wb") as f:
        f.write(data)
last = int(data.splitlines()[-1].split()[0]) if data else 0
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
db = R.DatabaseStub(grpc.insecure_channel(target))
while True:
    stream = db.SubscribeToEvents(P.EventSubscriptionRequest(collection=name, after_clock=last))
    budget = rng.choice([50, 500, 5000, 10 ** 9])  # then it drops the stream and comes back
    for ev in stream:
        kind = ev.WhichOneof("payload")
        if kind == "vector_inserted":
            e = ev.vector_inserted
            line = "%d u %d %s\n" % (e.logical_clock, e.id, e.metadata["w"])
        elif kind == "vector_deleted":
            e = ev.vector_deleted
            line = "%d d %d -\n" % (e.logical_clock, e.id)
        else:
            e = getattr(ev, kind)
            line = "%d c 0 -\n" % e.logical_clock
        os.write(fd, line.encode())
        last = e.logical_clock
        budget -= 1
        if budget == 0:
            stream.cancel()
            break
'''


def run_exactly_once(server, pb, total, seed, restart_server=0):
    """A writer makes `total` changes (batches of upserts over gRPC, deletes over HTTP) while a
    consumer process is killed and restarted at random moments; its file must end up holding
    every change once, in order.  With restart_server, the server is killed (SIGKILL) that many
    times between the writer's phases."""
    P, _ = pb
    rng = random.Random(seed)
    stubs = os.path.dirname(P.__file__)
    db = stub_of(server, pb)
    db.CreateCollection(P.CreateCollectionRequest(name="x1", dimension=4, metric="l2"))
    state = tempfile.NamedTemporaryFile(prefix="hs-consumer-", delete=False).name
    script = os.path.join(tempfile.mkdtemp(prefix="hs-consumer-"), "consumer.py")
    with open(script, "w") as f:
        f.write(CONSUMER)
    expected = [("c", 0, "-")]
    live = set()
    w = 0
    phases = restart_server + 1
    lock = threading.Lock()

    def write_phase(count):
        nonlocal w, db
        done = 0
        while done < count:
            if rng.random() < 0.15 and live:
                ids = rng.sample(sorted(live), min(len(live), rng.randint(1, 200)))
                ok(http(server, "POST", "/api/collections/x1/points/delete", {"ids": ids}))
                for i in ids:
                    live.discard(i)
                    expected.append(("d", i, "-"))
                done += len(ids)
            else:
                n = rng.randint(1, 700)
                pts = []
                for _ in range(n):
                    i = rng.randrange(40000)
                    w += 1
                    pts.append(P.VectorData(id=i, vector=[i, w, 1, 2], metadata={"w": str(w)}))
                    live.add(i)
                    expected.append(("u", i, str(w)))
                db.BatchInsert(P.BatchInsertRequest(collection="x1", vectors=pts,
                                                    durability=P.DurabilityLevel.Value("BATCH")))
                done += n

    def start_consumer():
        return subprocess.Popen([sys.executable, script, stubs, server.grpc_target, "x1",
                                 state, str(rng.randrange(1 << 30))])

    def lines():
        with open(state, "rb") as f:
            return f.read().count(b"\n")

    consumer = [start_consumer()]
    done = threading.Event()
    kills = [0]

    def killer():
        """Kills the consumer each time it has written another 2,000 to 15,000 lines (and
        restarts it, as it does when it died on its own: its server went away)."""
        krng = random.Random(seed + 1)
        next_kill = krng.randint(2000, 15000)
        while not done.wait(0.05):
            with lock:
                n = lines()
                if n >= next_kill:
                    consumer[0].kill()
                    kills[0] += 1
                    next_kill = n + krng.randint(2000, 15000)
                if consumer[0].poll() is not None:
                    consumer[0].wait()
                    consumer[0] = start_consumer()

    k = threading.Thread(target=killer)
    k.start()
    try:
        for phase in range(phases):
            write_phase(total // phases)
            if phase + 1 < phases:  # every write so far was acknowledged (BATCH: durable)
                with lock:
                    restart(server, signal.SIGKILL)
                    db = stub_of(server, pb)
        # until the consumer has them all (no deadline of ours: the ctest timeout bounds it)
        while lines() < len(expected):
            done.wait(0.2)
    finally:
        done.set()
        k.join()
        consumer[0].kill()
        consumer[0].wait()
    assert kills[0] >= 3
    with open(state) as f:
        got = [line.split() for line in f.read().splitlines()]
    clocks = [int(g[0]) for g in got]
    assert all(b > a for a, b in zip(clocks, clocks[1:])), "a clock repeated or went back"
    assert [(g[1], int(g[2]), g[3]) for g in got] == expected
    # and the changes rebuild the collection
    model = {}
    for g in got:
        if g[1] == "u":
            model[int(g[2])] = g[3]
        elif g[1] == "d":
            model.pop(int(g[2]), None)
    assert db.Count(P.CountRequest(collection="x1")).count == len(model)
    sample = sorted(model)[:: max(1, len(model) // 500)]
    pts = db.GetPoints(P.GetPointsRequest(collection="x1", ids=sample)).points
    assert {p.id: p.metadata["w"] for p in pts} == {i: model[i] for i in sample}
    os.unlink(state)
    return len(expected)


@pytest.mark.skipif(REWORDED, reason="the wording of engine messages plays no part here")
def test_100k_writes_exactly_once_across_consumer_kills_and_disconnects(server_factory, pb):
    # frequent checkpoints: log segments are removed (beyond the retention) while it runs
    s = server_factory(env={"HYPERSPACE_SNAPSHOT_INTERVAL_SEC": "1",
                            "HS_CHECKPOINT_MIN_LOG_BYTES": "0"})
    assert run_exactly_once(s, pb, 100000, seed=1414) > 100000


@pytest.mark.skipif(not os.environ.get("HS_EVENTS_LONG"), reason="long run: HS_EVENTS_LONG=1")
def test_long_exactly_once_across_server_and_consumer_kills(server_factory, pb):
    s = server_factory(env={"HYPERSPACE_SNAPSHOT_INTERVAL_SEC": "1",
                            "HS_CHECKPOINT_MIN_LOG_BYTES": "0"})
    seed = int(os.environ.get("HS_EVENTS_SEED", "2024"))
    assert run_exactly_once(s, pb, 600000, seed=seed, restart_server=3) > 600000
