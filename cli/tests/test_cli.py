"""hyperspace-cli against a real server: the monitor driven through tmux (live figures that
change after writes, navigation, sort, filter, details, confirmed actions, clear errors) and the
non-interactive commands."""
import hashlib
import json
import os
import re
import tempfile

from conftest import CLI, cli, free_port, http, ok


def row(screen, name):
    for line in screen.splitlines():
        if re.match(r"^[> ]%s\s" % re.escape(name), line):
            return line.split()
    return None


def count_of(screen, name):
    r = row(screen, name)
    return int(r[1 if r[0] != ">" else 2]) if r else None


def order(screen):
    """The collection names in row order."""
    return [m.group(1) for m in re.finditer(r"^[> ](\w+)\s+\d+\s", screen, re.M)]


def monitor_argv(s, *extra):
    return [CLI, "--port", str(s.grpc_port), "--http-port", str(s.http_port)] + list(extra)


def test_monitor_shows_live_figures_and_navigates(server_factory, tmux):
    s = server_factory()
    for name, dim in (("alpha", 4), ("beta", 2)):
        ok(http(s, "POST", "/api/collections", {"name": name, "dimension": dim, "metric": "l2"}),
           201)
    t = tmux.start("mon", monitor_argv(s))
    scr = tmux.wait_for(t, lambda x: "alpha" in x and "beta" in x, "both collections")
    assert "role Leader" in scr and "gRPC :%d up" % s.grpc_port in scr
    assert count_of(scr, "alpha") == 0

    # writes: the count and the vector total follow
    ok(http(s, "POST", "/api/collections/alpha/insert/batch", {"vectors": [
        {"id": i, "vector": [i, 1, 2, 3]} for i in range(50)]}))
    scr = tmux.wait_for(t, lambda x: count_of(x, "alpha") == 50, "alpha's count 50")
    assert "vectors 50" in scr
    # searches: the rate line and the collection's last use move
    for _ in range(30):
        ok(http(s, "POST", "/api/collections/beta/search", {"vector": [0, 0]}))
    tmux.wait_for(t, lambda x: re.search(r"searches/s [1-9]", x), "a search rate")
    tmux.wait_for(t, lambda x: (row(x, "beta") or [""])[-1] in ("now", "ago"),
                  "beta's last use")

    # the server's own `default` collection (0 points) is listed too.  Sort by count: alpha
    # (50) first, ties by name; reverse turns the whole order round
    assert order(tmux.screen(t)) == ["alpha", "beta", "default"]
    ok(http(s, "POST", "/api/collections/beta/insert/batch", {"vectors": [
        {"id": i, "vector": [i, 1]} for i in range(60)]}))
    tmux.wait_for(t, lambda x: count_of(x, "beta") == 60, "beta's count 60")
    tmux.keys(t, "s")
    scr = tmux.wait_for(t, lambda x: "sort:count" in x, "sort by count")
    assert order(scr) == ["beta", "alpha", "default"]
    tmux.keys(t, "r")
    scr = tmux.wait_for(t, lambda x: "(rev)" in x, "reverse order")
    assert order(scr) == ["default", "alpha", "beta"]
    tmux.keys(t, "r", "s", "s", "s", "s")
    tmux.wait_for(t, lambda x: "sort:name" in x and "(rev)" not in x, "sort by name again")

    # filter: only beta stays
    tmux.keys(t, "/", "b", "e", "t", "Enter")
    scr = tmux.wait_for(t, lambda x: "filter:bet" in x, "the filter")
    assert row(scr, "beta") and not row(scr, "alpha")
    # details of the selected (only) row
    tmux.keys(t, "Enter")
    scr = tmux.wait_for(t, lambda x: "Collection beta" in x and "ef_construction" in x,
                        "beta's details")
    assert re.search(r"searches\s+30", scr), scr
    tmux.keys(t, "Escape")
    tmux.wait_for(t, lambda x: "NAME" in x and "Collection beta" not in x, "the list again")
    tmux.keys(t, "/", "Escape")
    tmux.wait_for(t, lambda x: row(x, "alpha") is not None, "filter cleared")

    # a confirmed rebuild of the selected collection; a declined one does nothing
    tmux.keys(t, "Down", "R")  # rows sorted by name: alpha, beta -> beta selected
    tmux.wait_for(t, lambda x: "Rebuild the index of 'beta'? [y/N]" in x, "the rebuild prompt")
    tmux.keys(t, "n")
    tmux.wait_for(t, lambda x: "cancelled" in x, "cancelled")
    tmux.keys(t, "R")
    tmux.wait_for(t, lambda x: "[y/N]" in x, "the prompt again")
    tmux.keys(t, "y")
    tmux.wait_for(t, lambda x: "Rebuild: Index rebuilt and reloaded successfully" in x,
                  "the rebuild's answer")
    tmux.keys(t, "S")
    tmux.wait_for(t, lambda x: "Snapshot every changed collection now?" in x, "snapshot prompt")
    tmux.keys(t, "y")
    tmux.wait_for(t, lambda x: "Snapshot: Snapshot completed for" in x, "the snapshot's answer")
    tmux.keys(t, "V", "y")
    tmux.wait_for(t, lambda x: "Vacuum: Vacuum completed" in x, "the vacuum's answer")
    tmux.keys(t, "q")
    tmux.wait_for(t, lambda x: "HyperspaceDB" not in x, "the monitor to quit")


