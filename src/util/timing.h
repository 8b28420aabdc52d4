/* timing.h: the process-wide observer of engine timings (hs_set_timing_observer). */
#ifndef HS_UTIL_TIMING_H
#define HS_UTIL_TIMING_H

#include "hyperspace.h"

/* Hands one timing to the observer, if any. */
void hs_timing_report(hs_timing what, double seconds);

#endif
