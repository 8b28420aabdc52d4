"""The binary bulk format application/x-hyperspace-f32 of http.md section 5 on
POST /api/collections/{name}/insert/batch: both examples of 5.3 byte for byte, every
INVALID_BINARY_BODY reason, and the JSON-batch semantics after float32 widening (5.2)."""
import random
import struct

import pytest

from conftest import Server, http, finish, ok

F32 = {"Content-Type": "application/x-hyperspace-f32"}

EXAMPLE_1 = bytes.fromhex(
    "48534631 02000000 02000000 00000000 64000000"
    "0000003f 000080be 0000803f 00000040".replace(" ", ""))
EXAMPLE_2 = bytes.fromhex(
    "48534631 02000000 02000000 03000000 00000000"
    "0a000000 0b000000"
    "0000003f 000080be 0000803f 00000040"
    "0b000000 7b22746167223a2261227d 00000000".replace(" ", ""))


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def pack(dim, vectors, ids=None, first_id=0, metas=None, flags=None, count=None):
    """A body in the section 5.1 layout; metas are bytes (b"" = no metadata) or None."""
    if flags is None:
        flags = (1 if ids is not None else 0) | (2 if metas is not None else 0)
    n = len(vectors) if count is None else count
    out = b"HSF1" + struct.pack("<IIII", dim, n, flags, first_id)
    if ids is not None:
        out += struct.pack("<%dI" % len(ids), *ids)
    for v in vectors:
        out += struct.pack("<%df" % len(v), *v)
    for m in metas or ():
        out += struct.pack("<I", len(m)) + m
    return out


def post(s, name, body, query=""):
    return http(s, "POST", "/api/collections/%s/insert/batch%s" % (name, query), raw=body,
                headers=F32)


def collection(s, name, dim=2, metric="l2"):
    ok(http(s, "POST", "/api/collections", {"name": name, "dimension": dim, "metric": metric}),
       201)


def digest(s, name):
    return ok(http(s, "GET", "/api/collections/%s/digest" % name))


@pytest.fixture(scope="module")
def srv():
    s = Server(env={"HS_DIMENSION": "2", "HS_METRIC": "l2"}).start()
    collection(s, "bin")
    collection(s, "bcos", metric="cosine")
    collection(s, "bball", metric="poincare")
    ok(http(s, "POST", "/api/collections/bin/insert", {"id": 1, "vector": [7, 7],
                                                       "metadata": {"keep": "me"}}))
    yield s
    finish(s)


@pytest.fixture(autouse=True)
def still_alive(srv):
    yield
    assert srv.proc is not None and srv.proc.poll() is None, "server died:\n" + srv.output()[-5000:]


def test_examples_are_what_the_layout_describes():
    assert len(EXAMPLE_1) == 36 and len(EXAMPLE_2) == 63
    assert EXAMPLE_1 == pack(2, [[0.5, -0.25], [1, 2]], first_id=100)
    assert EXAMPLE_2 == pack(2, [[0.5, -0.25], [1, 2]], ids=[10, 11],
                             metas=[b'{"tag":"a"}', b""])


def test_example_1_byte_for_byte(srv):
    c = digest(srv, "bin")["logical_clock"]
    st, h, body = post(srv, "bin", EXAMPLE_1)
    assert st == 200, body
    assert h["content-type"] == "application/json"
    assert list(body) == ["upserted", "logical_clock"]
    assert body == {"upserted": 2, "logical_clock": c + 2}
    got = ok(http(srv, "GET", "/api/collections/bin/points?ids=100,101"))
    assert got == [{"id": 100, "vector": [0.5, -0.25], "metadata": {}},
                   {"id": 101, "vector": [1, 2], "metadata": {}}]


def test_example_2_byte_for_byte(srv):
    c = digest(srv, "bin")["logical_clock"]
    body = ok(post(srv, "bin", EXAMPLE_2))
    assert body == {"upserted": 2, "logical_clock": c + 2}
    got = ok(http(srv, "GET", "/api/collections/bin/points?ids=10,11"))
    assert got == [{"id": 10, "vector": [0.5, -0.25], "metadata": {"tag": "a"}},
                   {"id": 11, "vector": [1, 2], "metadata": {}}]


