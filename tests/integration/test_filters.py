"""Filters end to end (behaviour.md B4.3, http.md 6.10 / 6.15 / 6.16 / 6.17) and hybrid search
(B5) over gRPC and HTTP: the worked examples of the spec, int64 range parsing, the HTTP-only
`must` / `should` / `must_not` groups on search, count, scroll and delete, result counts of
min(top_k, matching) against a brute-force reference, upserts seen at once by Match, Range and
BM25 (also across restarts), the BM25 / fusion check values, a labelled relevance case and the
E_FILTER / E_ALPHA errors (which must change nothing).

Expected answers are computed here independently: an exact filtered top-k over the vectors this
file inserted (float32 storage for l2, B3.1), and a small BM25 + weighted-RRF reference (B5.3,
B5.4).  Every test names its own collections, so the tests of this module share one server
(the restart test starts its own)."""
import math
import random
import re
import struct

import grpc
import pytest

from conftest import Server, finish, http, ok

INV = grpc.StatusCode.INVALID_ARGUMENT
I64_MIN, I64_MAX = -2 ** 63, 2 ** 63 - 1


# ---- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def still_alive(srv):
    yield
    assert srv.proc is not None and srv.proc.poll() is None, "server died:\n" + srv.output()[-5000:]


# ---- reference semantics ------------------------------------------------------------------------

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def l2(u, q):
    return math.fsum((a - b) * (a - b) for a, b in zip(u, q))


def as_int64(v):
    """B4.3 int64 parsing: the whole value is ^[+-]?[0-9]+$ (ASCII digits) within int64."""
    if not re.fullmatch(r"[+-]?[0-9]+", v, flags=re.ASCII):
        return None
    n = int(v)
    return n if I64_MIN <= n <= I64_MAX else None


# A condition is ("match", key, value) or ("range", key, gte or None, lte or None).
def cond_ok(meta, c):
    if c[1] not in meta:
        return False
    v = meta[c[1]]
    if c[0] == "match":
        return v == c[2]
    n = as_int64(v)
    return n is not None and (c[2] is None or c[2] <= n) and (c[3] is None or n <= c[3])


def where_ok(meta, must=(), should=(), must_not=(), fmap=None):
    if fmap and any(meta.get(k) != v for k, v in fmap.items()):
        return False
    if not all(cond_ok(meta, c) for c in must):
        return False
    if should and not any(cond_ok(meta, c) for c in should):
        return False
    return not any(cond_ok(meta, c) for c in must_not)


def json_bound(n):
    """A Range bound for a JSON body: a JSON integer where binary64 holds it exactly, else a
    string holding the int64 (both forms are valid, http.md 6.10; the JSON-integer form of
    large bounds has its own test)."""
    return n if abs(n) <= 2 ** 53 else str(n)


def http_cond(c, style="type"):
    """A condition in one of the two HTTP item syntaxes of http.md 6.10."""
    if c[0] == "match":
        d = {"key": c[1], "value": c[2]}
    else:
        d = {"key": c[1]}
        if c[2] is not None:
            d["gte"] = json_bound(c[2])
        if c[3] is not None:
            d["lte"] = json_bound(c[3])
    if style == "type":
        return dict(type=c[0], **d)
    return {c[0]: d}


def grpc_cond(P, c):
    if c[0] == "match":
        return P.Filter(match=P.Match(key=c[1], value=c[2]))
    kw = {"key": c[1]}
    if c[2] is not None:
        kw["gte"] = c[2]
    if c[3] is not None:
        kw["lte"] = c[3]
    return P.Filter(range=P.Range(**kw))


def tokens(text):
    """B5.1 for the ASCII texts of this file: maximal alphanumeric runs, lower-cased."""
    return [t.lower() for t in re.findall(r"[^\W_]+", text)]


def hybrid_ref(points, q, query, alpha, top_k, pred=lambda m: True):
    """B5.3 BM25 over all live points + B5.4 fusion; [(id, distance, score)] best first.
    points: {id: (vector, metadata)} of the live points."""
    k1, b = 1.2, 0.75
    docs = {i: [t for v in m.values() for t in tokens(v)] for i, (_, m) in points.items()}
    n_live = len(points)
    avgdl = sum(len(d) for d in docs.values()) / n_live
    qt = sorted(set(tokens(query)))
    nt = {t: sum(1 for d in docs.values() if t in d) for t in qt}
    bm = {}
    for i, d in docs.items():
        s = 0.0
        for t in qt:
            if nt[t] == 0:
                continue
            tf = d.count(t)
            idf = math.log(1 + (n_live - nt[t] + 0.5) / (nt[t] + 0.5))
            s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
        if s > 0:
            bm[i] = s
    depth = min(10000, max(100, 2 * top_k))
    match = [i for i in points if pred(points[i][1])]
    dist = {i: l2(points[i][0], q) for i in match}
    vrank = {i: r + 1 for r, i in enumerate(sorted(match, key=lambda i: (dist[i], i))[:depth])}
    trank = {i: r + 1 for r, i in enumerate(
        sorted([i for i in match if i in bm], key=lambda i: (-bm[i], i))[:depth])}
    score = {}
    for i in set(vrank) | set(trank):
        s = 0.0
        if i in vrank:
            s += (1 - alpha) / (60 + vrank[i])
        if i in trank:
            s += alpha / (60 + trank[i])
        score[i] = s
    order = sorted(score, key=lambda i: (-score[i], dist[i], i))[:top_k]
    return [(i, dist[i], score[i]) for i in order]


# ---- client helpers -----------------------------------------------------------------------------

def create(s, name, dim=2, metric="l2"):
    return ok(http(s, "POST", "/api/collections",
                   {"name": name, "dimension": dim, "metric": metric}), 201)


def insert(s, coll, pts, batch=500):
    """pts: [(id, vector, metadata)] through HTTP insert/batch."""
    for k in range(0, len(pts), batch):
        part = pts[k:k + batch]
        body = ok(http(s, "POST", "/api/collections/%s/insert/batch" % coll, {"vectors": [
            {"id": i, "vector": v, "metadata": m} for i, v, m in part]}))
        assert body["upserted"] == len(part)


def hsearch(s, coll, vector, **body):
    body = dict(body, vector=vector)
    return ok(http(s, "POST", "/api/collections/%s/search" % coll, body))


def gsearch(rpc, coll, vector, top_k=0, conds=(), fmap=None, **kw):
    P, stub = rpc
    return list(stub.Search(P.SearchRequest(
        collection=coll, vector=vector, top_k=top_k, filter=fmap or {},
        filters=[grpc_cond(P, c) for c in conds], **kw)).results)


def hcount(s, coll, body):
    return ok(http(s, "POST", "/api/collections/%s/count" % coll, body))["count"]


