/* fs.c - FUSE low-level operations: each request becomes a call on the inode
 * view (view.h), which dispatches it to the node's kind.
 *
 * Files are opened with direct I/O, so every read reaches us and `stat` size
 * always equals the bytes a read returns. config.json and status get a write
 * buffer per open file (wbuf.c) whose content is sent to the API as soon as
 * it is complete, else at flush/fsync; the API's refusal becomes the errno of
 * that write, flush or fsync.
 */
#include "fs.h"

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "log.h"
#include "wbuf.h"

/* An open file. */
struct lp_fh {
    lp_ino ino;
    enum lp_write_rule rule;
    pthread_mutex_t lock; /* protects everything below: writes on one descriptor
                           * may come from several threads */
    char *snap;           /* what a reader sees: the content at open */
    size_t snap_len;
    bool writable;
    struct lp_wbuf wb;         /* config.json/status opened for writing */
    struct lp_fh *prev, *next; /* every open file, so none outlives the session */
};

/* A directory listing, taken at opendir so offsets stay valid. */
struct lp_dh {
    bool loaded; /* taken at the first READDIR: a cached listing needs none */
    uint64_t version;
    struct lp_dirent *ents;
    size_t n;
};

static struct lp_fs *fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static void fill_entry(struct lp_fs *fs, struct fuse_entry_param *e, const struct stat *st)
{
    memset(e, 0, sizeof(*e));
    e->ino = st->st_ino;
    e->generation = 1;
    e->attr = *st;
    e->attr_timeout = fs->cache_timeout;
    e->entry_timeout = fs->cache_timeout;
}

