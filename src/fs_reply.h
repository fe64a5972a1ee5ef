/* fs_reply.h - what every FUSE operation of leadpipefs shares: the file
 * system behind a request and the entry it replies with. */
#ifndef LEADPIPEFS_FS_REPLY_H
#define LEADPIPEFS_FS_REPLY_H

#include "fs.h"

struct lp_fs *lp_fs_of(fuse_req_t req);
/* An entry for st, trusted by the kernel for cache_timeout. */
void lp_fs_fill_entry(struct lp_fs *fs, struct fuse_entry_param *e, const struct stat *st);
/* Replies with the entry for st, or the error rc (negative errno). */
void lp_fs_reply_entry(fuse_req_t req, int rc, const struct stat *st);

/* Starts timing a FUSE operation (and counts it in the stats). */
double lp_op_start(const char *op);
/* Writes the access-log line of an operation on ino (or its child name):
 * nothing unless someone follows the log. rc: 0 or a negative errno. */
void lp_op_log(struct lp_fs *fs, const char *op, double t0, fuse_ino_t ino, const char *name,
               int rc);

#endif
