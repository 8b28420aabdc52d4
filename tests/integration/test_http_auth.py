"""Authentication, roles and tenants over HTTP (http.md section 2, behaviour.md B1.1 and B9) and
CORS (http.md section 3)."""
import hashlib
import os
import socket
import tempfile

import pytest

from conftest import Server, http, finish, ok, short_id

ADMIN = "adm-env-key-7f3a9c"
READER = "reader-key-1b2c"
WRITER = "writer-key-2d3e"
ACME_WRITER = "acme-writer-3f4a"
ACME_ADMIN = "acme-admin-4b5c"
FILE_ADMIN = "file-admin-5c6d"
ALL_KEYS = (ADMIN, READER, WRITER, ACME_WRITER, ACME_ADMIN, FILE_ADMIN)
TENANT_RULE = "use 1-64 characters from A-Z a-z 0-9 _ . - not starting with '.'"
ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = ("content-type, x-api-key, authorization, x-hyperspace-user-id, "
                 "x-hyperspace-sync-replicas")


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


def key(k):
    return {"x-api-key": k}


def as_(k, tenant=None):
    h = {"x-api-key": k}
    if tenant is not None:
        h["x-hyperspace-user-id"] = tenant
    return h


@pytest.fixture(scope="module")
def srv():
    d = tempfile.mkdtemp(prefix="hs-keys-")
    path = os.path.join(d, "keys.txt")
    with open(path, "w") as f:
        f.write("# role sha256 [tenant]\n\n")
        f.write("reader %s\n" % sha(READER))
        f.write("writer\t%s\n" % sha(WRITER))
        f.write("writer %s acme\n" % sha(ACME_WRITER))
        f.write("admin %s acme\n" % sha(ACME_ADMIN).upper())  # either case
        f.write("admin %s\n" % sha(FILE_ADMIN))
    s = Server(env={"HYPERSPACE_API_KEY": ADMIN, "HYPERSPACE_API_KEYS_FILE": path}).start()
    ok(http(s, "POST", "/api/collections", {"name": "docs", "dimension": 2, "metric": "l2"},
            headers=key(ADMIN)), 201)
    ok(http(s, "POST", "/api/collections/docs/insert", {"id": 1, "vector": [1, 2]},
            headers=key(ADMIN)))
    yield s
    finish(s)


@pytest.fixture(autouse=True)
def still_alive(request):
    yield
    if "srv" in request.fixturenames:
        s = request.getfixturevalue("srv")
        assert s.proc is not None and s.proc.poll() is None, s.output()[-5000:]


def assert_401(resp, message):
    st, h, body = resp
    assert st == 401, body
    assert body == {"error": {"code": "UNAUTHENTICATED", "message": message}}
    assert h["www-authenticate"] == 'Bearer realm="hyperspace"'
    assert h["content-type"] == "application/json"


def assert_403(resp, message):
    st, h, body = resp
    assert st == 403, body
    assert body == {"error": {"code": "PERMISSION_DENIED", "message": message}}
    assert "www-authenticate" not in h


def docs_count(s):
    return ok(http(s, "POST", "/api/collections/docs/count", {}, headers=key(ADMIN)))["count"]


# ---- authentication ------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/collections", None),
    ("GET", "/api/status", None),
    ("GET", "/metrics", None),
    ("GET", "/api/nope", None),  # unknown /api/ paths: 401 before 404
    ("PUT", "/api/collections", {}),  # and before 405
    ("POST", "/api/collections/docs/insert", {"id": 2, "vector": [1, 2]}),
    ("POST", "/api/collections/..%2F..%2Fetc/insert", {"id": 2}),  # before name validation
    ("GET", "/api/collections/docs/points/abc", None),
], ids=short_id)
def test_missing_key_is_401_with_www_authenticate(srv, method, path, body):
    assert_401(http(srv, method, path, body), "Missing x-api-key header")
    # the tenant header never authenticates anything (B1.1)
    assert_401(http(srv, method, path, body, headers={"x-hyperspace-user-id": "default_admin"}),
               "Missing x-api-key header")
    assert_401(http(srv, method, path, body, headers={"x-api-key": "wrong"}), "Invalid API Key")
    assert_401(http(srv, method, path, body, headers={"Authorization": "Bearer wrong"}),
               "Invalid API Key")


