"""upload(): 100k x 128 in batches with progress, beside a hand-written BatchInsert loop;
retries of transient failures only; the same through HTTP and the async client."""
import io
import os
import sys
import time

import numpy as np
import pytest

import hyperspace
from hyperspace import errors
from conftest import grpc_client, http_client

N, DIM, BATCH = 100_000, 128, 1000


def report(line):
    """Figures go to stdout (pytest -s) and to $HS_SDK_REPORT when set."""
    print(line)
    path = os.environ.get("HS_SDK_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def test_upload_100k_with_progress_vs_raw_batch_insert(shared_server):
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((N, DIM)).astype(np.float32)
    c = grpc_client(shared_server, raise_errors=True)
    for name in ("up_sdk", "up_raw"):
        c.create_collection(name, DIM, "l2")

    # the raw path: generated stubs, one BatchInsert per 1000 points, built by hand
    from hyperspace._proto import pb2, pb2_grpc
    import grpc
    ch = grpc.insecure_channel(shared_server.grpc_target,
                               options=[("grpc.max_send_message_length", 64 << 20)])
    stub = pb2_grpc.DatabaseStub(ch)
    t0 = time.perf_counter()
    for s in range(0, N, BATCH):
        rows = vecs[s:s + BATCH].tolist()
        stub.BatchInsert(pb2.BatchInsertRequest(collection="up_raw", vectors=[
            pb2.VectorData(id=s + i, vector=v) for i, v in enumerate(rows)]))
    raw = time.perf_counter() - t0
    ch.close()

    seen = []
    t0 = time.perf_counter()
    n = c.upload("up_sdk", vecs, batch_size=BATCH, parallel=2,
                 progress=lambda done, total: seen.append((done, total)))
    sdk = time.perf_counter() - t0
    assert n == N
    assert len(seen) == N // BATCH and seen[-1] == (N, N)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert c.get_collection_stats("up_sdk")["count"] == N
    assert c.get_digest("up_sdk")["state_hash"] == c.get_digest("up_raw")["state_hash"]
    probe = vecs[[0, 4242, N - 1]]
    assert c.search_batch(probe, top_k=1, collection="up_sdk",
                          as_numpy=True).ids[:, 0].tolist() == [0, 4242, N - 1]
    report("upload %dx%d: sdk upload(batch %d, parallel 2) %.2f s = %.0f vectors/s; "
           "raw BatchInsert loop %.2f s = %.0f vectors/s"
           % (N, DIM, BATCH, sdk, N / sdk, raw, N / raw))
    for name in ("up_sdk", "up_raw"):
        c.delete_collection(name)


def test_upload_draws_a_tqdm_bar(shared_server, capsys):
    pytest.importorskip("tqdm")
    c = grpc_client(shared_server, raise_errors=True)
    c.create_collection("up_bar", 8, "l2")
    assert c.upload("up_bar", np.ones((2500, 8)), batch_size=500, progress=True) == 2500
    err = capsys.readouterr().err
    assert "upload" in err and "2.50k/2.50k" in err
    c.delete_collection("up_bar")


def test_upload_with_ids_and_metadata_over_http(shared_server):
    c = http_client(shared_server, raise_errors=True)
    c.create_collection("up_http", 4, "cosine")
    vecs = np.random.default_rng(2).random((3000, 4)) + 0.1
    ids = np.arange(10, 3010)
    md = [{"even": str(i % 2 == 0).lower()} for i in range(3000)]
    assert c.upload("up_http", vecs, ids, md, batch_size=700, parallel=3, progress=False) == 3000
    assert c.get_collection_stats("up_http")["count"] == 3000
    hits = c.search(vecs[5], top_k=1, filter={"even": "false"}, collection="up_http")
    assert hits[0]["id"] == 15 and hits[0]["metadata"] == {"even": "false"}
    c.delete_collection("up_http")


class Flaky:
    """Wraps a transport: the first `fail` batch calls raise `error` before reaching the server."""

    def __init__(self, inner, fail, error):
        self.inner, self.fail, self.error, self.calls = inner, fail, error, 0

    def run(self, op, *args, **kw):
        if op == "batch_insert":
            self.calls += 1
            if self.calls <= self.fail:
                raise self.error
        return self.inner.run(op, *args, **kw)

    def close(self):
        self.inner.close()


def test_upload_retries_transient_failures_only(shared_server):
    c = grpc_client(shared_server, raise_errors=True)
    c.create_collection("up_retry", 4, "l2")
    c._transport = Flaky(c._transport, 2, errors.UnavailableError("Server is starting"))
    assert c.upload("up_retry", np.ones((10, 4)), batch_size=5, retry_delay=0.01) == 10
    assert c._transport.calls == 4  # 2 failed tries, then both batches
    assert c.get_collection_stats("up_retry")["count"] == 10

    c._transport = Flaky(c._transport.inner, 10, errors.UnavailableError("down"))
    with pytest.raises(errors.UnavailableError):
        c.upload("up_retry", np.ones((10, 4)), batch_size=5, max_retries=2, retry_delay=0.01)
    assert c._transport.calls == 3  # one try and two retries of the first batch

    c._transport = c._transport.inner
    with pytest.raises(errors.DimensionMismatchError):  # not transient: no retry
        c.upload("up_retry", np.ones((10, 3)), batch_size=5, retry_delay=0.01)
    compat = grpc_client(shared_server)
    assert compat.upload("up_retry", np.ones((10, 3)), batch_size=5) is False
    c.delete_collection("up_retry")


def test_numpy_batches_encode_to_the_protobuf_bytes():
    """The numpy fast path writes exactly what the protobuf encoder writes."""
    from hyperspace import _ops
    from hyperspace._proto import pb2
    vecs = np.random.default_rng(3).standard_normal((50, 7))
    ids = [0, 1, 127, 128, 300, 2 ** 32 - 1] + list(range(1000, 1044))
    mds = [{"k%d" % j: "v\u00e9%d" % i for j in range(i % 3)} for i in range(50)]
    for md, dur in ((None, 0), (mds, 3)):
        want = pb2.BatchInsertRequest(collection="c\u00f6ll", durability=dur, vectors=[
            pb2.VectorData(id=ids[i], vector=vecs[i].tolist(), metadata=(md or [{}] * 50)[i])
            for i in range(50)])
        got = _ops.batch_insert_wire("c\u00f6ll", vecs, ids, md, dur)
        assert pb2.BatchInsertRequest.FromString(got) == want
        if md is None:  # map order is not fixed by protobuf; without maps the bytes are equal
            assert got == want.SerializeToString()
