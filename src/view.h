/* view.h - the inode view of leadpipefs: what the file system layer asks.
 *
 * Maps inode numbers to nodes; every node has a kind, an ops table in the
 * file that owns the concern (inode.h), and this file's functions dispatch to
 * it. Records (records.h) are what the nodes show; sync.h brings them from
 * the API. Knows neither FUSE nor curl: the layer above learns what the kernel
 * must forget through the notify callback. Every function is thread-safe and
 * returns 0 or a negative errno.
 */
#ifndef LEADPIPEFS_VIEW_H
#define LEADPIPEFS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "inode.h"

typedef struct lp_view lp_view;

/* Returns a new view or NULL; it listens to the records from now on. */
lp_view *lp_view_new(const struct lp_view_options *opts);
/* Frees the view and its nodes (the sync must be stopped first). */
void lp_view_free(lp_view *v);

/* The first listing (start-up check). On failure *err says what the API answered. */
int lp_view_load(lp_view *v, struct lp_api_error *err);

/* Fills st for the child `name` of `parent` and counts one kernel reference.
 * fetch false (readdirplus, once per entry): no request at all, not even the
 * listing, and -EAGAIN where the answer would need one. */
int lp_view_lookup(lp_view *v, lp_ino parent, const char *name, bool fetch, struct stat *st);
void lp_view_forget(lp_view *v, lp_ino ino, uint64_t nlookup);
int lp_view_getattr(lp_view *v, lp_ino ino, struct stat *st);

/* A directory's entries (without "." and ".."), as of now. Caller frees with
 * lp_dirents_free. *version changes whenever the names of a directory whose
 * names change behind the kernel's back change (0 for others). refresh: bring
 * a stale listing up to date first; a readdir does that once, at its start,
 * and reads the rest of the directory from what that listing gave. */
int lp_view_list(lp_view *v, lp_ino dir, bool refresh, struct lp_dirent **ents, size_t *n,
                 uint64_t *version);
/* Checks a directory exists and gives the version lp_view_list would give. */
int lp_view_dir_version(lp_view *v, lp_ino dir, bool refresh, uint64_t *version);

/* Opening a file: its write rule (EISDIR for directories, EACCES when writing
 * a read-only file) and, unless LP_WRITE_IN_PLACE, its whole content as of now
 * (*data malloc'd, caller frees). */
int lp_view_open(lp_view *v, lp_ino ino, bool writing, enum lp_write_rule *rule, char **data,
                 size_t *len);
/* A node's write rule, without opening it (directories: LP_WRITE_NONE). */
int lp_view_rule(lp_view *v, lp_ino ino, enum lp_write_rule *rule);
/* LP_READ_FILE: a descriptor holding the file (the caller closes it) and its
 * size as known now (0: not yet). While the file is still being downloaded,
 * *live is set (else NULL): every read waits with lp_view_file_wait first.
 * lp_view_close_fd once closed, with that live. */
int lp_view_open_fd(lp_view *v, lp_ino ino, int *fd, uint64_t *size, struct lp_rcache_live **live);
void lp_view_close_fd(lp_view *v, lp_ino ino, struct lp_rcache_live *live);
/* A read of len bytes at off of a file still being downloaded: waits at most
 * ms for its bytes (lp_rcache_live_wait: how many may be read now, -EAGAIN,
 * or -EIO once the download failed); *size the length as known now. No lock
 * of the view's is held. */
ssize_t lp_view_file_wait(struct lp_rcache_live *live, uint64_t off, size_t len, int ms,
                          uint64_t *size);
/* Sends a complete payload written to a file (its rule's word or config). */
int lp_view_store(lp_view *v, lp_ino ino, const char *payload);
/* Records a failure the user should find in user.leadpipe.lastError. */
void lp_view_set_error(lp_view *v, lp_ino ino, const char *message);

/* In-memory files (LP_WRITE_IN_PLACE): bytes read/written or -errno. */
ssize_t lp_view_read(lp_view *v, lp_ino ino, char *buf, size_t size, off_t off);
ssize_t lp_view_write(lp_view *v, lp_ino ino, const char *buf, size_t size, off_t off);
/* *target malloc'd; caller frees. */
int lp_view_readlink(lp_view *v, lp_ino ino, char **target);

/* Attribute changes; valid: LP_SET_* bits (inode.h). Size changes only in-memory files
 * here (an open config.json/status is truncated through its write buffer). */
int lp_view_setattr(lp_view *v, lp_ino ino, int valid, const struct stat *in, struct stat *out);

/* Namespace changes; those that make a node count a kernel reference. */
int lp_view_create(lp_view *v, lp_ino parent, const char *name, mode_t mode, uid_t uid, gid_t gid,
                   struct stat *st);
int lp_view_symlink(lp_view *v, lp_ino parent, const char *name, const char *target, uid_t uid,
                    gid_t gid, struct stat *st);
int lp_view_mkdir(lp_view *v, lp_ino parent, const char *name, struct stat *st);
int lp_view_unlink(lp_view *v, lp_ino parent, const char *name);
int lp_view_rmdir(lp_view *v, lp_ino parent, const char *name);
int lp_view_rename(lp_view *v, lp_ino parent, const char *name, lp_ino newparent,
                   const char *newname, unsigned flags);

/* Extended attributes (user.leadpipe.*): *value malloc'd (caller frees),
 * -ENODATA when absent; the list is NUL-separated names, malloc'd. */
int lp_view_getxattr(lp_view *v, lp_ino ino, const char *name, char **value, size_t *len);
int lp_view_listxattr(lp_view *v, lp_ino ino, char **list, size_t *len);

/* The path below the mount of ino, or of its child name when name is not
 * NULL, for the access log: malloc'd (caller frees); NULL on no memory, and
 * for a live file itself (its own operations are not logged: `tail -f`
 * stats it every second, and each line would grow what it follows). */
char *lp_view_path(lp_view *v, lp_ino ino, const char *name);
/* True for a live file (the access log): its attributes change by themselves. */
bool lp_view_is_live(lp_view *v, lp_ino ino);

/* Number of nodes, for statfs. */
size_t lp_view_node_count(lp_view *v);
/* Bytes editors' scratch files hold, and the most they may (statfs). */
void lp_view_scratch_space(lp_view *v, uint64_t *used, uint64_t *total);

#endif
