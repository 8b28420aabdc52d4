"""Build step: generates the gRPC stubs from proto/hyperspace.proto into the built package
(hyperspace/_generated) with protoc + grpc_python_plugin, and ships the proto beside them.
Metadata is in pyproject.toml."""
import importlib.util
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _proto_module():
    spec = importlib.util.spec_from_file_location(
        "hs_proto_codegen", os.path.join(HERE, "hyperspace", "_codegen.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        codegen = _proto_module()
        proto = codegen.find_proto(os.path.join(HERE, "hyperspace"))
        pkg = os.path.join(self.build_lib, "hyperspace")
        shutil.copy(proto, os.path.join(pkg, "hyperspace.proto"))
        codegen.generate(os.path.join(pkg, "_generated"), proto)


setup(cmdclass={"build_py": BuildWithStubs})
