"""Fixtures of the Python SDK tests: the real hyperspace-server (tests/integration/conftest.py's
Server, on random loopback ports) and the SDK imported from this source tree."""
import importlib.util
import os
import sys

import pytest

SDK = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ROOT = os.path.abspath(os.path.join(SDK, "..", ".."))
sys.path.insert(0, SDK)

_spec = importlib.util.spec_from_file_location(
    "hs_integration_fixtures", os.path.join(ROOT, "tests", "integration", "conftest.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
Server, free_port, http, finish = fx.Server, fx.free_port, fx.http, fx.finish
server_factory = fx.server_factory  # the fixture, re-exported


@pytest.fixture(scope="module")
def shared_server():
    """One server for a module's tests (each test uses its own collection names)."""
    s = Server().start()
    yield s
    finish(s)


def grpc_client(s, **kw):
    import hyperspace
    return hyperspace.HyperspaceClient(s.grpc_target, http_url=s.url(""), **kw)


def http_client(s, **kw):
    import hyperspace
    return hyperspace.HyperspaceClient(s.url(""), **kw)
