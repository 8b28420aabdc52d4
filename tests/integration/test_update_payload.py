"""UpdatePayload over HTTP (`POST`/`PATCH /api/collections/{name}/payload`) and gRPC
(docs/api/http.md "Payload updates", docs/api/grpc.md "UpdatePayload"): merge, replace and delete
of metadata keys by id, by ids and by filter, with the vector, the count and the digest unchanged;
unknown ids reported (a single `id` is POINT_NOT_FOUND); the refusals, which change nothing; the
payload indexes (filtered count and search) and the keyword index (hybrid search) after an update;
and every acknowledged update through a restart, a kill -9, a checkpoint and a rebuild."""
import signal

import grpc
import pytest

from conftest import http, ok, restart

INV = grpc.StatusCode.INVALID_ARGUMENT


def create(srv, name, dim=2, metric="l2"):
    ok(http(srv, "POST", "/api/collections", {"name": name, "dimension": dim, "metric": metric}),
       201)


def fill(srv, name, n, start=0):
    """Points start..start+n-1 at (i, 1) with color red (even) / blue (odd), n = i."""
    vecs = [{"id": i, "vector": [float(i), 1.0], "metadata": {"color": "red" if i % 2 == 0
                                                             else "blue"},
             "typed_metadata": {"n": i}} for i in range(start, start + n)]
    for k in range(0, len(vecs), 2000):
        ok(http(srv, "POST", "/api/collections/%s/insert/batch" % name, {"vectors": vecs[k:k + 2000]}))