def scroll_all(s, coll, body, limit=7):
    """Every page of a filtered scroll; [(id, metadata)] in the order served."""
    got, cursor = [], None
    for _ in range(10000):
        b = dict(body, limit=limit)
        if cursor is not None:
            b["cursor"] = cursor
        page = ok(http(s, "POST", "/api/collections/%s/scroll" % coll, b))
        assert len(page["points"]) <= limit
        got += [(p["id"], p["metadata"]) for p in page["points"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return got
    raise AssertionError("scroll never ended")


def http_err(resp, status, code, message):
    st, _, body = resp
    assert (st, body["error"]["code"], body["error"]["message"]) == (status, code, message), body


def grpc_err(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*a, **kw)
    return ei.value.code(), ei.value.details()


def grpc_meta(r):
    return dict(r.metadata)


# ---- B4.3: the worked example and int64 parsing ---------------------------------------------------

EXAMPLE = [(1, [0.0, 0.0], {"price": "100", "cat": "a"}),
           (2, [1.0, 0.0], {"price": "200", "cat": "b"}),
           (3, [2.0, 0.0], {"price": "50", "cat": "a"})]


def test_worked_example_of_b43_over_both_transports(srv, rpc):
    create(srv, "f_ex")
    insert(srv, "f_ex", EXAMPLE)
    meta = {i: m for i, _, m in EXAMPLE}
    # the query [0, 0] ranks by distance 0, 1, 4: ascending id
    cases = [
        ([("range", "price", 80, None)], None, [1, 2]),
        ([("range", "price", None, 150)], None, [1, 3]),
        ([("range", "price", 80, 150)], None, [1]),
        ([("range", "price", 80, None), ("match", "cat", "b")], None, [2]),
        ([], {"cat": "a"}, [1, 3]),
        ([("range", "price", 300, 10)], None, []),
    ]
    for conds, fmap, want in cases:
        # the reference agrees with the spec's answer
        assert [i for i in (1, 2, 3) if where_ok(meta[i], must=conds, fmap=fmap)] == want
        for style in ("type", "proto"):
            body = {"top_k": 10, "filters": [http_cond(c, style) for c in conds]}
            if fmap:
                body["filter"] = fmap
            res = hsearch(srv, "f_ex", [0, 0], **body)
            assert [r["id"] for r in res] == want, (conds, fmap, style)
            for r in res:
                assert r["metadata"] == meta[r["id"]]
                assert r["distance"] == (r["id"] - 1) ** 2
                assert "score" not in r  # non-hybrid: no score key
            # the same conditions as the HTTP-only `must` group
            body = {"top_k": 10, "must": [http_cond(c, style) for c in conds]}
            if fmap:
                body["filter"] = fmap
            assert [r["id"] for r in hsearch(srv, "f_ex", [0, 0], **body)] == want
            assert hcount(srv, "f_ex", body) == len(want)
        res = gsearch(rpc, "f_ex", [0, 0], top_k=10, conds=conds, fmap=fmap)
        assert [r.id for r in res] == want, (conds, fmap)
        for r in res:
            assert grpc_meta(r) == meta[r.id]
            assert r.distance == (r.id - 1) ** 2 and r.score == 0
    # gte > lte is an empty answer on every route, never an error
    assert hsearch(srv, "f_ex", [0, 0], filters=[{"type": "range", "key": "price", "gte": 300,
                                                  "lte": 10}]) == []
    assert ok(http(srv, "POST", "/api/collections/f_ex/scroll", {"filters": [
        {"range": {"key": "price", "gte": 300, "lte": 10}}]})) == {"points": [],
                                                                  "next_cursor": None}
    # JSON numbers and booleans as Match values are their text (http.md 4.3)
    assert [r["id"] for r in hsearch(srv, "f_ex", [0, 0], filter={"price": 100})] == [1]
    assert [r["id"] for r in hsearch(srv, "f_ex", [0, 0], filter={"price": 100.0})] == [1]
    assert [r["id"] for r in hsearch(srv, "f_ex", [0, 0], filters=[
        {"type": "match", "key": "price", "value": 200}])] == [2]
    # Range bounds as strings holding an int64, or integral numbers
    assert [r["id"] for r in hsearch(srv, "f_ex", [0, 0], filters=[
        {"type": "range", "key": "price", "gte": "80", "lte": 150.0}])] == [1]
    # filters reach search/batch items as well
    res = ok(http(srv, "POST", "/api/collections/f_ex/search/batch", {"searches": [
        {"vector": [0, 0], "filter": {"cat": "a"}},
        {"vector": [0, 0], "must_not": [{"type": "match", "key": "cat", "value": "a"}]}]}))
    assert [[r["id"] for r in x] for x in res] == [[1, 3], [2]]


RANGE_VALUES = {10: "100", 11: "0100", 12: "9.5", 13: " 7", 14: "1e3", 15: "", 16: "+7",
                17: "-5", 18: "9223372036854775807", 19: "9223372036854775808",
                20: "-9223372036854775808", 21: "7 ", 22: "-0", 23: "0x10", 24: "\u0663",
                26: "--5", 27: "+", 28: "-9223372036854775809", 29: "1000", 30: "12a"}


@pytest.fixture(scope="module")
def ranges(srv):
    pts = [(i, [float(i), 0.0], {"v": v}) for i, v in sorted(RANGE_VALUES.items())]
    pts.append((25, [25.0, 0.0], {"w": "100"}))  # no key `v`
    create(srv, "f_rng")
    insert(srv, "f_rng", pts)
    return {i: m for i, _, m in pts}


RANGE_CASES = [
    [("range", "v", None, None)],                  # every parseable value
    [("range", "v", 100, 100)],                    # "100" and "0100"
    [("match", "v", "100")],                       # exact bytes: not "0100"
    [("match", "v", "0100")],
    [("range", "v", -10, 10)],                     # "+7", "-5", "-0"; never "9.5", " 7", "7 "
    [("range", "v", I64_MAX, None)],
    [("range", "v", None, I64_MIN)],
    [("range", "v", 1000, 1000)],                  # "1000", never "1e3"
    [("range", "w", 0, None)],                     # only the point that has `w`
    [("match", "v", "")],
    [("range", "v", 5, 4)],                        # gte > lte
    [("range", "v", 0, None), ("range", "v", None, 100)],
    [("range", "nokey", None, None)],              # a missing key never matches
]


@pytest.mark.parametrize("conds", RANGE_CASES, ids=lambda c: "-".join(str(x) for x in c[0]))
def test_int64_range_parsing(srv, rpc, ranges, conds):
    want = [i for i in sorted(ranges) if where_ok(ranges[i], must=conds)]
    for style in ("type", "proto"):
        res = hsearch(srv, "f_rng", [0, 0], top_k=100,
                      filters=[http_cond(c, style) for c in conds])
        assert [r["id"] for r in res] == want
    assert [r.id for r in gsearch(rpc, "f_rng", [0, 0], top_k=100, conds=conds)] == want
    body = {"filters": [http_cond(c) for c in conds]}
    assert hcount(srv, "f_rng", body) == len(want)
    assert [i for i, _ in scroll_all(srv, "f_rng", body, limit=3)] == want


def test_range_bounds_and_match_values_as_large_json_integers(srv, ranges):
    """http.md 6.10: Range bounds may be JSON integers anywhere in int64; 4.3: an integer
    literal within int64 used as a Match value is its exact decimal text.  Integers above 2^53
    must not go through binary64 (9007199254740993 is not 9007199254740992)."""
    create(srv, "f_bigint")
    insert(srv, "f_bigint", [(1, [1.0, 0.0], {"v": "9007199254740992"}),
                             (2, [2.0, 0.0], {"v": "9007199254740993"}),
                             (3, [3.0, 0.0], {"v": "9223372036854775807"}),
                             (4, [4.0, 0.0], {"v": "-9223372036854775808"})])
    raw = '{"vector":[0,0],"filters":[{"type":"range","key":"v","gte":%s,"lte":%s}]}'
    for gte, lte, want in (("9007199254740993", "9007199254740993", [2]),
                           ("9007199254740992", "9007199254740992", [1]),
                           ("9223372036854775807", "9223372036854775807", [3]),
                           ("-9223372036854775808", "-9223372036854775808", [4]),
                           ("0", "9223372036854775807", [1, 2, 3])):
        st, _, res = http(srv, "POST", "/api/collections/f_bigint/search",
                          raw=(raw % (gte, lte)).encode(),
                          headers={"Content-Type": "application/json"})
        assert st == 200, (gte, lte, res)
        assert [r["id"] for r in res] == want, (gte, lte)
    st, _, res = http(srv, "POST", "/api/collections/f_bigint/search",
                      raw=b'{"vector":[0,0],"filter":{"v":9007199254740993}}',
                      headers={"Content-Type": "application/json"})
    assert st == 200 and [r["id"] for r in res] == [2], res


def test_large_json_integers_in_metadata_are_stored_exactly(srv):
    """http.md 4.3: an integer literal within int64 becomes its exact decimal text, in JSON
    inserts and in the metadata section of the binary format alike; beyond int64 it is a
    double's text."""
    create(srv, "f_bigmeta")
    body = (b'{"id":1,"vector":[1,0],"metadata":{"w":9007199254740993,'
            b'"x":-9223372036854775808,"y":99999999999999999999,"z":[1,12345678901234567]}}')
    st, _, res = http(srv, "POST", "/api/collections/f_bigmeta/insert", raw=body,
                      headers={"Content-Type": "application/json"})
    assert st == 400 and "value of key 'z'" in res["error"]["message"], res
    body = body.replace(b',"z":[1,12345678901234567]', b"")
    st, _, res = http(srv, "POST", "/api/collections/f_bigmeta/insert", raw=body,
                      headers={"Content-Type": "application/json"})
    assert st == 200, res
    st, _, p = http(srv, "GET", "/api/collections/f_bigmeta/points/1")
    assert p["metadata"] == {"w": "9007199254740993", "x": "-9223372036854775808",
                             "y": "100000000000000000000"}
    meta = b'{"w":9007199254740995}'
    raw = (b"HSF1" + struct.pack("<IIII", 2, 1, 3, 0) + struct.pack("<I", 2) +
           struct.pack("<2f", 1.0, 2.0) + struct.pack("<I", len(meta)) + meta)
    st, _, res = http(srv, "POST", "/api/collections/f_bigmeta/insert/batch", raw=raw,
                      headers={"Content-Type": "application/x-hyperspace-f32"})
    assert st == 200, res
    st, _, p = http(srv, "GET", "/api/collections/f_bigmeta/points/2")
    assert p["metadata"] == {"w": "9007199254740995"}
    res = hsearch(srv, "f_bigmeta", [0, 0], filter={"w": "9007199254740995"})
    assert [r["id"] for r in res] == [2]


def test_int64_range_reference_answers(ranges):
    """The reference used above gives the spec's answers (so those tests can fail)."""
    def ids(conds):
        return [i for i in sorted(ranges) if where_ok(ranges[i], must=conds)]
    assert ids([("range", "v", None, None)]) == [10, 11, 16, 17, 18, 20, 22, 29]
    assert ids([("range", "v", 100, 100)]) == [10, 11]
    assert ids([("match", "v", "100")]) == [10]
    assert ids([("range", "v", -10, 10)]) == [16, 17, 22]
    assert ids([("range", "v", 1000, 1000)]) == [29]
    assert ids([("range", "w", 0, None)]) == [25]


# ---- must / should / must_not (HTTP only) ------------------------------------------------------

def _group_points():
    pts = []
    for i in range(60):
        m = {"c": ("red", "green", "blue")[i % 3], "n": str(i)}
        if i % 4 == 0:
            m["s"] = "x"
        pts.append((i, [float(i), 0.0], m))
    return pts


GROUP_CASES = [
    dict(must=[("match", "c", "red")], should=[("range", "n", 0, 10), ("range", "n", 50, None)],
         must_not=[("match", "s", "x")]),
    dict(should=[("match", "c", "green"), ("match", "c", "blue")]),
    dict(must_not=[("range", "n", 10, 49)]),
    dict(fmap={"c": "blue"}, filters=[("range", "n", 5, None)], must=[("range", "n", None, 40)],
         should=[("match", "s", "x"), ("range", "n", 30, 35)], must_not=[("match", "n", "32")]),
    dict(should=[("match", "c", "nope"), ("match", "n", "7")]),
    dict(should=[("match", "c", "nope"), ("match", "n", "nope")]),       # nothing matches
    dict(must_not=[("range", "n", 9, 1)], must=[("match", "c", "green")]),  # excludes nothing
    dict(should=[("range", "n", 9, 1), ("match", "n", "13")]),
    dict(must=[("range", "n", 9, 1)], should=[("match", "c", "red")]),  # empty must
    dict(must_not=[("match", "c", "red"), ("match", "c", "green"), ("match", "c", "blue")]),
]


@pytest.fixture(scope="module")
def groups(srv):
    pts = _group_points()
    create(srv, "f_grp")
    insert(srv, "f_grp", pts)
    return {i: m for i, _, m in pts}


def group_body(case, style):
    body = {}
    if case.get("fmap"):
        body["filter"] = case["fmap"]
    for name in ("filters", "must", "should", "must_not"):
        if name in case:
            body[name] = [http_cond(c, style) for c in case[name]]
    return body


def group_want(points, case):
    return [i for i in sorted(points) if where_ok(
        points[i], must=list(case.get("filters", [])) + list(case.get("must", [])),
        should=case.get("should", ()), must_not=case.get("must_not", ()), fmap=case.get("fmap"))]


@pytest.mark.parametrize("n", range(len(GROUP_CASES)))
def test_must_should_must_not_on_search_count_and_scroll(srv, groups, n):
    case = GROUP_CASES[n]
    want = group_want(groups, case)
    for style in ("type", "proto"):
        body = group_body(case, style)
        res = hsearch(srv, "f_grp", [0, 0], top_k=100, **body)
        assert [r["id"] for r in res] == want
        assert all(r["metadata"] == groups[r["id"]] for r in res)
        assert hcount(srv, "f_grp", body) == len(want)
        got = scroll_all(srv, "f_grp", body)
        assert [i for i, _ in got] == want
        assert all(m == groups[i] for i, m in got)
        # top_k smaller than the matches: exactly top_k, the nearest ones
        assert [r["id"] for r in hsearch(srv, "f_grp", [0, 0], top_k=3, **body)] == want[:3]


def test_group_reference_answers(groups):
    assert group_want(groups, GROUP_CASES[0]) == [3, 6, 9, 51, 54, 57]
    assert group_want(groups, GROUP_CASES[4]) == [7]
    assert group_want(groups, GROUP_CASES[5]) == []
    assert group_want(groups, GROUP_CASES[7]) == [13]
    assert group_want(groups, GROUP_CASES[8]) == []
    assert len(group_want(groups, GROUP_CASES[6])) == 20


def test_group_errors_name_the_list(srv, groups):
    routes = [("/api/collections/f_grp/search", {"vector": [0, 0]}),
              ("/api/collections/f_grp/count", {}),
              ("/api/collections/f_grp/scroll", {}),
              ("/api/collections/f_grp/points/delete",
               {"filter": {"c": "red"}})]
    bad = [
        ({"should": [{"type": "match", "key": "c", "value": "red"},
                     {"type": "x", "key": "c", "value": "red"}]},
         "INVALID_FILTER", "Invalid filter: should[1] has unknown type 'x'"),
        ({"must": {"type": "match", "key": "c", "value": "red"}},
         "INVALID_ARGUMENT", "Field 'must' must be an array"),
        ({"should": "x"}, "INVALID_ARGUMENT", "Field 'should' must be an array"),
        ({"must_not": 1}, "INVALID_ARGUMENT", "Field 'must_not' must be an array"),
        ({"must_not": [{"type": "match", "key": "", "value": "x"}]},
         "INVALID_FILTER", "Invalid filter: must_not[0]: key must not be empty"),
        ({"must": [{"type": "range", "key": "n", "gte": 0}, {"range": {"key": "n", "lte": "1.5"}}]},
         "INVALID_FILTER", "Invalid filter: must[1] lte must be an integer"),
        ({"should": [{}]}, "INVALID_FILTER", "Invalid filter: should[0] has no condition"),
    ]
    for path, base in routes:
        for extra, code, msg in bad:
            http_err(http(srv, "POST", path, dict(base, **extra)), 400, code, msg)
    # nothing was deleted by the refused delete requests
    assert hcount(srv, "f_grp", {}) == 60


# ---- B4.1: min(top_k, matching) against an exact reference --------------------------------------

BIG_N, BIG_DIM = 3000, 8


@pytest.fixture(scope="module")
def big(srv):
    rng = random.Random(20240607)
    vecs = {i: [f32(rng.uniform(-1, 1)) for _ in range(BIG_DIM)] for i in range(BIG_N)}
    meta = {i: {"g": str(i % 100), "n": str(i)} for i in range(BIG_N)}
    create(srv, "f_big", dim=BIG_DIM)
    insert(srv, "f_big", [(i, vecs[i], meta[i]) for i in range(BIG_N)], batch=1000)
    queries = [[f32(rng.uniform(-1, 1)) for _ in range(BIG_DIM)] for _ in range(3)]
    return vecs, meta, queries


BIG_CASES = [
    ("one", [("match", "n", "1234")], None, 1),
    ("five", [("range", "n", 100, 104)], None, 5),
    ("thirty", [("match", "g", "7")], None, 30),
    ("half", [("range", "g", None, 49)], None, 1500),
    ("map+range", [("range", "n", 1000, None)], {"g": "3"}, 20),
    ("two-keys", [("range", "n", 2990, None), ("match", "g", "95")], None, 1),
    ("none", [("range", "n", 5000, None)], None, 0),
    ("all", [], None, 3000),
]


@pytest.mark.parametrize("case", BIG_CASES, ids=lambda c: c[0])
def test_filtered_top_k_is_exact_and_never_short(srv, rpc, big, case):
    vecs, meta, queries = big
    _, conds, fmap, n_match = case
    matching = [i for i in range(BIG_N) if where_ok(meta[i], must=conds, fmap=fmap)]
    assert len(matching) == n_match
    for q in queries:
        ranked = sorted(matching, key=lambda i: (l2(vecs[i], q), i))
        for top_k in (10, 40):
            want = ranked[:top_k]
            assert len(want) == min(top_k, n_match)
            body = {"top_k": top_k, "filters": [http_cond(c) for c in conds]}
            if fmap:
                body["filter"] = fmap
            res = hsearch(srv, "f_big", q, **body)
            assert [r["id"] for r in res] == want
            for r in res:
                assert where_ok(r["metadata"], must=conds, fmap=fmap)
                assert r["metadata"] == meta[r["id"]]
                assert math.isclose(r["distance"], l2(vecs[r["id"]], q), rel_tol=1e-12,
                                    abs_tol=1e-15)
            g = gsearch(rpc, "f_big", q, top_k=top_k, conds=conds, fmap=fmap)
            assert [r.id for r in g] == want
            assert all(where_ok(grpc_meta(r), must=conds, fmap=fmap) for r in g)
        assert hcount(srv, "f_big", {"filter": fmap or {},
                                     "filters": [http_cond(c) for c in conds]}) == n_match


def test_large_top_k_with_half_selectivity_is_never_short(srv, rpc, big):
    """top_k far above ef_search (100): exactly top_k results, the exact nearest matches."""
    vecs, meta, queries = big
    conds = [("range", "g", 50, None)]
    q = queries[0]
    matching = [i for i in range(BIG_N) if where_ok(meta[i], must=conds)]
    want = sorted(matching, key=lambda i: (l2(vecs[i], q), i))[:600]
    res = hsearch(srv, "f_big", q, top_k=600, filters=[http_cond(conds[0])])
    assert [r["id"] for r in res] == want
    g = gsearch(rpc, "f_big", q, top_k=600, conds=conds)
    assert [r.id for r in g] == want
    # more than there are matches: every match, nothing else
    res = hsearch(srv, "f_big", q, top_k=10000, filter={"g": "42"})
    assert sorted(r["id"] for r in res) == [i for i in range(BIG_N) if i % 100 == 42]


# ---- count / scroll / delete by filter ----------------------------------------------------------

def _cds_points(n=300):
    pts = []
    for i in range(n):
        m = {"n": str(i)}
        if i % 10:
            m["g"] = str(i % 7)
        pts.append((i, [float(i), 0.0], m))
    return pts


def test_count_scroll_and_delete_by_filter_agree(srv, rpc):
    pts = _cds_points()
    create(srv, "f_cds")
    insert(srv, "f_cds", pts)
    live = {i: m for i, _, m in pts}

    def check_views(cases):
        for body, kw in cases:
            want = [i for i in sorted(live) if where_ok(live[i], **kw)]
            assert hcount(srv, "f_cds", body) == len(want), body
            got = scroll_all(srv, "f_cds", body, limit=13)
            assert [i for i, _ in got] == want, body
            assert all(m == live[i] for i, m in got)
            res = hsearch(srv, "f_cds", [0, 0], top_k=10000, **body)
            assert [r["id"] for r in res] == want, body

    cases = [
        ({}, {}),
        ({"filter": {"g": "3"}}, dict(fmap={"g": "3"})),
        ({"filters": [{"type": "range", "key": "n", "gte": 100, "lte": 199}]},
         dict(must=[("range", "n", 100, 199)])),
        ({"filter": {"g": "0"}, "must_not": [{"range": {"key": "n", "lte": 150}}]},
         dict(fmap={"g": "0"}, must_not=[("range", "n", None, 150)])),
        ({"should": [{"type": "match", "key": "g", "value": "1"},
                     {"type": "match", "key": "g", "value": "2"}],
          "must": [{"type": "range", "key": "n", "gte": 250}]},
         dict(should=[("match", "g", "1"), ("match", "g", "2")], must=[("range", "n", 250, None)])),
        ({"must_not": [{"type": "range", "key": "g", "gte": 0}]},  # the points with no `g`
         dict(must_not=[("range", "g", 0, None)])),
    ]
    check_views(cases)
    assert hcount(srv, "f_cds", {}) == 300
    assert hcount(srv, "f_cds", {"must_not": [{"type": "range", "key": "g", "gte": 0}]}) == 30

    # delete by filter: exactly the matching live points
    sel = {"filter": {"g": "3"}, "filters": [{"type": "range", "key": "n", "gte": 100}]}
    doomed = [i for i in live if where_ok(live[i], must=[("range", "n", 100, None)],
                                          fmap={"g": "3"})]
    assert len(doomed) == 26
    body = ok(http(srv, "POST", "/api/collections/f_cds/points/delete", sel))
    assert body["deleted"] == len(doomed) and isinstance(body["logical_clock"], int)
    for i in doomed:
        del live[i]
    assert ok(http(srv, "POST", "/api/collections/f_cds/points/delete", sel))["deleted"] == 0
    assert hcount(srv, "f_cds", sel) == 0
    assert hsearch(srv, "f_cds", [0, 0], **sel) == []
    assert ok(http(srv, "GET", "/api/collections/f_cds/stats"))["count"] == 300 - len(doomed)
    check_views(cases)
    P, stub = rpc
    assert stub.GetCollectionStats(P.CollectionStatsRequest(name="f_cds")).count == len(live)
    res = gsearch(rpc, "f_cds", [0, 0], top_k=10000, fmap={"g": "3"})
    assert [r.id for r in res] == [i for i in sorted(live) if live[i].get("g") == "3"]

    # a second filter, protobuf-JSON form, that overlaps the deleted points
    sel2 = {"filters": [{"range": {"key": "n", "gte": 90, "lte": 130}}]}
    doomed2 = [i for i in live if 90 <= i <= 130]
    body = ok(http(srv, "POST", "/api/collections/f_cds/points/delete", sel2))
    assert body["deleted"] == len(doomed2)
    for i in doomed2:
        del live[i]
    check_views(cases)
    # gte > lte deletes nothing
    before = ok(http(srv, "GET", "/api/collections/f_cds/digest"))
    body = ok(http(srv, "POST", "/api/collections/f_cds/points/delete",
                   {"filters": [{"type": "range", "key": "n", "gte": 9, "lte": 1}]}))
    assert body["deleted"] == 0
    assert ok(http(srv, "GET", "/api/collections/f_cds/digest")) == before
    # selector errors change nothing
    for sel_bad, msg in (({}, "Provide exactly one of 'ids' or a filter"),
                         ({"ids": [1], "filter": {"g": "1"}},
                          "Provide exactly one of 'ids' or a filter"),
                         ({"filter": {}}, "Delete by filter needs at least one condition"),
                         ({"filters": []}, "Delete by filter needs at least one condition")):
        http_err(http(srv, "POST", "/api/collections/f_cds/points/delete", sel_bad), 400,
                 "INVALID_ARGUMENT", msg)
    assert ok(http(srv, "GET", "/api/collections/f_cds/digest")) == before
    check_views(cases)


@pytest.mark.parametrize("group", ["must", "should", "must_not"])
def test_delete_by_filter_accepts_the_must_should_must_not_groups(srv, group):
    """The groups are filters on delete too (brief item 2): a body with only `must` /
    `should` / `must_not` deletes exactly the points that search, count and scroll match."""
    name = "f_del_" + group
    pts = _cds_points(100)
    create(srv, name)
    insert(srv, name, pts)
    live = {i: m for i, _, m in pts}
    cond = {"must": [("match", "g", "4")],
            "should": [("match", "g", "4"), ("range", "n", 95, None)],
            "must_not": [("range", "n", None, 89)]}[group]
    body = {group: [http_cond(c) for c in cond]}
    want = [i for i in sorted(live) if where_ok(live[i], **{group: cond})]
    assert 0 < len(want) < 100
    assert hcount(srv, name, body) == len(want)
    st, _, reply = http(srv, "POST", "/api/collections/%s/points/delete" % name, body)
    assert st == 200, reply
    assert reply["deleted"] == len(want)
    assert hcount(srv, name, body) == 0
    assert hcount(srv, name, {}) == 100 - len(want)
    # and ids together with a group is "both", refused
    http_err(http(srv, "POST", "/api/collections/%s/points/delete" % name,
                  dict(body, ids=[0])), 400, "INVALID_ARGUMENT",
             "Provide exactly one of 'ids' or a filter")
    assert hcount(srv, name, {}) == 100 - len(want)


# ---- errors -------------------------------------------------------------------------------------

def test_filter_errors_change_nothing(srv, rpc):
    create(srv, "f_err")
    insert(srv, "f_err", EXAMPLE)
    P, stub = rpc
    before = ok(http(srv, "GET", "/api/collections/f_err/digest"))
    routes = [("/api/collections/f_err/search", {"vector": [0, 0]}),
              ("/api/collections/f_err/count", {}),
              ("/api/collections/f_err/scroll", {}),
              ("/api/collections/f_err/points/delete", {})]
    too_many = {"filter": {"cat": "a"},
                "filters": [{"type": "range", "key": "price"}] * 100,
                "must": [{"type": "range", "key": "price", "gte": 0}] * 100,
                "should": [{"match": {"key": "cat", "value": "a"}}] * 30,
                "must_not": [{"type": "match", "key": "cat", "value": "zz"}] * 25}
    bad = [
        ({"filters": [{"type": "match", "key": "", "value": "a"}]},
         "Invalid filter: filters[0]: key must not be empty"),
        ({"filters": [{"range": {"key": "", "gte": 1}}]},
         "Invalid filter: filters[0]: key must not be empty"),
        ({"filter": {"": "a"}}, "Invalid filter: filter: key must not be empty"),
        ({"filters": [{"type": "range", "key": "price", "gte": "1.5"}]},
         "Invalid filter: filters[0] gte must be an integer"),
        ({"filters": [{"type": "range", "key": "price", "gte": 1, "lte": "abc"}]},
         "Invalid filter: filters[0] lte must be an integer"),
        ({"filters": [{"type": "range", "key": "price", "lte": "9.5"}]},
         "Invalid filter: filters[0] lte must be an integer"),
        ({"filters": [{"type": "range", "key": "price", "gte": 9223372036854775808}]},
         "Invalid filter: filters[0] gte must be an integer"),
        ({"filters": [{}]}, "Invalid filter: filters[0] has no condition"),
        ({"filters": [{"type": "match", "key": "cat", "value": "a"},
                      {"type": "like", "key": "cat", "value": "a"}]},
         "Invalid filter: filters[1] has unknown type 'like'"),
        ({"filter": {"cat": None}},
         "Invalid filter: value of key 'cat' must be a string, number or boolean"),
        (dict(too_many, must_not=too_many["must_not"] + [too_many["must_not"][0]]),
         "Invalid filter: more than 256 conditions"),
        ({"filters": [{"type": "match", "key": "cat", "value": "a"}] * 257},
         "Invalid filter: more than 256 conditions"),
    ]
    for path, base in routes:
        for extra, msg in bad:
            http_err(http(srv, "POST", path, dict(base, **extra)), 400, "INVALID_FILTER", msg)
    # exactly 256 conditions in all is accepted
    assert [r["id"] for r in hsearch(srv, "f_err", [0, 0], **too_many)] == [1, 3]
    assert hcount(srv, "f_err", too_many) == 2
    # gRPC: E_FILTER is INVALID_ARGUMENT with the same message
    q = [0.0, 0.0]
    for kw, msg in (
            (dict(filter={"": "a"}), "Invalid filter: filter: key must not be empty"),
            (dict(filters=[P.Filter(match=P.Match(key="", value="a"))]),
             "Invalid filter: filters[0]: key must not be empty"),
            (dict(filters=[P.Filter(match=P.Match(key="cat", value="a")),
                           P.Filter(range=P.Range(key="", gte=1))]),
             "Invalid filter: filters[1]: key must not be empty"),
            (dict(filters=[P.Filter()]), "Invalid filter: filters[0] has no condition"),
            (dict(filter={"cat": "a"}, filters=[P.Filter(range=P.Range(key="price"))] * 256),
             "Invalid filter: more than 256 conditions")):
        assert grpc_err(stub.Search, P.SearchRequest(collection="f_err", vector=q, **kw)) == \
            (INV, msg)
    res = stub.Search(P.SearchRequest(collection="f_err", vector=q, filter={"cat": "a"},
                                      filters=[P.Filter(range=P.Range(key="price"))] * 255))
    assert [r.id for r in res.results] == [1, 3]
    # nothing changed
    assert ok(http(srv, "GET", "/api/collections/f_err/digest")) == before
    assert hcount(srv, "f_err", {}) == 3


# ---- B5: hybrid search ----------------------------------------------------------------------------

TITLES = {0: "Apple Macbook Pro M3", 1: "Apple iPhone 15", 2: "Samsung Galaxy S24"}
HVEC = {0: [1.0, 0.0], 1: [2.0, 0.0], 2: [0.0, 0.0]}  # query [0, 0]: vector ranks 2, 0, 1


@pytest.fixture(scope="module")
def phones(srv):
    create(srv, "f_hyb")
    insert(srv, "f_hyb", [(i, HVEC[i], {"title": TITLES[i]}) for i in range(3)])
    return {i: (HVEC[i], {"title": TITLES[i]}) for i in range(3)}


def test_hybrid_fusion_check_values_over_both_transports(srv, rpc, phones):
    want = [(1, 4, 0.016133229247983348), (2, 0, 0.00819672131147541),
            (0, 1, 0.008064516129032258)]
    assert [(i, d, s) for i, d, s in hybrid_ref(phones, [0, 0], "iphone", 0.5, 10)] == want
    for extra in ({"hybrid_alpha": 0.5}, {}):  # 0.5 is the default
        res = hsearch(srv, "f_hyb", [0, 0], top_k=10, hybrid_query="iphone", **extra)
        assert [list(r) for r in res] == [["id", "distance", "metadata", "score"]] * 3
        assert [(r["id"], r["distance"], r["score"]) for r in res] == want
        assert [r["metadata"] for r in res] == [{"title": TITLES[i]} for i, _, _ in want]
    P, _ = rpc
    for extra in ({"hybrid_alpha": 0.5}, {}):
        res = gsearch(rpc, "f_hyb", [0, 0], top_k=10, hybrid_query="iphone", **extra)
        assert [(r.id, r.distance, r.score) for r in res] == want
        assert [grpc_meta(r) for r in res] == [{"title": TITLES[i]} for i, _, _ in want]
    # BM25 check of B5.3 seen through the fusion: `apple` ranks 1 before 0 in the text branch
    res = hsearch(srv, "f_hyb", [0, 0], hybrid_query="apple", hybrid_alpha=1.0)
    assert [(r["id"], r["score"]) for r in res] == [(1, 1 / 61), (0, 1 / 62), (2, 0)]


@pytest.mark.parametrize("query,alpha", [("", 0.5), ("", 0.25), ("iphone", 0.0),
                                         ("iphone", 1.0), ("apple", 0.5), ("APPLE galaxy", 0.75),
                                         ("apple apple iphone", 0.5), ("nothing-here", 0.5),
                                         ("s24, m3", 0.5)])
def test_hybrid_variants_match_the_reference(srv, rpc, phones, query, alpha):
    want = hybrid_ref(phones, [0, 0], query, alpha, 10)
    res = hsearch(srv, "f_hyb", [0, 0], top_k=10, hybrid_query=query, hybrid_alpha=alpha)
    assert [(r["id"], r["distance"]) for r in res] == [(i, d) for i, d, _ in want]
    for r, (_, _, s) in zip(res, want):
        assert abs(r["score"] - s) <= 1e-15
    g = gsearch(rpc, "f_hyb", [0, 0], top_k=10, hybrid_query=query, hybrid_alpha=alpha)
    assert [(r.id, r.distance) for r in g] == [(i, d) for i, d, _ in want]
    for r, (_, _, s) in zip(g, want):
        assert abs(r.score - s) <= 1e-15
    if not tokens(query) or alpha == 0.0:
        # no text branch (or no weight on it): vector order, score (1 - a) / (60 + rank)
        assert [r["id"] for r in res] == [2, 0, 1]
        assert [r["score"] for r in res] == [(1 - alpha) / (60 + k) for k in (1, 2, 3)]


def test_hybrid_switch_and_alpha_validation(srv, rpc, phones):
    P, stub = rpc
    # not hybrid: no score key on HTTP, score 0 on gRPC; alpha without a query is ignored
    for extra in ({}, {"hybrid_alpha": 5}, {"hybrid_query": None}):
        res = hsearch(srv, "f_hyb", [0, 0], **extra)
        assert [r["id"] for r in res] == [2, 0, 1]
        assert all("score" not in r for r in res)
    res = gsearch(rpc, "f_hyb", [0, 0], hybrid_alpha=5.0)
    assert [(r.id, r.score) for r in res] == [(2, 0), (0, 0), (1, 0)]
    # an empty hybrid_query is present, so hybrid (score set)
    res = gsearch(rpc, "f_hyb", [0, 0], hybrid_query="")
    assert [(r.id, r.score) for r in res] == [(2, 0.5 / 61), (0, 0.5 / 62), (1, 0.5 / 63)]
    for a, shown in ((1.5, "1.5"), (-0.25, "-0.25")):
        http_err(http(srv, "POST", "/api/collections/f_hyb/search",
                      {"vector": [0, 0], "hybrid_query": "iphone", "hybrid_alpha": a}),
                 400, "INVALID_PARAMETER", "hybrid_alpha must be between 0 and 1 (got %s)" % shown)
        assert grpc_err(stub.Search, P.SearchRequest(
            collection="f_hyb", vector=[0, 0], hybrid_query="iphone", hybrid_alpha=a)) == \
            (INV, "hybrid_alpha must be between 0 and 1 (got %s)" % shown)
    code, msg = grpc_err(stub.Search, P.SearchRequest(
        collection="f_hyb", vector=[0, 0], hybrid_query="x", hybrid_alpha=float("nan")))
    assert code == INV and msg.startswith("hybrid_alpha must be between 0 and 1")
    # alpha is checked in search/batch items too
    st, _, body = http(srv, "POST", "/api/collections/f_hyb/search/batch", {"searches": [
        {"vector": [0, 0]}, {"vector": [0, 0], "hybrid_query": "a", "hybrid_alpha": 1.5}]})
    assert st == 400 and body["error"] == {
        "code": "INVALID_PARAMETER",
        "message": "searches[1]: hybrid_alpha must be between 0 and 1 (got 1.5)"}


WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()


@pytest.fixture(scope="module")
def texts(srv):
    rng = random.Random(77)
    pts = {}
    for i in range(400):
        vec = [f32(rng.uniform(-1, 1)) for _ in range(4)]
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))
        pts[i] = (vec, {"title": title, "g": "g%d" % (i % 50), "h": "h%d" % (i % 2)})
    create(srv, "f_txt", dim=4)
    insert(srv, "f_txt", [(i, v, m) for i, (v, m) in pts.items()])
    q = [f32(rng.uniform(-1, 1)) for _ in range(4)]
    return pts, q


