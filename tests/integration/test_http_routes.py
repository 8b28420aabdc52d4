"""Every route of http.md section 6 on one real server per module: success status, member names
and order, paging (scroll next_cursor, peek X-Next-Cursor), digest invariants, usage, status and
metrics shapes, and persistence across a graceful restart.

Every test names its own collections, so the tests of this module share one server."""
import decimal
import http.client as hc
import json
import glob
import os
import re
import signal
import struct
import urllib.request

import pytest

from conftest import Server, http, finish, ok, short_id

DIGEST_KEYS = ["collection_name", "logical_clock", "vector_count", "count", "state_hash",
               "state_hash_hex", "buckets"]
STATS_KEYS = ["count", "dimension", "metric", "quantization", "indexing_queue", "deleted_count",
              "memory_bytes", "resident_bytes", "loaded", "m", "ef_construction", "ef_search",
              "oversampling", "frozen"]
INFO_KEYS = DIGEST_KEYS + ["name"] + STATS_KEYS[1:]
LIST_KEYS = ["name", "count", "dimension", "metric", "quantization", "indexing_queue",
             "deleted_count", "loaded"]
CREATE_KEYS = ["name", "dimension", "metric", "quantization", "m", "ef_construction", "ef_search",
               "oversampling", "logical_clock"]


@pytest.fixture(scope="module")
def srv():
    # non-default server defaults, so /api/status and implicit `default` creation can be checked
    s = Server(env={"HS_DIMENSION": "4", "HS_METRIC": "l2"}).start()
    yield s
    finish(s)


@pytest.fixture(autouse=True)
def still_alive(srv):
    yield
    assert srv.proc is not None and srv.proc.poll() is None, "server died:\n" + srv.output()[-5000:]


