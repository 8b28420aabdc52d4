/*
 * storage.h: files of a collection, knowing nothing about graphs or collections:
 *   - the write-ahead log (segmented, checksummed records, group commit);
 *   - vector segments (fixed-stride records in memory-mapped files);
 *   - checkpoint files (named, checksummed sections written atomically);
 *   - the collection manifest (the checkpoint and log segments a collection needs);
 *   - small helpers (atomic file replace, recursive removal, path joining).
 * All file I/O goes through an hs_io_ops table.  Formats: docs/file-format.md.
 */
#ifndef HS_STORAGE_H
#define HS_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperspace.h"
#include "util/chunks.h"

#define HS_PATH_MAX 4096

/* ---- helpers --------------------------------------------------------------------------- */

/* snprintf into a path buffer; HS_ERANGE when it does not fit. */
int hs_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Writes a whole file atomically: tmp file, fsync, rename over `path`, fsync the directory. */
int hs_file_replace(const hs_io_ops *io, const char *dir, const char *name, const void *data,
                    size_t len, hs_error *err);
/* Reads a whole (small) file into a malloc'd, NUL-terminated buffer. */
int hs_file_read(const hs_io_ops *io, const char *path, char **data, size_t *len, size_t max,
                 hs_error *err);
/* Removes a directory tree (no symlink is followed: entries are unlinked, not traversed,
 * unless they are directories). */
int hs_remove_tree(const hs_io_ops *io, const char *path);
/* Maps an hs_io_ops negative errno to an hs_rc. */
int hs_rc_from_errno(int neg_errno);

/* ---- write-ahead log ------------------------------------------------------------------- */

#define HS_WAL_HEADER 17 /* [u32 len][u32 crc32c][u64 lsn][u8 type] */
#define HS_WAL_SEG_HEADER 32

typedef struct hs_wal hs_wal;

/* A segment and its length in bytes. */
typedef struct hs_wal_seginfo {
    uint64_t seq, len;
} hs_wal_seginfo;

typedef struct hs_wal_opts {
    const hs_io_ops *io;
    uint64_t segment_bytes;     /* start a new segment past this size (default 64 MiB) */
    uint32_t batch_interval_ms; /* group-commit interval for BATCH durability (default 10) */
    /* What the owner's manifest says must be there (checked by hs_wal_open; 0 / NULL: no
     * check): every segment from first_seg on, without a gap, up to at least last_seg; the
     * closed segments listed with exactly their recorded length. */
    uint64_t first_seg, last_seg;
    const hs_wal_seginfo *closed;
    size_t nclosed;
    /* Called (under the log's lock) once a new segment is durable, before any record goes into
     * it, with the segment it closes (NULL at open).  An error fails the rotation (the new file
     * is removed and the log keeps appending to the old one). */
    int (*on_segment)(void *ctx, const hs_wal_seginfo *closed, uint64_t seq, hs_error *err);
    void *hook_ctx;
    /* The directory is not published yet (a collection being created): a new segment is not
     * fsynced on its own; the owner's first durable append syncs the file (header included)
     * and the owner syncs the directory before publishing it. */
    bool private_dir;
} hs_wal_opts;

void hs_wal_opts_init(hs_wal_opts *o);

/* A position: segment sequence number and byte offset in that segment. */
typedef struct hs_wal_pos {
    uint64_t seg;
    uint64_t off;
} hs_wal_pos;

typedef struct hs_wal_record {
    uint64_t lsn;
    uint8_t type;
    const uint8_t *payload;
    size_t len;
    hs_wal_pos pos; /* where the record starts */
} hs_wal_record;

/*
 * Opens the log in `dir` (which must exist) and replays every record at or after `from` through
 * fn (a non-zero return from fn stops the replay and is returned).  A torn tail of the last
 * segment (an incomplete or mis-checksummed last record, or garbage/zeros after the last good
 * record with no valid record behind it) is truncated and logged; a bad record anywhere else is
 * HS_ECORRUPT with the file and offset in err.  Afterwards the log appends at its end.
 * Ownership: *out is freed with hs_wal_close.  Thread-safety: the returned log is thread-safe.
 */
int hs_wal_open(const char *dir, const hs_wal_opts *o, hs_wal_pos from,
                int (*fn)(void *ctx, const hs_wal_record *r), void *ctx, hs_wal **out,
                hs_error *err);

/* Whether the log in dir holds a complete record of one of `types` at or after `from` (a
 * checkpoint's position): such records were acknowledged but are in no checkpoint, so the
 * owner's figures must come from a replay.  Reads record by record; changes nothing. */
