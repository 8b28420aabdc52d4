"""Snapshot archives through real servers (docs/api/http.md and grpc.md, "Snapshot archives").

* Under concurrent writers (one per collection over HTTP, each write's clock from its reply), a
  collection snapshot restored under another name and tenant on the same node, and a node
  snapshot downloaded, uploaded to an empty second server process and restored there, hold
  exactly the writes with a clock <= the snapshot's: digest (all 256 buckets, count) equal to a
  collection built from the client's model of those writes, the collection clock the last such
  write's, every point's vector and metadata the model's. Without concurrent writes the restored
  digest equals the source's own.
* A flipped byte anywhere in an archive (sampled over header, entries, manifest and trailer) or
  a cut one is refused on upload and on restore with SNAPSHOT_DAMAGED, and changes nothing.
* No name reaches outside the snapshot directory: traversal, absolute paths, percent-encoded
  separators and NUL bytes, overlong names, symbolic and hard links, and no file is created
  anywhere but in the data and snapshot directories.
* gRPC: CreateSnapshot, ListSnapshots, GetSnapshot, RestoreSnapshot, DeleteSnapshot and their
  errors; a follower refuses a restore; keys are required.
"""
import array
import hashlib
import json
import os
import random
import struct
import threading
import urllib.error
import urllib.request

import grpc
import pytest

from conftest import Server, http, ok

DIM = 4
IDS = 250


