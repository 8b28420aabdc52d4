"""String ids (docs/api/http.md "String ids", docs/api/grpc.md "String ids"): a collection created
with `id_type: "string"` names its points by UUIDs or any other string (1..512 bytes of UTF-8, no
NUL) on both transports: insert, batch insert, get (by path, `?ids=` and GetPoints), search and
search across collections, delete (by path, by ids, by filter), scroll (in string order, the
cursor being a string id), peek, payload updates, and what each returns; the kind rule (a
collection takes ids of its own kind, the other kind is refused and changes nothing; integer
collections answer exactly as before); the refusals of bad string ids; and every acknowledged write
through a restart, kill -9 after acknowledgement, a checkpoint and a rebuild."""
import json
import signal
import struct
import time
import urllib.parse
import uuid

import grpc
import pytest

from conftest import http, ok

INV = grpc.StatusCode.INVALID_ARGUMENT
NF = grpc.StatusCode.NOT_FOUND
INT_ID = "Field 'id' must be an integer between 0 and 4294967295"


def uid(i):
    return str(uuid.UUID(int=(0x5EED << 96) + i * 0x9E3779B97F4A7C15 % (1 << 96)))


def create(srv, name, id_type="string", dim=2):
    body = {"name": name, "dimension": dim, "metric": "l2"}
    if id_type is not None:
        body["id_type"] = id_type
    return ok(http(srv, "POST", "/api/collections", body), 201)


def err(resp, status, code, message=None):
    st, _, body = resp
    assert st == status, body
    assert body["error"]["code"] == code, body
    if message is not None:
        assert body["error"]["message"] == message, body
    return body["error"]


def grpc_err(fn, req):
    with pytest.raises(grpc.RpcError) as e:
        fn(req)
    return e.value.code(), e.value.details()


def path_of(sid):
    return urllib.parse.quote(sid, safe="")


def scroll_all(srv, name, limit=7, **extra):
    """Every live point by HTTP scroll pages (cursor after cursor) as {id: point}; ids in order."""
    out, order, cursor = {}, [], None
    while True:
        body = dict(limit=limit, with_vector=True, **extra)
        if cursor is not None:
            body["cursor"] = cursor
        page = ok(http(srv, "POST", "/api/collections/%s/scroll" % name, body))
        for p in page["points"]:
            assert p["id"] not in out
            out[p["id"]] = p
            order.append(p["id"])
        cursor = page["next_cursor"]
        if cursor is None:
            return out, order


def count(srv, name):
    return ok(http(srv, "GET", "/api/collections/%s/stats" % name))["count"]


def digest(srv, name):
    return ok(http(srv, "GET", "/api/collections/%s/digest" % name))["state_hash"]


@pytest.fixture(scope="module")
def db(rpc):
    """(messages, stub) of the module's server (conftest's srv and rpc)."""
    return rpc


# ---- HTTP ---------------------------------------------------------------------------------------

