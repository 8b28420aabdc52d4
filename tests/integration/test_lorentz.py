"""The Lorentz (hyperboloid) metric through both transports: creation, the hyperboloid check
with errors that name the violation and change nothing, search order and distances equal to the
same points in the Poincaré ball, restart persistence, and no change for clients that never
send "lorentz"."""
import math
import random

import grpc
import pytest

from conftest import http, ok, restart


def to_lorentz(p):
    s = sum(x * x for x in p)
    return [(1 + s) / (1 - s)] + [2 * x / (1 - s) for x in p]


def ball_points(n, dim, seed):
    rng = random.Random(seed)
    pts = []
    for _ in range(n):
        v = [rng.gauss(0, 1) for _ in range(dim)]
        r = math.tanh(rng.uniform(0.1, 7.0) / 2)  # hyperbolic radius 0.1 .. 7
        norm = math.sqrt(sum(x * x for x in v))
        pts.append([x * r / norm for x in v])
    return pts


def poincare_dist(p, q):
    sp, sq = sum(x * x for x in p), sum(x * x for x in q)
    dd = sum((a - b) ** 2 for a, b in zip(p, q))
    return 2 * math.asinh(math.sqrt(dd / ((1 - sp) * (1 - sq))))


def test_lorentz_http_matches_the_ball(server):
    pts = ball_points(300, 4, 5)
    for name, metric, conv in (("ball", "poincare", lambda p: p), ("hyp", "lorentz", to_lorentz)):
        ok(http(server, "POST", "/api/collections",
                {"name": name, "dimension": len(conv(pts[0])), "metric": metric}), 201)
        ok(http(server, "POST", "/api/collections/%s/insert/batch" % name,
                {"vectors": [{"id": i, "vector": conv(p)} for i, p in enumerate(pts)],
                 "durability": "strict"}))
    info = ok(http(server, "GET", "/api/collections/hyp"))
    assert info["metric"] == "lorentz" and info["dimension"] == 5
    q = ball_points(1, 4, 99)[0]
    want = sorted(range(len(pts)), key=lambda i: poincare_dist(q, pts[i]))[:10]
    got_ball = ok(http(server, "POST", "/api/collections/ball/search",
                       {"vector": q, "top_k": 10, "ef_search": 300}))
    got_hyp = ok(http(server, "POST", "/api/collections/hyp/search",
                      {"vector": to_lorentz(q), "top_k": 10, "ef_search": 300}))
    assert [h["id"] for h in got_hyp] == want
    assert [h["id"] for h in got_ball] == want
    for a, b in zip(got_hyp, got_ball):
        assert a["distance"] == pytest.approx(b["distance"], rel=1e-6)
        assert a["distance"] == pytest.approx(poincare_dist(q, pts[a["id"]]), rel=1e-6)
    # the stored vector comes back as given
    pt = ok(http(server, "GET", "/api/collections/hyp/points/7"))
    assert pt["vector"] == pytest.approx(to_lorentz(pts[7]), rel=1e-12)


@pytest.mark.parametrize("vector, words", [
    ([-1.0, 0.0, 0.0], "x0 must be positive"),
    ([0.0, 0.0, 0.0], "x0 must be positive"),
    ([1.0, 0.5, 0.0], "not on the hyperboloid"),
    ([2.0, 0.0, 0.0], "not on the hyperboloid"),
])
def test_lorentz_validation_http(server, vector, words):
    ok(http(server, "POST", "/api/collections", {"name": "h", "dimension": 3, "metric": "lorentz"}),
       201)
    st, _, body = http(server, "POST", "/api/collections/h/insert",
                       {"id": 1, "vector": vector, "durability": "strict"})
    assert st == 400 and body["error"]["code"] == "INVALID_VECTOR", body
    assert words in body["error"]["message"]
    st, _, body = http(server, "POST", "/api/collections/h/search", {"vector": vector})
    assert st == 400 and body["error"]["code"] == "INVALID_VECTOR", body
    assert "Query vector" in body["error"]["message"]
    assert ok(http(server, "GET", "/api/collections/h/stats"))["count"] == 0


