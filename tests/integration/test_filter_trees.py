"""Condition trees and Prefix over HTTP and gRPC (docs/api/http.md "Condition trees",
docs/api/grpc.md "Condition trees"): random trees of and / or / not (gRPC all / any / none) over
Match, Range and Prefix leaves on typed and string values are counted and searched on both
transports and checked against this file's own evaluation (min(top_k, matching) results, every
one matching, the exact top k on this small collection); the errors name the condition by its
path; and the nesting and condition limits."""
import random

import grpc
import pytest

from conftest import Server, finish, http, ok

INV = grpc.StatusCode.INVALID_ARGUMENT


N = 800


@pytest.fixture(scope="module")
def data(srv):
    ok(http(srv, "POST", "/api/collections", {"name": "trees", "dimension": 2, "metric": "l2"}),
       201)
    rnd = random.Random(21)
    pts = {}
    for i in range(N):
        typed = {"n": i % 40, "x": (i % 97) / 8, "ok": i % 3 == 0,
                 "tags": ["c%d" % (i % 5), "d%d" % (i % 6)]}
        meta = {"name": "%s-%03d" % ("ab"[i % 2], i % 300)}
        if i % 10 == 0:
            del typed["x"]  # a missing key
        pts[i] = ([rnd.uniform(-1, 1), rnd.uniform(-1, 1)], dict(meta, **typed), meta, typed)
    ok(http(srv, "POST", "/api/collections/trees/insert/batch",
            {"vectors": [{"id": i, "vector": v, "metadata": m, "typed_metadata": t}
                         for i, (v, _, m, t) in pts.items()]}))
    return pts


# ---- a tree in three forms: HTTP JSON, a gRPC Filter builder, a Python predicate ----------------

def leaf(rnd, P):
    k = rnd.randrange(6)
    if k == 0:
        v = rnd.randrange(40)
        return ({"type": "match", "key": "n", "value": v},
                lambda: P.Filter(match=P.Match(key="n", typed_value=P.MetadataValue(int_value=v))),
                lambda m: m.get("n") == v)
    if k == 1:
        v = rnd.random() < 0.5
        return ({"match": {"key": "ok", "value": v}},
                lambda: P.Filter(match=P.Match(key="ok", typed_value=P.MetadataValue(bool_value=v))),
                lambda m: m.get("ok") is v)
    if k == 2:
        lo = rnd.randrange(0, 12)
        hi = lo + rnd.random() * 4
        return ({"type": "range", "key": "x", "gte": lo, "lt": hi},
                lambda: P.Filter(range=P.Range(key="x", gte=lo, lt_f64=hi)),
                lambda m: "x" in m and lo <= m["x"] < hi)
    if k == 3:
        t = "c%d" % rnd.randrange(5)
        return ({"type": "match", "key": "tags", "value": t},
                lambda: P.Filter(match=P.Match(key="tags", value=t)),
                lambda m: t in m["tags"])
    if k == 4:
        p = rnd.choice(["a-0", "b-1", "a-", "b-2", "a-29"])
        return ({"prefix": {"key": "name", "value": p}},
                lambda: P.Filter(prefix=P.PrefixCondition(key="name", prefix=p)),
                lambda m: m["name"].startswith(p))
    lo = rnd.randrange(40)
    return ({"range": {"key": "n", "gt": lo - 0.5, "lte": lo + 5}},
            lambda: P.Filter(range=P.Range(key="n", gt_f64=lo - 0.5, lte=lo + 5)),
            lambda m: lo - 0.5 < m["n"] <= lo + 5)


def tree(rnd, P, depth):
    if depth == 0 or rnd.random() < 0.3:
        return leaf(rnd, P)
    op = rnd.choice(["and", "or", "not"])
    if op == "not":
        h, g, f = tree(rnd, P, depth - 1)
        return ({"not": h}, lambda: P.Filter(none=P.FilterList(filters=[g()])),
                lambda m: not f(m))
    kids = [tree(rnd, P, depth - 1) for _ in range(rnd.randrange(1, 4))]
    hs = [k[0] for k in kids]
    if op == "and":
        return ({"and": hs}, lambda: P.Filter(all=P.FilterList(filters=[k[1]() for k in kids])),
                lambda m: all(k[2](m) for k in kids))
    return ({"or": hs}, lambda: P.Filter(any=P.FilterList(filters=[k[1]() for k in kids])),
            lambda m: any(k[2](m) for k in kids))


def test_random_trees_on_both_transports(srv, rpc, data):
    P, stub = rpc
    rnd = random.Random(4)
    seen_nonempty = 0
    for t in range(120):
        h, g, f = tree(rnd, P, 4)
        want = sorted(i for i, (_, m, _, _) in data.items() if f(m))
        seen_nonempty += bool(want)
        body = {"filters": [h]}
        assert ok(http(srv, "POST", "/api/collections/trees/count", body))["count"] == len(want), h
        assert stub.Count(P.CountRequest(collection="trees", filters=[g()])).count == len(want), h
        q = [rnd.uniform(-1, 1), rnd.uniform(-1, 1)]
        res = ok(http(srv, "POST", "/api/collections/trees/search",
                      dict(body, vector=q, top_k=7)))
        ids = [r["id"] for r in res]
        assert len(ids) == min(7, len(want)) and set(ids) <= set(want), h
        gres = stub.Search(P.SearchRequest(collection="trees", vector=q, top_k=7, filters=[g()]))
        assert [r.id for r in gres.results] == ids, h
        # the same tree in each group: must_not excludes exactly those points
        n_not = ok(http(srv, "POST", "/api/collections/trees/count", {"must_not": [h]}))["count"]
        assert n_not == N - len(want)
    assert seen_nonempty > 60