def points(srv, name):
    """Every live point as {id: (vector, typed metadata)} (scroll with vectors)."""
    out, cursor = {}, None
    while True:
        body = {"limit": 1000, "with_vector": True}
        if cursor:
            body["cursor"] = cursor
        page = ok(http(srv, "POST", "/api/collections/%s/scroll" % name, body))
        for p in page["points"]:
            out[p["id"]] = (p["vector"], p.get("typed_metadata", p["metadata"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def payload(srv, name, body, status=200):
    return ok(http(srv, "POST", "/api/collections/%s/payload" % name, body), status)


def err(resp, status, code, message):
    st, _, body = resp
    assert st == status, body
    assert (body["error"]["code"], body["error"]["message"]) == (code, message), body


def grpc_err(fn, req):
    with pytest.raises(grpc.RpcError) as e:
        fn(req)
    return e.value.code(), e.value.details()


@pytest.fixture(scope="module")
def db(rpc):
    """(messages, stub) of the module's server (conftest's srv and rpc)."""
    return rpc


# ---- the three modes on both transports ---------------------------------------------------------

def test_http_modes(srv):
    create(srv, "up_h")
    fill(srv, "up_h", 20)
    before = points(srv, "up_h")
    digest = ok(http(srv, "GET", "/api/collections/up_h/digest"))
    # merge: keys set or overwritten, the others kept; unknown ids reported in order, each once
    r = payload(srv, "up_h", {"ids": [3, 99, 4, 3, 98, 99], "metadata": {"color": "green"},
                              "typed_metadata": {"price": 9.5, "tags": ["a", "b"]}})
    assert (r["updated"], r["not_found"]) == (2, [99, 98])
    assert r["logical_clock"] > 0
    # PATCH is the same route; delete removes the keys named (absent ones are ignored)
    r = ok(http(srv, "PATCH", "/api/collections/up_h/payload",
                {"id": 3, "mode": "delete", "keys": ["price", "absent"]}))
    assert (r["updated"], r["not_found"]) == (1, [])
    # replace: the entries given become the whole metadata; nothing given clears it
    payload(srv, "up_h", {"id": 5, "mode": "replace", "typed_metadata": {"only": True}})
    payload(srv, "up_h", {"id": 6, "mode": "REPLACE"})
    after = points(srv, "up_h")
    want = {i: dict(m) for i, (_, m) in before.items()}
    want[3].update(color="green", tags=["a", "b"])
    want[4].update(color="green", price=9.5, tags=["a", "b"])
    want[5] = {"only": True}
    want[6] = {}
    assert {i: m for i, (_, m) in after.items()} == want
    # vectors, count and digest are those of before
    assert {i: v for i, (v, _) in after.items()} == {i: v for i, (v, _) in before.items()}
    d2 = ok(http(srv, "GET", "/api/collections/up_h/digest"))
    assert (d2["state_hash"], d2["count"], d2["buckets"]) == \
        (digest["state_hash"], digest["count"], digest["buckets"])


def test_grpc_modes_match_http(srv, db):
    P, stub = db
    create(srv, "up_g")
    fill(srv, "up_g", 10)
    r = stub.UpdatePayload(P.UpdatePayloadRequest(
        collection="up_g", ids=[1, 2, 50], metadata={"color": "green"},
        typed_metadata={"w": P.MetadataValue(double_value=0.5)}))
    assert (r.updated, list(r.not_found), r.status) == (2, [50], "Payload of 2 points updated.")
    r = stub.UpdatePayload(P.UpdatePayloadRequest(collection="up_g", id=0,
                                                  metadata={"first": "yes"}))
    assert (r.updated, r.status) == (1, "Payload for id=0 updated.")
    r = stub.UpdatePayload(P.UpdatePayloadRequest(collection="up_g", ids=[2],
                                                  mode=P.PAYLOAD_DELETE_KEYS, keys=["w"]))
    assert r.updated == 1
    red = P.Filter(match=P.Match(key="color", value="red"))
    r = stub.UpdatePayload(P.UpdatePayloadRequest(
        collection="up_g", filters=[red], mode=P.PAYLOAD_REPLACE,
        typed_metadata={"k": P.MetadataValue(int_value=7)}))
    assert (r.updated, list(r.not_found)) == (4, [])  # red: 0, 4, 6, 8 (2 turned green)
    got = {p.id: dict(p.metadata) for p in
           stub.GetPoints(P.GetPointsRequest(collection="up_g", ids=list(range(10)))).points}
    http_got = {i: m for i, (_, m) in points(srv, "up_g").items()}
    assert got[1] == {"color": "green", "n": "1", "w": "0.5"}
    assert got[2] == {"color": "green", "n": "2"}
    assert all(got[i] == {"k": "7"} for i in (0, 4, 6, 8)), got
    assert http_got[4] == {"k": 7}
    assert all(got[i]["color"] == "blue" for i in (3, 5, 7, 9))


def test_single_id_missing_is_not_found(srv, db):
    P, stub = db
    create(srv, "up_nf")
    fill(srv, "up_nf", 3)
    err(http(srv, "POST", "/api/collections/up_nf/payload", {"id": 7, "metadata": {"a": "b"}}),
        404, "POINT_NOT_FOUND", "Point 7 not found in collection 'up_nf'")
    code, msg = grpc_err(stub.UpdatePayload, P.UpdatePayloadRequest(
        collection="up_nf", id=7, metadata={"a": "b"}))
    assert (code, msg) == (grpc.StatusCode.NOT_FOUND, "Point 7 not found in collection 'up_nf'")
    err(http(srv, "POST", "/api/collections/nope/payload", {"id": 1, "metadata": {"a": "b"}}),
        404, "COLLECTION_NOT_FOUND", "Collection 'nope' not found")


# ---- refusals change nothing -------------------------------------------------------------------

HTTP_REFUSALS = [
    ({"metadata": {"a": "b"}}, 400, "INVALID_ARGUMENT",
     "Provide exactly one of 'id', 'ids' or a filter"),
    ({"id": 1, "ids": [2], "metadata": {"a": "b"}}, 400, "INVALID_ARGUMENT",
     "Provide exactly one of 'id', 'ids' or a filter"),
    ({"ids": [1], "filters": [{"type": "match", "key": "a", "value": "b"}], "metadata": {"a": "b"}},
     400, "INVALID_ARGUMENT", "Provide exactly one of 'id', 'ids' or a filter"),
    ({"ids": [], "metadata": {"a": "b"}}, 400, "INVALID_PARAMETER",
     "ids must be between 1 and 10000 (got 0)"),
    ({"filter": {}, "metadata": {"a": "b"}}, 400, "INVALID_ARGUMENT",
     "UpdatePayload by filter needs at least one condition"),
    ({"id": 1}, 400, "INVALID_ARGUMENT",
     "Nothing to update: 'metadata' and 'typed_metadata' are empty (mode merge)"),
    ({"id": 1, "mode": "upsert", "metadata": {"a": "b"}}, 400, "INVALID_ARGUMENT",
     "Field 'mode' must be one of merge, replace, delete (got 'upsert')"),
    ({"id": 1, "mode": "delete"}, 400, "INVALID_ARGUMENT",
     "Field 'keys' must name at least one key with mode delete"),
    ({"id": 1, "mode": "delete", "keys": ["a"], "metadata": {"a": "b"}}, 400, "INVALID_ARGUMENT",
     "Fields 'metadata' and 'typed_metadata' must be empty with mode delete (the keys to remove "
     "go in 'keys')"),
    ({"id": 1, "keys": ["a"], "metadata": {"a": "b"}}, 400, "INVALID_ARGUMENT",
     "Field 'keys' is only read with mode delete"),
    ({"id": 1, "mode": "delete", "keys": ["a", 3]}, 400, "INVALID_ARGUMENT",
     "Field 'keys' must be an array of strings"),
    ({"id": 1, "mode": "delete", "keys": [""]}, 400, "INVALID_METADATA",
     "Invalid metadata: empty key"),
    ({"id": 1, "typed_metadata": {"a": None}}, 400, "INVALID_METADATA",
     "Invalid metadata: value of key 'a' must be a string, number, boolean or a list of them"),
    ({"id": 1, "metadata": {"a": "b"}, "durability": "eventually"}, 400, "INVALID_PARAMETER",
     "durability must be one of default, async, batch, strict (got 'eventually')"),
]


@pytest.mark.parametrize("body, status, code, message", HTTP_REFUSALS)
def test_http_refusals_change_nothing(srv, body, status, code, message):
    if http(srv, "GET", "/api/collections/up_ref")[0] == 404:
        create(srv, "up_ref")
        fill(srv, "up_ref", 5)
    before = points(srv, "up_ref")
    err(http(srv, "POST", "/api/collections/up_ref/payload", body), status, code, message)
    assert points(srv, "up_ref") == before


def test_grpc_refusals_change_nothing(srv, db):
    P, stub = db
    create(srv, "up_gref")
    fill(srv, "up_gref", 5)
    before = points(srv, "up_gref")
    red = P.Filter(match=P.Match(key="color", value="red"))
    cases = [
        (P.UpdatePayloadRequest(collection="up_gref", id=1, ids=[2], metadata={"a": "b"}),
         "Provide exactly one of 'id', 'ids' or 'filters'"),
        (P.UpdatePayloadRequest(collection="up_gref", ids=[2], filters=[red],
                                metadata={"a": "b"}),
         "Provide exactly one of 'id', 'ids' or 'filters'"),
        (P.UpdatePayloadRequest(collection="up_gref", id=1, mode=5, metadata={"a": "b"}),
         "Unknown mode 5: expected merge (0), replace (1) or delete (2)"),
        (P.UpdatePayloadRequest(collection="up_gref", id=1),
         "Nothing to update: 'metadata' and 'typed_metadata' are empty (mode merge)"),
        (P.UpdatePayloadRequest(collection="up_gref", ids=list(range(10001)),
                                metadata={"a": "b"}),
         "ids must be between 1 and 10000 (got 10001)"),
        (P.UpdatePayloadRequest(collection="up_gref", id=1, typed_metadata={"a": P.MetadataValue()}),
         "Invalid metadata: value of key 'a' must be a string, number, boolean or a list of them"),
        (P.UpdatePayloadRequest(collection="up_gref", id=1, mode=P.PAYLOAD_DELETE_KEYS),
         "Field 'keys' must name at least one key with mode delete"),
        (P.UpdatePayloadRequest(collection="up_gref", filters=[P.Filter()], metadata={"a": "b"}),
         "Invalid filter: filters[0] has no condition"),
    ]
    for req, message in cases:
        assert grpc_err(stub.UpdatePayload, req) == (INV, message), message
    assert points(srv, "up_gref") == before


def test_limits(srv, db):
    P, stub = db
    create(srv, "up_lim")
    fill(srv, "up_lim", 10001)
    # a filter may choose at most 10,000 points: 10,001 match, nothing changes
    err(http(srv, "POST", "/api/collections/up_lim/payload",
             {"filters": [{"type": "range", "key": "n", "gte": 0}], "metadata": {"x": "y"}}),
        400, "INVALID_PARAMETER",
        "The filter matches 10001 points; at most 10000 are updated in one request")
    assert ok(http(srv, "POST", "/api/collections/up_lim/count",
                   {"filter": {"x": "y"}}))["count"] == 0
    r = payload(srv, "up_lim", {"filters": [{"type": "range", "key": "n", "gte": 1}],
                                "metadata": {"x": "y"}})
    assert r["updated"] == 10000
    assert ok(http(srv, "POST", "/api/collections/up_lim/count",
                   {"filter": {"x": "y"}}))["count"] == 10000
    # a merge that would take a point past 1,024 entries names it
    many = {"k%d" % i: "v" for i in range(1023)}
    err(http(srv, "POST", "/api/collections/up_lim/payload", {"id": 5, "metadata": many}),
        400, "INVALID_METADATA", "Invalid metadata: point 5 would hold more than 1024 entries")
    code, msg = grpc_err(stub.UpdatePayload, P.UpdatePayloadRequest(
        collection="up_lim", id=5, metadata=many))
    assert (code, msg) == (INV, "Invalid metadata: point 5 would hold more than 1024 entries")
    got = ok(http(srv, "GET", "/api/collections/up_lim/points/5"))
    assert got["typed_metadata"] == {"color": "blue", "n": 5, "x": "y"}
    payload(srv, "up_lim", {"id": 5, "mode": "replace", "metadata": many})


# ---- the indexes follow ---------------------------------------------------------------------------

def test_payload_and_text_indexes_follow(srv, db):
    P, stub = db
    create(srv, "up_idx")
    fill(srv, "up_idx", 400)

    def count(f):
        return ok(http(srv, "POST", "/api/collections/up_idx/count", {"filters": [f]}))["count"]

    def search_ids(f, k=400):
        res = ok(http(srv, "POST", "/api/collections/up_idx/search",
                      {"vector": [0, 1], "top_k": k, "filters": [f]}))
        return sorted(r["id"] for r in res)

    red = {"type": "match", "key": "color", "value": "red"}
    teal = {"type": "match", "key": "color", "value": "teal"}
    assert count(red) == 200 and search_ids(red) == list(range(0, 400, 2))
    payload(srv, "up_idx", {"filters": [red, {"type": "range", "key": "n", "lt": 100}],
                            "metadata": {"color": "teal"}, "typed_metadata": {"score": 1.5}})
    assert count(red) == 150 and count(teal) == 50
    assert search_ids(teal) == list(range(0, 100, 2))
    assert search_ids({"type": "range", "key": "score", "gte": 1.5}) == list(range(0, 100, 2))
    assert search_ids(red) == list(range(100, 400, 2))
    # gRPC Count with a typed Match agrees
    c = stub.Count(P.CountRequest(collection="up_idx", filters=[P.Filter(
        match=P.Match(key="score", typed_value=P.MetadataValue(double_value=1.5)))]))
    assert c.count == 50
    # the keyword side of a hybrid search sees the new text and no longer the old
    res = ok(http(srv, "POST", "/api/collections/up_idx/search",
                  {"vector": [399, 1], "top_k": 10, "hybrid_query": "teal", "hybrid_alpha": 1.0}))
    assert all(r["id"] < 100 and r["id"] % 2 == 0 for r in res), res
    payload(srv, "up_idx", {"filters": [teal], "mode": "delete", "keys": ["color"]})
    assert count(teal) == 0
    res = ok(http(srv, "POST", "/api/collections/up_idx/search",
                  {"vector": [399, 1], "top_k": 10, "hybrid_query": "teal", "hybrid_alpha": 1.0}))
    assert all(r["score"] < 1 / 61 for r in res)  # no keyword rank for anyone


# ---- durability -------------------------------------------------------------------------------------



def test_updates_survive_restart_kill_checkpoint_rebuild(server_factory, pb):
    P = pb[0]
    s = server_factory()
    create(s, "up_d")
    fill(s, "up_d", 300)
    want = {i: m for i, (_, m) in points(s, "up_d").items()}
    vectors = {i: v for i, (v, _) in points(s, "up_d").items()}

    def check():
        got = points(s, "up_d")
        assert {i: m for i, (_, m) in got.items()} == want
        assert {i: v for i, (v, _) in got.items()} == vectors
        st = ok(http(s, "GET", "/api/collections/up_d/stats"))
        assert st["count"] == 300
        for key in ("round", "color"):
            for value in set(m.get(key) for m in want.values()) - {None}:
                n = sum(m.get(key) == value for m in want.values())
                assert ok(http(s, "POST", "/api/collections/up_d/count",
                               {"filters": [{"type": "match", "key": key, "value": value}]}))[
                    "count"] == n, (key, value)

    def update_round(r, durability):
        ids = list(range(r, 300, 7))
        body = {"ids": ids, "typed_metadata": {"round": r}, "durability": durability}
        if r % 3 == 2:
            body.update(mode="delete", keys=["color"])
            body.pop("typed_metadata")
        assert payload(s, "up_d", body)["updated"] == len(ids)
        for i in ids:
            if r % 3 == 2:
                want[i].pop("color", None)
            else:
                want[i]["round"] = r

    with grpc.insecure_channel(s.grpc_target) as ch:
        stub = pb[1].DatabaseStub(ch)
        stub.UpdatePayload(P.UpdatePayloadRequest(
            collection="up_d", ids=[10, 11], durability=P.STRICT, metadata={"via": "grpc"}))
    want[10]["via"] = want[11]["via"] = "grpc"
    update_round(1, "batch")
    restart(s)  # a clean stop
    check()
    update_round(2, "strict")
    update_round(3, "default")
    restart(s, signal.SIGKILL)  # acknowledged updates come back from the log
    check()
    ok(http(s, "POST", "/api/collections/up_d/snapshot"))
    update_round(4, "batch")
    restart(s, signal.SIGKILL)  # a checkpoint, then the log after it
    check()
    ok(http(s, "POST", "/api/collections/up_d/rebuild"))
    assert ok(http(s, "GET", "/api/collections/up_d/stats"))["deleted_count"] == 0
    check()
    update_round(5, "batch")
    restart(s, signal.SIGKILL)
    check()


def test_later_release_client_updates_one_point(srv, db, pb):
    """The later releases' request (collection, id, metadata, typed_metadata at 4) merges, and
    our reply reads as their StatusResponse."""
    P, stub = db
    create(srv, "up_later")
    fill(srv, "up_later", 3)
    req = P.UpdatePayloadRequest(collection="up_later", id=2, metadata={"a": "x"},
                                 typed_metadata={"b": P.MetadataValue(bool_value=True)})
    data = req.SerializeToString()
    assert all(n < 1000 for n in wire_numbers(data))
    with grpc.insecure_channel(srv.grpc_target) as ch:
        call = ch.unary_unary("/hyperspace.Database/UpdatePayload",
                              request_serializer=lambda b: b, response_deserializer=lambda b: b)
        reply = call(data, timeout=20)
    assert P.StatusResponse.FromString(reply).status == "Payload for id=2 updated."
    got = ok(http(srv, "GET", "/api/collections/up_later/points/2"))
    assert got["typed_metadata"] == {"color": "red", "n": 2, "a": "x", "b": True}


def wire_numbers(data):
    """The top-level field numbers of a protobuf message's bytes."""
    out, i = [], 0
    while i < len(data):
        key, i = varint(data, i)
        out.append(key >> 3)
        wt = key & 7
        if wt == 0:
            _, i = varint(data, i)
        elif wt == 1:
            i += 8
        elif wt == 2:
            n, i = varint(data, i)
            i += n
        elif wt == 5:
            i += 4
    return out


def varint(data, i):
    v = shift = 0
    while True:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i
