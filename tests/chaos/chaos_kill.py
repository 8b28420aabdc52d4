#!/usr/bin/python3
"""chaos_kill.py: kill -9 of the real hyperspace-server under mixed load, against a client-side
model of every write.

Each cycle starts the server (tests/integration/conftest.py's Server: random loopback ports) on
the previous data directory (now and then a fresh one) with HS_MAX_LOADED_COLLECTIONS 1 or 2,
idle unloading after 1 s and background snapshots every 1-2 s, and runs, over gRPC and HTTP at
once:
  - writers, each the only writer of its own ids: single inserts, JSON and binary
    (application/x-hyperspace-f32, ids + metadata) batches at every durability level, batches
    made invalid on purpose (must be refused whole), deletes by id and by filter, and read-backs
    of their own points (read-your-writes);
  - readers: plain, filtered (match, range, must/should/must_not), hybrid and batch searches,
    count, scroll, peek, stats, list, digest; every hit's metadata must belong to its id and its
    distance must be the one of the vector that metadata names;
  - an admin thread creating and dropping collections in two tenants (a dropped name comes back
    later as a new generation with another dimension) and a maintenance thread running rebuilds,
    per-collection and node-wide snapshots, vacuums and configuration changes;
  - writes to the `default` collection of a third tenant, which its first write creates.
It then kills the server with SIGKILL, at a random moment, just after a drop, rebuild, snapshot
or vacuum was sent, or just after the log shows an unload or a load beginning (in about one
cycle in seven it sends SIGTERM instead: the clean stop under load must exit 0), and restarts
it (now and then killing the restart during start-up first).  The restarted server is checked against the model:
  - every acknowledged write is there with its exact vector and metadata (all levels survive
    kill -9, spec B2.6; an acknowledged batch is atomic);
  - nothing refused or never sent is there (phantoms), no older value comes back (resurrected);
  - a collection whose drop was acknowledged stays dropped, one whose create was acknowledged is
    there with its dimension; the listing's counts (served before any load) match;
  - a present point is found at distance 0 by its own vector;
  - the server had not died by itself before the kill, its log holds no sanitizer report, no
    ERROR line and no quarantine (/readyz counts none): kill -9 is not corruption;
  - during the run, no answer was a server error and no read contradicted the model.
A write whose answer was lost to the kill is "ambiguous": either outcome is allowed, and the
restarted state settles it.  After the last cycle the server is restarted, checked, and stopped
with SIGTERM, which must exit 0.

Environment: HS_CHAOS_CYCLES (default 30), HS_CHAOS_SECONDS (stop starting cycles after this
long; default unlimited), HS_CHAOS_SEED (printed; replays the choices of the test, not the
server's timing), HS_SERVER_BIN.  Prints the figures at the end; exit status 0 when clean.
"""
import importlib.util
import json
import os
import random
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "hs_integration_conftest", os.path.join(HERE, "..", "integration", "conftest.py"))
it = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(it)

import grpc  # noqa: E402  (after the conftest, which checks the environment the same way)

LEVELS = ["default", "async", "batch", "strict"]  # index = wire value
NAMES = ["c0", "c1", "c2", "c3", "c4"]
TENANTS = ["default_admin", "acme"]  # the admin creates and drops collections in both
AUTO = "auto"  # a tenant whose `default` collection only the first write creates (spec B7.1)
WRITERS = 4
READERS = 2
IDS_PER_WRITER = 150  # ids a writer owns in each collection (bounds the verification)
WORDS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "grape", "melon", "peach",
         "berry", "cherry", "mango", "olive", "quince", "lemon"]
RPC_TIMEOUT = 60
REFUSAL_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                 grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION,
                 grpc.StatusCode.PERMISSION_DENIED}


# --- values: every write has a unique sequence number; its vector and metadata derive from it

def vector_of(seq, pid, dim):
    """Multiples of 1/64 in [-15.6, 15.6]: exact in float32, so what comes back compares equal."""
    return [((seq * 131 + pid * 71 + i * 29 + (seq * i) % 17) % 2001 - 1000) / 64.0
            for i in range(dim)]


def metadata_of(seq, pid, owner):
    return {"id": str(pid), "v": str(seq), "owner": "t%d" % owner, "bucket": "b%d" % (seq % 4),
            "num": str(seq % 100),
            "text": " ".join(WORDS[(seq * k + pid) % len(WORDS)] for k in (1, 3, 7))}


def sqdist(a, b):
    return sum((x - y) * (x - y) for x, y in zip(a, b))


class Failure(Exception):
    pass


class Ambiguous(Exception):
    """The answer was lost (connection refused or reset, timeout): the outcome is unknown."""


class Refused(Exception):
    """A definite refusal (4xx, or a gRPC status the server chose); carries the code."""

    def __init__(self, code, text):
        super().__init__("%s: %s" % (code, text))
        self.code = code


# --- the model

class Key:
    """One id of one collection generation.  `acked`: the value (sequence number) or None
    (absent) after the last acknowledged write; `pending`: outcomes of writes whose answer was
    lost after it (either may be there); `seen`: every value ever acknowledged."""
    __slots__ = ("acked", "pending", "seen")

    def __init__(self):
        self.acked, self.pending, self.seen = None, [], set()


