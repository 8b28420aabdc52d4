"""Scroll over gRPC, frozen collections and searches across collections, on both transports
(docs/api/grpc.md "Scroll", "FreezeCollection, UnfreezeCollection", "SearchMultiCollection";
docs/api/http.md "Scroll", "Frozen collections", "Searching several collections").

* gRPC Scroll pages exactly as HTTP scroll (same points, order, cursors, filters, vectors and
  metadata left out on request), takes the later releases' offset, and keeps its paging promise
  under writes between pages: a point live and matching for the whole scan appears exactly once.
* A frozen collection refuses every change on both transports (409 COLLECTION_FROZEN /
  FAILED_PRECONDITION naming it), answers reads, is unloaded, stays frozen through a restart and
  a kill -9, and takes writes again once unfrozen; freezing needs an admin key.
* A search across collections returns the merged top_k by distance with each hit's collection,
  equal to a brute-force ranking computed here, and refuses collections of another dimension or
  metric, unknown, repeated or too many collections.
* The later releases' own messages for these calls (their field numbers, read with their layout
  here) are served.
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import grpc
import pytest

from conftest import Server, finish, http, ok, restart

INV = grpc.StatusCode.INVALID_ARGUMENT
FROZEN = "Collection '%s' is frozen: it refuses changes until it is unfrozen"

# The later releases' messages of these calls, as far as the tests send or read them.
LATER = """
syntax = "proto3";
package latercalls;
message Match { string key = 1; string value = 2; }
message Filter { oneof condition { Match match = 1; } }
message VectorData { repeated double vector = 1; uint32 id = 2; map<string, string> metadata = 3; }
message ScrollRequest {
  string collection = 1; uint32 limit = 2; uint32 offset = 3; repeated Filter filters = 4;
}
message ScrollResponse { repeated VectorData points = 1; }
message SearchResult { uint32 id = 1; double distance = 2; map<string, string> metadata = 3; }
message SearchResponse { repeated SearchResult results = 1; }
message SearchMultiCollectionRequest {
  repeated string collections = 1; repeated double vector = 2; uint32 top_k = 3;
}
message SearchMultiCollectionResponse { map<string, SearchResponse> responses = 1; }
message FreezeCollectionRequest { string name = 1; }
message StatusResponse { string status = 1; }
"""


@pytest.fixture(scope="module")
def later():
    out = tempfile.mkdtemp(prefix="hs-later2-")
    with open(os.path.join(out, "later_calls.proto"), "w") as f:
        f.write(LATER)
    subprocess.run(["protoc", "-I" + out, "--python_out=" + out,
                    os.path.join(out, "later_calls.proto")], check=True)
    sys.path.insert(0, out)
    import later_calls_pb2
    return later_calls_pb2


@pytest.fixture(scope="module")
def srv():
    s = Server().start()
    yield s
    finish(s)


@pytest.fixture(scope="module")
def db(srv, pb):
    ch = grpc.insecure_channel(srv.grpc_target)
    yield pb[0], pb[1].DatabaseStub(ch)
    ch.close()


def create(srv, name, dim=2, metric="l2"):
    ok(http(srv, "POST", "/api/collections", {"name": name, "dimension": dim, "metric": metric}),
       201)


def insert(srv, name, pts):
    """pts: [(id, vector, metadata)]."""
    ok(http(srv, "POST", "/api/collections/%s/insert/batch" % name,
            {"vectors": [{"id": i, "vector": v, "metadata": m} for i, v, m in pts]}))


def raw(srv, method, payload):
    with grpc.insecure_channel(srv.grpc_target) as ch:
        call = ch.unary_unary("/hyperspace.Database/" + method, request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
        return call(payload, timeout=20)


def grpc_err(fn, req):
    with pytest.raises(grpc.RpcError) as e:
        fn(req)
    return e.value.code(), e.value.details()


def err(resp, status, code, message):
    st, _, body = resp
    assert st == status, body
    assert (body["error"]["code"], body["error"]["message"]) == (code, message), body


# ---- Scroll -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scroll_coll(srv):
    create(srv, "sc")
    rnd = random.Random(7)
    ids = rnd.sample(range(1, 100000), 700)
    insert(srv, "sc", [(i, [float(i % 97), 1.0], {"kind": "k%d" % (i % 3)}) for i in ids])
    return sorted(ids)


def grpc_pages(stub, P, limit, filters=(), **kw):
    pages, cursor = [], ""
    while True:
        r = stub.Scroll(P.ScrollRequest(collection="sc", limit=limit, cursor=cursor,
                                        filters=list(filters), **kw))
        pages.append(([p.id for p in r.points], r.next_cursor))
        cursor = r.next_cursor
        if not cursor:
            return pages, r


def http_pages(srv, limit, filters=()):
    pages, cursor = [], None
    while True:
        body = {"limit": limit, "filters": list(filters)}
        if cursor is not None:
            body["cursor"] = cursor
        r = ok(http(srv, "POST", "/api/collections/sc/scroll", body))
        pages.append(([p["id"] for p in r["points"]], r["next_cursor"] or ""))
        cursor = r["next_cursor"]
        if cursor is None:
            return pages


def test_grpc_scroll_pages_as_http(srv, db, scroll_coll):
    P, stub = db
    pages, _ = grpc_pages(stub, P, 64)
    assert pages == http_pages(srv, 64)
    assert [i for ids, _ in pages for i in ids] == scroll_coll
    kind = P.Filter(match=P.Match(key="kind", value="k1"))
    pages, _ = grpc_pages(stub, P, 50, [kind])
    assert pages == http_pages(srv, 50, [{"type": "match", "key": "kind", "value": "k1"}])
    assert [i for ids, _ in pages for i in ids] == [i for i in scroll_coll if i % 3 == 1]
    # the default limit is 100; vectors and metadata come unless left out
    r = stub.Scroll(P.ScrollRequest(collection="sc"))
    assert len(r.points) == 100 and r.next_cursor == str(scroll_coll[99])
    p = r.points[0]
    assert (list(p.vector), dict(p.metadata)) == \
        ([float(p.id % 97), 1.0], {"kind": "k%d" % (p.id % 3)})
    r = stub.Scroll(P.ScrollRequest(collection="sc", limit=3, with_vector=False,
                                    with_metadata=False))
    assert [(len(p.vector), len(p.metadata)) for p in r.points] == [(0, 0)] * 3
    # offset: the first matching points skipped (the later releases' paging)
    r = stub.Scroll(P.ScrollRequest(collection="sc", limit=10, offset=695))
    assert [p.id for p in r.points] == scroll_coll[695:] and r.next_cursor == ""
    r = stub.Scroll(P.ScrollRequest(collection="sc", limit=5, offset=20, cursor=r.next_cursor))
    assert [p.id for p in r.points] == scroll_coll[20:25]
    body = ok(http(srv, "POST", "/api/collections/sc/scroll", {"limit": 5, "offset": 20}))
    assert [q["id"] for q in body["points"]] == scroll_coll[20:25]
    assert body["next_cursor"] == str(scroll_coll[24])


def test_grpc_scroll_refusals(srv, db, scroll_coll):
    P, stub = db
    for req, code, msg in [
        (P.ScrollRequest(collection="sc", limit=1001), INV,
         "limit must be between 1 and 1000 (got 1001)"),
        (P.ScrollRequest(collection="sc", cursor="abc"), INV, "Invalid cursor"),
        (P.ScrollRequest(collection="sc", cursor="4294967296"), INV, "Invalid cursor"),
        (P.ScrollRequest(collection="sc", offset=1000001), INV,
         "offset must be at most 1000000 (got 1000001)"),
        (P.ScrollRequest(collection="sc", filters=[P.Filter()]), INV,
         "Invalid filter: filters[0] has no condition"),
        (P.ScrollRequest(collection="none"), grpc.StatusCode.NOT_FOUND,
         "Collection 'none' not found"),
    ]:
        assert grpc_err(stub.Scroll, req) == (code, msg)


def test_scroll_is_stable_under_writes(srv, db):
    """Writes between the pages (new points, deletes, replacements, payload updates): every
    point that is live and matching from the first page to the last is seen exactly once."""
    P, stub = db
    create(srv, "sc_w")
    insert(srv, "sc_w", [(i, [float(i), 0.0], {"g": "a"}) for i in range(0, 3000, 3)])
    rnd = random.Random(11)
    live = set(range(0, 3000, 3))
    touched = set()
    seen, cursor = [], ""
    next_new = 1
    while True:
        r = stub.Scroll(P.ScrollRequest(collection="sc_w", limit=37, cursor=cursor,
                                        with_vector=False))
        seen += [p.id for p in r.points]
        for _ in range(5):
            op = rnd.randrange(4)
            if op == 0:  # a new point anywhere in the id order
                stub.Insert(P.InsertRequest(collection="sc_w", id=next_new, vector=[1, 1],
                                            metadata={"g": "a"}))
                touched.add(next_new)
                next_new += 3
            elif op == 1 and live:
                i = rnd.choice(sorted(live))
                stub.Delete(P.DeleteRequest(collection="sc_w", id=i))
                live.discard(i)
                touched.add(i)
            elif op == 2 and live:
                i = rnd.choice(sorted(live))
                stub.Insert(P.InsertRequest(collection="sc_w", id=i, vector=[2, 2],
                                            metadata={"g": "a"}))
                touched.add(i)
            elif live:
                i = rnd.choice(sorted(live))
                stub.UpdatePayload(P.UpdatePayloadRequest(collection="sc_w", id=i,
                                                          metadata={"h": "b"}))
                touched.add(i)
        cursor = r.next_cursor
        if not cursor:
            break
    assert len(seen) == len(set(seen)), "a point was seen twice"
    assert seen == sorted(seen)
    steady = (set(range(0, 3000, 3)) & live) - touched
    assert steady <= set(seen), sorted(steady - set(seen))[:10]


# ---- freezing ----------------------------------------------------------------------------------

def refusals(srv, stub, P, name):
    """Every change of collection `name` on both transports: each must be refused as frozen."""
    msg = FROZEN % name
    http_calls = [
        ("POST", "/api/collections/%s/insert" % name, {"id": 50, "vector": [1, 1]}),
        ("POST", "/api/collections/%s/insert/batch" % name, {"vectors": [{"id": 50,
                                                                          "vector": [1, 1]}]}),
        ("DELETE", "/api/collections/%s/points/1" % name, None),
        ("POST", "/api/collections/%s/points/delete" % name, {"ids": [1, 2]}),
        ("POST", "/api/collections/%s/points/delete" % name,
         {"filters": [{"type": "match", "key": "g", "value": "a"}]}),
        ("POST", "/api/collections/%s/payload" % name, {"id": 1, "metadata": {"x": "y"}}),
        ("PATCH", "/api/collections/%s/config" % name, {"ef_search": 50}),
        ("POST", "/api/collections/%s/rebuild" % name, None),
    ]
    for method, path, body in http_calls:
        err(http(srv, method, path, body), 409, "COLLECTION_FROZEN", msg)
    fp = grpc.StatusCode.FAILED_PRECONDITION
    for fn, req in [
        (stub.Insert, P.InsertRequest(collection=name, id=50, vector=[1, 1])),
        (stub.BatchInsert, P.BatchInsertRequest(collection=name, vectors=[
            P.VectorData(id=50, vector=[1, 1])])),
        (stub.Delete, P.DeleteRequest(collection=name, id=1)),
        (stub.UpdatePayload, P.UpdatePayloadRequest(collection=name, id=1, metadata={"x": "y"})),
        (stub.Configure, P.ConfigUpdate(collection=name, ef_search=50)),
        (stub.RebuildIndex, P.RebuildIndexRequest(name=name)),
    ]:
        assert grpc_err(fn, req) == (fp, msg), fn


def state_of(srv, name):
    pts = ok(http(srv, "POST", "/api/collections/%s/scroll" % name,
                  {"limit": 1000, "with_vector": True}))["points"]
    return [(p["id"], p["vector"], p["metadata"]) for p in pts]


def test_freeze_refuses_changes_and_keeps_reads(srv, db):
    P, stub = db
    create(srv, "fz")
    insert(srv, "fz", [(i, [float(i), 0.0], {"g": "a"}) for i in range(10)])
    ok(http(srv, "DELETE", "/api/collections/fz/points/9"))  # a deleted entry for rebuild
    before = state_of(srv, "fz")
    assert stub.FreezeCollection(P.FreezeCollectionRequest(name="fz")).status == \
        "Collection 'fz' frozen."
    # freezing again changes nothing and says the same
    body = ok(http(srv, "POST", "/api/collections/fz/freeze"))
    assert body == {"status": "Collection 'fz' frozen.", "collection": "fz", "frozen": True}
    refusals(srv, stub, P, "fz")
    assert state_of(srv, "fz") == before
    st = ok(http(srv, "GET", "/api/collections/fz/stats"))
    assert st["frozen"] is True and st["count"] == 9
    assert stub.GetCollectionStats(P.CollectionStatsRequest(name="fz")).frozen
    # reads and searches are answered
    res = ok(http(srv, "POST", "/api/collections/fz/search", {"vector": [3.1, 0], "top_k": 2}))
    assert [r["id"] for r in res] == [3, 4]
    assert stub.Count(P.CountRequest(collection="fz")).count == 9
    # a node-wide vacuum leaves it alone
    ok(http(srv, "POST", "/api/admin/vacuum"))
    assert ok(http(srv, "GET", "/api/collections/fz/stats"))["deleted_count"] == 1
    # unfrozen: writes are taken again
    assert ok(http(srv, "POST", "/api/collections/fz/unfreeze")) == \
        {"status": "Collection 'fz' unfrozen.", "collection": "fz", "frozen": False}
    assert stub.UnfreezeCollection(P.UnfreezeCollectionRequest(name="fz")).status == \
        "Collection 'fz' unfrozen."
    ok(http(srv, "POST", "/api/collections/fz/insert", {"id": 50, "vector": [1, 1]}))
    assert ok(http(srv, "GET", "/api/collections/fz/stats"))["frozen"] is False


def test_freeze_errors(srv, db):
    P, stub = db
    assert grpc_err(stub.FreezeCollection, P.FreezeCollectionRequest(name="")) == \
        (INV, "Collection name cannot be empty")
    assert grpc_err(stub.FreezeCollection, P.FreezeCollectionRequest(name="nope")) == \
        (grpc.StatusCode.NOT_FOUND, "Collection 'nope' not found")
    code, msg = grpc_err(stub.UnfreezeCollection, P.UnfreezeCollectionRequest(name="a/b"))
    assert code == INV and msg.startswith("Invalid collection name 'a/b'")
    err(http(srv, "POST", "/api/collections/nope/freeze"), 404, "COLLECTION_NOT_FOUND",
        "Collection 'nope' not found")




def test_frozen_state_survives_restart_and_kill(server_factory, pb):
    P = pb[0]
    s = server_factory(env={"HS_CHECKPOINT_MIN_LOG_BYTES": "0"})
    for name in ("fa", "fb"):
        create(s, name)
        insert(s, name, [(i, [float(i), 1.0], {"g": "a"}) for i in range(20)])
    before = {n: state_of(s, n) for n in ("fa", "fb")}
    with grpc.insecure_channel(s.grpc_target) as ch:
        stub = pb[1].DatabaseStub(ch)
        stub.FreezeCollection(P.FreezeCollectionRequest(name="fa"))
    ok(http(s, "POST", "/api/collections/fb/freeze"))
    # frozen collections are unloaded (by the sweeper: wait for it)
    deadline = time.time() + 30
    while any(ok(http(s, "GET", "/api/collections/%s/stats" % n))["loaded"] for n in ("fa", "fb")):
        assert time.time() < deadline, "still loaded"
        time.sleep(0.05)
    for sig in (signal.SIGKILL, signal.SIGTERM):
        restart(s, sig)
        with grpc.insecure_channel(s.grpc_target) as ch:
            stub = pb[1].DatabaseStub(ch)
            for name in ("fa", "fb"):
                refusals(s, stub, P, name)
                assert state_of(s, name) == before[name]
                assert stub.GetCollectionStats(P.CollectionStatsRequest(name=name)).frozen
    ok(http(s, "POST", "/api/collections/fa/unfreeze"))
    restart(s, signal.SIGKILL)
    ok(http(s, "POST", "/api/collections/fa/insert", {"id": 99, "vector": [1, 1]}))
    assert ok(http(s, "GET", "/api/collections/fb/stats"))["frozen"] is True
    # a frozen collection can still be dropped
    assert http(s, "DELETE", "/api/collections/fb")[0] == 204


def test_freeze_needs_an_admin_key(server_factory, pb):
    import hashlib
    keys = tempfile.NamedTemporaryFile("w", delete=False, suffix=".keys")
    for role, key in (("admin", "adm"), ("writer", "wri"), ("reader", "rea")):
        keys.write("%s %s\n" % (role, hashlib.sha256(key.encode()).hexdigest()))
    keys.close()
    s = server_factory(env={"HYPERSPACE_API_KEYS_FILE": keys.name})
    create_h = {"x-api-key": "adm"}
    ok(http(s, "POST", "/api/collections", {"name": "fr", "dimension": 2, "metric": "l2"},
            headers=create_h), 201)
    for key in ("wri", "rea"):
        st, _, body = http(s, "POST", "/api/collections/fr/freeze", headers={"x-api-key": key})
        assert st == 403 and body["error"]["code"] == "PERMISSION_DENIED", body
    with grpc.insecure_channel(s.grpc_target) as ch:
        stub = pb[1].DatabaseStub(ch)
        with pytest.raises(grpc.RpcError) as e:
            stub.FreezeCollection(pb[0].FreezeCollectionRequest(name="fr"),
                                  metadata=[("x-api-key", "wri")])
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        stub.FreezeCollection(pb[0].FreezeCollectionRequest(name="fr"),
                              metadata=[("x-api-key", "adm")])
    os.unlink(keys.name)
    assert ok(http(s, "GET", "/api/collections/fr/stats", headers=create_h))["frozen"] is True


# ---- searching several collections -------------------------------------------------------------

@pytest.fixture(scope="module")
def multi(srv):
    rnd = random.Random(5)
    data = {}
    for name, n in (("m1", 60), ("m2", 45), ("m3", 30)):
        create(srv, name, dim=3)
        pts = [(i, [rnd.uniform(-1, 1) for _ in range(3)], {"c": name, "even": str(i % 2 == 0)})
               for i in range(n)]
        insert(srv, name, pts)
        data[name] = pts
    create(srv, "m_dim", dim=4)
    create(srv, "m_cos", dim=3, metric="cosine")
    return data


def brute(data, names, q, k, keep=lambda m: True):
    import struct
    f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]  # stored as float32
    rows = []
    for ci, name in enumerate(names):
        for i, v, m in data[name]:
            if keep(m):
                rows.append((sum((f32(a) - b) ** 2 for a, b in zip(v, q)), ci, i, name))
    rows.sort()
    return [(name, i) for _, _, i, name in rows[:k]]


def test_http_search_multi_matches_brute_force(srv, multi):
    rnd = random.Random(9)
    for _ in range(10):
        q = [rnd.uniform(-1, 1) for _ in range(3)]
        names = rnd.sample(["m1", "m2", "m3"], rnd.randint(1, 3))
        k = rnd.choice([1, 5, 20, 200])
        res = ok(http(srv, "POST", "/api/search/multi",
                      {"collections": names, "vector": q, "top_k": k}))["results"]
        assert [(r["collection"], r["id"]) for r in res] == brute(multi, names, q, k)
        assert all(r["metadata"]["c"] == r["collection"] for r in res)
        assert [r["distance"] for r in res] == sorted(r["distance"] for r in res)
    # filters apply in every collection
    q = [0.1, 0.2, 0.3]
    res = ok(http(srv, "POST", "/api/search/multi",
                  {"collections": ["m1", "m3"], "vector": q, "top_k": 12,
                   "filter": {"even": "True"}}))["results"]
    assert [(r["collection"], r["id"]) for r in res] == \
        brute(multi, ["m1", "m3"], q, 12, lambda m: m["even"] == "True")


def test_grpc_search_multi_matches_http(srv, db, multi):
    P, stub = db
    q = [0.3, -0.2, 0.5]
    r = stub.SearchMultiCollection(P.SearchMultiCollectionRequest(
        collections=["m3", "m1", "m2"], vector=q, top_k=7))
    want = brute(multi, ["m3", "m1", "m2"], q, 7)
    assert [(h.collection, h.result.id) for h in r.hits] == want
    assert all(dict(h.result.metadata)["c"] == h.collection for h in r.hits)
    # the map holds each collection's own top_k (the later releases' answer)
    assert sorted(r.responses) == ["m1", "m2", "m3"]
    for name in ("m1", "m2", "m3"):
        own = [x.id for x in r.responses[name].results]
        assert own == [i for _, i in brute(multi, [name], q, 7)]
    body = ok(http(srv, "POST", "/api/search/multi",
                   {"collections": ["m3", "m1", "m2"], "vector": q, "top_k": 7}))
    assert [(x["collection"], x["id"], x["distance"]) for x in body["results"]] == \
        [(h.collection, h.result.id, h.result.distance) for h in r.hits]
    f = P.Filter(match=P.Match(key="even", value="False"))
    r = stub.SearchMultiCollection(P.SearchMultiCollectionRequest(
        collections=["m1", "m2"], vector=q, top_k=9, filters=[f]))
    assert [(h.collection, h.result.id) for h in r.hits] == \
        brute(multi, ["m1", "m2"], q, 9, lambda m: m["even"] == "False")


def test_search_multi_refusals(srv, db, multi):
    P, stub = db
    cases = [
        (["m1", "m_dim"], INV, 400, "INVALID_ARGUMENT",
         "Collections 'm1' and 'm_dim' cannot be searched together: their dimensions differ "
         "(3 and 4)"),
        (["m1", "m2", "m_cos"], INV, 400, "INVALID_ARGUMENT",
         "Collections 'm1' and 'm_cos' cannot be searched together: their metrics differ "
         "(l2 and cosine)"),
        (["m1", "nope"], grpc.StatusCode.NOT_FOUND, 404, "COLLECTION_NOT_FOUND",
         "Collection 'nope' not found"),
        (["m1", "m2", "m1"], INV, 400, "INVALID_ARGUMENT",
         "collections[2]: collection 'm1' is already listed (collections[0])"),
        ([], INV, 400, "INVALID_PARAMETER",
         "collections must name between 1 and 64 collections (got 0)"),
        (["m1"] * 65, INV, 400, "INVALID_PARAMETER",
         "collections must name between 1 and 64 collections (got 65)"),
    ]
    for names, code, status, hcode, msg in cases:
        assert grpc_err(stub.SearchMultiCollection, P.SearchMultiCollectionRequest(
            collections=names, vector=[0, 0, 0], top_k=3)) == (code, msg)
        err(http(srv, "POST", "/api/search/multi",
                 {"collections": names, "vector": [0, 0, 0], "top_k": 3}), status, hcode, msg)
    code, msg = grpc_err(stub.SearchMultiCollection, P.SearchMultiCollectionRequest(
        collections=["m1", "a/b"], vector=[0, 0, 0]))
    assert code == INV and msg.startswith("collections[1]: Invalid collection name 'a/b'")
    assert grpc_err(stub.SearchMultiCollection, P.SearchMultiCollectionRequest(
        collections=["m1", "m2"], vector=[0, 0])) == \
        (INV, "Query dimension mismatch. Expected 3, got 2")
    assert grpc_err(stub.SearchMultiCollection, P.SearchMultiCollectionRequest(
        collections=["m1"], vector=[0, 0, 0], top_k=10001)) == \
        (INV, "top_k must be <= 10000 (got 10001)")
    err(http(srv, "POST", "/api/search/multi", {"collections": ["m1"], "vector": [0, 0, 0],
                                                "hybrid_query": "x"}),
        400, "INVALID_ARGUMENT", "A search across collections cannot be hybrid (drop "
        "'hybrid_query')")
    err(http(srv, "POST", "/api/search/multi", {"vector": [0, 0, 0]}), 400, "INVALID_ARGUMENT",
        "Missing field 'collections'")
    err(http(srv, "POST", "/api/search/multi", {"collections": "m1", "vector": [0, 0, 0]}), 400,
        "INVALID_ARGUMENT", "Field 'collections' must be an array of collection names")


# ---- the later releases' messages -----------------------------------------------------------------

def test_later_release_messages_are_served(srv, later, scroll_coll, multi):
    L = later
    r = L.ScrollResponse.FromString(raw(srv, "Scroll", L.ScrollRequest(
        collection="sc", limit=4, offset=2,
        filters=[L.Filter(match=L.Match(key="kind", value="k0"))]).SerializeToString()))
    want = [i for i in scroll_coll if i % 3 == 0][2:6]
    assert [p.id for p in r.points] == want
    assert [list(p.vector) for p in r.points] == [[float(i % 97), 1.0] for i in want]
    r = L.SearchMultiCollectionResponse.FromString(raw(
        srv, "SearchMultiCollection", L.SearchMultiCollectionRequest(
            collections=["m1", "m2"], vector=[0, 0, 0], top_k=3).SerializeToString()))
    assert sorted(r.responses) == ["m1", "m2"]
    assert [x.id for x in r.responses["m2"].results] == \
        [i for _, i in brute(multi, ["m2"], [0, 0, 0], 3)]
    create(srv, "fz_later")
    r = L.StatusResponse.FromString(raw(srv, "FreezeCollection", L.FreezeCollectionRequest(
        name="fz_later").SerializeToString()))
    assert r.status == "Collection 'fz_later' frozen."
