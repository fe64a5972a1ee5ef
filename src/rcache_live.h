/* rcache_live.h - a results file still being downloaded, as its writer
 * (rcache.c) and its readers (given one by rcache.h) see it: how many bytes
 * of the current try are on disk, the length that try announced, and how the
 * download ended. Readers wait here for the bytes they need, so a first read
 * is served while the download runs instead of after it.
 *
 * The rule that keeps a download cut short from ever being served: a read
 * that reaches the announced end (or lies past it, or any read while no
 * length is announced) waits until the whole download is judged complete and
 * of its announced length; any other read waits only for its own bytes. A
 * failed download fails every read still waiting, and every later one, with
 * EIO. Refcounted (the writer and each reader); thread-safe, one lock each.
 */
#ifndef LEADPIPEFS_RCACHE_LIVE_H
#define LEADPIPEFS_RCACHE_LIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A file still being downloaded, as one reader sees it. */
typedef struct lp_rcache_live lp_rcache_live;

/* The reader's side (through lp_rcache_open_file, rcache.h).
 * Waits at most ms milliseconds until the len bytes at off of a live file
 * can be read from its fd. Returns how many may be read (fewer at the end,
 * 0 past it: only once the download is whole), -EAGAIN when the time ran
 * out, -EIO once the download failed (for good: a new download is another
 * file). *size: the length as known now (announced, or final), 0 if not. */
ssize_t lp_rcache_live_wait(lp_rcache_live *l, uint64_t off, size_t len, int ms, uint64_t *size);
/* Gives back a reference from lp_rcache_open_file; NULL is ignored. */
void lp_rcache_live_put(lp_rcache_live *l);

/* The writer's side (rcache.c). */

/* A live file reading the part through fd (read-only, taken over), one
 * reference (the writer's). NULL on ENOMEM (fd closed). */
lp_rcache_live *lp_rcache_live_new(int fd);
/* One more reference (a reader). */
void lp_rcache_live_get(lp_rcache_live *l);
/* A descriptor of the part for one reader (the caller closes it): the fd,
 * or -EIO (logged by the caller). */
int lp_rcache_live_dup(lp_rcache_live *l);
/* The length as known now: true with *size once announced or whole. */
bool lp_rcache_live_size(lp_rcache_live *l, uint64_t *size);

/* The writer. A new try starts (a retry): nothing of it is on disk yet and
 * its length is unknown until announced. */
void lp_rcache_live_restart(lp_rcache_live *l);
/* The try's answer announced len bytes (negative: it did not say). */
void lp_rcache_live_announce(lp_rcache_live *l, int64_t len);
/* The first avail bytes of the try are on disk. */
void lp_rcache_live_written(lp_rcache_live *l, uint64_t avail);
/* The download is whole: len bytes, all on disk (readers go on to the end). */
void lp_rcache_live_whole(lp_rcache_live *l, uint64_t len);
/* The download failed: waiting and later reads get -EIO. No effect once whole. */
void lp_rcache_live_fail(lp_rcache_live *l);

#endif
