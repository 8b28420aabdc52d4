"""Clients of the original protocol's later releases (grpc.md "Wire compatibility and field
numbers", "Which clients work").

* Requests carrying fields this server does not define, the ones that would change an answer
  (a float Range bound, a Prefix condition, a collection schema, typed metadata, an option of
  Configure, Search or RebuildIndex), are refused with INVALID_ARGUMENT naming the message and the
  field number, and change nothing; the check covers every request message of the service.
* Replies carry this project's own fields at 1001 and up, so a client reading them with the later
  field layout decodes them without error and without taking our numbers for its own fields.
* Methods this server does not serve answer UNIMPLEMENTED naming the method.
* GetPoints, Count and HealthCheck (RPCs of the later releases) agree with their HTTP routes.

The later layout is described below only as far as these checks need it (`LATER`), with names of
our own; requests are built from it, or from raw wire bytes, and sent as raw bytes.
"""
import os
import struct
import subprocess
import sys
import tempfile

import grpc
import pytest

from conftest import Server, finish, http, ok

INV = grpc.StatusCode.INVALID_ARGUMENT
TAIL = ": this server does not read it, so the request is refused rather than run without it"

# The fields of the later releases' messages that these tests send or read, by number and type.
LATER = """
syntax = "proto3";
package later;
message Value { oneof kind { string s = 1; int64 i = 2; double d = 3; bool b = 4; } }
message Component { string name = 1; string metric = 2; uint32 dimension = 3; float weight = 4; }
message Schema { repeated Component components = 1; }
message CreateCollectionRequest { string name = 1; Schema schema = 5; }
message CollectionStatsRequest { string name = 1; }
message CollectionStatsResponse {
  uint64 count = 1; uint64 indexing_queue = 4; uint64 disk_bytes = 5; uint64 ram_bytes = 6;
  uint64 tasks = 7; Schema schema = 8;
}
message Match { string key = 1; string value = 2; }
message Prefix { string key = 1; string prefix = 2; }
message Range {
  string key = 1; optional int64 gte = 2; optional int64 lte = 3;
  optional double gte_float = 4; optional double lte_float = 5;
}
message Filter { oneof condition { Match match = 1; Range range = 2; Prefix prefix = 9; } }
message SearchRequest {
  string collection = 1; repeated double vector = 2; uint32 top_k = 3; repeated Filter filters = 5;
  optional string hybrid_query = 6; optional float hybrid_alpha = 7; optional uint32 cut_dim = 10;
}
message BatchSearchRequest { repeated SearchRequest searches = 1; }
message SearchResult {
  uint32 id = 1; double distance = 2; map<string, string> metadata = 3;
  map<string, Value> typed = 4; optional bytes blob = 5;
}
message SearchResponse { repeated SearchResult results = 1; }
message InsertRequest {
  string collection = 1; repeated double vector = 2; uint32 id = 3;
  map<string, string> metadata = 4; map<string, Value> typed = 8;
}
message VectorData {
  repeated double vector = 1; uint32 id = 2; map<string, string> metadata = 3;
  map<string, Value> typed = 4;
}
message BatchInsertRequest { string collection = 1; repeated VectorData vectors = 2; }
message ConfigUpdate {
  string collection = 1; optional uint32 ef_search = 2; optional uint32 ef_construction = 3;
  optional uint32 m = 4;
}
message RebuildFilter { string key = 1; string op = 2; double value = 3; }
message RebuildIndexRequest { string name = 1; optional RebuildFilter filter = 2; }
message CountRequest { string collection = 1; repeated Filter filters = 2; }
"""


@pytest.fixture(scope="module")
def later():
    out = tempfile.mkdtemp(prefix="hs-later-")
    with open(os.path.join(out, "later_layout.proto"), "w") as f:
        f.write(LATER)
    subprocess.run(["protoc", "-I" + out, "--python_out=" + out,
                    os.path.join(out, "later_layout.proto")], check=True)
    sys.path.insert(0, out)
    import later_layout_pb2
    return later_layout_pb2