def _keys_file(entries):
    path = os.path.join(tempfile.mkdtemp(prefix="hs-keys-"), "keys")
    with open(path, "w") as f:
        for role, key in entries:
            f.write("%s %s\n" % (role, hashlib.sha256(key.encode()).hexdigest()))
    return path


def test_monitor_wrong_key_unreachable_and_reader_key(server_factory, tmux):
    s = server_factory(env={"HYPERSPACE_API_KEYS_FILE": _keys_file(
        [("admin", "adm"), ("reader", "rd")])})
    t = tmux.start("wrong", monitor_argv(s, "--api-key", "nope"))
    tmux.wait_for(t, lambda x: "Unauthorized: the API key was refused" in x, "the key error")
    t2 = tmux.start("nokey", monitor_argv(s))
    tmux.wait_for(t2, lambda x: "Unauthorized: this node needs an API key" in x,
                  "the missing key error")
    t3 = tmux.start("reader", monitor_argv(s, "--api-key", "rd"))
    scr = tmux.wait_for(t3, lambda x: "need a global admin key" in x, "the metrics note")
    assert "role Leader" in scr
    port = free_port()
    t4 = tmux.start("down", [CLI, "--http-port", str(port), "--port", str(free_port())])
    scr = tmux.wait_for(t4, lambda x: "Cannot reach HyperspaceDB at 127.0.0.1:%d" % port in x,
                        "the unreachable error")
    assert "DOWN" in scr
    # the address and key from the environment instead of flags
    t5 = tmux.start("env", ["env", "HYPERSPACE_HTTP_PORT=%d" % s.http_port,
                            "HYPERSPACE_PORT=%d" % s.grpc_port, "HYPERSPACE_API_KEY=adm", CLI])
    scr = tmux.wait_for(t5, lambda x: "searches/s" in x, "the admin's figures")
    assert "Unauthorized" not in scr and "gRPC :%d up" % s.grpc_port in scr


def test_commands_for_scripts(server_factory):
    s = server_factory(env={"HYPERSPACE_API_KEY": "k"})
    rc, out, err = cli(s, "collections", "create", "docs", "3", "cosine", key="k")
    assert rc == 0, err
    ok(http(s, "POST", "/api/collections/docs/insert/batch", {"vectors": [
        {"id": i, "vector": [1, i, 0]} for i in range(1, 8)]}, headers={"x-api-key": "k"}))
    rc, out, err = cli(s, "collections", "list", "--json", key="k")
    assert rc == 0, err
    listed = {c["name"]: c for c in json.loads(out)}
    assert listed["docs"]["count"] == 7 and listed["docs"]["metric"] == "cosine"
    rc, out, _ = cli(s, "collections", "list", key="k")
    assert re.search(r"^docs\s+7\s", out, re.M), out
    rc, out, _ = cli(s, "--json", "collections", "stats", "docs", key="k")
    assert json.loads(out)["dimension"] == 3
    rc, out, _ = cli(s, "status", "--json", key="k")
    assert json.loads(out)["status"] == "ONLINE"
    rc, out, _ = cli(s, "rebuild", "docs", key="k")
    assert rc == 0 and "Index rebuilt" in out
    assert cli(s, "snapshot", key="k")[0] == 0
    rc, out, _ = cli(s, "vacuum", key="k")
    assert rc == 0 and "Vacuum completed" in out
    rc, out, _ = cli(s, "metrics", key="k")
    assert "hyperspace_collection_points{" in out
    # errors: exit codes and messages
    rc, _, err = cli(s, "collections", "list")
    assert rc == 4 and "this node needs an API key" in err
    rc, out, _ = cli(s, "health")  # /healthz needs no key (the container's health check)
    assert rc == 0 and out == "ok\n"
    rc, _, err = cli(s, "collections", "list", key="bad")
    assert rc == 4 and "the API key was refused" in err
    rc, _, err = cli(s, "collections", "stats", "nope", key="k")
    assert rc == 1 and "Collection 'nope' not found" in err
    rc, _, err = cli(s, "collections", "delete", "docs", key="k")
    assert rc == 2 and "--yes" in err
    rc, out, _ = cli(s, "collections", "delete", "docs", "--yes", key="k")
    assert rc == 0 and "docs" not in cli(s, "collections", "list", key="k")[1]
    rc, _, err = cli(s, "frobnicate", key="k")
    assert rc == 2
    rc, _, err = cli(s, "status", env={"HYPERSPACE_API_KEY": "k"})  # key from the environment
    assert rc == 0, err
    s.stop()
    rc, _, err = cli(s, "status", key="k")
    assert rc == 3 and "Cannot reach HyperspaceDB" in err
    assert cli(s, "health")[0] == 3
