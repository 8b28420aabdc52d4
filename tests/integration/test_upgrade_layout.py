"""A data directory written by the previous on-disk layout (collection.json format 2: one
directory per collection directly under its tenant, wal/ and vectors-<gen>/ subdirectories, a
manifest file, vector files with a 4,096-byte header, no catalog file) opens unchanged: every
point of a checkpointed collection and of collections that only have a log (the server was
killed) is there with its metadata, writes continue, and a restart keeps them.  New collections
beside them use the new layout.  The fixture was written by the server of the previous layout
(tests/fixtures/datadir-format2.tar.gz: see make_fixture below for what it holds)."""
import glob
import os
import signal
import tarfile

from conftest import http, ok

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "datadir-format2.tar.gz")

# What the fixture holds: default_admin/ckpt (l2, 4-d) ids 0..29 with metadata k = v<i % 3>,
# checkpointed, then ids 30..34 with k = late in its log; default_admin/walonly (poincare, 3-d)
# ids 0..9 in its log only; acme/x (cosine, 2-d) ids 100..102 in its log only; the server was
# killed with SIGKILL.


def _unpack(tmp_path):
    with tarfile.open(FIXTURE) as t:
        t.extractall(tmp_path)
    return str(tmp_path / "data")


def _count(s, name, tenant=None):
    h = {"x-hyperspace-user-id": tenant} if tenant else None
    st, _, body = http(s, "GET", "/api/collections/%s/stats" % name, headers=h)
    assert st == 200, body
    return body["count"]


def test_previous_layout_opens_and_keeps_working(server_factory, tmp_path):
    data = _unpack(tmp_path)
    s = server_factory(data_dir=data)
    assert _count(s, "ckpt") == 35
    assert _count(s, "walonly") == 10
    assert _count(s, "x", "acme") == 3
    for i, want in ((3, "v0"), (4, "v1"), (32, "late")):
        st, _, p = http(s, "GET", "/api/collections/ckpt/points/%d" % i)
        assert st == 200, p
        assert p["metadata"]["k"] == want, p
        assert p["vector"][0] == i, p
    st, _, res = http(s, "POST", "/api/collections/walonly/search",
                      {"vector": [0.05, 0.1, 0.2], "top_k": 3})
    assert st == 200 and res[0]["id"] == 5, res
    # writes continue in the old layout
    for i in range(35, 40):
        ok(http(s, "POST", "/api/collections/ckpt/insert", {"id": i, "vector": [i, 1, 2, 3]}))
    ok(http(s, "POST", "/api/collections/walonly/insert", {"id": 10, "vector": [0.3, 0.1, 0.2]}))
    ok(http(s, "POST", "/api/collections", {"name": "fresh", "dimension": 2, "metric": "l2"}), 201)
    ok(http(s, "POST", "/api/collections/fresh/insert", {"id": 1, "vector": [1, 2]}))
    assert s.stop(signal.SIGTERM) == 0
    # old collections stay where they were; the new one is in a bucket, flat
    assert os.path.isdir(os.path.join(data, "default_admin", "ckpt", "wal"))
    [fresh] = glob.glob(os.path.join(data, "default_admin", "@*", "fresh"))
    assert not os.path.exists(os.path.join(fresh, "wal"))
    s2 = server_factory(data_dir=data)
    assert _count(s2, "ckpt") == 40
    assert _count(s2, "walonly") == 11
    assert _count(s2, "x", "acme") == 3
    assert _count(s2, "fresh") == 1
    st, _, u = http(s2, "GET", "/api/admin/usage")
    assert u["default_admin"]["vector_count"] == 40 + 11 + 1 and u["acme"]["vector_count"] == 3, u
    # killed this time: the logs written since the clean start are replayed
    ok(http(s2, "POST", "/api/collections/ckpt/insert", {"id": 99, "vector": [9, 9, 9, 9]}))
    s2.stop(signal.SIGKILL)
    s3 = server_factory(data_dir=data)
    assert _count(s3, "ckpt") == 41