int hs_wal_pending(const hs_io_ops *io, const char *dir, hs_wal_pos from, const uint8_t *types,
                   size_t ntypes, bool *pending);

/*
 * Appends one record.  buf holds HS_WAL_HEADER bytes of room followed by len payload bytes (the
 * header is written in place, so the record goes out in one write).  *ticket identifies the
 * record for hs_wal_wait.  Errors: HS_ENOSPC / HS_EIO (the partial record was removed, the log
 * stays writable), HS_EREADONLY (an earlier fsync failed), HS_ERANGE (record too large).
 */
int hs_wal_append(hs_wal *w, uint8_t type, uint64_t lsn, uint8_t *buf, size_t len,
                  uint64_t *ticket, hs_error *err);

/* Waits until the record is durable as `mode` requires (ASYNC: returns at once; BATCH: the next
 * group fsync, at most one per interval; STRICT: an fsync started after the record was written).
 * Errors: HS_EIO (the fsync failed: the log is read-only from now on, and every record not
 * durable by then is refused and removed from the file, ASYNC ones included). */
int hs_wal_wait(hs_wal *w, uint64_t ticket, hs_durability mode, hs_error *err);

/* fsyncs everything appended so far. */
int hs_wal_sync(hs_wal *w, hs_error *err);

/* Closes the current segment (fsynced) and starts a new one; *start is its first position. */
int hs_wal_rotate(hs_wal *w, hs_wal_pos *start, hs_error *err);

/* Deletes the segments older than pos.seg. */
int hs_wal_remove_before(hs_wal *w, hs_wal_pos pos, hs_error *err);

hs_wal_pos hs_wal_end(hs_wal *w);
/* The live segments, ascending, with their lengths (the current one's as appended so far).
 * Ownership: *out is malloc'd, the caller frees it. */
int hs_wal_segments(hs_wal *w, hs_wal_seginfo **out, size_t *n);
uint64_t hs_wal_disk_bytes(hs_wal *w);
bool hs_wal_failed(hs_wal *w);
/* Tickets up to the returned value are durable; *failed: the log failed (msg gets why). */
uint64_t hs_wal_durable(hs_wal *w, bool *failed, char *msg, size_t len);
/* Syncs (best effort) and frees. */
void hs_wal_close(hs_wal *w);

/* The segments of the log in dir (sequence numbers, ascending; *segs malloc'd, NULL when none;
 * none when dir does not exist).  Errors: HS_EIO (the directory cannot be listed), HS_ENOMEM. */
int hs_wal_list(const hs_io_ops *io, const char *dir, uint64_t **segs, size_t *n);
/* Whether the 32 bytes at h are the header of segment seq. */
bool hs_wal_seg_header_ok(const uint8_t *h, uint64_t seq);

/* After a checkpoint whose replay starts at `from`, the segments before from.seg are needed by
 * no recovery.  *keep gets the oldest segment to keep: the newest of those segments are kept
 * while their total size stays within `retain` bytes (from.seg when none is).  Changes nothing;
 * hs_wal_remove_before((hs_wal_pos){*keep, 0}) removes the rest. */
void hs_wal_retention(hs_wal *w, hs_wal_pos from, uint64_t retain, uint64_t *keep);
/* The oldest segment of the log (0 when it has none). */
uint64_t hs_wal_oldest(hs_wal *w);

/* ---- reading the log while it is written ------------------------------------------------
 * A reader of a log that another thread (or process) appends to, whose oldest segments a
 * checkpoint may remove meanwhile.  It reads records in log order and hands out only complete
 * records whose checksum holds; it holds one window of the file (64 KiB, up to 1 MiB for a
 * record read whole, more for a larger single read) and one descriptor, none while idle.  It knows nothing of record payloads.
 * Thread-safety: one thread per reader. */

typedef struct hs_wal_reader hs_wal_reader;

/* A reader positioned at the first record of segment seg (0: of the oldest segment).
 * Errors: HS_EIO, HS_ENOMEM, HS_ERANGE (path). */
int hs_wal_reader_open(const hs_io_ops *io, const char *dir, uint64_t seg, hs_wal_reader **out,
                       hs_error *err);
/* Moves to the start of the newest segment whose first record has an lsn <= after (the oldest
 * segment when none has): every record with an lsn above `after` is at or after it. */
int hs_wal_reader_seek(hs_wal_reader *r, uint64_t after, hs_error *err);
/*
 * The next record whose lsn is <= limit: *got = 1 and rec filled (payload NULL: read it with
 * hs_wal_reader_payload), or *got = 0 when the log holds no such complete record yet.
 * HS_ETRUNCATED: the segment to read was removed; the reader has moved to the start of the
 * oldest segment after it (the caller decides whether it missed records).  HS_ECORRUPT: a bad
 * record that is not at the end of the newest segment.
 */
