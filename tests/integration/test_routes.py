"""Every route of the HTTP API (spec http.md section 6) on a real server: success shapes, paging,
the error envelope and codes, CORS, authentication before the body, and the binary bulk format."""
import json
import socket
import struct

import pytest

from conftest import http

J = {"Content-Type": "application/json"}


@pytest.fixture
def docs(server):
    st, h, body = http(server, "POST", "/api/collections",
                       {"name": "docs", "dimension": 2, "metric": "l2", "m": 8,
                        "ef_construction": 50})
    assert st == 201, body
    assert h["location"] == "/api/collections/docs"
    assert list(body) == ["name", "dimension", "metric", "quantization", "m", "ef_construction",
                          "ef_search", "oversampling", "logical_clock"]
    assert body["m"] == 8 and body["ef_construction"] == 50 and body["ef_search"] == 100
    st, _, body = http(server, "POST", "/api/collections/docs/insert/batch", {"vectors": [
        {"id": i, "vector": [i, i % 3], "metadata": {"cat": "ab"[i % 2], "n": i}}
        for i in range(1, 21)], "durability": "strict"})
    assert st == 200 and body["upserted"] == 20
    return server


def test_collection_routes(docs):
    s = docs
    st, _, body = http(s, "GET", "/api/collections")
    assert st == 200 and [c["name"] for c in body] == ["default", "docs"]
    assert list(body[1]) == ["name", "count", "dimension", "metric", "quantization",
                             "indexing_queue", "deleted_count", "loaded"]
    assert body[1]["count"] == 20
    st, _, info = http(s, "GET", "/api/collections/docs")
    assert st == 200 and info["vector_count"] == info["count"] == 20
    assert len(info["buckets"]) == 256 and info["state_hash_hex"] == "%016x" % info["state_hash"]
    assert info["name"] == "docs" and info["loaded"] is True
    st, _, dg = http(s, "GET", "/api/collections/docs/digest")
    assert st == 200 and dg["state_hash"] == info["state_hash"]
    st, _, body = http(s, "GET", "/api/collections/docs/stats")
    assert st == 200 and body["count"] == 20 and body["metric"] == "l2"
    st, _, body = http(s, "PATCH", "/api/collections/docs/config", {"ef_search": 200})
    assert (st, body) == (200, {"name": "docs", "m": 8, "ef_construction": 50, "ef_search": 200})
    st, _, body = http(s, "POST", "/api/collections/docs/snapshot")
    assert st == 200 and body["status"] == "Snapshot completed" and body["collection"] == "docs"
    st, _, body = http(s, "POST", "/api/collections/docs/rebuild")
    assert st == 200 and body == {"status": "Index rebuilt and reloaded successfully",
                                  "collection": "docs", "count": 20}
    st, h, body = http(s, "DELETE", "/api/collections/docs")
    assert st == 204 and body is None
    st, _, body = http(s, "DELETE", "/api/collections/docs")
    assert st == 404 and body["error"]["code"] == "COLLECTION_NOT_FOUND"
    st, _, body = http(s, "POST", "/api/collections", {"name": "x", "dimension": 2})
    assert st == 400 and body["error"] == {"code": "INVALID_ARGUMENT",
                                           "message": "Missing field 'metric'"}
    st, _, body = http(s, "POST", "/api/collections", {"name": "x", "dimension": 2.5,
                                                      "metric": "l2"})
    assert st == 400 and body["error"]["message"].startswith("Field 'dimension' must be an integer")
    st, _, body = http(s, "POST", "/api/collections", {"name": "default", "dimension": 7.0,
                                                      "metric": "l2"})
    assert st == 409 and body["error"]["code"] == "ALREADY_EXISTS"


