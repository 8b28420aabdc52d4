/* siphash.h: SipHash-1-3 (1 compression round, 3 finalisation rounds), the point hash of the
 * collection digest (spec grpc.md section 6). */
#ifndef HS_UTIL_SIPHASH_H
#define HS_UTIL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hs_siphash13(uint64_t k0, uint64_t k1, const void *data, size_t len);

#endif
