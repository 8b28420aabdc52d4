"""Fixtures of the integration suite: the real hyperspace-server on random loopback ports.

The server binary comes from $HS_SERVER_BIN (ctest sets it).  Client stubs are generated at
session start with protoc + grpc_python_plugin from proto/hyperspace.proto rewritten back to the
upstream v2.0.0 text (proto3 `optional` fields instead of one-field oneofs), so the tests speak
exactly what an unchanged v2.0.0 client speaks.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import json

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("HS_SERVER_BIN", os.path.join(ROOT, "build", "bin", "hyperspace-server"))


def upstream_proto_text():
    """Our proto with `oneof _x { T x = N; }` written back as upstream's `optional T x = N;`."""
    with open(os.path.join(ROOT, "proto", "hyperspace.proto")) as f:
        text = f.read()
    return re.sub(r"oneof\s+_(\w+)\s*\{\s*([\w.]+)\s+(\w+)\s*=\s*(\d+);\s*\}",
                  lambda m: "optional %s %s = %s;" % (m.group(2), m.group(3), m.group(4)), text)


@pytest.fixture(scope="session")
def pb():
    """(hyperspace_pb2, hyperspace_pb2_grpc) generated from the upstream field layout."""
    return generate_stubs()


def generate_stubs():
    """Generates the client stubs into a temporary directory and imports them (also used by
    tests/chaos, which runs outside pytest)."""
    out = tempfile.mkdtemp(prefix="hs-stubs-")
    with open(os.path.join(out, "hyperspace.proto"), "w") as f:
        f.write(upstream_proto_text())
    subprocess.run(["protoc", "-I" + out, "--python_out=" + out, "--grpc_out=" + out,
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
                    os.path.join(out, "hyperspace.proto")], check=True)
    sys.path.insert(0, out)
    import hyperspace_pb2
    import hyperspace_pb2_grpc
    return hyperspace_pb2, hyperspace_pb2_grpc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One hyperspace-server process with its own data directory and ports."""

    def __init__(self, data_dir=None, env=None, args=None):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="hs-data-")
        self.env = dict(env or {})
        self.args = list(args or [])
        self.proc = None
        self.log_path = os.path.join(tempfile.mkdtemp(prefix="hs-log-"), "server.log")

    def start(self, wait=True):
        self.grpc_port, self.http_port = free_port(), free_port()
        self.port_retries = 0
        return self._launch(wait)

    def _launch(self, wait):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HS_") and not k.startswith("HYPERSPACE_")}
        env.setdefault("HS_IDLE_TIMEOUT_SEC", "3600")
        # the reworded run (ctest integration_reworded): every engine message gets a prefix, so
        # a server deciding anything from the engine's wording fails the suite
        if os.environ.get("HS_ERROR_REWORD"):
            env["HS_ERROR_REWORD"] = os.environ["HS_ERROR_REWORD"]
        env.update(self.env)
        self.log = open(self.log_path, "ab")
        self.log_start = self.log.tell()
        self.proc = subprocess.Popen(
            [BIN, "--host", "127.0.0.1", "--port", str(self.grpc_port), "--http-port",
             str(self.http_port), "--data-dir", self.data_dir] + self.args,
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=self.data_dir)
        if wait:
            self.wait_ready()
        return self

    def port_taken_retry(self):
        """A port free_port() found free was taken by another process before the server bound
        it (ports from bind(0) are the ones outgoing connections use too): starts the server
        again on new ports, at most 5 times.  True when it did."""
        if self.proc is None or self.proc.poll() is None or self.port_retries >= 5:
            return False
        if "Address already in use" not in self.output()[getattr(self, "log_start", 0):]:
            return False
        self.port_retries += 1
        self.log.close()
        self.grpc_port, self.http_port = free_port(), free_port()
        self._launch(False)
        return True

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.port_taken_retry():
                continue
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %d:\n%s" % (self.proc.returncode,
                                                                    self.output()))
            # the server is ready once it has logged its gRPC listener (B12.1 step 5)
            if "HTTP listening on" in self.output():
                return
            time.sleep(0.05)
        raise RuntimeError("server not ready in %ss:\n%s" % (timeout, self.output()))

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    @property
    def grpc_target(self):
        return "127.0.0.1:%d" % self.grpc_port

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the process; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def server_factory():
    """Starts servers on demand (`server_factory(env={...}, args=[...])`); stops them after."""
    made = []

    def make(**kw):
        start = kw.pop("start", True)
        s = Server(**kw)
        made.append(s)
        return s.start() if start else s

    yield make
    problems = []
    codes = [s.stop() for s in made]  # all stopped before any directory is removed
    for s, rc in zip(made, codes):
        out = s.output()
        # a server that crashed, exited with an error, or (sanitizer builds) reported memory
        # errors, undefined behaviour or leaks fails the test
        mine = []
        if rc is not None and rc != 0:
            mine.append("server exited with %d" % rc)
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer"):
            if mark in out:
                mine.append("sanitizer report: " + mark)
        if mine:
            problems += mine + [out[-20000:]]
    for s in made:
        s.cleanup()
    assert not problems, "\n".join(problems)


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "ThreadSanitizer")


def finish(s):
    """Stops a server started outside the factory (a module's shared server) and checks that it
    ended cleanly: exit 0 and no sanitizer report."""
    rc = s.stop()
    out = s.output()
    s.cleanup()
    assert rc == 0, "server exited with %s:\n%s" % (rc, out[-5000:])
    for mark in SANITIZER_MARKS:
        assert mark not in out, out[-20000:]


def ok(resp, status=200):
    """The parsed body of an http() answer that must have this status."""
    st, _, body = resp
    assert st == status, body
    return body


def short_id(v):
    """Short readable test ids for long or binary parameters."""
    if isinstance(v, (bytes, str)):
        t = v.decode("latin-1") if isinstance(v, bytes) else v
        t = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "_-.:/" else "_" for ch in t)
        return t[:32] + ("~%d" % len(t) if len(t) > 32 else "")
    return None


@pytest.fixture
def server(server_factory):
    return server_factory()


@pytest.fixture(scope="module")
def srv():
    """One server shared by the tests of a module (default settings)."""
    s = Server().start()
    yield s
    finish(s)


@pytest.fixture(scope="module")
def rpc(srv, pb):
    """(messages, stub) of the module's server."""
    import grpc
    ch = grpc.insecure_channel(srv.grpc_target)
    yield pb[0], pb[1].DatabaseStub(ch)
    ch.close()


@pytest.fixture
def stub(server, pb):
    import grpc
    ch = grpc.insecure_channel(server.grpc_target)
    yield pb[1].DatabaseStub(ch)
    ch.close()


def http(server, method, path, body=None, headers=None, raw=None, timeout=30):
    """One HTTP request; returns (status, headers dict (lower-case names), parsed JSON or text)."""
    data = raw
    hdrs = {k: v for k, v in (headers or {}).items()}
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(server.url(path), data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, rh, payload = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, rh, payload = e.code, e.headers, e.read()
    text = payload.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return status, {k.lower(): v for k, v in rh.items()}, parsed


def rss_mb(pid):
    """The resident set of process pid, in MiB (/proc/<pid>/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS")


def restart(s, sig=signal.SIGTERM):
    """Stops and starts s, then waits until it is ready (its log still holds the first start's
    line, so the start itself does not wait)."""
    s.stop(sig=sig)
    s.start()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if http(s, "GET", "/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("not ready:\n" + s.output()[-3000:])
