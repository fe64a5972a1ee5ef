/* fs_reply.c - the helpers of fs_reply.h. */
#include "fs_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accesslog.h"
#include "metrics.h"
#include "proc_fds.h"

struct lp_fs *lp_fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

double lp_fs_attr_timeout(struct lp_fs *fs, fuse_ino_t ino)
{
    /* A live file's size grows by itself: `tail -f` polls it with fstat. */
    return lp_view_is_live(fs->view, ino) ? 0 : fs->cache_timeout;
}

void lp_fs_fill_entry(struct lp_fs *fs, struct fuse_entry_param *e, const struct stat *st)
{
    memset(e, 0, sizeof(*e));
    e->ino = st->st_ino;
    e->generation = 1;
    e->attr = *st;
    e->attr_timeout = lp_fs_attr_timeout(fs, st->st_ino);
    e->entry_timeout = fs->cache_timeout;
}

void lp_fs_reply_entry(fuse_req_t req, int rc, const struct stat *st)
{
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct fuse_entry_param e;
    lp_fs_fill_entry(lp_fs_of(req), &e, st);
    fuse_reply_entry(req, &e);
}

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double lp_op_start(const char *op)
{
    lp_metrics_fuse_op(op);
    return mono_seconds();
}

void lp_op_log(struct lp_fs *fs, const char *op, double t0, fuse_ino_t ino, const char *name,
               int rc)
{
    char *path = lp_view_path(fs->view, ino, name);
    if (!path)
        return; /* not logged (the access log itself), or no memory */
    lp_accesslog_fuse(op, path, rc, mono_seconds() - t0);
    free(path);
}

bool lp_fs_detached(struct lp_fs *fs)
{
    if (!fs->mountpoint)
        return false;
    /* -1, cannot tell: keep going */
    return lp_mountinfo_find("/proc/self/mountinfo", fs->mountpoint, "fuse.leadpipefs", NULL) == 0;
}

void lp_fs_end_session(struct lp_fs *fs)
{
    /* The worker that takes the next request (the follower's next read or
     * its close) ends the loop; a reader that got EOF and closed its file
     * releases the last reference, and the kernel ends the connection. */
    if (fs->se)
        fuse_session_exit(fs->se);
}