def test_point_routes_and_paging(docs):
    s = docs
    st, _, body = http(s, "POST", "/api/collections/docs/insert",
                       {"id": 7, "vector": [0.6, 0.8], "metadata": {"t": True, "p": 9.5}})
    assert st == 200 and set(body) == {"upserted", "logical_clock"}
    st, _, body = http(s, "GET", "/api/collections/docs/points/7")
    assert st == 200 and body["id"] == 7 and body["metadata"] == {"t": "true", "p": "9.5"}
    assert body["vector"] == pytest.approx([0.6, 0.8], rel=1e-7)
    st, _, body = http(s, "GET", "/api/collections/docs/points/7?with_vector=false")
    assert body == {"id": 7, "metadata": {"t": "true", "p": "9.5"}}
    st, _, body = http(s, "GET", "/api/collections/docs/points?ids=3,999,2,3&with_vector=false")
    assert [p["id"] for p in body] == [3, 2]
    st, _, body = http(s, "GET", "/api/collections/docs/points/abc")
    assert st == 400 and body["error"]["message"] == "Invalid point id 'abc'"
    st, _, body = http(s, "GET", "/api/collections/docs/points/555")
    assert st == 404 and body["error"] == {
        "code": "POINT_NOT_FOUND", "message": "Point 555 not found in collection 'docs'"}
    # scroll: every live match exactly once, in id order, until next_cursor is null
    seen, cursor = [], None
    while True:
        req = {"limit": 3, "filter": {"cat": "a"}}
        if cursor:
            req["cursor"] = cursor
        st, _, page = http(s, "POST", "/api/collections/docs/scroll", req)
        assert st == 200 and len(page["points"]) <= 3
        seen += [p["id"] for p in page["points"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(2, 21, 2))
    st, _, body = http(s, "POST", "/api/collections/docs/count",
                       {"filters": [{"type": "range", "key": "n", "gte": 5, "lte": 10}]})
    assert body == {"count": 5}  # 5, 6, 8, 9, 10: id 7 was rewritten without "n"
    st, _, body = http(s, "POST", "/api/collections/docs/count", raw=b"", headers=J)
    assert body == {"count": 20}
    # peek: most recent write first, X-Next-Cursor paging
    st, h, page1 = http(s, "GET", "/api/collections/docs/peek?limit=2")
    assert st == 200 and [p[0] for p in page1] == [7, 20] and "x-next-cursor" in h
    st, h2, page2 = http(s, "GET", "/api/collections/docs/peek?limit=2&cursor=" +
                         h["x-next-cursor"])
    assert [p[0] for p in page2] == [19, 18]
    # deletes
    st, _, body = http(s, "DELETE", "/api/collections/docs/points/7?durability=strict")
    assert st == 200 and body["deleted"] == 1
    st, _, body = http(s, "DELETE", "/api/collections/docs/points/7")
    assert st == 200 and body["deleted"] == 0
    st, _, body = http(s, "POST", "/api/collections/docs/points/delete", {"ids": [1, 2, 2, 99]})
    assert body["deleted"] == 2
    st, _, body = http(s, "POST", "/api/collections/docs/points/delete",
                       {"filter": {"cat": "b"}})
    assert body["deleted"] == 8  # 3, 5, 9, 11, ..., 19 (7 was rewritten without "cat")
    st, _, body = http(s, "POST", "/api/collections/docs/count", {})
    assert body == {"count": 9}
    st, _, body = http(s, "POST", "/api/collections/docs/points/delete", {"filter": {}})
    assert st == 400 and body["error"]["message"] == \
        "Delete by filter needs at least one condition"


def test_search_routes(docs):
    s = docs
    st, _, body = http(s, "POST", "/api/collections/docs/search",
                       {"vector": [4.1, 1], "top_k": 2, "filter": {"cat": "a"}})
    assert st == 200 and [r["id"] for r in body] == [4, 6]
    assert list(body[0]) == ["id", "distance", "metadata"]
    assert body[0]["distance"] == pytest.approx(0.01, rel=1e-5)  # l2/cosine stored as float32
    # both filter forms (SDK form and protobuf-JSON form), ANDed
    st, _, body = http(s, "POST", "/api/collections/docs/search", {
        "vector": [10, 1], "top_k": 20,
        "filters": [{"range": {"key": "n", "gte": "8", "lte": 12}},
                    {"match": {"key": "cat", "value": "a"}}]})
    assert sorted(r["id"] for r in body) == [8, 10, 12]
    st, _, body = http(s, "POST", "/api/collections/docs/search/batch", {"searches": [
        {"vector": [1, 1], "top_k": 1}, {"vector": [20, 2], "top_k": 2, "collection": "other"}]})
    assert st == 200 and [[r["id"] for r in x] for x in body] == [[1], [20, 19]]
    st, _, body = http(s, "POST", "/api/collections/docs/search/batch", {"searches": [
        {"vector": [1, 1]}, {"vector": [1]}]})
    assert st == 400 and body["error"]["message"] == \
        "searches[1]: Query dimension mismatch. Expected 2, got 1"
    st, _, body = http(s, "POST", "/api/collections/docs/search",
                       {"vector": [1, 1], "filters": [{"type": "near", "key": "n"}]})
    assert st == 400 and body["error"] == {
        "code": "INVALID_FILTER", "message": "Invalid filter: filters[0] has unknown type 'near'"}
    st, _, body = http(s, "POST", "/api/collections/docs/search",
                       {"vector": [1, 1], "hybrid_query": "apple", "top_k": 1})
    assert st == 200 and len(body) == 1 and "score" in body[0]
    st, _, body = http(s, "POST", "/api/collections/docs/search",
                       {"vector": [1, 1], "hybrid_query": "apple", "hybrid_alpha": 2})
    assert st == 400 and body["error"]["message"] == "hybrid_alpha must be between 0 and 1 (got 2)"


def test_batch_errors_and_durability(docs):
    s = docs
    st, _, body = http(s, "POST", "/api/collections/docs/insert/batch", {"vectors": [
        {"id": 100, "vector": [1, 1]}, {"id": 101, "vector": [1, 2, 3]}]})
    assert st == 400 and body["error"] == {
        "code": "DIMENSION_MISMATCH",
        "message": "vectors[1]: Vector dimension mismatch. Expected 2, got 3",
        "details": {"expected": 2, "got": 3, "index": 1}}
    st, _, body = http(s, "POST", "/api/collections/docs/points?ids=100", raw=b"", headers=J)
    assert st == 405
    st, _, body = http(s, "GET", "/api/collections/docs/points?ids=100")
    assert body == []  # the batch was atomic
    for d in ["async", "BATCH", "strict", "default", 0, 3]:
        st, _, body = http(s, "POST", "/api/collections/docs/insert",
                           {"id": 200, "vector": [1, 1], "durability": d})
        assert st == 200, (d, body)
    st, _, body = http(s, "POST", "/api/collections/docs/insert",
                       {"id": 200, "vector": [1, 1], "durability": "fsync-now"})
    assert st == 400 and body["error"] == {
        "code": "INVALID_PARAMETER",
        "message": "durability must be one of default, async, batch, strict (got 'fsync-now')"}
    st, _, body = http(s, "POST", "/api/collections/docs/insert/batch", {"vectors": []})
    assert st == 200 and body["upserted"] == 0


def test_binary_bulk_format(server):
    s = server
    st, _, _ = http(s, "POST", "/api/collections", {"name": "b", "dimension": 2, "metric": "l2"})
    assert st == 201
    F = {"Content-Type": "application/x-hyperspace-f32"}
    ex1 = bytes.fromhex("48534631 02000000 02000000 00000000 64000000"
                        "0000003f 000080be 0000803f 00000040".replace(" ", ""))
    assert len(ex1) == 36
    st, _, body = http(s, "POST", "/api/collections/b/insert/batch?durability=strict", raw=ex1,
                       headers=F)
    assert st == 200 and body["upserted"] == 2
    st, _, body = http(s, "GET", "/api/collections/b/points?ids=100,101")
    assert [(p["id"], p["vector"]) for p in body] == [(100, [0.5, -0.25]), (101, [1, 2])]
    ex2 = bytes.fromhex(("48534631 02000000 02000000 03000000 00000000 0a000000 0b000000"
                         "0000003f 000080be 0000803f 00000040"
                         "0b000000 7b22746167223a2261227d 00000000").replace(" ", ""))
    assert len(ex2) == 63
    st, _, body = http(s, "POST", "/api/collections/b/insert/batch", raw=ex2, headers=F)
    assert st == 200 and body["upserted"] == 2
    st, _, body = http(s, "GET", "/api/collections/b/points?ids=10,11")
    assert [(p["id"], p["metadata"]) for p in body] == [(10, {"tag": "a"}), (11, {})]

    def bad(raw, reason, code="INVALID_BINARY_BODY"):
        st, _, body = http(s, "POST", "/api/collections/b/insert/batch", raw=raw, headers=F)
        assert st == 400 and body["error"]["code"] == code, body
        assert body["error"]["message"] == reason, body

    bad(b"HSF2" + ex1[4:], "Invalid binary body: bad magic")
    bad(ex1[:12] + struct.pack("<I", 4) + ex1[16:], "Invalid binary body: unknown flags 0x4")
    bad(ex1 + b"\x00", "Invalid binary body: length is 37 bytes, expected 36")
    bad(ex1[:16] + struct.pack("<I", 4294967295) + ex1[20:],
        "Invalid binary body: ids overflow 4294967295")
    meta_arr = ex2[:-4 - 15] + struct.pack("<I", 3) + b"[1]" + struct.pack("<I", 0)
    bad(meta_arr, "Invalid binary body: metadata of vectors[0] is not a JSON object of strings")
    bad(struct.pack("<4sIIII", b"HSF1", 3, 1, 0, 0) + b"\x00" * 12,
        "Vector dimension mismatch. Expected 2, got 3", "DIMENSION_MISMATCH")
    st, _, body = http(s, "POST", "/api/collections/b/count", {})
    assert body == {"count": 4}
    st, _, body = http(s, "POST", "/api/collections/b/insert", raw=ex1, headers=F)
    assert st == 415 and body["error"]["message"] == \
        "Unsupported Content-Type 'application/x-hyperspace-f32'; expected application/json"


def test_general_rules(server):
    s = server
    st, h, body = http(s, "GET", "/api/nothing-here")
    assert st == 404 and body["error"] == {"code": "ROUTE_NOT_FOUND",
                                           "message": "API Route Not Found"}
    assert h["x-content-type-options"] == "nosniff"
    st, h, body = http(s, "PUT", "/api/collections", raw=b"{}", headers=J)
    assert st == 405 and h["allow"] == "GET, HEAD, POST, OPTIONS"
    st, _, body = http(s, "GET", "/api/collections/a%2Fb/stats")
    assert st == 400 and body["error"]["code"] == "INVALID_NAME"
    assert body["error"]["message"].startswith("Invalid collection name 'a/b'")
    st, _, body = http(s, "GET", "/api/collections/..%2F..%2Fetc/stats")
    assert st == 400 and body["error"]["code"] == "INVALID_NAME"
    st, _, body = http(s, "POST", "/api/collections/default/search", {"vector": [1]},
                       headers={"Content-Type": "text/plain"})
    assert st == 415
    st, _, body = http(s, "POST", "/api/collections/default/search", raw=b'{"vector":[1]} x',
                       headers=J)
    assert st == 400 and body["error"]["message"] == "Malformed JSON: unexpected input at byte 15"
    st, _, body = http(s, "POST", "/api/collections/default/search", raw=b'{"vector":[1',
                       headers=J)
    assert body["error"]["message"] == "Malformed JSON: unexpected end of input at byte 12"
    # the last duplicate member wins
    st, _, body = http(s, "POST", "/api/collections", raw=b'{"name":"x","name":"dup",'
                       b'"dimension":2,"metric":"l2"}', headers=J)
    assert st == 201 and body["name"] == "dup"
    st, h, body = http(s, "HEAD", "/api/status")
    assert st == 200 and body is None
    st, _, body = http(s, "GET", "/")
    assert st == 404 and body == "Dashboard not built"
    st, _, body = http(s, "GET", "/api/status")
    assert body["status"] == "ONLINE" and body["version"] == "2.0.0" and body["role"] == "Leader"
    assert body["config"] == {"dimension": 1024, "metric": "cosine", "quantization": "none"}
    st, _, body = http(s, "GET", "/api/metrics")
    assert set(body) == {"total_vectors", "active_collections", "idle_collections",
                         "total_collections", "ram_usage_mb", "cpu_usage_percent",
                         "disk_usage_mb", "qps", "uptime_seconds"}
    assert body["total_collections"] == 2 and body["ram_usage_mb"] > 0
    st, _, body = http(s, "GET", "/api/admin/usage")
    u = body["default_admin"]
    # the spec's three members first, then the extension (loaded, deleted, RAM, quota)
    assert list(u)[:3] == ["collection_count", "vector_count", "disk_usage_bytes"], body
    assert u["collection_count"] == 2 and u["vector_count"] == 0, body
    assert list(u)[3:] == ["loaded_collections", "deleted_count", "ram_usage_bytes",
                           "max_collections"], body
    st, _, body = http(s, "POST", "/api/admin/snapshot")
    assert st == 200 and body["status"].startswith("Snapshot completed for")
    st, _, body = http(s, "POST", "/api/admin/vacuum")
    assert st == 200 and body["status"] == "Success" and "collections_compacted" in body
    st, h, text = http(s, "GET", "/metrics")
    assert st == 200 and h["content-type"].startswith("text/plain; version=0.0.4")
    lines = text.splitlines()
    assert lines[0] == "# HELP hyperspace_active_collections " + lines[0].split(" ", 3)[3]
    assert 'hyperspace_requests_total{transport="http",method="GET /api/status",status="200"}' \
        in text


def test_cors(server_factory):
    s = server_factory()  # no key: permissive
    st, h, _ = http(s, "OPTIONS", "/api/collections",
                    headers={"Origin": "http://a.example", "Access-Control-Request-Method": "POST"})
    assert st == 204 and h["access-control-allow-origin"] == "*"
    assert h["access-control-max-age"] == "600" and "x-api-key" in \
        h["access-control-allow-headers"]
    k = server_factory(env={"HYPERSPACE_API_KEY": "k"})  # key, no list: no CORS headers
    st, h, _ = http(k, "GET", "/api/status", headers={"Origin": "http://a.example",
                                                      "x-api-key": "k"})
    assert st == 200 and "access-control-allow-origin" not in h
    lst = server_factory(env={"HYPERSPACE_API_KEY": "k",
                              "HS_CORS_ORIGINS": "http://a.example, https://B.example"})
    st, h, _ = http(lst, "GET", "/api/status", headers={"Origin": "https://b.example",
                                                        "x-api-key": "k"})
    assert h["access-control-allow-origin"] == "https://b.example" and h["vary"] == "Origin"
    assert h["access-control-expose-headers"] == "X-Next-Cursor"
    st, h, _ = http(lst, "GET", "/api/status", headers={"Origin": "http://c.example",
                                                        "x-api-key": "k"})
    assert "access-control-allow-origin" not in h


def test_auth_is_decided_before_the_body(server_factory):
    s = server_factory(env={"HYPERSPACE_API_KEY": "k"})
    with socket.create_connection(("127.0.0.1", s.http_port), timeout=10) as c:
        c.sendall(b"POST /api/collections/default/insert HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
        data = b""
        while not data.rstrip().endswith(b"}"):
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401")
    assert b'WWW-Authenticate: Bearer realm="hyperspace"' in head
    assert json.loads(body)["error"]["message"] == "Missing x-api-key header"
    st, _, body = http(s, "GET", "/api/status", headers={"Authorization": "Bearer k"})
    assert st == 200
    st, _, body = http(s, "GET", "/api/status", headers={"x-hyperspace-user-id": "acme"})
    assert st == 401  # the tenant header never authenticates