def test_not_of_a_list_is_none_of_them(srv, data):
    body = {"filters": [{"not": [{"type": "match", "key": "ok", "value": True},
                                 {"prefix": {"key": "name", "prefix": "a-"}}]}]}
    want = sum(1 for _, m, _, _ in data.values()
               if not (m["ok"] or m["name"].startswith("a-")))
    assert ok(http(srv, "POST", "/api/collections/trees/count", body))["count"] == want


def test_tree_errors_name_the_condition(srv, rpc, data):
    P, stub = rpc
    before = ok(http(srv, "GET", "/api/collections/trees/digest"))
    deep = {"type": "match", "key": "n", "value": 1}
    for _ in range(32):
        deep = {"not": deep}
    for cond, msg in (
            ({"and": []}, "Invalid filter: filters[0].and must hold at least one condition"),
            ({"or": {"type": "match", "key": "n", "value": 1}},
             "Invalid filter: filters[0].or must be an array of conditions"),
            ({"not": 3}, "Invalid filter: filters[0].not must be a condition or an array of "
                         "conditions"),
            ({"and": [{"type": "match", "key": "n", "value": 1}, {"or": [{}]}]},
             "Invalid filter: filters[0].and[1].or[0] has no condition"),
            ({"or": [{"type": "range", "key": "x", "gte": "1.5"}]},
             "Invalid filter: filters[0].or[0] gte must be an integer"),
            ({"prefix": {"key": "name"}}, "Invalid filter: filters[0] value must be a string"),
            ({"type": "prefix", "key": "name", "value": 1},
             "Invalid filter: filters[0] value must be a string"),
            ({"and": [{"type": "match", "key": "", "value": 1}]},
             "Invalid filter: filters[0]: key must not be empty"),
            (deep, "Invalid filter: filters[0]" + ".not" * 32 + " is nested deeper than 32 "
                   "levels")):
        st, _, b = http(srv, "POST", "/api/collections/trees/count", {"filters": [cond]})
        assert st == 400 and b["error"]["code"] == "INVALID_FILTER", b
        assert b["error"]["message"] == msg
    # 256 conditions in all, tree nodes counted
    wide = {"or": [{"type": "match", "key": "n", "value": i} for i in range(255)]}
    assert ok(http(srv, "POST", "/api/collections/trees/count", {"filters": [wide]}))["count"] \
        == N
    wide["or"].append({"type": "match", "key": "n", "value": 0})
    st, _, b = http(srv, "POST", "/api/collections/trees/count", {"filters": [wide]})
    assert (st, b["error"]["message"]) == (400, "Invalid filter: more than 256 conditions")
    # gRPC
    gdeep = P.Filter(match=P.Match(key="n", value="1"))
    for _ in range(32):
        gdeep = P.Filter(none=P.FilterList(filters=[gdeep]))
    for flt, msg in (
            (P.Filter(all=P.FilterList()),
             "Invalid filter: filters[0].all must hold at least one condition"),
            (P.Filter(any=P.FilterList(filters=[P.Filter()])),
             "Invalid filter: filters[0].any.filters[0] has no condition"),
            (gdeep, "Invalid filter: filters[0].none.filters[0].none.filters[0]")):
        with pytest.raises(grpc.RpcError) as e:
            stub.Count(P.CountRequest(collection="trees", filters=[flt]))
        assert e.value.code() == INV and e.value.details().startswith(msg)
        if flt is gdeep:  # the path is cut to its first 200 characters
            assert e.value.details().endswith(" is nested deeper than 32 levels")
        else:
            assert e.value.details() == msg
    assert ok(http(srv, "GET", "/api/collections/trees/digest")) == before


def test_delete_by_tree(srv, data):
    body = {"filters": [{"and": [{"prefix": {"key": "name", "value": "b-29"}},
                                 {"not": {"type": "match", "key": "ok", "value": True}}]}]}
    want = [i for i, (_, m, _, _) in data.items()
            if m["name"].startswith("b-29") and not m["ok"]]
    assert want
    r = ok(http(srv, "POST", "/api/collections/trees/points/delete", body))
    assert r["deleted"] == len(want)
    assert ok(http(srv, "POST", "/api/collections/trees/count", body))["count"] == 0
    for i in want:  # put them back for the other tests
        v, _, m, t = data[i]
        ok(http(srv, "POST", "/api/collections/trees/insert",
                {"id": i, "vector": v, "metadata": m, "typed_metadata": t}))