int hs_wal_reader_next(hs_wal_reader *r, uint64_t limit, hs_wal_record *rec, int *got,
                       hs_error *err);
/* For a reader that found nothing more although its owner knows more was written: when the
 * segment after its own is gone and a later one exists, moves there and returns HS_ETRUNCATED
 * (as hs_wal_reader_next); HS_OK otherwise. */
int hs_wal_reader_recheck(hs_wal_reader *r, hs_error *err);
/* Points *p to bytes [off, off + len) of the payload of the record last returned, valid until
 * the next call on r.  Errors: HS_EINVAL (outside the payload), HS_EIO, HS_ENOMEM. */
int hs_wal_reader_payload(hs_wal_reader *r, uint64_t off, size_t len, const uint8_t **p,
                          hs_error *err);
/* Closes the descriptor and drops the window; the position is kept. */
void hs_wal_reader_idle(hs_wal_reader *r);
/* The position of the next record. */
hs_wal_pos hs_wal_reader_pos(const hs_wal_reader *r);
/* How many times the reader opened (or tried to open) a file of the log by its path: an owner
 * whose directory may be replaced (a drop, then a create of the same name) checks after a read
 * that opened one that the path was still its own. */
uint64_t hs_wal_reader_opens(const hs_wal_reader *r);
void hs_wal_reader_close(hs_wal_reader *r);

/* Decodes one record header at buf (avail bytes).  Returns HS_OK and the record, HS_EINVAL when
 * fewer than HS_WAL_HEADER bytes or the payload do not fit, HS_ECORRUPT on a checksum mismatch.
 * Exposed for the fuzzer and tests. */
int hs_wal_decode(const uint8_t *buf, size_t avail, hs_wal_record *r);

/* ---- vector segments ------------------------------------------------------------------- */

#define HS_SEG_HEADER 4096

typedef struct hs_segset hs_segset;

/*
 * Opens (creating when missing) the segment files of `dir`: fixed-stride records of rec_len
 * bytes, 2^shift records per file, each file mapped shared and writable.  Existing files must
 * carry a matching header.  The records are readable through hs_segset_chunks().
 */
int hs_segset_open(const hs_io_ops *io, const char *dir, const char *prefix, uint32_t rec_len,
                   uint32_t shift, hs_segset **out, hs_error *err);
/* Makes records [0, n) writable: creates and allocates files as needed (real blocks, so a full
 * disk is an HS_ENOSPC here and never a fault later).  Serialise with other writers. */
int hs_segset_reserve(hs_segset *s, uint64_t n, hs_error *err);
/* The records, as a lock-free readable table (external chunks into the mappings). */
const hs_chunks *hs_segset_chunks(const hs_segset *s);
/* Flushes every mapping and fsyncs every file. */
int hs_segset_sync(hs_segset *s, hs_error *err);
uint64_t hs_segset_disk_bytes(const hs_segset *s);
/* Marks the records as read one by one (no read-ahead), for these files and later ones. */
void hs_segset_set_random(hs_segset *s);
/* Drops the files' pages from the process (they stay in the files and the page cache; a later
 * access reads them back).  Any time: readers and writers see the same data. */
void hs_segset_release(hs_segset *s);
/* Reads record `slot` into buf (rec_len bytes) with pread, without mapping its page into the
 * process.  Errors: HS_ERANGE (no such record), HS_EIO. */
int hs_segset_pread(const hs_segset *s, uint32_t slot, void *buf);
/* Bytes of the files' pages mapped into the process now (/proc/self/pagemap). */
uint64_t hs_segset_resident_bytes(const hs_segset *s);
void hs_segset_close(hs_segset *s);
/* The checksum of the first len record bytes of segment file `index` (section VECS of a
 * checkpoint, docs/file-format.md). */
typedef struct hs_seg_sum {
    uint32_t index, crc;
    uint64_t len;
} hs_seg_sum;
/* Checksums of records [0, n) of every file, extending the running checksums of the previous
 * call (records written before it must not have changed: records are written once).
 * Ownership: *out is malloc'd.  Serialise with writers. */
int hs_segset_sums(hs_segset *s, uint64_t n, hs_seg_sum **out, size_t *count, hs_error *err);
/* Reads every byte the sums cover and compares; on success they become the running checksums.
 * Errors: HS_ECORRUPT naming the file (missing, shorter than covered, checksum mismatch). */
