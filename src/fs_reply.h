/* fs_reply.h - what every FUSE operation of leadpipefs shares: the file
 * system behind a request, the entry it replies with, its access-log line,
 * and the session it belongs to. */
#ifndef LEADPIPEFS_FS_REPLY_H
#define LEADPIPEFS_FS_REPLY_H

#include "fs_types.h"

struct lp_fs *lp_fs_of(fuse_req_t req);
/* How long the kernel may trust ino's attributes: cache_timeout, 0 for a live file. */
double lp_fs_attr_timeout(struct lp_fs *fs, fuse_ino_t ino);
/* An entry for st, trusted by the kernel for cache_timeout. */
void lp_fs_fill_entry(struct lp_fs *fs, struct fuse_entry_param *e, const struct stat *st);
/* Replies with the entry for st, or the error rc (negative errno). */
void lp_fs_reply_entry(fuse_req_t req, int rc, const struct stat *st);

/* Starts timing a FUSE operation (and counts it in the stats). */
double lp_op_start(const char *op);
/* Writes the access-log line of an operation on ino (or its child name);
 * operations on the access log itself are not logged. rc: 0 or a negative errno. */
void lp_op_log(struct lp_fs *fs, const char *op, double t0, fuse_ino_t ino, const char *name,
               int rc);

/* True once the mount point no longer shows this file system (a lazy unmount
 * while a file is held open keeps the session alive otherwise). */
bool lp_fs_detached(struct lp_fs *fs);
/* Ends the session loop (the daemon then exits with status 0). */
void lp_fs_end_session(struct lp_fs *fs);

#endif