def f32(x):
    """x rounded to float32 and widened back (the stored form of l2/cosine components, B3.1)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def create(s, name, dim=2, metric="l2", headers=None, **extra):
    body = dict(name=name, dimension=dim, metric=metric, **extra)
    return ok(http(s, "POST", "/api/collections", body, headers=headers), 201)


def node_clock(s):
    return ok(http(s, "GET", "/api/cluster/status"))["logical_clock"]


def digest(s, name, headers=None):
    return ok(http(s, "GET", "/api/collections/%s/digest" % name, headers=headers))


def assert_json_headers(h):
    assert h["content-type"] == "application/json"
    assert h["x-content-type-options"] == "nosniff"


# ---- 6.2 / 6.1 / 6.3 / 6.5 / 6.6 / 6.4: collections --------------------------------------------

def test_create_collection_201_location_and_effective_values(srv):
    before = node_clock(srv)
    st, h, body = http(srv, "POST", "/api/collections",
                       {"name": "r_create", "dimension": 3, "metric": "euclidean",
                        "quantization": "scalar", "m": 8, "ef_construction": 50,
                        "ef_search": 0})
    assert st == 201, body
    assert h["location"] == "/api/collections/r_create"
    assert_json_headers(h)
    assert list(body) == CREATE_KEYS
    assert body["name"] == "r_create" and body["dimension"] == 3
    assert body["metric"] == "l2"  # `euclidean` is reported as l2 (B1.2)
    assert body["quantization"] == "scalar"
    assert (body["m"], body["ef_construction"], body["ef_search"]) == (8, 50, 100)
    # a create is one logged operation: exactly one tick of the node clock (B2.7)
    assert body["logical_clock"] == before + 1
    assert node_clock(srv) == before + 1


def test_list_collections_sorted_per_tenant_with_shape(srv):
    t = {"x-hyperspace-user-id": "t_list"}
    for name in ("b_list", "a_list", "B_list"):
        create(srv, name, headers=t)
    ok(http(srv, "POST", "/api/collections/a_list/insert/batch",
            {"vectors": [{"id": 1, "vector": [1, 2]}, {"id": 2, "vector": [3, 4]}]}, headers=t))
    st, h, body = http(srv, "GET", "/api/collections", headers=t)
    assert st == 200
    assert_json_headers(h)
    assert [c["name"] for c in body] == ["B_list", "a_list", "b_list"]  # byte order
    for c in body:
        assert list(c) == LIST_KEYS
        assert isinstance(c["loaded"], bool)
    a = body[1]
    assert (a["count"], a["dimension"], a["metric"], a["quantization"]) == (2, 2, "l2", "none")
    # the default tenant does not see them, and sees its own `default`
    names = [c["name"] for c in ok(http(srv, "GET", "/api/collections"))]
    assert "default" in names and not {"b_list", "a_list", "B_list"} & set(names)
    assert names == sorted(names)


def test_digest_matches_the_spec_test_vectors_and_info_is_digest_plus_stats(srv):
    create(srv, "r_digest")
    d = digest(srv, "r_digest")
    assert list(d) == DIGEST_KEYS
    assert d["buckets"] == [0] * 256 and d["state_hash"] == 0
    assert d["state_hash_hex"] == "0000000000000000" and d["count"] == d["vector_count"] == 0
    clock = 0
    for pid, vec in ((1, [0.1, 0.2]), (257, [0.3, 0.4]), (2, [0.5, 0.5])):
        clock = ok(http(srv, "POST", "/api/collections/r_digest/insert",
                        {"id": pid, "vector": vec}))["logical_clock"]
    d = digest(srv, "r_digest")
    # grpc.md section 6.3 test vectors
    assert d["buckets"][1] == 18343525301270058074
    assert d["buckets"][2] == 2904191119292430209
    assert d["state_hash"] == 15482400790564529115
    assert d["count"] == d["vector_count"] == 3
    assert d["logical_clock"] == clock  # the collection clock
    assert d["collection_name"] == "r_digest"
    assert len(d["buckets"]) == 256 and all(isinstance(b, int) for b in d["buckets"])
    x = 0
    for b in d["buckets"]:
        x ^= b
    assert x == d["state_hash"]
    assert d["state_hash_hex"] == format(d["state_hash"], "016x")

    body = ok(http(srv, "DELETE", "/api/collections/r_digest/points/257"))
    d = digest(srv, "r_digest")
    assert d["buckets"][1] == 9648031006592018859
    assert d["state_hash"] == 12513660011082931754
    assert d["state_hash_hex"] == format(d["state_hash"], "016x")
    assert d["count"] == 2 and d["logical_clock"] == body["logical_clock"] == clock + 1

    st, h, info = http(srv, "GET", "/api/collections/r_digest")
    assert st == 200
    assert_json_headers(h)
    assert list(info) == INFO_KEYS
    assert {k: info[k] for k in DIGEST_KEYS} == d
    assert info["name"] == "r_digest" and info["loaded"] is True
    assert (info["dimension"], info["metric"], info["quantization"]) == (2, "l2", "none")
    assert (info["m"], info["ef_construction"], info["ef_search"]) == (16, 100, 100)

    stats = ok(http(srv, "GET", "/api/collections/r_digest/stats"))
    assert list(stats) == STATS_KEYS
    assert stats["count"] == 2
    for k in ("dimension", "metric", "quantization", "m", "ef_construction", "ef_search"):
        assert stats[k] == info[k]


def test_delete_collection_204_then_404(srv):
    create(srv, "r_drop")
    st, h, body = http(srv, "DELETE", "/api/collections/r_drop")
    assert st == 204 and body is None
    assert h["x-content-type-options"] == "nosniff"
    for method, path in (("GET", "/api/collections/r_drop"), ("DELETE", "/api/collections/r_drop"),
                         ("GET", "/api/collections/r_drop/stats")):
        st, _, body = http(srv, method, path)
        assert st == 404, (method, path, body)
        assert body == {"error": {"code": "COLLECTION_NOT_FOUND",
                                  "message": "Collection 'r_drop' not found"}}
    assert "r_drop" not in [c["name"] for c in ok(http(srv, "GET", "/api/collections"))]
    # the name is free again at once (B7.5)
    create(srv, "r_drop", dim=3)
    assert ok(http(srv, "GET", "/api/collections/r_drop/stats"))["dimension"] == 3


# ---- 6.7 config ---------------------------------------------------------------------------------

def test_patch_config(srv):
    create(srv, "r_cfg")
    clock = digest(srv, "r_cfg")["logical_clock"]
    st, h, body = http(srv, "PATCH", "/api/collections/r_cfg/config", {"ef_search": 200})
    assert st == 200
    assert_json_headers(h)
    assert list(body) == ["name", "m", "ef_construction", "ef_search"]
    assert body == {"name": "r_cfg", "m": 16, "ef_construction": 100, "ef_search": 200}
    body = ok(http(srv, "PATCH", "/api/collections/r_cfg/config", {"ef_construction": 400}))
    assert body == {"name": "r_cfg", "m": 16, "ef_construction": 400, "ef_search": 200}
    body = ok(http(srv, "PATCH", "/api/collections/r_cfg/config", {}))
    assert body == {"name": "r_cfg", "m": 16, "ef_construction": 400, "ef_search": 200}
    stats = ok(http(srv, "GET", "/api/collections/r_cfg/stats"))
    assert (stats["ef_construction"], stats["ef_search"]) == (400, 200)
    st, _, body = http(srv, "PATCH", "/api/collections/r_cfg/config", {"ef_search": 0})
    assert st == 400 and body == {"error": {
        "code": "INVALID_PARAMETER", "message": "ef_search must be between 1 and 10000 (got 0)"}}
    st, _, body = http(srv, "PATCH", "/api/collections/r_cfg/config",
                       {"ef_construction": 10001})
    assert st == 400 and body["error"] == {
        "code": "INVALID_PARAMETER",
        "message": "ef_construction must be between 1 and 10000 (got 10001)"}
    # Configure never ticks (B2.7)
    assert digest(srv, "r_cfg")["logical_clock"] == clock


# ---- 6.8 / 6.9 writes ---------------------------------------------------------------------------

def test_insert_reply_clock_and_upsert_semantics(srv):
    c0 = create(srv, "r_ins", dim=3)["logical_clock"]
    st, h, body = http(srv, "POST", "/api/collections/r_ins/insert",
                       {"id": 7, "vector": [0.1, 0.2, 0.3],
                        "metadata": {"title": "Apple iPhone 15", "price": 999},
                        "durability": "strict"})
    assert st == 200
    assert_json_headers(h)
    assert list(body) == ["upserted", "logical_clock"]
    assert body == {"upserted": 1, "logical_clock": c0 + 1}
    p = ok(http(srv, "GET", "/api/collections/r_ins/points/7"))
    assert list(p) == ["id", "vector", "metadata"]
    assert p["vector"] == [f32(0.1), f32(0.2), f32(0.3)]  # l2: float32 storage (B3.1)
    assert p["metadata"] == {"title": "Apple iPhone 15", "price": "999"}
    # upsert without metadata: metadata becomes empty, count unchanged (B2.1)
    body = ok(http(srv, "POST", "/api/collections/r_ins/insert", {"id": 7, "vector": [1, 2, 3]}))
    assert body == {"upserted": 1, "logical_clock": c0 + 2}
    p = ok(http(srv, "GET", "/api/collections/r_ins/points/7"))
    assert p == {"id": 7, "vector": [1, 2, 3], "metadata": {}}
    assert ok(http(srv, "POST", "/api/collections/r_ins/count"))["count"] == 1
    # integer fields accept integral numbers in any notation (http.md 4.3)
    raw = b'{"id":8e0,"vector":[1,1,1]}'
    ok(http(srv, "POST", "/api/collections/r_ins/insert", raw=raw,
            headers={"Content-Type": "application/json"}))
    raw = b'{"id":9.0,"vector":[1,1,1]}'
    ok(http(srv, "POST", "/api/collections/r_ins/insert", raw=raw,
            headers={"Content-Type": "application/json; charset=utf-8"}))
    got = ok(http(srv, "GET", "/api/collections/r_ins/points?ids=8,9&with_vector=false"))
    assert got == [{"id": 8, "metadata": {}}, {"id": 9, "metadata": {}}]
    # the largest id
    ok(http(srv, "POST", "/api/collections/r_ins/insert", {"id": 4294967295, "vector": [0, 0, 1]}))
    assert ok(http(srv, "GET", "/api/collections/r_ins/points/4294967295"))["id"] == 4294967295


def test_metadata_values_are_converted_to_text(srv):
    create(srv, "r_meta")
    raw = (b'{"id":1,"vector":[1,2],"metadata":{"a":100,"b":-0,"c":9.5,"d":100.0,"e":1e21,'
           b'"f":true,"g":false,"h":"x","i":0.1}}')
    ok(http(srv, "POST", "/api/collections/r_meta/insert", raw=raw,
            headers={"Content-Type": "application/json"}))
    p = ok(http(srv, "GET", "/api/collections/r_meta/points/1"))
    assert p["metadata"] == {"a": "100", "b": "0", "c": "9.5", "d": "100", "e": "1e+21",
                             "f": "true", "g": "false", "h": "x", "i": "0.1"}


def test_cosine_vectors_are_normalised_and_stored_as_float32(srv):
    create(srv, "r_cos", metric="cosine")
    ok(http(srv, "POST", "/api/collections/r_cos/insert", {"id": 5, "vector": [3, 4]}))
    p = ok(http(srv, "GET", "/api/collections/r_cos/points/5"))
    assert p["vector"] == [0.6000000238418579, 0.800000011920929]  # grpc.md 6.3


def test_insert_to_missing_default_creates_it_with_server_defaults(srv):
    t = {"x-hyperspace-user-id": "t_implicit"}
    st, _, body = http(srv, "GET", "/api/collections/default", headers=t)
    assert st == 404 and body["error"] == {"code": "COLLECTION_NOT_FOUND",
                                           "message": "Collection 'default' not found"}
    before = node_clock(srv)
    body = ok(http(srv, "POST", "/api/collections/default/insert",
                   {"id": 1, "vector": [1, 2, 3, 4]}, headers=t))
    # the implicit create is one logged operation, the upsert another (B7.1, B2.7)
    assert body == {"upserted": 1, "logical_clock": before + 2}
    stats = ok(http(srv, "GET", "/api/collections/default/stats", headers=t))
    assert (stats["count"], stats["dimension"], stats["metric"]) == (1, 4, "l2")
    # any other missing collection is not created
    st, _, body = http(srv, "POST", "/api/collections/nope/insert", {"id": 1, "vector": [1, 2]},
                       headers=t)
    assert st == 404 and body["error"] == {"code": "COLLECTION_NOT_FOUND",
                                           "message": "Collection 'nope' not found"}


def test_batch_insert_clock_empty_batch_and_later_entry_wins(srv):
    c0 = create(srv, "r_batch")["logical_clock"]
    body = ok(http(srv, "POST", "/api/collections/r_batch/insert/batch",
                   {"vectors": [{"id": 1, "vector": [0.1, 0.2], "metadata": {"cat": "a"}},
                                {"id": 2, "vector": [0.3, 0.2]},
                                {"id": 3, "vector": [0.5, 0.5]}],
                    "durability": "batch"}))
    assert list(body) == ["upserted", "logical_clock"]
    assert body == {"upserted": 3, "logical_clock": c0 + 3}  # n points take n ticks
    body = ok(http(srv, "POST", "/api/collections/r_batch/insert/batch", {"vectors": []}))
    assert body == {"upserted": 0, "logical_clock": c0 + 3}
    ok(http(srv, "POST", "/api/collections/r_batch/insert/batch",
            {"vectors": [{"id": 9, "vector": [1, 1], "metadata": {"v": "first"}},
                         {"id": 9, "vector": [2, 2], "metadata": {"v": "second"}}]}))
    assert ok(http(srv, "GET", "/api/collections/r_batch/points/9")) == {
        "id": 9, "vector": [2, 2], "metadata": {"v": "second"}}
    assert ok(http(srv, "POST", "/api/collections/r_batch/count")) == {"count": 4}


# ---- 6.10 / 6.11 search --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def searchable(srv):
    """B4.3's worked example plus two tied points."""
    create(srv, "r_search", dim=3)
    ok(http(srv, "POST", "/api/collections/r_search/insert/batch", {"vectors": [
        {"id": 1, "vector": [1, 2, 3], "metadata": {"price": "100", "cat": "a"}},
        {"id": 2, "vector": [4, 5, 6], "metadata": {"price": "200", "cat": "b"}},
        {"id": 3, "vector": [1, 2, 4], "metadata": {"price": "50", "cat": "a"}},
        {"id": 21, "vector": [9, 9, 9], "metadata": {"k": "tie"}},
        {"id": 20, "vector": [9, 9, 9], "metadata": {"k": "tie"}}]}))
    return "r_search"


