"""Embedded NUL bytes in client strings are refused, never cut (http.md "Strings", grpc.md
"Calls"): JSON bodies (\\u0000 or a raw 0 byte), the binary bulk format's metadata, header
values and the request line over HTTP, and every string field of a gRPC request. Each refusal
is 400 / INVALID_ARGUMENT naming the field, and changes nothing."""
import json
import socket
import struct

import grpc
import pytest

from conftest import Server, finish, http, ok

ADMIN = "adm-nul-key-93"
A = {"x-api-key": ADMIN}


@pytest.fixture(scope="module")
def srv():
    s = Server(env={"HYPERSPACE_API_KEY": ADMIN}).start()
    ok(http(s, "POST", "/api/collections", {"name": "c", "dimension": 2, "metric": "l2"},
            headers=A), 201)
    ok(http(s, "POST", "/api/collections/c/insert",
            {"id": 1, "vector": [1, 2], "metadata": {"k": "v"}}, headers=A))
    yield s
    finish(s)


def raw_json(s, method, path, text, headers=None):
    h = dict(A)
    h.update(headers or {})
    h["Content-Type"] = "application/json"
    return http(s, method, path, raw=text.encode("utf-8") if isinstance(text, str) else text,
                headers=h)


def refused(resp, field, member=False):
    st, _, body = resp
    assert st == 400, body
    assert body["error"]["code"] == "INVALID_ARGUMENT", body
    msg = body["error"]["message"]
    if member:
        assert msg.startswith("Field '%s' has a member name containing a NUL" % field), msg
    else:
        assert msg.startswith("Field '%s' contains a NUL character" % field), msg


def names(s):
    return sorted(c["name"] for c in ok(http(s, "GET", "/api/collections", headers=A)))


def count(s):
    return ok(http(s, "POST", "/api/collections/c/count", {}, headers=A))["count"]


def point(s, i):
    return http(s, "GET", "/api/collections/c/points/%d" % i, headers=A)


# ---- HTTP, JSON bodies ----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    '{"name":"a\\u0000b","dimension":2,"metric":"l2"}',
    '{"name":"a\x00b","dimension":2,"metric":"l2"}',  # a raw 0 byte inside the string
])
def test_collection_name_with_nul_is_refused(srv, text):
    before = names(srv)
    refused(raw_json(srv, "POST", "/api/collections", text), "name")
    assert names(srv) == before and "a" not in before


@pytest.mark.parametrize("meta, field, member", [
    ('{"b\\u0000c":"1","b\\u0000d":"2"}', "metadata", True),
    ('{"k":"x\\u0000y"}', "metadata.k", False),
    ('{"k":"ok","deep\\u0000":"x"}', "metadata", True),
])
def test_metadata_with_nul_is_refused(srv, meta, field, member):
    n = count(srv)
    refused(raw_json(srv, "POST", "/api/collections/c/insert",
                     '{"id":2,"vector":[1,2],"metadata":%s}' % meta), field, member)
    assert count(srv) == n
    assert point(srv, 2)[0] == 404


def test_batch_names_the_point(srv):
    body = ('{"vectors":[{"id":3,"vector":[1,2]},{"id":4,"vector":[1,2],'
            '"metadata":{"k":"a\\u0000"}}]}')
    refused(raw_json(srv, "POST", "/api/collections/c/insert/batch", body),
            "vectors[1].metadata.k")
    assert point(srv, 3)[0] == 404 and point(srv, 4)[0] == 404