static void reply_entry(fuse_req_t req, int rc, const struct stat *st)
{
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct fuse_entry_param e;
    fill_entry(fs_of(req), &e, st);
    fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct stat st;
    int rc = lp_view_lookup(fs_of(req)->view, parent, name, true, &st);
    if (rc == -ENOENT) {
        /* A negative entry that is not cached: new audiences show at once. */
        struct fuse_entry_param e;
        memset(&e, 0, sizeof(e));
        fuse_reply_entry(req, &e);
        return;
    }
    reply_entry(req, rc, &st);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    lp_view_forget(fs_of(req)->view, ino, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        lp_view_forget(fs_of(req)->view, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

/* While a writer holds unsent bytes, its own fstat sees them. */
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

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;
    struct lp_fh *fh = fi ? (struct lp_fh *)(uintptr_t)fi->fh : NULL;
    int rc = lp_view_getattr(fs_of(req)->view, ino, &st);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fh_own_size(fh, &st);
    fuse_reply_attr(req, &st, fs_of(req)->cache_timeout);
}

/* ---- write path of config.json and status ---- */

static const char *file_name(const struct lp_fh *fh)
{
    return fh->wb.kind == LP_WBUF_CONFIG ? "config.json" : "status";
}

static void too_big(struct lp_fs *fs, const struct lp_fh *fh)
{
    char reason[96];
    snprintf(reason, sizeof(reason), "%s is larger than %zu bytes", file_name(fh),
             lp_wbuf_limit(fh->wb.kind));
    lp_log(LP_LOG_WARNING, "%s not sent: %s", file_name(fh), reason);
    lp_view_set_error(fs->view, fh->ino, reason);
}

/* Sends what the buffer holds when it is ready; returns 0 or -errno. */
static int settle(struct lp_fs *fs, struct lp_fh *fh, bool at_close)
{
    char *payload = NULL;
    char reason[256];
    int err = 0;
    enum lp_wbuf_action act =
        lp_wbuf_decide(&fh->wb, at_close, &payload, &err, reason, sizeof(reason));
    if (act == LP_WBUF_NOTHING)
        return 0;
    if (act == LP_WBUF_REFUSE) {
        lp_log(LP_LOG_WARNING, "%s not sent: %s", file_name(fh), reason);
        lp_view_set_error(fs->view, fh->ino, reason);
        return -err;
    }
    int rc = lp_view_store(fs->view, fh->ino, payload);
    if (rc < 0) {
        free(payload);
        return rc;
    }
    lp_wbuf_sent(&fh->wb, payload);
    return 0;
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct lp_fs *fs = fs_of(req);
    struct lp_fh *fh = (struct lp_fh *)(uintptr_t)fi->fh;
    if (fh->rule == LP_WRITE_IN_PLACE) {
        ssize_t n = lp_view_write(fs->view, ino, buf, size, off);
        if (n < 0)
            fuse_reply_err(req, (int)-n);
        else
            fuse_reply_write(req, (size_t)n);
        return;
    }
    if (!fh->writable) {
        fuse_reply_err(req, EBADF);
        return;
    }
    pthread_mutex_lock(&fh->lock);
    struct lp_wbuf_undo undo;
    int rc = lp_wbuf_save(&fh->wb, &undo);
    if (rc == 0) {
        rc = lp_wbuf_write(&fh->wb, buf, size, off);
        if (rc == -EFBIG)
            too_big(fs, fh);
        if (rc == 0)
            rc = settle(fs, fh, false);
        /* A write the API (or validation) refused is not written: the buffer
         * goes back to what it was, and the writer sees the errno. */
        if (rc < 0)
            lp_wbuf_restore(&fh->wb, &undo);
        lp_wbuf_undo_clear(&undo);
    }
    pthread_mutex_unlock(&fh->lock);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_write(req, size);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    struct lp_fh *fh = (struct lp_fh *)(uintptr_t)fi->fh;
    int rc = 0;
    if (fh->writable) {
        pthread_mutex_lock(&fh->lock);
        rc = settle(fs_of(req), fh, true);
        pthread_mutex_unlock(&fh->lock);
    }
    fuse_reply_err(req, -rc);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)datasync;
    op_flush(req, ino, fi);
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
    free(fh->snap);
    pthread_mutex_destroy(&fh->lock);
    free(fh);
}

static void fh_close(struct lp_fs *fs, struct lp_fh *fh)
{
    fh_unregister(fs, fh);
    fh_free(fh);
}

static int fh_open(struct lp_fs *fs, fuse_ino_t ino, int flags, struct lp_fh **out)
{
    bool writing = (flags & O_ACCMODE) != O_RDONLY;
    struct lp_fh *fh = calloc(1, sizeof(*fh));
    if (!fh)
        return -ENOMEM;
    fh->ino = ino;
    pthread_mutex_init(&fh->lock, NULL);
    int rc = lp_view_open(fs->view, ino, writing, &fh->rule, &fh->snap, &fh->snap_len);
    /* Files whose writes become requests get a write buffer (wbuf.h). */
    bool buffered = fh->rule == LP_WRITE_CONFIG || fh->rule == LP_WRITE_STATUS;
    if (rc == 0 && writing && buffered) {
        fh->writable = true;
        rc = lp_wbuf_init(&fh->wb, fh->rule == LP_WRITE_CONFIG ? LP_WBUF_CONFIG : LP_WBUF_STATUS,
                          fh->snap, fh->snap_len);
        if (rc == 0 && (flags & O_TRUNC))
            rc = lp_wbuf_truncate(&fh->wb, 0);
    }
    if (rc < 0) {
        fh_free(fh);
        return rc;
    }
    fh_register(fs, fh);
    *out = fh;
    return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct lp_fh *fh = NULL;
    int rc = fh_open(fs_of(req), ino, fi->flags, &fh);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = (uintptr_t)fh;
    /* Reads bypass the page cache even where the kernel's size looks right: a
     * cached read shorter than the size the kernel holds shrinks that size, so
     * a reader still holding an older, shorter snapshot would cut a newer one
     * for the next reader (the soak caught "paused" without its newline). */
    fi->direct_io = 1;
    fi->keep_cache = 0;
    /* A reader's close has nothing to send: spare the kernel the FLUSH. */
    fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
    if (fuse_reply_open(req, fi) == -ENOENT)
        fh_close(fs_of(req), fh); /* the opener was interrupted */
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct lp_fh *fh = (struct lp_fh *)(uintptr_t)fi->fh;
    if (fh->rule == LP_WRITE_IN_PLACE) {
        char *buf = malloc(size ? size : 1);
        if (!buf) {
            fuse_reply_err(req, ENOMEM);
            return;
        }
        ssize_t n = lp_view_read(fs_of(req)->view, ino, buf, size, off);
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

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    struct lp_fh *fh = (struct lp_fh *)(uintptr_t)fi->fh;
    /* Nothing is sent here: every close already flushed, and the flush's
     * answer was the close's. A second attempt would send the same bytes twice. */
    fh_close(fs_of(req), fh);
    fuse_reply_err(req, 0);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct lp_fs *fs = fs_of(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct stat st;
    int rc = lp_view_create(fs->view, parent, name, mode & ~ctx->umask, ctx->uid, ctx->gid, &st);
    struct lp_fh *fh = NULL;
    if (rc == 0) {
        rc = fh_open(fs, st.st_ino, fi->flags, &fh);
        if (rc < 0)
            lp_view_forget(fs->view, st.st_ino, 1);
    }
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct fuse_entry_param e;
    fill_entry(fs, &e, &st);
    fi->fh = (uintptr_t)fh;
    fi->direct_io = 1;
    if (fuse_reply_create(req, &e, fi) == -ENOENT)
        fh_close(fs, fh);
}

/* ---- attributes ---- */

static int setattr_handle(struct lp_fs *fs, struct lp_fh *fh, off_t size, struct stat *st)
{
    pthread_mutex_lock(&fh->lock);
    int rc = lp_wbuf_truncate(&fh->wb, size);
    if (rc == 0)
        st->st_size = (off_t)fh->wb.len;
    else if (rc == -EFBIG)
        too_big(fs, fh);
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

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    struct lp_fs *fs = fs_of(req);
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
        else if (rule == LP_WRITE_NONE)
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
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_attr(req, &st, fs->cache_timeout);
}

/* ---- directories ---- */

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct lp_dh *dh = calloc(1, sizeof(*dh));
    if (!dh) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct lp_fs *fs = fs_of(req);
    if (fs->no_opendir) {
        /* The kernel then keeps every listing itself and stops sending
         * OPENDIR/RELEASEDIR; the root's cached listing is dropped when its
         * mtime (the time its names last changed) moves. */
        free(dh);
        fuse_reply_err(req, ENOSYS);
        return;
    }
    uint64_t version;
    int rc = lp_view_dir_version(fs->view, ino, &version);
    if (rc < 0) {
        free(dh);
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = (uintptr_t)dh;
    /* Let the kernel keep listings: a warm `find` or glob then costs no
     * READDIR. An audience directory's names change only through the kernel,
     * which drops its copy itself; the root's copy is kept only while the
     * names are those it was made from. */
    fi->cache_readdir = 1;
    if (ino == LP_INO_ROOT) {
        pthread_mutex_lock(&fs->lock);
        fi->keep_cache = version == fs->root_version;
        fs->root_version = version;
        pthread_mutex_unlock(&fs->lock);
    } else {
        fi->keep_cache = 1;
    }
    if (fuse_reply_open(req, fi) == -ENOENT) {
        lp_dirents_free(dh->ents, dh->n);
        free(dh);
    }
}

static int dh_load(struct lp_fs *fs, fuse_ino_t ino, struct lp_dh *dh, uint64_t *version)
{
    if (dh->loaded)
        return 0;
    int rc = lp_view_list(fs->view, ino, &dh->ents, &dh->n, version);
    dh->loaded = rc == 0;
    return rc;
}

/* Without OPENDIR (the kernel keeps listings itself) a READDIR comes with no
 * handle: the root's snapshot is kept per names version, so reading a large
 * root in many chunks stays linear; an audience's few names are read anew. */
static int dh_borrow(struct lp_fs *fs, fuse_ino_t ino, struct lp_dh *tmp, struct lp_dh **dh)
{
    if (ino != LP_INO_ROOT) {
        memset(tmp, 0, sizeof(*tmp));
        *dh = tmp;
        uint64_t version;
        return dh_load(fs, ino, tmp, &version);
    }
    pthread_mutex_lock(&fs->lock); /* held until dh_return: the snapshot is shared */
    uint64_t version;
    int rc = lp_view_dir_version(fs->view, ino, &version);
    struct lp_dh *snap = fs->root_snap;
    if (rc == 0 && (!snap || !snap->loaded || snap->version != version)) {
        if (snap) {
            lp_dirents_free(snap->ents, snap->n);
            memset(snap, 0, sizeof(*snap));
        } else if (!(snap = fs->root_snap = calloc(1, sizeof(*snap)))) {
            rc = -ENOMEM;
        }
        if (rc == 0)
            rc = dh_load(fs, ino, snap, &snap->version);
    }
    *dh = snap;
    if (rc < 0)
        pthread_mutex_unlock(&fs->lock);
    return rc;
}

/* end: the whole listing was read; the kernel keeps it now, so the root's
 * snapshot (some 200 bytes an audience) need not stay. */
static void dh_return(struct lp_fs *fs, fuse_ino_t ino, struct lp_dh *tmp, bool end)
{
    if (ino != LP_INO_ROOT) {
        lp_dirents_free(tmp->ents, tmp->n);
        return;
    }
    if (end) {
        lp_dirents_free(fs->root_snap->ents, fs->root_snap->n);
        memset(fs->root_snap, 0, sizeof(*fs->root_snap));
        malloc_trim(0); /* give the pages back: this was the largest allocation */
    }
    pthread_mutex_unlock(&fs->lock);
}

/* Replies with the entries from off on; returns true when the last one was sent. */
static bool readdir_entries(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                            struct lp_dh *dh, bool plus);

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi, bool plus)
{
    struct lp_fs *fs = fs_of(req);
    struct lp_dh *dh = (struct lp_dh *)(uintptr_t)fi->fh;
    struct lp_dh tmp;
    uint64_t version;
    int rc = dh ? dh_load(fs, ino, dh, &version) : dh_borrow(fs, ino, &tmp, &dh);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    bool end = readdir_entries(req, ino, size, off, dh, plus);
    if (!fi->fh)
        dh_return(fs, ino, &tmp, end);
}

static bool readdir_entries(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                            struct lp_dh *dh, bool plus)
{
    struct lp_fs *fs = fs_of(req);
    char *buf = malloc(size);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return false;
    }
    bool end = true;
    size_t used = 0;
    /* Offsets: 0 ".", 1 "..", 2.. the entries; an entry's offset is the next one's. */
    for (size_t i = (size_t)off; i < dh->n + 2; i++) {
        struct stat st;
        const char *name;
        bool with_attrs = false;
        memset(&st, 0, sizeof(st));
        if (i < 2) {
            name = i == 0 ? "." : "..";
            st.st_ino = i == 0 ? ino : LP_INO_ROOT;
            st.st_mode = S_IFDIR;
        } else {
            name = dh->ents[i - 2].name;
            st = dh->ents[i - 2].st;
            with_attrs = dh->ents[i - 2].attrs_valid;
        }
        size_t need;
        if (plus) {
            /* An entry with attributes is a lookup (the kernel counts a
             * reference), so ask the view now rather than trust the snapshot. */
            struct fuse_entry_param e;
            memset(&e, 0, sizeof(e));
            struct stat now;
            if (i >= 2 && with_attrs && lp_view_lookup(fs->view, ino, name, false, &now) == 0)
                fill_entry(fs, &e, &now);
            else
                e.attr = st; /* ino 0: the kernel makes no entry, only a name */
            need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)(i + 1));
            if (need > size - used) {
                if (e.ino)
                    lp_view_forget(fs->view, e.ino, 1); /* not delivered */
                end = false;
                break;
            }
        } else {
            need = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)(i + 1));
            if (need > size - used) {
                end = false;
                break;
            }
        }
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
    return end;
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    readdir_common(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    readdir_common(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    struct lp_dh *dh = (struct lp_dh *)(uintptr_t)fi->fh;
    if (dh)
        lp_dirents_free(dh->ents, dh->n);
    free(dh);
    fuse_reply_err(req, 0);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)mode;
    struct stat st;
    int rc = lp_view_mkdir(fs_of(req)->view, parent, name, &st);
    reply_entry(req, rc, &st);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fuse_reply_err(req, -lp_view_rmdir(fs_of(req)->view, parent, name));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fuse_reply_err(req, -lp_view_unlink(fs_of(req)->view, parent, name));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    if (flags & ~RENAME_NOREPLACE) {
        fuse_reply_err(req, EINVAL); /* RENAME_EXCHANGE, RENAME_WHITEOUT */
        return;
    }
    unsigned lflags = (flags & RENAME_NOREPLACE) ? LP_RENAME_NOREPLACE : 0;
    fuse_reply_err(req,
                   -lp_view_rename(fs_of(req)->view, parent, name, newparent, newname, lflags));
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct stat st;
    int rc = lp_view_symlink(fs_of(req)->view, parent, name, link, ctx->uid, ctx->gid, &st);
    reply_entry(req, rc, &st);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    char *target = NULL;
    int rc = lp_view_readlink(fs_of(req)->view, ino, &target);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_readlink(req, target);
    free(target);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)parent, (void)name, (void)mode, (void)rdev;
    fuse_reply_err(req, EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino, (void)newparent, (void)newname;
    fuse_reply_err(req, EPERM);
}

