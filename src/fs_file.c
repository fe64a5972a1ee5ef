/* fs_file.c - FUSE operations on files: open, write, flush, release, create,
 * setattr and the attributes of an open file (READ is in fs_read.c).
 *
 * Files are opened with direct I/O, so every read reaches us and `stat` size
 * always equals the bytes a read returns. config.json and status get a write
 * buffer per open file (wbuf.c) whose content is sent to the API as soon as
 * it is complete, else at flush/fsync; the API's refusal becomes the errno of
 * that write, truncate, flush or fsync. In-memory files are read and written
 * in place.
 */
#include "fs_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accesslog.h"
#include "fs_fh.h"
#include "fs_reply.h"
#include "log.h"
#include "metrics.h"
#include "wbuf.h"

static void fh_own_size(struct lp_fh *fh, struct stat *st)
{
    if (!fh || !fh->writable)
        return;
    pthread_mutex_lock(&fh->lock);
    if (fh->wb.touched)
        st->st_size = (off_t)fh->wb.len;
    pthread_mutex_unlock(&fh->lock);
}

/* A write or truncate past the buffer's cap (fh->lock held). */
static void too_big(struct lp_fs *fs, const struct lp_fh *fh);

void lp_fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    double t0 = lp_op_start("getattr");
    struct lp_fs *fs = lp_fs_of(req);
    struct stat st;
    struct lp_fh *fh = fi ? (struct lp_fh *)(uintptr_t)fi->fh : NULL;
    int rc = lp_view_getattr(fs->view, ino, &st);
    lp_op_log(fs, "getattr", t0, ino, NULL, rc);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fh_own_size(fh, &st);
    fuse_reply_attr(req, &st, lp_fs_attr_timeout(fs, ino));
}

/* ---- write path of config.json and status ---- */

static const char *file_name(const struct lp_fh *fh)
{
    return fh->wb.kind == LP_WBUF_CONFIG  ? "config.json"
           : fh->wb.kind == LP_WBUF_QUEUE ? "runs/queue"
                                          : "status";
}

static void too_big(struct lp_fs *fs, const struct lp_fh *fh)
{
    char reason[96];
    snprintf(reason, sizeof(reason), "%s is larger than %zu bytes", file_name(fh),
             lp_wbuf_limit(fh->wb.kind));
    lp_log(LP_LOG_WARNING, "%s not sent: %s", file_name(fh), reason);
    lp_view_set_error(fs->view, fh->ino, reason);
}

/* Whether closing one descriptor leaves this open file open elsewhere, so an
 * unfinished content may still be finished: the shell's `>` dup2's the file
 * and closes the original before it writes, and each command inside
 * `{ ...; } > f` closes its copy when it exits while the shell keeps its own.
 * Only the last close decides. /proc tells whether the opener, the closing
 * process or its parent (`sh -c`, a subshell: whoever passed the descriptor
 * down) still has the file open for writing. Where it cannot tell about the
 * opener (no access), a close by another process is taken for one of those. */
static bool open_elsewhere(struct lp_fs *fs, const struct lp_fh *fh, pid_t closer)
{
    if (!fh->opener)
        return false;
    pid_t by = 0, parent = 0;
    lp_proc_ids(closer, &by, &parent);
    int held = fs->dev_known ? lp_proc_holds_for_writing(fh->opener, fs->dev, fh->ino) : -1;
    if (held == 1)
        return true;
    pid_t others[] = {by, parent};
    for (size_t i = 0; fs->dev_known && i < sizeof(others) / sizeof(others[0]); i++)
        if (others[i] > 0 && others[i] != fh->opener &&
            lp_proc_holds_for_writing(others[i], fs->dev, fh->ino) == 1)
            return true;
    if (held == 0)
        return false;
    return by && by != fh->opener;
}

enum settle_at {
    AT_WRITE, /* a write or truncate: waits for more */
    AT_FLUSH, /* a close: the last one decides */
    AT_FSYNC, /* the writer wants it kept: now */
};

/* Sends what the buffer holds when it is ready; returns 0 or -errno. closer:
 * the thread that closes (AT_FLUSH). */