@pytest.mark.parametrize("extra, field", [
    ('"filter":{"k\\u0000x":"v"}', "filter", ),
    ('"filter":{"k":"v\\u0000x"}', "filter.k"),
    ('"filters":[{"type":"match","key":"k","value":"v\\u0000"}]', "filters[0].value"),
    ('"filters":[{"match":{"key":"k\\u0000","value":"v"}}]', "filters[0].match.key"),
    ('"filters":[{"type":"range","key":"k\\u0000","gte":1}]', "filters[0].key"),
    ('"hybrid_query":"apple\\u0000 pie"', "hybrid_query"),
])
def test_search_strings_with_nul_are_refused(srv, extra, field):
    st, _, body = raw_json(srv, "POST", "/api/collections/c/search",
                           '{"vector":[1,2],"top_k":3,%s}' % extra)
    assert st == 400, body
    msg = body["error"]["message"]
    assert ("Field '%s' " % field) in msg and "NUL" in msg, msg


def test_escaped_backslash_before_u0000_is_not_a_nul(srv):
    # the JSON text "a\\u0000" is the six characters a \ u 0 0 0 0: no NUL, accepted as is
    ok(raw_json(srv, "POST", "/api/collections/c/insert",
                '{"id":5,"vector":[1,2],"metadata":{"k":"a\\\\u0000"}}'))
    assert ok(point(srv, 5))["metadata"] == {"k": "a\\u0000"}
    ok(http(srv, "DELETE", "/api/collections/c/points/5", headers=A))


# ---- HTTP, binary bulk format ----------------------------------------------------------------

def test_binary_metadata_with_nul_is_refused(srv):
    metas = [b'{"k":"fine"}', b'{"k":"x\\u0000y"}']
    body = b"HSF1" + struct.pack("<IIII", 2, 2, 3, 0) + struct.pack("<2I", 6, 7) + \
        struct.pack("<4f", 1, 2, 3, 4)
    for m in metas:
        body += struct.pack("<I", len(m)) + m
    refused(http(srv, "POST", "/api/collections/c/insert/batch", raw=body,
                 headers={"x-api-key": ADMIN,
                          "Content-Type": "application/x-hyperspace-f32"}),
            "vectors[1].metadata.k")
    assert point(srv, 6)[0] == 404 and point(srv, 7)[0] == 404


# ---- HTTP, headers and the request line ------------------------------------------------------

