/* fs_dir.c - FUSE operations that list directories. The kernel keeps
 * listings (cache_readdir) so a warm `find` or glob costs no READDIR; the
 * root's listing is kept only while its names are the ones it was made from.
 * One readdir asks for the API's listing once, at its start (OPENDIR, or the
 * READDIR at offset 0): its later chunks and the entries READDIRPLUS looks up
 * are read from that, whatever cache_timeout says.
 */
#include "fs_dir.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs_reply.h"

/* A directory listing, taken at opendir so offsets stay valid. */
struct lp_dh {
    bool loaded; /* taken at the first READDIR: a cached listing needs none */
    uint64_t version;
    struct lp_dirent *ents;
    size_t n;
};

/* ---- directories ---- */

void lp_fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct lp_dh *dh = calloc(1, sizeof(*dh));
    if (!dh) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct lp_fs *fs = lp_fs_of(req);
    if (fs->no_opendir) {
        /* The kernel then keeps every listing itself and stops sending
         * OPENDIR/RELEASEDIR; the root's cached listing is dropped when its
         * mtime (the time its names last changed) moves. */
        free(dh);
        fuse_reply_err(req, ENOSYS);
        return;
    }
    double t0 = lp_op_start("opendir");
    uint64_t version;
    int rc = lp_view_dir_version(fs->view, ino, true, &version);
    lp_op_log(fs, "opendir", t0, ino, NULL, rc);
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

/* The listing was refreshed by whoever began this readdir (OPENDIR, or
 * dh_borrow at offset 0): the snapshot is taken from the records as they are. */
static int dh_load(struct lp_fs *fs, fuse_ino_t ino, struct lp_dh *dh, uint64_t *version)
{
    if (dh->loaded)
        return 0;
    int rc = lp_view_list(fs->view, ino, false, &dh->ents, &dh->n, version);
    dh->loaded = rc == 0;
    return rc;
}

/* Without OPENDIR (the kernel keeps listings itself) a READDIR comes with no
 * handle: the root's snapshot is kept per names version, so reading a large
 * root in many chunks stays linear; an audience's few names are read anew.
 * Only the chunk at offset 0 begins a readdir, and may refresh the listing. */
static int dh_borrow(struct lp_fs *fs, fuse_ino_t ino, off_t off, struct lp_dh *tmp,
                     struct lp_dh **dh)
{
    uint64_t version;
    int rc = 0;
    if (ino != LP_INO_ROOT) {
        memset(tmp, 0, sizeof(*tmp));
        *dh = tmp;
        if (off == 0)
            rc = lp_view_dir_version(fs->view, ino, true, &version);
        return rc < 0 ? rc : dh_load(fs, ino, tmp, &version);
    }
    pthread_mutex_lock(&fs->lock); /* held until dh_return: the snapshot is shared */
    rc = lp_view_dir_version(fs->view, ino, off == 0, &version);
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
    const char *op = plus ? "readdirplus" : "readdir";
    double t0 = lp_op_start(op);
    struct lp_fs *fs = lp_fs_of(req);
    struct lp_dh *dh = (struct lp_dh *)(uintptr_t)fi->fh;
    struct lp_dh tmp;
    uint64_t version;
    int rc = dh ? dh_load(fs, ino, dh, &version) : dh_borrow(fs, ino, off, &tmp, &dh);
    lp_op_log(fs, op, t0, ino, NULL, rc);
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
    struct lp_fs *fs = lp_fs_of(req);
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
                lp_fs_fill_entry(fs, &e, &now);
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

void lp_fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    readdir_common(req, ino, size, off, fi, false);
}

void lp_fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    readdir_common(req, ino, size, off, fi, true);
}

void lp_fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    double t0 = lp_op_start("releasedir");
    struct lp_dh *dh = (struct lp_dh *)(uintptr_t)fi->fh;
    if (dh)
        lp_dirents_free(dh->ents, dh->n);
    free(dh);
    lp_op_log(lp_fs_of(req), "releasedir", t0, ino, NULL, 0);
    fuse_reply_err(req, 0);
}

void lp_fs_dirs_cleanup(struct lp_fs *fs)
{
    if (fs->root_snap)
        lp_dirents_free(fs->root_snap->ents, fs->root_snap->n);
    free(fs->root_snap);
    fs->root_snap = NULL;
}
