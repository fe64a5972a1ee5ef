/* fs_read.c - FUSE READ: what an open file returns. Split from fs_file.c
 * (open, write, flush, setattr), which makes the open file (fs_fh.h) this
 * reads from.
 *
 * A snapshot or write buffer is copied out under the file's lock; results.csv
 * is spliced from its cached file, waiting for the bytes still downloading;
 * the access log waits at its end as tail -f expects.
 */
#include "fs_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "fs_fh.h"
#include "fs_reply.h"
#include "log.h"
#include "metrics.h"

/* How long a read of a file still being downloaded waits between looks at
 * whether its reader gave up (Ctrl-C) or the session ended. */
#define LIVE_WAIT_MS 200

/* The kernel holds the size the first answer's Content-Length gave. A
 * download retried under a greater length makes it ask again (attributes
 * only: no page it holds is dropped) before this read's bytes could show it
 * the old end. A smaller length needs no word: the short read at the new end
 * shrinks the kernel's size, and an invalidation racing that read would
 * keep it from doing so (the page's zeroed tail would then be read). */
static void tell_size(struct lp_fs *fs, struct lp_fh *fh, fuse_ino_t ino, uint64_t size)
{
    pthread_mutex_lock(&fh->lock);
    bool grew = size > fh->size_told;
    fh->size_told = size;
    pthread_mutex_unlock(&fh->lock);
    if (grew && fs->se)
        fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

/* A file still being downloaded: waits until the read's bytes are on disk
 * (the bytes to send) or the download failed (-EIO); -EINTR when the reader
 * gave up, -EIO when the session ended. */
static ssize_t wait_live(fuse_req_t req, struct lp_fs *fs, struct lp_fh *fh, fuse_ino_t ino,
                         size_t size, off_t off)
{
    uint64_t now = 0;
    ssize_t n;
    while ((n = lp_view_file_wait(fh->live, (uint64_t)off, size, LIVE_WAIT_MS, &now)) == -EAGAIN) {
        if (fuse_req_interrupted(req))
            return -EINTR;
        if (fs->se && fuse_session_exited(fs->se))
            return -EIO;
    }
    if (n >= 0 && now > 0)
        tell_size(fs, fh, ino, now);
    return n;
}

/* results.csv: straight from the cached file (or the part being
 * downloaded), spliced when the kernel allows (op_init). */
static void read_local(fuse_req_t req, struct lp_fs *fs, struct lp_fh *fh, fuse_ino_t ino,
                       size_t size, off_t off)
{
    if (fh->live) {
        ssize_t n = wait_live(req, fs, fh, ino, size, off);
        if (n <= 0) {
            if (n < 0)
                fuse_reply_err(req, (int)-n);
            else
                fuse_reply_buf(req, NULL, 0);
            return;
        }
        size = (size_t)n;
    }
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    buf.buf[0].fd = fh->fd;
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void stream_interrupted(fuse_req_t req, void *reader)
{
    (void)req;
    lp_accesslog_interrupt(reader);
}

/* A read of the access log at its end waits for lines, as tail -f would,
 * until a signal interrupts it (Ctrl-C), the session ends, or the mount was
 * lazily unmounted (then the daemon ends: a follower must not keep it alive);
 * with O_NONBLOCK (tail sets it on a file it polls) it is EAGAIN instead. It
 * is not logged itself: each read would add the line the next one returns. */
static void read_stream(fuse_req_t req, struct lp_fs *fs, struct lp_fh *fh, size_t size,
                        off_t off, bool nonblock)
{
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    fuse_req_interrupt_func(req, stream_interrupted, fh->reader);
    uint64_t at = off < 0 ? 0 : (uint64_t)off;
    ssize_t n;
    while ((n = lp_accesslog_read(fh->reader, buf, size, at, nonblock ? 0 : 500)) == 0 && size) {
        if (nonblock) {
            n = -EAGAIN;
            break;
        }
        /* libfuse joins its workers at the end: this one must come back. */
        if (fs->se && fuse_session_exited(fs->se))
            break;
        if (lp_fs_detached(fs)) {
            lp_log(LP_LOG_INFO, "unmounted while the access log was followed: ending");
            lp_fs_end_session(fs);
            break;
        }
    }
    if (n == -ESHUTDOWN)
        n = 0; /* the end of the stream */
    if (n < 0)
        fuse_reply_err(req, (int)-n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

void lp_fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct lp_fh *fh = (struct lp_fh *)(uintptr_t)fi->fh;
    if (fh->rule == LP_READ_STREAM) {
        lp_metrics_fuse_op("read");
        read_stream(req, lp_fs_of(req), fh, size, off, (fi->flags & O_NONBLOCK) != 0);
        return;
    }
    double t0 = lp_op_start("read");
    lp_op_log(lp_fs_of(req), "read", t0, ino, NULL, 0);
    if (fh->rule == LP_READ_FILE) {
        read_local(req, lp_fs_of(req), fh, ino, size, off);
        return;
    }
    if (fh->rule == LP_WRITE_IN_PLACE) {
        char *buf = malloc(size ? size : 1);
        if (!buf) {
            fuse_reply_err(req, ENOMEM);
            return;
        }
        ssize_t n = lp_view_read(lp_fs_of(req)->view, ino, buf, size, off);
        if (n < 0)
            fuse_reply_err(req, (int)-n);
        else
            fuse_reply_buf(req, buf, (size_t)n);
        free(buf);
        return;
    }
    /* Copy, unlock, then reply: once the reply is out, the reader's close may
     * release (free) fh in another thread. */
    pthread_mutex_lock(&fh->lock);
    const char *data = fh->writable ? fh->wb.data : fh->snap;
    size_t len = fh->writable ? fh->wb.len : fh->snap_len;
    size_t n = off < 0 || (size_t)off >= len ? 0 : len - (size_t)off;
    if (n > size)
        n = size;
    char *copy = n ? malloc(n) : NULL;
    if (copy)
        memcpy(copy, data + off, n);
    pthread_mutex_unlock(&fh->lock);
    if (n && !copy)
        fuse_reply_err(req, ENOMEM);
    else
        fuse_reply_buf(req, copy, n);
    free(copy);
}
