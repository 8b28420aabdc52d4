"""Transports: gRPC (sync and asyncio, `grpcio`) and HTTP/JSON (standard library only).

Every transport runs the operations named in `_ops` and raises `errors.HyperspaceError`
subclasses; the clients decide whether an error is raised or logged.
"""
import http.client
import json
import threading
import urllib.parse

import grpc

from . import _ops, errors
from ._proto import pb2_grpc

MAX_MESSAGE = 64 * 1024 * 1024


def channel_options(extra=None):
    opts = {"grpc.max_send_message_length": MAX_MESSAGE,
            "grpc.max_receive_message_length": MAX_MESSAGE,
            "grpc.keepalive_time_ms": 10000}
    opts.update(dict(extra or {}))
    return list(opts.items())


def call_metadata(api_key, user_id):
    md = []
    if api_key:
        md.append(("x-api-key", api_key))
    if user_id is not None:
        md.append(("x-hyperspace-user-id", user_id))
    return md


def _grpc_error(e, rpc):
    code = e.code() if hasattr(e, "code") else None
    name = code.name if code is not None else "UNKNOWN"
    details = e.details() if hasattr(e, "details") else str(e)
    return errors.from_grpc(name, details or "", method=rpc)


def _raw_call(channel, cache, rpc):
    """A multi-callable taking an already serialized request (bytes)."""
    fn = cache.get(rpc)
    if fn is None:
        resp = getattr(_ops.pb, {"BatchInsert": "InsertResponse"}[rpc])
        fn = cache[rpc] = channel.unary_unary("/hyperspace.Database/" + rpc,
                                              request_serializer=None,
                                              response_deserializer=resp.FromString)
    return fn


class GrpcTransport:
    kind = "grpc"

    def __init__(self, target, api_key=None, user_id=None, timeout=None, options=None):
        self.target = target
        self.metadata = call_metadata(api_key, user_id)
        self.timeout = timeout
        self.channel = grpc.insecure_channel(target, options=channel_options(options))
        self.stub = pb2_grpc.DatabaseStub(self.channel)
        self.raw = {}

    def run(self, op, *args, timeout=None):
        rpc, req, parse = getattr(_ops, op)(*args)
        try:
            fn = _raw_call(self.channel, self.raw, rpc) if isinstance(req, bytes) \
                else getattr(self.stub, rpc)
            resp = fn(req, metadata=self.metadata,
                      timeout=timeout if timeout is not None else self.timeout)
        except grpc.RpcError as e:
            raise _grpc_error(e, rpc) from None
        return parse(resp)

    def monitor(self, count=None):
        stream = self.stub.Monitor(_ops.pb.MonitorRequest(), metadata=self.metadata)
        n = 0
        try:
            for s in stream:
                yield _ops.monitor_stats(s)
                n += 1
                if count is not None and n >= count:
                    break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                raise _grpc_error(e, "Monitor") from None
        finally:
            stream.cancel()

    def wait_ready(self, timeout):
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
            return True
        except grpc.FutureTimeoutError:
            return False

    def close(self):
        self.channel.close()


class AsyncGrpcTransport:
    kind = "grpc"

    def __init__(self, target, api_key=None, user_id=None, timeout=None, options=None):
        self.target = target
        self.metadata = call_metadata(api_key, user_id)
        self.timeout = timeout
        self.channel = grpc.aio.insecure_channel(target, options=channel_options(options))
        self.stub = pb2_grpc.DatabaseStub(self.channel)
        self.raw = {}

    async def run(self, op, *args, timeout=None):
        rpc, req, parse = getattr(_ops, op)(*args)
        try:
            fn = _raw_call(self.channel, self.raw, rpc) if isinstance(req, bytes) \
                else getattr(self.stub, rpc)
            resp = await fn(
                req, metadata=self.metadata,
                timeout=timeout if timeout is not None else self.timeout)
        except grpc.RpcError as e:
            raise _grpc_error(e, rpc) from None
        return parse(resp)

    async def monitor(self, count=None):
        call = self.stub.Monitor(_ops.pb.MonitorRequest(), metadata=self.metadata)
        n = 0
        try:
            async for s in call:
                yield _ops.monitor_stats(s)
                n += 1
                if count is not None and n >= count:
                    break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                raise _grpc_error(e, "Monitor") from None
        finally:
            call.cancel()

    async def close(self):
        await self.channel.close()