def search(s, name, body, headers=None):
    return ok(http(s, "POST", "/api/collections/%s/search" % name, body, headers=headers))


def test_search_shape_order_and_distances(srv, searchable):
    st, h, res = http(srv, "POST", "/api/collections/r_search/search",
                      {"vector": [4, 5, 6], "top_k": 3})
    assert st == 200
    assert_json_headers(h)
    assert [list(r) for r in res] == [["id", "distance", "metadata"]] * 3  # no `score`
    assert [(r["id"], r["distance"]) for r in res] == [(2, 0), (3, 22), (1, 27)]
    assert res[2]["metadata"] == {"price": "100", "cat": "a"}
    # equal distances: ascending id (B3.2)
    res = search(srv, "r_search", {"vector": [9, 9, 9], "top_k": 2})
    assert [(r["id"], r["distance"]) for r in res] == [(20, 0), (21, 0)]
    # top_k absent or 0 means 10; exactly min(top_k, live points) results
    assert len(search(srv, "r_search", {"vector": [1, 1, 1]})) == 5
    assert len(search(srv, "r_search", {"vector": [1, 1, 1], "top_k": 0})) == 5
    assert len(search(srv, "r_search", {"vector": [1, 1, 1], "top_k": 10000})) == 5
    assert [r["id"] for r in search(srv, "r_search", {"vector": [1, 2, 3], "top_k": 1})] == [1]


@pytest.mark.parametrize("conds, expected", [
    ({"filters": [{"type": "range", "key": "price", "gte": 80}]}, {1, 2}),
    ({"filters": [{"type": "range", "key": "price", "lte": 150}]}, {1, 3}),
    ({"filters": [{"type": "range", "key": "price", "gte": 80, "lte": 150}]}, {1}),
    ({"filters": [{"type": "range", "key": "price", "gte": 80},
                  {"type": "match", "key": "cat", "value": "b"}]}, {2}),
    ({"filter": {"cat": "a"}}, {1, 3}),
    ({"filter": {"price": 100}}, {1}),
    ({"filters": [{"type": "range", "key": "price", "gte": 300, "lte": 10}]}, set()),
    ({"filters": [{"range": {"key": "price", "gte": "80", "lte": 150.0}}]}, {1}),
    ({"filters": [{"match": {"key": "cat", "value": "b"}}]}, {2}),
    ({"filters": [{"type": "range", "key": "price", "gte": None, "lte": None}]}, {1, 2, 3}),
    ({"filter": {"cat": "a"}, "filters": [{"type": "range", "key": "price", "lte": 60}]}, {3}),
    ({"filter": {"missing": "x"}}, set()),
], ids=short_id)
def test_search_filters(srv, searchable, conds, expected):
    res = search(srv, "r_search", dict(vector=[0, 0, 0], top_k=10, **conds))
    assert {r["id"] for r in res} == expected
    assert [r["distance"] for r in res] == sorted(r["distance"] for r in res)


def test_range_gte_above_lte_is_an_empty_200(srv, searchable):
    st, _, body = http(srv, "POST", "/api/collections/r_search/search",
                       {"vector": [1, 2, 3],
                        "filters": [{"type": "range", "key": "price", "gte": 10, "lte": 5}]})
    assert (st, body) == (200, [])


def test_search_batch(srv, searchable):
    st, h, res = http(srv, "POST", "/api/collections/r_search/search/batch", {"searches": [
        {"vector": [1, 2, 3], "top_k": 2},
        {"vector": [4, 5, 6], "top_k": 1, "filter": {"cat": "a"}, "collection": "elsewhere"},
        {"vector": [0, 0, 0], "filters": [{"type": "range", "key": "price", "gte": 9, "lte": 1}]},
    ]})
    assert st == 200
    assert_json_headers(h)
    assert isinstance(res, list) and len(res) == 3
    assert [[r["id"] for r in item] for item in res] == [[1, 3], [3], []]
    assert res[0][0] == {"id": 1, "distance": 0, "metadata": {"price": "100", "cat": "a"}}
    assert res[0][1]["distance"] == 1
    assert ok(http(srv, "POST", "/api/collections/r_search/search/batch", {"searches": []})) == []


# ---- 6.12 - 6.15 points -------------------------------------------------------------------------

def test_get_point_and_points_by_ids(srv, searchable):
    st, h, p = http(srv, "GET", "/api/collections/r_search/points/2")
    assert st == 200
    assert_json_headers(h)
    assert p == {"id": 2, "vector": [4, 5, 6], "metadata": {"price": "200", "cat": "b"}}
    assert list(p) == ["id", "vector", "metadata"]
    p = ok(http(srv, "GET", "/api/collections/r_search/points/2?with_vector=false"))
    assert list(p) == ["id", "metadata"]
    st, _, body = http(srv, "GET", "/api/collections/r_search/points/999")
    assert st == 404 and body == {"error": {
        "code": "POINT_NOT_FOUND", "message": "Point 999 not found in collection 'r_search'"}}
    # order of first request, each id once, missing ids skipped
    res = ok(http(srv, "GET", "/api/collections/r_search/points?ids=3,999,1,3,20,1,2"))
    assert [p["id"] for p in res] == [3, 1, 20, 2]
    assert all(list(p) == ["id", "vector", "metadata"] for p in res)
    assert res[0] == {"id": 3, "vector": [1, 2, 4], "metadata": {"price": "50", "cat": "a"}}
    res = ok(http(srv, "GET", "/api/collections/r_search/points?ids=21,20&with_vector=false"))
    assert res == [{"id": 21, "metadata": {"k": "tie"}}, {"id": 20, "metadata": {"k": "tie"}}]
    assert ok(http(srv, "GET", "/api/collections/r_search/points?ids=998,999")) == []


