/* accesslog.h - the live access log behind MOUNTPOINT/.leadpipe/accesslog.
 *
 * One line per FUSE operation and per API request it caused, kept in a
 * bounded ring (the latest LP_ACCESSLOG_LINES lines, LP_ACCESSLOG_BYTES bytes
 * at most) and read as a log file that grows: its size is every byte logged
 * since the mount started, its time the newest line's, and a read at the end
 * waits for the next line. So `tail -f` (which stats, seeks near the end and
 * polls the size) follows it, `tail -n 20` prints the latest lines and
 * returns, and `cat` prints what is kept and then follows. A reader too slow
 * to keep up loses the oldest lines it had not read (counted, and told in the
 * stream as one line "# N lines dropped"), and never slows down a writer:
 * writers only take the ring's lock for a copy.
 *
 * Line format (tab-free, one "\n"-terminated line):
 *   2026-12-02T06:20:14.123456Z fuse lookup /Alpha/config.json 0 0.000412
 *   2026-12-02T06:20:14.123500Z api GET /v1/intent/audiences/ID 200 0.021000 1234
 * i.e. time (UTC, microseconds), source, operation, path, result (errno name
 * or 0 for FUSE; HTTP status or "error" for the API), duration in seconds,
 * and for the API the bytes received. The API key never appears (lines pass
 * through lp_scrub with the key set by lp_accesslog_set_secret).
 *
 * Process-wide; thread-safe.
 */
#ifndef LEADPIPEFS_ACCESSLOG_H
#define LEADPIPEFS_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#define LP_ACCESSLOG_LINES 4096
#define LP_ACCESSLOG_BYTES (1 << 20)

/* The key to scrub from every line (copied; NULL clears). Returns 0 or -1 (ENOMEM). */
int lp_accesslog_set_secret(const char *secret);

/* The file's size (bytes logged so far) and time (of the newest line). */
uint64_t lp_accesslog_size(void);
struct timespec lp_accesslog_mtime(void);

/* A FUSE operation: op, path (may be NULL: "-"), result (0 or a negative
 * errno), seconds it took. */
void lp_accesslog_fuse(const char *op, const char *path, int result, double seconds);
/* An API exchange: status 0 when no answer arrived. */
void lp_accesslog_api(const char *method, const char *path, long status, double seconds,
                      size_t bytes);

typedef struct lp_accesslog_reader lp_accesslog_reader;

/* Opens a reader. NULL on no memory. */
lp_accesslog_reader *lp_accesslog_open(void);
void lp_accesslog_close(lp_accesslog_reader *r);

/* Copies up to size bytes of the log at offset off into buf. Offsets are the
 * reader's file positions: the first read at 0 starts at the oldest line kept
 * when the reader opened, reads in sequence go on from there, and a read
 * anywhere else seeks to that byte of the log. A position whose bytes are no
 * longer kept reads one line "# N lines dropped" (or "# earlier lines
 * dropped" after a seek), then the oldest line kept. At the end, waits for a
 * line up to timeout_ms (-1: no limit; 0: no wait). Returns the bytes copied
 * (0 at once when size is 0), 0 on timeout, -EINTR once lp_accesslog_interrupt
 * was called for this reader (then clears it), or -ESHUTDOWN after
 * lp_accesslog_shutdown. */
ssize_t lp_accesslog_read(lp_accesslog_reader *r, char *buf, size_t size, uint64_t off,
                          int timeout_ms);
/* Wakes a read of r with -EINTR (a FUSE INTERRUPT); callable from any thread,
 * also before the read starts waiting. */
void lp_accesslog_interrupt(lp_accesslog_reader *r);
/* Wakes every reader with -ESHUTDOWN from now on (the mount is ending). */
void lp_accesslog_shutdown(void);
/* Lines this reader lost by being slow, so far. */
unsigned long lp_accesslog_dropped(const lp_accesslog_reader *r);
/* Back to the initial state, the log empty: no readers may be open (tests). */
void lp_accesslog_reset(void);

#endif
