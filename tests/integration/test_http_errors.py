"""The error paths of the HTTP API (http.md sections 1, 4 and 6; behaviour.md section 13): exact
envelopes, codes and statuses for bad JSON, bad fields, unknown routes and methods, media types,
body limits (Content-Length and chunked), names, point ids, dimensions, the Poincare ball,
batches (prefix, index, atomicity), durability, top_k, filters and cursors."""
import http.client as hc
import json
import select
import socket

import pytest

from conftest import Server, http, finish, ok, short_id

JSON = {"Content-Type": "application/json"}
NAME_RULE = "use 1-64 characters from A-Z a-z 0-9 _ . - not starting with '.'"


@pytest.fixture(scope="module")
def srv():
    s = Server().start()
    for name, metric, dim in (("e2", "l2", 2), ("ecos", "cosine", 2), ("eball", "poincare", 2),
                              ("eball1", "poincare", 1)):
        ok(http(s, "POST", "/api/collections", {"name": name, "dimension": dim,
                                                "metric": metric}), 201)
    ok(http(s, "POST", "/api/collections/e2/insert/batch", {"vectors": [
        {"id": i, "vector": [i, 1], "metadata": {"n": i}} for i in range(1, 4)]}))
    yield s
    finish(s)


@pytest.fixture(autouse=True)
def still_alive(srv):
    yield
    assert srv.proc is not None and srv.proc.poll() is None, "server died:\n" + srv.output()[-5000:]


def err(resp, status, code, message=None, prefix=None, details=None):
    """Checks an error response; returns its `error` object."""
    st, h, body = resp
    assert st == status, body
    assert h["content-type"] == "application/json", h
    assert h["x-content-type-options"] == "nosniff"
    assert isinstance(body, dict) and list(body) == ["error"], body
    e = body["error"]
    assert list(e)[:2] == ["code", "message"], e
    assert e["code"] == code, e
    assert isinstance(e["message"], str) and e["message"], e
    if message is not None:
        assert e["message"] == message, e
    if prefix is not None:
        assert e["message"].startswith(prefix), e
    if details is None:
        assert "details" not in e, e
    elif details is not Ellipsis:
        assert e["details"] == details, e
    return e


def count(s, name="e2"):
    return ok(http(s, "POST", "/api/collections/%s/count" % name, {}))["count"]


def digest(s, name="e2"):
    return ok(http(s, "GET", "/api/collections/%s/digest" % name))


def request(port, method, path, body=None, headers=(), chunked=False):
    """http.client request with full control of the headers (no Content-Type unless given)."""
    conn = hc.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            try:
                for piece in body:
                    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                conn.send(b"0\r\n\r\n")
            except OSError:
                pass  # the server may close early (http.md 4.2); its answer is still read
        else:
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        text = data.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return r.status, hdrs, parsed
    finally:
        conn.close()