class HttpTransport:
    """The HTTP/JSON API (docs/api/http.md), one keep-alive connection per thread."""
    kind = "http"

    def __init__(self, base_url, api_key=None, user_id=None, timeout=None):
        if "://" not in base_url:
            base_url = "http://" + base_url
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https"):
            raise ValueError("http transport needs an http:// or https:// address: %r" % base_url)
        self.scheme, self.netloc = u.scheme, u.netloc
        self.prefix = u.path.rstrip("/")
        self.base_url = base_url
        self.headers = dict(call_metadata(api_key, user_id))
        self.timeout = timeout
        self.local = threading.local()

    # -- plumbing
    def _conn(self, timeout):
        c = getattr(self.local, "conn", None)
        if c is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            c = cls(self.netloc, timeout=timeout or 60)
            self.local.conn = c
        return c

    def request(self, method, path, body=None, what=None, timeout=None, query=None):
        what = what or "%s %s" % (method, path)
        url = self.prefix + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            conn = self._conn(timeout if timeout is not None else self.timeout)
            try:
                try:
                    conn.request(method, url, body=data, headers=headers)
                except (BrokenPipeError, ConnectionResetError):
                    # the server may answer before reading the body (413) and close: its
                    # answer is still there to read; otherwise the connection was stale
                    pass
                resp = conn.getresponse()
                payload = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:  # a kept-alive connection closed by the server
                conn.close()
                self.local.conn = None
                if attempt:
                    raise errors.UnavailableError(str(e), method=what) from None
            except (ConnectionRefusedError, OSError) as e:
                conn.close()
                self.local.conn = None
                if isinstance(e, TimeoutError) or "timed out" in str(e):
                    raise errors.DeadlineExceededError("Deadline exceeded: %s" % e,
                                                       method=what) from None
                raise errors.UnavailableError("Cannot reach %s: %s" % (self.base_url, e),
                                              method=what) from None
        text = payload.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        if resp.status >= 400:
            raise errors.from_http(resp.status, parsed, method=what)
        return parsed

    @staticmethod
    def _name(name):
        return urllib.parse.quote(name or "default", safe="")

    def run(self, op, *args, timeout=None):
        return getattr(self, "_" + op)(*args, timeout=timeout)

    # -- operations (same names and arguments as _ops)
    def _create_collection(self, name, dimension, metric, quantization=None, m=None,
                           ef_construction=None, ef_search=None, timeout=None):
        body = {"name": name, "dimension": int(dimension), "metric": metric}
        for k, v in (("quantization", quantization), ("m", m),
                     ("ef_construction", ef_construction), ("ef_search", ef_search)):
            if v:
                body[k] = v
        self.request("POST", "/api/collections", body, "CreateCollection", timeout)
        return True

    def _delete_collection(self, name, timeout=None):
        if not name:
            raise errors.InvalidArgumentError("Collection name cannot be empty",
                                              code="INVALID_NAME", method="DeleteCollection")
        self.request("DELETE", "/api/collections/" + self._name(name), None, "DeleteCollection",
                     timeout)
        return True

    def _list_collections(self, timeout=None):
        return [c["name"] for c in self.request("GET", "/api/collections", None,
                                                "ListCollections", timeout)]

    def _get_collection_stats(self, name, timeout=None):
        return self.request("GET", "/api/collections/%s/stats" % self._name(name), None,
                            "GetCollectionStats", timeout)

    def _insert(self, collection, id, vec, md, dur, timeout=None):
        body = {"id": int(id), "vector": vec, "metadata": md,
                "durability": _ops.DURABILITY_NAMES.get(dur, dur)}
        self.request("POST", "/api/collections/%s/insert" % self._name(collection), body,
                     "Insert", timeout)
        return True

    def _batch_insert(self, collection, vecs, ids, mds, dur, timeout=None):
        items = []
        for i, (v, pid) in enumerate(zip(_ops.rows(vecs), ids)):
            item = {"id": int(pid), "vector": v}
            if mds is not None and mds[i]:
                item["metadata"] = mds[i]
            items.append(item)
        body = {"vectors": items, "durability": _ops.DURABILITY_NAMES.get(dur, dur)}
        self.request("POST", "/api/collections/%s/insert/batch" % self._name(collection), body,
                     "BatchInsert", timeout)
        return True

    def _insert_text(self, collection, id, text, md, dur, timeout=None):
        raise errors.UnimplementedError("InsertText is not available over HTTP",
                                        method="InsertText")

    def _delete(self, collection, id, timeout=None):
        r = self.request("DELETE", "/api/collections/%s/points/%d" % (self._name(collection),
                                                                      int(id)),
                         None, "Delete", timeout)
        return bool(r.get("deleted"))

    @staticmethod
    def _search_body(vec, top_k, filter, filters, hybrid_query=None, hybrid_alpha=None):
        body = {"vector": vec, "top_k": int(top_k)}
        if filter:
            body["filter"] = _ops.metadata(filter)
        if filters:
            body["filters"] = _ops.filter_dicts(filters)
        if hybrid_query is not None:
            body["hybrid_query"] = hybrid_query
        if hybrid_alpha is not None:
            body["hybrid_alpha"] = float(hybrid_alpha)
        return body

    def _search(self, collection, vec, top_k, filter, filters, hybrid_query, hybrid_alpha,
                timeout=None):
        hits = self.request("POST", "/api/collections/%s/search" % self._name(collection),
                            self._search_body(vec, top_k, filter, filters, hybrid_query,
                                              hybrid_alpha), "Search", timeout)
        out = []
        for h in hits:
            d = {"id": h["id"], "distance": float(h["distance"]),
                 "metadata": h.get("metadata") or {}}
            if hybrid_query is not None:
                d["score"] = h.get("score", 0.0)
            out.append(d)
        return out

    def _search_batch(self, collection, vecs, top_k, filter=None, filters=None, timeout=None):
        body = {"searches": [self._search_body(v, top_k, filter, filters) for v in vecs]}
        res = self.request("POST", "/api/collections/%s/search/batch" % self._name(collection),
                           body, "SearchBatch", timeout)
        return [[{"id": h["id"], "distance": float(h["distance"]),
                  "metadata": h.get("metadata") or {}}
                 for h in hits] for hits in res]

    def _get_digest(self, collection, timeout=None):
        r = self.request("GET", "/api/collections/%s/digest" % self._name(collection), None,
                         "GetDigest", timeout)
        return {"logical_clock": r["logical_clock"], "state_hash": r["state_hash"],
                "buckets": r["buckets"], "count": r["count"]}

    def _configure(self, collection, ef_search, ef_construction, timeout=None):
        body = {}
        if ef_search is not None:
            body["ef_search"] = int(ef_search)
        if ef_construction is not None:
            body["ef_construction"] = int(ef_construction)
        self.request("PATCH", "/api/collections/%s/config" % self._name(collection), body,
                     "Configure", timeout)
        return True

    def _trigger_snapshot(self, timeout=None):
        self.request("POST", "/api/admin/snapshot", {}, "TriggerSnapshot", timeout)
        return True

    def _trigger_vacuum(self, timeout=None):
        self.request("POST", "/api/admin/vacuum", {}, "TriggerVacuum", timeout)
        return True

    def _rebuild_index(self, name, timeout=None):
        self.request("POST", "/api/collections/%s/rebuild" % self._name(name), {},
                     "RebuildIndex", timeout)
        return True

    def _retrieve(self, collection, ids, with_vector, timeout=None):
        q = {"ids": ",".join(str(int(i)) for i in ids)}
        if not with_vector:
            q["with_vector"] = "false"
        return self.request("GET", "/api/collections/%s/points" % self._name(collection), None,
                            "Retrieve", timeout, query=q)

    def monitor(self, count=None):
        raise errors.UnimplementedError("Monitor is a gRPC stream; use the gRPC transport or "
                                        "GET /api/metrics", method="Monitor")

    def wait_ready(self, timeout):
        try:
            self.request("GET", "/healthz", None, "healthz", timeout)
            return True
        except errors.HyperspaceError:
            return False

    def close(self):
        c = getattr(self.local, "conn", None)
        if c is not None:
            c.close()
            self.local.conn = None
