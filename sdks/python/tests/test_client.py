"""HyperspaceClient / Client against a real server: every method on both transports, the
v2.0.0 return conventions, typed errors, numpy in and out, tenants, the transport fallback."""
import glob
import hashlib
import inspect
import logging
import math
import os
import signal
import tempfile

import numpy as np
import pytest

import hyperspace
from hyperspace import errors
from conftest import grpc_client, http_client, free_port

TRANSPORTS = {"grpc": grpc_client, "http": http_client}


@pytest.fixture(params=sorted(TRANSPORTS))
def client(request, shared_server):
    c = TRANSPORTS[request.param](shared_server)
    yield c
    c.close()


@pytest.fixture(params=sorted(TRANSPORTS))
def strict(request, shared_server):
    c = TRANSPORTS[request.param](shared_server, raise_errors=True)
    yield c
    c.close()


def coll(c, base):
    """A collection name per transport, so both parametrisations share one server."""
    return "%s_%s" % (base, c.transport)


def test_every_method(client):
    c = client
    name = coll(c, "every")
    c.delete_collection(name)
    assert c.create_collection(name, 4, "l2") is True
    assert name in c.list_collections()
    # v2.0.0 positions: insert(id, vector, document, metadata, collection, durability)
    assert c.insert(1, [1, 0, 0, 0], None, {"color": "red", "n": 5}, name,
                    hyperspace.Durability.STRICT) is True
    # a mapping passed third (where v2.0.0 silently dropped it) is kept as metadata
    assert c.insert(2, [0, 1, 0, 0], {"color": "blue", "n": 7}, collection=name) is True
    assert c.batch_insert([[0, 0, 1, 0], [0, 0, 0, 1]], [3, 4],
                          [{"color": "red", "n": 9}, {"color": "green", "n": 11}],
                          collection=name, durability=2) is True
    st = c.get_collection_stats(name)
    assert st["count"] == 4 and st["dimension"] == 4 and st["metric"] == "l2"
    assert set(st) >= {"indexing_queue", "quantization", "deleted_count", "memory_bytes",
                       "loaded", "m", "ef_construction", "ef_search"}

    hits = c.search([1, 0.1, 0, 0], top_k=2, collection=name)
    assert [h["id"] for h in hits] == [1, 2]
    assert hits[0]["metadata"] == {"color": "red", "n": "5"}
    assert math.isclose(hits[0]["distance"], 0.01, rel_tol=1e-6)
    assert isinstance(hits[0]["distance"], float)
    assert [h["id"] for h in c.search([0, 0, 1, 0], top_k=10, filter={"color": "red"},
                                      collection=name)] == [3, 1]
    f = [{"type": "range", "key": "n", "gte": 6, "lte": 10}]
    assert [h["id"] for h in c.search([0, 0, 1, 0], top_k=10, filters=f,
                                      collection=name)] == [3, 2]
    f = [{"type": "match", "key": "color", "value": "green"}]
    assert [h["id"] for h in c.search([0, 0, 1, 0], filters=f, collection=name)] == [4]
    hy = c.search([0, 0, 0, 1], top_k=4, hybrid_query="blue", hybrid_alpha=0.9,
                  collection=name)
    assert hy[0]["id"] == 2 and hy[0]["score"] > 0
    batch = c.search_batch([[1, 0, 0, 0], [0, 0, 0, 1]], top_k=1, collection=name)
    assert [[h["id"] for h in r] for r in batch] == [[1], [4]]

    d = c.get_digest(name)
    assert d["count"] == 4 and len(d["buckets"]) == 256
    x = 0
    for b in d["buckets"]:
        x ^= b
    assert x == d["state_hash"] and d["logical_clock"] > 0

    assert c.configure(ef_search=77, ef_construction=150, collection=name) is True
    st = c.get_collection_stats(name)
    assert (st["ef_search"], st["ef_construction"]) == (77, 150)

    pts = c.retrieve([4, 99, 1], name)
    assert [p["id"] for p in pts] == [4, 1] and pts[0]["metadata"]["color"] == "green"

    assert c.delete(3, name) is True
    assert c.delete(3, name) is False  # no longer live
    assert c.get_collection_stats(name)["count"] == 3
    assert c.trigger_snapshot() is True
    assert c.trigger_vacuum() is True
    assert c.rebuild_index(name) is True
    assert c.get_collection_stats(name)["deleted_count"] == 0
    assert [h["id"] for h in c.search([0, 0, 1, 0], top_k=3, collection=name)][0] != 3

    assert c.delete_collection(name) is True
    assert name not in c.list_collections()


