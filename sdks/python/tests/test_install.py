"""`pip install ./sdks/python` builds the package with its generated stubs, and the installed
copy works from another directory."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import SDK

PIP = [sys.executable, "-m", "pip"]


def test_pip_install_builds_the_stubs(shared_server):
    if subprocess.run(PIP + ["--version"], capture_output=True).returncode != 0:
        pytest.skip("pip is not installed (Debian python3-pip)")
    target = tempfile.mkdtemp(prefix="hs-pip-")
    src = tempfile.mkdtemp(prefix="hs-src-")
    try:
        # a copy of the repository's parts the build reads, without a generated folder
        shutil.copytree(SDK, os.path.join(src, "sdks", "python"),
                        ignore=shutil.ignore_patterns("_generated", "__pycache__", "build",
                                                      "*.egg-info", "tests"))
        os.makedirs(os.path.join(src, "proto"))
        shutil.copy(os.path.join(SDK, "..", "..", "proto", "hyperspace.proto"),
                    os.path.join(src, "proto"))
        r = subprocess.run(PIP + ["install", "--no-deps", "--no-build-isolation", "--no-index",
                                  "--disable-pip-version-check", "--target", target,
                                  os.path.join(src, "sdks", "python")],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        pkg = os.path.join(target, "hyperspace")
        for f in ("_generated/hyperspace_pb2.py", "_generated/hyperspace_pb2_grpc.py",
                  "hyperspace.proto", "client.py"):
            assert os.path.isfile(os.path.join(pkg, f)), f
        assert any(d.startswith("hyperspacedb-2.0.0") for d in os.listdir(target))
        code = ("import hyperspace, sys; c = hyperspace.Client(sys.argv[1]); "
                "c.create_collection('pip_ok', 2, 'l2'); c.insert(1, [0.5, 0.5], "
                "collection='pip_ok'); print(hyperspace.__file__); "
                "print(c.search([0.5, 0.5], collection='pip_ok')[0]['id'])")
        env = dict(os.environ, PYTHONPATH=target)
        r = subprocess.run([sys.executable, "-c", code, shared_server.grpc_target],
                           cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.split()
        assert lines[0].startswith(target) and lines[1] == "1"
    finally:
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(src, ignore_errors=True)