@pytest.mark.parametrize("quant", ["scalar", "binary"])
def test_lorentz_quantized_matches_the_unquantized_twin(server_factory, quant):
    """Codes of hyperboloid points are those of their images in the ball: the graph (built on
    the full vectors) is walked on them, re-ranked exactly, walked on the vectors where they
    miss; the answers and distances are the unquantized twin's, also after a checkpoint and a
    restart (the codes come back from the checkpoint) and after a rebuild."""
    import time

    s = server_factory()
    pts = ball_points(3000, 4, 11)  # above the exact-scan threshold (1,024): the graph is walked
    for name, q in (("hq", quant), ("hn", "none")):
        ok(http(s, "POST", "/api/collections",
                {"name": name, "dimension": 5, "metric": "lorentz", "quantization": q}), 201)
        for at in range(0, len(pts), 1000):
            ok(http(s, "POST", "/api/collections/%s/insert/batch" % name,
                    {"vectors": [{"id": i, "vector": to_lorentz(pts[i])}
                                 for i in range(at, at + 1000)]}))
    info = ok(http(s, "GET", "/api/collections/hq"))
    assert info["metric"] == "lorentz" and info["quantization"] == quant

    def indexed():
        deadline = time.time() + 120
        while any(ok(http(s, "GET", "/api/collections/%s/stats" % n))["indexing_queue"]
                  for n in ("hq", "hn")):
            assert time.time() < deadline, "not indexed in 120 s"
            time.sleep(0.1)

    def answers():
        hits = total = 0
        for qp in ball_points(40, 4, 12):
            body = {"vector": to_lorentz(qp), "top_k": 10}
            got = ok(http(s, "POST", "/api/collections/hq/search", body))
            want = ok(http(s, "POST", "/api/collections/hn/search", body))
            hits += len({h["id"] for h in got} & {h["id"] for h in want})
            total += 10
            for h in got:  # reported from the full vectors, as the twin's
                assert h["distance"] == pytest.approx(poincare_dist(qp, pts[h["id"]]), rel=1e-6)
        return hits / total

    indexed()
    assert answers() >= 0.95
    ok(http(s, "POST", "/api/collections/hq/snapshot"))
    restart(s)
    indexed()
    assert ok(http(s, "GET", "/api/collections/hq/stats"))["count"] == 3000
    assert answers() >= 0.95
    ok(http(s, "POST", "/api/collections/hq/rebuild"))
    indexed()
    assert answers() >= 0.95
    # int8 codes of these points rank: the collection never turned to walking its vectors for
    # every query (binary codes of 4 components take only 16 values: they cannot, and it does)
    walked_vectors = "searches walk the full vectors" in s.output()
    assert walked_vectors == (quant == "binary"), s.output()[-2000:]


def test_lorentz_creation_errors_http(server):
    st, _, body = http(server, "POST", "/api/collections",
                       {"name": "one", "dimension": 1, "metric": "lorentz"})
    assert st == 400 and "between 2 and 16384" in body["error"]["message"], body
    assert [c for c in ok(http(server, "GET", "/api/collections"))
            if isinstance(c, dict) and c.get("name") == "one"] == []


def test_lorentz_grpc_and_restart(server_factory, pb):
    s = server_factory()
    pbm, rpc = pb
    ch = grpc.insecure_channel(s.grpc_target)
    db = rpc.DatabaseStub(ch)
    db.CreateCollection(pbm.CreateCollectionRequest(name="g", dimension=3, metric="lorentz"))
    pts = ball_points(50, 2, 3)
    db.BatchInsert(pbm.BatchInsertRequest(collection="g", vectors=[
        pbm.VectorData(id=i, vector=to_lorentz(p)) for i, p in enumerate(pts)]))
    with pytest.raises(grpc.RpcError) as e:
        db.Insert(pbm.InsertRequest(collection="g", id=99, vector=[1.0, 1.0, 1.0]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not on the hyperboloid" in e.value.details()
    q = to_lorentz([0.1, -0.2])
    res = db.Search(pbm.SearchRequest(collection="g", vector=q, top_k=5))
    want = sorted(range(len(pts)), key=lambda i: poincare_dist([0.1, -0.2], pts[i]))[:5]
    assert [r.id for r in res.results] == want
    ch.close()
    restart(s)  # (ready: gRPC listens a moment before the server takes calls)
    ch = grpc.insecure_channel(s.grpc_target)
    grpc.channel_ready_future(ch).result(timeout=30)
    db = rpc.DatabaseStub(ch)
    res2 = db.Search(pbm.SearchRequest(collection="g", vector=q, top_k=5))
    assert [r.id for r in res2.results] == want
    assert db.GetCollectionStats(pbm.CollectionStatsRequest(name="g")).count == 50
    ch.close()
