"""Damaged collection files through the real server: a flipped byte in a checkpointed vector
record, a deleted vector file, a deleted checkpoint, every log segment deleted (after a clean
stop and after a kill before any checkpoint), a damaged manifest. Each must quarantine the
collection with the file named (reads answer COLLECTION_UNAVAILABLE, /readyz counts it), never
answer with wrong data, and leave the other collection working. The full matrix of damage
(every file, delete / truncate / flip) is tests/unit/test_corruption.c."""
import glob
import os
import signal

import pytest

from conftest import http, ok

SEG_HEADER = 64  # bytes before the first record of a vector file (version 2)

N = 500


def _fill(s, names):
    for name in names:
        ok(http(s, "POST", "/api/collections", dict(name=name, dimension=4, metric="l2")), 201)
        ok(http(s, "POST", "/api/collections/%s/insert/batch" % name, {"vectors": [
            {"id": i, "vector": [0, i, 1, 2]} for i in range(N)], "durability": "strict"}))


def _flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x10]))


def _damage(coll, case):
    """Damages one file of the collection directory; returns the file name to expect."""
    if case == "flip_vector":  # the second byte of point 0's first component (0.0 -> 3.2e-41)
        path = os.path.join(coll, "vectors-0-000000.seg")
        _flip(path, SEG_HEADER + 1)
    elif case == "delete_segment":
        path = os.path.join(coll, "vectors-0-000000.seg")
        os.unlink(path)
    elif case == "delete_checkpoint":
        [path] = glob.glob(os.path.join(coll, "checkpoint-*.ckpt"))
        os.unlink(path)
    elif case in ("delete_wal", "delete_wal_after_kill"):
        paths = sorted(glob.glob(os.path.join(coll, "*.wal")))
        assert paths
        for p in paths:
            os.unlink(p)
        # the newest is the one recovery needs (older ones are kept for change-stream readers,
        # HYPERSPACE_WAL_RETAIN_BYTES, and needed by no recovery)
        path = paths[-1]
    elif case == "flip_manifest":  # a flat collection keeps its manifest in collection.json
        path = os.path.join(coll, "collection.json")
        with open(path, "rb") as f:
            off = f.read().index(b'"manifest": "') + len('"manifest": "') + 40
        _flip(path, off)
    return os.path.basename(path)


@pytest.mark.parametrize("case", ["flip_vector", "delete_segment", "delete_checkpoint",
                                  "delete_wal", "delete_wal_after_kill", "flip_manifest"])
def test_a_damaged_file_quarantines_the_collection_naming_it(server_factory, case):
    # every stop checkpoints (a small log is otherwise left to be replayed)
    s = server_factory(env={"HS_CHECKPOINT_MIN_LOG_BYTES": "0"})
    _fill(s, ["bad", "good"])
    if case == "delete_wal_after_kill":  # no checkpoint: the log holds everything
        s.stop(signal.SIGKILL)
    else:
        assert s.stop(signal.SIGTERM) == 0  # a clean stop checkpoints
    [coll] = glob.glob(os.path.join(s.data_dir, "*", "*", "bad"))
    name = _damage(coll, case)

    s2 = server_factory(data_dir=s.data_dir)
    st, _, body = http(s2, "GET", "/api/collections/bad/points/0")
    assert st == 500, body
    assert body["error"]["code"] == "COLLECTION_UNAVAILABLE", body
    assert name in body["error"]["message"], body
    # nothing wrong is served: every read of the collection fails the same way
    assert http(s2, "POST", "/api/collections/bad/search",
                {"vector": [0, 1, 1, 2], "top_k": 3})[0] == 500
    assert http(s2, "POST", "/api/collections/bad/count")[0] == 500
    assert ok(http(s2, "GET", "/readyz"))["quarantined_collections"] == 1
    assert name in s2.output()  # the log names the file too
    p = ok(http(s2, "GET", "/api/collections/good/points/7"))
    assert p["vector"] == [0, 7, 1, 2]
    assert ok(http(s2, "POST", "/api/collections/good/count")) == {"count": N}
    # a quarantined collection can still be dropped
    assert http(s2, "DELETE", "/api/collections/bad")[0] == 204
