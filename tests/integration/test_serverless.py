"""Many small collections per node (issue: serverless at 100,000 collections): the per-tenant
collection quota on both transports, the usage report from the engine's sums (also after a
restart, which reads the catalog file instead of every collection), and the on-disk layout of a
small collection (a bucket directory, one flat directory of small files)."""
import glob
import os
import signal

import grpc

from conftest import http, ok


def _create(s, tenant, name):
    return http(s, "POST", "/api/collections", {"name": name, "dimension": 3, "metric": "l2"},
                headers={"x-hyperspace-user-id": tenant})


def test_quota_usage_and_restart(server_factory, pb):
    s = server_factory(env={"HS_MAX_COLLECTIONS_PER_TENANT": "3"})
    for n in ("a", "b", "c"):
        ok(_create(s, "acme", n), 201)
    st, _, body = _create(s, "acme", "d")
    assert st == 429, body
    assert body["error"]["code"] == "QUOTA_EXCEEDED", body
    assert "acme" in body["error"]["message"] and "3" in body["error"]["message"], body
    with grpc.insecure_channel(s.grpc_target) as ch:
        stub = pb[1].DatabaseStub(ch)
        try:
            stub.CreateCollection(pb[0].CreateCollectionRequest(name="d", dimension=3,
                                                                metric="l2"),
                                  metadata=[("x-hyperspace-user-id", "acme")], timeout=10)
            raise AssertionError("the quota did not refuse")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "quota" in e.details()
    ok(_create(s, "other", "a"), 201)  # another tenant has its own quota
    for i, n in enumerate(("a", "b", "c")):
        for j in range(i + 1):
            ok(http(s, "POST", "/api/collections/%s/insert" % n,
                    {"id": j, "vector": [j, 1, 2]}, headers={"x-hyperspace-user-id": "acme"}))
    st, _, u = http(s, "GET", "/api/admin/usage")
    assert st == 200, u
    assert u["acme"]["collection_count"] == 3 and u["acme"]["vector_count"] == 6, u
    assert u["acme"]["max_collections"] == 3 and u["acme"]["disk_usage_bytes"] > 0, u
    assert u["other"]["collection_count"] == 1 and u["other"]["vector_count"] == 0, u
    # a refused create changed nothing
    assert not glob.glob(os.path.join(s.data_dir, "acme", "*", "d"))
    # a small collection: one directory in a bucket, only small files in it
    [cdir] = glob.glob(os.path.join(s.data_dir, "acme", "@*", "c"))
    files = os.listdir(cdir)
    assert all(os.path.isfile(os.path.join(cdir, f)) for f in files), files
    assert sum(os.path.getsize(os.path.join(cdir, f)) for f in files) < 8192, files
    assert s.stop(signal.SIGTERM) == 0
    s2 = server_factory(data_dir=s.data_dir, env={"HS_MAX_COLLECTIONS_PER_TENANT": "3"})
    st, _, u2 = http(s2, "GET", "/api/admin/usage")
    assert st == 200 and u2["acme"]["vector_count"] == 6 and u2["acme"]["collection_count"] == 3
    assert http(s2, "DELETE", "/api/collections/b", headers={"x-hyperspace-user-id": "acme"})[0] in (200, 204)
    ok(_create(s2, "acme", "d"), 201)  # room again
    st, _, u3 = http(s2, "GET", "/api/admin/usage")
    assert u3["acme"]["vector_count"] == 4 and u3["acme"]["collection_count"] == 3, u3
    # the data survived the restart (small logs are replayed at load, not checkpointed)
    st, _, body = http(s2, "POST", "/api/collections/c/search", {"vector": [2, 1, 2], "top_k": 5},
                       headers={"x-hyperspace-user-id": "acme"})
    assert st == 200, body
