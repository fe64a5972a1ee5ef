/* fs.h - the FUSE low-level operations of leadpipefs.
 *
 * Turns each kernel request into calls on the inode cache (tree.h) and the
 * per-open write buffers (wbuf.h). Knows FUSE, never curl.
 */
#ifndef LEADPIPEFS_FS_H
#define LEADPIPEFS_FS_H

#include <fuse_lowlevel.h>
#include <pthread.h>

#include "tree.h"

struct lp_fs {
    lp_tree *tree;
    double cache_timeout; /* kernel entry/attr timeout, seconds */
    /* The root's names version the kernel's cached listing was made from. */
    uint64_t root_version;
    pthread_mutex_t lock;
};

/* The operation table; the session's userdata must be a struct lp_fs *. */
const struct fuse_lowlevel_ops *lp_fs_ops(void);

#endif