@pytest.fixture(scope="module")
def db(srv, pb):
    """A stub of our proto, with collection "c" (l2, d = 2): ids 1..6 at (i, 0), price = 10 * i,
    text "red apple" on 2 and 5."""
    P, rpc = pb
    ch = grpc.insecure_channel(srv.grpc_target)
    stub = rpc.DatabaseStub(ch)
    stub.CreateCollection(P.CreateCollectionRequest(name="c", dimension=2, metric="l2"))
    for i in range(1, 7):
        md = {"price": str(10 * i), "tag": "t%d" % (i % 2)}
        if i in (2, 5):
            md["text"] = "red apple"
        stub.Insert(P.InsertRequest(collection="c", id=i, vector=[float(i), 0.0], metadata=md))
    yield stub
    ch.close()


def raw(srv, method, payload, stream=False):
    """Calls /hyperspace.Database/<method> with payload as the request bytes; returns the reply
    bytes (a list of them for a stream)."""
    with grpc.insecure_channel(srv.grpc_target) as ch:
        kind = ch.unary_stream if stream else ch.unary_unary
        call = kind("/hyperspace.Database/" + method, request_serializer=lambda b: b,
                    response_deserializer=lambda b: b)
        if stream:
            return list(call(payload, timeout=20))
        return call(payload, timeout=20)


def refused(srv, method, payload, stream=False):
    with pytest.raises(grpc.RpcError) as ei:
        raw(srv, method, payload, stream)
    return ei.value.code(), ei.value.details()


def unsupported(number, message, at=""):
    return "Unsupported field %d of message hyperspace.%s%s%s" % (
        number, message, " (at '%s')" % at if at else "", TAIL)


# ---- protobuf wire helpers (for bytes no stub would write) ---------------------------------

def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field(number, wire_type, value=b""):
    """One field: tag, then the value (wire type 0: an int; 1/5: raw 8/4 bytes; 2: bytes)."""
    tag = varint(number << 3 | wire_type)
    if wire_type == 0:
        return tag + varint(value)
    if wire_type == 2:
        return tag + varint(len(value)) + value
    return tag + value


def wire_numbers(data):
    """The field numbers of a message's top level, in wire order."""
    nums, at = [], 0
    while at < len(data):
        tag, at = read_varint(data, at)
        nums.append(tag >> 3)
        wt = tag & 7
        if wt == 0:
            _, at = read_varint(data, at)
        elif wt == 1:
            at += 8
        elif wt == 5:
            at += 4
        else:
            n, at = read_varint(data, at)
            at += n
    return nums


def read_varint(data, at):
    v = shift = 0
    while True:
        b = data[at]
        at += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not (b & 0x80):
            return v, at


# ---- unknown fields with meaning are refused, never ignored --------------------------------

def search_ids(db, pb, **kw):
    return [r.id for r in db.Search(pb[0].SearchRequest(collection="c", vector=[0, 0], top_k=10,
                                                          **kw)).results]


def test_float_range_bounds_are_refused_not_dropped(srv, db, pb, later):
    # the integer bounds (v2.0.0) work: a subset
    P = pb[0]
    assert search_ids(db, pb, filters=[P.Filter(range=P.Range(key="price", gte=30))]) == [3, 4, 5, 6]
    # a float bound alone: read without it, it would be a Range with no bound, matching everything
    for kw, number in (({"gte_float": 25.5}, 4), ({"lte_float": 40.5}, 5)):
        req = later.SearchRequest(collection="c", vector=[0, 0], top_k=10, filters=[
            later.Filter(range=later.Range(key="price", **kw))])
        assert refused(srv, "Search", req.SerializeToString()) == \
            (INV, unsupported(number, "Range", "filters[0].range"))
    # next to an integer bound too, and inside a batch (the path names the item)
    both = later.SearchRequest(collection="c", vector=[0, 0], filters=[
        later.Filter(range=later.Range(key="price", gte=10, lte_float=30.5))])
    batch = later.BatchSearchRequest(searches=[
        later.SearchRequest(collection="c", vector=[0, 0]), both])
    assert refused(srv, "SearchBatch", batch.SerializeToString()) == \
        (INV, unsupported(5, "Range", "searches[1].filters[0].range"))
    cnt = later.CountRequest(collection="c", filters=[
        later.Filter(match=later.Match(key="tag", value="t1")),
        later.Filter(range=later.Range(key="price", gte_float=0.5))])
    assert refused(srv, "Count", cnt.SerializeToString()) == \
        (INV, unsupported(4, "Range", "filters[1].range"))


