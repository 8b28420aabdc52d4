"""`make install`: the staged DESTDIR tree, a program built against the installed engine through
pkg-config (shared and static), the installed server and CLI, and `systemd-analyze verify` on
the unit."""
import glob
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("HS_BUILD_DIR", os.path.join(ROOT, "build"))


def make_install(**vars):
    args = ["make", "--no-print-directory", "-C", ROOT, "install", "BUILD=" + BUILD]
    args += ["%s=%s" % kv for kv in vars.items()]
    r = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:]
    return r.stdout


@pytest.fixture(scope="module", autouse=True)
def restore_prefix():
    """make install records its PREFIX in the build's cache; put back the default afterwards."""
    yield
    subprocess.run(["cmake", BUILD, "-DCMAKE_INSTALL_PREFIX=/usr/local"], capture_output=True)


@pytest.fixture(scope="module")
def staged():
    dest = tempfile.mkdtemp(prefix="hs-destdir-")
    make_install(DESTDIR=dest, PREFIX="/usr")
    yield dest
    shutil.rmtree(dest, ignore_errors=True)


def test_destdir_tree(staged):
    files = sorted(os.path.relpath(p, staged) for p in glob.glob(staged + "/**", recursive=True)
                   if not os.path.isdir(p))
    [libdir] = {os.path.dirname(f) for f in files if f.endswith("libhyperspace.a")}
    assert libdir.startswith("usr/lib")
    want = ["etc/hyperspace/hyperspace.conf", "usr/bin/hyperspace-cli", "usr/bin/hyperspace-server",
            "usr/include/hyperspace.h", libdir + "/libhyperspace.a", libdir + "/libhyperspace.so",
            libdir + "/libhyperspace.so.0", libdir + "/libhyperspace.so.0.1.0",
            libdir + "/pkgconfig/hyperspace.pc", "usr/lib/systemd/system/hyperspace.service"]
    assert files == sorted(want)
    for b in ("hyperspace-server", "hyperspace-cli"):
        assert os.stat(os.path.join(staged, "usr/bin", b)).st_mode & stat.S_IXOTH
    assert os.readlink(os.path.join(staged, libdir, "libhyperspace.so")) == "libhyperspace.so.0"
    pc = open(os.path.join(staged, libdir, "pkgconfig/hyperspace.pc")).read()
    assert "prefix=/usr\n" in pc and "-lhyperspace" in pc and "includedir=/usr/include" in pc
    unit = open(os.path.join(staged, "usr/lib/systemd/system/hyperspace.service")).read()
    assert "ExecStart=/usr/bin/hyperspace-server --config /etc/hyperspace/hyperspace.conf" in unit
    for opt in ("DynamicUser=yes", "StateDirectory=hyperspace", "ProtectSystem=strict",
                "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "MemoryDenyWriteExecute=yes",
                "SystemCallFilter=@system-service", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"):
        assert opt in unit, opt
    conf = open(os.path.join(staged, "etc/hyperspace/hyperspace.conf")).read()
    assert "HS_HOST=127.0.0.1" in conf


def _pkg_config(staged, *args):
    [pcdir] = glob.glob(os.path.join(staged, "usr/lib/**/pkgconfig"), recursive=True)
    env = dict(os.environ, PKG_CONFIG_SYSROOT_DIR=staged, PKG_CONFIG_LIBDIR=pcdir + ":" +
               ":".join(glob.glob("/usr/lib/*/pkgconfig") + ["/usr/share/pkgconfig"]))
    r = subprocess.run(["pkg-config"] + list(args) + ["hyperspace"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


@pytest.mark.parametrize("link", ["shared", "static"])
def test_program_builds_against_the_installed_engine(staged, link):
    work = tempfile.mkdtemp(prefix="hs-embed-")
    exe = os.path.join(work, "embed")
    flags = _pkg_config(staged, "--cflags", "--libs", *(["--static"] if link == "static" else []))
    cmd = ["cc", "-o", exe, os.path.join(HERE, "embed_example.c")] + flags
    if link == "static":  # the archive, not the .so beside it
        cmd = [a for a in cmd if a != "-lhyperspace"]
        libdir = [a[2:] for a in flags if a.startswith("-L")][0]
        cmd.insert(4, os.path.join(libdir, "libhyperspace.a"))
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, " ".join(cmd) + "\n" + r.stderr
    libdir = [a[2:] for a in flags if a.startswith("-L")][0]
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    r = subprocess.run([exe, os.path.join(work, "db")], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "nearest 2", r.stdout + r.stderr
    ldd = subprocess.run(["ldd", exe], env=env, capture_output=True, text=True).stdout
    assert ("libhyperspace.so.0 => " + libdir in ldd) == (link == "shared"), ldd
    shutil.rmtree(work, ignore_errors=True)


def test_installed_server_and_cli_run_with_the_default_settings(staged):
    import socket
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    data = tempfile.mkdtemp(prefix="hs-installed-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HS_", "HYPERSPACE_"))}
    log = open(os.path.join(data, "log"), "w+")
    p = subprocess.Popen([os.path.join(staged, "usr/bin/hyperspace-server"), "--config",
                          os.path.join(staged, "etc/hyperspace/hyperspace.conf"), "--data-dir",
                          os.path.join(data, "d"), "--port", str(ports[0]), "--http-port",
                          str(ports[1])], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        cli = [os.path.join(staged, "usr/bin/hyperspace-cli"), "--port", str(ports[0]),
               "--http-port", str(ports[1])]
        for _ in range(200):
            r = subprocess.run(cli + ["status", "--json"], capture_output=True, text=True)
            if r.returncode == 0:
                break
            assert p.poll() is None, open(log.name).read()
            subprocess.run(["sleep", "0.05"])
        assert r.returncode == 0 and '"ONLINE"' in r.stdout, r.stderr
        log.seek(0)
        assert "setting HS_HOST = 127.0.0.1 (file)" in log.read()  # the settings file was read
    finally:
        p.terminate()
        assert p.wait(30) == 0
        shutil.rmtree(data, ignore_errors=True)


def test_systemd_unit_verifies():
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # installed under a scratch prefix so ExecStart names a binary that exists
    prefix = tempfile.mkdtemp(prefix="hs-prefix-")
    make_install(PREFIX=os.path.join(prefix, "usr"))
    unit = os.path.join(prefix, "usr/lib/systemd/system/hyperspace.service")
    r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit],
                       capture_output=True, text=True)
    assert "Overall exposure level" in r.stdout, r.stdout + r.stderr
    level = float(r.stdout.split("Overall exposure level for hyperspace.service:")[1].split()[0])
    assert level <= 2.0, r.stdout
    shutil.rmtree(prefix, ignore_errors=True)