def test_http_round_trip(srv):
    c = create(srv, "s_http")
    assert c["id_type"] == "string"
    st = ok(http(srv, "GET", "/api/collections/s_http/stats"))
    assert st["id_type"] == "string"
    assert [x for x in ok(http(srv, "GET", "/api/collections")) if x["name"] == "s_http"][0][
        "id_type"] == "string"
    ids = [uid(i) for i in range(40)]
    ok(http(srv, "POST", "/api/collections/s_http/insert",
            {"id": ids[0], "vector": [0.0, 0.0], "metadata": {"n": "0"}}))
    ok(http(srv, "POST", "/api/collections/s_http/insert/batch", {"vectors": [
        {"id": ids[i], "vector": [float(i), 0.0], "metadata": {"n": str(i)},
         "typed_metadata": {"even": i % 2 == 0}} for i in range(1, 40)]}))
    odd = ["1", "docs/café/a b.md", "ключ", "a\"quote\\", "x" * 512]
    ok(http(srv, "POST", "/api/collections/s_http/insert/batch", {"vectors": [
        {"id": s, "vector": [100.0 + k, 1.0]} for k, s in enumerate(odd)]}))
    assert count(srv, "s_http") == 45

    # get one by path: a UUID, a string of digits (a string id here), '/', non-ASCII, 512 bytes
    p = ok(http(srv, "GET", "/api/collections/s_http/points/" + ids[7]))
    assert p == {"id": ids[7], "vector": [7.0, 0.0], "metadata": {"n": "7", "even": "false"},
                 "typed_metadata": {"n": "7", "even": False}}
    for k, s in enumerate(odd):
        p = ok(http(srv, "GET", "/api/collections/s_http/points/%s?with_vector=false" % path_of(s)))
        assert p == {"id": s, "metadata": {}}, s
    err(http(srv, "GET", "/api/collections/s_http/points/nope"), 404, "POINT_NOT_FOUND",
        "Point 'nope' not found in collection 's_http'")

    # many: a comma list and a JSON array (in the order asked, each once, missing ones skipped)
    got = ok(http(srv, "GET", "/api/collections/s_http/points?with_vector=false&ids=%s,zz,%s,%s"
                  % (ids[3], ids[1], ids[3])))
    assert [x["id"] for x in got] == [ids[3], ids[1]]
    arr = path_of(json.dumps(["ключ", "docs/café/a b.md", "1", "missing"]))
    got = ok(http(srv, "GET", "/api/collections/s_http/points?ids=" + arr))
    assert [x["id"] for x in got] == ["ключ", "docs/café/a b.md", "1"]
    err(http(srv, "GET", "/api/collections/s_http/points?ids=,,,,"), 400, "INVALID_ARGUMENT",
        "ids[0]: Invalid string id: it is empty (string ids are 1 to 512 bytes of UTF-8)")
    err(http(srv, "GET", "/api/collections/s_http/points?ids=%5B%5D"), 400, "INVALID_PARAMETER",
        "ids must be between 1 and 10000 (got 0)")
    err(http(srv, "GET", "/api/collections/s_http/points?ids=" + ",".join(["a"] * 10001)), 400,
        "INVALID_PARAMETER", "ids must be between 1 and 10000 (got 10001)")

    # search: each hit carries its string
    res = ok(http(srv, "POST", "/api/collections/s_http/search", {"vector": [5.1, 0], "top_k": 3}))
    assert [r["id"] for r in res] == [ids[5], ids[6], ids[4]]
    res = ok(http(srv, "POST", "/api/collections/s_http/search", {
        "vector": [5.1, 0], "top_k": 2, "filters": [{"type": "match", "key": "even",
                                                      "value": True}]}))
    assert [r["id"] for r in res] == [ids[6], ids[4]]

    # scroll: every point once, in the byte order of the strings; the cursor is the last id
    pts, order = scroll_all(srv, "s_http")
    assert set(pts) == set(ids) | set(odd)
    assert order == sorted(order, key=lambda s: s.encode())
    page = ok(http(srv, "POST", "/api/collections/s_http/scroll",
                   {"limit": 2, "cursor": "ключ"}))
    assert page["points"] == [] and page["next_cursor"] is None  # nothing sorts after it
    page = ok(http(srv, "POST", "/api/collections/s_http/scroll", {"limit": 2, "cursor": "1"}))
    after = [x for x in sorted(order, key=lambda s: s.encode()) if x.encode() > b"1"]
    assert [x["id"] for x in page["points"]] == after[:2]
    assert page["next_cursor"] == page["points"][-1]["id"]
    peek = ok(http(srv, "GET", "/api/collections/s_http/peek?limit=5"))
    assert [x[0] for x in peek] == odd[::-1]

    # payload updates by id and by ids (the missing reported as given)
    body = ok(http(srv, "POST", "/api/collections/s_http/payload",
                   {"ids": [ids[2], "gone", ids[3], "gone"], "metadata": {"c": "x"}}))
    assert body["updated"] == 2 and body["not_found"] == ["gone"]
    ok(http(srv, "PATCH", "/api/collections/s_http/payload",
            {"id": "ключ", "typed_metadata": {"k": 1}}))
    assert ok(http(srv, "GET", "/api/collections/s_http/points/" + path_of("ключ")))[
        "typed_metadata"] == {"k": 1}
    err(http(srv, "POST", "/api/collections/s_http/payload",
             {"id": "gone", "metadata": {"a": "b"}}), 404, "POINT_NOT_FOUND",
        "Point 'gone' not found in collection 's_http'")

    # deletes: by path, by ids (a missing one is no error), by filter
    assert ok(http(srv, "DELETE", "/api/collections/s_http/points/" + ids[0]))["deleted"] == 1
    assert ok(http(srv, "DELETE", "/api/collections/s_http/points/" + ids[0]))["deleted"] == 0
    assert ok(http(srv, "POST", "/api/collections/s_http/points/delete",
                   {"ids": [ids[1], "nope", ids[1], "1"]}))["deleted"] == 2
    assert ok(http(srv, "POST", "/api/collections/s_http/points/delete",
                   {"filters": [{"type": "match", "key": "c", "value": "x"}]}))["deleted"] == 2
    assert count(srv, "s_http") == 40
    err(http(srv, "GET", "/api/collections/s_http/points/" + ids[1]), 404, "POINT_NOT_FOUND")
    # an id written again after its delete
    ok(http(srv, "POST", "/api/collections/s_http/insert", {"id": ids[1], "vector": [1.0, 0.0]}))
    assert ok(http(srv, "GET", "/api/collections/s_http/points/" + ids[1]))["metadata"] == {}