/* ---- extended attributes, statfs ---- */

static void reply_xattr(fuse_req_t req, size_t size, int rc, const char *value, size_t len)
{
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else if (size == 0)
        fuse_reply_xattr(req, len);
    else if (len > size)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, value, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    /* Only user.* attributes exist. Saying "not supported" (rather than "no such
     * attribute") for ACLs and security labels lets ls -l and cp ask once per
     * mount instead of once per file: they remember the answer for the device. */
    if (strncmp(name, "user.", 5) != 0) {
        fuse_reply_err(req, ENOTSUP);
        return;
    }
    char *value = NULL;
    size_t len = 0;
    int rc = lp_view_getxattr(fs_of(req)->view, ino, name, &value, &len);
    reply_xattr(req, size, rc, value, len);
    free(value);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    char *list = NULL;
    size_t len = 0;
    int rc = lp_view_listxattr(fs_of(req)->view, ino, &list, &len);
    reply_xattr(req, size, rc, list, len);
    free(list);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    (void)ino, (void)name, (void)value, (void)size, (void)flags;
    /* sed -i copies ACLs with fsetxattr and falls back to fchmod on ENOTSUP. */
    fuse_reply_err(req, ENOTSUP);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino, (void)name;
    fuse_reply_err(req, ENOTSUP);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    size_t nodes = lp_view_node_count(fs_of(req)->view);
    struct statvfs sv;
    memset(&sv, 0, sizeof(sv));
    sv.f_bsize = sv.f_frsize = 4096;
    sv.f_namemax = LP_FILENAME_MAX;
    sv.f_files = nodes + 1;
    sv.f_ffree = 0;
    fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct lp_fs *fs = userdata;
    fs->no_opendir =
        (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) && (conn->capable & FUSE_CAP_AUTO_INVAL_DATA);
    if (fs->no_opendir)
        conn->want |= FUSE_CAP_AUTO_INVAL_DATA; /* re-check the root's mtime */
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
        conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
    /* Our files have no page cache to write back, and splice buys nothing. */
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .create = op_create,
};

void lp_fs_cleanup(struct lp_fs *fs)
{
    while (fs->open_files) {
        struct lp_fh *fh = fs->open_files;
        fs->open_files = fh->next;
        fh_free(fh);
    }
    if (fs->root_snap)
        lp_dirents_free(fs->root_snap->ents, fs->root_snap->n);
    free(fs->root_snap);
    fs->root_snap = NULL;
}

const struct fuse_lowlevel_ops *lp_fs_ops(void)
{
    return &ops;
}