def test_delete_point(srv):
    create(srv, "r_delpt")
    c = ok(http(srv, "POST", "/api/collections/r_delpt/insert/batch", {"vectors": [
        {"id": i, "vector": [i, 1]} for i in range(1, 4)]}))["logical_clock"]
    st, h, body = http(srv, "DELETE", "/api/collections/r_delpt/points/2?durability=strict")
    assert st == 200
    assert_json_headers(h)
    assert list(body) == ["deleted", "logical_clock"]
    assert body == {"deleted": 1, "logical_clock": c + 1}
    # not live: not an error, nothing ticks
    body = ok(http(srv, "DELETE", "/api/collections/r_delpt/points/2"))
    assert body == {"deleted": 0, "logical_clock": c + 1}
    body = ok(http(srv, "DELETE", "/api/collections/r_delpt/points/4294967295"))
    assert body == {"deleted": 0, "logical_clock": c + 1}
    assert http(srv, "GET", "/api/collections/r_delpt/points/2")[0] == 404
    assert ok(http(srv, "POST", "/api/collections/r_delpt/count")) == {"count": 2}
    # an id that was deleted can be written again (B2.1)
    ok(http(srv, "POST", "/api/collections/r_delpt/insert", {"id": 2, "vector": [5, 5]}))
    assert ok(http(srv, "GET", "/api/collections/r_delpt/points/2"))["vector"] == [5, 5]


def test_points_delete_by_ids_and_by_filter(srv):
    create(srv, "r_pdel")
    c = ok(http(srv, "POST", "/api/collections/r_pdel/insert/batch", {"vectors": [
        {"id": i, "vector": [i, 0], "metadata": {"cat": "ab"[i % 2], "n": i}}
        for i in range(1, 11)]}))["logical_clock"]
    st, h, body = http(srv, "POST", "/api/collections/r_pdel/points/delete",
                       {"ids": [1, 2, 999, 2]})
    assert st == 200
    assert_json_headers(h)
    assert list(body) == ["deleted", "logical_clock"]
    assert body == {"deleted": 2, "logical_clock": c + 2}
    # odd ids have cat b: 3, 5, 7, 9 are live
    body = ok(http(srv, "POST", "/api/collections/r_pdel/points/delete",
                   {"filter": {"cat": "b"}, "durability": "strict"}))
    assert body == {"deleted": 4, "logical_clock": c + 6}
    body = ok(http(srv, "POST", "/api/collections/r_pdel/points/delete",
                   {"filters": [{"type": "range", "key": "n", "gte": 9}]}))
    assert body == {"deleted": 1, "logical_clock": c + 7}  # only 10 is left there
    body = ok(http(srv, "POST", "/api/collections/r_pdel/points/delete",
                   {"filter": {"cat": "zzz"}}))
    assert body == {"deleted": 0, "logical_clock": c + 7}
    left = ok(http(srv, "POST", "/api/collections/r_pdel/scroll", {}))["points"]
    assert [p["id"] for p in left] == [4, 6, 8]
    for bad, msg in (({"ids": [1], "filter": {"cat": "a"}},
                      "Provide exactly one of 'ids' or a filter"),
                     ({}, "Provide exactly one of 'ids' or a filter"),
                     ({"filter": {}}, "Delete by filter needs at least one condition"),
                     ({"filters": []}, "Delete by filter needs at least one condition")):
        st, _, body = http(srv, "POST", "/api/collections/r_pdel/points/delete", bad)
        assert st == 400 and body == {"error": {"code": "INVALID_ARGUMENT", "message": msg}}, bad
    assert ok(http(srv, "POST", "/api/collections/r_pdel/count")) == {"count": 3}


# ---- 6.16 / 6.17 / 6.18 scroll, count, peek ----------------------------------------------------

@pytest.fixture(scope="module")
def scrollable(srv):
    create(srv, "r_scroll")
    ids = [3 * i + 1 for i in range(25)]
    pts = [{"id": pid, "vector": [pid, 1], "metadata": {"cat": "ab"[pid % 2], "n": pid}}
           for pid in reversed(ids)]
    ok(http(srv, "POST", "/api/collections/r_scroll/insert/batch", {"vectors": pts}))
    return ids