def test_binary_batch_equals_the_json_batch(srv):
    rnd = random.Random(7)
    pts = [(rnd.randrange(0, 1 << 32), [f32(rnd.uniform(-10, 10)) for _ in range(2)])
           for _ in range(40)]
    metas = [b'{"n":%d,"f":9.5,"b":false,"s":"x"}' % i if i % 3 else b"" for i in range(40)]
    collection(srv, "bjson")
    collection(srv, "bbin")
    ok(http(srv, "POST", "/api/collections/bjson/insert/batch", {"vectors": [
        dict(id=pid, vector=v, **({"metadata": {"n": i, "f": 9.5, "b": False, "s": "x"}}
                                 if i % 3 else {}))
        for i, (pid, v) in enumerate(pts)]}))
    ok(post(srv, "bbin", pack(2, [v for _, v in pts], ids=[p for p, _ in pts], metas=metas)))
    dj, db = digest(srv, "bjson"), digest(srv, "bbin")
    for k in ("count", "state_hash", "buckets"):
        assert dj[k] == db[k], k
    pid = pts[1][0]
    assert ok(http(srv, "GET", "/api/collections/bbin/points/%d" % pid)) == \
        ok(http(srv, "GET", "/api/collections/bjson/points/%d" % pid))
    assert ok(http(srv, "GET", "/api/collections/bbin/points/%d" % pid))["metadata"] == \
        {"n": "1", "f": "9.5", "b": "false", "s": "x"}


def test_float32_is_widened_exactly(srv):
    ok(post(srv, "bin", pack(2, [[0.1, -3.4028234663852886e38]], first_id=300)))
    p = ok(http(srv, "GET", "/api/collections/bin/points/300"))
    assert p["vector"] == [0.10000000149011612, -3.4028234663852886e+38]


def test_upsert_replaces_vector_and_metadata(srv):
    ok(post(srv, "bin", pack(2, [[3, 4]], ids=[400], metas=[b'{"v":"old"}'])))
    ok(post(srv, "bin", pack(2, [[5, 6]], ids=[400])))
    assert ok(http(srv, "GET", "/api/collections/bin/points/400")) == \
        {"id": 400, "vector": [5, 6], "metadata": {}}


def test_first_id_up_to_the_last_id(srv):
    ok(post(srv, "bin", pack(2, [[1, 1], [2, 2]], first_id=4294967294)))
    got = ok(http(srv, "GET", "/api/collections/bin/points?ids=4294967294,4294967295"))
    assert [p["id"] for p in got] == [4294967294, 4294967295]
    # with IDS set, first_id is ignored
    ok(post(srv, "bin", pack(2, [[1, 1]], ids=[500], first_id=4294967295)))
    assert http(srv, "GET", "/api/collections/bin/points/500")[0] == 200


def test_count_zero_writes_nothing(srv):
    d = digest(srv, "bin")
    body = ok(post(srv, "bin", pack(2, [])))
    assert body == {"upserted": 0, "logical_clock": d["logical_clock"]}
    body = ok(post(srv, "bin", pack(7, [], first_id=4294967295)))  # no point: nothing checked
    assert body == {"upserted": 0, "logical_clock": d["logical_clock"]}
    assert digest(srv, "bin") == d


def test_durability_query_parameter(srv):
    ok(post(srv, "bin", pack(2, [[1, 2]], first_id=600), "?durability=strict"))
    ok(post(srv, "bin", pack(2, [[1, 2]], first_id=601), "?durability=1"))
    d = digest(srv, "bin")
    st, _, body = post(srv, "bin", pack(2, [[1, 2]], first_id=602), "?durability=bogus")
    assert st == 400 and body == {"error": {
        "code": "INVALID_PARAMETER",
        "message": "durability must be one of default, async, batch, strict (got 'bogus')"}}
    assert digest(srv, "bin") == d


def test_implicit_default_collection(srv):
    t = {"x-hyperspace-user-id": "t_bin"}
    st, _, body = http(srv, "POST", "/api/collections/default/insert/batch", raw=EXAMPLE_1,
                       headers=dict(F32, **t))
    assert st == 200 and body["upserted"] == 2
    stats = ok(http(srv, "GET", "/api/collections/default/stats", headers=t))
    assert (stats["count"], stats["dimension"], stats["metric"]) == (2, 2, "l2")


def binary_error(srv, name, body, message=None, prefix=None, code="INVALID_BINARY_BODY",
                 details=None):
    before = digest(srv, name)
    st, h, resp = post(srv, name, body)
    assert st == 400, resp
    assert h["content-type"] == "application/json"
    e = resp["error"]
    assert e["code"] == code, e
    if message is not None:
        assert e["message"] == message, e
    if prefix is not None:
        assert e["message"].startswith(prefix), e
    if details is None:
        assert "details" not in e, e
    else:
        assert e["details"] == details, e
    assert digest(srv, name) == before  # nothing written, no tick
    return e


@pytest.mark.parametrize("body", [
    b"HSF2" + EXAMPLE_1[4:],
    b"hsf1" + EXAMPLE_1[4:],
    b'{"vectors":[]}',
    b"\x00" * 36,
], ids=["HSF2", "lower-case", "json", "zeros"])
def test_bad_magic(srv, body):
    binary_error(srv, "bin", body, "Invalid binary body: bad magic")