@pytest.mark.parametrize("conds,fmap,n_match", [
    ([("match", "g", "g7")], None, 8),
    ([("range", "n", None, None)], None, 0),
    ([], {"h": "h1"}, 200),
    ([("match", "g", "g3")], {"h": "h1"}, 8),
    ([], None, 400),
])
def test_hybrid_with_filters_returns_min_top_k_matching(srv, rpc, texts, conds, fmap, n_match):
    pts, q = texts

    def pred(m):
        return where_ok(m, must=conds, fmap=fmap)
    assert sum(1 for _, m in pts.values() if pred(m)) == n_match
    for query, alpha, top_k in (("kilo lima", 0.5, 10), ("xray", 0.8, 5), ("mike", 0.3, 60)):
        want = hybrid_ref(pts, q, query, alpha, top_k, pred)
        assert len(want) == min(top_k, n_match)
        body = {"top_k": top_k, "hybrid_query": query, "hybrid_alpha": alpha,
                "filters": [http_cond(c) for c in conds]}
        if fmap:
            body["filter"] = fmap
        res = hsearch(srv, "f_txt", q, **body)
        assert [r["id"] for r in res] == [i for i, _, _ in want]
        for r, (i, d, s) in zip(res, want):
            assert pred(r["metadata"])
            assert math.isclose(r["distance"], d, rel_tol=1e-12, abs_tol=1e-15)
            assert abs(r["score"] - s) <= 1e-15
        # alpha 0.5 / 0.25 are exact in the float32 gRPC field; use those there
        ga = 0.5 if alpha == 0.5 else 0.25
        want = hybrid_ref(pts, q, query, ga, top_k, pred)
        g = gsearch(rpc, "f_txt", q, top_k=top_k, conds=conds, fmap=fmap, hybrid_query=query,
                    hybrid_alpha=ga)
        assert [r.id for r in g] == [i for i, _, _ in want]
        assert all(pred(grpc_meta(r)) for r in g)
        assert all(abs(r.score - s) <= 1e-15 for r, (_, _, s) in zip(g, want))