def scroll_all(s, name, limit, **extra):
    seen, pages, cursor = [], [], None
    for _ in range(100):
        body = dict(limit=limit, **extra)
        if cursor is not None:
            body["cursor"] = cursor
        page = ok(http(s, "POST", "/api/collections/%s/scroll" % name, body))
        assert list(page) == ["points", "next_cursor"]
        assert len(page["points"]) <= limit
        pages.append(len(page["points"]))
        seen += page["points"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages
        assert isinstance(cursor, str)
    raise AssertionError("scroll never ended")


def test_scroll_pages_visit_every_point_once_in_id_order(srv, scrollable):
    seen, pages = scroll_all(srv, "r_scroll", 7)
    assert [p["id"] for p in seen] == sorted(scrollable)
    assert pages == [7, 7, 7, 4]
    # a page holding every remaining match ends with null, even when it is full
    seen, pages = scroll_all(srv, "r_scroll", 5)
    assert [p["id"] for p in seen] == sorted(scrollable) and pages == [5] * 5
    # defaults: limit 100, metadata without vectors
    st, h, body = http(srv, "POST", "/api/collections/r_scroll/scroll", {})
    assert st == 200
    assert_json_headers(h)
    assert body["next_cursor"] is None and len(body["points"]) == 25
    assert body["points"][0] == {"id": 1, "metadata": {"cat": "b", "n": "1"}}
    body = ok(http(srv, "POST", "/api/collections/r_scroll/scroll",
                   {"limit": 2, "with_vector": True, "with_metadata": False}))
    assert body["points"] == [{"id": 1, "vector": [1, 1]}, {"id": 4, "vector": [4, 1]}]
    # no body at all: every member is optional
    body = ok(http(srv, "POST", "/api/collections/r_scroll/scroll", raw=b"",
                   headers={"Content-Type": "application/json"}))
    assert len(body["points"]) == 25


def test_scroll_with_a_filter(srv, scrollable):
    want = sorted(i for i in scrollable if i % 2 == 0)
    seen, _ = scroll_all(srv, "r_scroll", 3, filter={"cat": "a"})
    assert [p["id"] for p in seen] == want
    seen, _ = scroll_all(srv, "r_scroll", 4,
                         filters=[{"type": "range", "key": "n", "gte": 10, "lte": 40}])
    assert [p["id"] for p in seen] == [i for i in sorted(scrollable) if 10 <= i <= 40]
    body = ok(http(srv, "POST", "/api/collections/r_scroll/scroll", {"filter": {"cat": "zz"}}))
    assert body == {"points": [], "next_cursor": None}


def test_count(srv, scrollable):
    st, h, body = http(srv, "POST", "/api/collections/r_scroll/count", {})
    assert st == 200
    assert_json_headers(h)
    assert body == {"count": 25}
    assert ok(http(srv, "POST", "/api/collections/r_scroll/count", raw=b"",
                   headers={"Content-Type": "application/json"})) == {"count": 25}
    n_a = sum(1 for i in scrollable if i % 2 == 0)
    assert ok(http(srv, "POST", "/api/collections/r_scroll/count",
                   {"filter": {"cat": "a"}})) == {"count": n_a}
    n_range = sum(1 for i in scrollable if 10 <= i <= 40)
    assert ok(http(srv, "POST", "/api/collections/r_scroll/count",
                   {"filters": [{"type": "range", "key": "n", "gte": 10, "lte": 40}]})) == \
        {"count": n_range}
    assert ok(http(srv, "POST", "/api/collections/r_scroll/count",
                   {"filter": {"cat": "a"},
                    "filters": [{"match": {"key": "n", "value": 4}}]})) == {"count": 1}
    assert ok(http(srv, "POST", "/api/collections/r_scroll/count",
                   {"filters": [{"type": "range", "key": "n", "gte": 5, "lte": 4}]})) == \
        {"count": 0}


def test_peek_triples_most_recent_first_with_cursor_paging(srv):
    create(srv, "r_peek")
    st, h, body = http(srv, "GET", "/api/collections/r_peek/peek")
    assert (st, body) == (200, [])
    assert "x-next-cursor" not in h
    for pid in (1, 2, 3):
        ok(http(srv, "POST", "/api/collections/r_peek/insert",
                {"id": pid, "vector": [pid, 0.5], "metadata": {"tag": str(pid)}}))
    st, h, body = http(srv, "GET", "/api/collections/r_peek/peek")
    assert st == 200
    assert_json_headers(h)
    assert body == [[3, [3, 0.5], {"tag": "3"}], [2, [2, 0.5], {"tag": "2"}],
                    [1, [1, 0.5], {"tag": "1"}]]
    assert "x-next-cursor" not in h
    st, h, body = http(srv, "GET", "/api/collections/r_peek/peek?limit=2")
    assert [t[0] for t in body] == [3, 2]
    cur = h["x-next-cursor"]
    st, h, body = http(srv, "GET", "/api/collections/r_peek/peek?limit=2&cursor=" + cur)
    assert st == 200 and [t[0] for t in body] == [1] and "x-next-cursor" not in h
    # a rewritten point moves to the front
    ok(http(srv, "POST", "/api/collections/r_peek/insert", {"id": 1, "vector": [9, 9]}))
    body = ok(http(srv, "GET", "/api/collections/r_peek/peek"))
    assert body[0] == [1, [9, 9], {}] and [t[0] for t in body] == [1, 3, 2]
    # limit is clamped to 1..100
    body = ok(http(srv, "GET", "/api/collections/r_peek/peek?limit=0"))
    assert [t[0] for t in body] == [1]


def test_peek_limit_clamp_and_full_paging(srv):
    create(srv, "r_peek2")
    ids = list(range(500, 620))  # 120 points, written in this order by one batch
    ok(http(srv, "POST", "/api/collections/r_peek2/insert/batch",
            {"vectors": [{"id": i, "vector": [i, 1]} for i in ids]}))
    st, h, body = http(srv, "GET", "/api/collections/r_peek2/peek?limit=1000")
    assert st == 200 and len(body) == 100 and "x-next-cursor" in h
    assert [t[0] for t in body] == list(reversed(ids))[:100]
    st, h, body = http(srv, "GET", "/api/collections/r_peek2/peek")
    assert len(body) == 50  # default
    seen, cursor = [], None
    for _ in range(20):
        path = "/api/collections/r_peek2/peek?limit=33"
        if cursor:
            path += "&cursor=" + cursor
        st, h, body = http(srv, "GET", path)
        assert st == 200 and len(body) <= 33
        seen += [t[0] for t in body]
        cursor = h.get("x-next-cursor")
        if not cursor:
            break
    assert seen == list(reversed(ids))


# ---- 6.19 - 6.23 maintenance and usage ---------------------------------------------------------

def test_rebuild_and_snapshots_keep_the_digest(srv):
    create(srv, "r_maint")
    c = ok(http(srv, "POST", "/api/collections/r_maint/insert/batch", {"vectors": [
        {"id": i, "vector": [i, -i]} for i in range(12)]}))["logical_clock"]
    ok(http(srv, "DELETE", "/api/collections/r_maint/points/3"))
    before = digest(srv, "r_maint")
    st, h, body = http(srv, "POST", "/api/collections/r_maint/rebuild")
    assert st == 200
    assert_json_headers(h)
    assert list(body) == ["status", "collection", "count"]
    assert body == {"status": "Index rebuilt and reloaded successfully", "collection": "r_maint",
                    "count": 11}
    assert digest(srv, "r_maint") == before
    assert ok(http(srv, "GET", "/api/collections/r_maint/stats"))["deleted_count"] == 0
    body = ok(http(srv, "POST", "/api/collections/r_maint/snapshot"))
    assert list(body) == ["status", "collection", "logical_clock"]
    assert body == {"status": "Snapshot completed", "collection": "r_maint",
                    "logical_clock": c + 1}
    body = ok(http(srv, "POST", "/api/admin/snapshot"))
    assert list(body) == ["status", "collections"]
    n = body["collections"]
    assert isinstance(n, int) and n >= 1
    assert body["status"] == "Snapshot completed for %d collections" % n
    assert digest(srv, "r_maint") == before
    res = search(srv, "r_maint", {"vector": [5, -5], "top_k": 1})
    assert res == [{"id": 5, "distance": 0, "metadata": {}}]


def test_vacuum(srv):
    create(srv, "r_vac")
    ok(http(srv, "POST", "/api/collections/r_vac/insert/batch", {"vectors": [
        {"id": i, "vector": [i, 2 * i + 1]} for i in range(20)]}))
    ok(http(srv, "POST", "/api/collections/r_vac/points/delete", {"ids": [1, 2, 3, 4]}))
    before = digest(srv, "r_vac")
    st, h, body = http(srv, "POST", "/api/admin/vacuum")
    assert st == 200
    assert_json_headers(h)
    assert list(body) == ["status", "message", "collections_compacted", "entries_reclaimed"]
    assert body["status"] == "Success"
    assert body["message"] == "Vacuum completed: %d collections compacted, %d entries reclaimed" % (
        body["collections_compacted"], body["entries_reclaimed"])
    assert body["collections_compacted"] >= 1
    stats = ok(http(srv, "GET", "/api/collections/r_vac/stats"))
    assert stats["deleted_count"] == 0 and stats["count"] == 16
    assert digest(srv, "r_vac") == before
    for i in (0, 7, 19):
        res = search(srv, "r_vac", {"vector": [i, 2 * i + 1], "top_k": 1})
        assert res[0]["id"] == i and res[0]["distance"] == 0


def test_usage_per_tenant(srv):
    create(srv, "u1", headers={"x-hyperspace-user-id": "acme_usage"})
    ok(http(srv, "POST", "/api/collections/u1/insert/batch",
            {"vectors": [{"id": i, "vector": [i, 1]} for i in range(3)], "durability": "strict"},
            headers={"x-hyperspace-user-id": "acme_usage"}))
    for n in ("u1", "u2"):
        create(srv, n, headers={"x-hyperspace-user-id": "zeta_usage"})
    st, h, body = http(srv, "GET", "/api/admin/usage")
    assert st == 200
    assert_json_headers(h)
    assert list(body) == sorted(body)
    assert "default_admin" in body and "acme_usage" in body and "zeta_usage" in body
    for v in body.values():
        assert list(v)[:3] == ["collection_count", "vector_count", "disk_usage_bytes"]
        assert list(v)[3:] == ["loaded_collections", "deleted_count", "ram_usage_bytes",
                               "max_collections"]
    assert body["acme_usage"]["collection_count"] == 1
    assert body["acme_usage"]["vector_count"] == 3
    assert body["acme_usage"]["disk_usage_bytes"] > 0
    assert body["zeta_usage"]["collection_count"] == 2
    assert body["zeta_usage"]["vector_count"] == 0
    # figures agree with the node-wide metrics
    m = ok(http(srv, "GET", "/api/metrics"))
    assert m["total_collections"] == sum(v["collection_count"] for v in body.values())
    assert m["total_vectors"] == sum(v["vector_count"] for v in body.values())


# ---- 6.24 - 6.31 node routes --------------------------------------------------------------------

def test_cluster_status_and_promote_on_a_leader(srv):
    st, h, body = http(srv, "GET", "/api/cluster/status")
    assert st == 200
    assert_json_headers(h)
    # the spec's members in its order, then a leader's followers (docs/api/http.md)
    assert list(body) == ["node_id", "role", "upstream_peer", "downstream_peers", "logical_clock",
                          "replication", "followers", "epoch"]
    assert body["followers"] == []
    # a leader writes in an epoch of its own, begun after everything it holds
    assert list(body["epoch"]) == ["id", "start"] and len(body["epoch"]["id"]) == 16
    assert 1 <= body["epoch"]["start"] <= body["logical_clock"] + 1
    assert body["role"] == "Leader" and body["upstream_peer"] is None
    assert body["downstream_peers"] == [] and body["replication"] is None
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        body["node_id"])
    clock = body["logical_clock"]
    st, h, p = http(srv, "POST", "/api/cluster/promote")
    assert st == 200
    assert list(p) == ["role", "previous_role", "node_id", "logical_clock"]
    assert p == {"role": "Leader", "previous_role": "Leader", "node_id": body["node_id"],
                 "logical_clock": clock}  # promotion never ticks
    assert ok(http(srv, "GET", "/api/cluster/status"))["role"] == "Leader"