def test_upsert_replaces_and_digest_follows_the_strings(srv):
    create(srv, "s_dig_a")
    create(srv, "s_dig_b")
    pts = [{"id": uid(i), "vector": [float(i), 2.0]} for i in range(30)]
    ok(http(srv, "POST", "/api/collections/s_dig_a/insert/batch", {"vectors": pts}))
    ok(http(srv, "POST", "/api/collections/s_dig_b/insert/batch", {"vectors": pts[::-1]}))
    assert digest(srv, "s_dig_a") == digest(srv, "s_dig_b")  # whatever the order of writes
    # replace one: one point, the new vector; delete and write back: the same digest again
    ok(http(srv, "POST", "/api/collections/s_dig_a/insert", {"id": uid(3), "vector": [9.0, 9.0]}))
    assert count(srv, "s_dig_a") == 30
    assert ok(http(srv, "GET", "/api/collections/s_dig_a/points/" + uid(3)))["vector"] == [9, 9]
    assert digest(srv, "s_dig_a") != digest(srv, "s_dig_b")
    ok(http(srv, "POST", "/api/collections/s_dig_a/points/delete", {"ids": [uid(3)]}))
    ok(http(srv, "POST", "/api/collections/s_dig_a/insert", {"id": uid(3), "vector": [3.0, 2.0]}))
    assert digest(srv, "s_dig_a") == digest(srv, "s_dig_b")


# ---- gRPC ---------------------------------------------------------------------------------------

