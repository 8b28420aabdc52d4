"""Every RPC of hyperspace.Database through stubs generated from the upstream v2.0.0 field
layout (conftest `pb`): success paths, the catalogue's error statuses and messages, tenants and
roles, and what survives a restart (including a SIGKILL right after STRICT writes)."""
import hashlib
import math
import signal

import grpc
import pytest

from conftest import http

INV = grpc.StatusCode.INVALID_ARGUMENT


def err(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*a, **kw)
    return ei.value.code(), ei.value.details()


def poincare(u, v):
    d = sum((a - b) ** 2 for a, b in zip(u, v))
    nu, nv = sum(a * a for a in u), sum(b * b for b in v)
    return math.acosh(1 + 2 * d / ((1 - nu) * (1 - nv)))


def test_collections_lifecycle(stub, pb):
    P = pb[0]
    r = stub.CreateCollection(P.CreateCollectionRequest(name="c1", dimension=4, metric="l2",
                                                        quantization="scalar", m=8))
    assert r.status == "Collection 'c1' created."
    assert err(stub.CreateCollection, P.CreateCollectionRequest(name="c1", dimension=4,
                                                                metric="l2")) == \
        (grpc.StatusCode.ALREADY_EXISTS, "Collection 'c1' already exists")
    assert err(stub.CreateCollection, P.CreateCollectionRequest(name="", dimension=4,
                                                                metric="l2")) == \
        (INV, "Collection name cannot be empty")
    code, msg = err(stub.CreateCollection, P.CreateCollectionRequest(name="a/b", dimension=4,
                                                                     metric="l2"))
    assert code == INV and msg.startswith("Invalid collection name 'a/b'")
    assert err(stub.CreateCollection, P.CreateCollectionRequest(name="z", dimension=0,
                                                                metric="l2")) == \
        (INV, "Dimension must be between 1 and 16384 (got 0)")
    assert err(stub.CreateCollection, P.CreateCollectionRequest(name="z", dimension=2,
                                                                metric="hamming")) == \
        (INV, "Unknown metric 'hamming': expected cosine, l2, euclidean, poincare or lorentz")
    assert err(stub.CreateCollection, P.CreateCollectionRequest(
        name="z", dimension=2, metric="l2", quantization="pq")) == \
        (INV, "Unknown quantization 'pq': expected none, scalar or binary")
    assert err(stub.CreateCollection, P.CreateCollectionRequest(name="z", dimension=2,
                                                                metric="l2", m=200)) == \
        (INV, "m must be between 2 and 128 (got 200)")
    stub.CreateCollection(P.CreateCollectionRequest(name="c2", dimension=3, metric="poincare",
                                                    quantization="binary"))
    names = list(stub.ListCollections(P.Empty()).collections)
    assert names == ["c1", "c2", "default"]
    st = stub.GetCollectionStats(P.CollectionStatsRequest(name="c1"))
    assert (st.count, st.dimension, st.metric, st.quantization, st.m) == (0, 4, "l2", "scalar", 8)
    st = stub.GetCollectionStats(P.CollectionStatsRequest(name="c2"))
    assert (st.metric, st.quantization) == ("poincare", "binary")
    assert stub.DeleteCollection(P.DeleteCollectionRequest(name="c2")).status == \
        "Collection 'c2' deleted."
    assert err(stub.GetCollectionStats, P.CollectionStatsRequest(name="c2")) == \
        (grpc.StatusCode.NOT_FOUND, "Collection 'c2' not found")
    assert err(stub.DeleteCollection, P.DeleteCollectionRequest(name="c2"))[0] == \
        grpc.StatusCode.NOT_FOUND


