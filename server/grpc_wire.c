/*
 * grpc_wire.c: the checks on a request's wire bytes that run before protobuf-c unpacks it.
 *
 * The bytes are walked with the request's descriptor, sub-messages (map entries are messages
 * too) included, at most MAX_NEST levels deep, and the first problem in wire order is reported:
 *   - a field number the descriptor does not know.  protobuf-c would keep it aside and the
 *     handler would run without it, so a client of a newer protocol (a float Range bound, a
 *     collection schema, typed metadata, an option) would get an answer computed without what
 *     it asked for.  No unknown field of a request is harmless: proto3 clients do not write a
 *     field that holds its default, so a field on the wire is one the client set on purpose.
 *   - a known field written with a wire type its type cannot have (protobuf-c would refuse the
 *     whole message without saying which field);
 *   - a NUL byte in a string field: protobuf-c unpacks a string into a C string, so "a\0b"
 *     would silently reach the handlers as "a";
 *   - bytes that are not a protobuf message at all (a truncated varint or length, a group or an
 *     undefined wire type, field number 0).
 * The walk only reads.  The path it reports names the field by its names and positions:
 * "metadata[1].key", "searches[0].filters[2].range" (map entries are numbered in wire order).
 */
#include <stdio.h>
#include <string.h>

#include "server/grpc_int.h"

/* Condition trees nest two messages a level (Filter, FilterList) under at most two
 * (BatchSearchRequest, SearchRequest): room for HS_COND_MAX_DEPTH levels, whose own check
 * names the condition. */
#define MAX_NEST (2 * HS_COND_MAX_DEPTH + 8)
#define MAX_FIELD 536870911u /* 2^29 - 1, the largest field number protobuf allows */

/* A base-128 varint at *at; false when it runs past the end or over 10 bytes. */
static bool read_varint(const uint8_t *buf, size_t len, size_t *at, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70 && *at < len; shift += 7) {
        uint8_t b = buf[(*at)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Appends ".name" or ".name[i]" to path at position o; returns the new length. */
static size_t path_push(char *path, size_t cap, size_t o, const ProtobufCFieldDescriptor *f,
                        long index)
{
    int w = index >= 0 ? snprintf(path + o, cap - o, "%s%s[%ld]", o ? "." : "", f->name, index)
                       : snprintf(path + o, cap - o, "%s%s", o ? "." : "", f->name);
    if (w < 0)
        return o;
    return (size_t)w < cap - o ? o + (size_t)w : cap - 1;
}

/* The wire type a field of this type is written with (2 for strings, bytes and messages). */
static unsigned scalar_wire_type(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 5;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 1;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return 2;
    default:
        return 0; /* the varint types: integers, bool, enum */
    }
}

/* Whether a field of f's type may arrive with wire type wt: its own, or length-delimited for a
 * repeated number (the packed encoding, accepted whichever the proto declares). */
static bool wire_type_fits(const ProtobufCFieldDescriptor *f, unsigned wt)
{
    unsigned own = scalar_wire_type(f->type);
    return wt == own || (wt == 2 && own != 2 && f->label == PROTOBUF_C_LABEL_REPEATED);
}

typedef struct walk_ctx {
    hs_pb_issue *out;
    unsigned nest;
} walk_ctx;

static int report(walk_ctx *w, hs_pb_issue_kind kind, const ProtobufCMessageDescriptor *d,
                  uint32_t number, unsigned wire_type)
{
    w->out->kind = kind;
    w->out->message = d->name;
    w->out->number = number;
    w->out->wire_type = wire_type;
    return 1;
}

/* 1 = an issue found (w->out set), 0 = none. path[0..o) names this message. */
static int walk(walk_ctx *w, const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                size_t o)
{
    char *path = w->out->path;
    size_t cap = sizeof(w->out->path);
    unsigned seen[64] = {0}; /* occurrences per field index, for repeated fields' positions */
    size_t at = 0;
    if (w->nest > MAX_NEST)
        return report(w, HS_PB_MALFORMED, d, 0, 0);
    while (at < len) {
        uint64_t tag, n = 0;
        if (!read_varint(buf, len, &at, &tag) || tag >> 3 == 0 || tag >> 3 > MAX_FIELD)
            return report(w, HS_PB_MALFORMED, d, 0, 0);
        unsigned wt = (unsigned)(tag & 7);
        uint32_t number = (uint32_t)(tag >> 3);
        bool ok;
        switch (wt) {
        case 0:
            ok = read_varint(buf, len, &at, &n);
            break;
        case 1:
        case 5:
            n = wt == 1 ? 8 : 4;
            ok = len - at >= n;
            at += ok ? (size_t)n : 0;
            break;
        case 2:
            ok = read_varint(buf, len, &at, &n) && n <= len - at;
            break;
        default:
            ok = false; /* groups and undefined wire types */
        }
        if (!ok)
            return report(w, HS_PB_MALFORMED, d, number, wt);
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, number);
        if (!f)
            return report(w, HS_PB_UNKNOWN_FIELD, d, number, wt);
        if (!wire_type_fits(f, wt)) {
            path_push(path, cap, o, f, -1);
            return report(w, HS_PB_WIRE_TYPE, d, number, wt);
        }
        if (wt != 2)
            continue;
        const uint8_t *val = buf + at;
        at += (size_t)n;
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue; /* bytes, packed numbers */
        size_t fi = (size_t)(f - d->fields);
        long index = -1;
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            index = fi < 64 ? (long)seen[fi]++ : 0;
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            if (memchr(val, 0, (size_t)n)) {
                path_push(path, cap, o, f, index);
                return report(w, HS_PB_NUL, d, number, wt);
            }
            continue;
        }
        size_t o2 = path_push(path, cap, o, f, index);
        w->nest++;
        int r = walk(w, (const ProtobufCMessageDescriptor *)f->descriptor, val, (size_t)n, o2);
        w->nest--;
        if (r)
            return r;
        path[o] = 0;
    }
    return 0;
}

bool hs_pb_check(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                 hs_pb_issue *out)
{
    memset(out, 0, sizeof(*out));
    if (!d)
        return false;
    walk_ctx w = {out, 0};
    return walk(&w, d, buf, len, 0) == 1;
}

static const char *wire_type_name(unsigned wt)
{
    static const char *const names[] = {"varint", "64-bit", "length-delimited", "group start",
                                        "group end", "32-bit"};
    return wt < 6 ? names[wt] : "undefined";
}

void hs_pb_issue_text(const hs_pb_issue *is, char *text, size_t cap)
{
    const char *msg = is->message ? is->message : "?";
    switch (is->kind) {
    case HS_PB_NUL:
        snprintf(text, cap, "Field '%s' contains a NUL character, which strings cannot hold",
                 is->path);
        break;
    case HS_PB_UNKNOWN_FIELD:
        snprintf(text, cap,
                 "Unsupported field %u of message %s%s%s%s: this server does not read it, so the "
                 "request is refused rather than run without it",
                 is->number, msg, is->path[0] ? " (at '" : "", is->path,
                 is->path[0] ? "')" : "");
        break;
    case HS_PB_WIRE_TYPE:
        snprintf(text, cap, "Field '%s' (number %u of message %s) arrived as %s, which its type "
                 "cannot be", is->path, is->number, msg, wire_type_name(is->wire_type));
        break;
    default:
        snprintf(text, cap, "Malformed request message");
    }
}