def test_monitor_streams_system_stats(shared_server):
    c = grpc_client(shared_server, raise_errors=True)
    c.create_collection("mon", 2, "l2")
    c.batch_insert([[0, 1], [1, 0]], [1, 2], collection="mon")
    stats = list(c.monitor(count=2))
    assert len(stats) == 2
    assert stats[0]["total_vectors"] >= 2 and stats[0]["total_collections"] >= 1
    assert set(stats[0]) == {"total_collections", "total_vectors", "total_memory_mb", "qps"}
    c.delete_collection("mon")
    with pytest.raises(errors.UnimplementedError):
        next(http_client(shared_server, raise_errors=True).monitor())


def test_default_collection_with_empty_name(client):
    """collection="" is the server's `default` collection, as in v2.0.0."""
    assert client.insert(7, [0.5] * 8, collection="") in (True, False)  # dimension by default
    assert "default" in client.list_collections()


def test_failures_return_false_and_log_a_warning(client, caplog):
    c = client
    caplog.set_level(logging.WARNING, logger="hyperspace")
    missing = coll(c, "never_created")
    assert c.delete_collection(missing) is False
    assert c.get_collection_stats(missing) == {}
    assert c.search([1, 2], collection=missing) == []
    assert c.search_batch([[1, 2]], collection=missing) == []
    assert c.get_digest(missing) == {}
    assert c.insert(1, [1, 2], collection=missing) is False
    assert c.batch_insert([[1, 2]], [1], collection=missing) is False
    assert c.configure(ef_search=10, collection=missing) is False
    assert c.rebuild_index(missing) is False
    assert c.delete(1, missing) is False
    recs = [r for r in caplog.records if r.name == "hyperspace"]
    assert len(recs) == 10 and all(r.levelno == logging.WARNING for r in recs)
    assert "COLLECTION_NOT_FOUND" in recs[0].getMessage()
    assert missing in recs[0].getMessage()


def test_unreachable_server_returns_empty_and_logs(caplog):
    caplog.set_level(logging.WARNING, logger="hyperspace")
    port = free_port()
    for c in (hyperspace.HyperspaceClient("127.0.0.1:%d" % port, timeout=5),
              hyperspace.HyperspaceClient("http://127.0.0.1:%d" % port)):
        assert c.list_collections() == []
        assert c.create_collection("x", 2, "l2") is False
    assert sum("UNAVAILABLE" in r.getMessage() for r in caplog.records) == 4
    with pytest.raises(errors.UnavailableError) as ei:
        hyperspace.Client("127.0.0.1:%d" % port, timeout=5).list_collections()
    assert isinstance(ei.value, ConnectionError) and ei.value.method == "ListCollections"