def raw_exchange(port, head, body=b"", timeout=15):
    """Sends raw request bytes and reads one response; returns (status, headers, parsed body).
    The body is sent until the server answers or closes (it may refuse it before reading it)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head)
        sent = 0
        while sent < len(body):
            if select.select([s], [], [], 0)[0]:
                break  # the answer is there already
            try:
                sent += s.send(body[sent:sent + 65536])
            except OSError:
                break
        data = b""
        while True:
            if b"\r\n\r\n" in data:
                hdr, _, rest = data.partition(b"\r\n\r\n")
                lines = hdr.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length", "0"))
                if len(rest) >= n:
                    status = int(lines[0].split()[1])
                    body = rest[:n].decode("utf-8", "replace")
                    try:
                        body = json.loads(body) if body else None
                    except ValueError:
                        pass
                    return status, headers, body
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError("connection closed before a full response: %r" % data)
            data += chunk
    finally:
        s.close()


# ---- 4.3 JSON parsing ---------------------------------------------------------------------------

OBJECT_MSG = "Malformed JSON: request body must be a JSON object"
DEPTH_MSG = "Malformed JSON: nesting deeper than 64 levels"


@pytest.mark.parametrize("raw, message", [
    (b'{"id":', None),
    (b'{"id":1,"vector":[1,2]} x', None),
    (b'{"id":1,"vector":[1,2]}{}', None),
    (b'{"id":1,"vector":[1,2],}', None),
    (b"{'id':1}", None),
    (b'{"id":1,"vector":[NaN,1]}', None),
    (b'\xff\xfe{"id":1}', None),
    (b'{"id":1,"vector":[1,2],"metadata":{"k":"\xc3\x28"}}', None),
    (b"", None),
    (b"   ", None),
    (b"[1,2]", OBJECT_MSG),
    (b'"text"', OBJECT_MSG),
    (b"7", OBJECT_MSG),
    (b"null", OBJECT_MSG),
    (b"[" * 1000000, DEPTH_MSG),
    (b'{"a":' * 200000, DEPTH_MSG),
    (b'{"id":1,"vector":[1,2],"x":' + b"[" * 65 + b"]" * 65 + b"}", DEPTH_MSG),
], ids=short_id)
def test_invalid_json(srv, raw, message):
    before = count(srv)
    e = err(http(srv, "POST", "/api/collections/e2/insert", raw=raw, headers=JSON), 400,
            "INVALID_JSON", message=message, prefix="Malformed JSON: ")
    assert e
    assert count(srv) == before


def test_nesting_of_exactly_64_levels_is_accepted(srv):
    # the body object is level 1; 63 nested arrays inside make 64
    raw = b'{"id":50,"vector":[1,2],"x":' + b"[" * 63 + b"]" * 63 + b"}"
    ok(http(srv, "POST", "/api/collections/e2/insert", raw=raw, headers=JSON))
    # brackets inside strings do not nest
    raw = b'{"id":51,"vector":[1,2],"metadata":{"s":"' + b"[{" * 500 + b'"}}'
    ok(http(srv, "POST", "/api/collections/e2/insert", raw=raw, headers=JSON))
    ok(http(srv, "POST", "/api/collections/e2/points/delete", {"ids": [50, 51]}))


def test_duplicate_keys_last_wins_and_unknown_members_are_ignored(srv):
    raw = b'{"id":60,"vector":[9,9],"id":61,"unknown":{"a":[1]},"metadata":{"k":"a","k":"b"}}'
    ok(http(srv, "POST", "/api/collections/e2/insert", raw=raw, headers=JSON))
    assert http(srv, "GET", "/api/collections/e2/points/60")[0] == 404
    p = ok(http(srv, "GET", "/api/collections/e2/points/61"))
    assert p == {"id": 61, "vector": [9, 9], "metadata": {"k": "b"}}
    ok(http(srv, "DELETE", "/api/collections/e2/points/61"))


INT_ID = "Field 'id' must be an integer between 0 and 4294967295"


@pytest.mark.parametrize("path, raw, message, prefix", [
    ("insert", b'{"vector":[1,2]}', "Missing field 'id'", None),
    ("insert", b'{"id":null,"vector":[1,2]}', "Missing field 'id'", None),
    ("insert", b'{"id":1}', "Missing field 'vector'", None),
    ("insert", b'{"id":"7","vector":[1,2]}', INT_ID, None),
    ("insert", b'{"id":7.5,"vector":[1,2]}', INT_ID, None),
    ("insert", b'{"id":-1,"vector":[1,2]}', INT_ID, None),
    ("insert", b'{"id":4294967296,"vector":[1,2]}', INT_ID, None),
    ("insert", b'{"id":true,"vector":[1,2]}', INT_ID, None),
    ("insert", b'{"id":1e400,"vector":[1,2]}', INT_ID, None),
    ("insert", b'{"id":1,"vector":"1,2"}', "Field 'vector' must be an array of numbers", None),
    ("insert", b'{"id":1,"vector":[1,"2"]}', "Field 'vector' must be an array of numbers", None),
    ("insert", b'{"id":1,"vector":[1,2],"metadata":[1]}', "Field 'metadata' must be an object",
     None),
    ("search", b'{"top_k":1}', "Missing field 'vector'", None),
    ("search", b'{"vector":[1,2],"top_k":7.5}', None, "Field 'top_k' must be an integer between "),
    ("search", b'{"vector":[1,2],"top_k":"7"}', None, "Field 'top_k' must be an integer between "),
    ("search", b'{"vector":[1,2],"top_k":-1}', None, "Field 'top_k' must be an integer between "),
    ("search", b'{"vector":[1,2],"filter":[1]}', "Field 'filter' must be an object", None),
    ("insert/batch", b"{}", "Missing field 'vectors'", None),
    ("search/batch", b"{}", "Missing field 'searches'", None),
    ("scroll", b'{"with_vector":"yes"}', "Field 'with_vector' must be a boolean", None),
    ("scroll", b'{"limit":2.5}', None, "Field 'limit' must be an integer between "),
], ids=short_id)
def test_field_errors(srv, path, raw, message, prefix):
    before = count(srv)
    err(http(srv, "POST", "/api/collections/e2/" + path, raw=raw, headers=JSON), 400,
        "INVALID_ARGUMENT", message=message, prefix=prefix)
    assert count(srv) == before


@pytest.mark.parametrize("body, message, prefix", [
    ({"dimension": 2, "metric": "l2"}, "Missing field 'name'", None),
    ({"name": "x1", "metric": "l2"}, "Missing field 'dimension'", None),
    ({"name": "x1", "dimension": 2}, "Missing field 'metric'", None),
    ({"name": 5, "dimension": 2, "metric": "l2"}, "Field 'name' must be a string", None),
    ({"name": "x1", "dimension": "2", "metric": "l2"}, None,
     "Field 'dimension' must be an integer between "),
    ({"name": "x1", "dimension": 2.5, "metric": "l2"}, None,
     "Field 'dimension' must be an integer between "),
    ({"name": "x1", "dimension": 2, "metric": 1}, "Field 'metric' must be a string", None),
], ids=short_id)
def test_create_field_errors(srv, body, message, prefix):
    err(http(srv, "POST", "/api/collections", body), 400, "INVALID_ARGUMENT", message=message,
        prefix=prefix)
    assert http(srv, "GET", "/api/collections/x1/stats")[0] == 404


@pytest.mark.parametrize("body, status, code, message", [
    ({"name": "x2", "dimension": 0, "metric": "l2"}, 400, "INVALID_DIMENSION",
     "Dimension must be between 1 and 16384 (got 0)"),
    ({"name": "x2", "dimension": 16385, "metric": "l2"}, 400, "INVALID_DIMENSION",
     "Dimension must be between 1 and 16384 (got 16385)"),
    ({"name": "x2", "dimension": 2, "metric": "dot"}, 400, "INVALID_METRIC",
     "Unknown metric 'dot': expected cosine, l2, euclidean, poincare or lorentz"),
    ({"name": "x2", "dimension": 2, "metric": "l2", "quantization": "pq"}, 400,
     "INVALID_QUANTIZATION", "Unknown quantization 'pq': expected none, scalar or binary"),
    ({"name": "x2", "dimension": 2, "metric": "l2", "m": 1}, 400, "INVALID_PARAMETER",
     "m must be between 2 and 128 (got 1)"),
    ({"name": "x2", "dimension": 2, "metric": "l2", "m": 129}, 400, "INVALID_PARAMETER",
     "m must be between 2 and 128 (got 129)"),
    ({"name": "x2", "dimension": 2, "metric": "l2", "ef_search": 10001}, 400,
     "INVALID_PARAMETER", "ef_search must be between 1 and 10000 (got 10001)"),
    ({"name": "x2", "dimension": 2, "metric": "l2", "ef_construction": 10001}, 400,
     "INVALID_PARAMETER", "ef_construction must be between 1 and 10000 (got 10001)"),
    ({"name": "", "dimension": 2, "metric": "l2"}, 400, "INVALID_NAME",
     "Collection name cannot be empty"),
    ({"name": ".x2", "dimension": 2, "metric": "l2"}, 400, "INVALID_NAME",
     "Invalid collection name '.x2': " + NAME_RULE),
    ({"name": "../x2", "dimension": 2, "metric": "l2"}, 400, "INVALID_NAME",
     "Invalid collection name '../x2': " + NAME_RULE),
    ({"name": "x" * 65, "dimension": 2, "metric": "l2"}, 400, "INVALID_NAME", None),
    ({"name": "e2", "dimension": 2, "metric": "l2"}, 409, "ALREADY_EXISTS",
     "Collection 'e2' already exists"),
], ids=short_id)
def test_create_errors(srv, body, status, code, message):
    before = [c["name"] for c in ok(http(srv, "GET", "/api/collections"))]
    err(http(srv, "POST", "/api/collections", body), status, code, message=message)
    assert [c["name"] for c in ok(http(srv, "GET", "/api/collections"))] == before


@pytest.mark.parametrize("metadata, code, message", [
    ({"k": None}, "INVALID_METADATA",
     "Invalid metadata: value of key 'k' must be a string, number or boolean"),
    ({"k": [1]}, "INVALID_METADATA",
     "Invalid metadata: value of key 'k' must be a string, number or boolean"),
    ({"k": {"a": "b"}}, "INVALID_METADATA",
     "Invalid metadata: value of key 'k' must be a string, number or boolean"),
    ({"": "x"}, "INVALID_METADATA", "Invalid metadata: empty key"),
    ({"k" * 257: "x"}, "INVALID_METADATA", "Invalid metadata: key longer than 256 bytes"),
    ({"k": "v" * 65537}, "INVALID_METADATA",
     "Invalid metadata: value of key 'k' longer than 65536 bytes"),
    ({"k%d" % i: "v" for i in range(1025)}, "INVALID_METADATA",
     "Invalid metadata: more than 1024 entries"),
], ids=short_id)
def test_metadata_errors(srv, metadata, code, message):
    before = digest(srv)
    err(http(srv, "POST", "/api/collections/e2/insert",
             {"id": 70, "vector": [1, 2], "metadata": metadata}), 400, code, message=message)
    assert digest(srv) == before


def test_metadata_limits_are_inclusive(srv):
    md = {"k" * 256: "v" * 65536}
    md.update({"k%d" % i: "" for i in range(1023)})
    ok(http(srv, "POST", "/api/collections/e2/insert", {"id": 71, "vector": [1, 2],
                                                        "metadata": md}))
    assert len(ok(http(srv, "GET", "/api/collections/e2/points/71"))["metadata"]) == 1024
    ok(http(srv, "DELETE", "/api/collections/e2/points/71"))


def test_overflowing_number_in_an_integer_field_is_a_field_error(srv):
    raw = b'{"vector":[1,2],"top_k":1e400}'
    err(http(srv, "POST", "/api/collections/e2/search", raw=raw, headers=JSON), 400,
        "INVALID_ARGUMENT", prefix="Field 'top_k' must be an integer between ")
    raw = b'{"limit":-1e400}'
    err(http(srv, "POST", "/api/collections/e2/scroll", raw=raw, headers=JSON), 400,
        "INVALID_ARGUMENT", prefix="Field 'limit' must be an integer between ")


def test_overflowing_number_as_a_metadata_value_is_a_field_error(srv):
    for raw in (b'{"id":72,"vector":[1,2],"metadata":{"k":1e400}}',
                b'{"id":72,"vector":[1,2],"metadata":{"k":-1e400}}'):
        st, _, body = http(srv, "POST", "/api/collections/e2/insert", raw=raw, headers=JSON)
        if st == 200:
            ok(http(srv, "DELETE", "/api/collections/e2/points/72"))
        err((st, _, body), 400, "INVALID_ARGUMENT")
    assert http(srv, "GET", "/api/collections/e2/points/72")[0] == 404


@pytest.mark.parametrize("raw", [
    b'{"vector":[1,2],"filter":{"k":1e400}}',
    b'{"vector":[1,2],"filters":[{"type":"match","key":"k","value":1e400}]}',
], ids=short_id)
def test_overflowing_number_as_a_filter_value_is_a_field_error(srv, raw):
    err(http(srv, "POST", "/api/collections/e2/search", raw=raw, headers=JSON), 400,
        "INVALID_ARGUMENT")


# ---- vectors: B2.2 order, dimension, ball -----------------------------------------------------

@pytest.mark.parametrize("coll, raw, code, message, details", [
    ("e2", b'{"id":80,"vector":[]}', "INVALID_VECTOR", "Vector must not be empty", None),
    ("e2", b'{"id":80,"vector":[1,1e400]}', "INVALID_VECTOR",
     "Vector contains a non-finite value at index 1", None),
    ("e2", b'{"id":80,"vector":[-1e400,1]}', "INVALID_VECTOR",
     "Vector contains a non-finite value at index 0", None),
    # dimension is checked before finiteness (B2.2)
    ("e2", b'{"id":80,"vector":[1e400]}', "DIMENSION_MISMATCH",
     "Vector dimension mismatch. Expected 2, got 1", {"expected": 2, "got": 1}),
    ("e2", b'{"id":80,"vector":[1,2,3]}', "DIMENSION_MISMATCH",
     "Vector dimension mismatch. Expected 2, got 3", {"expected": 2, "got": 3}),
    ("ecos", b'{"id":80,"vector":[0,-0.0]}', "INVALID_VECTOR",
     "Zero vector is not allowed with the cosine metric", None),
    ("eball", b'{"id":80,"vector":[0.8,0.8]}', "OUT_OF_BALL",
     "Vector must be strictly inside the Poincar\u00e9 ball (squared norm 1.2800000000000002 >= 1)",
     {"squared_norm": 1.2800000000000002}),
    ("eball", b'{"id":80,"vector":[1.0,0.0]}', "OUT_OF_BALL",
     "Vector must be strictly inside the Poincar\u00e9 ball (squared norm 1 >= 1)",
     {"squared_norm": 1}),
    # finiteness before the ball
    ("eball", b'{"id":80,"vector":[1e400,0]}', "INVALID_VECTOR",
     "Vector contains a non-finite value at index 0", None),
], ids=short_id)
def test_vector_errors(srv, coll, raw, code, message, details):
    before = digest(srv, coll)
    e = err(http(srv, "POST", "/api/collections/%s/insert" % coll, raw=raw, headers=JSON), 400,
            code, message=message, details=details)
    if details:
        assert list(e["details"]) == list(details)
    assert digest(srv, coll) == before  # nothing changed, no tick


@pytest.mark.parametrize("coll, vector, code, message, details", [
    ("e2", [], "INVALID_VECTOR", "Query vector must not be empty", None),
    ("e2", [1, 2, 3], "DIMENSION_MISMATCH", "Query dimension mismatch. Expected 2, got 3",
     {"expected": 2, "got": 3}),
    ("ecos", [0, 0], "INVALID_VECTOR", "Zero vector is not allowed with the cosine metric", None),
    ("eball", [0.8, 0.8], "OUT_OF_BALL",
     "Query vector must be strictly inside the Poincar\u00e9 ball (squared norm "
     "1.2800000000000002 >= 1)", {"squared_norm": 1.2800000000000002}),
], ids=short_id)
def test_query_vector_errors(srv, coll, vector, code, message, details):
    err(http(srv, "POST", "/api/collections/%s/search" % coll, {"vector": vector}), 400, code,
        message=message, details=details)


def test_poincare_accepts_points_inside_the_ball(srv):
    ok(http(srv, "POST", "/api/collections/eball1/insert",
            {"id": 1, "vector": [0.9999999999999999]}))
    ok(http(srv, "POST", "/api/collections/eball/insert", {"id": 1, "vector": [0.5, 0]}))
    res = ok(http(srv, "POST", "/api/collections/eball/search", {"vector": [0, 0], "top_k": 1}))
    assert res[0]["id"] == 1
    assert res[0]["distance"] == pytest.approx(1.0986122886681098, abs=1e-12)  # ln 3 (B3.2)


def test_batch_error_prefix_index_and_atomicity(srv):
    before, n = digest(srv), count(srv)
    e = err(http(srv, "POST", "/api/collections/e2/insert/batch", {"vectors": [
        {"id": 100, "vector": [1, 2]},
        {"id": 101, "vector": [1, 2, 3]},
        {"id": 102, "vector": [1]}]}), 400, "DIMENSION_MISMATCH",
        message="vectors[1]: Vector dimension mismatch. Expected 2, got 3", details=Ellipsis)
    assert e["details"]["index"] == 1
    assert count(srv) == n and digest(srv) == before
    assert http(srv, "GET", "/api/collections/e2/points/100")[0] == 404

    e = err(http(srv, "POST", "/api/collections/e2/insert/batch", {"vectors": [
        {"id": 100, "vector": [1, 2]}, {"id": 101, "vector": [1, 2]},
        {"id": "x", "vector": [1, 2]}]}), 400, "INVALID_ARGUMENT",
        message="vectors[2]: " + INT_ID, details={"index": 2})
    e = err(http(srv, "POST", "/api/collections/e2/insert/batch", {"vectors": [
        {"id": 100, "vector": [1, 2], "metadata": {"": "x"}}]}), 400, "INVALID_METADATA",
        message="vectors[0]: Invalid metadata: empty key", details={"index": 0})
    raw = b'{"vectors":[{"id":100,"vector":[1,2]},{"id":101,"vector":[1,1e400]}]}'
    e = err(http(srv, "POST", "/api/collections/e2/insert/batch", raw=raw, headers=JSON), 400,
            "INVALID_VECTOR", message="vectors[1]: Vector contains a non-finite value at index 1",
            details={"index": 1})
    e = err(http(srv, "POST", "/api/collections/eball/insert/batch", {"vectors": [
        {"id": 5, "vector": [0.1, 0.2]}, {"id": 6, "vector": [1.0, 0.0]}]}), 400, "OUT_OF_BALL",
        message="vectors[1]: Vector must be strictly inside the Poincar\u00e9 ball "
                "(squared norm 1 >= 1)", details=Ellipsis)
    assert e["details"]["index"] == 1
    assert http(srv, "GET", "/api/collections/eball/points/5")[0] == 404
    assert count(srv) == n and digest(srv) == before


def test_search_batch_error_prefix(srv):
    err(http(srv, "POST", "/api/collections/e2/search/batch", {"searches": [
        {"vector": [1, 2]}, {"vector": [1, 2, 3]}, {"vector": []}]}), 400, "DIMENSION_MISMATCH",
        prefix="searches[1]: Query dimension mismatch. Expected 2, got 3", details=Ellipsis)
    err(http(srv, "POST", "/api/collections/e2/search/batch", {"searches": [
        {"vector": [1, 2], "top_k": 10001}]}), 400, "INVALID_PARAMETER",
        message="searches[0]: top_k must be <= 10000 (got 10001)", details=Ellipsis)


# ---- durability, top_k, hybrid, filters, cursors ------------------------------------------------

@pytest.mark.parametrize("value", ["default", "async", "batch", "strict", "STRICT", "Async",
                                   0, 1, 2, 3, 3.0, None])
def test_durability_values_accepted(srv, value):
    body = {"id": 90, "vector": [1, 2], "durability": value}
    ok(http(srv, "POST", "/api/collections/e2/insert", body))
    ok(http(srv, "POST", "/api/collections/e2/insert/batch",
            {"vectors": [{"id": 91, "vector": [1, 2]}], "durability": value}))
    ok(http(srv, "POST", "/api/collections/e2/points/delete",
            {"ids": [90, 91], "durability": value}))


def durability_msg(v):
    return "durability must be one of default, async, batch, strict (got '%s')" % v


@pytest.mark.parametrize("value, shown", [("fast", "fast"), (4, "4"), ("", "")])
def test_durability_bad_values(srv, value, shown):
    before = digest(srv)
    err(http(srv, "POST", "/api/collections/e2/insert",
             {"id": 92, "vector": [1, 2], "durability": value}), 400, "INVALID_PARAMETER",
        message=durability_msg(shown))
    err(http(srv, "POST", "/api/collections/e2/insert/batch",
             {"vectors": [{"id": 92, "vector": [1, 2]}], "durability": value}), 400,
        "INVALID_PARAMETER", message=durability_msg(shown))
    assert digest(srv) == before


@pytest.mark.parametrize("value", [-1, 1.5, True, [1]])
def test_durability_other_json_values_are_rejected(srv, value):
    before = digest(srv)
    err(http(srv, "POST", "/api/collections/e2/insert",
             {"id": 92, "vector": [1, 2], "durability": value}), 400, "INVALID_PARAMETER",
        prefix="durability must be one of default, async, batch, strict (got '")
    assert digest(srv) == before


def test_durability_query_parameter_and_precedence(srv):
    ok(http(srv, "POST", "/api/collections/e2/insert", {"id": 93, "vector": [1, 2]}))
    ok(http(srv, "DELETE", "/api/collections/e2/points/93?durability=STRICT"))
    ok(http(srv, "DELETE", "/api/collections/e2/points/93?durability=2"))
    err(http(srv, "DELETE", "/api/collections/e2/points/93?durability=nope"), 400,
        "INVALID_PARAMETER", message=durability_msg("nope"))
    # the body member wins over the query parameter
    ok(http(srv, "POST", "/api/collections/e2/insert?durability=bogus",
            {"id": 94, "vector": [1, 2], "durability": "strict"}))
    err(http(srv, "POST", "/api/collections/e2/insert?durability=strict",
             {"id": 95, "vector": [1, 2], "durability": "bogus"}), 400, "INVALID_PARAMETER",
        message=durability_msg("bogus"))
    assert http(srv, "GET", "/api/collections/e2/points/95")[0] == 404
    ok(http(srv, "DELETE", "/api/collections/e2/points/94"))


def test_top_k_limit(srv):
    err(http(srv, "POST", "/api/collections/e2/search", {"vector": [1, 2], "top_k": 10001}), 400,
        "INVALID_PARAMETER", message="top_k must be <= 10000 (got 10001)")
    assert len(ok(http(srv, "POST", "/api/collections/e2/search",
                       {"vector": [1, 2], "top_k": 10000}))) == count(srv)


def test_range_with_gte_above_lte_is_empty_not_an_error(srv):
    for filt in ({"type": "range", "key": "n", "gte": 3, "lte": 1},
                 {"range": {"key": "n", "gte": "3", "lte": "1"}}):
        st, _, body = http(srv, "POST", "/api/collections/e2/search",
                           {"vector": [1, 2], "filters": [filt]})
        assert (st, body) == (200, [])


def test_hybrid_query_without_matching_tokens_keeps_the_vector_order(srv):
    st, h, body = http(srv, "POST", "/api/collections/e2/search",
                       {"vector": [1, 2], "hybrid_query": "apple", "hybrid_alpha": 0.3})
    assert st == 200, body
    # no point's metadata holds "apple": the text branch is empty and the score is
    # (1 - a) / (60 + vector rank) (B5.4)
    assert [r["score"] for r in body] == [0.7 / 61, 0.7 / 62, 0.7 / 63][:len(body)]
    assert [r["distance"] for r in body] == sorted(r["distance"] for r in body)
    # validation of the hybrid members still comes first (B9.3 step 5)
    err(http(srv, "POST", "/api/collections/e2/search",
             {"vector": [1, 2], "hybrid_query": "apple", "hybrid_alpha": 1.5}), 400,
        "INVALID_PARAMETER", message="hybrid_alpha must be between 0 and 1 (got 1.5)")
    # hybrid_alpha without hybrid_query is ignored; null means absent
    ok(http(srv, "POST", "/api/collections/e2/search", {"vector": [1, 2], "hybrid_alpha": 7}))
    ok(http(srv, "POST", "/api/collections/e2/search", {"vector": [1, 2], "hybrid_query": None}))


@pytest.mark.parametrize("conds, message", [
    ({"filters": [{"type": "bogus", "key": "n"}]},
     "Invalid filter: filters[0] has unknown type 'bogus'"),
    ({"filters": [{"type": "match", "key": "n", "value": "1"}, {"type": "near", "key": "n"}]},
     "Invalid filter: filters[1] has unknown type 'near'"),
    ({"filters": [{"type": "range", "key": "n", "gte": "abc"}]},
     "Invalid filter: filters[0] gte must be an integer"),
    ({"filters": [{"type": "range", "key": "n", "lte": "1.5"}]},
     "Invalid filter: filters[0] lte must be an integer"),
    ({"filters": [{"range": {"key": "n", "gte": [1]}}]},
     "Invalid filter: filters[0] gte must be an integer"),
    ({"filters": [{}]}, "Invalid filter: filters[0] has no condition"),
    ({"filter": {"": "x"}}, "Invalid filter: filter: key must not be empty"),
    ({"filters": [{"type": "match", "key": "", "value": "x"}]},
     "Invalid filter: filters[0]: key must not be empty"),
    ({"filter": {"k%d" % i: "v" for i in range(200)},
      "filters": [{"type": "match", "key": "k", "value": "v"}] * 57},
     "Invalid filter: more than 256 conditions"),
    ({"filter": {"k": None}}, None),
    ({"filter": {"k": [1]}}, None),
], ids=short_id)
@pytest.mark.parametrize("route", ["search", "count", "scroll", "points/delete"])
def test_filter_errors(srv, conds, message, route):
    body = dict(conds)
    if route == "search":
        body["vector"] = [1, 2]
    before = digest(srv)
    err(http(srv, "POST", "/api/collections/e2/" + route, body), 400, "INVALID_FILTER",
        message=message, prefix="Invalid filter: ")
    assert digest(srv) == before


def test_256_conditions_are_allowed(srv):
    body = {"vector": [1, 2], "filter": {"k%d" % i: "v" for i in range(200)},
            "filters": [{"type": "match", "key": "k", "value": "v"}] * 56}
    assert ok(http(srv, "POST", "/api/collections/e2/search", body)) == []


def test_cursor_and_limit_errors(srv):
    err(http(srv, "POST", "/api/collections/e2/scroll", {"cursor": "not-a-cursor"}), 400,
        "INVALID_CURSOR", message="Invalid cursor")
    err(http(srv, "GET", "/api/collections/e2/peek?cursor=zz"), 400, "INVALID_CURSOR",
        message="Invalid cursor")
    err(http(srv, "POST", "/api/collections/e2/scroll", {"limit": 0}), 400, "INVALID_PARAMETER",
        message="limit must be between 1 and 1000 (got 0)")
    err(http(srv, "POST", "/api/collections/e2/scroll", {"limit": 1001}), 400,
        "INVALID_PARAMETER", message="limit must be between 1 and 1000 (got 1001)")
    ok(http(srv, "POST", "/api/collections/e2/scroll", {"limit": 1000}))


# ---- names and ids ------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, shown", [
    ("GET", "/api/collections/..%2F..%2Fetc", "../../etc"),
    ("GET", "/api/collections/a%2Fb/stats", "a/b"),
    ("GET", "/api/collections/%2E%2E", ".."),
    ("GET", "/api/collections/../stats", ".."),
    ("GET", "/api/collections/.hidden", ".hidden"),
    ("POST", "/api/collections/..%2Fe2/insert", "../e2"),
    ("DELETE", "/api/collections/..%2F..%2Fe2", "../../e2"),
    ("GET", "/api/collections/a%20b/digest", "a b"),
    ("GET", "/api/collections/" + "x" * 65, None),
], ids=short_id)
def test_invalid_names_in_paths(srv, method, path, shown):
    body = {"id": 1, "vector": [1, 2]} if method == "POST" else None
    msg = None if shown is None else "Invalid collection name '%s': %s" % (shown, NAME_RULE)
    before = count(srv)
    err(http(srv, method, path, body), 400, "INVALID_NAME", message=msg)
    assert count(srv) == before
    assert "e2" in [c["name"] for c in ok(http(srv, "GET", "/api/collections"))]


def test_names_are_percent_decoded_then_validated(srv):
    st = ok(http(srv, "GET", "/api/collections/e%32/stats"))  # %32 is "2"
    assert st["dimension"] == 2
    e = err(http(srv, "GET", "/api/collections/a%C3%A9/stats"), 400, "INVALID_NAME")
    assert e["message"].lower() == ("invalid collection name 'a\\xc3\\xa9': " + NAME_RULE).lower()
    # names are case-sensitive
    err(http(srv, "GET", "/api/collections/E2/stats"), 404, "COLLECTION_NOT_FOUND",
        message="Collection 'E2' not found")


@pytest.mark.parametrize("method, path, shown", [
    ("GET", "/api/collections/e2/points/abc", "abc"),
    ("GET", "/api/collections/e2/points/-1", "-1"),
    ("GET", "/api/collections/e2/points/1.5", "1.5"),
    ("GET", "/api/collections/e2/points/4294967296", "4294967296"),
    ("DELETE", "/api/collections/e2/points/abc", "abc"),
    ("GET", "/api/collections/e2/points?ids=1,abc", "abc"),
    ("GET", "/api/collections/e2/points?ids=1,4294967296", "4294967296"),
    ("GET", "/api/collections/e2/points?ids=1,,2", ""),
], ids=short_id)
def test_invalid_point_ids(srv, method, path, shown):
    before = count(srv)
    err(http(srv, method, path), 400, "INVALID_ARGUMENT",
        message="Invalid point id '%s'" % shown)
    assert count(srv) == before


def test_id_list_limits(srv):
    ids = ",".join(["1"] * 10000)
    ok(http(srv, "GET", "/api/collections/e2/points?with_vector=false&ids=" + ids))
    err(http(srv, "GET", "/api/collections/e2/points?ids=" + ids + ",2"), 400,
        "INVALID_PARAMETER", message="ids must be between 1 and 10000 (got 10001)")
    err(http(srv, "GET", "/api/collections/e2/points"), 400, "INVALID_PARAMETER")
    err(http(srv, "POST", "/api/collections/e2/points/delete", {"ids": []}), 400,
        "INVALID_PARAMETER", message="ids must be between 1 and 10000 (got 0)")
    err(http(srv, "POST", "/api/collections/e2/points/delete", {"ids": [5] * 10001}), 400,
        "INVALID_PARAMETER", message="ids must be between 1 and 10000 (got 10001)")
    err(http(srv, "POST", "/api/collections/e2/points/delete", {"ids": ["1"]}), 400,
        "INVALID_ARGUMENT")


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/collections/missing", None),
    ("GET", "/api/collections/missing/stats", None),
    ("GET", "/api/collections/missing/digest", None),
    ("DELETE", "/api/collections/missing", None),
    ("PATCH", "/api/collections/missing/config", {"ef_search": 10}),
    ("POST", "/api/collections/missing/insert", {"id": 1, "vector": [1, 2]}),
    ("POST", "/api/collections/missing/insert/batch", {"vectors": [{"id": 1, "vector": [1]}]}),
    ("POST", "/api/collections/missing/search", {"vector": [1, 2]}),
    ("POST", "/api/collections/missing/search/batch", {"searches": [{"vector": [1, 2]}]}),
    ("GET", "/api/collections/missing/points/1", None),
    ("GET", "/api/collections/missing/points?ids=1", None),
    ("DELETE", "/api/collections/missing/points/1", None),
    ("POST", "/api/collections/missing/points/delete", {"ids": [1]}),
    ("POST", "/api/collections/missing/scroll", {}),
    ("POST", "/api/collections/missing/count", {}),
    ("GET", "/api/collections/missing/peek", None),
    ("POST", "/api/collections/missing/rebuild", None),
    ("POST", "/api/collections/missing/snapshot", None),
], ids=short_id)
def test_missing_collection_is_404_everywhere(srv, method, path, body):
    err(http(srv, method, path, body), 404, "COLLECTION_NOT_FOUND",
        message="Collection 'missing' not found")


# ---- routing, methods, media types, headers ----------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("GET", "/api/nope"),
    ("POST", "/api/nope"),
    ("GET", "/api/collections/"),
    ("GET", "/api/collections/e2/"),
    ("GET", "/api/collections/e2/unknown"),
    ("POST", "/api/collections/e2/search/extra"),
    ("GET", "/api/Collections"),
    ("GET", "/api/collections/e2/points/1/x"),
    ("GET", "/api/admin"),
], ids=short_id)
def test_unknown_api_routes(srv, method, path):
    body = {} if method == "POST" else None
    err(http(srv, method, path, body), 404, "ROUTE_NOT_FOUND", message="API Route Not Found")


def allow_set(h):
    return {m.strip() for m in h["allow"].split(",")}


@pytest.mark.parametrize("method, path, must, must_not", [
    ("PUT", "/api/collections", {"GET", "POST"}, {"PUT", "DELETE"}),
    ("DELETE", "/api/status", {"GET"}, {"DELETE", "POST"}),
    ("POST", "/api/collections/e2/points/5", {"GET", "DELETE"}, {"POST"}),
    ("GET", "/api/collections/e2/insert", {"POST"}, {"GET"}),
    ("PUT", "/api/collections/e2", {"GET", "DELETE"}, {"PUT"}),
    ("POST", "/healthz", {"GET"}, {"POST"}),
    ("POST", "/metrics", {"GET"}, {"POST"}),
    ("GET", "/api/collections/e2/config", {"PATCH"}, {"GET"}),
], ids=short_id)
def test_method_not_allowed(srv, method, path, must, must_not):
    body = {} if method in ("POST", "PUT") else None
    st, h, resp = http(srv, method, path, body)
    err((st, h, resp), 405, "METHOD_NOT_ALLOWED",
        message="Method %s is not allowed on %s" % (method, path))
    allow = allow_set(h)
    assert must <= allow and not (must_not & allow), h["allow"]
    if "GET" in allow:
        assert "HEAD" in allow


def test_unsupported_media_type(srv):
    before = digest(srv)
    body = b'{"id":110,"vector":[1,2]}'
    for ct in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        err(http(srv, "POST", "/api/collections/e2/insert", raw=body,
                 headers={"Content-Type": ct}), 415, "UNSUPPORTED_MEDIA_TYPE",
            message="Unsupported Content-Type '%s'; expected application/json" % ct)
    err(http(srv, "POST", "/api/collections/e2/insert/batch", raw=b'{"vectors":[]}',
             headers={"Content-Type": "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE",
        message="Unsupported Content-Type 'text/plain'; expected application/json or "
                "application/x-hyperspace-f32")
    # the binary format is for the batch route only
    err(http(srv, "POST", "/api/collections/e2/insert", raw=b"HSF1",
             headers={"Content-Type": "application/x-hyperspace-f32"}), 415,
        "UNSUPPORTED_MEDIA_TYPE",
        message="Unsupported Content-Type 'application/x-hyperspace-f32'; expected "
                "application/json")
    err(http(srv, "POST", "/api/collections/e2/search", raw=b'{"vector":[1,2]}',
             headers={"Content-Type": "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert digest(srv) == before


def test_json_content_type_variants_and_missing_content_type(srv):
    ok(http(srv, "POST", "/api/collections/e2/insert", raw=b'{"id":111,"vector":[1,2]}',
            headers={"Content-Type": "application/json; charset=utf-8"}))
    # no Content-Type at all is JSON
    st, _, body = request(srv.http_port, "POST", "/api/collections/e2/insert",
                          body=b'{"id":112,"vector":[1,2]}')
    assert st == 200, body
    got = ok(http(srv, "GET", "/api/collections/e2/points?ids=111,112&with_vector=false"))
    assert [p["id"] for p in got] == [111, 112]
    ok(http(srv, "POST", "/api/collections/e2/points/delete", {"ids": [111, 112]}))


def test_routes_without_a_body_ignore_content_type_and_body(srv):
    st, _, body = request(srv.http_port, "GET", "/api/collections",
                          body=b"not json at all", headers=[("Content-Type", "text/plain")])
    assert st == 200 and isinstance(body, list)
    st, _, body = request(srv.http_port, "POST", "/api/collections/e2/snapshot",
                          body=b"<xml/>", headers=[("Content-Type", "application/xml")])
    assert st == 200 and body["status"] == "Snapshot completed"
    st, _, body = request(srv.http_port, "DELETE", "/api/collections/e2/points/999",
                          body=b"[[[", headers=[("Content-Type", "text/plain")])
    assert st == 200 and body["deleted"] == 0


def test_headers_too_large(srv):
    err(http(srv, "GET", "/api/status", headers={"X-Filler": "a" * 20000}), 431,
        "HEADERS_TOO_LARGE", message="Request headers too large")
    ok(http(srv, "GET", "/api/status", headers={"X-Filler": "a" * 8000}))


def test_content_length_of_a_gigabyte_is_refused_before_the_body(srv):
    head = (b"POST /api/collections/e2/insert HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
    st, h, body = raw_exchange(srv.http_port, head)
    assert st == 413
    assert body == {"error": {"code": "PAYLOAD_TOO_LARGE",
                              "message": "Request body exceeds 33554432 bytes",
                              "details": {"limit_bytes": 33554432}}}


# ---- 4.2 body limit on a server with HS_HTTP_MAX_BODY_MB=1 ---------------------------------------

LIMIT = 1048576


@pytest.fixture(scope="module")
def small():
    s = Server(env={"HS_HTTP_MAX_BODY_MB": "1"}).start()
    ok(http(s, "POST", "/api/collections", {"name": "lim", "dimension": 2, "metric": "l2"}), 201)
    yield s
    finish(s)


TOO_LARGE = {"error": {"code": "PAYLOAD_TOO_LARGE",
                       "message": "Request body exceeds %d bytes" % LIMIT,
                       "details": {"limit_bytes": LIMIT}}}


def padded(size, pid):
    """A valid insert body of exactly `size` bytes."""
    core = b'{"id":%d,"vector":[1,2]}' % pid
    return core[:-1] + b" " * (size - len(core)) + b"}"


def insert_head(path, length, ctype=b"application/json"):
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
            % (path.encode(), ctype, length))


def test_body_over_the_limit_is_413(small):
    for size in (2 * LIMIT, LIMIT + 1):
        body = padded(size, 1)
        st, h, resp = raw_exchange(small.http_port,
                                   insert_head("/api/collections/lim/insert", len(body)), body)
        assert (st, resp) == (413, TOO_LARGE)
        assert h["content-type"] == "application/json"
        assert h["x-content-type-options"] == "nosniff"
    assert http(small, "GET", "/api/collections/lim/points/1")[0] == 404
    # exactly the limit is fine
    ok(http(small, "POST", "/api/collections/lim/insert", raw=padded(LIMIT, 2), headers=JSON))
    assert ok(http(small, "POST", "/api/collections/lim/count", {})) == {"count": 1}
    assert small.proc.poll() is None


def test_413_comes_before_any_body_byte_and_without_100_continue(small):
    head = (b"POST /api/collections/lim/insert HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2097152\r\n"
            b"Expect: 100-continue\r\n\r\n")
    st, _, body = raw_exchange(small.http_port, head)
    assert (st, body) == (413, TOO_LARGE)
    head = (b"POST /api/collections/lim/insert/batch HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-hyperspace-f32\r\nContent-Length: 2097152\r\n\r\n")
    st, _, body = raw_exchange(small.http_port, head)
    assert (st, body) == (413, TOO_LARGE)


def test_chunked_body_over_the_limit_is_413(small):
    pieces = [b'{"id":3,"vector":[1,2],"pad":"'] + [b"x" * 65536] * 24 + [b'"}']
    st, h, body = request(small.http_port, "POST", "/api/collections/lim/insert", body=pieces,
                          headers=[("Content-Type", "application/json")], chunked=True)
    assert (st, body) == (413, TOO_LARGE)
    assert http(small, "GET", "/api/collections/lim/points/3")[0] == 404
    # a chunked body under the limit is read normally
    pieces = [b'{"id":4,', b'"vector":[1,2]', b"}"]
    st, _, body = request(small.http_port, "POST", "/api/collections/lim/insert", body=pieces,
                          headers=[("Content-Type", "application/json")], chunked=True)
    assert st == 200, body
    assert ok(http(small, "GET", "/api/collections/lim/points/4"))["vector"] == [1, 2]
    assert small.proc.poll() is None