static int settle(struct lp_fs *fs, struct lp_fh *fh, enum settle_at at, pid_t closer)
{
    char *payload = NULL;
    char reason[256];
    int err = 0;
    enum lp_wbuf_action act =
        lp_wbuf_decide(&fh->wb, at == AT_WRITE ? LP_WBUF_AT_WRITE : LP_WBUF_AT_CLOSE, &payload,
                       &err, reason, sizeof(reason));
    if (act == LP_WBUF_NOTHING)
        return 0;
    if (act == LP_WBUF_WAIT &&
        (at == AT_WRITE || (at == AT_FLUSH && open_elsewhere(fs, fh, closer))))
        return 0; /* not an error yet: more may come */
    /* After a refused write, the close finds the file as it was before that
     * write (unfinished: the empty file of `>`). The refusal is what counted:
     * the close repeats its errno, and its reason stays the one on record. */
    if (act == LP_WBUF_WAIT && fh->told)
        return -fh->told;
    if (act != LP_WBUF_SEND) {
        if (!fh->told) { /* said once */
            lp_log(LP_LOG_WARNING, "%s not sent: %s", file_name(fh), reason);
            lp_view_set_error(fs->view, fh->ino, reason);
        }
        fh->told = err;
        return -err;
    }
    int rc = lp_view_store(fs->view, fh->ino, payload);
    if (rc < 0) {
        fh->told = -rc; /* sync logged it and set lastError */
        free(payload);
        return rc;
    }
    lp_wbuf_sent(&fh->wb, payload);
    return 0;
}

/* Writes buf (size bytes at off) into the buffer, or truncates it to off
 * when buf is NULL, and sends what became ready. A change the API (or
 * validation) refused is not made: the buffer goes back to what it was, and
 * the caller sees the errno. fh->lock held; returns 0 or -errno. */
static int change(struct lp_fs *fs, struct lp_fh *fh, const char *buf, size_t size, off_t off)
{
    struct lp_wbuf_undo undo;
    int rc = lp_wbuf_save(&fh->wb, &undo);
    if (rc < 0)
        return rc;
    rc = buf ? lp_wbuf_write(&fh->wb, buf, size, off) : lp_wbuf_truncate(&fh->wb, off);
    if (rc == -EFBIG)
        too_big(fs, fh);
    if (rc == 0)
        rc = settle(fs, fh, AT_WRITE, 0);
    if (rc < 0)
        lp_wbuf_restore(&fh->wb, &undo);
    fh->told = rc < 0 ? -rc : 0; /* new content is news; a refusal was just said */
    lp_wbuf_undo_clear(&undo);
    return rc;
}

void lp_fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                 struct fuse_file_info *fi)
{
    double t0 = lp_op_start("write");
    struct lp_fs *fs = lp_fs_of(req);
    struct lp_fh *fh = (struct lp_fh *)(uintptr_t)fi->fh;
    if (fh->rule == LP_WRITE_IN_PLACE || fh->rule == LP_WRITE_TRIGGER) {
        /* A trigger's bytes mean nothing: the write itself is the command. */
        ssize_t n = fh->rule == LP_WRITE_TRIGGER ? lp_view_store(fs->view, ino, "")
                                                 : lp_view_write(fs->view, ino, buf, size, off);
        if (n == 0 && fh->rule == LP_WRITE_TRIGGER)
            n = (ssize_t)size;
        lp_op_log(fs, "write", t0, ino, NULL, n < 0 ? (int)n : 0);
        if (n < 0)
            fuse_reply_err(req, (int)-n);
        else
            fuse_reply_write(req, (size_t)n);
        return;
    }
    if (!fh->writable) {
        lp_op_log(fs, "write", t0, ino, NULL, -EBADF);
        fuse_reply_err(req, EBADF);
        return;
    }
    pthread_mutex_lock(&fh->lock);
    int rc = change(fs, fh, buf, size, off);
    pthread_mutex_unlock(&fh->lock);
    lp_op_log(fs, "write", t0, ino, NULL, rc);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_write(req, size);
}

static void flush_as(const char *op, enum settle_at at, fuse_req_t req, fuse_ino_t ino,
                     struct fuse_file_info *fi)
{
    double t0 = lp_op_start(op);
    struct lp_fs *fs = lp_fs_of(req);
    struct lp_fh *fh = (struct lp_fh *)(uintptr_t)fi->fh;
    int rc = 0;
    if (fh->writable) {
        pthread_mutex_lock(&fh->lock);
        rc = settle(fs, fh, at, fuse_req_ctx(req)->pid);
        pthread_mutex_unlock(&fh->lock);
    }
    lp_op_log(fs, op, t0, ino, NULL, rc);
    fuse_reply_err(req, -rc);
}

void lp_fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    flush_as("flush", AT_FLUSH, req, ino, fi);
}

void lp_fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)datasync;
    flush_as("fsync", AT_FSYNC, req, ino, fi);
}

/* ---- open, read, release ---- */

/* A RELEASE still queued when the file system is unmounted never comes:
 * lp_fs_cleanup frees what is left on this list. */
static void fh_register(struct lp_fs *fs, struct lp_fh *fh)
{
    pthread_mutex_lock(&fs->lock);
    fh->next = fs->open_files;
    if (fh->next)
        fh->next->prev = fh;
    fs->open_files = fh;
    pthread_mutex_unlock(&fs->lock);
}