def test_filter_kinds_and_search_options_are_refused(srv, db, later):
    req = later.SearchRequest(collection="c", vector=[0, 0], filters=[
        later.Filter(prefix=later.Prefix(key="tag", prefix="t"))])
    assert refused(srv, "Search", req.SerializeToString()) == \
        (INV, unsupported(9, "Filter", "filters[0]"))
    req = later.SearchRequest(collection="c", vector=[0, 0], cut_dim=1)
    assert refused(srv, "Search", req.SerializeToString()) == (INV, unsupported(10, "SearchRequest"))
    # a field at its default value is not on the wire: such a request is served
    req = later.SearchRequest(collection="c", vector=[0, 0], top_k=2)
    assert len(later.SearchResponse.FromString(raw(srv, "Search", req.SerializeToString()))
               .results) == 2


def test_schema_on_create_is_refused_and_creates_nothing(srv, db, pb, later):
    req = later.CreateCollectionRequest(name="s1", schema=later.Schema(components=[
        later.Component(name="v", metric="l2", dimension=8, weight=1.0)]))
    assert refused(srv, "CreateCollection", req.SerializeToString()) == \
        (INV, unsupported(5, "CreateCollectionRequest"))
    # with the v2.0.0 fields beside it as well
    payload = pb[0].CreateCollectionRequest(name="s1", dimension=8, metric="l2") \
        .SerializeToString() + field(5, 2, req.schema.SerializeToString())
    assert refused(srv, "CreateCollection", payload) == \
        (INV, unsupported(5, "CreateCollectionRequest"))
    assert "s1" not in db.ListCollections(pb[0].Empty()).collections


def test_typed_metadata_is_refused_and_writes_nothing(srv, db, pb, later):
    P = pb[0]
    before = db.GetDigest(P.DigestRequest(collection="c"))
    req = later.InsertRequest(collection="c", id=40, vector=[4, 4], metadata={"a": "1"})
    req.typed["price"].d = 12.5
    assert refused(srv, "Insert", req.SerializeToString()) == (INV, unsupported(8, "InsertRequest"))
    b = later.BatchInsertRequest(collection="c", vectors=[
        later.VectorData(id=41, vector=[1, 1]), later.VectorData(id=42, vector=[2, 2])])
    b.vectors[1].typed["flag"].b = True
    assert refused(srv, "BatchInsert", b.SerializeToString()) == \
        (INV, unsupported(4, "VectorData", "vectors[1]"))
    after = db.GetDigest(P.DigestRequest(collection="c"))
    assert (after.logical_clock, after.state_hash, after.count) == \
        (before.logical_clock, before.state_hash, before.count)
    assert len(db.GetPoints(P.GetPointsRequest(collection="c", ids=[40, 41, 42])).points) == 0


def test_configure_and_rebuild_options_are_refused(srv, db, pb, later):
    P = pb[0]
    req = later.ConfigUpdate(collection="c", ef_search=77, m=24)
    assert refused(srv, "Configure", req.SerializeToString()) == (INV, unsupported(4, "ConfigUpdate"))
    st = db.GetCollectionStats(P.CollectionStatsRequest(name="c"))
    assert st.ef_search != 77  # the known field of the refused request was not applied either
    req = later.RebuildIndexRequest(name="c", filter=later.RebuildFilter(key="price", op="lt",
                                                                          value=30))
    assert refused(srv, "RebuildIndex", req.SerializeToString()) == \
        (INV, unsupported(2, "RebuildIndexRequest"))
    assert db.Count(P.CountRequest(collection="c")).count == 6


def test_unknown_fields_deeper_and_of_every_wire_type(srv, db, pb):
    P = pb[0]
    base = P.InsertRequest(collection="c", id=50, vector=[5, 5]).SerializeToString()
    entry = field(1, 2, b"k") + field(2, 2, b"v")
    # inside a map entry
    assert refused(srv, "Insert", base + field(4, 2, entry + field(3, 0, 1))) == \
        (INV, unsupported(3, "InsertRequest.MetadataEntry", "metadata[0]"))
    assert refused(srv, "Insert", base + field(4, 2, entry) + field(4, 2, entry + field(7, 5, b"\0" * 4))) == \
        (INV, unsupported(7, "InsertRequest.MetadataEntry", "metadata[1]"))
    # every wire type, small and large numbers
    for extra, number in ((field(12, 0, 0), 12), (field(13, 1, b"\0" * 8), 13),
                          (field(14, 5, b"\0" * 4), 14), (field(15, 2, b""), 15),
                          (field(999, 0, 1), 999), (field(536870911, 0, 1), 536870911)):
        assert refused(srv, "Insert", base + extra) == (INV, unsupported(number, "InsertRequest"))
    # the first problem in wire order is the one named
    assert refused(srv, "Insert", field(9, 0, 1) + base + field(8, 0, 1)) == \
        (INV, unsupported(9, "InsertRequest"))
    assert len(db.GetPoints(P.GetPointsRequest(collection="c", ids=[50])).points) == 0


