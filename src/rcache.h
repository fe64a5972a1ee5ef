/* rcache.h - the results cache: completed runs' export.csv files on local
 * disk (SPEC "results.csv"), so a CSV is downloaded once, never held in
 * memory whole, and read through the kernel's page cache.
 *
 * One directory private to the mounting user (mode 0700, files 0600),
 * bounded in bytes: when a new file would pass the bound, the least recently
 * used files are dropped first; a file held open (pinned) is never dropped.
 * A file is written as KEY.part and renamed to KEY only once complete and of
 * the length the API announced, so a download cut short (crash, stall,
 * dropped connection) is never served; leftover .part files are removed when
 * the cache opens. Complete files stay across mounts (a completed run never
 * changes) and count toward the bound from the start.
 *
 * Keys are run ids; any byte outside [A-Za-z0-9_-] is written %XX in the file
 * name. Thread-safe (one lock); I/O errors are returned as -EIO (or -ENOSPC)
 * with a reason logged. Knows neither the API nor FUSE.
 */
#ifndef LEADPIPEFS_RCACHE_H
#define LEADPIPEFS_RCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lp_rcache lp_rcache;

/* Opens (creating with mode 0700, parents too) the cache in dir, bounded to
 * limit bytes (0: no bound). NULL with a reason in err when dir cannot be
 * made private or used. The caller chooses dir (lp_rcache_default_dir). */
lp_rcache *lp_rcache_open(const char *dir, uint64_t limit, char *err, size_t errlen);
void lp_rcache_close(lp_rcache *c);

/* The default place: $XDG_CACHE_HOME/leadpipefs, else $HOME/.cache/leadpipefs,
 * then a subdirectory per API (hex FNV-1a of base_url and key: two accounts
 * never share files). Malloc'd; NULL when neither variable is set. */
char *lp_rcache_default_dir(const char *base_url, const char *key);

/* The size of key's complete file, without opening it: 0 or -ENOENT. Counts
 * as a use (LRU). */
int lp_rcache_size(lp_rcache *c, const char *key, uint64_t *size);
/* Opens key's complete file read-only and pins it: returns the fd, or
 * -ENOENT. Unpin with lp_rcache_unpin (after closing the fd, or before). */
int lp_rcache_open_file(lp_rcache *c, const char *key, uint64_t *size);
void lp_rcache_unpin(lp_rcache *c, const char *key);

/* Writing one file. */
typedef struct lp_rcache_part lp_rcache_part;
/* Starts (or restarts, truncating) KEY.part. NULL with *err set (-EIO...). */
lp_rcache_part *lp_rcache_begin(lp_rcache *c, const char *key, int *err);
/* Appends; 0 or -EIO/-ENOSPC. Usable as a download sink. */
int lp_rcache_write(lp_rcache_part *p, const char *buf, size_t n);
/* Back to empty (a retried download starts over). */
int lp_rcache_reset(lp_rcache_part *p);
/* Makes the file complete (fsync, rename) when its length is expected_len,
 * evicting least recently used unpinned files to stay within the bound.
 * Returns 0, -EIO on a length mismatch or I/O error (the part is removed
 * either way). Frees p. */
int lp_rcache_commit(lp_rcache_part *p, uint64_t expected_len);
/* Removes the part and frees p. */
void lp_rcache_abort(lp_rcache_part *p);

/* Bytes held by complete files (for tests and stats). */
uint64_t lp_rcache_bytes(lp_rcache *c);

#endif