def test_grpc_round_trip_and_both_transports(srv, db):
    P, stub = db
    stub.CreateCollection(P.CreateCollectionRequest(name="s_grpc", dimension=2, metric="l2",
                                                    id_type="string"))
    st = stub.GetCollectionStats(P.CollectionStatsRequest(name="s_grpc"))
    assert st.id_type == "string"
    assert stub.GetCollectionStats(P.CollectionStatsRequest(name="s_http")).id_type == "string"
    ids = [uid(100 + i) for i in range(20)]
    assert stub.Insert(P.InsertRequest(collection="s_grpc", string_id=ids[0], vector=[0, 0],
                                       metadata={"n": "0"})).success
    stub.BatchInsert(P.BatchInsertRequest(collection="s_grpc", vectors=[
        P.VectorData(string_id=ids[i], vector=[float(i), 0], metadata={"n": str(i)})
        for i in range(1, 20)]))
    # written over gRPC, read over HTTP and the other way round
    assert ok(http(srv, "GET", "/api/collections/s_grpc/points/" + ids[4]))["metadata"] == {
        "n": "4"}
    ok(http(srv, "POST", "/api/collections/s_grpc/insert", {"id": "from-http", "vector": [50, 0]}))
    got = stub.GetPoints(P.GetPointsRequest(collection="s_grpc",
                                            string_ids=["from-http", ids[2], "none", ids[2]]))
    assert [(p.id, p.string_id, list(p.vector)) for p in got.points] == [
        (0, "from-http", [50.0, 0.0]), (0, ids[2], [2.0, 0.0])]

    res = stub.Search(P.SearchRequest(collection="s_grpc", vector=[7.2, 0], top_k=3)).results
    assert [(r.id, r.string_id) for r in res] == [(0, ids[7]), (0, ids[8]), (0, ids[6])]
    assert dict(res[0].metadata) == {"n": "7"}
    batch = stub.SearchBatch(P.BatchSearchRequest(searches=[
        P.SearchRequest(collection="s_grpc", vector=[1, 0], top_k=1),
        P.SearchRequest(collection="s_grpc", vector=[2, 0], top_k=1)]))
    assert [r.results[0].string_id for r in batch.responses] == [ids[1], ids[2]]

    # UpdatePayload by string_id (one: NOT_FOUND when missing) and string_ids
    r = stub.UpdatePayload(P.UpdatePayloadRequest(collection="s_grpc", string_id=ids[3],
                                                  metadata={"u": "1"}))
    assert r.updated == 1 and r.status == "Payload for id='%s' updated." % ids[3]
    r = stub.UpdatePayload(P.UpdatePayloadRequest(collection="s_grpc",
                                                  string_ids=[ids[4], "no1", ids[5], "no2"],
                                                  metadata={"u": "2"}))
    assert r.updated == 2 and list(r.not_found_string_ids) == ["no1", "no2"]
    assert list(r.not_found) == []
    assert grpc_err(stub.UpdatePayload, P.UpdatePayloadRequest(
        collection="s_grpc", string_id="no1", metadata={"u": "3"})) == (
        NF, "Point 'no1' not found in collection 's_grpc'")
    assert ok(http(srv, "GET", "/api/collections/s_grpc/points/" + ids[5]))["metadata"] == {
        "n": "5", "u": "2"}

    # Scroll: string order, the cursor a string id
    seen, cursor = [], ""
    while True:
        page = stub.Scroll(P.ScrollRequest(collection="s_grpc", limit=6, cursor=cursor))
        assert all(p.id == 0 and p.string_id for p in page.points)
        seen += [p.string_id for p in page.points]
        cursor = page.next_cursor
        if not cursor:
            break
        assert cursor == seen[-1]
    assert seen == sorted(ids + ["from-http"], key=lambda s: s.encode())

    # Delete: success says whether it was live
    assert stub.Delete(P.DeleteRequest(collection="s_grpc", string_id=ids[9])).success
    assert not stub.Delete(P.DeleteRequest(collection="s_grpc", string_id=ids[9])).success
    err(http(srv, "GET", "/api/collections/s_grpc/points/" + ids[9]), 404, "POINT_NOT_FOUND")
    assert stub.Count(P.CountRequest(collection="s_grpc")).count == 20


def test_search_across_collections_carries_each_kind(srv, db):
    P, stub = db
    create(srv, "m_str")
    create(srv, "m_int", id_type="integer")
    ok(http(srv, "POST", "/api/collections/m_str/insert", {"id": "near", "vector": [1.0, 0.0]}))
    ok(http(srv, "POST", "/api/collections/m_int/insert", {"id": 7, "vector": [1.5, 0.0]}))
    res = ok(http(srv, "POST", "/api/search/multi", {"collections": ["m_str", "m_int"],
                                                     "vector": [1.0, 0.0], "top_k": 2}))
    assert [(r["collection"], r["id"]) for r in res["results"]] == [("m_str", "near"),
                                                                    ("m_int", 7)]
    out = stub.SearchMultiCollection(P.SearchMultiCollectionRequest(
        collections=["m_str", "m_int"], vector=[1.0, 0.0], top_k=2))
    assert [(h.collection, h.result.id, h.result.string_id) for h in out.hits] == [
        ("m_str", 0, "near"), ("m_int", 7, "")]
    assert out.responses["m_str"].results[0].string_id == "near"


