"""Malformed input on both ports: clear errors, no crash, no change.

Raw bytes that are not the request message are sent to every RPC through a generic gRPC call
(no stubs, so nothing client-side can tidy them up); JSON of the wrong shape, the wrong types,
oversized bodies and inputs that crashed the original server go to HTTP.  Before and after, the
collection's digest (state hash and clock) must be identical, and the server must still answer.
"""
import math
import random
import socket

import grpc
import pytest

from conftest import http

RPCS = ["CreateCollection", "DeleteCollection", "ListCollections", "GetCollectionStats", "Insert",
        "BatchInsert", "InsertText", "Delete", "Search", "SearchBatch", "TriggerSnapshot",
        "TriggerVacuum", "Configure", "GetDigest", "RebuildIndex"]

J = {"Content-Type": "application/json"}


def digest(server):
    st, _, body = http(server, "GET", "/api/collections/m/digest")
    assert st == 200, body
    return body["state_hash"], body["logical_clock"], body["count"]


@pytest.fixture
def seeded(server):
    st, _, body = http(server, "POST", "/api/collections",
                       {"name": "m", "dimension": 3, "metric": "poincare"})
    assert st == 201, body
    st, _, body = http(server, "POST", "/api/collections/m/insert/batch", {"vectors": [
        {"id": i, "vector": [0.1 * (i % 5), 0.05, -0.02 * (i % 7)], "metadata": {"p": str(i)}}
        for i in range(50)]})
    assert st == 200, body
    return server


def raw_call(channel, method, payload):
    call = channel.unary_unary("/hyperspace.Database/" + method,
                               request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)
    return call(payload, timeout=20)


def test_garbage_protobuf_never_crashes_or_changes_anything(seeded):
    before = digest(seeded)
    rng = random.Random(7)
    payloads = [b"\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x12\x05ab", b"\x08" + b"\xff" * 11,
                bytes(rng.randrange(256) for _ in range(300)),
                b"\x0a\x01m\x12\x08" + b"\x00" * 8 + b"\x1a\xff\xff\xff\x7f"]
    with grpc.insecure_channel(seeded.grpc_target) as ch:
        for method in RPCS:
            for p in payloads:
                try:
                    raw_call(ch, method, p)
                except grpc.RpcError as e:
                    # a malformed message is the client's fault, never an internal error
                    assert e.code() != grpc.StatusCode.INTERNAL, (method, p, e.details())
                    assert e.code() != grpc.StatusCode.UNKNOWN, (method, p, e.details())
                    assert e.details(), (method, p)
        # a message that does not decode is named as such
        with pytest.raises(grpc.RpcError) as ei:
            raw_call(ch, "Search", b"\x0a\xff\xff\xff\xff\x0f")
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Malformed request message" in ei.value.details()
    # the garbage may have created collections (a decodable CreateCollection) but must not have
    # touched this one
    assert digest(seeded) == before


def test_inputs_that_crashed_the_original_server(seeded, pb):
    before = digest(seeded)
    with grpc.insecure_channel(seeded.grpc_target) as ch:
        stub = pb[1].DatabaseStub(ch)
        # a Poincaré query outside the ball
        with pytest.raises(grpc.RpcError) as ei:
            stub.Search(pb[0].SearchRequest(collection="m", vector=[0.9, 0.9, 0.0], top_k=3))
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Query vector must be strictly inside the Poincaré ball" in ei.value.details()
        # a Range filter with gte > lte: an empty result
        r = stub.Search(pb[0].SearchRequest(
            collection="m", vector=[0.1, 0.0, 0.0], top_k=5,
            filters=[pb[0].Filter(range=pb[0].Range(key="p", gte=10, lte=3))]))
        assert list(r.results) == []
        # a huge top_k
        with pytest.raises(grpc.RpcError) as ei:
            stub.Search(pb[0].SearchRequest(collection="m", vector=[0.1, 0.0, 0.0],
                                            top_k=4294967295))
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert ei.value.details() == "top_k must be <= 10000 (got 4294967295)"
        # NaN and infinities in a query
        for bad in (math.nan, math.inf):
            with pytest.raises(grpc.RpcError) as ei:
                stub.Search(pb[0].SearchRequest(collection="m", vector=[bad, 0, 0]))
            assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # still serving
        r = stub.Search(pb[0].SearchRequest(collection="m", vector=[0.1, 0.05, 0.0], top_k=3))
        assert len(r.results) == 3
    # and the same over HTTP
    st, _, body = http(seeded, "POST", "/api/collections/m/search", {"vector": [0.9, 0.9, 0]})
    assert st == 400 and body["error"]["code"] == "OUT_OF_BALL"
    st, _, body = http(seeded, "POST", "/api/collections/m/search",
                       {"vector": [0.1, 0, 0], "filters": [
                           {"type": "range", "key": "p", "gte": 10, "lte": 3}]})
    assert st == 200 and body == []
    st, _, body = http(seeded, "POST", "/api/collections/m/search",
                       {"vector": [0.1, 0, 0], "top_k": 10 ** 12})
    assert st == 400 and body["error"]["code"] == "INVALID_PARAMETER"
    assert digest(seeded) == before


