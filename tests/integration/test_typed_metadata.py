"""Typed metadata end to end over HTTP and gRPC (docs/api/http.md "Typed metadata",
docs/api/grpc.md "Typed metadata"): integers (exact int64), floats, booleans, strings and lists
written with `typed_metadata` and read back with their types on both transports, while the
string `metadata` keeps carrying every entry as text for v2.0.0 clients; Match over every scalar
type (a number matches the same number written as an integer or a float; a string never equals
a number; a list matches when an element does), Range with float and strict bounds, counted and
searched against this file's own evaluation; the refusals; and typed values through a kill -9
(log replay), a restart from a checkpoint, a rebuild and the payload indexes."""
import math
import random
import signal

import grpc
import pytest

from conftest import http, ok, restart

INV = grpc.StatusCode.INVALID_ARGUMENT
I64_MIN, I64_MAX = -2 ** 63, 2 ** 63 - 1


def create(srv, name, dim=2):
    ok(http(srv, "POST", "/api/collections", {"name": name, "dimension": dim, "metric": "l2"}),
       201)


def err(resp, status, code, message):
    st, _, body = resp
    assert st == status, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"] == message, body


def grpc_err(fn, req):
    with pytest.raises(grpc.RpcError) as e:
        fn(req)
    return e.value.code(), e.value.details()


# ---- the reference ------------------------------------------------------------------------------

def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def scalars(v):
    return v if isinstance(v, list) else [v]


