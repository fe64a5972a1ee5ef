/* rcache.h - the results cache: completed runs' export.csv files on local
 * disk (SPEC "results.csv"), so a CSV is downloaded once, never held in
 * memory whole, and read through the kernel's page cache.
 *
 * One directory private to the mounting user (mode 0700, files 0600),
 * bounded in bytes: when a new file would pass the bound, the least recently
 * used files are dropped first; a file held open (pinned) is never dropped.
 * A file is written as KEY.part and renamed to KEY only once complete and of
 * the length the API announced, so a download cut short (crash, stall,
 * dropped connection) is never made a complete file; leftover .part files
 * are removed when the cache opens. Complete files stay across mounts (a
 * completed run never changes) and count toward the bound from the start.
 *
 * A part can be read while it is written (lp_rcache_open_file with live):
 * each read waits for its own bytes, the read that reaches the announced end
 * waits until the download is whole and of that length, and a download that
 * fails fails its readers with EIO (rcache_live.h). So the first reader of a
 * large file need not wait for all of it, and still never sees a download
 * cut short as a shorter file.
 *
 * Keys are run ids; any byte outside [A-Za-z0-9_-] is written %XX (upper-case
 * hex) in the file name, so no key names a file outside the directory; the
 * empty key and keys whose name would pass 250 bytes are refused (-EINVAL
 * from lp_rcache_begin, -ENOENT from the lookups). The order of use is kept
 * in the files' atime, so it outlives the mount.
 *
 * Files are only dropped by a commit (or by an open that finds the directory
 * over a bound lowered since), never by an unpin: a file unpinned over the
 * bound goes at the next commit. Parts being written do not count toward the
 * bound. Thread-safe (one lock); I/O errors are returned as -EIO, a full disk
 * or quota as -ENOSPC, with a reason logged (warning, naming the file). Knows
 * neither the API nor FUSE.
 */
#ifndef LEADPIPEFS_RCACHE_H
#define LEADPIPEFS_RCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rcache_live.h"

typedef struct lp_rcache lp_rcache;

/* Opens (creating with mode 0700, parents too, whatever the umask) the cache
 * in dir, bounded to limit bytes (0: no bound). dir must be ours (effective
 * uid): one of ours with another mode is made 0700 (logged); another user's
 * is refused. Leftover KEY.part files are removed, complete files indexed,
 * other names left alone and not counted. NULL with a reason in err (not
 * logged) when dir cannot be made, made private or listed. The caller
 * chooses dir (lp_rcache_default_dir). */
lp_rcache *lp_rcache_open(const char *dir, uint64_t limit, char *err, size_t errlen);
/* Every part committed or aborted first; pins still held are forgotten. */
void lp_rcache_close(lp_rcache *c);

/* The default place: $XDG_CACHE_HOME/leadpipefs, else $HOME/.cache/leadpipefs,
 * then a subdirectory per API: 16 hex digits of FNV-1a 64 of base_url "\n"
 * key (two accounts never share files). Malloc'd; NULL when neither variable
 * is set to an absolute path (a relative XDG_CACHE_HOME is ignored, as the
 * XDG spec says). */
char *lp_rcache_default_dir(const char *base_url, const char *key);

/* The size of key's complete file, without opening it: 0 or -ENOENT. Counts
 * as a use (LRU). A file being written gives the length its download
 * announced (0), or -EINPROGRESS while none is announced. */
int lp_rcache_size(lp_rcache *c, const char *key, uint64_t *size);
/* Opens key's complete file read-only and pins it (once per call): returns
 * the fd, or -ENOENT (also when another commit dropped it since this key's
 * own commit: download again), or -EIO. Counts as a use (LRU). Unpin with
 * lp_rcache_unpin (after closing the fd, or before: the fd reads on).
 * live NULL: complete files only. Otherwise *live is NULL for a complete
 * file, and for a file being written (-EINPROGRESS until its part exists)
 * the fd reads the part, pinned likewise, and *live is a reference the
 * caller gives back with lp_rcache_live_put: every read of the fd goes
 * through lp_rcache_live_wait first. *size: the announced length, or 0. */
int lp_rcache_open_file(lp_rcache *c, const char *key, uint64_t *size, lp_rcache_live **live);
/* Undoes one pin; an unknown or unpinned key is ignored. Not a use, and drops
 * nothing by itself. */
void lp_rcache_unpin(lp_rcache *c, const char *key);

/* Writing one file. */
typedef struct lp_rcache_part lp_rcache_part;
/* Starts KEY.part (0600; a stale one is replaced). One writer per key: while
 * a part of key is open, another begin gets -EBUSY (the caller serialises a
 * run's download). NULL with *err set: -EBUSY, -EINVAL (unusable key),
 * -ENOSPC, -EIO, -ENOMEM. A complete file of key stays served until the
 * commit replaces it. */
lp_rcache_part *lp_rcache_begin(lp_rcache *c, const char *key, int *err);
/* The length the answer about to be written announced (negative: none).
 * Readers may read what arrives before that end; called at the start of
 * each try, after lp_rcache_reset for a retry. */
void lp_rcache_announce(lp_rcache_part *p, int64_t len);
/* Appends all n bytes (short writes and EINTR retried); 0 or -EIO/-ENOSPC.
 * Usable as a download sink. After an error the part stays failed (later
 * writes and the commit return the same error) until a reset. */
int lp_rcache_write(lp_rcache_part *p, const char *buf, size_t n);
/* Back to empty, clearing a write error (a retried download starts over).
 * The bytes on disk are overwritten rather than truncated (a reader may be
 * reading them: they are the same bytes of the same export); the commit cuts
 * what lies past the final length. Returns 0. */
int lp_rcache_reset(lp_rcache_part *p);
/* Checks that the part is whole, as lp_rcache_commit does, and lets its live
 * readers read on to the end, ahead of the commit's fsync. 0, or -EIO or
 * -ENOSPC; p stays the caller's (lp_rcache_commit or lp_rcache_abort next). */
int lp_rcache_finish(lp_rcache_part *p, uint64_t expected_len);
/* Makes the file complete (fsync, rename) when its length is expected_len,
 * evicting least recently used unpinned files to stay within the bound; the
 * new file is the most recently used and is never dropped by its own commit:
 * one bigger than the bound alone stays (everything else unpinned goes) and
 * is dropped by the first commit that finds it unpinned. Live readers go on
 * to the end as soon as the length is checked, before the fsync. Returns 0,
 * -EIO on a length mismatch or I/O error, -ENOSPC when a write or the fsync
 * found the disk full (the part is removed, nothing new is served; readers
 * already let through keep reading their whole, checked copy). Frees p. */
int lp_rcache_commit(lp_rcache_part *p, uint64_t expected_len);
/* Removes the part (its live readers get -EIO) and frees p. */
void lp_rcache_abort(lp_rcache_part *p);

/* Bytes held by complete files (for tests and stats). */
uint64_t lp_rcache_bytes(lp_rcache *c);

#endif