def test_a_known_field_with_a_wrong_wire_type_is_named(srv, db, pb):
    P = pb[0]
    base = P.InsertRequest(collection="c", vector=[5, 5]).SerializeToString()
    assert refused(srv, "Insert", base + field(3, 2, b"\x05")) == \
        (INV, "Field 'id' (number 3 of message hyperspace.InsertRequest) arrived as "
              "length-delimited, which its type cannot be")
    assert refused(srv, "Insert", base + field(1, 0, 3)) == \
        (INV, "Field 'collection' (number 1 of message hyperspace.InsertRequest) arrived as "
              "varint, which its type cannot be")
    # repeated numbers: packed (2) and one by one (1) are both the field's own encodings
    unpacked = field(1, 2, b"c") + field(2, 1, struct.pack("<d", 6)) + \
        field(2, 1, struct.pack("<d", 6)) + field(3, 0, 51)
    assert P.InsertResponse.FromString(raw(srv, "Insert", unpacked)).success
    got = db.GetPoints(P.GetPointsRequest(collection="c", ids=[51])).points
    assert [list(p.vector) for p in got] == [[6.0, 6.0]]
    db.Delete(P.DeleteRequest(collection="c", id=51))
    # field number 0 and a group are not protobuf messages of ours
    for bad in (field(0, 0, 1), varint(5 << 3 | 3) + varint(5 << 3 | 4)):
        assert refused(srv, "Insert", base + bad) == (INV, "Malformed request message")


def test_every_request_message_refuses_unknown_fields(srv, db, pb):
    """The check works from each method's request descriptor: an unknown field on any of them is
    refused before anything runs (streams included)."""
    service = pb[0].DESCRIPTOR.services_by_name["Database"]
    assert len(service.methods) >= 20
    for m in service.methods:
        code, msg = refused(srv, m.name, field(900, 0, 1), stream=m.server_streaming)
        assert (code, msg) == (INV, unsupported(900, m.input_type.name)), m.name


# ---- our replies read with the later layout ---------------------------------------------------

def test_stats_reply_decodes_with_the_later_layout(srv, db, pb, later):
    P = pb[0]
    db.Delete(P.DeleteRequest(collection="c", id=6))
    db.Insert(P.InsertRequest(collection="c", id=6, vector=[6.0, 0.0],
                              metadata={"price": "60", "tag": "t0"}))
    data = raw(srv, "GetCollectionStats", P.CollectionStatsRequest(name="c").SerializeToString())
    mine = P.CollectionStatsResponse.FromString(data)
    assert mine.deleted_count > 0 and mine.memory_bytes > 0 and mine.loaded and mine.m > 0
    # v2.0.0 fields where they were, ours from 1001: nothing at 5..1000
    assert all(n <= 4 or n > 1000 for n in wire_numbers(data)), wire_numbers(data)
    theirs = later.CollectionStatsResponse.FromString(data)
    assert theirs.count == 6
    assert (theirs.disk_bytes, theirs.ram_bytes, theirs.tasks) == (0, 0, 0)
    assert not theirs.HasField("schema")


def test_search_result_decodes_with_the_later_layout(srv, db, pb, later):
    P = pb[0]
    req = P.SearchRequest(collection="c", vector=[2, 0], top_k=3, hybrid_query="red apple")
    data = raw(srv, "Search", req.SerializeToString())
    mine = P.SearchResponse.FromString(data)
    assert mine.results and all(r.score > 0 for r in mine.results)
    theirs = later.SearchResponse.FromString(data)
    assert [r.id for r in theirs.results] == [r.id for r in mine.results]
    for r in theirs.results:
        assert len(r.typed) == 0 and not r.HasField("blob")
        assert dict(r.metadata) == dict(next(m for m in mine.results if m.id == r.id).metadata)
    for r in mine.results:
        assert all(n <= 3 or n > 1000 for n in wire_numbers(r.SerializeToString()))