def test_401_decided_before_a_malformed_body(srv):
    assert_401(http(srv, "POST", "/api/collections/docs/insert", raw=b"{{{{",
                    headers={"Content-Type": "application/json"}), "Missing x-api-key header")
    assert_401(http(srv, "POST", "/api/collections/docs/insert", raw=b"x",
                    headers={"Content-Type": "text/plain", "x-api-key": "nope"}),
               "Invalid API Key")
    assert docs_count(srv) == 1


@pytest.mark.parametrize("headers", [
    {"x-api-key": ADMIN},
    {"Authorization": "Bearer " + ADMIN},
    {"Authorization": "bearer " + ADMIN},
    {"Authorization": "BEARER " + ADMIN},
    {"x-api-key": FILE_ADMIN},
    {"Authorization": "Bearer " + FILE_ADMIN},
    {"x-api-key": ADMIN, "Authorization": "Bearer wrong"},  # x-api-key is used
], ids=short_id)
def test_accepted_key_forms(srv, headers):
    body = ok(http(srv, "GET", "/api/collections", headers=headers))
    assert [c["name"] for c in body] == ["default", "docs"]
    ok(http(srv, "GET", "/api/metrics", headers=headers))


def test_x_api_key_wins_over_authorization(srv):
    assert_401(http(srv, "GET", "/api/status",
                    headers={"x-api-key": "wrong", "Authorization": "Bearer " + ADMIN}),
               "Invalid API Key")
    assert_401(http(srv, "GET", "/api/status", headers={"Authorization": "Basic " + ADMIN}),
               "Missing x-api-key header")


def test_open_routes_need_no_key(srv):
    assert ok(http(srv, "GET", "/healthz")) == {"status": "ok"}
    assert ok(http(srv, "GET", "/readyz"))["status"] == "ready"
    st, _, body = http(srv, "HEAD", "/healthz")
    assert st == 200 and body is None
    for path in ("/", "/index.html", "/dashboard/x"):
        st, h, body = http(srv, "GET", path)
        assert st in (200, 404) and "www-authenticate" not in h
        if st == 404:
            assert body == "Dashboard not built"
    # any OPTIONS: 204 with Allow, no key
    st, h, body = http(srv, "OPTIONS", "/api/collections")
    assert st == 204 and body is None
    assert {"GET", "POST"} <= {m.strip() for m in h["allow"].split(",")}


