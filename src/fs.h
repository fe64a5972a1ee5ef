/* fs.h - the FUSE low-level operations of leadpipefs.
 *
 * Turns each kernel request into calls on the inode view (view.h) and the
 * per-open write buffers (wbuf.h). Knows FUSE, never curl.
 */
#ifndef LEADPIPEFS_FS_H
#define LEADPIPEFS_FS_H

#include <fuse_lowlevel.h>
#include <pthread.h>

#include "view.h"

struct lp_dh;
struct lp_fh;

struct lp_fs {
    lp_view *view;
    double cache_timeout; /* kernel entry/attr timeout, seconds */
    /* The root's names version the kernel's cached listing was made from. */
    uint64_t root_version;
    bool no_opendir;          /* the kernel keeps listings without OPENDIR */
    struct lp_dh *root_snap;  /* the root's listing for READDIRs without a handle */
    struct lp_fh *open_files; /* freed at cleanup if their RELEASE never came */
    const char *mountpoint;   /* absolute, for lp_fs_detached; NULL: never detached */
    struct fuse_session *se;  /* to see the session end while a stream read waits */
    pthread_mutex_t lock;
};

/* The operation table; the session's userdata must be a struct lp_fs *. */
const struct fuse_lowlevel_ops *lp_fs_ops(void);
/* Frees what the operations kept between requests (after the session ends). */
void lp_fs_cleanup(struct lp_fs *fs);

#endif
