/*
 * fault_io.h: an hs_io_ops table over POSIX that counts calls and injects faults, for tests.
 *   - fail the N-th pwrite / fsync / fallocate from now with a given errno (0 = never);
 *   - make every pwrite short (write half, then fail) to exercise partial-record cleanup;
 *   - power-loss model: remembers, per file, the content at its last fsync; after
 *     fault_io_power_loss() + fault_io_apply_dump() every file holds that content again (files
 *     never fsynced, or whose creation was not made durable by a directory fsync, disappear).
 * Not thread-safe for configuration; the counters are atomic.
 */
#ifndef HS_TEST_FAULT_IO_H
#define HS_TEST_FAULT_IO_H

#include "hyperspace.h"

typedef struct fault_io {
    hs_io_ops ops;
    int fail_pwrite_at; /* 1 = the next pwrite fails; 0 = off */
    int pwrite_errno;
    int fail_fsync_at;
    int fsync_errno;
    int fail_fallocate_at;
    int fallocate_errno;
    int disk_full; /* while non-zero every fallocate fails with ENOSPC */
    int short_writes;
    unsigned long pwrites, fsyncs, fallocates; /* atomic counters */
    int track_power_loss;
    int dead; /* after a simulated power loss: every operation fails with EIO */
} fault_io;

void fault_io_init(fault_io *f);
/* Simulated power loss: from now on every operation fails, and the durable state of every
 * tracked file (its content at its last fsync; absent when never made durable, including its
 * directory entry) is written to `dump`.  Another process applies it with fault_io_apply_dump
 * once this one is gone. */
int fault_io_power_loss(fault_io *f, const char *dump);
int fault_io_apply_dump(const char *dump);
void fault_io_reset(fault_io *f);

#endif