def test_typed_errors_carry_details(strict):
    c = strict
    name = coll(c, "errs")
    c.create_collection(name, 3, "l2")
    ball = coll(c, "errs_ball")
    c.create_collection(ball, 2, "poincare")
    with pytest.raises(errors.AlreadyExistsError) as ei:
        c.create_collection(name, 3, "l2")
    assert ei.value.status == "ALREADY_EXISTS" and name in ei.value.message
    with pytest.raises(errors.InvalidArgumentError) as ei:
        c.create_collection(coll(c, "bad_dim"), 0, "l2")
    assert "Dimension must be between" in ei.value.message
    with pytest.raises(errors.InvalidArgumentError):
        c.create_collection(coll(c, "bad_metric"), 3, "manhattan")
    with pytest.raises(errors.DimensionMismatchError) as ei:
        c.insert(1, [1, 2], collection=name)
    assert ei.value.details == {"expected": 3, "got": 2}
    assert ei.value.code == "DIMENSION_MISMATCH" and isinstance(ei.value, ValueError)
    with pytest.raises(errors.DimensionMismatchError) as ei:
        c.batch_insert([[1, 2, 3], [1, 2, 3], [1, 2]], [1, 2, 3], collection=name)
    assert ei.value.details == {"expected": 3, "got": 2, "index": 2}
    with pytest.raises(errors.OutOfBallError) as ei:
        c.insert(1, [0.9, 0.9], collection=ball)
    assert math.isclose(ei.value.details["squared_norm"], 1.62)
    cos = coll(c, "errs_cos")
    c.create_collection(cos, 3, "cosine")
    with pytest.raises(errors.InvalidVectorError) as ei:
        c.insert(1, [0, 0, 0], collection=cos)
    assert ei.value.code == "INVALID_VECTOR"
    with pytest.raises(errors.CollectionNotFoundError) as ei:
        c.search([1, 2, 3], collection=coll(c, "nope"))
    assert ei.value.details["collection"] == coll(c, "nope")
    assert isinstance(ei.value, LookupError)
    with pytest.raises(errors.InvalidArgumentError) as ei:
        c.search([1, 2, 3], top_k=20000, collection=name)
    assert "top_k" in ei.value.message
    with pytest.raises(errors.UnimplementedError):
        c.insert_text(1, "hello", collection=name)
    with pytest.raises(errors.HyperspaceError):  # every error has the common base
        c.delete_collection(coll(c, "nope"))


def test_deadline_exceeded(shared_server):
    # a deadline already past: 1e-6 s was met now and then (gRPC keeps deadlines in whole
    # milliseconds, and a local call on a connected channel can finish within one)
    c = grpc_client(shared_server, raise_errors=True, timeout=-1.0)
    with pytest.raises(errors.DeadlineExceededError) as ei:
        c.list_collections()
    assert ei.value.status == "DEADLINE_EXCEEDED" and isinstance(ei.value, TimeoutError)


def test_resource_exhausted(server_factory):
    s = server_factory(env={"HS_HTTP_MAX_BODY_MB": "1"})
    c = http_client(s, raise_errors=True)
    c.create_collection("big", 128, "l2")
    with pytest.raises(errors.ResourceExhaustedError) as ei:
        c.batch_insert(np.random.rand(2000, 128), list(range(2000)), collection="big")
    assert ei.value.code == "PAYLOAD_TOO_LARGE" and ei.value.http_status == 413
    g = grpc_client(s, raise_errors=True,
                    grpc_options={"grpc.max_receive_message_length": 1000})
    g.batch_insert(np.random.rand(100, 128), list(range(100)), collection="big")
    with pytest.raises(errors.ResourceExhaustedError) as ei:
        g.search_batch(np.random.rand(10, 128), top_k=50, collection="big")
    assert ei.value.status == "RESOURCE_EXHAUSTED"


def test_auth_errors(server_factory):
    keys = tempfile.mkdtemp(prefix="hs-keys-")
    path = os.path.join(keys, "keys")
    with open(path, "w") as f:
        for role, key in (("admin", "adm-key"), ("reader", "read-key")):
            f.write("%s %s\n" % (role, hashlib.sha256(key.encode()).hexdigest()))
    s = server_factory(env={"HYPERSPACE_API_KEYS_FILE": path})
    for make in (grpc_client, http_client):
        with pytest.raises(errors.UnauthenticatedError) as ei:
            make(s, raise_errors=True).list_collections()
        assert ei.value.message == "Missing x-api-key header"
        with pytest.raises(errors.UnauthenticatedError) as ei:
            make(s, raise_errors=True, api_key="wrong").list_collections()
        assert ei.value.message == "Invalid API Key"
        adm = make(s, raise_errors=True, api_key="adm-key")
        adm.create_collection("a_" + adm.transport, 2, "l2")
        reader = make(s, raise_errors=True, api_key="read-key")
        assert "a_" + adm.transport in reader.list_collections()
        with pytest.raises(errors.PermissionDeniedError) as ei:
            reader.insert(1, [1, 2], collection="a_" + adm.transport)
        assert "reader" in ei.value.message