class Coll:
    """One generation of a collection name.  state: creating (create sent, unanswered), live,
    dropping (drop sent, unanswered), dropped, absent (a create that turned out not to be)."""

    def __init__(self, tenant, name, gen, quant, implicit=False):
        self.tenant, self.name, self.gen, self.quant = tenant, name, gen, quant
        self.dim = 8 if gen % 2 == 0 else 6  # HS_DIMENSION is 8: the implicit one has gen 0
        self.implicit = implicit  # created by its first write, never dropped
        self.state = "absent" if implicit else "creating"
        self.keys = {}
        self.inflight = 0  # client operations on this generation not answered yet

    def __str__(self):
        return "%s/%s#%d" % (self.tenant, self.name, self.gen)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}

    def add(self, name, n=1):
        with self.lock:
            self.c[name] = self.c.get(name, 0) + n


class Chaos:
    def __init__(self, seed, pb):
        self.rng = random.Random(seed)
        self.pb, self.rpc = pb
        self.lock = threading.Lock()  # guards the model (colls, keys, seq)
        self.colls = {}  # (tenant, name) -> newest Coll
        self.tl = threading.local()  # .tenant: the tenant of this thread's requests
        self.seq = 0
        self.stats = Stats()
        self.failures = []
        self.data_dir = None
        self.server = None

    # -- bookkeeping

    def fail(self, text):
        with self.lock:
            self.failures.append(text)
        print("FAILURE: " + text, flush=True)

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def live_colls(self, states=("live",)):
        with self.lock:
            return [c for c in self.colls.values() if c.state in states]

    def enter(self, c):
        with self.lock:
            c.inflight += 1
        self.tl.tenant = c.tenant

    def leave(self, c):
        with self.lock:
            c.inflight -= 1
        self.tl.tenant = None

    # -- transports: every call ends in a value, Refused, Ambiguous or Failure

    def after_error(self, what, text):
        """An error that is not a refusal: ambiguous once the kill was sent, a failure before
        (the server was alive and answered badly, or hung up on its own)."""
        if self.killed.is_set():
            raise Ambiguous(text)
        raise Failure("%s: server error while it was alive: %s" % (what, text))

    def http(self, method, path, body=None, raw=None, ctype=None):
        hdrs = {"Content-Type": ctype} if ctype else {}
        if getattr(self.tl, "tenant", None):
            hdrs["x-hyperspace-user-id"] = self.tl.tenant
        try:
            st, _, parsed = it.http(self.server, method, path, body=body, raw=raw, headers=hdrs,
                                    timeout=RPC_TIMEOUT)
        except Exception as e:  # connection refused / reset, timeout
            self.after_error(method + " " + path, "%s: %s" % (type(e).__name__, e))
        if 200 <= st < 300:
            return parsed
        code = parsed["error"]["code"] if isinstance(parsed, dict) and "error" in parsed else ""
        if 400 <= st < 500:
            raise Refused(code, str(parsed)[:300])
        self.after_error(method + " " + path, "HTTP %d %s" % (st, str(parsed)[:300]))

    def grpc_call(self, stub, method, req):
        try:
            tenant = getattr(self.tl, "tenant", None)
            return getattr(stub, method)(req, timeout=RPC_TIMEOUT, metadata=[
                ("x-hyperspace-user-id", tenant)] if tenant else None)
        except grpc.RpcError as e:
            if e.code() in REFUSAL_CODES:  # the server's own answer, even just before the kill
                raise Refused(e.code().name, e.details())
            self.after_error(method, "%s %s" % (e.code().name, e.details()))

    def stub(self):
        ch = grpc.insecure_channel(self.server.grpc_target)
        return ch, self.rpc.DatabaseStub(ch)

    # -- the server

    def start_server(self, fresh):
        if fresh or self.data_dir is None:
            if self.data_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = tempfile.mkdtemp(prefix="hs-chaos-")
            with self.lock:
                self.colls = {(AUTO, "default"): Coll(AUTO, "default", 0, "none", True)}
        self.limit = self.rng.choice([1, 1, 2])
        self.node_mode = self.rng.choice(["async", "batch", "strict"])
        env = {"HS_MAX_LOADED_COLLECTIONS": str(self.limit), "HS_IDLE_TIMEOUT_SEC": "1",
               "HYPERSPACE_SNAPSHOT_INTERVAL_SEC": str(self.rng.choice([1, 2])),
               "HYPERSPACE_WAL_SYNC_MODE": self.node_mode, "HS_DIMENSION": "8",
               "HS_METRIC": "l2", "HYPERSPACE_WAL_BATCH_INTERVAL": str(self.rng.choice([2, 10]))}
        if not fresh and self.rng.random() < 0.15:
            # kill -9 during start-up: the log replay of collections a kill left unfinished
            self.server = it.Server(data_dir=self.data_dir, env=env)
            self.server.start(wait=False)
            time.sleep(self.rng.uniform(0, 0.3))
            self.finish_server(signal.SIGKILL)
            self.stats.add("kills during start-up")
        self.server = it.Server(data_dir=self.data_dir, env=env)
        self.server.start(wait=False)
        self.server.wait_ready(timeout=120)

    def check_log(self, what):
        out = self.server.output()
        for mark in it.SANITIZER_MARKS:
            if mark in out:
                self.fail("%s: sanitizer report in the server log:\n%s" % (what, out[-20000:]))
                return
        for line in out.splitlines():
            if "failed to load" in line or "cannot be read" in line or "quarantin" in line:
                self.stats.add("quarantines")
                self.fail("%s: quarantine after kill -9: %s" % (what, line))
            elif " ERROR " in line:
                self.fail("%s: error in the server log: %s" % (what, line))
            elif " WARN " in line:
                self.stats.add("log warnings")

    def finish_server(self, sig):
        """Stops the server; with SIGKILL it must still have been running (it did not die by
        itself)."""
        s, what = self.server, "cycle %d" % self.cycle
        rc = s.proc.poll()
        if rc is not None:
            self.stats.add("crashes")
            self.fail("%s: the server died by itself with %d before the kill:\n%s"
                      % (what, rc, s.output()[-20000:]))
        rc = s.stop(sig, timeout=60)
        if sig == signal.SIGTERM and rc != 0:
            self.fail("%s: SIGTERM exit status %s:\n%s" % (what, rc, s.output()[-20000:]))
        self.check_log(what)
        shutil.rmtree(os.path.dirname(s.log_path), ignore_errors=True)

    # -- writers

    def key(self, c, pid):
        k = c.keys.get(pid)
        if k is None:
            k = c.keys[pid] = Key()
        return k

    def settle(self, c, outcome, changes, level=None):
        """Applies a write's outcome to the model: changes = [(id, value or None)]."""
        with self.lock:
            if c.implicit and changes and changes[0][1] is not None:  # an upsert creates it
                if outcome == "acked" and c.state != "live":
                    c.state = "live"
                    self.stats.add("implicit creates acked")
                elif outcome == "ambiguous" and c.state == "absent":
                    c.state = "creating"
            for pid, val in changes:
                k = self.key(c, pid)
                if outcome == "acked":
                    k.acked, k.pending = val, []
                    if val is not None:
                        k.seen.add(val)
                elif outcome == "ambiguous":
                    k.pending.append(val)
        if outcome == "acked":
            kind = "deletes" if changes and changes[0][1] is None else "points"
            lvl = self.node_mode if level in (None, "default") else level
            self.stats.add("acked %s %s" % (kind, lvl), len(changes))
        else:
            self.stats.add("%s writes" % outcome)

    def level(self, r):
        return LEVELS[r.randrange(4)]

    def http_level(self, r, lvl):
        return r.choice([lvl, lvl.upper(), str(LEVELS.index(lvl))])

    def points(self, r, c, owner, n):
        ids = r.sample(range(owner * 100000, owner * 100000 + IDS_PER_WRITER), n)
        out = []
        for pid in ids:
            seq = self.next_seq()
            out.append((pid, seq, vector_of(seq, pid, c.dim), metadata_of(seq, pid, owner)))
        return out

    def w_upsert(self, r, c, owner, stub, plan, invalid=False):
        """Sends one upsert or batch; `plan` gets its changes before it is sent (an invalid
        batch has none: it must never be visible, whatever happens)."""
        n = 1 if r.random() < 0.3 and not invalid else r.randint(1, 40)
        pts = self.points(r, c, owner, n)
        lvl = self.level(r)
        if not invalid:
            plan.extend((p[0], p[1]) for p in pts)
        vecs = [p[2] for p in pts]
        if invalid:  # one entry of the wrong dimension: the whole batch must be refused
            vecs[r.randrange(n)] = vecs[0] + [0.5]
        way = r.choice(["grpc", "json", "binary"] if n > 1 or invalid else ["grpc", "json"])
        name = "" if c.implicit and r.random() < 0.5 else c.name  # "" is `default` on gRPC
        if way == "grpc" and n == 1:
            p = pts[0]
            self.grpc_call(stub, "Insert", self.pb.InsertRequest(
                collection=name, id=p[0], vector=vecs[0], metadata=p[3],
                durability=LEVELS.index(lvl)))
        elif way == "grpc":
            self.grpc_call(stub, "BatchInsert", self.pb.BatchInsertRequest(
                collection=name, durability=LEVELS.index(lvl),
                vectors=[self.pb.VectorData(id=p[0], vector=v, metadata=p[3])
                         for p, v in zip(pts, vecs)]))
        elif way == "json" and n == 1:
            p = pts[0]
            self.http("POST", "/api/collections/%s/insert" % c.name,
                      {"id": p[0], "vector": vecs[0], "metadata": p[3],
                       "durability": self.http_level(r, lvl)})
        elif way == "json":
            self.http("POST", "/api/collections/%s/insert/batch" % c.name,
                      {"vectors": [{"id": p[0], "vector": v, "metadata": p[3]}
                                   for p, v in zip(pts, vecs)],
                       "durability": self.http_level(r, lvl)})
        else:
            dim = len(vecs[0])  # the header's dimension; an invalid batch fails on length
            body = struct.pack("<4sIIII", b"HSF1", dim, n, 3, 0)
            body += struct.pack("<%dI" % n, *[p[0] for p in pts])
            for v in vecs:
                body += struct.pack("<%df" % len(v), *v)
            for p in pts:
                m = json.dumps(p[3]).encode()
                body += struct.pack("<I", len(m)) + m
            self.http("POST", "/api/collections/%s/insert/batch?durability=%s"
                      % (c.name, self.http_level(r, lvl)), raw=body,
                      ctype="application/x-hyperspace-f32")
        return lvl

    def w_delete(self, r, c, owner, stub, plan):
        """Deletes some of the writer's ids (by id or by filter); returns (deleted as answered,
        live ones in the model, durability level; gRPC Delete has none: the node's mode)."""
        with self.lock:
            mine = [pid for pid, k in c.keys.items() if pid // 100000 == owner]
        if not mine:
            return None, None, None
        way = r.choice(["grpc", "http", "ids", "filter"])
        lvl = None if way == "grpc" else self.level(r)
        if way == "filter":
            bucket = "b%d" % r.randrange(4)
            with self.lock:
                gone = [pid for pid in mine if c.keys[pid].acked is not None
                        and c.keys[pid].acked % 4 == int(bucket[1])]
            plan.extend((pid, None) for pid in gone)
            ans = self.http("POST", "/api/collections/%s/points/delete" % c.name,
                            {"filter": {"owner": "t%d" % owner, "bucket": bucket},
                             "durability": self.http_level(r, lvl)})
            return ans["deleted"], len(gone), lvl
        ids = r.sample(mine, min(len(mine), 1 if way != "ids" else r.randint(1, 10)))
        with self.lock:
            live = sum(c.keys[pid].acked is not None for pid in ids)
        plan.extend((pid, None) for pid in ids)
        if way == "grpc":
            got = int(self.grpc_call(stub, "Delete", self.pb.DeleteRequest(
                collection=c.name, id=ids[0])).success)
        elif way == "http":
            got = self.http("DELETE", "/api/collections/%s/points/%d?durability=%s"
                            % (c.name, ids[0], self.http_level(r, lvl)))["deleted"]
        else:
            got = self.http("POST", "/api/collections/%s/points/delete" % c.name,
                            {"ids": ids, "durability": self.http_level(r, lvl)})["deleted"]
        return got, live, lvl

    def w_readback(self, r, c, owner):
        with self.lock:
            mine = [(pid, k.acked) for pid, k in c.keys.items() if pid // 100000 == owner]
        if not mine:
            return
        pid, want = r.choice(mine)
        try:
            p = self.http("GET", "/api/collections/%s/points/%d" % (c.name, pid))
        except Refused as e:
            if e.code == "POINT_NOT_FOUND":
                p = None
            else:
                raise
        got = None if p is None else int(p["metadata"]["v"])
        if got != want:
            self.stats.add("stale reads")
            self.fail("read-your-writes: %s id %d holds %s, the last acknowledged write was %s"
                      % (c, pid, got, want))
        self.stats.add("read-backs")

    def writer(self, owner):
        r = random.Random(self.rng_seed * 31 + owner)
        ch, stub = self.stub()
        try:
            while not self.stop.is_set():
                colls = self.live_colls(("live", "dropping"))
                colls += [c for c in self.live_colls(("absent", "creating")) if c.implicit]
                if not colls:
                    time.sleep(0.02)
                    continue
                c = r.choice(colls)
                self.enter(c)
                try:
                    self.write_once(r, c, owner, stub)
                except Ambiguous:
                    return  # the server is gone: this writer's model stays exact up to here
                except Failure as e:
                    self.fail(str(e))
                    return
                finally:
                    self.leave(c)
        finally:
            ch.close()

    def write_once(self, r, c, owner, stub):
        roll = r.random()
        kind = ("invalid" if roll < 0.05 else "delete" if roll < 0.22 else
                "readback" if roll < 0.30 else "upsert")
        if kind == "readback":
            try:
                self.w_readback(r, c, owner)
            except Refused as e:
                self.refused_ok(c, e, "read-back")
            return
        changes, lvl, got, want = [], None, None, None
        try:
            if kind == "delete":
                got, want, lvl = self.w_delete(r, c, owner, stub, changes)
                if not changes:
                    return
            else:
                lvl = self.w_upsert(r, c, owner, stub, changes, invalid=kind == "invalid")
                if kind == "invalid":
                    self.fail("%s: a batch with a vector of the wrong dimension was accepted"
                              % c)
                    return
        except Refused as e:
            if kind == "invalid" and e.code in ("DIMENSION_MISMATCH", "INVALID_BINARY_BODY",
                                                "INVALID_ARGUMENT"):
                self.stats.add("refused writes")
                return
            self.refused_ok(c, e, kind)
            self.stats.add("refused writes")
            return
        except Ambiguous:
            self.settle(c, "ambiguous", changes)
            raise
        self.settle(c, "acked", changes, lvl)
        if kind == "delete" and got != want:
            self.fail("%s: a delete removed %s points, the model had %s of them live"
                      % (c, got, want))

    def refused_ok(self, c, e, what):
        """A refusal is expected only when the collection is being or was dropped."""
        with self.lock:
            state = c.state
        if e.code in ("COLLECTION_NOT_FOUND", "NOT_FOUND") and state in ("dropping", "dropped"):
            return
        if e.code in ("COLLECTION_NOT_FOUND", "NOT_FOUND") and c.implicit and state != "live":
            return  # not created yet: only an upsert creates it
        self.fail("%s on %s (%s): unexpected refusal %s" % (what, c, state, e))

    # -- readers

    def check_hits(self, c, query, hits, what, want_owner=None, num_range=None):
        """hits: [(id, distance, metadata)]."""
        for pid, dist, md in hits:
            if md.get("id") != str(pid):
                self.stats.add("inconsistent reads")
                self.fail("%s on %s: hit %d carries the metadata of id %s" % (what, c, pid,
                                                                             md.get("id")))
                continue
            seq = int(md["v"])
            if md != metadata_of(seq, pid, pid // 100000):
                self.stats.add("inconsistent reads")
                self.fail("%s on %s: hit %d metadata %s is not the one written" % (what, c,
                                                                                  pid, md))
                continue
            want = sqdist(query, vector_of(seq, pid, c.dim))
            if abs(dist - want) > 1e-6 * max(1.0, want):
                self.stats.add("inconsistent reads")
                self.fail("%s on %s: hit %d at distance %r, its version %d is at %r" % (
                    what, c, pid, dist, seq, want))
            if want_owner is not None and md["owner"] != want_owner:
                self.fail("%s on %s: hit %d fails the filter owner=%s" % (what, c, pid,
                                                                          want_owner))
            if num_range and not num_range[0] <= int(md["num"]) <= num_range[1]:
                self.fail("%s on %s: hit %d fails the range %s" % (what, c, pid, num_range))

    def read_once(self, r, c, stub):
        q = vector_of(r.randrange(10 ** 6), r.randrange(1000), c.dim)
        k = r.randint(1, 20)
        owner = r.randrange(WRITERS)
        lo = r.randrange(100)
        rng = (lo, lo + r.randrange(40))
        words = " ".join(r.sample(WORDS, 2))
        kind = r.randrange(10)
        if kind == 0:  # gRPC search: plain, filter, range or hybrid
            sub = r.randrange(4)
            req = self.pb.SearchRequest(collection=c.name, vector=q, top_k=k)
            if sub == 1:
                req.filter["owner"] = "t%d" % owner
            elif sub == 2:
                req.filters.append(self.pb.Filter(range=self.pb.Range(key="num", gte=rng[0],
                                                                      lte=rng[1])))
            elif sub == 3:
                req.hybrid_query = words
                req.hybrid_alpha = r.random()
            res = self.grpc_call(stub, "Search", req)
            self.check_hits(c, q, [(h.id, h.distance, dict(h.metadata)) for h in res.results],
                            "Search", "t%d" % owner if sub == 1 else None,
                            rng if sub == 2 else None)
        elif kind == 1:
            res = self.grpc_call(stub, "SearchBatch", self.pb.BatchSearchRequest(searches=[
                self.pb.SearchRequest(collection=c.name, vector=q, top_k=k),
                self.pb.SearchRequest(collection=c.name, vector=q, top_k=k,
                                      hybrid_query=words)]))
            for one in res.responses:
                self.check_hits(c, q, [(h.id, h.distance, dict(h.metadata))
                                       for h in one.results], "SearchBatch")
        elif kind in (2, 3):  # HTTP search: plain, filter, condition groups, hybrid
            body = {"vector": q, "top_k": k}
            sub = r.randrange(4)
            if sub == 1:
                body["filter"] = {"owner": "t%d" % owner}
            elif sub == 2:
                body["must"] = [{"type": "range", "key": "num", "gte": rng[0], "lte": rng[1]}]
                body["should"] = [{"type": "match", "key": "bucket", "value": "b1"},
                                  {"type": "match", "key": "bucket", "value": "b2"}]
                body["must_not"] = [{"type": "match", "key": "owner", "value": "t0"}]
            elif sub == 3:
                body["hybrid_query"] = words
                body["hybrid_alpha"] = r.random()
            res = self.http("POST", "/api/collections/%s/search" % c.name, body)
            self.check_hits(c, q, [(h["id"], h["distance"], h["metadata"]) for h in res],
                            "HTTP search", "t%d" % owner if sub == 1 else None,
                            rng if sub == 2 else None)
            if sub == 2:
                for h in res:
                    if h["metadata"]["bucket"] not in ("b1", "b2") or \
                            h["metadata"]["owner"] == "t0":
                        self.fail("HTTP search on %s: hit %d fails should/must_not" % (
                            c, h["id"]))
        elif kind == 4:
            res = self.http("POST", "/api/collections/%s/search/batch" % c.name, {"searches": [
                {"vector": q, "top_k": k}, {"vector": q, "top_k": k, "hybrid_query": words}]})
            for one in res:
                self.check_hits(c, q, [(h["id"], h["distance"], h["metadata"]) for h in one],
                                "HTTP search/batch")
        elif kind == 5:
            self.http("POST", "/api/collections/%s/count" % c.name,
                      r.choice([None, {"filter": {"owner": "t%d" % owner}}]))
        elif kind == 6:
            res = self.http("POST", "/api/collections/%s/scroll" % c.name,
                            {"limit": r.randint(1, 200), "with_vector": True})
            for p in res["points"]:
                seq = int(p["metadata"]["v"])
                if p["vector"] != vector_of(seq, p["id"], c.dim) or \
                        p["metadata"] != metadata_of(seq, p["id"], p["id"] // 100000):
                    self.stats.add("inconsistent reads")
                    self.fail("scroll on %s: point %d is not a version written: %s"
                              % (c, p["id"], p))
        elif kind == 7:
            self.http("GET", "/api/collections/%s/peek?limit=%d" % (c.name, r.randint(1, 100)))
        elif kind == 8:
            if r.random() < 0.5:
                self.grpc_call(stub, "GetCollectionStats",
                               self.pb.CollectionStatsRequest(name=c.name))
            else:
                self.http("GET", "/api/collections/%s/stats" % c.name)
        else:
            if r.random() < 0.5:
                self.grpc_call(stub, "GetDigest", self.pb.DigestRequest(collection=c.name))
            else:
                self.http("GET", "/api/collections/%s/digest" % c.name)
        self.stats.add("reads")

    def reader(self, n):
        r = random.Random(self.rng_seed * 37 + n)
        ch, stub = self.stub()
        try:
            while not self.stop.is_set():
                colls = self.live_colls(("live", "dropping"))
                if not colls or r.random() < 0.05:
                    self.tl.tenant = r.choice(TENANTS + [AUTO, None])
                    try:
                        if r.random() < 0.5:
                            self.grpc_call(stub, "ListCollections", self.pb.Empty())
                        else:
                            self.http("GET", "/api/collections")
                    except Ambiguous:
                        return
                    except (Failure, Refused) as e:
                        self.fail(str(e))
                        return
                    time.sleep(0.01)
                    continue
                c = r.choice(colls)
                self.enter(c)
                try:
                    self.read_once(r, c, stub)
                except Refused as e:
                    self.refused_ok(c, e, "read")
                except Ambiguous:
                    return
                except Failure as e:
                    self.fail(str(e))
                    return
                finally:
                    self.leave(c)
        finally:
            ch.close()

    # -- admin and maintenance

    def trigger(self, kind):
        if kind == self.kill_on:
            self.kill_event.set()

    def create(self, r, stub, tenant, name):
        with self.lock:
            old = self.colls.get((tenant, name))
            if old and (old.state not in ("dropped", "absent") or old.inflight):
                return
            c = Coll(tenant, name, old.gen + 1 if old else 0, r.choice(["none", "none", "scalar"]))
            self.colls[(tenant, name)] = c
        self.tl.tenant = tenant
        try:
            if r.random() < 0.5:
                self.grpc_call(stub, "CreateCollection", self.pb.CreateCollectionRequest(
                    name=name, dimension=c.dim, metric="l2", quantization=c.quant))
            else:
                self.http("POST", "/api/collections", {"name": name, "dimension": c.dim,
                                                       "metric": "l2", "quantization": c.quant})
        except Refused as e:
            self.fail("create %s: refused: %s" % (name, e))
            with self.lock:
                c.state = "absent"
            return
        with self.lock:
            c.state = "live"
        self.stats.add("creates acked")

    def drop(self, r, stub, c):
        with self.lock:
            c.state = "dropping"
        self.tl.tenant = c.tenant
        self.trigger("drop")
        try:
            if r.random() < 0.5:
                self.grpc_call(stub, "DeleteCollection", self.pb.DeleteCollectionRequest(
                    name=c.name))
            else:
                self.http("DELETE", "/api/collections/%s" % c.name)
        except Refused as e:
            self.fail("drop %s: refused: %s" % (c, e))
            return
        with self.lock:
            c.state = "dropped"
        self.stats.add("drops acked")

    def admin(self):
        r = random.Random(self.rng_seed * 41)
        ch, stub = self.stub()
        try:
            while not self.stop.is_set():
                live = [c for c in self.live_colls() if not c.implicit]
                try:
                    if len(live) < 2 or (len(live) < 5 and r.random() < 0.5):
                        self.create(r, stub, r.choice(TENANTS), r.choice(NAMES))
                    elif r.random() < 0.6:
                        self.drop(r, stub, r.choice(live))
                except Ambiguous:
                    return
                except Failure as e:
                    self.fail(str(e))
                    return
                time.sleep(r.uniform(0.1, 0.5))
        finally:
            ch.close()

    def maintain_once(self, r, stub):
        self.tl.tenant = None  # node-wide calls need the global admin
        kind = r.randrange(6)
        if kind == 0:
            self.trigger("snapshot")
            if r.random() < 0.5:
                self.grpc_call(stub, "TriggerSnapshot", self.pb.Empty())
            else:
                self.http("POST", "/api/admin/snapshot")
            self.stats.add("snapshots")
            return
        if kind == 1:
            self.trigger("vacuum")
            if r.random() < 0.5:
                self.grpc_call(stub, "TriggerVacuum", self.pb.Empty())
            else:
                self.http("POST", "/api/admin/vacuum")
            self.stats.add("vacuums")
            return
        colls = self.live_colls(("live", "dropping"))
        if not colls:
            return
        c = r.choice(colls)
        self.enter(c)
        try:
            if kind in (2, 3):
                self.trigger("rebuild")
                if r.random() < 0.5:
                    self.grpc_call(stub, "RebuildIndex", self.pb.RebuildIndexRequest(
                        name=c.name))
                else:
                    self.http("POST", "/api/collections/%s/rebuild" % c.name)
                self.stats.add("rebuilds")
            elif kind == 4:
                self.trigger("snapshot")
                self.http("POST", "/api/collections/%s/snapshot" % c.name)
                self.stats.add("snapshots")
            else:
                ef = r.randint(20, 200)
                if r.random() < 0.5:
                    self.grpc_call(stub, "Configure", self.pb.ConfigUpdate(collection=c.name,
                                                                         ef_search=ef))
                else:
                    self.http("PATCH", "/api/collections/%s/config" % c.name, {"ef_search": ef})
                self.stats.add("configures")
        except Refused as e:
            self.refused_ok(c, e, "maintenance")
        finally:
            self.leave(c)

    def maintainer(self):
        r = random.Random(self.rng_seed * 43)
        ch, stub = self.stub()
        try:
            while not self.stop.is_set():
                try:
                    self.maintain_once(r, stub)
                except Ambiguous:
                    return
                except (Failure, Refused) as e:
                    self.fail(str(e))
                    return
                time.sleep(r.uniform(0.05, 0.4))
        finally:
            ch.close()

    # -- one cycle

    def thread(self, fn, *args):
        """A client thread; anything it did not expect (an answer of the wrong shape) fails."""
        def body():
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001: reported, with its type
                self.fail("%s: %s: %s" % (fn.__name__, type(e).__name__, e))
        return threading.Thread(target=body)

    def run_cycle(self):
        self.stop, self.killed = threading.Event(), threading.Event()
        self.kill_event = threading.Event()
        self.rng_seed = self.rng.randrange(1 << 30)
        self.kill_on = self.rng.choice(["time", "time", "drop", "rebuild", "snapshot", "vacuum",
                                        "unload"])
        threads = [self.thread(self.writer, i) for i in range(WRITERS)]
        threads += [self.thread(self.reader, i) for i in range(READERS)]
        threads += [self.thread(self.admin), self.thread(self.maintainer)]
        for t in threads:
            t.start()
        if self.kill_on == "time":
            time.sleep(self.rng.uniform(1.0, 6.0))
        elif self.kill_on == "unload":
            time.sleep(self.rng.uniform(0.5, 3.0))
            if self.wait_log(("Evicting least recently used", "Idling collection",
                              "Waking up cold collection"), 6.0):
                time.sleep(self.rng.uniform(0, 0.01))
            else:
                self.kill_on += " (not seen)"
        else:
            time.sleep(self.rng.uniform(0.5, 1.5))  # some data first
            self.kill_event.clear()
            if self.kill_event.wait(6.0):
                time.sleep(self.rng.uniform(0, 0.05))
            else:
                self.kill_on += " (not seen)"
        # now and then SIGTERM instead: a clean stop under load must exit 0 and lose nothing
        self.stop_sig = signal.SIGTERM if self.rng.random() < 0.15 else signal.SIGKILL
        self.killed.set()
        self.finish_server(self.stop_sig)
        self.stop.set()
        for t in threads:
            t.join()
        self.stats.add("%s at %s" % ("SIGTERMs" if self.stop_sig == signal.SIGTERM else "kills",
                                     self.kill_on))

    def wait_log(self, marks, timeout):
        """Waits for a new log line holding one of marks (an unload has begun: the line is
        logged before the checkpoint and the release)."""
        deadline = time.time() + timeout
        with open(self.server.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            tail = b""
            while time.time() < deadline:
                tail = tail[-200:] + f.read()
                if any(m.encode() in tail for m in marks):
                    return True
                time.sleep(0.002)
        return False

    # -- verification of a restarted server

    def vhttp(self, c, method, path, body=None):
        return it.ok(it.http(self.server, method, path, body=body,
                             headers={"x-hyperspace-user-id": c.tenant}))

    def verify(self):
        listed = {}
        for tenant in TENANTS + [AUTO]:
            for e in it.ok(it.http(self.server, "GET", "/api/collections",
                                   headers={"x-hyperspace-user-id": tenant})):
                listed[(tenant, e["name"])] = e
        with self.lock:
            colls = dict(self.colls)
        for key in sorted(set(listed) | set(colls)):
            if key == ("default_admin", "default"):
                continue  # the server's own
            c, name = colls.get(key), "%s/%s" % key
            if c is None:
                self.stats.add("phantoms")
                self.fail("collection %s exists but was never created" % name)
                continue
            if key not in listed:
                if c.state == "live":
                    self.stats.add("lost")
                    self.fail("collection %s (acknowledged create) is missing" % name)
                elif c.state == "creating":
                    c.state = "absent"
                elif c.state == "dropping":
                    c.state = "dropped"
                continue
            if c.implicit and c.state == "absent":
                self.stats.add("phantoms")
                self.fail("collection %s exists although no write to it was sent" % name)
                continue
            if c.state in ("dropped", "absent"):
                self.stats.add("resurrected")
                self.fail("collection %s is back although its drop was acknowledged (%s)"
                          % (name, c.state))
                continue
            c.state = "live"
            if listed[key]["dimension"] != c.dim:
                self.stats.add("resurrected")
                self.fail("collection %s has dimension %s, generation %d was created with %d"
                          % (name, listed[key]["dimension"], c.gen, c.dim))
                continue
            self.verify_points(c, listed[key]["count"])
            self.stats.add("collections verified")
        ready = it.ok(it.http(self.server, "GET", "/readyz"))
        if ready["quarantined_collections"]:
            self.stats.add("quarantines", ready["quarantined_collections"])
            self.fail("/readyz counts %d quarantined collections" % (
                ready["quarantined_collections"]))

    def scroll_all(self, c):
        pts, cursor = {}, None
        while True:
            body = {"limit": 1000, "with_vector": True}
            if cursor:
                body["cursor"] = cursor
            res = self.vhttp(c, "POST", "/api/collections/%s/scroll" % c.name, body)
            for p in res["points"]:
                pts[p["id"]] = p
            cursor = res["next_cursor"]
            if not cursor:
                return pts

    def verify_points(self, c, listed_count):
        pts = self.scroll_all(c)
        if listed_count != len(pts):
            self.fail("%s: the listing counts %d points before loading, %d are there"
                      % (c, listed_count, len(pts)))
        for pid in sorted(set(pts) - set(c.keys)):
            self.stats.add("phantoms")
            self.fail("%s: point %d was never written: %s" % (c, pid, pts[pid]))
        present = []
        for pid, k in c.keys.items():
            p = pts.get(pid)
            got = None
            if p is not None:
                got = int(p["metadata"]["v"])
                if p["vector"] != vector_of(got, pid, c.dim) or \
                        p["metadata"] != metadata_of(got, pid, pid // 100000):
                    self.stats.add("corrupt")
                    self.fail("%s: point %d is not the version it names: %s" % (c, pid, p))
                present.append(p)
            allowed = {k.acked} | set(k.pending)
            if got in allowed:
                if k.pending:
                    self.stats.add("ambiguous settled")
            elif got is None:
                self.stats.add("lost")
                self.fail("%s: LOST point %d (acknowledged version %s)" % (c, pid, k.acked))
            elif got in k.seen:
                self.stats.add("resurrected")
                self.fail("%s: RESURRECTED point %d: version %d, acknowledged since: %s"
                          % (c, pid, got, k.acked))
            else:
                self.stats.add("phantoms")
                self.fail("%s: PHANTOM point %d: version %d was never acknowledged (allowed %s)"
                          % (c, pid, got, sorted(allowed, key=str)))
            k.acked, k.pending = got, []
            if got is not None:
                k.seen.add(got)
        for p in self.rng.sample(present, min(len(present), 10)):
            res = self.vhttp(c, "POST", "/api/collections/%s/search" % c.name,
                             {"vector": p["vector"], "top_k": 1})
            if not res or res[0]["distance"] != 0:
                self.fail("%s: point %d not found at distance 0 by its own vector: %s"
                          % (c, p["id"], res))
        self.stats.add("points verified", len(present))


def main():
    cycles = int(os.environ.get("HS_CHAOS_CYCLES", "30"))
    budget = float(os.environ.get("HS_CHAOS_SECONDS", "0")) or None
    seed = int(os.environ.get("HS_CHAOS_SEED", str(random.randrange(1 << 31))))
    print("chaos: up to %d cycles%s, seed %d (HS_CHAOS_SEED to replay), server %s"
          % (cycles, ", %g s" % budget if budget else "", seed, it.BIN), flush=True)
    t0 = time.time()
    ch = Chaos(seed, it.generate_stubs())
    done = 0
    try:
        for cycle in range(cycles):
            if budget and cycle >= 2 and time.time() - t0 > budget:
                break
            ch.cycle = cycle
            fresh = cycle == 0 or ch.rng.random() < 0.1
            ch.start_server(fresh)
            ch.verify()
            ch.run_cycle()
            done += 1
            with ch.stats.lock:
                figures = dict(ch.stats.c)
            print("cycle %2d: %s limit %d, mode %s, %s at %s; %d failures; acked points %d"
                  % (cycle, "fresh," if fresh else "", ch.limit, ch.node_mode,
                     ch.stop_sig.name, ch.kill_on,
                     len(ch.failures), sum(v for k, v in figures.items()
                                           if k.startswith("acked points"))), flush=True)
            if ch.failures:
                break
        ch.cycle = done
        ch.start_server(False)
        ch.verify()
        ch.finish_server(signal.SIGTERM)
    finally:
        if ch.server and ch.server.proc:
            ch.server.stop(signal.SIGKILL)
        keep = os.environ.get("HS_CHAOS_KEEP")
        if ch.data_dir and not keep:
            shutil.rmtree(ch.data_dir, ignore_errors=True)
        elif ch.data_dir:
            print("kept " + ch.data_dir)
    figures = dict(ch.stats.c)
    for name in ("lost", "phantoms", "resurrected", "corrupt", "crashes", "quarantines",
                 "stale reads", "inconsistent reads"):
        figures.setdefault(name, 0)
    print("chaos figures: cycles %d, seed %d, %.0f s" % (done, seed, time.time() - t0))
    for name in sorted(figures):
        print("  %-28s %d" % (name, figures[name]))
    print("%s: %d failures" % ("FAIL" if ch.failures else "PASS", len(ch.failures)))
    return 1 if ch.failures or done == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
