"""The node as a whole: settings and their sources, secrets kept out of logs, the Monitor stream,
roles of the node (follower, promotion that survives a restart), start-up and shutdown."""
import os
import signal
import subprocess
import tempfile
import time

import grpc
import pytest

from conftest import BIN, http


def test_settings_precedence_flag_env_file(server_factory, tmp_path):
    data = str(tmp_path / "data")
    os.makedirs(data)
    # the settings file: read from --config; the environment wins over it, flags over both
    cfg = tmp_path / "hs.env"
    cfg.write_text("HS_DIMENSION=8\nHS_METRIC=l2\nHS_HNSW_EF_SEARCH=33\n# a comment\n\n")
    s = server_factory(data_dir=data, env={"HS_METRIC": "poincare"},
                       args=["--config", str(cfg)])
    st, _, body = http(s, "GET", "/api/status")
    assert st == 200
    assert body["config"] == {"dimension": 8, "metric": "poincare", "quantization": "none"}
    out = s.output()
    assert "HS_DIMENSION = 8 (file)" in out
    assert "HS_METRIC = poincare (environment)" in out
    assert "HS_PORT = %d (flag)" % s.grpc_port in out


def test_invalid_setting_stops_start_with_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HS_", "HYPERSPACE_"))}
    env["HS_DIMENSION"] = "0"
    r = subprocess.run([BIN, "--data-dir", str(tmp_path), "--port", "1", "--http-port", "2"],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "HS_DIMENSION" in r.stdout + r.stderr
    env["HS_DIMENSION"] = "16"
    env["HYPERSPACE_API_KEY"] = ""
    r = subprocess.run([BIN, "--data-dir", str(tmp_path)], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2


def test_keys_never_logged(server_factory):
    s = server_factory(env={"HYPERSPACE_API_KEY": "sup3r-s3cret-key"})
    st, _, _ = http(s, "GET", "/api/status", headers={"x-api-key": "wrong-key-123"})
    assert st == 401
    st, _, logs = http(s, "GET", "/api/logs?limit=1000",
                       headers={"x-api-key": "sup3r-s3cret-key"})
    assert st == 200 and isinstance(logs, list) and logs
    assert all(isinstance(line, str) for line in logs)
    text = s.output() + "\n".join(logs)
    assert "sup3r-s3cret-key" not in text and "wrong-key-123" not in text
    st, _, metrics = http(s, "GET", "/metrics", headers={"x-api-key": "sup3r-s3cret-key"})
    assert st == 200 and "sup3r-s3cret-key" not in metrics
    assert "hyperspace_auth_failures_total" in metrics


def test_monitor_streams_real_stats_every_second(server, pb):
    st, _, body = http(server, "POST", "/api/collections",
                       {"name": "mon", "dimension": 2, "metric": "l2"})
    assert st == 201
    st, _, _ = http(server, "POST", "/api/collections/mon/insert/batch",
                    {"vectors": [{"id": i, "vector": [i, 1]} for i in range(25)]})
    assert st == 200
    with grpc.insecure_channel(server.grpc_target) as ch:
        stub = pb[1].DatabaseStub(ch)
        stream = stub.Monitor(pb[0].MonitorRequest(), timeout=20)
        t0 = time.monotonic()
        got = []
        for msg in stream:
            got.append((time.monotonic() - t0, msg))
            if len(got) == 3:
                break
        stream.cancel()
    assert got[0][1].total_vectors == 25
    assert got[0][1].total_collections == 2  # "default" and "mon"
    assert got[0][1].total_memory_mb > 1  # the process RSS, not a placeholder
    # one message at once, then one per second (generous bounds: shared CI machines)
    assert got[2][0] >= 1.5


def test_monitor_streams_cancelled_at_any_moment_and_open_at_shutdown(server_factory, pb):
    """A Monitor call's close and status completions can be taken by two completion threads in
    either order; the call is freed after the last.  Streams are cancelled at random moments
    (before, during and after a message) and four are still open when the server stops: the
    server must answer throughout and stop cleanly (exit 0; under the sanitizer builds, no
    report: the fixture checks both)."""
    import random
    import threading
    s = server_factory()
    rng = random.Random(7)
    errors = []

    def client(seed):
        r = random.Random(seed)
        with grpc.insecure_channel(s.grpc_target) as ch:
            stub = pb[1].DatabaseStub(ch)
            for _ in range(12):
                stream = stub.Monitor(pb[0].MonitorRequest(), timeout=20)
                want = r.choice([0, 0, 1, 2])
                if want:
                    try:
                        for i, _msg in enumerate(stream):
                            if i + 1 >= want:
                                break
                    except grpc.RpcError as e:
                        errors.append(e.code())
                time.sleep(r.random() * 0.02)
                stream.cancel()

    threads = [threading.Thread(target=client, args=(rng.random(),)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    st, _, _ = http(s, "GET", "/api/status")
    assert st == 200
    # four streams open when the server stops: each ends with UNAVAILABLE
    ch = grpc.insecure_channel(s.grpc_target)
    stub = pb[1].DatabaseStub(ch)
    streams = [stub.Monitor(pb[0].MonitorRequest(), timeout=20) for _ in range(4)]
    for st_ in streams:
        next(st_)
    s.proc.send_signal(signal.SIGTERM)
    codes = []
    for st_ in streams:
        try:
            for _msg in st_:
                pass
        except grpc.RpcError as e:
            codes.append(e.code())
    ch.close()
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 4, codes
    assert s.proc.wait(30) == 0


def test_sigterm_while_a_call_outlives_the_grace(server_factory, pb):
    """A strict write waits for a follower that never comes (HS_SYNC_TIMEOUT_MS 16 s, 5 s past
    the grace: room for a loaded machine) and the server gets SIGTERM: after the 10 s grace the
    call is cancelled, but its handler answers only when the wait ends; the completion queue must
    still take that answer (it aborted the process in gRPC's assertion when the queue was shut
    down first).  Exit 0, and the client gets its answer."""
    import threading
    s0 = server_factory()
    st, _, _ = http(s0, "POST", "/api/collections", {"name": "c", "dimension": 2, "metric": "l2"})
    assert st == 201
    assert s0.stop() == 0
    s = server_factory(data_dir=s0.data_dir,
                       env={"HS_SYNC_REPLICAS": "1", "HS_SYNC_TIMEOUT_MS": "16000"})
    got = {}

    def insert():
        with grpc.insecure_channel(s.grpc_target) as ch:
            try:
                pb[1].DatabaseStub(ch).Insert(
                    pb[0].InsertRequest(id=1, vector=[1.0, 2.0], collection="c"), timeout=60)
                got["code"] = grpc.StatusCode.OK
            except grpc.RpcError as e:
                got["code"] = e.code()

    t = threading.Thread(target=insert)
    t.start()
    # the write is applied before it waits for the follower: visible means the call is running
    deadline = time.time() + 30
    while http(s, "GET", "/api/collections/c/points/1")[0] != 200:
        assert time.time() < deadline, s.output()[-3000:]
        time.sleep(0.05)
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(60) == 0, s.output()[-3000:]
    t.join(30)
    assert "code" in got
    assert "waiting for 1 calls to finish" in s.output()


def test_insert_text_says_what_is_missing(stub, pb):
    with pytest.raises(grpc.RpcError) as ei:
        stub.InsertText(pb[0].InsertTextRequest(id=1, text="hello"))
    assert ei.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert ei.value.details() == "Embedding feature not compiled"


def test_follower_refuses_writes_and_promotion_survives_restart(server_factory, pb):
    s = server_factory(args=["--role", "follower", "--leader", "http://10.9.9.9:50051"])
    st, _, body = http(s, "GET", "/api/cluster/status")
    assert body["role"] == "Follower" and body["upstream_peer"] == "http://10.9.9.9:50051"
    assert body["replication"]["connected"] is False
    st, _, body = http(s, "POST", "/api/collections", {"name": "a", "dimension": 2,
                                                      "metric": "l2"})
    assert st == 409 and body["error"] == {"code": "FOLLOWER_READ_ONLY",
                                           "message": "Followers are read-only",
                                           "details": {"leader": "http://10.9.9.9:50051"}}
    with grpc.insecure_channel(s.grpc_target) as ch:
        with pytest.raises(grpc.RpcError) as ei:
            pb[1].DatabaseStub(ch).Insert(pb[0].InsertRequest(id=1, vector=[0.1] * 1024))
        assert ei.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # reads still work
    st, _, body = http(s, "GET", "/api/collections")
    assert st == 200
    st, _, body = http(s, "POST", "/api/cluster/promote")
    assert st == 200 and body["role"] == "Leader" and body["previous_role"] == "Follower"
    st, _, body = http(s, "POST", "/api/collections", {"name": "a", "dimension": 2,
                                                      "metric": "l2"})
    assert st == 201
    # promoting a leader changes nothing
    st, _, body = http(s, "POST", "/api/cluster/promote")
    assert st == 200 and body["previous_role"] == "Leader"
    assert s.stop() == 0
    s2 = server_factory(data_dir=s.data_dir)  # no --role
    st, _, body = http(s2, "GET", "/api/cluster/status")
    assert body["role"] == "Leader" and body["replication"] is None
    st, _, body = http(s2, "POST", "/api/collections/a/insert", {"id": 1, "vector": [1, 2]})
    assert st == 200


def test_sigterm_finishes_cleanly_and_keeps_acknowledged_writes(server_factory):
    s = server_factory(env={"HYPERSPACE_WAL_SYNC_MODE": "async"})
    st, _, _ = http(s, "POST", "/api/collections", {"name": "d", "dimension": 3,
                                                   "metric": "cosine"})
    assert st == 201
    for i in range(20):
        st, _, _ = http(s, "POST", "/api/collections/d/insert",
                        {"id": i, "vector": [1, i, 2], "durability": "async"})
        assert st == 200
    assert s.stop(signal.SIGTERM) == 0
    out = s.output()
    assert "final snapshot" in out and "stopped" in out
    s2 = server_factory(data_dir=s.data_dir)
    st, _, body = http(s2, "POST", "/api/collections/d/count", {})
    assert body == {"count": 20}


def test_readyz_and_healthz_without_key(server_factory):
    s = server_factory(env={"HYPERSPACE_API_KEY": "k"})
    st, _, body = http(s, "GET", "/healthz")
    assert (st, body) == (200, {"status": "ok"})
    st, _, body = http(s, "GET", "/readyz")
    assert st == 200 and body == {"status": "ready", "role": "Leader",
                                  "quarantined_collections": 0}
    st, _, _ = http(s, "GET", "/metrics")
    assert st == 401


def test_keys_file_roles_and_sighup_reload(server_factory, tmp_path):
    import hashlib

    def line(role, key, tenant=""):
        return "%s %s %s\n" % (role, hashlib.sha256(key.encode()).hexdigest(), tenant)

    keys = tmp_path / "keys"
    keys.write_text("# role digest [tenant]\n" + line("admin", "adm") + line("reader", "rd"))
    s = server_factory(env={"HYPERSPACE_API_KEYS_FILE": str(keys)})
    st, _, body = http(s, "POST", "/api/collections", {"name": "k", "dimension": 2,
                                                      "metric": "l2"},
                       headers={"x-api-key": "adm"})
    assert st == 201
    ins = {"id": 1, "vector": [1, 2]}
    st, _, body = http(s, "POST", "/api/collections/k/insert", ins, headers={"x-api-key": "rd"})
    assert st == 403 and body["error"]["message"] == \
        "Role 'reader' is not allowed to call POST /api/collections/{name}/insert"
    # the reader key becomes a writer key; an invalid file on reload keeps the old keys
    keys.write_text(line("admin", "adm") + line("writer", "rd"))
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and "reloaded" not in s.output():
        time.sleep(0.05)
    st, _, body = http(s, "POST", "/api/collections/k/insert", ins, headers={"x-api-key": "rd"})
    assert st == 200, body
    keys.write_text("superuser 1234\n")
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and "rejected on reload" not in s.output():
        time.sleep(0.05)
    assert "rejected on reload" in s.output()
    st, _, body = http(s, "POST", "/api/collections/k/insert", ins, headers={"x-api-key": "rd"})
    assert st == 200, body