def text_of(v):
    """The string form a v2.0.0 client receives."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ",".join(json_text(e) for e in v) + "]"
    if isinstance(v, float):
        return float_text(v)
    return str(v)


def float_text(f):
    r = repr(f)
    if r.endswith(".0"):
        r = r[:-2]
    if "e" in r:  # ECMAScript: 1e+21, 1.5e-7
        m, e = r.split("e")
        r = m + "e" + ("-" if e.startswith("-") else "+") + e.lstrip("+-").lstrip("0")
    return r


def json_text(e):
    import json
    if isinstance(e, str):
        return json.dumps(e, ensure_ascii=False)
    return text_of(e)


def as_int64(s):
    import re
    if not re.fullmatch(r"[+-]?[0-9]+", s, flags=re.ASCII):
        return None
    n = int(s)
    return n if I64_MIN <= n <= I64_MAX else None


def eq(s, q):
    if isinstance(q, bool) or isinstance(s, bool):
        return isinstance(q, bool) and isinstance(s, bool) and s == q
    if isinstance(q, str) or isinstance(s, str):
        return isinstance(q, str) and isinstance(s, str) and s == q
    return s == q  # Python compares int and float exactly


def in_range(s, b):
    if isinstance(s, bool):
        return False
    if isinstance(s, str):
        s = as_int64(s)
        if s is None:
            return False
    return ((b.get("gte") is None or s >= b["gte"]) and (b.get("lte") is None or s <= b["lte"])
            and (b.get("gt") is None or s > b["gt"]) and (b.get("lt") is None or s < b["lt"]))


def holds(meta, c):
    kind, key = c[0], c[1]
    if key not in meta:
        return False
    if kind == "match":
        return any(eq(s, c[2]) for s in scalars(meta[key]))
    if kind == "match_http":  # a JSON number or boolean also matches its v2 text
        q = c[2]
        return any(eq(s, q) or (isinstance(s, str) and not isinstance(q, str)
                                and s == text_of(q)) for s in scalars(meta[key]))
    return any(in_range(s, c[2]) for s in scalars(meta[key]))


# ---- round trips --------------------------------------------------------------------------------

TYPED = {"i": 42, "neg": -7, "big": 2 ** 53 + 1, "min": I64_MIN, "max": I64_MAX, "f": 9.5,
         "tiny": 1.5e-7, "huge": 1e21, "t": True, "no": False, "s": "text",
         "tags": ["a", "b\"c", 1, 2.5, False], "empty": []}


def check_typed(point, typed):
    assert point["typed_metadata"] == typed
    for k, v in typed.items():
        assert point["metadata"][k] == text_of(v), k
    assert type(point["typed_metadata"]["f"]) is float
    assert type(point["typed_metadata"]["i"]) is int


def test_http_round_trip(srv):
    create(srv, "tm_http")
    body = {"id": 1, "vector": [0.5, 0.5], "metadata": {"plain": "x", "n": 100},
            "typed_metadata": TYPED}
    ok(http(srv, "POST", "/api/collections/tm_http/insert", body))
    ok(http(srv, "POST", "/api/collections/tm_http/insert",
            {"id": 2, "vector": [1, 1], "metadata": {"n": 100, "t": True}}))
    want = dict(TYPED, plain="x", n="100")
    p = ok(http(srv, "GET", "/api/collections/tm_http/points/1"))
    check_typed(p, want)
    # a point of strings only keeps the v2.0.0 shape: no typed_metadata member
    p2 = ok(http(srv, "GET", "/api/collections/tm_http/points/2"))
    assert p2 == {"id": 2, "vector": [1, 1], "metadata": {"n": "100", "t": "true"}}
    res = ok(http(srv, "POST", "/api/collections/tm_http/search",
                  {"vector": [0.5, 0.5], "top_k": 2}))
    check_typed(res[0], want)
    assert "typed_metadata" not in res[1]
    sc = ok(http(srv, "POST", "/api/collections/tm_http/scroll", {}))
    check_typed(sc["points"][0], want)
    many = ok(http(srv, "GET", "/api/collections/tm_http/points?ids=2,1"))
    check_typed(many[1], want)
    # peek keeps its v2.0.0 triples of strings
    peek = ok(http(srv, "GET", "/api/collections/tm_http/peek"))
    assert {r[0]: r[2] for r in peek}[1]["tags"] == '["a","b\\"c",1,2.5,false]'
    # a key in both objects keeps its typed value
    ok(http(srv, "POST", "/api/collections/tm_http/insert",
            {"id": 3, "vector": [2, 2], "metadata": {"k": "7", "s": "x"},
             "typed_metadata": {"k": 7}}))
    p3 = ok(http(srv, "GET", "/api/collections/tm_http/points/3"))
    assert p3["typed_metadata"] == {"s": "x", "k": 7} and p3["metadata"] == {"s": "x", "k": "7"}


def test_grpc_round_trip(srv, rpc):
    P, stub = rpc
    create(srv, "tm_grpc")

    def mv(v):
        if isinstance(v, bool):
            return P.MetadataValue(bool_value=v)
        if isinstance(v, int):
            return P.MetadataValue(int_value=v)
        if isinstance(v, float):
            return P.MetadataValue(double_value=v)
        if isinstance(v, str):
            return P.MetadataValue(string_value=v)
        return P.MetadataValue(list_value=P.MetadataList(values=[mv(e) for e in v]))

    def py(m):
        which = m.WhichOneof("kind")
        if which == "list_value":
            return [py(e) for e in m.list_value.values]
        return getattr(m, which)

    req = P.InsertRequest(collection="tm_grpc", id=1, vector=[0.5, 0.5],
                          metadata={"plain": "x"})
    for k, v in TYPED.items():
        req.typed_metadata[k].CopyFrom(mv(v))
    assert stub.Insert(req).success
    stub.Insert(P.InsertRequest(collection="tm_grpc", id=2, vector=[1, 1], metadata={"a": "b"}))
    want = dict(TYPED, plain="x")
    r = stub.Search(P.SearchRequest(collection="tm_grpc", vector=[0.5, 0.5], top_k=2)).results
    assert r[0].id == 1
    assert {k: py(v) for k, v in r[0].typed_metadata.items()} == want
    assert dict(r[0].metadata) == {k: text_of(v) for k, v in want.items()}
    assert r[0].typed_metadata["f"].WhichOneof("kind") == "double_value"
    assert r[0].typed_metadata["big"].int_value == 2 ** 53 + 1
    assert len(r[1].typed_metadata) == 0 and dict(r[1].metadata) == {"a": "b"}
    pts = stub.GetPoints(P.GetPointsRequest(collection="tm_grpc", ids=[1, 2])).points
    assert {k: py(v) for k, v in pts[0].typed_metadata.items()} == want
    assert len(pts[1].typed_metadata) == 0
    # BatchInsert carries typed values too; HTTP reads them with their types
    vd = P.VectorData(id=3, vector=[2, 2])
    vd.typed_metadata["n"].CopyFrom(mv(3))
    vd.typed_metadata["l"].CopyFrom(mv(["x", 1.25]))
    assert stub.BatchInsert(P.BatchInsertRequest(collection="tm_grpc", vectors=[vd])).success
    p = ok(http(srv, "GET", "/api/collections/tm_grpc/points/3"))
    assert p["typed_metadata"] == {"n": 3, "l": ["x", 1.25]}
    assert p["metadata"] == {"n": "3", "l": '["x",1.25]'}
    # and what HTTP wrote, gRPC reads typed
    ok(http(srv, "POST", "/api/collections/tm_grpc/insert",
            {"id": 4, "vector": [3, 3], "typed_metadata": {"ok": True, "x": 0.25}}))
    pts = stub.GetPoints(P.GetPointsRequest(collection="tm_grpc", ids=[4])).points
    assert pts[0].typed_metadata["ok"].bool_value is True
    assert pts[0].typed_metadata["x"].double_value == 0.25
    assert dict(pts[0].metadata) == {"ok": "true", "x": "0.25"}


def test_refusals(srv, rpc):
    P, stub = rpc
    create(srv, "tm_bad")
    before = ok(http(srv, "GET", "/api/collections/tm_bad/digest"))
    kind = "Invalid metadata: value of key 'k' must be a string, number, boolean or a list of them"
    for typed, code, msg in (
            ({"k": None}, "INVALID_METADATA", kind),
            ({"k": {"a": 1}}, "INVALID_METADATA", kind),
            ({"k": [[1]]}, "INVALID_METADATA", kind),
            ({"k": [1, None]}, "INVALID_METADATA", kind),
            ({"k": list(range(1025))}, "INVALID_METADATA",
             "Invalid metadata: list of key 'k' has more than 1024 elements"),
            ({"k": ["x" * 1000] * 66}, "INVALID_METADATA",
             "Invalid metadata: value of key 'k' longer than 65536 bytes"),
            ({"": 1}, "INVALID_METADATA", "Invalid metadata: empty key")):
        err(http(srv, "POST", "/api/collections/tm_bad/insert",
                 {"id": 1, "vector": [0, 0], "typed_metadata": typed}), 400, code, msg)
    err(http(srv, "POST", "/api/collections/tm_bad/insert",
             {"id": 1, "vector": [0, 0], "typed_metadata": [1]}), 400, "INVALID_ARGUMENT",
        "Field 'typed_metadata' must be an object")
    st, _, _ = http(srv, "POST", "/api/collections/tm_bad/insert", raw=b'{"id":1,"vector":[0,0],'
                    b'"typed_metadata":{"k":1e400}}', headers={"Content-Type": "application/json"})
    assert st == 400
    # gRPC: the same refusals, INVALID_ARGUMENT with the same messages
    for v, msg in (
            (P.MetadataValue(double_value=math.nan),
             "Invalid metadata: value of key 'k' is not a finite number"),
            (P.MetadataValue(double_value=math.inf),
             "Invalid metadata: value of key 'k' is not a finite number"),
            (P.MetadataValue(), kind),
            (P.MetadataValue(list_value=P.MetadataList(values=[
                P.MetadataValue(list_value=P.MetadataList())])), kind),
            (P.MetadataValue(list_value=P.MetadataList(values=[P.MetadataValue(int_value=1)] * 1025)),
             "Invalid metadata: list of key 'k' has more than 1024 elements")):
        req = P.InsertRequest(collection="tm_bad", id=1, vector=[0, 0])
        req.typed_metadata["k"].CopyFrom(v)
        assert grpc_err(stub.Insert, req) == (INV, msg)
    assert ok(http(srv, "GET", "/api/collections/tm_bad/digest")) == before
    # filters: a list or no value as a typed Match value; a NaN bound
    for f, msg in (
            (P.Filter(match=P.Match(key="k", typed_value=P.MetadataValue(
                list_value=P.MetadataList()))),
             "Invalid filter: filters[0].match.typed_value must be a string, number or boolean"),
            (P.Filter(match=P.Match(key="k", typed_value=P.MetadataValue())),
             "Invalid filter: filters[0].match.typed_value must be a string, number or boolean"),
            (P.Filter(match=P.Match(key="k", value="x", typed_value=P.MetadataValue(int_value=1))),
             "Invalid filter: filters[0].match sets both value and typed_value"),
            (P.Filter(range=P.Range(key="k", gte_f64=math.nan)),
             "Invalid filter: filters[0].range.gte_f64 must be a number")):
        assert grpc_err(stub.Search, P.SearchRequest(collection="tm_bad", vector=[0, 0],
                                                     filters=[f])) == (INV, msg)
        assert grpc_err(stub.Count, P.CountRequest(collection="tm_bad", filters=[f])) == (INV, msg)


# ---- filters against the reference --------------------------------------------------------------

def make_points(n, seed):
    rnd = random.Random(seed)
    pts = []
    for i in range(n):
        typed = {"price": i % 50 if i % 3 else (i % 50) + 0.5,
                 "score": rnd.randrange(1024) / 1024,
                 "ok": i % 5 == 0,
                 "tags": ["t%d" % (i % 7), i % 11]}
        meta = {"name": "item-%d" % (i % 40)}
        if i % 13 == 0:  # the v2.0.0 way: a number written as a string
            meta["price"] = str(i % 50)
            del typed["price"]
        pts.append((i, [rnd.uniform(-1, 1), rnd.uniform(-1, 1)], meta, typed))
    return pts


def insert_points(srv, name, pts):
    ok(http(srv, "POST", "/api/collections/%s/insert/batch" % name,
            {"vectors": [{"id": i, "vector": v, "metadata": m, "typed_metadata": t}
                         for i, v, m, t in pts]}))


def merged(m, t):
    return dict(m, **t)


# (HTTP condition, gRPC Filter builder or None, reference condition)
def conditions(P):
    mv = P.MetadataValue
    return [
        ({"type": "match", "key": "ok", "value": True},
         lambda: P.Filter(match=P.Match(key="ok", typed_value=mv(bool_value=True))),
         ("match_http", "ok", True)),
        ({"type": "match", "key": "price", "value": 7},
         lambda: P.Filter(match=P.Match(key="price", typed_value=mv(int_value=7))),
         ("match_http", "price", 7)),
        ({"type": "match", "key": "price", "value": 7.5},
         lambda: P.Filter(match=P.Match(key="price", typed_value=mv(double_value=7.5))),
         ("match", "price", 7.5)),
        ({"type": "match", "key": "price", "value": "7"},
         lambda: P.Filter(match=P.Match(key="price", value="7")),
         ("match", "price", "7")),
        ({"type": "match", "key": "tags", "value": "t3"},
         lambda: P.Filter(match=P.Match(key="tags", value="t3")),
         ("match", "tags", "t3")),
        ({"type": "match", "key": "tags", "value": 4},
         lambda: P.Filter(match=P.Match(key="tags", typed_value=mv(double_value=4.0))),
         ("match_http", "tags", 4)),
        ({"type": "range", "key": "score", "gte": 0.25, "lt": 0.5},
         lambda: P.Filter(range=P.Range(key="score", gte_f64=0.25, lt_f64=0.5)),
         ("range", "score", {"gte": 0.25, "lt": 0.5})),
        ({"type": "range", "key": "score", "gt": 0.9},
         lambda: P.Filter(range=P.Range(key="score", gt_f64=0.9)),
         ("range", "score", {"gt": 0.9})),
        ({"type": "range", "key": "price", "gte": 10.5, "lte": 20},
         lambda: P.Filter(range=P.Range(key="price", gte_f64=10.5, lte=20)),
         ("range", "price", {"gte": 10.5, "lte": 20})),
        ({"range": {"key": "price", "gt": 10, "lt": 12}},
         lambda: P.Filter(range=P.Range(key="price", gt=10, lt=12)),
         ("range", "price", {"gt": 10, "lt": 12})),
        ({"type": "range", "key": "tags", "gte": 9},
         lambda: P.Filter(range=P.Range(key="tags", gte=9)),
         ("range", "tags", {"gte": 9})),
        ({"type": "range", "key": "ok", "gte": 0},
         lambda: P.Filter(range=P.Range(key="ok", gte=0)),
         ("range", "ok", {"gte": 0})),
    ]


def test_filters_against_reference(srv, rpc):
    P, stub = rpc
    create(srv, "tm_f")
    pts = make_points(600, 11)
    insert_points(srv, "tm_f", pts)
    metas = {i: merged(m, t) for i, _, m, t in pts}
    vecs = {i: v for i, v, _, _ in pts}
    conds = conditions(P)
    rnd = random.Random(5)
    for hc, gc, rc in conds:
        want = sorted(i for i in metas if holds(metas[i], rc))
        assert ok(http(srv, "POST", "/api/collections/tm_f/count", {"filters": [hc]}))["count"] \
            == len(want), hc
        # over gRPC a typed value matches typed values only (a string never equals a number)
        grc = ("match",) + rc[1:] if rc[0] == "match_http" else rc
        gwant = sorted(i for i in metas if holds(metas[i], grc))
        assert stub.Count(P.CountRequest(collection="tm_f", filters=[gc()])).count == \
            len(gwant), hc
        q = [rnd.uniform(-1, 1), rnd.uniform(-1, 1)]
        exact = sorted(want, key=lambda i: (sum((a - b) ** 2 for a, b in
                                                 zip([float(x) for x in vecs[i]], q)), i))[:10]
        got = [r["id"] for r in ok(http(srv, "POST", "/api/collections/tm_f/search",
                                        {"vector": q, "top_k": 10, "filters": [hc]}))]
        assert len(got) == len(exact) and set(got) <= set(want), hc
        ggot = [r.id for r in stub.Search(P.SearchRequest(collection="tm_f", vector=q, top_k=10,
                                                           filters=[gc()])).results]
        if gwant == want:
            assert ggot == got, hc
        else:
            assert len(ggot) == min(10, len(gwant)) and set(ggot) <= set(gwant), hc
    # two conditions ANDed, and the groups
    body = {"filters": [conds[0][0], conds[6][0]], "must_not": [conds[4][0]]}
    want = [i for i in metas if holds(metas[i], conds[0][2]) and holds(metas[i], conds[6][2])
            and not holds(metas[i], conds[4][2])]
    assert ok(http(srv, "POST", "/api/collections/tm_f/count", body))["count"] == len(want)


def test_v2_number_match_still_finds_strings(srv):
    """A v2.0.0 client stored numbers as strings and matches them with numbers."""
    create(srv, "tm_v2")
    ok(http(srv, "POST", "/api/collections/tm_v2/insert",
            {"id": 1, "vector": [0, 0], "metadata": {"price": 100, "flag": True}}))
    ok(http(srv, "POST", "/api/collections/tm_v2/insert",
            {"id": 2, "vector": [1, 0], "typed_metadata": {"price": 100, "flag": True}}))
    ok(http(srv, "POST", "/api/collections/tm_v2/insert",
            {"id": 3, "vector": [2, 0], "typed_metadata": {"price": 100.0, "flag": "true"}}))
    for f, ids in (({"filter": {"price": 100}}, [1, 2, 3]),
                   ({"filter": {"price": "100"}}, [1]),
                   ({"filters": [{"type": "match", "key": "flag", "value": True}]}, [1, 2, 3]),
                   ({"filters": [{"type": "match", "key": "flag", "value": "true"}]}, [1, 3]),
                   ({"filters": [{"type": "range", "key": "price", "gte": 99.5}]}, [1, 2, 3])):
        res = ok(http(srv, "POST", "/api/collections/tm_v2/search", dict(f, vector=[0, 0])))
        assert [r["id"] for r in res] == ids, f


# ---- restart, replay, rebuild --------------------------------------------------------------------



def test_typed_values_survive_replay_checkpoint_and_rebuild(server_factory, pb):
    P = pb[0]
    s = server_factory()
    create(s, "tm_r")
    pts = make_points(300, 3)
    insert_points(s, "tm_r", pts)
    metas = {i: merged(m, t) for i, _, m, t in pts}
    conds = conditions(P)

    def check(srv):
        got = ok(http(srv, "POST", "/api/collections/tm_r/scroll", {"limit": 1000}))["points"]
        assert len(got) == len(metas)
        for p in got:
            want = metas[p["id"]]
            typed = p.get("typed_metadata")
            assert typed == want, p["id"]
            assert p["metadata"] == {k: text_of(v) for k, v in want.items()}
        for hc, _, rc in conds:
            n = sum(holds(m, rc) for m in metas.values())
            assert ok(http(srv, "POST", "/api/collections/tm_r/count", {"filters": [hc]}))[
                "count"] == n, hc
            res = ok(http(srv, "POST", "/api/collections/tm_r/search",
                          {"vector": [0, 0], "top_k": 5, "filters": [hc]}))
            assert len(res) == min(5, n) and all(holds(metas[r["id"]], rc) for r in res), hc

    check(s)
    # kill -9: everything comes back from the log
    restart(s, signal.SIGKILL)
    check(s)
    # a checkpoint (with the payload indexes), then a restart from it
    ok(http(s, "POST", "/api/collections/tm_r/snapshot"))
    restart(s)
    check(s)
    # replacements, then a rebuild renumbers the slots
    for i, v, m, t in pts[::9]:
        t["ok"] = not t.get("ok", False)
        t["score"] = 0.5
        metas[i] = merged(m, t)
        ok(http(s, "POST", "/api/collections/tm_r/insert",
                {"id": i, "vector": v, "metadata": m, "typed_metadata": t}))
    check(s)
    ok(http(s, "POST", "/api/collections/tm_r/rebuild"))
    check(s)
    restart(s)
    check(s)