def test_api_status(srv):
    st, h, body = http(srv, "GET", "/api/status")
    assert st == 200
    assert_json_headers(h)
    assert list(body) == ["status", "version", "uptime", "uptime_seconds", "config", "embedding",
                          "role", "node_id"]
    assert body["status"] == "ONLINE" and body["version"] == "2.0.0"
    assert body["config"] == {"dimension": 4, "metric": "l2", "quantization": "none"}
    assert list(body["config"]) == ["dimension", "metric", "quantization"]
    assert body["embedding"] is None and body["role"] == "Leader"
    assert body["node_id"] == ok(http(srv, "GET", "/api/cluster/status"))["node_id"]
    up = body["uptime_seconds"]
    assert isinstance(up, int) and up >= 0
    if up < 60:
        assert body["uptime"] == "%ds" % up
    elif up < 3600:
        assert body["uptime"] == "%dm %ds" % (up // 60, up % 60)


def test_api_metrics(srv):
    st, h, body = http(srv, "GET", "/api/metrics")
    assert st == 200
    assert_json_headers(h)
    assert list(body) == ["total_vectors", "active_collections", "idle_collections",
                          "total_collections", "ram_usage_mb", "cpu_usage_percent",
                          "disk_usage_mb", "qps", "uptime_seconds"]
    for k in ("total_vectors", "active_collections", "idle_collections", "total_collections",
              "ram_usage_mb", "cpu_usage_percent", "disk_usage_mb", "uptime_seconds"):
        assert isinstance(body[k], int) and body[k] >= 0, k
    assert body["total_collections"] == body["active_collections"] + body["idle_collections"]
    assert 0 <= body["cpu_usage_percent"] <= 100
    assert body["ram_usage_mb"] >= 1
    assert isinstance(body["qps"], (int, float)) and body["qps"] >= 0


def parse_prometheus(text):
    """{family: {"help": n, "type": [..]}}, the sample lines, and the order of TYPE lines."""
    fams, samples, order = {}, [], []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            fams.setdefault(name, {"help": 0, "type": []})["help"] += 1
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            fams.setdefault(name, {"help": 0, "type": []})["type"].append(typ)
            order.append(name)
        elif line and not line.startswith("#"):
            m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)', line)
            assert m, "bad sample line: %r" % line
            float(m.group(3))
            samples.append((m.group(1), m.group(2) or "", m.group(3)))
    return fams, samples, order


def family_of(sample_name, fams):
    if sample_name in fams:
        return sample_name
    for suf in ("_bucket", "_sum", "_count"):
        if sample_name.endswith(suf) and sample_name[:-len(suf)] in fams:
            return sample_name[:-len(suf)]
    return None


def prometheus(s, headers=None):
    st, h, text = http(s, "GET", "/metrics", headers=headers)
    assert st == 200, text
    assert h["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert h["x-content-type-options"] == "nosniff"
    return text


def test_prometheus_text_format(srv, searchable):
    search(srv, "r_search", {"vector": [1, 2, 3]})
    fams, samples, order = parse_prometheus(prometheus(srv))
    for name, f in fams.items():
        assert f["help"] == 1 and len(f["type"]) == 1, name
    assert order[:6] == ["hyperspace_active_collections", "hyperspace_idle_collections",
                         "hyperspace_total_vectors", "hyperspace_ram_usage_mb",
                         "hyperspace_disk_usage_mb", "hyperspace_cpu_usage_percent"]
    for name in order[:6]:
        assert fams[name]["type"] == ["gauge"]
    for name, _, _ in samples:
        assert family_of(name, fams), "sample %s has no HELP/TYPE" % name
    vals = {(n, l): v for n, l, v in samples}
    assert vals[("hyperspace_collection_points",
                 '{tenant="default_admin",collection="r_search"}')] == "5"
    assert int(vals[("hyperspace_collection_searches_total",
                     '{tenant="default_admin",collection="r_search"}')]) >= 1
    assert any(n == "hyperspace_requests_total" and 'transport="http"' in l and
               'method="POST /api/collections/{name}/search"' in l and 'status="200"' in l
               for n, l, _ in samples)
    assert any(n == "hyperspace_info" for n, _, _ in samples)
    # histogram series: every bucket of the spec, cumulative, +Inf == _count
    les = [re.search(r'le="([^"]+)"', l).group(1) for n, l, _ in samples
           if n == "hyperspace_collection_search_duration_seconds_bucket" and
           'collection="r_search"' in l]
    assert les == ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                   "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
    counts = [int(v) for n, l, v in samples
              if n == "hyperspace_collection_search_duration_seconds_bucket" and
              'collection="r_search"' in l]
    assert counts == sorted(counts)
    assert counts[-1] == int(vals[("hyperspace_collection_search_duration_seconds_count",
                                   '{tenant="default_admin",collection="r_search"}')])


CORE_FAMILIES = {
    "hyperspace_info": "gauge", "hyperspace_uptime_seconds": "gauge",
    "hyperspace_logical_clock": "gauge", "hyperspace_collection_points": "gauge",
    "hyperspace_collection_deleted_points": "gauge",
    "hyperspace_collection_indexing_queue": "gauge", "hyperspace_collection_loaded": "gauge",
    "hyperspace_collection_memory_bytes": "gauge",
    "hyperspace_collection_searches_total": "counter",
    "hyperspace_collection_upserts_total": "counter",
    "hyperspace_collection_deletes_total": "counter",
    "hyperspace_collection_search_duration_seconds": "histogram",
    "hyperspace_collection_loads_total": "counter",
    "hyperspace_collection_load_duration_seconds": "histogram",
    "hyperspace_collection_evictions_total": "counter", "hyperspace_requests_total": "counter",
    "hyperspace_request_duration_seconds": "histogram",
    "hyperspace_auth_failures_total": "counter", "hyperspace_wal_fsyncs_total": "counter",
    "hyperspace_wal_fsync_duration_seconds": "histogram",
    "hyperspace_wal_fsync_failures_total": "counter", "hyperspace_snapshots_total": "counter",
    "process_resident_memory_bytes": "gauge", "process_cpu_seconds_total": "counter",
    "process_open_fds": "gauge", "process_start_time_seconds": "gauge",
}
REPLICATION_FAMILIES = {
    "hyperspace_replication_followers": "gauge",
    "hyperspace_replication_records_sent_total": "counter",
    "hyperspace_replication_connected": "gauge", "hyperspace_replication_watermark": "gauge",
    "hyperspace_replication_records_applied_total": "counter",
    "hyperspace_replication_errors_total": "counter",
}


def test_prometheus_has_every_node_family_of_the_spec(srv, searchable):
    fams, _, _ = parse_prometheus(prometheus(srv))
    missing = {n: t for n, t in CORE_FAMILIES.items() if fams.get(n, {}).get("type") != [t]}
    assert not missing, "missing or mistyped families: %s" % sorted(missing)


def test_prometheus_has_the_replication_families(srv):
    fams, _, _ = parse_prometheus(prometheus(srv))
    missing = {n: t for n, t in REPLICATION_FAMILIES.items()
               if fams.get(n, {}).get("type") != [t]}
    assert not missing, "missing or mistyped families: %s" % sorted(missing)


def test_per_collection_series_disappear_with_the_collection(srv):
    create(srv, "r_prom")
    ok(http(srv, "POST", "/api/collections/r_prom/insert", {"id": 1, "vector": [1, 1]}))
    search(srv, "r_prom", {"vector": [1, 1]})
    text = prometheus(srv)
    assert 'hyperspace_collection_points{tenant="default_admin",collection="r_prom"} 1' in text
    assert 'hyperspace_collection_upserts_total{tenant="default_admin",collection="r_prom"} 1' \
        in text
    ok(http(srv, "DELETE", "/api/collections/r_prom"), 204)
    assert 'collection="r_prom"' not in prometheus(srv)


def test_api_logs(srv):
    st, h, body = http(srv, "GET", "/api/logs?limit=1000")
    assert st == 200
    assert_json_headers(h)
    assert isinstance(body, list) and body and all(isinstance(x, str) for x in body)
    pat = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN|INFO|DEBUG) .*")
    assert all(pat.fullmatch(x) for x in body), body[:5]
    assert any(x.endswith("INFO HTTP listening on 127.0.0.1:%d" % srv.http_port) for x in body)
    stamps = [x.split(" ", 1)[0] for x in body]
    assert stamps == sorted(stamps)  # oldest first
    # the same text the process writes to stdout
    out = srv.output()
    assert body[-1] in out and body[0] in out
    tail = ok(http(srv, "GET", "/api/logs?limit=2"))
    assert len(tail) == 2
    assert len(ok(http(srv, "GET", "/api/logs"))) <= 100
    assert len(ok(http(srv, "GET", "/api/logs?limit=0"))) == 1  # clamped to 1..1000