WRONG = [
    ("POST", "/api/collections/m/insert", b"{\"id\":\"7\",\"vector\":[0.1,0,0]}", "INVALID_ARGUMENT"),
    ("POST", "/api/collections/m/insert", b"{\"id\":7.5,\"vector\":[0.1,0,0]}", "INVALID_ARGUMENT"),
    ("POST", "/api/collections/m/insert", b"{\"id\":7,\"vector\":\"0.1,0,0\"}", "INVALID_ARGUMENT"),
    ("POST", "/api/collections/m/insert", b"{\"id\":7,\"vector\":[0.1,null,0]}", "INVALID_ARGUMENT"),
    ("POST", "/api/collections/m/insert", b"{\"id\":7,\"vector\":[1e400,0,0]}", "INVALID_VECTOR"),
    ("POST", "/api/collections/m/insert", b"{\"id\":7,\"vector\":[0.1,0,0],\"metadata\":[1]}",
     "INVALID_ARGUMENT"),
    ("POST", "/api/collections/m/insert", b"{\"id\":7,\"vector\":[0.1,0,0],\"metadata\":{\"a\":{}}}",
     "INVALID_METADATA"),
    ("POST", "/api/collections/m/insert", b"{\"id\":-1,\"vector\":[0.1,0,0]}", "INVALID_ARGUMENT"),
    ("POST", "/api/collections/m/insert", b"{\"id\":4294967296,\"vector\":[0.1,0,0]}",
     "INVALID_ARGUMENT"),
    ("POST", "/api/collections/m/insert", b"\xff\xfe{}", "INVALID_JSON"),
    ("POST", "/api/collections/m/insert", b"{\"id\":7,", "INVALID_JSON"),
    ("POST", "/api/collections/m/insert", b"[1,2,3]", "INVALID_JSON"),
    ("POST", "/api/collections/m/insert", b"", "INVALID_JSON"),
    ("POST", "/api/collections/m/insert/batch", b"{\"vectors\":{}}", "INVALID_ARGUMENT"),
    ("POST", "/api/collections/m/insert/batch",
     b"{\"vectors\":[{\"id\":1,\"vector\":[0.1,0,0]},{\"id\":2,\"vector\":[2,0,0]}]}",
     "OUT_OF_BALL"),
    ("POST", "/api/collections/m/points/delete", b"{}", "INVALID_ARGUMENT"),
    ("POST", "/api/collections/m/points/delete", b"{\"ids\":[1],\"filter\":{\"p\":\"1\"}}",
     "INVALID_ARGUMENT"),
    ("POST", "/api/collections/m/points/delete", b"{\"filters\":[{\"type\":\"range\",\"key\":\"p\","
     b"\"gte\":\"x\"}]}", "INVALID_FILTER"),
    ("POST", "/api/collections/m/scroll", b"{\"cursor\":\"zz\"}", "INVALID_CURSOR"),
    ("POST", "/api/collections/m/scroll", b"{\"limit\":0}", "INVALID_PARAMETER"),
    ("PATCH", "/api/collections/m/config", b"{\"ef_search\":0}", "INVALID_PARAMETER"),
    ("PATCH", "/api/collections/m/config", b"{\"ef_search\":\"many\"}", "INVALID_ARGUMENT"),
    ("POST", "/api/collections/m/insert/batch", b"HSF1" + b"\x00" * 3, "INVALID_JSON"),
]


def test_wrong_shapes_and_types_over_http(seeded):
    before = digest(seeded)
    for method, path, raw, code in WRONG:
        st, h, body = http(seeded, method, path, raw=raw, headers=J)
        assert st == 400, (path, raw, st, body)
        assert h["content-type"].startswith("application/json")
        assert body["error"]["code"] == code, (path, raw, body)
        assert body["error"]["message"], (path, raw)
    # 1,000,000 opening brackets: rejected without recursion
    st, _, body = http(seeded, "POST", "/api/collections/m/search", raw=b"[" * 1000000,
                       headers=J)
    assert st == 400 and body["error"]["message"] == \
        "Malformed JSON: nesting deeper than 64 levels"
    assert digest(seeded) == before


def test_oversized_body_is_refused_before_it_is_read(server_factory):
    s = server_factory(env={"HS_HTTP_MAX_BODY_MB": "1"})
    # announce 1 GiB and send nothing: the answer comes from the headers alone
    with socket.create_connection(("127.0.0.1", s.http_port), timeout=10) as c:
        c.sendall(b"POST /api/collections/default/insert/batch HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert b"\"limit_bytes\":1048576" in data
    # a chunked body (no Content-Length) that grows past the limit: 413 once it has
    with socket.create_connection(("127.0.0.1", s.http_port), timeout=20) as c:
        c.sendall(b"POST /api/collections/default/insert/batch HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b" " * 65536
        try:
            for _ in range(40):  # 2.5 MiB
                c.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            c.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while True:
                part = c.recv(65536)
                if not part:
                    break
                data += part
                if data.rstrip().endswith(b"}"):
                    break
        except ConnectionResetError:
            pass
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert b"PAYLOAD_TOO_LARGE" in data
    st, _, body = http(s, "GET", "/healthz")
    assert st == 200