def test_labelled_relevance_rare_keyword(srv, rpc):
    rng = random.Random(4242)
    relevant = {17, 58, 99, 140, 181}
    pts = {}
    for i in range(200):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 6))]
        if i in relevant:
            words.insert(rng.randint(0, len(words)), "Zeppelin")
            vec = [f32(rng.uniform(4, 5)) for _ in range(8)]  # far from the query
        else:
            vec = [f32(rng.uniform(0, 1)) for _ in range(8)]
        pts[i] = (vec, {"title": " ".join(words)})
    create(srv, "f_rel", dim=8)
    insert(srv, "f_rel", [(i, v, m) for i, (v, m) in pts.items()])
    q = [f32(rng.uniform(0, 1)) for _ in range(8)]
    vec_only = [r["id"] for r in hsearch(srv, "f_rel", q, top_k=10)]
    assert len(vec_only) == 10 and not relevant & set(vec_only)
    res = hsearch(srv, "f_rel", q, top_k=10, hybrid_query="zeppelin", hybrid_alpha=0.5)
    assert relevant <= {r["id"] for r in res}
    want = hybrid_ref(pts, q, "zeppelin", 0.5, 10)
    assert [r["id"] for r in res] == [i for i, _, _ in want]
    for r in res:  # text-only hits still carry their exact vector distance
        assert math.isclose(r["distance"], l2(pts[r["id"]][0], q), rel_tol=1e-12)
    g = gsearch(rpc, "f_rel", q, top_k=10, hybrid_query="zeppelin", hybrid_alpha=0.5)
    assert [r.id for r in g] == [i for i, _, _ in want]
    # alpha 0 (vector only) finds none of them again
    res = hsearch(srv, "f_rel", q, top_k=10, hybrid_query="zeppelin", hybrid_alpha=0.0)
    assert [r["id"] for r in res] == vec_only


