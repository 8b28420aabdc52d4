"""Generates the protobuf and gRPC stubs of `hyperspace.proto` (never committed).

Used by setup.py's build step and by `_proto` on first import in a source checkout.  It needs
Debian's
`protoc` (protobuf-compiler) and `grpc_python_plugin` (protobuf-compiler-grpc), or the
`grpc_tools` module.
"""
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def repo_proto(pkg_dir=HERE):
    """proto/hyperspace.proto of the source checkout this package sits in, if it does."""
    path = os.path.abspath(os.path.join(pkg_dir, "..", "..", "..", "proto", "hyperspace.proto"))
    return path if os.path.isfile(path) else None


def find_proto(pkg_dir=HERE):
    """The proto shipped in the package, else the repository's."""
    for path in (os.path.join(pkg_dir, "hyperspace.proto"), repo_proto(pkg_dir)):
        if path and os.path.isfile(path):
            return os.path.abspath(path)
    raise ImportError("hyperspace: the generated gRPC stubs are missing and hyperspace.proto "
                      "was not found to generate them (reinstall the package)")


def generate(out_dir, proto=None):
    """Writes hyperspace_pb2.py and hyperspace_pb2_grpc.py for `proto` into out_dir."""
    proto = proto or find_proto()
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="hs-proto-")
    try:
        shutil.copy(proto, os.path.join(work, "hyperspace.proto"))
        protoc = shutil.which("protoc")
        plugin = shutil.which("grpc_python_plugin")
        if protoc and plugin:
            cmd = [protoc, "-I" + work, "--python_out=" + work, "--grpc_out=" + work,
                   "--plugin=protoc-gen-grpc=" + plugin, os.path.join(work, "hyperspace.proto")]
        elif importlib.util.find_spec("grpc_tools") is not None:
            cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I" + work, "--python_out=" + work,
                   "--grpc_python_out=" + work, os.path.join(work, "hyperspace.proto")]
        else:
            raise ImportError("hyperspace: generating the gRPC stubs needs protoc and "
                              "grpc_python_plugin (Debian: protobuf-compiler, "
                              "protobuf-compiler-grpc) or grpc_tools")
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise ImportError("hyperspace: protoc failed: " + r.stderr.strip())
        for name in ("hyperspace_pb2.py", "hyperspace_pb2_grpc.py"):
            with open(os.path.join(work, name)) as f:
                text = f.read()
            # the grpc module imports its messages as a top-level module; make it relative
            text = text.replace("import hyperspace_pb2 as", "from . import hyperspace_pb2 as")
            tmp = os.path.join(out_dir, name + ".tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, os.path.join(out_dir, name))
        with open(os.path.join(out_dir, "__init__.py"), "w") as f:
            f.write("# generated from hyperspace.proto by hyperspace._proto.generate()\n")
        with open(os.path.join(out_dir, "PROTO_SHA256"), "w") as f:
            f.write(digest(proto))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fresh(out_dir, proto):
    try:
        with open(os.path.join(out_dir, "PROTO_SHA256")) as f:
            return f.read().strip() == digest(proto)
    except OSError:
        return False


