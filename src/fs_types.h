/* fs_types.h - the state the FUSE operations share (struct lp_fs), kept
 * apart from fs.h so that fs_file.c, fs_dir.c and fs_reply.c, which fs.c's
 * table points to, never include the table's own header. */
#ifndef LEADPIPEFS_FS_TYPES_H
#define LEADPIPEFS_FS_TYPES_H

#include <fuse_lowlevel.h>
#include <pthread.h>

#include "proc_fds.h"
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
    /* This file system's device as /proc names it, found at INIT (read-only
     * after): to see which descriptors of a process are ours. */
    struct lp_fs_dev dev;
    bool dev_known;
};

#endif