int hs_segset_verify(hs_segset *s, const hs_seg_sum *sums, size_t count, hs_error *err);
/* Checks a segment header (exposed for the fuzzer): HS_OK or HS_ECORRUPT / HS_EVERSION. */
int hs_seg_header_check(const uint8_t *buf, size_t len, uint32_t rec_len, uint32_t shift,
                        uint32_t index);
/* Shift for a record size: at most 65536 records and about 64 MiB per file. */
uint32_t hs_seg_shift_for(uint32_t rec_len);

/* ---- checkpoints ----------------------------------------------------------------------- */

#define HS_CKPT_MAX_SECTIONS 32

typedef struct hs_ckpt_writer hs_ckpt_writer;

/* Starts `<dir>/<name>.tmp`; sections are appended in order. */
int hs_ckpt_begin(const hs_io_ops *io, const char *dir, const char *name, hs_ckpt_writer **out,
                  hs_error *err);
int hs_ckpt_add(hs_ckpt_writer *w, uint32_t tag, const void *data, size_t len, hs_error *err);
/* A section from pieces written one after the other (one checksum over them all). */
typedef struct hs_ckpt_part {
    const void *data;
    size_t len;
} hs_ckpt_part;
int hs_ckpt_add_parts(hs_ckpt_writer *w, uint32_t tag, const hs_ckpt_part *parts, size_t nparts,
                      hs_error *err);
/* Writes the header, fsyncs, renames to `<dir>/<name>` and fsyncs the directory.  Frees w. */
int hs_ckpt_commit(hs_ckpt_writer *w, hs_error *err);
/* Removes the temporary file and frees w. */
void hs_ckpt_abort(hs_ckpt_writer *w);

typedef struct hs_ckpt {
    const hs_io_ops *io;
    uint8_t *map; /* read-only mapping of the whole file */
    size_t len;
    uint32_t nsections;
    struct {
        uint32_t tag;
        uint64_t off, len;
    } sec[HS_CKPT_MAX_SECTIONS];
} hs_ckpt;

/* Opens and verifies a checkpoint (header, every section's checksum). */
int hs_ckpt_open(const hs_io_ops *io, const char *path, hs_ckpt *c, hs_error *err);
/* A section's bytes (valid until hs_ckpt_close) or NULL when absent. */
const uint8_t *hs_ckpt_section(const hs_ckpt *c, uint32_t tag, size_t *len);
void hs_ckpt_close(hs_ckpt *c);
/* Reads one small section (up to cap bytes) after verifying the header and that section only:
 * cheap enough to run for every collection at start-up. */
int hs_ckpt_peek(const hs_io_ops *io, const char *path, uint32_t tag, void *buf, size_t cap,
                 size_t *len, hs_error *err);
/* Verifies a checkpoint held in memory (exposed for the fuzzer). */
int hs_ckpt_parse(const uint8_t *buf, size_t len, hs_ckpt *c, hs_error *err);

/* ---- the collection manifest ------------------------------------------------------------ */

/* What a collection's directory must hold beyond its checkpoint (file `manifest`, replaced
 * atomically; format in docs/file-format.md): the newest durable checkpoint, the newest log
 * segment created and the final length of each closed segment a replay may still need. */
typedef struct hs_manifest {
    uint64_t ckpt_seq; /* 0: no checkpoint yet */
    uint64_t wal_last;
    hs_wal_seginfo *closed; /* ascending by seq */
    size_t nclosed;
} hs_manifest;

#define HS_MANIFEST_NAME "manifest"
#define HS_MANIFEST_MAX_CLOSED 65536u

/* Reads and verifies `<dir>/manifest`.  Errors: HS_ENOTFOUND (no file), HS_ECORRUPT (naming
 * the file), HS_EIO, HS_ENOMEM.  Ownership: free m->closed with hs_manifest_destroy. */
int hs_manifest_read(const hs_io_ops *io, const char *dir, hs_manifest *m, hs_error *err);
/* Encodes m and replaces `<dir>/manifest` atomically (tmp, fsync, rename, directory fsync). */
int hs_manifest_write(const hs_io_ops *io, const char *dir, const hs_manifest *m, hs_error *err);
/* Records a closed segment (replacing an entry with the same seq). */
int hs_manifest_add_closed(hs_manifest *m, hs_wal_seginfo s);
/* Forgets the closed segments below seq (a checkpoint covers them). */
void hs_manifest_prune(hs_manifest *m, uint64_t seq);
void hs_manifest_destroy(hs_manifest *m);
/* Decodes a manifest held in memory (exposed for tests): HS_OK or HS_ECORRUPT / HS_EVERSION. */
int hs_manifest_parse(const uint8_t *buf, size_t len, hs_manifest *m);
/* The bytes of m as the manifest file holds them (malloc'd into *out).  HS_EFULL, HS_ENOMEM. */
int hs_manifest_encode(const hs_manifest *m, uint8_t **out, size_t *out_len, hs_error *err);