def test_a_v2_client_reads_its_known_fields_only(srv, db):
    """A v2.0.0 client decodes a string-id point's result as id 0 with its distance and metadata:
    the string travels at 1003, a number it skips."""
    P, stub = db
    create(srv, "s_v2")
    ok(http(srv, "POST", "/api/collections/s_v2/insert",
            {"id": "abc", "vector": [1.0, 0.0], "metadata": {"k": "v"}}))
    with grpc.insecure_channel(srv.grpc_target) as ch:
        call = ch.unary_unary("/hyperspace.Database/Search", request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
        data = call(P.SearchRequest(collection="s_v2", vector=[1, 0], top_k=1).SerializeToString())
    r = P.SearchResponse.FromString(data).results[0]
    assert (r.id, r.string_id, dict(r.metadata)) == (0, "abc", {"k": "v"})
    numbers, i = [], 0
    raw = r.SerializeToString()
    while i < len(raw):  # field numbers of the result on the wire
        key, shift = 0, 0
        while True:
            b = raw[i]
            i += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        numbers.append(key >> 3)
        wt = key & 7
        if wt == 1:
            i += 8
        elif wt == 2:
            ln, shift = 0, 0
            while True:
                b = raw[i]
                i += 1
                ln |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            i += ln
        elif wt == 0:
            while raw[i] >= 0x80:
                i += 1
            i += 1
    assert set(numbers) <= {2, 3, 1003}, numbers  # id 0 is not written


# ---- the kind rule ------------------------------------------------------------------------------

def test_integer_collections_answer_as_before(srv, db):
    P, stub = db
    c = create(srv, "k_int", id_type=None)
    assert "id_type" not in c  # the v2.0.0 shape
    assert "id_type" not in ok(http(srv, "GET", "/api/collections/k_int/stats"))
    assert stub.GetCollectionStats(P.CollectionStatsRequest(name="k_int")).id_type == "integer"
    ok(http(srv, "POST", "/api/collections/k_int/insert", {"id": 1, "vector": [1.0, 0.0]}))
    before = digest(srv, "k_int")
    err(http(srv, "POST", "/api/collections/k_int/insert", {"id": "7", "vector": [1, 2]}), 400,
        "INVALID_ARGUMENT", INT_ID)
    err(http(srv, "GET", "/api/collections/k_int/points/abc"), 400, "INVALID_ARGUMENT",
        "Invalid point id 'abc'")
    err(http(srv, "POST", "/api/collections/k_int/points/delete", {"ids": ["a"]}), 400,
        "INVALID_ARGUMENT", "Field 'ids' must be an array of integers between 0 and 4294967295")
    assert grpc_err(stub.Insert, P.InsertRequest(collection="k_int", string_id="x",
                                                 vector=[1, 2])) == (
        INV, "Collection 'k_int' uses integer ids: 'string_id' cannot be set")
    assert grpc_err(stub.Delete, P.DeleteRequest(collection="k_int", string_id="x")) == (
        INV, "Collection 'k_int' uses integer ids: 'string_id' cannot be set")
    assert grpc_err(stub.GetPoints, P.GetPointsRequest(collection="k_int", string_ids=["x"])) == (
        INV, "Collection 'k_int' uses integer ids: ask for 'ids', not 'string_ids'")
    assert grpc_err(stub.UpdatePayload, P.UpdatePayloadRequest(
        collection="k_int", string_ids=["x"], metadata={"a": "b"})) == (
        INV, "Collection 'k_int' uses integer ids: name the points by 'id' or 'ids'")
    assert digest(srv, "k_int") == before and count(srv, "k_int") == 1
    # the default collection a write creates uses integer ids
    err(http(srv, "POST", "/api/collections/default/insert", {"id": "x", "vector": [1.0, 2.0]}),
        400, "INVALID_ARGUMENT", INT_ID)


def test_string_collections_refuse_integer_ids(srv, db):
    P, stub = db
    create(srv, "k_str")
    ok(http(srv, "POST", "/api/collections/k_str/insert", {"id": "a", "vector": [1.0, 0.0]}))
    before = digest(srv, "k_str")
    err(http(srv, "POST", "/api/collections/k_str/insert", {"id": 5, "vector": [1, 2]}), 400,
        "INVALID_ARGUMENT", "Field 'id' must be a string: collection 'k_str' uses string ids")
    e = err(http(srv, "POST", "/api/collections/k_str/insert/batch", {"vectors": [
        {"id": "b", "vector": [1, 2]}, {"id": 6, "vector": [1, 2]}]}), 400, "INVALID_ARGUMENT",
        "vectors[1]: Field 'id' must be a string: collection 'k_str' uses string ids")
    assert e["details"] == {"index": 1}
    err(http(srv, "POST", "/api/collections/k_str/points/delete", {"ids": [1]}), 400,
        "INVALID_ARGUMENT", "Field 'ids' must be an array of strings: collection 'k_str' uses "
        "string ids")
    raw = struct.pack("<4sIIII", b"HSF1", 2, 1, 0, 9) + struct.pack("<2f", 1, 2)
    err(http(srv, "POST", "/api/collections/k_str/insert/batch", raw=raw,
             headers={"Content-Type": "application/x-hyperspace-f32"}), 400,
        "INVALID_BINARY_BODY", "Invalid binary body: collection 'k_str' uses string ids, which "
        "the binary format cannot carry (send a JSON batch)")
    tail = "Collection 'k_str' uses string ids: set 'string_id' (field 1002 or 1001) and leave " \
           "'id' 0"
    assert grpc_err(stub.Insert, P.InsertRequest(collection="k_str", id=5, vector=[1, 2])) == (
        INV, tail)
    assert grpc_err(stub.Insert, P.InsertRequest(collection="k_str", id=5, string_id="c",
                                                 vector=[1, 2])) == (INV, tail)
    assert grpc_err(stub.BatchInsert, P.BatchInsertRequest(collection="k_str", vectors=[
        P.VectorData(string_id="d", vector=[1, 2]), P.VectorData(id=3, vector=[1, 2])])) == (
        INV, "vectors[1]: " + tail)
    assert grpc_err(stub.Delete, P.DeleteRequest(collection="k_str", id=1)) == (INV, tail)
    assert grpc_err(stub.GetPoints, P.GetPointsRequest(collection="k_str", ids=[1])) == (
        INV, "Collection 'k_str' uses string ids: ask for 'string_ids', not 'ids'")
    assert grpc_err(stub.UpdatePayload, P.UpdatePayloadRequest(
        collection="k_str", id=1, metadata={"a": "b"})) == (
        INV, "Collection 'k_str' uses string ids: name the points by 'string_id' or "
             "'string_ids'")
    assert digest(srv, "k_str") == before and count(srv, "k_str") == 1


def test_create_refuses_an_unknown_id_type(srv, db):
    P, stub = db
    err(http(srv, "POST", "/api/collections", {"name": "k_bad", "dimension": 2, "metric": "l2",
                                               "id_type": "uuid"}), 400, "INVALID_PARAMETER",
        "Unknown id type 'uuid': expected integer or string")
    assert grpc_err(stub.CreateCollection, P.CreateCollectionRequest(
        name="k_bad", dimension=2, metric="l2", id_type="text")) == (
        INV, "Unknown id type 'text': expected integer or string")
    err(http(srv, "GET", "/api/collections/k_bad/stats"), 404, "COLLECTION_NOT_FOUND")
    c = create(srv, "k_case", id_type="STRING")  # any case, as metrics
    assert c["id_type"] == "string"


# ---- bad string ids -----------------------------------------------------------------------------

@pytest.mark.parametrize("sid, message", [
    ("", "Invalid string id: it is empty (string ids are 1 to 512 bytes of UTF-8)"),
    ("x" * 513, "Invalid string id: 513 bytes, at most 512 are allowed"),
    ("é" * 257, "Invalid string id: 514 bytes, at most 512 are allowed"),  # bytes, not characters
])
def test_bad_string_ids_change_nothing(srv, db, sid, message):
    P, stub = db
    name = "bad_ids"
    if http(srv, "GET", "/api/collections/%s/stats" % name)[0] == 404:
        create(srv, name)
        ok(http(srv, "POST", "/api/collections/%s/insert" % name, {"id": "a", "vector": [1, 0]}))
    before = digest(srv, name)
    err(http(srv, "POST", "/api/collections/%s/insert" % name, {"id": sid, "vector": [1, 2]}),
        400, "INVALID_ARGUMENT", message)
    err(http(srv, "POST", "/api/collections/%s/insert/batch" % name, {"vectors": [
        {"id": "fine", "vector": [1, 2]}, {"id": sid, "vector": [1, 2]}]}), 400,
        "INVALID_ARGUMENT", "vectors[1]: " + message)
    err(http(srv, "POST", "/api/collections/%s/points/delete" % name, {"ids": ["a", sid]}), 400,
        "INVALID_ARGUMENT", "ids[1]: " + message)
    err(http(srv, "POST", "/api/collections/%s/payload" % name,
             {"id": sid, "metadata": {"k": "v"}}), 400, "INVALID_ARGUMENT", message)
    if sid:
        err(http(srv, "GET", "/api/collections/%s/points/%s" % (name, path_of(sid))), 400,
            "INVALID_ARGUMENT", message)
        assert grpc_err(stub.Insert, P.InsertRequest(collection=name, string_id=sid,
                                                     vector=[1, 2])) == (INV, message)
        assert grpc_err(stub.GetPoints, P.GetPointsRequest(collection=name,
                                                           string_ids=["a", sid])) == (
            INV, "string_ids[1]: " + message)
        assert grpc_err(stub.BatchInsert, P.BatchInsertRequest(collection=name, vectors=[
            P.VectorData(string_id="fine", vector=[1, 2]),
            P.VectorData(string_id=sid, vector=[1, 2])])) == (INV, "vectors[1]: " + message)
    else:  # proto3 cannot send an empty string_id: it is "not set"
        assert grpc_err(stub.GetPoints, P.GetPointsRequest(collection=name,
                                                           string_ids=[""])) == (
            INV, "string_ids[0]: " + message)
    assert digest(srv, name) == before and count(srv, name) == 1
    err(http(srv, "GET", "/api/collections/%s/points/fine" % name), 404, "POINT_NOT_FOUND")


def test_nul_and_invalid_utf8_are_refused(srv, db):
    P, stub = db
    create(srv, "bad_bytes")
    err(http(srv, "POST", "/api/collections/bad_bytes/insert",
             raw=b'{"id":"a\\u0000b","vector":[1,2]}',
             headers={"Content-Type": "application/json"}),
        400, "INVALID_ARGUMENT", "Field 'id' contains a NUL character (\\u0000), which strings "
        "cannot hold")
    err(http(srv, "GET", "/api/collections/bad_bytes/points/a%00b"), 400, "INVALID_ARGUMENT")
    err(http(srv, "GET", "/api/collections/bad_bytes/points/a%FFb"), 400, "INVALID_ARGUMENT",
        "Invalid string id: not valid UTF-8")
    err(http(srv, "GET", "/api/collections/bad_bytes/points?ids=" + path_of('["a\\u0000b"]')),
        400, "INVALID_ARGUMENT")

    def field(num, wt, payload):
        key = bytes([num << 3 | wt]) if num < 16 else bytes([(num << 3 | wt) & 0x7F | 0x80,
                                                              (num << 3 | wt) >> 7])
        if wt == 2:
            return key + bytes([len(payload)]) + payload
        return key + payload

    def call(method, data):
        with grpc.insecure_channel(srv.grpc_target) as ch:
            f = ch.unary_unary("/hyperspace.Database/" + method, request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)
            with pytest.raises(grpc.RpcError) as e:
                f(data, timeout=20)
            return e.value.code(), e.value.details()

    base = field(1, 2, b"bad_bytes") + field(2, 2, struct.pack("<2d", 1, 2))
    # string_id (1002: two-byte key) holding bytes that are not UTF-8, and holding a NUL
    assert call("Insert", base + b"\xd2\x3e" + bytes([3]) + b"a\xffb") == (
        INV, "Invalid string id: not valid UTF-8")
    code, text = call("Insert", base + b"\xd2\x3e" + bytes([3]) + b"a\x00b")
    assert code == INV and "NUL" in text, text
    assert count(srv, "bad_bytes") == 0
    assert ok(http(srv, "GET", "/api/collections/bad_bytes/stats"))["count"] == 0


# ---- durability ---------------------------------------------------------------------------------

def restart(s, sig=signal.SIGTERM):
    s.stop(sig=sig)
    s.start()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if http(s, "GET", "/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("not ready:\n" + s.output()[-3000:])


def test_acknowledged_writes_survive_restart_kill_checkpoint_rebuild(server_factory, pb):
    P = pb[0]
    s = server_factory()
    create(s, "dur")
    want = {}

    def write_round(r, durability):
        pts = [{"id": uid(1000 * r + i), "vector": [float(r), float(i)],
                "metadata": {"r": str(r)}} for i in range(60)]
        ok(http(s, "POST", "/api/collections/dur/insert/batch",
                {"vectors": pts, "durability": durability}))
        for p in pts:
            want[p["id"]] = (p["vector"], p["metadata"])
        # replace some of the previous round's, delete others, update a payload
        if r > 1:
            old = [uid(1000 * (r - 1) + i) for i in range(0, 60, 5)]
            ok(http(s, "POST", "/api/collections/dur/points/delete",
                    {"ids": old[:4], "durability": durability}))
            for o in old[:4]:
                want.pop(o)
            ok(http(s, "POST", "/api/collections/dur/insert",
                    {"id": old[5], "vector": [-1.0, -1.0], "metadata": {"re": "1"},
                     "durability": durability}))
            want[old[5]] = ([-1.0, -1.0], {"re": "1"})
            ok(http(s, "POST", "/api/collections/dur/payload",
                    {"id": old[6], "metadata": {"p": str(r)}, "durability": durability}))
            want[old[6]][1]["p"] = str(r)
        with grpc.insecure_channel(s.grpc_target) as ch:
            stub = pb[1].DatabaseStub(ch)
            sid = "grpc-%d" % r
            stub.Insert(P.InsertRequest(collection="dur", string_id=sid, vector=[0.5, float(r)],
                                        metadata={"via": "grpc"}))
            want[sid] = ([0.5, float(r)], {"via": "grpc"})

    def check():
        pts, order = scroll_all(s, "dur", limit=97)
        assert {k: (p["vector"], p["metadata"]) for k, p in pts.items()} == want
        assert order == sorted(want, key=lambda k: k.encode())
        assert ok(http(s, "GET", "/api/collections/dur/stats"))["count"] == len(want)
        for k in list(want)[::13]:
            assert ok(http(s, "GET", "/api/collections/dur/points/" + path_of(k)))["vector"] == \
                want[k][0]
        res = ok(http(s, "POST", "/api/collections/dur/search", {"vector": [-1, -1], "top_k": 1}))
        d = lambda v: (v[0] + 1) ** 2 + (v[1] + 1) ** 2  # noqa: E731
        assert d(want[res[0]["id"]][0]) == min(d(v) for v, _ in want.values())

    write_round(1, "batch")
    restart(s)
    check()
    write_round(2, "strict")
    write_round(3, "default")
    restart(s, signal.SIGKILL)  # acknowledged writes come back from the log
    check()
    ok(http(s, "POST", "/api/collections/dur/snapshot"))
    write_round(4, "batch")
    restart(s, signal.SIGKILL)  # a checkpoint, then the log after it
    check()
    ok(http(s, "POST", "/api/collections/dur/rebuild"))
    assert ok(http(s, "GET", "/api/collections/dur/stats"))["deleted_count"] == 0
    check()
    write_round(5, "async")
    ok(http(s, "POST", "/api/collections/dur/snapshot"))  # async writes: made durable here
    restart(s, signal.SIGKILL)
    check()
    assert ok(http(s, "GET", "/api/collections/dur/stats"))["id_type"] == "string"


# ---- the change stream and snapshot archives ---------------------------------------------

def test_change_stream_and_snapshots_carry_the_strings(srv, db):
    P, stub = db
    create(srv, "ev_s")
    ok(http(srv, "POST", "/api/collections/ev_s/insert", {"id": "ä/1", "vector": [1.0, 0.0]}))
    ok(http(srv, "POST", "/api/collections/ev_s/points/delete", {"ids": ["ä/1"]}))
    body = ok(http(srv, "GET", "/api/collections/ev_s/events?after=0"))
    assert [e["type"] for e in body["events"]] == ["create", "upsert", "delete"]
    assert body["events"][0]["config"]["id_type"] == "string"
    assert body["events"][1]["point"]["id"] == "ä/1" and body["events"][2]["id"] == "ä/1"
    with grpc.insecure_channel(srv.grpc_target) as ch:
        call = ch.unary_stream("/hyperspace.Database/SubscribeToEvents",
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=P.EventMessage.FromString)
        it = call(P.EventSubscriptionRequest(collection="ev_s", after_clock=0), timeout=20)
        got = [next(it) for _ in range(3)]
        it.cancel()
    assert got[0].collection_created.config.id_type == "string"
    assert (got[1].vector_inserted.id, got[1].vector_inserted.string_id) == (0, "ä/1")
    assert (got[2].vector_deleted.id, got[2].vector_deleted.string_id) == (0, "ä/1")

    # a snapshot restores the collection with its kind and its strings
    ok(http(srv, "POST", "/api/collections/ev_s/insert/batch", {"vectors": [
        {"id": uid(i), "vector": [float(i), 1.0]} for i in range(20)]}))
    ok(http(srv, "POST", "/api/snapshots", {"collection": "ev_s", "snapshot": "ev_s.hsnap"}),
       201)
    ok(http(srv, "POST", "/api/snapshots/ev_s.hsnap/restore",
            {"collection": "ev_s", "target": "ev_s_copy"}))
    assert ok(http(srv, "GET", "/api/collections/ev_s_copy/stats"))["id_type"] == "string"
    assert scroll_all(srv, "ev_s_copy")[1] == scroll_all(srv, "ev_s")[1]
    assert digest(srv, "ev_s_copy") == digest(srv, "ev_s")