def test_healthz_readyz_and_head(srv):
    st, h, body = http(srv, "GET", "/healthz")
    assert (st, body) == (200, {"status": "ok"})
    assert_json_headers(h)
    st, h, body = http(srv, "GET", "/readyz")
    assert (st, body) == (200, {"status": "ready", "role": "Leader", "quarantined_collections": 0})
    assert list(body) == ["status", "role", "quarantined_collections"]
    # HEAD: same status and headers as GET, no body
    for path, want in (("/healthz", 200), ("/api/collections", 200), ("/api/status", 200),
                       ("/api/collections/no_such", 404)):
        gst, gh, _ = http(srv, "GET", path)
        hst, hh, hbody = http(srv, "HEAD", path)
        assert hst == gst == want and hbody is None, path
        assert hh.get("content-type") == gh.get("content-type")
        assert hh["x-content-type-options"] == "nosniff"


def test_static_paths_need_no_key_and_serve_the_dashboard_or_404_text(srv):
    for path in ("/", "/index.html", "/some/client/route"):
        st, h, body = http(srv, "GET", path)
        assert h["x-content-type-options"] == "nosniff"
        if st == 200:
            assert h["content-type"].startswith("text/html")
        else:
            assert st == 404 and h["content-type"].startswith("text/plain")
            assert body == "Dashboard not built"


# ---- persistence --------------------------------------------------------------------------------

def test_http_writes_survive_a_graceful_restart(server_factory):
    s = server_factory(env={"HS_DIMENSION": "8"})
    node = ok(http(s, "GET", "/api/status"))["node_id"]
    create(s, "persist", dim=3, metric="cosine", quantization="scalar", ef_search=77)
    ok(http(s, "POST", "/api/collections/persist/insert/batch", {"vectors": [
        {"id": i, "vector": [i + 1, 2, 3], "metadata": {"n": i}} for i in range(30)]}))
    ok(http(s, "POST", "/api/collections/persist/insert",
            {"id": 100, "vector": [1, 0, 0], "metadata": {"k": "v"}, "durability": "async"}))
    ok(http(s, "DELETE", "/api/collections/persist/points/5"))
    t = {"x-hyperspace-user-id": "t_persist"}
    create(s, "other", headers=t)
    ok(http(s, "POST", "/api/collections/other/insert", {"id": 1, "vector": [1, 2]}, headers=t))
    d1 = digest(s, "persist")
    p1 = ok(http(s, "GET", "/api/collections/persist/points/100"))
    clock1 = node_clock(s)
    assert s.stop(signal.SIGTERM) == 0

    s2 = server_factory(data_dir=s.data_dir, env={"HS_DIMENSION": "8"})
    assert digest(s2, "persist") == d1
    assert ok(http(s2, "GET", "/api/collections/persist/points/100")) == p1
    assert http(s2, "GET", "/api/collections/persist/points/5")[0] == 404
    assert ok(http(s2, "POST", "/api/collections/persist/count")) == {"count": 30}
    stats = ok(http(s2, "GET", "/api/collections/persist/stats"))
    assert (stats["metric"], stats["quantization"], stats["ef_search"]) == \
        ("cosine", "scalar", 77)
    assert ok(http(s2, "GET", "/api/collections/other/points/1", headers=t))["vector"] == [1, 2]
    assert node_clock(s2) >= clock1
    assert ok(http(s2, "GET", "/api/status"))["node_id"] == node
    # a write after the restart ticks past every earlier clock
    body = ok(http(s2, "POST", "/api/collections/persist/insert", {"id": 200, "vector": [1, 1, 1]}))
    assert body["logical_clock"] > clock1


def test_list_and_stats_serve_cold_collections_without_loading_them(server_factory):
    s = server_factory()
    create(s, "cold", quantization="binary")
    ok(http(s, "POST", "/api/collections/cold/insert/batch", {"vectors": [
        {"id": i, "vector": [i, 1]} for i in range(5)]}))
    ok(http(s, "DELETE", "/api/collections/cold/points/1"))
    assert s.stop() == 0
    s2 = server_factory(data_dir=s.data_dir)
    for _ in range(2):  # polling list and stats never loads (B7.2)
        body = ok(http(s2, "GET", "/api/collections"))
        entry = [c for c in body if c["name"] == "cold"][0]
        assert list(entry) == LIST_KEYS
        assert (entry["count"], entry["quantization"], entry["indexing_queue"],
                entry["loaded"]) == (4, "binary", 0, False)
        stats = ok(http(s2, "GET", "/api/collections/cold/stats"))
        assert (stats["count"], stats["loaded"], stats["memory_bytes"], stats["indexing_queue"]) \
            == (4, False, 0, 0)
    m = ok(http(s2, "GET", "/api/metrics"))
    assert m["active_collections"] == 0 and m["total_vectors"] == 4
    assert ok(http(s2, "POST", "/api/collections/cold/count", {})) == {"count": 4}  # loads
    stats = ok(http(s2, "GET", "/api/collections/cold/stats"))
    assert stats["loaded"] is True and stats["memory_bytes"] > 0