def test_follower_refuses_writes(server_factory):
    s = server_factory(args=["--role", "follower", "--leader", "127.0.0.1:%d" % free_port()])
    for make in (grpc_client, http_client):
        c = make(s, raise_errors=True)
        with pytest.raises(errors.FollowerReadOnlyError) as ei:
            c.create_collection("f", 2, "l2")
        assert isinstance(ei.value, errors.FailedPreconditionError)
        assert ei.value.status == "FAILED_PRECONDITION"


def test_quarantined_collection_is_an_internal_error(server_factory):
    s = server_factory(env={"HS_CHECKPOINT_MIN_LOG_BYTES": "0"})  # the stop checkpoints
    c = grpc_client(s, raise_errors=True)
    c.create_collection("bad", 4, "l2")
    c.batch_insert([[0, i, 1, 2] for i in range(50)], list(range(50)), collection="bad",
                   durability="strict")
    c.close()
    assert s.stop(signal.SIGTERM) == 0
    [path] = glob.glob(os.path.join(s.data_dir, "*", "*", "bad", "checkpoint-*.ckpt"))
    os.unlink(path)
    s2 = server_factory(data_dir=s.data_dir)
    for make in (grpc_client, http_client):
        with pytest.raises(errors.InternalError) as ei:
            make(s2, raise_errors=True).search([0, 1, 1, 2], collection="bad")
        assert "bad" in ei.value.message


def test_numpy_round_trip(client, shared_server):
    c = client
    rng = np.random.default_rng(7)
    name = coll(c, "np_l2")
    c.delete_collection(name)
    c.create_collection(name, 16, "l2")
    vecs = rng.standard_normal((200, 16)).astype(np.float32)
    ids = np.arange(1000, 1200, dtype=np.uint32)
    assert c.batch_insert(vecs, ids, collection=name) is True
    assert c.insert(np.int64(5), vecs[0] * 2, collection=name) is True
    back = c.get_vectors(ids[::-1], name)
    assert back.dtype == np.float64 and back.shape == (200, 16)
    assert np.array_equal(back.astype(np.float32), vecs[::-1])  # l2 stores float32
    hits = c.search_batch(vecs[:5], top_k=3, collection=name, as_numpy=True)
    assert hits.ids.shape == (5, 3) and hits.distances.shape == (5, 3)
    assert hits.ids[:, 0].tolist() == ids[:5].tolist()
    assert np.allclose(hits.distances[:, 0], 0)
    one = c.search(vecs[1], top_k=2, collection=name, as_numpy=True)
    assert one.ids[0] == 1001 and one.ids.dtype == np.int64
    # fewer hits than top_k: padded with -1 / inf
    small = coll(c, "np_small")
    c.delete_collection(small)
    c.create_collection(small, 2, "poincare")
    pts = np.array([[0.1, 0.2], [-0.3, 0.4]], dtype=np.float64)
    c.batch_insert(pts, [1, 2], collection=small)
    assert np.array_equal(c.get_vectors([2, 1], small), pts[::-1])  # poincare: float64
    h = c.search_batch(pts, top_k=4, collection=small, as_numpy=True)
    assert h.ids[0].tolist() == [1, 2, -1, -1] and np.isinf(h.distances[0, 2:]).all()
    with pytest.raises(ValueError):
        c.batch_insert(np.zeros((2, 2, 2)), [1, 2], collection=small)
    assert c.get_vectors([1, 42], small) is None  # missing point: None and a warning
    with pytest.raises(errors.PointNotFoundError):
        TRANSPORTS[c.transport](shared_server, raise_errors=True).get_vectors([1, 42], small)