# ---- B2.1: an upsert is seen at once by Match, Range and BM25 (and after restarts) ---------------

OTHERS = {1: ([5.0, 0.0], {"cat": "c", "price": "5", "title": "apple pie with cream and sugar"}),
          2: ([6.0, 0.0], {"cat": "c", "price": "15",
                           "title": "apple juice from fresh green apples"}),
          3: ([7.0, 0.0], {"cat": "d", "price": "60", "title": "banana bread"}),
          4: ([8.0, 0.0], {"cat": "a", "price": "30", "title": "orange"})}
STATE_A = {"cat": "a", "price": "10", "title": "red apple"}
STATE_B = {"cat": "b", "price": "99", "title": "green pear"}


def _views(s, stub, P, pid, live):
    """Checks Match, Range, count, scroll and hybrid (both transports) against `live`
    ({id: (vector, metadata)}); returns nothing."""
    q = [0.0, 0.0]
    for conds in ([("match", "cat", "a")], [("range", "price", None, 20)],
                  [("match", "cat", "b")], [("range", "price", 50, None)]):
        want = [i for i in sorted(live, key=lambda i: (l2(live[i][0], q), i))
                if where_ok(live[i][1], must=conds)]
        res = hsearch(s, "u", q, top_k=100, filters=[http_cond(c) for c in conds])
        assert [r["id"] for r in res] == want, conds
        assert all(r["metadata"] == live[r["id"]][1] for r in res)
        g = stub.Search(P.SearchRequest(collection="u", vector=q, top_k=100,
                                        filters=[grpc_cond(P, c) for c in conds])).results
        assert [r.id for r in g] == want, conds
        body = {"filters": [http_cond(c) for c in conds]}
        assert hcount(s, "u", body) == len(want)
        assert [i for i, _ in scroll_all(s, "u", body)] == sorted(want)
    for query in ("apple", "pear", "red", "green"):
        for alpha in (1.0, 0.5):
            want = hybrid_ref(live, q, query, alpha, 10)
            res = hsearch(s, "u", q, hybrid_query=query, hybrid_alpha=alpha)
            assert [(r["id"], r["score"]) for r in res] == [(i, sc) for i, _, sc in want], query
            g = stub.Search(P.SearchRequest(collection="u", vector=q, hybrid_query=query,
                                            hybrid_alpha=alpha)).results
            assert [(r.id, r.score) for r in g] == [(i, sc) for i, _, sc in want], query
    return None