def test_401_is_sent_before_a_gigabyte_body_is_read(srv):
    for extra in (b"", b"x-api-key: wrong\r\n", b"x-hyperspace-user-id: acme\r\n"):
        sock = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
        try:
            sock.sendall(b"POST /api/collections/docs/insert HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n" +
                         extra + b"\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                assert chunk, "closed without an answer: %r" % data
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            assert head.startswith("HTTP/1.1 401 "), head
            assert 'www-authenticate: bearer realm="hyperspace"' in head.lower()
        finally:
            sock.close()
    assert docs_count(srv) == 1


def test_auth_failures_are_counted(srv):
    assert_401(http(srv, "GET", "/api/status", headers=key("wrong")), "Invalid API Key")
    text = ok(http(srv, "GET", "/metrics", headers=key(ADMIN)))
    line = [x for x in text.splitlines()
            if x.startswith('hyperspace_auth_failures_total{transport="http"}')]
    assert len(line) == 1 and float(line[0].split()[-1]) >= 1
    assert_401(http(srv, "GET", "/api/status"), "Missing x-api-key header")
    text = ok(http(srv, "GET", "/metrics", headers=key(ADMIN)))
    line2 = [x for x in text.splitlines()
             if x.startswith('hyperspace_auth_failures_total{transport="http"}')]
    assert float(line2[0].split()[-1]) == float(line[0].split()[-1]) + 1


def test_keys_never_appear_in_logs_status_or_output(srv):
    logs = ok(http(srv, "GET", "/api/logs?limit=1000", headers=key(ADMIN)))
    status = ok(http(srv, "GET", "/api/status", headers=key(ADMIN)))
    text = "\n".join(logs) + repr(status) + srv.output()
    for k in ALL_KEYS:
        assert k not in text


# ---- roles (B9.2) --------------------------------------------------------------------------------

def test_reader_reads_but_cannot_write(srv):
    r = key(READER)
    assert [c["name"] for c in ok(http(srv, "GET", "/api/collections", headers=r))] == \
        ["default", "docs"]
    ok(http(srv, "GET", "/api/collections/docs", headers=r))
    ok(http(srv, "GET", "/api/collections/docs/stats", headers=r))
    ok(http(srv, "GET", "/api/collections/docs/digest", headers=r))
    ok(http(srv, "POST", "/api/collections/docs/search", {"vector": [1, 2]}, headers=r))
    ok(http(srv, "POST", "/api/collections/docs/search/batch",
            {"searches": [{"vector": [1, 2]}]}, headers=r))
    ok(http(srv, "GET", "/api/collections/docs/points/1", headers=r))
    ok(http(srv, "GET", "/api/collections/docs/points?ids=1", headers=r))
    ok(http(srv, "POST", "/api/collections/docs/scroll", {}, headers=r))
    ok(http(srv, "POST", "/api/collections/docs/count", {}, headers=r))
    ok(http(srv, "GET", "/api/collections/docs/peek", headers=r))
    ok(http(srv, "GET", "/api/status", headers=r))
    ok(http(srv, "GET", "/api/cluster/status", headers=r))
    assert_403(http(srv, "POST", "/api/collections/docs/insert", {"id": 5, "vector": [1, 2]},
                    headers=r),
               "Role 'reader' is not allowed to call POST /api/collections/{name}/insert")
    # the role is decided before the body is parsed (B9.3)
    assert_403(http(srv, "POST", "/api/collections/docs/insert", raw=b"{{{",
                    headers={"x-api-key": READER, "Content-Type": "application/json"}),
               "Role 'reader' is not allowed to call POST /api/collections/{name}/insert")
    assert docs_count(srv) == 1


@pytest.mark.parametrize("k, role, method, path, body, templ", [
    (READER, "reader", "POST", "/api/collections", {"name": "r", "dimension": 2, "metric": "l2"},
     "/api/collections"),
    (READER, "reader", "DELETE", "/api/collections/docs", None, "/api/collections/{name}"),
    (READER, "reader", "POST", "/api/collections/docs/insert/batch", {"vectors": []},
     "/api/collections/{name}/insert/batch"),
    (READER, "reader", "DELETE", "/api/collections/docs/points/1", None,
     "/api/collections/{name}/points/{id}"),
    (READER, "reader", "POST", "/api/collections/docs/points/delete", {"ids": [1]},
     "/api/collections/{name}/points/delete"),
    (READER, "reader", "GET", "/api/metrics", None, "/api/metrics"),
    (READER, "reader", "GET", "/metrics", None, "/metrics"),
    (WRITER, "writer", "POST", "/api/collections/docs/rebuild", None,
     "/api/collections/{name}/rebuild"),
    (WRITER, "writer", "POST", "/api/collections/docs/snapshot", None,
     "/api/collections/{name}/snapshot"),
    (WRITER, "writer", "PATCH", "/api/collections/docs/config", {"ef_search": 5},
     "/api/collections/{name}/config"),
    (WRITER, "writer", "POST", "/api/admin/vacuum", None, "/api/admin/vacuum"),
    (WRITER, "writer", "POST", "/api/admin/snapshot", None, "/api/admin/snapshot"),
    (WRITER, "writer", "GET", "/api/admin/usage", None, "/api/admin/usage"),
    (WRITER, "writer", "GET", "/api/logs", None, "/api/logs"),
    (WRITER, "writer", "GET", "/metrics", None, "/metrics"),
    (WRITER, "writer", "POST", "/api/cluster/promote", None, "/api/cluster/promote"),
    (ACME_WRITER, "writer", "GET", "/api/metrics", None, "/api/metrics"),
], ids=short_id)
def test_role_is_not_allowed(srv, k, role, method, path, body, templ):
    assert_403(http(srv, method, path, body, headers=key(k)),
               "Role '%s' is not allowed to call %s %s" % (role, method, templ))
    assert docs_count(srv) == 1
    assert ok(http(srv, "GET", "/api/collections/docs/stats", headers=key(ADMIN)))["ef_search"] \
        == 100


def test_writer_writes(srv):
    w = key(WRITER)
    ok(http(srv, "POST", "/api/collections", {"name": "wcoll", "dimension": 2, "metric": "l2"},
            headers=w), 201)
    ok(http(srv, "POST", "/api/collections/wcoll/insert", {"id": 1, "vector": [1, 2]},
            headers=w))
    ok(http(srv, "POST", "/api/collections/wcoll/points/delete", {"ids": [1]}, headers=w))
    ok(http(srv, "DELETE", "/api/collections/wcoll", headers=w), 204)


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/admin/usage"),
    ("POST", "/api/admin/vacuum"),
    ("POST", "/api/admin/snapshot"),
    ("GET", "/api/metrics"),
    ("GET", "/metrics"),
    ("GET", "/api/logs"),
    ("POST", "/api/cluster/promote"),
], ids=short_id)
def test_global_routes_need_an_unbound_admin(srv, method, path):
    assert_403(http(srv, method, path, headers=key(ACME_ADMIN)),
               "%s %s requires an admin key that is not bound to a tenant" % (method, path))
    ok(http(srv, method, path, headers=key(FILE_ADMIN)))