/* ---- snapshot archives (archive.c) ------------------------------------------------------- */

/* A container of named entries written front to back (a file, a socket, a stream): header,
 * entries, a manifest listing them with the caller's description, trailer; every byte under a
 * CRC-32C (docs/file-format.md, "Snapshot archive").  Groups, kinds (1..65535) and names are
 * the caller's; a reader hands names over unchecked, so never use one as a path as it is. */
#define HS_ARCHIVE_NAME_MAX 255
#define HS_ARCHIVE_HEADER 32
#define HS_ARCHIVE_TRAILER 32

/* Writes len bytes: 0 or a negative errno. */
typedef int (*hs_archive_sink)(void *ctx, const void *buf, size_t len);
/* Reads up to cap bytes: how many (0 at the end) or a negative errno. */
typedef long (*hs_archive_source)(void *ctx, void *buf, size_t cap);
/* Reads len bytes at off: how many or a negative errno. */
typedef long (*hs_archive_pread)(void *ctx, void *buf, size_t len, uint64_t off);

typedef struct hs_archive_entry {
    uint32_t group;
    uint16_t kind;
    char name[HS_ARCHIVE_NAME_MAX + 1];
    uint64_t len;    /* data bytes */
    uint64_t offset; /* of the entry's header in the archive */
    uint32_t crc;    /* of the data */
} hs_archive_entry;

typedef struct hs_archive_writer hs_archive_writer;

/* Writes the header.  Ownership: free *out with hs_archive_writer_free. */
int hs_archive_start(hs_archive_sink sink, void *ctx, uint64_t clock, hs_archive_writer **out,
                     hs_error *err);
/* An entry of exactly len data bytes: begin, data (any number of pieces), end. */
int hs_archive_entry_begin(hs_archive_writer *w, uint32_t group, uint16_t kind, const char *name,
                           uint64_t len, hs_error *err);
int hs_archive_entry_data(hs_archive_writer *w, const void *buf, size_t len, hs_error *err);
int hs_archive_entry_end(hs_archive_writer *w, hs_error *err);
/* Writes the manifest (the entries and meta) and the trailer; *total gets the archive's size. */
int hs_archive_finish(hs_archive_writer *w, const void *meta, size_t meta_len, uint64_t *total,
                      hs_error *err);
void hs_archive_writer_free(hs_archive_writer *w);

/* What a reader calls for each entry before the manifest: begin (a non-zero return stops the
 * read and is returned), data in pieces, end once the data's checksum matched.  Nothing an
 * archive holds is verified before hs_archive_read returns HS_OK. */
typedef struct hs_archive_visitor {
    int (*begin)(void *ctx, const hs_archive_entry *e, hs_error *err);
    int (*data)(void *ctx, const void *buf, size_t len, hs_error *err);
    int (*end)(void *ctx, const hs_archive_entry *e, hs_error *err);
    void *ctx;
} hs_archive_visitor;

/* An archive's manifest: its clock, size, entries and the writer's description. */
typedef struct hs_archive_toc {
    uint64_t clock, total;
    hs_archive_entry *entries;
    size_t n;
    uint8_t *meta;
    size_t meta_len;
} hs_archive_toc;

void hs_archive_toc_free(hs_archive_toc *t);
/* Reads a whole archive (v may be NULL: check only), verifying every checksum, the manifest
 * against the entries and the end of the stream right after the trailer.  Errors: HS_ECORRUPT
 * (naming the offset: damage, a cut, bytes after the end), HS_EVERSION, HS_EIO (the source),
 * HS_ENOMEM, or what a visitor returned.  Ownership: t is freed with hs_archive_toc_free (and
 * zeroed on failure). */
int hs_archive_read(hs_archive_source src, void *ctx, const hs_archive_visitor *v,
                    hs_archive_toc *t, hs_error *err);
/* Reads only the header, trailer and manifest of an archive of `size` bytes (a listing): the
 * entries' data is not checked.  Errors as hs_archive_read. */
int hs_archive_peek(hs_archive_pread fn, void *ctx, uint64_t size, hs_archive_toc *t,
                    hs_error *err);

/* Process-wide log counters (relaxed atomics): group and own fsyncs, failed fsyncs. */
typedef struct hs_wal_counters_t {
    uint64_t fsyncs, fsync_failures;
} hs_wal_counters_t;
extern hs_wal_counters_t hs_wal_counters;

#endif /* HS_STORAGE_H */
