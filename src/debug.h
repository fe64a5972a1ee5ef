/* debug.h - invariants checked in debug builds, as curl's DEBUGASSERT: free
 * in release builds (-Db_ndebug=true), loud in the test builds. */
#ifndef LEADPIPEFS_DEBUG_H
#define LEADPIPEFS_DEBUG_H

#include <assert.h>

#ifdef NDEBUG
#define LP_DEBUG_ASSERT(x) ((void)0)
#else
#define LP_DEBUG_ASSERT(x) assert(x)
#endif

#endif
