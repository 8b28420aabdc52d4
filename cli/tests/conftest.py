"""Fixtures of the hyperspace-cli tests: the real server (tests/integration/conftest.py) and a
private tmux server (its own socket, so no one else's tmux is touched) to drive the monitor."""
import importlib.util
import os
import shutil
import subprocess
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("HS_CLI_BIN", os.path.join(ROOT, "build", "bin", "hyperspace-cli"))

_spec = importlib.util.spec_from_file_location(
    "hs_integration_fixtures", os.path.join(ROOT, "tests", "integration", "conftest.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
server_factory = fx.server_factory
http, ok, free_port = fx.http, fx.ok, fx.free_port


class Tmux:
    def __init__(self):
        self.sock = "hs-cli-test-%d" % os.getpid()

    def run(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.sock] + list(args), check=check,
                              capture_output=True, text=True)

    def start(self, name, argv, width=140, height=32):
        self.run("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
                 " ".join("'%s'" % a for a in argv) + "; sleep 30")
        return name

    def keys(self, name, *keys):
        self.run("send-keys", "-t", name, *keys)

    def screen(self, name):
        return self.run("capture-pane", "-p", "-t", name).stdout

    def wait_for(self, name, pred, what, limit=20):
        """Polls the screen until pred(screen) holds (bounded); fails with the last screen."""
        end = time.monotonic() + limit
        while True:
            s = self.screen(name)
            if pred(s):
                return s
            if time.monotonic() > end:
                raise AssertionError("screen never showed %s:\n%s" % (what, s))
            time.sleep(0.1)

    def close(self):
        self.run("kill-server", check=False)


@pytest.fixture
def tmux():
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    t = Tmux()
    yield t
    t.close()


def cli(server, *args, key=None, env=None):
    """Runs one non-interactive command; returns (exit code, stdout, stderr)."""
    argv = [CLI, "--host", "127.0.0.1", "--port", str(server.grpc_port), "--http-port",
            str(server.http_port)]
    if key:
        argv += ["--api-key", key]
    e = {k: v for k, v in os.environ.items() if not k.startswith("HYPERSPACE_")}
    e.update(env or {})
    r = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=30, env=e)
    return r.returncode, r.stdout, r.stderr
