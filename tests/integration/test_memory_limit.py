"""HS_MEMORY_LIMIT: the loaded collections stay under the node's memory limit (the least recently
used are unloaded, whatever the loaded-count limit), every query is answered correctly while
collections come and go, the server's RSS stays under the limit plus its own baseline, and a
collection that cannot fit is refused with 507 MEMORY_LIMIT (gRPC RESOURCE_EXHAUSTED) naming
the figures, without loading it."""
import random
import signal

from conftest import http, ok, rss_mb

DIM, N, COLLS = 64, 12000, 8  # ~3.1 MiB of vectors + ~1.6 MiB of level-0 lists each


def _sanitized(pid):
    """A server built with ASan/TSan: its RSS (shadow memory, quarantine) says nothing here."""
    with open("/proc/%d/maps" % pid) as f:
        return any("libasan" in l or "libtsan" in l for l in f)


def _vec(c, i):
    r = random.Random(c * 1000003 + i)
    return [r.uniform(-1, 1) for _ in range(DIM)]


def _metric(s, name):
    st, _, text = http(s, "GET", "/metrics")
    assert st == 200
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name)


def test_memory_limit(server_factory):
    env = {"HS_MEMORY_LIMIT": "24MiB", "HS_INDEXER_CONCURRENCY": "1"}
    s = server_factory(env=env)
    base = rss_mb(s.proc.pid)
    for c in range(COLLS):
        ok(http(s, "POST", "/api/collections", {"name": "m%d" % c, "dimension": DIM,
                                                 "metric": "l2"}), 201)
        for b in range(0, N, 1000):
            ok(http(s, "POST", "/api/collections/m%d/insert/batch" % c,
                    {"vectors": [{"id": i, "vector": _vec(c, i)} for i in range(b, b + 1000)]}))
    peak = 0.0
    rng = random.Random(5)
    for rnd in range(3):
        for c in rng.sample(range(COLLS), COLLS):
            i = rng.randrange(N)
            st, _, res = http(s, "POST", "/api/collections/m%d/search" % c,
                              {"vector": _vec(c, i), "top_k": 3})
            assert st == 200, res
            assert res[0]["id"] == i, (c, i, res[:3])
            peak = max(peak, rss_mb(s.proc.pid))
    st, _, stats = http(s, "GET", "/api/collections")
    loaded = 0
    for c in range(COLLS):
        st, _, one = http(s, "GET", "/api/collections/m%d/stats" % c)
        loaded += bool(one.get("loaded"))
    assert 1 <= loaded < COLLS, loaded  # 8 x ~4.7 MiB do not fit in 24 MiB
    assert _metric(s, "hyperspace_memory_limit_bytes") == 24 * 1048576
    assert _metric(s, 'hyperspace_collection_evictions_total{reason="memory"}') >= COLLS
    print("memory limit 24 MiB: loaded %d of %d, RSS baseline %.1f MiB, peak %.1f MiB"
          % (loaded, COLLS, base, peak))
    # the loaded collections' 24 MiB, the process's own baseline, and an allowance of 24 MiB for
    # the allocator, the request buffers and the graph's upper levels (not in the estimate)
    if not _sanitized(s.proc.pid):
        assert peak <= base + 24 + 24, (base, peak)
    # a collection larger than the limit is refused at load, with its figures
    assert s.stop(signal.SIGTERM) == 0
    s2 = server_factory(data_dir=s.data_dir, env={"HS_MEMORY_LIMIT": "4MiB"})
    st, _, body = http(s2, "POST", "/api/collections/m0/search", {"vector": _vec(0, 1), "top_k": 1})
    assert st == 507, body
    assert body["error"]["code"] == "MEMORY_LIMIT", body
    msg = body["error"]["message"]
    assert "m0" in msg and "4.0 MiB" in msg and "HS_MEMORY_LIMIT" in msg, msg
    st, _, one = http(s2, "GET", "/api/collections/m0/stats")
    assert st == 200 and not one.get("loaded") and one["count"] == N, one