# ---- tenants (B1.1) ------------------------------------------------------------------------------

def test_tenant_bound_key(srv):
    assert_403(http(srv, "GET", "/api/collections", headers=as_(ACME_WRITER, "other")),
               "API key is restricted to tenant 'acme'")
    assert_403(http(srv, "POST", "/api/collections",
                    {"name": "x", "dimension": 2, "metric": "l2"},
                    headers=as_(ACME_WRITER, "default_admin")),
               "API key is restricted to tenant 'acme'")
    # no header: the bound tenant; a header equal to it is accepted
    ok(http(srv, "POST", "/api/collections", {"name": "acoll", "dimension": 3, "metric": "l2"},
            headers=key(ACME_WRITER)), 201)
    ok(http(srv, "POST", "/api/collections/acoll/insert", {"id": 1, "vector": [1, 2, 3]},
            headers=as_(ACME_WRITER, "acme")))
    names = [c["name"] for c in ok(http(srv, "GET", "/api/collections",
                                        headers=key(ACME_WRITER)))]
    assert names == ["acoll"]
    # the global admin sees it only under tenant acme
    assert ok(http(srv, "GET", "/api/collections/acoll/stats",
                   headers=as_(ADMIN, "acme")))["count"] == 1
    st, _, body = http(srv, "GET", "/api/collections/acoll/stats", headers=key(ADMIN))
    assert st == 404 and body["error"]["message"] == "Collection 'acoll' not found"
    # the bound admin key may run per-collection admin routes in its tenant
    body = ok(http(srv, "POST", "/api/collections/acoll/rebuild", headers=key(ACME_ADMIN)))
    assert body["count"] == 1
    assert http(srv, "GET", "/api/collections/docs", headers=key(ACME_ADMIN))[0] == 404
    usage = ok(http(srv, "GET", "/api/admin/usage", headers=key(ADMIN)))
    assert usage["acme"]["collection_count"] == 1 and usage["acme"]["vector_count"] == 1