@pytest.mark.parametrize("flags", [4, 8, 0x80000000, 0x80000003])
def test_unknown_flags(srv, flags):
    body = EXAMPLE_1[:12] + struct.pack("<I", flags) + EXAMPLE_1[16:]
    e = binary_error(srv, "bin", body, prefix="Invalid binary body: unknown flags 0x")
    assert int(e["message"].rsplit("0x", 1)[1], 16) == flags


@pytest.mark.parametrize("body, n, m", [
    (EXAMPLE_1 + b"\x00", 37, 36),
    (EXAMPLE_1[:-1], 35, 36),
    (EXAMPLE_1[:20], 20, 36),
    (EXAMPLE_2 + b"\x00", 64, 63),
    (EXAMPLE_2[:-1], 62, 63),
    # the first metadata length claims 12 bytes: the section runs past the end
    (EXAMPLE_2[:44] + struct.pack("<I", 12) + EXAMPLE_2[48:], 63, 64),
    (pack(2, [[1, 2]], ids=[1, 2], count=2), 36, 44),
], ids=["ex1+1", "ex1-1", "header-only", "ex2+1", "ex2-1", "meta-past-end", "vectors-short"])
def test_wrong_length(srv, body, n, m):
    binary_error(srv, "bin", body,
                 "Invalid binary body: length is %d bytes, expected %d" % (n, m))


def test_truncated_header(srv):
    binary_error(srv, "bin", EXAMPLE_1[:12], prefix="Invalid binary body: length is 12 bytes, "
                                                    "expected ")


def test_ids_overflow(srv):
    binary_error(srv, "bin", pack(2, [[1, 1], [2, 2]], first_id=4294967295),
                 "Invalid binary body: ids overflow 4294967295")
    binary_error(srv, "bin", pack(2, [[1, 1]] * 3, first_id=4294967294),
                 "Invalid binary body: ids overflow 4294967295")


@pytest.mark.parametrize("metas, index", [
    ([b"[1]", b""], 0),
    ([b"", b'"text"'], 1),
    ([b"{", b""], 0),
    ([b"", b'{"a":{"b":"c"}}'], 1),
    ([b'{"a":null}', b""], 0),
    ([b'{"a":[1]}', b""], 0),
    ([b'{"a":"b"} x', b""], 0),
    ([b"7", b""], 0),
], ids=["array", "string", "truncated", "nested", "null", "list-value", "trailing", "number"])
def test_metadata_not_an_object(srv, metas, index):
    body = pack(2, [[1, 2], [3, 4]], ids=[700, 701], metas=metas)
    binary_error(srv, "bin", body,
                 "Invalid binary body: metadata of vectors[%d] is not a JSON object of strings"
                 % index)
    assert http(srv, "GET", "/api/collections/bin/points/700")[0] == 404


def test_dimension_mismatch(srv):
    before = digest(srv, "bin")
    st, _, resp = post(srv, "bin", pack(3, [[1, 2, 3]], first_id=800))
    assert st == 400, resp
    e = resp["error"]
    assert e["code"] == "DIMENSION_MISMATCH"
    assert e["message"].endswith("Vector dimension mismatch. Expected 2, got 3")
    assert e["details"]["expected"] == 2 and e["details"]["got"] == 3
    assert digest(srv, "bin") == before


def test_point_validation_prefix_index_and_atomicity(srv):
    nan, inf = float("nan"), float("inf")
    binary_error(srv, "bin", pack(2, [[1, 2], [nan, 1], [inf, 1]], first_id=900),
                 "vectors[1]: Vector contains a non-finite value at index 0",
                 code="INVALID_VECTOR", details={"index": 1})
    binary_error(srv, "bin", pack(2, [[1, 2], [1, 2], [1, -inf]], first_id=900),
                 "vectors[2]: Vector contains a non-finite value at index 1",
                 code="INVALID_VECTOR", details={"index": 2})
    binary_error(srv, "bcos", pack(2, [[1, 2], [0, -0.0]], first_id=900),
                 "vectors[1]: Zero vector is not allowed with the cosine metric",
                 code="INVALID_VECTOR", details={"index": 1})
    x = f32(0.8)
    s = x * x + x * x
    binary_error(srv, "bball", pack(2, [[0.5, 0.5], [x, x]], first_id=900),
                 "vectors[1]: Vector must be strictly inside the Poincar\u00e9 ball "
                 "(squared norm %r >= 1)" % s, code="OUT_OF_BALL",
                 details={"index": 1, "squared_norm": s})
    for name in ("bin", "bcos", "bball"):
        assert http(srv, "GET", "/api/collections/%s/points/900" % name)[0] == 404