static void fh_unregister(struct lp_fs *fs, struct lp_fh *fh)
{
    pthread_mutex_lock(&fs->lock);
    if (fh->prev)
        fh->prev->next = fh->next;
    else
        fs->open_files = fh->next;
    if (fh->next)
        fh->next->prev = fh->prev;
    pthread_mutex_unlock(&fs->lock);
}

static void fh_free(struct lp_fh *fh)
{
    if (fh->writable)
        lp_wbuf_clear(&fh->wb);
    if (fh->reader)
        lp_accesslog_close(fh->reader);
    if (fh->fd >= 0)
        close(fh->fd);
    free(fh->snap);
    pthread_mutex_destroy(&fh->lock);
    free(fh);
}

static void fh_close(struct lp_fs *fs, struct lp_fh *fh)
{
    if (fh->fd >= 0) {
        close(fh->fd);
        fh->fd = -1;
        lp_view_close_fd(fs->view, fh->ino, fh->live); /* unpinned once closed */
        fh->live = NULL;
    }
    fh_unregister(fs, fh);
    fh_free(fh);
}

/* pid: the thread that opens. */
static int fh_open(struct lp_fs *fs, fuse_ino_t ino, int flags, pid_t pid, struct lp_fh **out)
{
    bool writing = (flags & O_ACCMODE) != O_RDONLY;
    struct lp_fh *fh = calloc(1, sizeof(*fh));
    if (!fh)
        return -ENOMEM;
    fh->ino = ino;
    fh->fd = -1;
    pthread_mutex_init(&fh->lock, NULL);
    int rc = lp_view_open(fs->view, ino, writing, &fh->rule, &fh->snap, &fh->snap_len);
    /* Files whose writes become requests get a write buffer (wbuf.h). */
    bool buffered =
        fh->rule == LP_WRITE_CONFIG || fh->rule == LP_WRITE_STATUS || fh->rule == LP_WRITE_QUEUE;
    if (rc == 0 && writing && fh->rule == LP_READ_FILE)
        rc = -EACCES;
    if (rc == 0 && fh->rule == LP_READ_FILE)
        rc = lp_view_open_fd(fs->view, ino, &fh->fd, &fh->size_told, &fh->live);
    if (rc == 0 && writing && buffered) {
        fh->writable = true;
        enum lp_wbuf_kind kind = fh->rule == LP_WRITE_CONFIG  ? LP_WBUF_CONFIG
                                 : fh->rule == LP_WRITE_QUEUE ? LP_WBUF_QUEUE
                                                              : LP_WBUF_STATUS;
        rc = lp_wbuf_init(&fh->wb, kind, fh->snap, fh->snap_len);
        if (rc == 0 && (flags & O_TRUNC))
            rc = lp_wbuf_truncate(&fh->wb, 0);
        lp_proc_ids(pid, &fh->opener, NULL);
    }
    if (rc == 0 && fh->rule == LP_READ_STREAM && !(fh->reader = lp_accesslog_open()))
        rc = -ENOMEM;
    if (rc < 0) {
        fh_free(fh);
        return rc;
    }
    fh_register(fs, fh);
    *out = fh;
    return 0;
}

void lp_fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    double t0 = lp_op_start("open");
    struct lp_fs *fs = lp_fs_of(req);
    struct lp_fh *fh = NULL;
    int rc = fh_open(fs, ino, fi->flags, fuse_req_ctx(req)->pid, &fh);
    lp_op_log(fs, "open", t0, ino, NULL, rc);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = (uintptr_t)fh;
    if (fh->rule == LP_READ_FILE) {
        /* A completed run's results never change: the kernel may keep them,
         * and a second cat is answered from its page cache. */
        fi->direct_io = 0;
        fi->keep_cache = 1;
        fi->noflush = 1;
        if (fuse_reply_open(req, fi) == -ENOENT)
            fh_close(fs, fh);
        return;
    }
    /* Reads bypass the page cache even where the kernel's size looks right: a
     * cached read shorter than the size the kernel holds shrinks that size, so
     * a reader still holding an older, shorter snapshot would cut a newer one
     * for the next reader (the soak caught "paused" without its newline). */
    fi->direct_io = 1;
    fi->keep_cache = 0;
    /* A reader's close has nothing to send: spare the kernel the FLUSH. */
    fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
    if (fuse_reply_open(req, fi) == -ENOENT)
        fh_close(fs, fh); /* the opener was interrupted */
}

/* At RELEASE: content left unfinished by a close taken for one of several
 * (the opener still had the file open for writing through another open)
 * reached no caller. It is said once, in the log and lastError. */