def test_tenant_isolation(srv):
    a, b = as_(ADMIN, "tenant_a"), as_(ADMIN, "tenant_b")
    ok(http(srv, "POST", "/api/collections", {"name": "shared", "dimension": 2, "metric": "l2"},
            headers=a), 201)
    ok(http(srv, "POST", "/api/collections/shared/insert",
            {"id": 1, "vector": [1, 2], "metadata": {"who": "a"}}, headers=a))
    for method, path, body in (("GET", "/api/collections/shared", None),
                               ("GET", "/api/collections/shared/stats", None),
                               ("GET", "/api/collections/shared/points/1", None),
                               ("POST", "/api/collections/shared/search", {"vector": [1, 2]}),
                               ("POST", "/api/collections/shared/insert",
                                {"id": 2, "vector": [1, 2]}),
                               ("DELETE", "/api/collections/shared", None)):
        st, _, resp = http(srv, method, path, body, headers=b)
        assert st == 404, (method, path, resp)
        assert resp["error"] == {"code": "COLLECTION_NOT_FOUND",
                                 "message": "Collection 'shared' not found"}
    assert "shared" not in [c["name"] for c in ok(http(srv, "GET", "/api/collections",
                                                       headers=b))]
    assert "shared" not in [c["name"] for c in ok(http(srv, "GET", "/api/collections",
                                                       headers=key(ADMIN)))]
    # the same name in another tenant is another collection
    ok(http(srv, "POST", "/api/collections", {"name": "shared", "dimension": 3, "metric": "cosine"},
            headers=b), 201)
    ok(http(srv, "POST", "/api/collections/shared/insert", {"id": 1, "vector": [0, 0, 1]},
            headers=b))
    assert ok(http(srv, "GET", "/api/collections/shared/points/1", headers=a)) == \
        {"id": 1, "vector": [1, 2], "metadata": {"who": "a"}}
    ok(http(srv, "DELETE", "/api/collections/shared", headers=b), 204)
    assert ok(http(srv, "GET", "/api/collections/shared/stats", headers=a))["dimension"] == 2
    # an empty header is the default tenant; naming it explicitly is the same
    names = [c["name"] for c in ok(http(srv, "GET", "/api/collections",
                                        headers=as_(ADMIN, "")))]
    assert names == [c["name"] for c in ok(http(srv, "GET", "/api/collections",
                                                headers=as_(ADMIN, "default_admin")))]
    assert "docs" in names


@pytest.mark.parametrize("tenant", [".bad", "a/b", "x" * 65, "sp ace"])
def test_invalid_tenant_header(srv, tenant):
    st, _, body = http(srv, "GET", "/api/collections", headers=as_(ADMIN, tenant))
    assert st == 400, body
    assert body["error"]["code"] == "INVALID_TENANT"
    if len(tenant) <= 64:
        assert body["error"]["message"] == "Invalid tenant '%s': %s" % (tenant, TENANT_RULE)
    # authentication comes first
    assert_401(http(srv, "GET", "/api/collections", headers={"x-hyperspace-user-id": tenant}),
               "Missing x-api-key header")


# ---- CORS (http.md 3) ----------------------------------------------------------------------------

