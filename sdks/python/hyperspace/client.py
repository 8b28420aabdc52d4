"""HyperspaceClient (the v2.0.0 SDK's API), Client (raises) and AsyncClient (asyncio).

`HyperspaceClient` keeps the original SDK's names, argument positions and return conventions:
a failed call returns ``False`` / ``[]`` / ``{}`` and logs one WARNING (logger ``hyperspace``) with
the error's code, message and details.  ``HyperspaceClient(..., raise_errors=True)`` and
`Client` raise the typed errors of `hyperspace.errors` instead.
"""
import asyncio
import collections
import logging
import random
import sys
import threading
import time
import urllib.parse
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from . import _ops, errors
from ._transport import AsyncGrpcTransport, GrpcTransport, HttpTransport

try:
    import numpy as _np
except ImportError:  # pragma: no cover
    _np = None

log = logging.getLogger("hyperspace")

DEFAULT_HTTP_PORT = 50050


class Durability:
    """Write durability (DurabilityLevel): the node's default, async, group commit, fsync."""
    DEFAULT = 0
    ASYNC = 1
    BATCH = 2
    STRICT = 3


# Search results as numpy arrays (search(..., as_numpy=True), search_batch(..., as_numpy=True)):
# ids (int64, -1 where a query had fewer hits), distances (float64, inf there), metadata (lists).
SearchHits = collections.namedtuple("SearchHits", "ids distances metadata")


def _split_host(host, transport):
    """(transport kind, gRPC target, HTTP base URL) from the host string."""
    if "://" in host:
        u = urllib.parse.urlsplit(host)
        if u.scheme in ("http", "https"):
            return "http", None, host.rstrip("/")
        host = u.netloc or u.path
    if transport == "http":
        return "http", None, "http://" + host
    return transport, host, None


def _default_http_url(target):
    """The HTTP address beside a gRPC target: same host, port 50050 (the server's default)."""
    host = target
    if target.startswith("["):  # [::1]:50051
        host = target[:target.index("]") + 1]
    elif target.count(":") == 1:
        host = target.split(":")[0]
    return "http://%s:%d" % (host, DEFAULT_HTTP_PORT)


