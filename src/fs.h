/* fs.h - the FUSE low-level operations of leadpipefs.
 *
 * Turns each kernel request into calls on the inode view (view.h) and the
 * per-open write buffers (wbuf.h). Knows FUSE, never curl.
 */
#ifndef LEADPIPEFS_FS_H
#define LEADPIPEFS_FS_H

#include "fs_types.h"

/* The operation table; the session's userdata must be a struct lp_fs *. */
const struct fuse_lowlevel_ops *lp_fs_ops(void);
/* Frees what the operations kept between requests (after the session ends). */
void lp_fs_cleanup(struct lp_fs *fs);

#endif