def raw_request(s, head):
    with socket.create_connection(("127.0.0.1", s.http_port), timeout=10) as c:
        c.sendall(head)
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                hdr, _, rest = data.partition(b"\r\n\r\n")
                length = [int(l.split(b":")[1]) for l in hdr.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")]
                if length and len(rest) >= length[0]:
                    break
    hdr, _, rest = data.partition(b"\r\n\r\n")
    status = int(hdr.split(b" ")[1])
    return status, json.loads(rest) if rest.startswith(b"{") else rest


@pytest.mark.parametrize("line, header", [
    (b"x-api-key: " + ADMIN.encode() + b"\x00x", "x-api-key"),
    (b"x-api-key: " + ADMIN.encode() + b"\r\nx-hyperspace-user-id: x\x00y", "x-hyperspace-user-id"),
    (b"Authorization: Bearer " + ADMIN.encode() + b"\x00tail", "Authorization"),
])
def test_header_with_nul_is_refused(srv, line, header):
    st, body = raw_request(srv, b"GET /api/collections HTTP/1.1\r\nHost: x\r\n" + line +
                           b"\r\nConnection: close\r\n\r\n")
    assert st == 400, body
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    assert body["error"]["message"].startswith("Header '%s' contains a NUL" % header), body


def test_nul_in_the_last_header_and_the_request_line(srv):
    st, body = raw_request(srv, b"GET /api/collections HTTP/1.1\r\nHost: x\r\nConnection: close"
                           b"\r\nx-api-key: " + ADMIN.encode() + b"\x00zz\r\n\r\n")
    assert st == 400 and "x-api-key" in body["error"]["message"], body
    st, body = raw_request(srv, b"GET /api/collections/c\x00zz/stats HTTP/1.1\r\nHost: x\r\n"
                           b"x-api-key: " + ADMIN.encode() + b"\r\nConnection: close\r\n\r\n")
    assert st == 400, body
    assert body["error"]["message"] == "The request line contains a NUL character", body


def test_clean_raw_requests_still_pass(srv):
    # the same raw path with ordinary headers: spaces after the colon, trailing spaces, LF-only
    st, body = raw_request(srv, b"GET /api/collections?x=1&y HTTP/1.1\r\nHost:   x  \r\n"
                           b"x-api-key:\t" + ADMIN.encode() + b"\r\nCookie: a=b; c=d\r\n"
                           b"Connection: close\r\n\r\n")
    assert st == 200, body
    st, body = raw_request(srv, b"GET /api/collections HTTP/1.1\nHost: x\nx-api-key: " +
                           ADMIN.encode() + b"\nConnection: close\n\n")
    assert st == 200, body


def test_percent_encoded_nul_in_a_path_name_is_refused(srv):
    st, _, body = http(srv, "GET", "/api/collections/c%00x/stats", headers=A)
    assert st == 400 and body["error"]["code"] == "INVALID_NAME", body


# ---- gRPC ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gstub(srv, pb):
    ch = grpc.insecure_channel(srv.grpc_target)
    yield pb[1].DatabaseStub(ch)
    ch.close()


def grpc_refused(call, field):
    with pytest.raises(grpc.RpcError) as e:
        call()
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value
    assert e.value.details().startswith("Field '%s' contains a NUL" % field), e.value.details()


MD = [("x-api-key", ADMIN)]


def test_grpc_create_collection_with_nul_is_refused(srv, gstub, pb):
    before = names(srv)
    grpc_refused(lambda: gstub.CreateCollection(pb[0].CreateCollectionRequest(
        name="a\x00b", dimension=2, metric="l2"), metadata=MD, timeout=10), "name")
    assert names(srv) == before


def test_grpc_metadata_with_nul_is_refused(srv, gstub, pb):
    n = count(srv)
    grpc_refused(lambda: gstub.Insert(pb[0].InsertRequest(
        collection="c", id=8, vector=[1, 2], metadata={"b\x00c": "1"}), metadata=MD,
        timeout=10), "metadata[0].key")
    grpc_refused(lambda: gstub.Insert(pb[0].InsertRequest(
        collection="c", id=8, vector=[1, 2], metadata={"k": "v\x00w"}),
        metadata=MD, timeout=10), "metadata[0].value")
    grpc_refused(lambda: gstub.BatchInsert(pb[0].BatchInsertRequest(
        collection="c", vectors=[pb[0].VectorData(id=9, vector=[1, 2]),
                                 pb[0].VectorData(id=10, vector=[1, 2],
                                                  metadata={"k": "\x00"})]),
        metadata=MD, timeout=10), "vectors[1].metadata[0].value")
    assert count(srv) == n


def test_grpc_search_strings_with_nul_are_refused(gstub, pb):
    R = pb[0].SearchRequest
    grpc_refused(lambda: gstub.Search(R(collection="c", vector=[1, 2], top_k=1,
                                        filter={"k": "v\x00"}), metadata=MD, timeout=10),
                 "filter[0].value")
    grpc_refused(lambda: gstub.Search(R(collection="c", vector=[1, 2], top_k=1, filters=[
        pb[0].Filter(match=pb[0].Match(key="k\x00", value="v"))]), metadata=MD, timeout=10),
        "filters[0].match.key")
    grpc_refused(lambda: gstub.Search(R(collection="c", vector=[1, 2], top_k=1,
                                        hybrid_query="a\x00b"), metadata=MD, timeout=10),
                 "hybrid_query")
    grpc_refused(lambda: gstub.SearchBatch(pb[0].BatchSearchRequest(searches=[
        R(collection="c", vector=[1, 2]), R(collection="c\x00", vector=[1, 2])]),
        metadata=MD, timeout=10), "searches[1].collection")
    # the same requests without the NUL are served
    assert len(gstub.Search(R(collection="c", vector=[1, 2], top_k=1, filter={"k": "v"}),
                            metadata=MD, timeout=10).results) == 1