def test_field_numbers_follow_the_rule(pb):
    """Every field of our proto is a v2.0.0 field with its v2.0.0 number, a field of the later
    releases' messages we adopted (with their numbers), or one of ours numbered above 1000."""
    v2 = {
        "CreateCollectionRequest": {1: "name", 2: "dimension", 3: "metric"},
        "CollectionStatsResponse": {1: "count", 2: "dimension", 3: "metric", 4: "indexing_queue"},
        "SearchResult": {1: "id", 2: "distance", 3: "metadata"},
        "CreateCollectionOp": {1: "dimension", 2: "metric"},
        "InsertRequest": {1: "collection", 2: "vector", 3: "id", 4: "metadata",
                          5: "origin_node_id", 6: "logical_clock", 7: "durability"},
        "VectorData": {1: "vector", 2: "id", 3: "metadata"},
        "BatchInsertRequest": {1: "collection", 2: "vectors", 3: "origin_node_id",
                               4: "logical_clock", 5: "durability"},
        "SearchRequest": {1: "collection", 2: "vector", 3: "top_k", 4: "filter", 5: "filters",
                          6: "hybrid_query", 7: "hybrid_alpha"},
        "Range": {1: "key", 2: "gte", 3: "lte"},
        "Filter": {1: "match", 2: "range"},
        "ConfigUpdate": {1: "collection", 2: "ef_search", 3: "ef_construction"},
        "SystemStats": {1: "total_collections", 2: "total_vectors", 3: "total_memory_mb",
                        4: "qps"},
        "DigestResponse": {1: "logical_clock", 2: "state_hash", 3: "buckets", 4: "count"},
        "ReplicationLog": {1: "logical_clock", 2: "origin_node_id", 3: "collection", 4: "insert",
                           5: "create_collection", 6: "delete_collection", 7: "delete"},
    }
    adopted = {  # the later releases' messages: their fields with their numbers, ours above 1000
        "GetPointsRequest": {1: "collection", 2: "ids"}, "GetPointsResponse": {1: "points"},
        "CountRequest": {1: "collection", 2: "filters"}, "CountResponse": {1: "count"},
        "HealthCheckResponse": {1: "status"},
        "UpdatePayloadRequest": {1: "collection", 2: "id", 3: "metadata", 4: "typed_metadata"},
        "UpdatePayloadResponse": {1: "status"},
        "ScrollRequest": {1: "collection", 2: "limit", 3: "offset", 4: "filters"},
        "ScrollResponse": {1: "points"},
        "SearchMultiCollectionRequest": {1: "collections", 2: "vector", 3: "top_k"},
        "SearchMultiCollectionResponse": {1: "responses"},
        "FreezeCollectionRequest": {1: "name"}, "UnfreezeCollectionRequest": {1: "name"},
    }
    ours = {}
    for name, msg in pb[0].DESCRIPTOR.message_types_by_name.items():
        for f in msg.fields:
            if name in adopted and f.number < 1000:
                assert adopted[name].get(f.number) == f.name, (name, f.number, f.name)
            elif f.number > 1000:
                ours.setdefault(name, []).append(f.name)
            elif name in v2:
                assert v2[name].get(f.number) == f.name, (name, f.number, f.name)
            else:  # messages whose every field is v2.0.0's and numbered 1, 2, ...
                assert f.number <= 7, (name, f.number, f.name)
    for name, fields in v2.items():
        msg = pb[0].DESCRIPTOR.message_types_by_name[name]
        assert {f.number: f.name for f in msg.fields if f.number < 1000} == fields, name
    assert ours == {
        "CreateCollectionRequest": ["quantization", "m", "ef_construction", "ef_search",
                                    "id_type", "oversampling"],
        "CollectionStatsResponse": ["quantization", "deleted_count", "memory_bytes", "loaded",
                                    "m", "ef_construction", "ef_search", "frozen",
                                    "resident_graph_bytes", "resident_codes_bytes",
                                    "resident_vector_bytes", "resident_payload_bytes", "id_type",
                                    "oversampling"],
        "SearchResult": ["score", "typed_metadata", "string_id"],
        "SearchRequest": ["oversampling"],
        "CreateCollectionOp": ["quantization", "m", "ef_construction", "ef_search", "id_type"],
        "InsertRequest": ["typed_metadata", "string_id"],
        "VectorData": ["typed_metadata", "string_id"],
        "DeleteRequest": ["string_id"],
        "GetPointsRequest": ["string_ids"],
        "Match": ["typed_value"],
        "Range": ["gte_f64", "lte_f64", "gt_f64", "lt_f64", "gt", "lt"],
        "MetadataValue": ["list_value"],
        "MetadataList": ["values"],
        "Filter": ["prefix", "all", "any", "none"],
        "PrefixCondition": ["key", "prefix"],
        "FilterList": ["filters"],
        "UpdatePayloadRequest": ["ids", "filters", "mode", "keys", "durability", "string_id",
                                 "string_ids"],
        "UpdatePayloadResponse": ["updated", "not_found", "not_found_string_ids"],
        "ScrollRequest": ["cursor", "with_vector", "with_metadata"],
        "ScrollResponse": ["next_cursor"],
        "SearchMultiCollectionRequest": ["filters", "oversampling"],
        "SearchMultiCollectionResponse": ["hits"],
        "CollectionHit": ["collection", "result"],
        "EventSubscriptionRequest": ["after_clock"],
        "VectorInsertedEvent": ["vector", "string_id"],
        "VectorDeletedEvent": ["string_id"],
        "CollectionCreatedEvent": ["collection", "logical_clock", "origin_node_id", "config"],
        "CollectionDeletedEvent": ["collection", "logical_clock", "origin_node_id"],
        "EventMessage": ["collection_created", "collection_deleted"],
        # snapshot archives: messages of our own
        "SnapshotCreateRequest": ["collection", "name"],
        "SnapshotRequest": ["name"],
        "SnapshotCollection": ["tenant", "name", "dimension", "metric", "quantization", "m",
                               "ef_construction", "ef_search", "logical_clock", "count",
                               "from_tenant", "from_name", "frozen", "id_type"],
        "SnapshotInfo": ["name", "logical_clock", "bytes", "created_ms", "node", "tenant",
                         "collection", "collections", "skipped", "node_id", "error", "contents"],
        "SnapshotList": ["snapshots"],
        "SnapshotRestoreRequest": ["name", "collection", "tenant", "target", "target_tenant",
                                   "replace"],
        "SnapshotRestoreResponse": ["collections", "logical_clock"],
        # replication: the records' additions, then messages of our own
        "InsertOp": ["id64", "string_id", "typed_metadata"],
        "DeleteOp": ["id64", "string_id"],
        "ReplicationSnapshotRequest": ["node_id"],
        "SnapshotChunk": ["data", "clock", "last"],
        "ReplicationAckRequest": ["node_id", "durable_clock", "address"],
        "FollowerStatus": ["node_id", "address", "watermark", "lag_records", "lag_seconds",
                           "connected", "last_ack_ms", "in_sync"],
        "ReplicationState": ["connected", "leader_node_id", "watermark", "reconnects",
                             "last_error", "digest_checks", "digest_mismatches",
                             "last_digest_check_ms", "last_digest_check",
                             "leader_changes_continued", "full_resyncs"],
        "ClusterStatusResponse": ["node_id", "role", "upstream_peer", "downstream_peers",
                                  "logical_clock", "replication", "followers", "epoch_id",
                                  "epoch_start"],
    }