def test_points_search_filters_and_digest(stub, pb):
    P = pb[0]
    stub.CreateCollection(P.CreateCollectionRequest(name="h", dimension=2, metric="poincare"))
    pts = {i: [0.09 * (i % 10) - 0.4, 0.07 * (i // 10) - 0.3] for i in range(100)}
    stub.BatchInsert(P.BatchInsertRequest(collection="h", vectors=[
        P.VectorData(id=i, vector=v, metadata={"price": str(i), "even": str(i % 2 == 0)})
        for i, v in pts.items()]))
    q = [0.05, -0.02]
    res = stub.Search(P.SearchRequest(collection="h", vector=q, top_k=5)).results
    want = sorted(pts, key=lambda i: (poincare(q, pts[i]), i))[:5]
    assert [r.id for r in res] == want
    for r in res:
        assert math.isclose(r.distance, poincare(q, pts[r.id]), rel_tol=1e-9, abs_tol=1e-12)
    assert dict(res[0].metadata)["price"] == str(res[0].id)
    # Match (map) and Range (list), ANDed
    res = stub.Search(P.SearchRequest(
        collection="h", vector=q, top_k=100, filter={"even": "True"},
        filters=[P.Filter(range=P.Range(key="price", gte=20, lte=40))])).results
    assert sorted(r.id for r in res) == list(range(20, 41, 2))
    # gte > lte matches nothing
    res = stub.Search(P.SearchRequest(collection="h", vector=q, top_k=5, filters=[
        P.Filter(range=P.Range(key="price", gte=9, lte=1))])).results
    assert list(res) == []
    code, msg = err(stub.Search, P.SearchRequest(collection="h", vector=q, filters=[P.Filter()]))
    assert (code, msg) == (INV, "Invalid filter: filters[0] has no condition")
    # errors of the query
    assert err(stub.Search, P.SearchRequest(collection="h", vector=[0.1])) == \
        (INV, "Query dimension mismatch. Expected 2, got 1")
    assert err(stub.Search, P.SearchRequest(collection="h", vector=[])) == \
        (INV, "Query vector must not be empty")
    assert err(stub.Search, P.SearchRequest(collection="nope", vector=q))[0] == \
        grpc.StatusCode.NOT_FOUND
    assert err(stub.Search, P.SearchRequest(collection="h", vector=q, top_k=10001)) == \
        (INV, "top_k must be <= 10000 (got 10001)")
    # SearchBatch: answers in order; one bad item fails the whole call with its index
    br = stub.SearchBatch(P.BatchSearchRequest(searches=[
        P.SearchRequest(collection="h", vector=pts[3], top_k=1),
        P.SearchRequest(collection="h", vector=pts[77], top_k=2)]))
    assert [[r.id for r in x.results] for x in br.responses][0] == [3]
    assert br.responses[1].results[0].id == 77
    code, msg = err(stub.SearchBatch, P.BatchSearchRequest(searches=[
        P.SearchRequest(collection="h", vector=q), P.SearchRequest(collection="h", vector=[2, 0])]))
    assert code == INV and msg.startswith("searches[1]: Query vector must be strictly inside")
    # Delete: never returned again; digest changes; equal content -> equal digest
    d0 = stub.GetDigest(P.DigestRequest(collection="h"))
    assert d0.count == 100 and len(d0.buckets) == 256
    x = 0
    for b in d0.buckets:
        x ^= b
    assert x == d0.state_hash
    assert stub.Delete(P.DeleteRequest(collection="h", id=want[0])).success is True
    assert stub.Delete(P.DeleteRequest(collection="h", id=want[0])).success is False
    res = stub.Search(P.SearchRequest(collection="h", vector=q, top_k=5)).results
    assert want[0] not in [r.id for r in res]
    d1 = stub.GetDigest(P.DigestRequest(collection="h"))
    assert d1.count == 99 and d1.state_hash != d0.state_hash and d1.logical_clock > \
        d0.logical_clock
    stub.CreateCollection(P.CreateCollectionRequest(name="h2", dimension=2, metric="poincare"))
    for i in sorted(pts, reverse=True):
        if i != want[0]:
            stub.Insert(P.InsertRequest(collection="h2", id=i, vector=pts[i],
                                        metadata={"price": str(i), "even": str(i % 2 == 0)}))
    d2 = stub.GetDigest(P.DigestRequest(collection="h2"))
    assert (d2.state_hash, list(d2.buckets)) == (d1.state_hash, list(d1.buckets))


def test_write_validation_is_atomic(stub, pb):
    P = pb[0]
    stub.CreateCollection(P.CreateCollectionRequest(name="w", dimension=3, metric="cosine"))
    code, msg = err(stub.BatchInsert, P.BatchInsertRequest(collection="w", vectors=[
        P.VectorData(id=1, vector=[1, 0, 0]), P.VectorData(id=2, vector=[0, 0, 0])]))
    assert (code, msg) == (INV, "vectors[1]: Zero vector is not allowed with the cosine metric")
    assert err(stub.Insert, P.InsertRequest(collection="w", id=1, vector=[1, 0])) == \
        (INV, "Vector dimension mismatch. Expected 3, got 2")
    code, msg = err(stub.Insert, P.InsertRequest(collection="w", id=1, vector=[1, math.nan, 0]))
    assert (code, msg) == (INV, "Vector contains a non-finite value at index 1")
    assert err(stub.Insert, P.InsertRequest(collection="w", id=1, vector=[1, 0, 0],
                                            metadata={"": "x"})) == \
        (INV, "Invalid metadata: empty key")
    assert stub.GetCollectionStats(P.CollectionStatsRequest(name="w")).count == 0
    # cosine vectors are stored normalised: distance to the same direction is 0
    stub.Insert(P.InsertRequest(collection="w", id=5, vector=[3, 4, 0], metadata={"a": "1"}))
    r = stub.Search(P.SearchRequest(collection="w", vector=[6, 8, 0], top_k=1)).results[0]
    assert r.id == 5 and abs(r.distance) < 1e-6
    # upsert replaces vector and metadata
    stub.Insert(P.InsertRequest(collection="w", id=5, vector=[0, 0, 1], metadata={"b": "2"}))
    r = stub.Search(P.SearchRequest(collection="w", vector=[0, 0, 1], top_k=1)).results[0]
    assert r.id == 5 and dict(r.metadata) == {"b": "2"}
    assert stub.GetCollectionStats(P.CollectionStatsRequest(name="w")).count == 1


def test_default_collection_and_admin_rpcs(stub, pb):
    P = pb[0]
    # "" means "default" (1024-d cosine by the server defaults)
    stub.Insert(P.InsertRequest(id=1, vector=[1.0] + [0.0] * 1023))
    assert stub.GetCollectionStats(P.CollectionStatsRequest(name="")).count == 1
    assert stub.Search(P.SearchRequest(vector=[1.0] + [0.0] * 1023, top_k=1)).results[0].id == 1
    r = stub.TriggerSnapshot(P.Empty())
    assert r.status.startswith("Snapshot completed for")
    stub.CreateCollection(P.CreateCollectionRequest(name="v", dimension=2, metric="l2"))
    stub.BatchInsert(P.BatchInsertRequest(collection="v", vectors=[
        P.VectorData(id=i, vector=[i, -i]) for i in range(200)]))
    for i in range(0, 200, 2):
        stub.Delete(P.DeleteRequest(collection="v", id=i))
    r = stub.TriggerVacuum(P.Empty())
    assert r.status.startswith("Vacuum completed: ") and "100 entries reclaimed" in r.status
    assert stub.GetCollectionStats(P.CollectionStatsRequest(name="v")).deleted_count == 0
    r = stub.RebuildIndex(P.RebuildIndexRequest(name="v"))
    assert r.status == "Index rebuilt and reloaded successfully"
    res = stub.Search(P.SearchRequest(collection="v", vector=[51, -51], top_k=3)).results
    assert [x.id for x in res] == [51, 49, 53]
    r = stub.Configure(P.ConfigUpdate(collection="v", ef_search=77))
    assert "ef_search=77" in r.status
    assert stub.GetCollectionStats(P.CollectionStatsRequest(name="v")).ef_search == 77
    assert err(stub.Configure, P.ConfigUpdate(collection="v", ef_search=0)) == \
        (INV, "ef_search must be between 1 and 10000 (got 0)")


def test_keys_roles_and_tenants(server_factory, pb, tmp_path):
    P = pb[0]

    def digest(k):
        return hashlib.sha256(k.encode()).hexdigest()

    keys = tmp_path / "keys"
    keys.write_text("admin %s\nwriter %s\nreader %s\nwriter %s acme\n" % (
        digest("A"), digest("W"), digest("R"), digest("ACME")))
    s = server_factory(env={"HYPERSPACE_API_KEYS_FILE": str(keys)})
    ch = grpc.insecure_channel(s.grpc_target)
    stub = pb[1].DatabaseStub(ch)

    def md(key=None, tenant=None):
        m = []
        if key:
            m.append(("x-api-key", key))
        if tenant:
            m.append(("x-hyperspace-user-id", tenant))
        return m

    assert err(stub.ListCollections, P.Empty()) == \
        (grpc.StatusCode.UNAUTHENTICATED, "Missing x-api-key header")
    assert err(stub.ListCollections, P.Empty(), metadata=md("nope")) == \
        (grpc.StatusCode.UNAUTHENTICATED, "Invalid API Key")
    stub.ListCollections(P.Empty(), metadata=[("authorization", "Bearer R")])
    cc = P.CreateCollectionRequest(name="t", dimension=2, metric="l2")
    assert err(stub.CreateCollection, cc, metadata=md("R")) == \
        (grpc.StatusCode.PERMISSION_DENIED, "Role 'reader' is not allowed to call CreateCollection")
    stub.CreateCollection(cc, metadata=md("W", "t1"))
    stub.CreateCollection(cc, metadata=md("W", "t2"))
    stub.Insert(P.InsertRequest(collection="t", id=1, vector=[1, 1]), metadata=md("W", "t1"))
    # tenants see only their own collections, even with the same name
    assert stub.GetCollectionStats(P.CollectionStatsRequest(name="t"),
                                   metadata=md("R", "t1")).count == 1
    assert stub.GetCollectionStats(P.CollectionStatsRequest(name="t"),
                                   metadata=md("R", "t2")).count == 0
    assert list(stub.ListCollections(P.Empty(), metadata=md("R", "t3")).collections) == []
    # a key bound to a tenant cannot reach another one; an invalid tenant is refused
    assert err(stub.ListCollections, P.Empty(), metadata=md("ACME", "t1")) == \
        (grpc.StatusCode.PERMISSION_DENIED, "API key is restricted to tenant 'acme'")
    stub.CreateCollection(cc, metadata=md("ACME"))
    assert list(stub.ListCollections(P.Empty(), metadata=md("ACME", "acme")).collections) == ["t"]
    code, msg = err(stub.ListCollections, P.Empty(), metadata=md("A", "../x"))
    assert code == INV and msg.startswith("Invalid tenant '../x'")
    # global operations need an admin key not bound to a tenant
    assert err(stub.TriggerSnapshot, P.Empty(), metadata=md("W"))[0] == \
        grpc.StatusCode.PERMISSION_DENIED
    stub.TriggerSnapshot(P.Empty(), metadata=md("A"))
    # HTTP sees the same tenants with the same keys
    st, _, body = http(s, "GET", "/api/collections/t/stats",
                       headers={"x-api-key": "R", "x-hyperspace-user-id": "t1"})
    assert st == 200 and body["count"] == 1
    ch.close()


@pytest.mark.parametrize("level", [1, 2, 3])
def test_acknowledged_writes_and_deletes_survive_sigkill(server_factory, pb, level):
    P = pb[0]
    s = server_factory()
    with grpc.insecure_channel(s.grpc_target) as ch:
        stub = pb[1].DatabaseStub(ch)
        stub.CreateCollection(P.CreateCollectionRequest(name="k", dimension=2, metric="l2"))
        stub.BatchInsert(P.BatchInsertRequest(collection="k", durability=3, vectors=[
            P.VectorData(id=i, vector=[i, 1]) for i in range(50)]))
        for i in range(10):
            stub.Delete(P.DeleteRequest(collection="k", id=i))
        # the last write at the level under test; SIGKILL right after its acknowledgement
        stub.Insert(P.InsertRequest(collection="k", id=1000, vector=[7, 7], durability=level))
    if level == 3:
        s.proc.kill()
        s.proc.wait()
        s.log.close()
        s.proc = None  # killed on purpose: not a crash
    else:
        assert s.stop(signal.SIGTERM) == 0  # async/batch: durable at a clean stop
    s2 = server_factory(data_dir=s.data_dir)
    with grpc.insecure_channel(s2.grpc_target) as ch:
        stub = pb[1].DatabaseStub(ch)
        assert stub.GetCollectionStats(P.CollectionStatsRequest(name="k")).count == 41
        res = stub.Search(P.SearchRequest(collection="k", vector=[10, 1], top_k=3)).results
        assert [r.id for r in res] == [10, 11, 12]  # deletes stayed deleted
        assert stub.Search(P.SearchRequest(collection="k", vector=[7, 7], top_k=1)).results[0].id \
            == 1000