static void say_if_left_unfinished(struct lp_fs *fs, struct lp_fh *fh)
{
    char *payload = NULL;
    char reason[256];
    int err;
    if (fh->told)
        return;
    enum lp_wbuf_action act =
        lp_wbuf_decide(&fh->wb, LP_WBUF_AT_CLOSE, &payload, &err, reason, sizeof(reason));
    free(payload);
    if (act != LP_WBUF_WAIT)
        return;
    lp_log(LP_LOG_WARNING, "%s not sent: %s", file_name(fh), reason);
    lp_view_set_error(fs->view, fh->ino, reason);
}

void lp_fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    double t0 = lp_op_start("release");
    struct lp_fs *fs = lp_fs_of(req);
    struct lp_fh *fh = (struct lp_fh *)(uintptr_t)fi->fh;

    /* Nothing is sent here: every close already flushed, and the flush's
     * answer was the close's. A second attempt would send the same bytes twice. */
    if (fh->writable)
        say_if_left_unfinished(fs, fh);
    fh_close(fs, fh);
    lp_op_log(fs, "release", t0, ino, NULL, 0);
    fuse_reply_err(req, 0);
}

void lp_fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *fi)
{
    double t0 = lp_op_start("create");
    struct lp_fs *fs = lp_fs_of(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct stat st;
    int rc = lp_view_create(fs->view, parent, name, mode & ~ctx->umask, ctx->uid, ctx->gid, &st);
    struct lp_fh *fh = NULL;
    if (rc == 0) {
        rc = fh_open(fs, st.st_ino, fi->flags, ctx->pid, &fh);
        if (rc < 0)
            lp_view_forget(fs->view, st.st_ino, 1);
    }
    lp_op_log(fs, "create", t0, parent, name, rc);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct fuse_entry_param e;
    lp_fs_fill_entry(fs, &e, &st);
    fi->fh = (uintptr_t)fh;
    fi->direct_io = 1;
    if (fuse_reply_create(req, &e, fi) == -ENOENT)
        fh_close(fs, fh);
}

/* ---- attributes ---- */

/* ftruncate of config.json/status: like a write, it may finish the content
 * (a rewrite in place cuts the old tail last) and then sends it. */
static int setattr_handle(struct lp_fs *fs, struct lp_fh *fh, off_t size, struct stat *st)
{
    pthread_mutex_lock(&fh->lock);
    int rc = change(fs, fh, NULL, 0, size);
    if (rc == 0)
        st->st_size = (off_t)fh->wb.len;
    pthread_mutex_unlock(&fh->lock);
    return rc;
}

static int setattr_valid(int to_set, struct stat *in)
{
    int valid = 0;
    if (to_set & FUSE_SET_ATTR_MODE)
        valid |= LP_SET_MODE;
    if (to_set & FUSE_SET_ATTR_UID)
        valid |= LP_SET_UID;
    if (to_set & FUSE_SET_ATTR_GID)
        valid |= LP_SET_GID;
    if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
        valid |= LP_SET_ATIME;
    if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
        valid |= LP_SET_MTIME;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
        clock_gettime(CLOCK_REALTIME, &in->st_atim);
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        clock_gettime(CLOCK_REALTIME, &in->st_mtim);
    return valid;
}

void lp_fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                   struct fuse_file_info *fi)
{
    double t0 = lp_op_start("setattr");
    struct lp_fs *fs = lp_fs_of(req);
    struct lp_fh *fh = fi ? (struct lp_fh *)(uintptr_t)fi->fh : NULL;
    struct stat in = *attr, st;
    int valid = setattr_valid(to_set, &in);
    enum lp_write_rule rule = LP_WRITE_NONE;
    int rc = lp_view_rule(fs->view, ino, &rule);
    /* Truncating config.json/status edits the open file's buffer (O_TRUNC,
     * ftruncate); without an open file there is nothing to edit. */
    bool handle_size = (to_set & FUSE_SET_ATTR_SIZE) && fh && fh->writable;
    if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
        if (rule == LP_WRITE_IN_PLACE)
            valid |= LP_SET_SIZE;
        else if (rule == LP_WRITE_TRIGGER)
            ; /* `echo > refresh` truncates first: nothing to truncate */
        else if (rule == LP_WRITE_NONE || rule == LP_READ_STREAM || rule == LP_READ_FILE)
            rc = -EACCES; /* size is read-only */
        else if (!handle_size)
            rc = -EINVAL;
    }
    if (rc == 0)
        rc = lp_view_setattr(fs->view, ino, valid, &in, &st);
    if (rc == 0 && handle_size)
        rc = setattr_handle(fs, fh, attr->st_size, &st);
    else if (rc == 0)
        fh_own_size(fh, &st);
    lp_op_log(fs, "setattr", t0, ino, NULL, rc);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_attr(req, &st, lp_fs_attr_timeout(fs, ino));
}

void lp_fs_files_cleanup(struct lp_fs *fs)
{
    while (fs->open_files)
        fh_close(fs, fs->open_files); /* gives back a live file's reference too */
}
