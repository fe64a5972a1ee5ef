/* isotime.h - the API's timestamps ("2026-01-31T12:00:00.123Z") as time. */
#ifndef LEADPIPEFS_ISOTIME_H
#define LEADPIPEFS_ISOTIME_H

#include <time.h>

/* "YYYY-MM-DDTHH:MM:SS[.fraction]" (UTC, as the API sends it) -> time; the
 * epoch when NULL or unreadable. No locale, no libc lock: cheap per stat. */
struct timespec lp_iso_time(const char *s);

#endif
