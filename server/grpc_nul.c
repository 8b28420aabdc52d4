/*
 * grpc_nul.c: refuses request messages with a NUL byte in a string field.
 *
 * protobuf-c unpacks a `string` into a C string, so "a\0b" would silently reach the handlers as
 * "a" (a collection name, a metadata key or value, a filter key, a hybrid query).  Before a
 * request is unpacked, its wire bytes are walked with the message's descriptor: every
 * length-delimited field that the descriptor says is a string is checked for a 0 byte, and every
 * sub-message (map entries are messages too) is walked the same way, at most MAX_NEST levels
 * deep.  The walk only reads; a message it cannot follow (a malformed one) is left to the
 * unpack, which refuses it.  The path it reports names the field: "metadata[1].key",
 * "queries[0].filters[2].match.value".
 */
#include <stdio.h>
#include <string.h>

#include "server/grpc_int.h"

#define MAX_NEST 32 /* far deeper than any message of hyperspace.proto nests */

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

/* 1 = a NUL found (path set), 0 = none, -1 = the bytes are not a message of this type. */
static int walk(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len, int nest,
                char *path, size_t cap, size_t o)
{
    unsigned seen[64] = {0}; /* occurrences per field index, for repeated fields' positions */
    size_t at = 0;
    if (nest > MAX_NEST)
        return -1;
    while (at < len) {
        uint64_t tag, n;
        if (!read_varint(buf, len, &at, &tag))
            return -1;
        switch (tag & 7) {
        case 0:
            if (!read_varint(buf, len, &at, &n))
                return -1;
            continue;
        case 1:
            if (len - at < 8)
                return -1;
            at += 8;
            continue;
        case 5:
            if (len - at < 4)
                return -1;
            at += 4;
            continue;
        case 2:
            break;
        default:
            return -1; /* groups and unknown wire types: protobuf-c refuses them */
        }
        if (!read_varint(buf, len, &at, &n) || n > len - at)
            return -1;
        const uint8_t *val = buf + at;
        at += (size_t)n;
        const ProtobufCFieldDescriptor *f =
            tag >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3))
                                   : NULL;
        if (!f || (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE))
            continue; /* bytes, packed numbers, unknown fields */
        size_t fi = (size_t)(f - d->fields);
        long index = -1;
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            index = fi < 64 ? (long)seen[fi]++ : 0;
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            if (memchr(val, 0, (size_t)n)) {
                path_push(path, cap, o, f, index);
                return 1;
            }
            continue;
        }
        size_t o2 = path_push(path, cap, o, f, index);
        int r = walk((const ProtobufCMessageDescriptor *)f->descriptor, val, (size_t)n, nest + 1, path, cap, o2);
        if (r)
            return r;
        path[o] = 0;
    }
    return 0;
}

bool hs_pb_find_nul(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                    char *path, size_t cap)
{
    if (!d || !cap)
        return false;
    path[0] = 0;
    return walk(d, buf, len, 0, path, cap, 0) == 1;
}