# ---- methods we do not serve -----------------------------------------------------------------

@pytest.mark.parametrize("method, stream", [
    ("Vectorize", False), ("SearchText", False), ("GetNode", False),
    ("SyncHandshake", False), ("SyncPull", True),
])
def test_methods_not_served_are_unimplemented_by_name(srv, method, stream):
    code, msg = refused(srv, method, b"", stream=stream)
    assert (code, msg) == (grpc.StatusCode.UNIMPLEMENTED, "Method '/hyperspace.Database/%s' is "
                           "not implemented by this server" % method)


def test_unimplemented_names_other_services_too(srv):
    with grpc.insecure_channel(srv.grpc_target) as ch:
        call = ch.unary_unary("/other.Svc/" + "x" * 300, request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as ei:
            call(b"", timeout=20)
    assert ei.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert ei.value.details() == "Method '/other.Svc/%s...' is not implemented by this server" % (
        "x" * 109)


# ---- GetPoints, Count, HealthCheck -------------------------------------------------------------

def test_get_points_matches_http(srv, db, pb):
    P = pb[0]
    got = db.GetPoints(P.GetPointsRequest(collection="c", ids=[3, 99, 1, 3, 2])).points
    assert [p.id for p in got] == [3, 1, 2]  # order asked, each once, missing ids skipped
    body = ok(http(srv, "GET", "/api/collections/c/points?ids=3,99,1,3,2"))
    assert [(p.id, list(p.vector), dict(p.metadata)) for p in got] == \
        [(b["id"], b["vector"], b["metadata"]) for b in body]
    code, msg = refused(srv, "GetPoints", P.GetPointsRequest(collection="c").SerializeToString())
    assert (code, msg) == (INV, "ids must be between 1 and 10000 (got 0)")
    code, msg = refused(srv, "GetPoints", P.GetPointsRequest(
        collection="c", ids=list(range(10001))).SerializeToString())
    assert (code, msg) == (INV, "ids must be between 1 and 10000 (got 10001)")
    code, msg = refused(srv, "GetPoints", P.GetPointsRequest(collection="nope", ids=[1])
                        .SerializeToString())
    assert (code, msg) == (grpc.StatusCode.NOT_FOUND, "Collection 'nope' not found")
    code, msg = refused(srv, "GetPoints", P.GetPointsRequest(collection="a/b", ids=[1])
                        .SerializeToString())
    assert code == INV and msg.startswith("Invalid collection name 'a/b'")


def test_count_matches_http(srv, db, pb):
    P = pb[0]
    cases = [
        ([], {}),
        ([P.Filter(match=P.Match(key="tag", value="t1"))],
         {"filters": [{"type": "match", "key": "tag", "value": "t1"}]}),
        ([P.Filter(range=P.Range(key="price", gte=20, lte=50))],
         {"filters": [{"type": "range", "key": "price", "gte": 20, "lte": 50}]}),
        ([P.Filter(match=P.Match(key="tag", value="t0")),
          P.Filter(range=P.Range(key="price", lte=40))],
         {"filters": [{"type": "match", "key": "tag", "value": "t0"},
                      {"type": "range", "key": "price", "lte": 40}]}),
        ([P.Filter(range=P.Range(key="price", gte=50, lte=10))],
         {"filters": [{"type": "range", "key": "price", "gte": 50, "lte": 10}]}),
    ]
    counts = []
    for filters, body in cases:
        n = db.Count(P.CountRequest(collection="c", filters=filters)).count
        assert n == ok(http(srv, "POST", "/api/collections/c/count", body))["count"]
        counts.append(n)
    assert counts == [6, 3, 4, 2, 0]
    code, msg = refused(srv, "Count", P.CountRequest(collection="c", filters=[P.Filter()])
                        .SerializeToString())
    assert (code, msg) == (INV, "Invalid filter: filters[0] has no condition")
    code, msg = refused(srv, "Count", P.CountRequest(collection="nope").SerializeToString())
    assert (code, msg) == (grpc.StatusCode.NOT_FOUND, "Collection 'nope' not found")


def test_roles_and_health_check(server_factory, pb):
    P, rpc = pb
    s = server_factory(env={"HYPERSPACE_API_KEY": "adm-later-1"})
    with grpc.insecure_channel(s.grpc_target) as ch:
        stub = rpc.DatabaseStub(ch)
        # no key needed, as for GET /healthz
        assert stub.HealthCheck(P.Empty()).status == "SERVING"
        assert stub.HealthCheck(P.Empty(), metadata=[("x-api-key", "wrong")]).status == "SERVING"
        for call, req in ((stub.Count, P.CountRequest()),
                          (stub.GetPoints, P.GetPointsRequest(ids=[1]))):
            with pytest.raises(grpc.RpcError) as ei:
                call(req)
            assert ei.value.code() == grpc.StatusCode.UNAUTHENTICATED
        md = [("x-api-key", "adm-later-1")]
        stub.CreateCollection(P.CreateCollectionRequest(name="k", dimension=2, metric="l2"),
                              metadata=md)
        stub.Insert(P.InsertRequest(collection="k", id=1, vector=[0.5, 0.5]), metadata=md)
        assert stub.Count(P.CountRequest(collection="k"), metadata=md).count == 1
        got = stub.GetPoints(P.GetPointsRequest(collection="k", ids=[1]), metadata=md).points
        assert [p.id for p in got] == [1]