def test_quarantined_collection(server_factory):
    s = server_factory()
    create(s, "qbad")
    create(s, "qgood")
    for n in ("qbad", "qgood"):
        ok(http(s, "POST", "/api/collections/%s/insert" % n, {"id": 1, "vector": [1, 2]}))
    assert s.stop() == 0
    [coll_dir] = glob.glob(os.path.join(s.data_dir, "default_admin", "*", "qbad"))
    assert os.path.isdir(coll_dir), os.listdir(s.data_dir)
    for root, _, files in os.walk(coll_dir):
        for f in files:
            if f != "collection.json":
                path = os.path.join(root, f)
                with open(path, "r+b") as fh:
                    fh.write(b"\xa5" * max(os.path.getsize(path), 64))
    s2 = server_factory(data_dir=s.data_dir)
    st, _, body = http(s2, "POST", "/api/collections/qbad/search", {"vector": [1, 2]})
    assert st == 500 and body["error"]["code"] == "COLLECTION_UNAVAILABLE"
    msg = body["error"]["message"]
    assert msg.startswith("Collection 'qbad' failed to load: ")
    # every other collection keeps working
    assert ok(http(s2, "POST", "/api/collections/qgood/search", {"vector": [1, 2]}))[0]["id"] == 1
    st, _, body = http(s2, "GET", "/api/collections/qbad/stats")
    assert st == 500 and body["error"] == {"code": "COLLECTION_UNAVAILABLE", "message": msg}
    entry = [c for c in ok(http(s2, "GET", "/api/collections")) if c["name"] == "qbad"][0]
    assert list(entry) == LIST_KEYS + ["error"] and entry["error"] == msg
    r = ok(http(s2, "GET", "/readyz"))
    assert r == {"status": "ready", "role": "Leader", "quarantined_collections": 1}
    ok(http(s2, "DELETE", "/api/collections/qbad"), 204)
    assert "qbad" not in [c["name"] for c in ok(http(s2, "GET", "/api/collections"))]
    assert ok(http(s2, "GET", "/readyz"))["quarantined_collections"] == 0


def test_follower_refuses_writes_until_promoted(server_factory):
    s = server_factory(args=["--role", "follower", "--leader", "http://127.0.0.1:9"])
    st = ok(http(s, "GET", "/api/cluster/status"))
    assert list(st) == ["node_id", "role", "upstream_peer", "downstream_peers", "logical_clock",
                        "replication", "epoch"]
    assert st["epoch"] is None  # a follower that never led nor followed anyone
    assert st["role"] == "Follower" and st["upstream_peer"] == "http://127.0.0.1:9"
    assert list(st["replication"]) == ["connected", "leader_node_id", "watermark", "reconnects",
                                       "last_error", "leader_changes_continued", "full_resyncs",
                                       "digest_checks", "digest_mismatches",
                                       "last_digest_check_ms", "last_digest_check"]
    assert st["replication"]["connected"] is False
    assert ok(http(s, "GET", "/readyz"))["role"] == "Follower"
    assert ok(http(s, "GET", "/api/status"))["role"] == "Follower"
    assert ok(http(s, "GET", "/api/collections")) == []  # a follower never creates `default`
    # the follower check comes before the collection lookup (B9.3 step 4)
    for method, path, body in (
            ("POST", "/api/collections", {"name": "x", "dimension": 2, "metric": "l2"}),
            ("POST", "/api/collections/default/insert", {"id": 1, "vector": [1]}),
            ("POST", "/api/collections/x/insert/batch", {"vectors": []}),
            ("DELETE", "/api/collections/x", None),
            ("DELETE", "/api/collections/x/points/1", None),
            ("POST", "/api/collections/x/points/delete", {"ids": [1]})):
        st_, h_, resp = http(s, method, path, body)
        assert st_ == 409, (method, path, resp)
        # the leader to write to instead (issue 15 item 6)
        assert resp == {"error": {"code": "FOLLOWER_READ_ONLY",
                                  "message": "Followers are read-only",
                                  "details": {"leader": "http://127.0.0.1:9"}}}
        assert h_["x-hyperspace-leader"] == "http://127.0.0.1:9"
    # reads and node-local admin routes are allowed
    assert http(s, "POST", "/api/collections/x/search", {"vector": [1]})[0] == 404
    ok(http(s, "POST", "/api/admin/snapshot"))
    ok(http(s, "POST", "/api/admin/vacuum"))
    p = ok(http(s, "POST", "/api/cluster/promote"))
    assert p["role"] == "Leader" and p["previous_role"] == "Follower"
    assert p["node_id"] == st["node_id"]
    create(s, "after")
    st2 = ok(http(s, "GET", "/api/cluster/status"))
    assert st2["role"] == "Leader" and st2["upstream_peer"] is None and st2["replication"] is None
    assert s.stop() == 0
    s2 = server_factory(data_dir=s.data_dir)  # no --role: the persisted role
    assert ok(http(s2, "GET", "/api/cluster/status"))["role"] == "Leader"
    ok(http(s2, "POST", "/api/collections/after/insert", {"id": 1, "vector": [1, 2]}))


def test_keep_alive_serves_several_requests_on_one_connection(srv, searchable):
    conn = hc.HTTPConnection("127.0.0.1", srv.http_port, timeout=30)
    try:
        for path in ("/healthz", "/api/status", "/api/collections"):
            conn.request("GET", path)
            r = conn.getresponse()
            assert r.status == 200
            json.loads(r.read())
        conn.request("POST", "/api/collections/r_search/count", body=b"{}",
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read()) == {"count": 5}
    finally:
        conn.close()


def js_number(x):
    """x as ECMAScript Number.prototype.toString writes it (http.md 4.5)."""
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    d = decimal.Decimal(repr(abs(x))).normalize()
    digits = "".join(map(str, d.as_tuple().digits))
    k = len(digits)
    n = d.as_tuple().exponent + k
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mant = digits[0] + ("." + digits[1:] if k > 1 else "")
    return sign + mant + "e" + ("+" if e > 0 else "-") + str(abs(e))


def test_numbers_are_written_as_ecmascript_does(srv):
    values = [-0.0, 27, 1e21, 2.5e-5, 1e-8, 0.1, 123456.7, -3.4028234663852886e38, 0.5, 1e-3]
    stored = [f32(v) for v in values]
    create(srv, "r_fmt", dim=len(values))
    ok(http(srv, "POST", "/api/collections/r_fmt/insert", {"id": 1, "vector": values}))
    with urllib.request.urlopen(srv.url("/api/collections/r_fmt/points/1"), timeout=30) as r:
        text = r.read().decode()
    want = '{"id":1,"vector":[%s],"metadata":{}}' % ",".join(js_number(v) for v in stored)
    assert text == want
    assert js_number(stored[2]) == "1.0000000200408773e+21" and js_number(stored[0]) == "0"
    # an integral distance is written without a fraction
    create(srv, "r_fmt2", dim=3)
    ok(http(srv, "POST", "/api/collections/r_fmt2/insert", {"id": 1, "vector": [1, 2, 3]}))
    req = urllib.request.Request(srv.url("/api/collections/r_fmt2/search"), method="POST",
                                 data=b'{"vector":[4,5,6]}',
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.read().decode() == '[{"id":1,"distance":27,"metadata":{}}]'