def _check_state(s, stub, P, pid, state):
    """state: "A", "B" or None (deleted): the explicit expectations of the brief, then the
    reference views."""
    live = dict(OTHERS)
    if state:
        live[pid] = ([0.0, 0.0], STATE_A if state == "A" else STATE_B)
    q = [0.0, 0.0]

    def ids(**body):
        return [r["id"] for r in hsearch(s, "u", q, top_k=100, **body)]
    cat_a = ids(filter={"cat": "a"})
    cheap = ids(filters=[{"type": "range", "key": "price", "lte": 20}])
    cat_b = ids(filter={"cat": "b"})
    dear = ids(filters=[{"range": {"key": "price", "gte": 50}}])
    apple = hsearch(s, "u", q, hybrid_query="apple", hybrid_alpha=1.0)
    pear = hsearch(s, "u", q, hybrid_query="pear", hybrid_alpha=1.0)
    assert (pid in cat_a, pid in cheap) == (state == "A",) * 2
    assert (pid in cat_b, pid in dear) == (state == "B",) * 2
    if state == "A":
        assert apple[0]["id"] == pid and apple[0]["score"] == 1 / 61
        assert all(r["score"] == 0 for r in pear)
    else:
        # never ranked first through the text branch any more: no text score at all
        assert apple[0]["id"] != pid
        assert all(r["score"] == 0 for r in apple if r["id"] == pid)
    if state == "B":
        assert pear[0]["id"] == pid and pear[0]["score"] == 1 / 61
    if state is None:
        assert pid not in [r["id"] for r in apple + pear]
        assert pid not in ids()
        assert http(s, "GET", "/api/collections/u/points/%d" % pid)[0] == 404
    _views(s, stub, P, pid, live)