class _Common:
    """Argument handling shared by the sync and async clients."""

    _FAIL = {"create_collection": False, "delete_collection": False, "list_collections": [],
             "get_collection_stats": {}, "insert": False, "batch_insert": False,
             "insert_text": False, "delete": False, "search": [], "search_batch": [],
             "get_digest": {}, "configure": False, "trigger_snapshot": False,
             "trigger_vacuum": False, "rebuild_index": False, "retrieve": [], "upload": False,
             "get_vectors": None}

    def _fail(self, op, err):
        if self.raise_errors:
            raise err
        log.warning("hyperspace %s failed: %s %s%s", op, err.code, err.message,
                    " %s" % err.details if err.details else "")
        return self._FAIL[op]

    def _embed(self, text):
        if self.embedder is None:
            raise ValueError("text given but the client has no embedder "
                             "(HyperspaceClient(..., embedder=...))")
        return _ops.vector(self.embedder.encode(text))

    def _insert_args(self, id, vector, document, metadata, collection, durability):
        if isinstance(document, Mapping) and metadata is None:
            # insert(id, vec, {"k": "v"}): the v2.0.0 SDK dropped this metadata; keep it
            metadata, document = document, None
        if vector is None:
            if document is None:
                raise ValueError("insert needs a vector or a document")
            vec = self._embed(document)
        else:
            vec = _ops.vector(vector)
        return (collection, id, vec, _ops.metadata(metadata), _ops.durability(durability))

    def _batch_args(self, vectors, ids, metadatas, collection, durability):
        vecs = _ops.matrix(vectors, keep_numpy=True)
        ids = _ops.ids_list(ids)
        if any(i < 0 or i > 0xFFFFFFFF for i in ids):
            raise ValueError("ids must be between 0 and 4294967295")
        if len(vecs) != len(ids):
            raise ValueError("vectors and ids differ in length (%d, %d)" % (len(vecs), len(ids)))
        mds = None
        if metadatas is not None:
            mds = [_ops.metadata(m) for m in metadatas]
            if len(mds) != len(ids):
                raise ValueError("metadatas and ids differ in length (%d, %d)"
                                 % (len(mds), len(ids)))
        return (collection, vecs, ids, mds, _ops.durability(durability))

    def _search_args(self, vector, query_text, top_k, filter, filters, hybrid_query,
                     hybrid_alpha, collection):
        if vector is None:
            if query_text is None:
                raise ValueError("search needs a vector or query_text")
            vec = self._embed(query_text)
        else:
            vec = _ops.vector(vector)
        if hybrid_alpha is not None and hybrid_query is None and query_text is not None:
            hybrid_query = query_text
        return (collection, vec, top_k, filter, filters, hybrid_query, hybrid_alpha)

    @staticmethod
    def _hits_numpy(per_query, top_k):
        n = len(per_query)
        width = max([top_k] + [len(h) for h in per_query]) if n else top_k
        ids = _np.full((n, width), -1, dtype=_np.int64)
        dist = _np.full((n, width), _np.inf, dtype=_np.float64)
        meta = []
        for i, hits in enumerate(per_query):
            ids[i, :len(hits)] = [h["id"] for h in hits]
            dist[i, :len(hits)] = [h["distance"] for h in hits]
            meta.append([h["metadata"] for h in hits])
        return SearchHits(ids, dist, meta)

    @staticmethod
    def _batches(n, batch_size):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        return [(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]

    @staticmethod
    def _slice(seq, s, e):
        return seq[s:e] if seq is not None else None

    @staticmethod
    def _progress(progress, total):
        """A progress sink: callable(done, total), a tqdm bar, or nothing."""
        if callable(progress):
            return lambda k: None, progress, lambda: None
        show = progress if progress is not None else sys.stderr.isatty()
        if not show:
            return lambda k: None, None, lambda: None
        try:
            from tqdm import tqdm
        except ImportError:  # optional dependency (Debian python3-tqdm)
            log.info("tqdm is not installed: upload runs without a progress bar")
            return lambda k: None, None, lambda: None
        bar = tqdm(total=total, unit="vec", unit_scale=True, desc="upload")
        return bar.update, None, bar.close


class HyperspaceClient(_Common):
    """A HyperspaceDB client over gRPC (default) or HTTP.

    host: ``"localhost:50051"`` (gRPC) or ``"http://localhost:50050"`` (HTTP transport).
    api_key: sent as ``x-api-key``.  embedder: encodes ``document`` / ``query_text``.
    user_id: the tenant (``x-hyperspace-user-id``).
    Keyword-only: raise_errors (False: failures return False/[]/{} and log a WARNING),
    transport ("grpc", "http" or "auto": gRPC, else HTTP when gRPC is not reachable within
    connect_timeout), http_url (the HTTP address for retrieve/get_vectors over gRPC; default
    the gRPC host with port 50050), timeout (seconds per call), grpc_options.
    """

    def __init__(self, host="localhost:50051", api_key=None, embedder=None, user_id=None, *,
                 raise_errors=False, transport="grpc", http_url=None, timeout=None,
                 connect_timeout=5.0, grpc_options=None):
        if transport not in ("grpc", "http", "auto"):
            raise ValueError("transport must be 'grpc', 'http' or 'auto'")
        self.host, self.api_key, self.embedder, self.user_id = host, api_key, embedder, user_id
        self.raise_errors = raise_errors
        self.timeout = timeout
        kind, target, url = _split_host(host, transport)
        self._http = None
        self._http_url = url or http_url
        if kind == "http":
            self._transport = self._http = HttpTransport(url, api_key, user_id, timeout)
        else:
            self._transport = GrpcTransport(target, api_key, user_id, timeout, grpc_options)
            if kind == "auto" and not self._transport.wait_ready(connect_timeout):
                self._transport.close()
                url = http_url or _default_http_url(target)
                log.warning("hyperspace: gRPC at %s not reachable, using HTTP at %s", target, url)
                self._transport = self._http = HttpTransport(url, api_key, user_id, timeout)
        self.transport = self._transport.kind

    # -- plumbing
    def _run(self, op, *args, name=None, timeout=None):
        try:
            return self._transport.run(op, *args, timeout=timeout)
        except errors.HyperspaceError as e:
            return self._fail(name or op, e)

    def _http_transport(self):
        if self._http is None:
            url = self._http_url or _default_http_url(self._transport.target)
            self._http = HttpTransport(url, self.api_key, self.user_id, self.timeout)
        return self._http

    def close(self):
        self._transport.close()
        if self._http is not None and self._http is not self._transport:
            self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- collections
    def create_collection(self, name, dimension, metric, *, quantization=None, m=None,
                          ef_construction=None, ef_search=None):
        """Creates a collection; True on success."""
        return self._run("create_collection", name, dimension, metric, quantization, m,
                         ef_construction, ef_search)

    def delete_collection(self, name):
        """Drops a collection and its files; True on success (False when it does not exist)."""
        return self._run("delete_collection", name)

    def list_collections(self):
        """The tenant's collection names, sorted."""
        return self._run("list_collections")

    def get_collection_stats(self, name):
        """{count, dimension, metric, indexing_queue, quantization, deleted_count,
        memory_bytes, loaded, m, ef_construction, ef_search}."""
        return self._run("get_collection_stats", name)

    def get_digest(self, collection=""):
        """{logical_clock, state_hash, buckets (256), count}."""
        return self._run("get_digest", collection)

    def configure(self, ef_search=None, ef_construction=None, collection=""):
        return self._run("configure", collection, ef_search, ef_construction)

    def rebuild_index(self, collection):
        return self._run("rebuild_index", collection)

    def trigger_snapshot(self):
        return self._run("trigger_snapshot")

    def trigger_vacuum(self):
        return self._run("trigger_vacuum")

    # -- points
    def insert(self, id, vector=None, document=None, metadata=None, collection="",
               durability=Durability.DEFAULT):
        """Upserts one point.  `vector` may be a list or a 1-D numpy array; without it,
        `document` is encoded by the embedder.  A mapping passed third is taken as metadata."""
        return self._run("insert", *self._insert_args(id, vector, document, metadata,
                                                      collection, durability))

    def batch_insert(self, vectors, ids, metadatas=None, collection="",
                     durability=Durability.DEFAULT):
        """Upserts a batch atomically (all or nothing); vectors may be a 2-D numpy array."""
        return self._run("batch_insert", *self._batch_args(vectors, ids, metadatas, collection,
                                                           durability))

    def insert_text(self, id, text, metadata=None, collection="", durability=Durability.DEFAULT):
        """Server-side embedding (InsertText); this server answers UNIMPLEMENTED."""
        return self._run("insert_text", collection, id, text, _ops.metadata(metadata),
                         _ops.durability(durability))

    def delete(self, id, collection=""):
        """Deletes one point; True when it was live."""
        return self._run("delete", collection, id)

    def search(self, vector=None, query_text=None, top_k=10, filter=None, filters=None,
               hybrid_query=None, hybrid_alpha=None, collection="", *, as_numpy=False):
        """[{"id", "distance", "metadata"}] best first ("score" too for hybrid searches);
        as_numpy=True: SearchHits(ids, distances, metadata) with 1-D arrays."""
        args = self._search_args(vector, query_text, top_k, filter, filters, hybrid_query,
                                 hybrid_alpha, collection)
        hits = self._run("search", *args)
        if as_numpy:
            h = self._hits_numpy([hits], 0)
            return SearchHits(h.ids[0], h.distances[0], h.metadata[0])
        return hits

    def search_batch(self, vectors, top_k=10, collection="", *, filter=None, filters=None,
                     as_numpy=False):
        """One result list per query vector (vectors may be a 2-D numpy array);
        as_numpy=True: SearchHits with (n, top_k) arrays, padded with id -1 / distance inf."""
        hits = self._run("search_batch", collection, _ops.matrix(vectors), top_k, filter,
                         filters)
        return self._hits_numpy(hits, top_k) if as_numpy else hits

    def retrieve(self, ids, collection="", with_vector=True):
        """The live points among `ids`, in that order: [{"id", "vector", "metadata"}] (HTTP)."""
        try:
            return self._http_transport().run("retrieve", collection, _ops.ids_list(ids),
                                              with_vector)
        except errors.HyperspaceError as e:
            return self._fail("retrieve", e)

    def get_vectors(self, ids, collection=""):
        """The vectors of `ids` as a 2-D float64 numpy array, in the order asked; a missing id
        is an error (PointNotFoundError)."""
        ids = _ops.ids_list(ids)
        points = self.retrieve(ids, collection)
        if points is False or points == []:
            if not ids:
                return _np.zeros((0, 0))
            if not self.raise_errors:
                return None
        by_id = {p["id"]: p["vector"] for p in points}
        missing = [i for i in ids if i not in by_id]
        if missing:
            return self._fail("get_vectors", errors.PointNotFoundError(
                "Points not found: %s" % missing[:10], code="POINT_NOT_FOUND",
                details={"ids": missing}, method="get_vectors"))
        return _np.asarray([by_id[i] for i in ids], dtype=_np.float64)

    def monitor(self, count=None):
        """Yields SystemStats dicts once a second (gRPC Monitor stream)."""
        try:
            yield from self._transport.monitor(count)
        except errors.HyperspaceError as e:
            if self.raise_errors:
                raise
            log.warning("hyperspace monitor failed: %s %s", e.code, e.message)

    def upload(self, collection, vectors, ids=None, metadata=None, batch_size=1000, parallel=1,
               *, durability=Durability.DEFAULT, max_retries=3, retry_delay=0.5, progress=None):
        """Upserts many points in batches of `batch_size` with `parallel` threads.

        vectors: 2-D numpy array or a sequence of vectors; ids: default 0..n-1; metadata: a
        sequence of dicts or None.  Transient failures (unavailable, deadline) are retried up
        to max_retries times per batch with exponential back-off (a batch is an idempotent
        upsert).  progress: None = a tqdm bar when tqdm is installed and stderr is a terminal,
        True / False to force, or a callable(done, total).  Returns the number of points
        written (False on failure when errors are not raised).
        """
        n = len(vectors)
        if ids is None:
            ids = range(n)
        elif len(ids) != n:
            raise ValueError("vectors and ids differ in length (%d, %d)" % (n, len(ids)))
        if metadata is not None and len(metadata) != n:
            raise ValueError("vectors and metadata differ in length (%d, %d)"
                             % (n, len(metadata)))
        update, callback, close = self._progress(progress, n)
        done = [0]
        lock = threading.Lock()

        def one(span):
            s, e = span
            args = self._batch_args(vectors[s:e], ids[s:e], self._slice(metadata, s, e),
                                    collection, durability)
            attempt = 0
            while True:
                try:
                    self._transport.run("batch_insert", *args)
                    break
                except errors.TRANSIENT as err:
                    if attempt >= max_retries:
                        raise
                    delay = retry_delay * (2 ** attempt) * (0.5 + random.random())
                    log.info("hyperspace upload: batch %d..%d failed (%s), retry %d in %.2fs",
                             s, e, err.code, attempt + 1, delay)
                    time.sleep(delay)
                    attempt += 1
            with lock:
                done[0] += e - s
                update(e - s)
                if callback:
                    callback(done[0], n)
            return e - s

        spans = self._batches(n, batch_size)
        try:
            if parallel <= 1:
                for span in spans:
                    one(span)
            else:
                with ThreadPoolExecutor(max_workers=parallel) as pool:
                    for _ in pool.map(one, spans):
                        pass
        except errors.HyperspaceError as e:
            return self._fail("upload", e)
        finally:
            close()
        return done[0]


class Client(HyperspaceClient):
    """HyperspaceClient that raises typed errors (hyperspace.errors) instead of returning
    False / [] / {}."""

    def __init__(self, host="localhost:50051", api_key=None, embedder=None, user_id=None, *,
                 raise_errors=True, **kw):
        super().__init__(host, api_key, embedder, user_id, raise_errors=raise_errors, **kw)


class AsyncClient(_Common):
    """The asyncio client (grpc.aio): the same methods as coroutines; raises typed errors
    unless raise_errors=False.  Use ``async with AsyncClient(...) as db``."""

    def __init__(self, host="localhost:50051", api_key=None, embedder=None, user_id=None, *,
                 raise_errors=True, timeout=None, grpc_options=None):
        self.host, self.api_key, self.embedder, self.user_id = host, api_key, embedder, user_id
        self.raise_errors = raise_errors
        kind, target, _ = _split_host(host, "grpc")
        if kind != "grpc":
            raise ValueError("AsyncClient speaks gRPC: give host:port")
        self._transport = AsyncGrpcTransport(target, api_key, user_id, timeout, grpc_options)

    async def _run(self, op, *args):
        try:
            return await self._transport.run(op, *args)
        except errors.HyperspaceError as e:
            return self._fail(op, e)

    async def _prep(self, fn, needs_embed, *args):
        if needs_embed:
            return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
        return fn(*args)

    async def close(self):
        await self._transport.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def create_collection(self, name, dimension, metric, *, quantization=None, m=None,
                                ef_construction=None, ef_search=None):
        return await self._run("create_collection", name, dimension, metric, quantization, m,
                               ef_construction, ef_search)

    async def delete_collection(self, name):
        return await self._run("delete_collection", name)

    async def list_collections(self):
        return await self._run("list_collections")

    async def get_collection_stats(self, name):
        return await self._run("get_collection_stats", name)

    async def get_digest(self, collection=""):
        return await self._run("get_digest", collection)

    async def configure(self, ef_search=None, ef_construction=None, collection=""):
        return await self._run("configure", collection, ef_search, ef_construction)

    async def rebuild_index(self, collection):
        return await self._run("rebuild_index", collection)

    async def trigger_snapshot(self):
        return await self._run("trigger_snapshot")

    async def trigger_vacuum(self):
        return await self._run("trigger_vacuum")

    async def insert(self, id, vector=None, document=None, metadata=None, collection="",
                     durability=Durability.DEFAULT):
        args = await self._prep(self._insert_args, vector is None, id, vector, document,
                                metadata, collection, durability)
        return await self._run("insert", *args)

    async def batch_insert(self, vectors, ids, metadatas=None, collection="",
                           durability=Durability.DEFAULT):
        return await self._run("batch_insert", *self._batch_args(vectors, ids, metadatas,
                                                                 collection, durability))

    async def insert_text(self, id, text, metadata=None, collection="",
                          durability=Durability.DEFAULT):
        return await self._run("insert_text", collection, id, text, _ops.metadata(metadata),
                               _ops.durability(durability))

    async def delete(self, id, collection=""):
        return await self._run("delete", collection, id)

    async def search(self, vector=None, query_text=None, top_k=10, filter=None, filters=None,
                     hybrid_query=None, hybrid_alpha=None, collection="", *, as_numpy=False):
        args = await self._prep(self._search_args, vector is None, vector, query_text, top_k,
                                filter, filters, hybrid_query, hybrid_alpha, collection)
        hits = await self._run("search", *args)
        if as_numpy:
            h = self._hits_numpy([hits], 0)
            return SearchHits(h.ids[0], h.distances[0], h.metadata[0])
        return hits

    async def search_batch(self, vectors, top_k=10, collection="", *, filter=None,
                           filters=None, as_numpy=False):
        hits = await self._run("search_batch", collection, _ops.matrix(vectors), top_k, filter,
                               filters)
        return self._hits_numpy(hits, top_k) if as_numpy else hits

    async def monitor(self, count=None):
        async for s in self._transport.monitor(count):
            yield s

    async def upload(self, collection, vectors, ids=None, metadata=None, batch_size=1000,
                     parallel=4, *, durability=Durability.DEFAULT, max_retries=3,
                     retry_delay=0.5, progress=None):
        """As HyperspaceClient.upload, with `parallel` batches in flight on the event loop."""
        n = len(vectors)
        if ids is None:
            ids = range(n)
        update, callback, close = self._progress(progress, n)
        sem = asyncio.Semaphore(max(1, parallel))
        done = [0]

        async def one(s, e):
            args = self._batch_args(vectors[s:e], ids[s:e], self._slice(metadata, s, e),
                                    collection, durability)
            async with sem:
                for attempt in range(max_retries + 1):
                    try:
                        await self._transport.run("batch_insert", *args)
                        break
                    except errors.TRANSIENT:
                        if attempt >= max_retries:
                            raise
                        await asyncio.sleep(retry_delay * (2 ** attempt))
            done[0] += e - s
            update(e - s)
            if callback:
                callback(done[0], n)

        try:
            await asyncio.gather(*(one(s, e) for s, e in self._batches(n, batch_size)))
        except errors.HyperspaceError as e:
            return self._fail("upload", e)
        finally:
            close()
        return done[0]