def preflight(s, origin, path="/api/collections/docs/insert"):
    return http(s, "OPTIONS", path, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-api-key"})


def no_cors(h):
    return not any(k.startswith("access-control-") for k in h)


def test_cors_with_a_key_and_no_allow_list_sends_no_cors_headers(srv):
    st, h, _ = http(srv, "GET", "/api/status",
                    headers={"Origin": "http://app.example", "x-api-key": ADMIN})
    assert st == 200 and no_cors(h), h
    st, h, body = preflight(srv, "http://app.example")
    assert st == 204 and body is None and no_cors(h), h  # no key needed, no CORS headers


def test_cors_permissive_without_keys(server_factory):
    s = server_factory()
    st, h, body = http(s, "GET", "/api/collections", headers={"Origin": "http://app.example"})
    assert st == 200
    assert h["access-control-allow-origin"] == "*"
    assert h["access-control-expose-headers"] == "X-Next-Cursor"
    assert "access-control-allow-credentials" not in h
    st, h, _ = http(s, "GET", "/api/collections/missing", headers={"Origin": "http://x.example"})
    assert st == 404 and h["access-control-allow-origin"] == "*"
    st, h, body = preflight(s, "http://app.example")
    assert st == 204 and body is None
    assert h["access-control-allow-origin"] == "*"
    assert h["access-control-allow-methods"] == ALLOW_METHODS
    assert h["access-control-allow-headers"] == ALLOW_HEADERS
    assert h["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in h
    # the preflight performed nothing
    st, _, body = http(s, "GET", "/api/collections/docs")
    assert st == 404


def test_cors_allow_list_with_a_key(server_factory):
    s = server_factory(env={"HYPERSPACE_API_KEY": ADMIN,
                            "HS_CORS_ORIGINS": "http://a.example, https://B.example:8443"})
    st, h, _ = http(s, "GET", "/api/status",
                    headers={"Origin": "http://a.example", "x-api-key": ADMIN})
    assert st == 200
    assert h["access-control-allow-origin"] == "http://a.example"
    assert "Origin" in [v.strip() for v in h["vary"].split(",")]
    assert h["access-control-expose-headers"] == "X-Next-Cursor"
    assert "access-control-allow-credentials" not in h
    # origins compare case-insensitively
    st, h, _ = http(s, "GET", "/api/status",
                    headers={"Origin": "https://b.example:8443", "x-api-key": ADMIN})
    assert h["access-control-allow-origin"].lower() == "https://b.example:8443"
    # a 401 to an allowed origin still carries the CORS headers, so the page can read it
    st, h, _ = http(s, "GET", "/api/status", headers={"Origin": "http://a.example"})
    assert st == 401 and h["access-control-allow-origin"] == "http://a.example"
    # not listed: no CORS headers at all
    for origin in ("http://evil.example", "http://a.example:8080", "https://a.example"):
        st, h, _ = http(s, "GET", "/api/status", headers={"Origin": origin, "x-api-key": ADMIN})
        assert st == 200 and no_cors(h), (origin, h)
    st, h, body = preflight(s, "http://a.example")
    assert st == 204 and body is None
    assert h["access-control-allow-origin"] == "http://a.example"
    assert h["access-control-allow-methods"] == ALLOW_METHODS
    assert h["access-control-allow-headers"] == ALLOW_HEADERS
    assert h["access-control-max-age"] == "600"
    st, h, body = preflight(s, "http://evil.example")
    assert st == 204 and no_cors(h), h


def test_cors_star_with_a_key_allows_every_origin(server_factory):
    s = server_factory(env={"HYPERSPACE_API_KEY": ADMIN, "HS_CORS_ORIGINS": "*"})
    st, h, _ = http(s, "GET", "/api/status",
                    headers={"Origin": "http://any.example", "x-api-key": ADMIN})
    assert st == 200 and h["access-control-allow-origin"] == "*"
    assert h["access-control-expose-headers"] == "X-Next-Cursor"
    st, h, _ = preflight(s, "http://other.example")
    assert st == 204 and h["access-control-allow-origin"] == "*"
    assert h["access-control-allow-methods"] == ALLOW_METHODS


def test_cors_star_with_a_key_warns_at_start(server_factory):
    s = server_factory(env={"HYPERSPACE_API_KEY": ADMIN, "HS_CORS_ORIGINS": "*"})
    ok(http(s, "GET", "/api/status", headers={"x-api-key": ADMIN}))  # start-up has finished
    warns = [line for line in s.output().splitlines() if " WARN " in line]
    assert any("cors" in line.lower() for line in warns), warns