def test_upsert_is_seen_at_once_by_match_range_and_bm25_also_after_restart(server_factory, pb):
    P = pb[0]
    s = server_factory()
    create(s, "u")
    insert(s, "u", [(i, v, m) for i, (v, m) in OTHERS.items()])

    def cycle(s, stub, pid):
        ok(http(s, "POST", "/api/collections/u/insert",
                {"id": pid, "vector": [0, 0], "metadata": STATE_A}))
        _check_state(s, stub, P, pid, "A")
        ok(http(s, "POST", "/api/collections/u/insert",
                {"id": pid, "vector": [0, 0], "metadata": STATE_B}))
        _check_state(s, stub, P, pid, "B")

    with grpc.insecure_channel(s.grpc_target) as ch:
        cycle(s, pb[1].DatabaseStub(ch), 7)
    assert s.stop() == 0
    s2 = server_factory(data_dir=s.data_dir)
    with grpc.insecure_channel(s2.grpc_target) as ch:
        stub = pb[1].DatabaseStub(ch)
        _check_state(s2, stub, P, 7, "B")  # the upsert survived the restart
        assert ok(http(s2, "DELETE", "/api/collections/u/points/7"))["deleted"] == 1
        _check_state(s2, stub, P, 7, None)
        # the whole cycle again on the restarted server, this time through gRPC writes
        stub.Insert(P.InsertRequest(collection="u", id=7, vector=[0, 0], metadata=STATE_A))
        _check_state(s2, stub, P, 7, "A")
        stub.Insert(P.InsertRequest(collection="u", id=7, vector=[0, 0], metadata=STATE_B))
        _check_state(s2, stub, P, 7, "B")
        assert stub.Delete(P.DeleteRequest(collection="u", id=7)).success is True
        _check_state(s2, stub, P, 7, None)
        stub.Insert(P.InsertRequest(collection="u", id=7, vector=[0, 0], metadata=STATE_A))
        stub.Insert(P.InsertRequest(collection="u", id=7, vector=[0, 0], metadata=STATE_B))
    assert s2.stop() == 0
    s3 = server_factory(data_dir=s.data_dir)
    with grpc.insecure_channel(s3.grpc_target) as ch:
        stub = pb[1].DatabaseStub(ch)
        _check_state(s3, stub, P, 7, "B")
        ok(http(s3, "POST", "/api/collections/u/points/delete", {"filter": {"cat": "b"}}))
        _check_state(s3, stub, P, 7, None)
    assert s3.stop() == 0
    s4 = server_factory(data_dir=s.data_dir)
    with grpc.insecure_channel(s4.grpc_target) as ch:
        _check_state(s4, pb[1].DatabaseStub(ch), P, 7, None)  # the delete survived too