def raw(server, method, path, data=None, headers=None, timeout=60):
    """One HTTP request with a raw body; returns (status, headers, body bytes)."""
    req = urllib.request.Request(server.url(path), data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def upload(server, name, data, headers=None):
    h = {"Content-Type": "application/octet-stream"}
    h.update(headers or {})
    st, _, body = raw(server, "PUT", "/api/snapshots/" + name, data, h)
    return st, json.loads(body) if body else None


def error_code(resp):
    return resp[2]["error"]["code"]


# ---- concurrent writers and their model ---------------------------------------------------------

class Writer(threading.Thread):
    """Writes to one collection until stopped, keeping (clock, op) for every acknowledged write.
    The only writer of its collection: the clock in each reply is that write's."""

    def __init__(self, server, name, seed, tenant=None):
        super().__init__(daemon=True)
        self.server, self.name, self.rng = server, name, random.Random(seed)
        self.headers = {"x-hyperspace-user-id": tenant} if tenant else None
        self.ops, self.stop, self.error = [], threading.Event(), None
        self.salt = 0

    def vector(self, i):
        self.salt += 1
        return [((i * 7 + self.salt * 13 + k * 5) % 64) / 32.0 - 1 for k in range(DIM)]

    def run(self):
        try:
            while not self.stop.is_set():
                ids = [self.rng.randrange(IDS) for _ in range(self.rng.randint(1, 4))]
                if self.rng.random() < 0.2:
                    st, _, body = http(self.server, "POST",
                                       "/api/collections/%s/points/delete" % self.name,
                                       {"ids": ids}, headers=self.headers)
                    assert st == 200, body
                    self.ops.append((body["logical_clock"], "del", ids, None))
                else:
                    pts = [{"id": i, "vector": self.vector(i), "metadata": {"s": str(self.salt)}}
                           for i in ids]
                    st, _, body = http(self.server, "POST",
                                       "/api/collections/%s/insert/batch" % self.name,
                                       {"vectors": pts}, headers=self.headers)
                    assert st == 200, body
                    self.ops.append((body["logical_clock"], "put", ids, pts))
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def model_at(self, clock):
        """{id: (vector, metadata)} of the writes with a clock <= clock, and the last clock."""
        live, last = {}, None
        for c, kind, ids, pts in self.ops:
            if c > clock:
                break
            last = c
            if kind == "del":
                for i in ids:
                    live.pop(i, None)
            else:
                for p in pts:  # a later entry of a batch wins, as on the server
                    live[p["id"]] = (p["vector"], p["metadata"])
        return live, last


def digest(server, name, tenant=None):
    h = {"x-hyperspace-user-id": tenant} if tenant else None
    return ok(http(server, "GET", "/api/collections/%s/digest" % name, headers=h))


def expected_digest(server, model, tag):
    """The digest of a collection holding exactly the model's points (built on `server`)."""
    name = "expect-" + tag
    ok(http(server, "POST", "/api/collections", {"name": name, "dimension": DIM,
                                                 "metric": "l2"}), 201)
    pts = [{"id": i, "vector": v} for i, (v, _) in sorted(model.items())]
    for k in range(0, len(pts), 100):
        ok(http(server, "POST", "/api/collections/%s/insert/batch" % name,
                {"vectors": pts[k:k + 100]}))
    d = digest(server, name)
    ok(http(server, "DELETE", "/api/collections/" + name), 204)
    return d


def check_restored(server, name, model, last_clock, tag, tenant=None):
    got = digest(server, name, tenant)
    want = expected_digest(server, model, tag)
    assert got["count"] == len(model) == want["count"]
    assert got["buckets"] == want["buckets"]
    assert got["state_hash"] == want["state_hash"]
    assert got["logical_clock"] == last_clock
    # every point, with its metadata, as the model says
    h = {"x-hyperspace-user-id": tenant} if tenant else None
    ids = ",".join(str(i) for i in range(IDS))
    st, _, pts = http(server, "GET", "/api/collections/%s/points?ids=%s&with_vector=true"
                      % (name, ids), headers=h)
    assert st == 200, pts
    seen = {p["id"]: p for p in (pts["points"] if isinstance(pts, dict) else pts)}
    assert sorted(seen) == sorted(model)
    for i, (v, meta) in model.items():
        assert seen[i]["vector"] == v
        assert seen[i]["metadata"] == meta


def wait_ops(w, n):
    while len(w.ops) < n and w.is_alive():
        w.join(0.01)
    assert w.error is None, w.error


def fill_bulk(server, dim=256, n=40000, batch=8000):
    """aaa/bulk: n points of dim float32 components (n * dim * 4 bytes of vectors), sent in the
    binary bulk format."""
    h = {"x-hyperspace-user-id": "aaa"}
    ok(http(server, "POST", "/api/collections", {"name": "bulk", "dimension": dim,
                                                 "metric": "l2"}, headers=h), 201)
    rng = random.Random(5)
    for first in range(0, n, batch):
        vals = array.array("f", (rng.random() for _ in range(batch * dim)))
        body = b"HSF1" + struct.pack("<IIII", dim, batch, 0, first) + vals.tobytes()
        st, _, out = raw(server, "POST", "/api/collections/bulk/insert/batch?durability=async",
                         body, dict(h, **{"Content-Type": "application/x-hyperspace-f32"}))
        assert st == 200, out
    return n


@pytest.fixture
def pair(server_factory, tmp_path):
    """A source server and an empty second one with its own data directory."""
    a = server_factory(env={"HS_DIMENSION": "4", "HS_METRIC": "l2",
                            "HYPERSPACE_SNAPSHOT_INTERVAL_SEC": "1",
                            "HS_CHECKPOINT_MIN_LOG_BYTES": "0"})
    b = server_factory(env={"HS_DIMENSION": "4", "HS_METRIC": "l2"})
    return a, b


def test_snapshot_under_concurrent_writes_restores_the_state_at_its_clock(pair,
                                                                       server_factory):
    a, b = pair
    for name in ("c1", "c2"):
        ok(http(a, "POST", "/api/collections", {"name": name, "dimension": DIM,
                                                "metric": "l2"}), 201)
    ok(http(a, "POST", "/api/collections", {"name": "c3", "dimension": DIM, "metric": "l2"},
            headers={"x-hyperspace-user-id": "acme"}), 201)
    # a large collection the node snapshot copies first (tenant "aaa" sorts first): the writers'
    # collections are cut while their writers keep going
    bulk_points = fill_bulk(a)
    writers = [Writer(a, "c1", 1), Writer(a, "c2", 2), Writer(a, "c3", 3, tenant="acme")]
    for w in writers:
        w.start()
    for w in writers:
        wait_ops(w, 150)
    # checkpoints of their own run too (explicit, and every second in the background)
    ok(http(a, "POST", "/api/collections/c1/snapshot"))
    one = ok(http(a, "POST", "/api/snapshots", {"collection": "c1"}), 201)
    for w in writers:
        wait_ops(w, len(w.ops) + 100)
    marks = [len(w.ops) for w in writers]
    node = ok(http(a, "POST", "/api/snapshots", {"snapshot": "node.hsnap"}), 201)
    during = [[c for c, *_ in w.ops[m:]] for w, m in zip(writers, marks)]
    for w in writers:
        wait_ops(w, len(w.ops) + 100)
        w.stop.set()
    for w in writers:
        w.join()
        assert w.error is None, w.error
    c1 = writers[0]
    assert c1.ops[0][0] <= one["logical_clock"] < c1.ops[-1][0]  # writes on both sides
    assert one["scope"] == "collection" and one["collections"] == 1
    # every writer has acknowledged writes on both sides of the node snapshot's clock (how many
    # fell inside the snapshot's own run depends on the scheduler: not asserted)
    assert all(w.ops[0][0] <= node["logical_clock"] < w.ops[-1][0] for w in writers), during
    assert node["scope"] == "node" and node["collections"] == 5
    names = {(x["tenant"], x["name"]) for x in node["contents"]}
    assert names == {("default_admin", "default"), ("default_admin", "c1"),
                     ("default_admin", "c2"), ("acme", "c3"), ("aaa", "bulk")}

    # the collection snapshot under another name and tenant, on the same node
    r = ok(http(a, "POST", "/api/snapshots/%s/restore" % one["snapshot"],
                {"collection": "c1", "target": "c1-copy", "target_tenant": "other"}))
    assert r["logical_clock"] == one["logical_clock"]
    assert [(x["tenant"], x["name"], x["from_name"]) for x in r["restored"]] == \
        [("other", "c1-copy", "c1")]
    model, last = c1.model_at(one["logical_clock"])
    assert r["restored"][0]["count"] == len(model)
    check_restored(a, "c1-copy", model, last, "a1", tenant="other")

    # the node snapshot: downloaded, uploaded to the empty second node, restored there
    st, hdrs, data = raw(a, "GET", "/api/snapshots/node.hsnap")
    assert st == 200 and hdrs["content-type"] == "application/octet-stream"
    assert len(data) == node["bytes"] == int(hdrs["content-length"])
    st, up = upload(b, "node.hsnap", data)
    assert st == 201, up
    assert up["logical_clock"] == node["logical_clock"]
    r = ok(http(b, "POST", "/api/snapshots/node.hsnap/restore", {}))
    assert sorted((x["tenant"], x["name"]) for x in r["restored"]) == sorted(names)
    for w, tag in zip(writers, ("b1", "b2", "b3")):
        model, last = w.model_at(node["logical_clock"])
        check_restored(b, w.name, model, last, tag,
                       tenant="acme" if w.name == "c3" else None)
    assert digest(b, "bulk", "aaa")["count"] == bulk_points
    # the second node's clock is past the archive's: its writes come after every restored one
    w = ok(http(b, "POST", "/api/collections/c1/insert", {"id": 1, "vector": [0, 0, 0, 1]}))
    assert w["logical_clock"] > node["logical_clock"]
    # and it all survives a restart
    before = digest(b, "c2")
    assert b.stop() == 0
    b2 = server_factory(data_dir=b.data_dir)
    assert digest(b2, "c2") == before


def test_quiet_restore_equals_the_source_and_poincare_and_typed_metadata(pair):
    a, b = pair
    ok(http(a, "POST", "/api/collections", {"name": "tax", "dimension": 3,
                                            "metric": "poincare"}), 201)
    pts = [{"id": i, "vector": [i / 1000.0, -i / 2000.0, 0.25],
            "metadata": {"depth": str(i % 5)}, "typed_metadata": {"n": i, "ok": i % 2 == 0}}
           for i in range(600)]
    ok(http(a, "POST", "/api/collections/tax/insert/batch", {"vectors": pts}))
    ok(http(a, "POST", "/api/collections/tax/snapshot"))  # a checkpoint, then a log tail
    ok(http(a, "POST", "/api/collections/tax/points/delete", {"ids": list(range(0, 600, 7))}))
    snap = ok(http(a, "POST", "/api/snapshots", {"collection": "tax", "snapshot": "tax.hsnap"}),
              201)
    assert snap["snapshot"] == "tax.hsnap"
    src = digest(a, "tax")
    ok(http(a, "POST", "/api/snapshots/tax.hsnap/restore", {"collection": "tax",
                                                              "target": "tax2"}))
    got = digest(a, "tax2")
    for k in ("buckets", "state_hash", "count", "logical_clock"):
        assert got[k] == src[k]
    # searches and filters work on the restored copy as on the source
    q = {"vector": [0.1, -0.05, 0.25], "top_k": 5, "filter": {"depth": "3"}}
    s1 = ok(http(a, "POST", "/api/collections/tax/search", q))
    s2 = ok(http(a, "POST", "/api/collections/tax2/search", q))
    assert s1 == s2 and s1
    p = ok(http(a, "GET", "/api/collections/tax2/points/8"))
    assert p["typed_metadata"] == {"depth": "3", "n": 8, "ok": True}


def _all_collections(server, tenants=("default_admin", "acme", "other")):
    """The collections of some tenants with their contents' figures (not the indexer's backlog,
    which moves on its own)."""
    out = {}
    for t in tenants:
        out[t] = [(c["name"], c["count"], c["deleted_count"], c["dimension"], c["metric"])
                  for c in ok(http(server, "GET", "/api/collections",
                                   headers={"x-hyperspace-user-id": t}))]
    return out


def test_damaged_or_cut_archives_are_refused_and_change_nothing(server_factory):
    a = server_factory()
    ok(http(a, "POST", "/api/collections", {"name": "d", "dimension": DIM, "metric": "l2"}), 201)
    ok(http(a, "POST", "/api/collections/d/insert/batch", {"vectors": [
        {"id": i, "vector": [i, 1, 2, 3], "metadata": {"k": "v%d" % i}} for i in range(300)]}))
    ok(http(a, "POST", "/api/collections/d/snapshot"))
    ok(http(a, "POST", "/api/collections/d/insert/batch", {"vectors": [
        {"id": i, "vector": [i, 4, 5, 6]} for i in range(250, 400)]}))
    snap = ok(http(a, "POST", "/api/snapshots", {"snapshot": "good.hsnap"}), 201)
    _, _, data = raw(a, "GET", "/api/snapshots/good.hsnap")
    before = _all_collections(a)
    snapdir = os.path.join(a.data_dir, ".snapshots")
    listing = sorted(os.listdir(a.data_dir))
    n = len(data)
    rng = random.Random(7)
    spots = sorted(set(list(range(0, 40, 3)) + list(range(n - 40, n, 3)) +
                   [rng.randrange(n) for _ in range(40)]))
    for off in spots:
        bad = bytearray(data)
        bad[off] ^= 1 << rng.randrange(8)
        st, body = upload(a, "bad.hsnap", bytes(bad))
        assert st == 422, (off, body)
        assert body["error"]["code"] == "SNAPSHOT_DAMAGED"
        assert "bad.hsnap" in body["error"]["message"]
        assert "bad.hsnap" not in os.listdir(snapdir)
        # placed in the directory by hand, the restore refuses it
        with open(os.path.join(snapdir, "bad.hsnap"), "wb") as f:
            f.write(bad)
        resp = http(a, "POST", "/api/snapshots/bad.hsnap/restore",
                    {"collection": "d", "target": "d-copy"})
        assert resp[0] == 422 and error_code(resp) == "SNAPSHOT_DAMAGED", (off, resp)
        os.unlink(os.path.join(snapdir, "bad.hsnap"))
    for cut in (0, 1, 31, 32, 100, n // 2, n - 33, n - 32, n - 1):
        st, body = upload(a, "cut.hsnap", data[:cut])
        assert st == 422 and body["error"]["code"] == "SNAPSHOT_DAMAGED", (cut, body)
        with open(os.path.join(snapdir, "cut.hsnap"), "wb") as f:
            f.write(data[:cut])
        resp = http(a, "POST", "/api/snapshots/cut.hsnap/restore", {})
        assert resp[0] == 422 and error_code(resp) == "SNAPSHOT_DAMAGED", (cut, resp)
        os.unlink(os.path.join(snapdir, "cut.hsnap"))
    st, body = upload(a, "long.hsnap", data + b"\0")
    assert st == 422
    assert _all_collections(a) == before
    assert sorted(os.listdir(a.data_dir)) == listing  # no .restore-* left behind
    assert sorted(os.listdir(snapdir)) == ["good.hsnap"]
    # the good one still restores, and an upload under a taken name is refused
    st, body = upload(a, "good.hsnap", data)
    assert st == 409 and body["error"]["code"] == "ALREADY_EXISTS"
    r = ok(http(a, "POST", "/api/snapshots/good.hsnap/restore",
                {"collection": "d", "target": "d-copy"}))
    assert r["restored"][0]["count"] == 400
    assert digest(a, "d-copy")["state_hash"] == digest(a, "d")["state_hash"]
    assert snap["logical_clock"] == digest(a, "d")["logical_clock"]


def _tree(root):
    out = set()
    for d, dirs, files in os.walk(root):
        for x in dirs + files:
            out.add(os.path.relpath(os.path.join(d, x), root))
    return out


def test_names_never_reach_outside_the_snapshot_directory(server_factory, tmp_path):
    base = tmp_path / "area"
    data_dir, snap_dir = base / "data", base / "snaps"
    data_dir.mkdir(parents=True)
    secret = base / "secret.hsnap"
    secret.write_bytes(b"not yours")
    a = server_factory(data_dir=str(data_dir), env={"HS_SNAPSHOT_DIR": str(snap_dir)})
    ok(http(a, "POST", "/api/collections", {"name": "d", "dimension": 2, "metric": "l2"}), 201)
    ok(http(a, "POST", "/api/collections/d/insert", {"id": 1, "vector": [1, 2]}))
    real = ok(http(a, "POST", "/api/snapshots", {"snapshot": "real.hsnap"}), 201)
    outside_before = _tree(str(base)) - {p for p in _tree(str(base))
                                         if p.startswith(("data", "snaps"))}
    bad_paths = ["..%2Fsecret.hsnap", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd",
                 "%2e%2e%2fsecret.hsnap", ".hidden.hsnap", "x%00.hsnap", "real.hsnap%00x",
                 "a" * 300 + ".hsnap", "real", "real.HSNAP", "..", "%2e%2e", "x%20y.hsnap",
                 "x%5cy.hsnap", "%C3%A9.hsnap"]
    for p in bad_paths:
        for method, suffix, body in (("GET", "", None), ("GET", "/manifest", None),
                                     ("DELETE", "", None), ("POST", "/restore", {})):
            resp = http(a, method, "/api/snapshots/" + p + suffix, body)
            assert resp[0] in (400, 404), (p, method, resp)
            if resp[0] == 400:
                assert error_code(resp) == "INVALID_SNAPSHOT_NAME", (p, resp)
        st, body = upload(a, p, b"x")
        assert st in (400, 404), (p, body)
    # the same names as the name of a new snapshot or of an upload
    for name in ("../secret2.hsnap", "/tmp/x.hsnap", "sub/x.hsnap", ".x.hsnap", "x",
                 "y" * 129 + ".hsnap", "x\u0000.hsnap"):
        resp = http(a, "POST", "/api/snapshots", {"snapshot": name})
        assert resp[0] == 400, (name, resp)
        assert error_code(resp) in ("INVALID_SNAPSHOT_NAME", "INVALID_JSON",
                                    "INVALID_ARGUMENT"), resp
    # links and other files with valid names are not served, restored or removed
    os.symlink(str(secret), str(snap_dir / "link.hsnap"))
    os.symlink("real.hsnap", str(snap_dir / "inner.hsnap"))
    os.link(str(secret), str(snap_dir / "hard.hsnap"))
    os.mkfifo(str(snap_dir / "fifo.hsnap"))
    os.mkdir(str(snap_dir / "dir.hsnap"))
    for name in ("link.hsnap", "inner.hsnap", "hard.hsnap", "fifo.hsnap", "dir.hsnap"):
        for method, suffix, body in (("GET", "", None), ("GET", "/manifest", None),
                                     ("DELETE", "", None), ("POST", "/restore", {})):
            resp = http(a, method, "/api/snapshots/%s%s" % (name, suffix), body)
            assert resp[0] == 404 and error_code(resp) == "SNAPSHOT_NOT_FOUND", (name, resp)
        st, body = upload(a, name, b"x")
        assert st == 409, (name, body)  # the name is taken: nothing is written through it
    listed = [s["snapshot"] for s in ok(http(a, "GET", "/api/snapshots"))]
    assert listed == ["real.hsnap"]  # links, the fifo and the directory are not archives
    assert secret.read_bytes() == b"not yours"
    assert os.path.islink(str(snap_dir / "link.hsnap"))
    # nothing was created anywhere but in the data and snapshot directories
    outside_after = _tree(str(base)) - {p for p in _tree(str(base))
                                        if p.startswith(("data", "snaps"))}
    assert outside_after == outside_before
    assert not os.path.exists(os.path.join(str(data_dir), ".snapshots"))
    assert real["bytes"] == os.path.getsize(str(snap_dir / "real.hsnap"))


def test_restore_targets_and_request_checks(server_factory):
    a = server_factory()
    ok(http(a, "POST", "/api/collections", {"name": "d", "dimension": 2, "metric": "l2"}), 201)
    ok(http(a, "POST", "/api/collections/d/insert", {"id": 1, "vector": [1, 2]}))
    ok(http(a, "POST", "/api/collections", {"name": "empty", "dimension": 5, "metric": "cosine"}),
       201)
    ok(http(a, "POST", "/api/snapshots", {"collection": "d", "snapshot": "d.hsnap"}), 201)
    cases = [
        ({"collection": "d"}, 409, "ALREADY_EXISTS"),  # d holds a point
        ({"collection": "nope"}, 404, "COLLECTION_NOT_FOUND"),
        ({"colection": "d"}, 400, "INVALID_ARGUMENT"),
        ({"collection": "d", "target": "bad/name"}, 400, "INVALID_NAME"),
        ({"collection": "d", "target_tenant": "LOCK"}, 400, "INVALID_TENANT"),
        ({"target": "x"}, 400, "INVALID_ARGUMENT"),
        ({"collection": ""}, 400, "INVALID_ARGUMENT"),
        ({"collection": 5}, 400, "INVALID_ARGUMENT"),
        ({"collection": "d", "replace": "yes"}, 400, "INVALID_ARGUMENT"),
    ]
    for body, status, code in cases:
        resp = http(a, "POST", "/api/snapshots/d.hsnap/restore", body)
        assert resp[0] == status and error_code(resp) == code, (body, resp)
    resp = http(a, "POST", "/api/snapshots/none.hsnap/restore", {})
    assert resp[0] == 404 and error_code(resp) == "SNAPSHOT_NOT_FOUND"
    resp = http(a, "POST", "/api/snapshots", {"collection": "nope"})
    assert resp[0] == 404 and error_code(resp) == "COLLECTION_NOT_FOUND"
    resp = http(a, "POST", "/api/snapshots", {"snapshot": "d.hsnap"})
    assert resp[0] == 409 and error_code(resp) == "ALREADY_EXISTS"
    assert [c["name"] for c in ok(http(a, "GET", "/api/collections"))] == \
        ["d", "default", "empty"]
    # an empty collection of the target name is replaced; replace drops one holding points
    r = ok(http(a, "POST", "/api/snapshots/d.hsnap/restore", {"collection": "d",
                                                              "target": "empty"}))
    assert r["restored"][0]["count"] == 1
    assert ok(http(a, "GET", "/api/collections/empty/stats"))["dimension"] == 2
    ok(http(a, "POST", "/api/collections/d/insert", {"id": 2, "vector": [3, 4]}))
    ok(http(a, "POST", "/api/snapshots/d.hsnap/restore", {"collection": "d", "replace": True}))
    assert ok(http(a, "GET", "/api/collections/d/stats"))["count"] == 1
    # the manifest route, delete, and the list
    m = ok(http(a, "GET", "/api/snapshots/d.hsnap/manifest"))
    assert [c["name"] for c in m["contents"]] == ["d"] and m["scope"] == "collection"
    ok(http(a, "DELETE", "/api/snapshots/d.hsnap"))
    assert ok(http(a, "GET", "/api/snapshots")) == []
    resp = http(a, "DELETE", "/api/snapshots/d.hsnap")
    assert resp[0] == 404
    # the spec routes keep their replies
    assert ok(http(a, "POST", "/api/collections/d/snapshot"))["status"] == "Snapshot completed"
    assert ok(http(a, "POST", "/api/admin/snapshot"))["status"].startswith(
        "Snapshot completed for")


def test_keys_roles_and_followers(server_factory, tmp_path):
    keys = tmp_path / "keys"
    sha = lambda k: hashlib.sha256(k.encode()).hexdigest()  # noqa: E731
    keys.write_text("admin %s\nadmin %s acme\nwriter %s\n" % (sha("root"), sha("acme-admin"),
                                                              sha("w")))
    a = server_factory(env={"HYPERSPACE_API_KEYS_FILE": str(keys)})
    assert http(a, "GET", "/api/snapshots")[0] == 401
    for key in ("acme-admin", "w"):
        resp = http(a, "POST", "/api/snapshots", {}, headers={"x-api-key": key})
        assert resp[0] == 403, resp
        assert upload(a, "x.hsnap", b"x", headers={"x-api-key": key})[0] == 403
    assert not os.path.exists(os.path.join(a.data_dir, ".snapshots", "x.hsnap"))
    s = ok(http(a, "POST", "/api/snapshots", {}, headers={"x-api-key": "root"}), 201)
    # a follower writes nothing but what its leader sends: no restore there
    f = server_factory(args=["--role", "follower", "--leader", "127.0.0.1:1"])
    _, _, data = raw(a, "GET", "/api/snapshots/" + s["snapshot"], headers={"x-api-key": "root"})
    assert upload(f, "n.hsnap", data)[0] == 201
    resp = http(f, "POST", "/api/snapshots/n.hsnap/restore", {})
    assert resp[0] == 409 and error_code(resp) == "FOLLOWER_READ_ONLY"


def test_grpc_snapshot_calls(server_factory, pb):
    a = server_factory()
    ok(http(a, "POST", "/api/collections", {"name": "g", "dimension": 2, "metric": "l2"}), 201)
    ok(http(a, "POST", "/api/collections/g/insert/batch",
            {"vectors": [{"id": i, "vector": [i, 1]} for i in range(20)]}))
    m, rpc = pb
    with grpc.insecure_channel(a.grpc_target) as ch:
        stub = rpc.DatabaseStub(ch)
        info = stub.CreateSnapshot(m.SnapshotCreateRequest(collection="g", name="g.hsnap"))
        assert info.name == "g.hsnap" and not info.node and info.collection == "g"
        assert [c.name for c in info.contents] == ["g"]
        assert info.contents[0].logical_clock == info.logical_clock
        node = stub.CreateSnapshot(m.SnapshotCreateRequest())
        assert node.node and node.collections == 2
        names = [s.name for s in stub.ListSnapshots(m.Empty()).snapshots]
        assert names == sorted(["g.hsnap", node.name])
        got = stub.GetSnapshot(m.SnapshotRequest(name="g.hsnap"))
        assert got.bytes == info.bytes and got.contents[0].metric == "l2"
        r = stub.RestoreSnapshot(m.SnapshotRestoreRequest(name="g.hsnap", collection="g",
                                                          target="g2"))
        assert [(c.name, c.from_name, c.count) for c in r.collections] == [("g2", "g", 20)]
        assert r.logical_clock == info.logical_clock
        d1 = stub.GetDigest(m.DigestRequest(collection="g"))
        d2 = stub.GetDigest(m.DigestRequest(collection="g2"))
        assert d1.state_hash == d2.state_hash and d1.count == d2.count == 20
        errors = [
            (lambda: stub.GetSnapshot(m.SnapshotRequest(name="../g.hsnap")),
             grpc.StatusCode.INVALID_ARGUMENT, "Invalid snapshot name"),
            (lambda: stub.GetSnapshot(m.SnapshotRequest(name="missing.hsnap")),
             grpc.StatusCode.NOT_FOUND, "Snapshot 'missing.hsnap' not found"),
            (lambda: stub.RestoreSnapshot(m.SnapshotRestoreRequest(name="g.hsnap",
                                                                   collection="g")),
             grpc.StatusCode.ALREADY_EXISTS, "already exists"),
            (lambda: stub.CreateSnapshot(m.SnapshotCreateRequest(name="g.hsnap")),
             grpc.StatusCode.ALREADY_EXISTS, "Snapshot 'g.hsnap' already exists"),
        ]
        for call, code, text in errors:
            with pytest.raises(grpc.RpcError) as e:
                call()
            assert e.value.code() == code and text in e.value.details(), e.value.details()
        path = os.path.join(a.data_dir, ".snapshots", "g.hsnap")
        with open(path, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0x80]))
        with pytest.raises(grpc.RpcError) as e:
            stub.RestoreSnapshot(m.SnapshotRestoreRequest(name="g.hsnap", collection="g",
                                                          target="g3"))
        assert e.value.code() == grpc.StatusCode.DATA_LOSS
        assert "damaged" in e.value.details()
        assert stub.DeleteSnapshot(m.SnapshotRequest(name="g.hsnap")).status == \
            "Snapshot 'g.hsnap' deleted."
        assert [s.name for s in stub.ListSnapshots(m.Empty()).snapshots] == [node.name]