def test_tenants_are_separate(shared_server):
    a = grpc_client(shared_server, user_id="alice", raise_errors=True)
    b = http_client(shared_server, user_id="bob", raise_errors=True)
    a.create_collection("notes", 2, "l2")
    b.create_collection("notes", 2, "l2")
    a.insert(1, [1, 1], collection="notes")
    assert b.get_collection_stats("notes")["count"] == 0
    assert a.get_collection_stats("notes")["count"] == 1
    with pytest.raises(errors.InvalidArgumentError):
        grpc_client(shared_server, user_id="../x", raise_errors=True).list_collections()


def test_auto_transport_falls_back_to_http(shared_server, caplog):
    caplog.set_level(logging.WARNING, logger="hyperspace")
    c = hyperspace.HyperspaceClient("127.0.0.1:%d" % free_port(), transport="auto",
                                    http_url=shared_server.url(""), connect_timeout=0.5)
    assert c.transport == "http"
    assert isinstance(c.list_collections(), list) and c.list_collections() != []
    assert any("using HTTP" in r.getMessage() for r in caplog.records)
    g = hyperspace.HyperspaceClient(shared_server.grpc_target, transport="auto")
    assert g.transport == "grpc"


# The v2.0.0 SDK's public signatures (upstream-v2.md, section 10.1), which code written for it
# relies on: names, positions and defaults of every parameter.
V2_SIGNATURES = {
    "__init__": [("host", "localhost:50051"), ("api_key", None), ("embedder", None),
                 ("user_id", None)],
    "create_collection": [("name",), ("dimension",), ("metric",)],
    "delete_collection": [("name",)],
    "list_collections": [],
    "get_collection_stats": [("name",)],
    "insert": [("id",), ("vector", None), ("document", None), ("metadata", None),
               ("collection", ""), ("durability", 0)],
    "batch_insert": [("vectors",), ("ids",), ("metadatas", None), ("collection", ""),
                     ("durability", 0)],
    "search": [("vector", None), ("query_text", None), ("top_k", 10), ("filter", None),
               ("filters", None), ("hybrid_query", None), ("hybrid_alpha", None),
               ("collection", "")],
    "search_batch": [("vectors",), ("top_k", 10), ("collection", "")],
    "trigger_vacuum": [],
    "rebuild_index": [("collection",)],
    "trigger_snapshot": [],
    "configure": [("ef_search", None), ("ef_construction", None), ("collection", "")],
}


@pytest.mark.parametrize("method", sorted(V2_SIGNATURES))
def test_v2_signatures(method):
    sig = inspect.signature(getattr(hyperspace.HyperspaceClient, method))
    positional = [p for p in list(sig.parameters.values())[1:]
                  if p.kind == p.POSITIONAL_OR_KEYWORD]
    got = [(p.name,) if p.default is p.empty else (p.name, p.default) for p in positional]
    assert got == V2_SIGNATURES[method]
    assert hyperspace.Durability.STRICT == 3 and hyperspace.Durability.DEFAULT == 0


def test_v2_program_runs_unchanged(shared_server):
    """A program written for the v2.0.0 SDK, positional arguments and all."""
    from hyperspace import HyperspaceClient
    with HyperspaceClient(shared_server.grpc_target, None) as client:
        client.delete_collection("v2prog")  # clean-up of a collection that may not exist
        assert client.create_collection("v2prog", 8, "cosine")
        for i in range(10):
            assert client.insert(i, [float(i + 1)] + [1.0] * 7, None, {"i": str(i)}, "v2prog")
        assert client.batch_insert([[1.0] * 8] * 2, [10, 11], None, "v2prog")
        res = client.search([10.0] + [1.0] * 7, None, 3, None, None, None, None, "v2prog")
        assert res[0]["id"] == 9 and set(res[0]) == {"id", "distance", "metadata"}
        assert len(client.search_batch([[1.0] * 8], 2, "v2prog")[0]) == 2
        assert client.get_collection_stats("v2prog")["count"] == 12
        assert client.configure(64, None, "v2prog")
        assert client.rebuild_index("v2prog") and client.trigger_snapshot()
        assert client.trigger_vacuum()
        assert "v2prog" in client.list_collections()
        assert client.delete_collection("v2prog")
