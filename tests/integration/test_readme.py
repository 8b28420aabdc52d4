"""The README's examples, run as written against a real server.

Every fenced block that follows a `<!-- readme-test -->` line is run in order in one scratch
directory (with a copy of proto/ and sdks/python/): `sh` blocks by bash with -e and pipefail,
`python` blocks by /usr/bin/python3 (`js` blocks are run by the TypeScript SDK's own tests,
sdks/typescript/test/readme.test.mjs, where the package is built), with the build's bin/ on PATH (hyperspace-cli), the copied
Python SDK on PYTHONPATH and HYPERSPACE_PORT / HYPERSPACE_HTTP_PORT set.  Only the addresses
are changed, to the test server's ports.  The comments that
show results (`# [1, 3]`, `# -> {...}`) are checked against what the block printed.
"""
import os
import re
import shutil
import subprocess
import tempfile

from conftest import BIN, ROOT

MARK = "<!-- readme-test -->"


def readme_blocks():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    blocks = []
    for m in re.finditer(re.escape(MARK) + r"\s*\n```(\w+)\n(.*?)\n```", text, re.S):
        blocks.append((m.group(1), m.group(2)))
    return blocks


def expected_outputs(lang, code):
    """What a block says it prints: `print(...)  # <value>` lines and `# -> <text>` lines."""
    out = []
    for line in code.splitlines():
        if lang == "python":
            m = re.match(r"\s*print\(.*\)\s+#\s*(.+)$", line)
            if m:
                out.append(m.group(1).strip())
        m = re.match(r"\s*#\s*->\s*(.+)$", line)
        if m:
            out.append(m.group(1).strip())
    return out


def matches(expected, printed):
    """`...` in an expected line stands for any text."""
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.search(pattern, printed) is not None


def test_readme_examples_run_as_written(server):
    blocks = readme_blocks()
    assert len(blocks) >= 4, "README lost its tested examples"
    work = tempfile.mkdtemp(prefix="hs-readme-")
    shutil.copytree(os.path.join(ROOT, "proto"), os.path.join(work, "proto"))
    shutil.copytree(os.path.join(ROOT, "sdks", "python"), os.path.join(work, "sdks", "python"),
                    ignore=shutil.ignore_patterns("_generated", "__pycache__", "tests"))
    env = dict(os.environ, PATH=os.path.dirname(BIN) + os.pathsep + os.environ["PATH"],
               PYTHONPATH=os.path.join(work, "sdks", "python"),
               HYPERSPACE_PORT=str(server.grpc_port), HYPERSPACE_HTTP_PORT=str(server.http_port))
    try:
        for i, (lang, code) in enumerate(blocks):
            code = code.replace("127.0.0.1:50050", "127.0.0.1:%d" % server.http_port)
            code = code.replace("127.0.0.1:50051", "127.0.0.1:%d" % server.grpc_port)
            if lang == "js":
                continue  # run by sdk_typescript (sdks/typescript/test/readme.test.mjs)
            if lang == "sh":
                cmd = ["bash", "-e", "-o", "pipefail", "-c", code]
            elif lang == "python":
                cmd = ["/usr/bin/python3", "-c", code]
            else:
                raise AssertionError("unexpected block language %r" % lang)
            r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=60, env=env)
            assert r.returncode == 0, "README block %d (%s) failed:\n%s\n%s" % (
                i, lang, r.stdout, r.stderr)
            for exp in expected_outputs(lang, code):
                assert matches(exp, r.stdout), "README block %d: expected %r in:\n%s" % (
                    i, exp, r.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
