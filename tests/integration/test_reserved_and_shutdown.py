"""Tenant names that would collide with the data directory's own files (file-format.md: LOCK,
node.json) are refused with 400 INVALID_TENANT on both transports, and SIGTERM is prompt while a
client keeps an idle gRPC channel open (grpc.md, shutdown)."""
import datetime
import os
import signal
import time

import grpc
import pytest

from conftest import http, ok

RESERVED = ["LOCK", "node.json", "lock", "Node.JSON"]


@pytest.mark.parametrize("tenant", RESERVED)
def test_reserved_tenant_is_refused_over_http(server_factory, tenant):
    s = server_factory()
    st, _, body = http(s, "POST", "/api/collections", {"name": "c", "dimension": 2,
                                                       "metric": "l2"},
                       headers={"x-hyperspace-user-id": tenant})
    assert st == 400, body
    assert body["error"]["code"] == "INVALID_TENANT"
    assert "reserved" in body["error"]["message"] and tenant in body["error"]["message"]
    # nothing changed on disk: the files are still files and no tenant directory appeared
    assert os.path.isfile(os.path.join(s.data_dir, "LOCK"))
    assert os.path.isfile(os.path.join(s.data_dir, "node.json"))
    extra = [n for n in os.listdir(s.data_dir)
             if n not in ("LOCK", "node.json", "default_admin") and not n.startswith(".")]
    assert extra == []
    # the server still works for a normal tenant
    ok(http(s, "POST", "/api/collections", {"name": "c", "dimension": 2, "metric": "l2"},
            headers={"x-hyperspace-user-id": "lockx"}), 201)


def test_reserved_tenant_is_refused_over_grpc(server_factory, pb):
    s = server_factory()
    with grpc.insecure_channel(s.grpc_target) as ch:
        stub = pb[1].DatabaseStub(ch)
        for tenant in ("LOCK", "node.json"):
            with pytest.raises(grpc.RpcError) as e:
                stub.CreateCollection(pb[0].CreateCollectionRequest(
                    name="c", dimension=2, metric="l2"),
                    metadata=[("x-hyperspace-user-id", tenant)], timeout=10)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "reserved" in e.value.details()
        stub.CreateCollection(pb[0].CreateCollectionRequest(name="c", dimension=2, metric="l2"),
                              metadata=[("x-hyperspace-user-id", "t1")], timeout=10)


def test_reserved_tenant_in_keys_file_stops_start(tmp_path):
    import subprocess
    from conftest import BIN, free_port
    keys = tmp_path / "keys.txt"
    keys.write_text("writer %s LOCK\n" % ("ab" * 32))
    p = subprocess.run([BIN, "--host", "127.0.0.1", "--port", str(free_port()), "--http-port",
                        str(free_port()), "--data-dir", str(tmp_path / "d")],
                       env={"HYPERSPACE_API_KEYS_FILE": str(keys), "PATH": "/usr/bin:/bin"},
                       capture_output=True, timeout=30)
    assert p.returncode != 0
    assert b"reserved tenant name" in p.stdout + p.stderr


def test_sigterm_with_an_idle_grpc_channel_is_prompt(server_factory, pb):
    s = server_factory()
    ch = grpc.insecure_channel(s.grpc_target)
    try:
        stub = pb[1].DatabaseStub(ch)
        stub.ListCollections(pb[0].Empty(), timeout=10)  # the channel is connected, then idle
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        rc = s.proc.wait(30)
        took = time.monotonic() - t0
    finally:
        ch.close()
    assert rc == 0, s.output()[-3000:]
    assert "stopped" in s.output()
    # it used to take 5 s (the idle channel held the gRPC stop); now it ends as soon as no call
    # is running. Timed between the server's own log lines, from the signal to "stopped": the
    # process's exit after them (a sanitizer's leak scan) is not what is measured.
    stamps = {}
    for line in s.output().splitlines():
        for key in ("signal 15: shutting down", "stopped"):
            if line.endswith(" " + key):
                stamps[key] = datetime.datetime.strptime(line.split(" ", 1)[0],
                                                         "%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(stamps) == 2, s.output()[-3000:]
    inside = (stamps["stopped"] - stamps["signal 15: shutting down"]).total_seconds()
    assert inside < 3.0, "shutting down took %.2f s (the process %.2f s)" % (inside, took)
    print("SIGTERM with an idle gRPC channel: stopped after %.3f s, exit after %.3f s"
          % (inside, took))
