/* view.c - the inode view: nodes by inode number, the records listener that
 * keeps nodes in step with the records, and the entry points of view.h, each
 * of which takes the lock and dispatches to the node's kind (inode.h).
 */
#include "view.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define XATTR_PREFIX "user.leadpipe."

/* ---- keeping nodes in step with the records ---- */

static void notify_aud(struct lp_view *v, struct lp_aud *a)
{
    struct lp_adir *d = a->view;
    if (!d)
        return;
    lp_notify_node(v, d->dir);
    for (int i = 0; i < LP_AUD_NFILES; i++)
        lp_notify_node(v, d->files[i]);
}

/* The audience left: its name goes, its nodes linger until the kernel forgets them. */
static void aud_removed(struct lp_view *v, struct lp_aud *a)
{
    lp_names_withdraw(v, a);
    struct lp_adir *d = a->view;
    if (!d)
        return;
    if (d->dir)
        lp_node_maybe_free(v, d->dir);
    for (int i = 0; i < LP_AUD_NFILES; i++)
        if (d->files[i])
            lp_node_maybe_free(v, d->files[i]);
    for (struct lp_scratch *s = d->scratch; s; s = s->next)
        if (s->node)
            lp_node_maybe_free(v, s->node);
    lp_runs_nodes_release(v, a);
}

static void on_record(void *ctx, struct lp_aud *a, enum lp_rec_event ev)
{
    struct lp_view *v = ctx;
    switch (ev) {
    case LP_REC_ADDED:
        if (!lp_adir_new(v, a))
            lp_log(LP_LOG_ERR, "out of memory: audience %s not shown", a->rec.id ? a->rec.id : "");
        break;
    case LP_REC_CHANGED:
        notify_aud(v, a);
        break;
    case LP_REC_REMOVED:
        aud_removed(v, a);
        break;
    case LP_REC_NAMES:
        lp_names_assign(v);
        break;
    case LP_REC_RUNS:
        lp_runs_notify(v, a);
        break;
    case LP_REC_FREED:
        lp_run_views_free(a);
        lp_adir_free(v, a);
        break;
    }
}

/* ---- construction ---- */

lp_view *lp_view_new(const struct lp_view_options *opts)
{
    struct lp_view *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->opts = *opts;
    v->sync = opts->sync;
    v->r = opts->sync->r;
    lp_map_init_u64(&v->by_ino);
    lp_map_init_str(&v->by_name);
    v->root.ino = LP_INO_ROOT;
    v->root.ops = &lp_root_ops;
    v->root.linked = true;
    v->next_ino = LP_INO_ROOT + 1;
    clock_gettime(CLOCK_REALTIME, &v->names_mtime);
    struct lp_records_listener l = {.event = on_record, .ctx = v};
    lp_records_lock(v->r);
    lp_records_set_listener(v->r, &l);
    int rc = lp_ctl_init(v);
    lp_records_unlock(v->r);
    if (rc < 0) {
        lp_view_free(v);
        return NULL;
    }
    return v;
}

static void free_node(void *value, void *ctx)
{
    struct lp_view *v = ctx;
    struct lp_node *n = value;
    if (n->ops->release)
        n->ops->release(v, n);
    if (n->aud)
        lp_aud_drop(v->r, n->aud);
    free(n);
}

void lp_view_free(lp_view *v)
{
    if (!v)
        return;
    lp_records_lock(v->r);
    lp_map_foreach(&v->by_ino, free_node, v);
    /* Live records keep their view object until here; gone ones were freed
     * (LP_REC_FREED) with their last node. */
    for (struct lp_aud *a = v->r->live; a; a = a->next) {
        lp_run_views_free(a);
        lp_adir_free(v, a);
    }
    struct lp_records_listener none = {0};
    lp_records_set_listener(v->r, &none);
    lp_records_unlock(v->r);
    lp_map_destroy(&v->by_ino);
    lp_map_destroy(&v->by_name);
    free(v);
}

int lp_view_load(lp_view *v, struct lp_api_error *err)
{
    lp_records_lock(v->r);
    int rc = lp_sync_listing(v->sync, true, err);
    lp_records_unlock(v->r);
    return rc;
}

bool lp_view_is_live(lp_view *v, lp_ino ino)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    bool live = n && n->ops->live;
    lp_records_unlock(v->r);
    return live;
}

char *lp_view_path(lp_view *v, lp_ino ino, const char *name)
{
    struct lp_sbuf b = {0};
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    if (n && n->ops->live && !name) {
        lp_records_unlock(v->r);
        return NULL;
    }
    if (n)
        lp_node_path(v, n, &b);
    else
        lp_sb_adds(&b, "<forgotten>");
    lp_records_unlock(v->r);
    if (name) {
        if (b.len == 0 || b.p[b.len - 1] != '/')
            lp_sb_addc(&b, '/');
        lp_sb_adds(&b, name);
    }
    return lp_sb_finish(&b);
}

size_t lp_view_node_count(lp_view *v)
{
    lp_records_lock(v->r);
    size_t n = v->by_ino.count;
    lp_records_unlock(v->r);
    return n;
}

void lp_view_scratch_space(lp_view *v, uint64_t *used, uint64_t *total)
{
    lp_records_lock(v->r);
    *used = v->scratch_used;
    *total = v->opts.scratch_max;
    lp_records_unlock(v->r);
}

/* ---- dispatch ---- */

/* A node whose audience is gone shows nothing any more (its scratch files
 * excepted: an editor may still read what it wrote). */
static bool alive(const struct lp_node *n)
{
    return !n->aud || !n->aud->gone;
}

static bool is_dir(const struct lp_node *n)
{
    return n->ops->lookup != NULL;
}

int lp_view_lookup(lp_view *v, lp_ino parent, const char *name, bool fetch, struct stat *st)
{
    lp_records_lock(v->r);
    if (fetch)
        lp_sync_listing(v->sync, false, NULL);
    struct lp_node *dir = lp_node_get(v, parent), *n = NULL;
    int rc = !dir ? -ENOENT : !is_dir(dir) ? -ENOTDIR : dir->ops->lookup(v, dir, name, fetch, &n);
    if (rc == 0) {
        n->nlookup++;
        lp_node_fill_stat(v, n, st);
    }
    lp_records_unlock(v->r);
    return rc;
}

void lp_view_forget(lp_view *v, lp_ino ino, uint64_t nlookup)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    if (n && n != &v->root) {
        n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
        lp_node_maybe_free(v, n);
    }
    lp_records_unlock(v->r);
}

int lp_view_getattr(lp_view *v, lp_ino ino, struct stat *st)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    int rc = n ? 0 : -ENOENT;
    if (n && n->ops->refresh && alive(n)) {
        rc = n->ops->refresh(v, n, true);
        n = lp_node_get(v, ino); /* the refresh may have dropped the lock */
    }
    if (rc == 0 && n)
        lp_node_fill_stat(v, n, st);
    else if (rc == 0)
        rc = -ENOENT;
    lp_records_unlock(v->r);
    return rc;
}

int lp_view_list(lp_view *v, lp_ino dir, bool refresh, struct lp_dirent **ents, size_t *n,
                 uint64_t *version)
{
    lp_records_lock(v->r);
    if (refresh)
        lp_sync_listing(v->sync, false, NULL);
    struct lp_node *d = lp_node_get(v, dir);
    int rc = !d ? -ENOENT : !is_dir(d) ? -ENOTDIR : !alive(d) ? -ENOENT : 0;
    *version = 0;
    if (rc == 0)
        rc = d->ops->list(v, d, ents, n);
    if (rc == 0 && d->ops->version)
        *version = d->ops->version(v, d);
    lp_records_unlock(v->r);
    return rc;
}

int lp_view_dir_version(lp_view *v, lp_ino dir, bool refresh, uint64_t *version)
{
    lp_records_lock(v->r);
    if (refresh)
        lp_sync_listing(v->sync, false, NULL);
    struct lp_node *d = lp_node_get(v, dir);
    int rc = !d ? -ENOENT : !is_dir(d) ? -ENOTDIR : !alive(d) ? -ENOENT : 0;
    *version = rc == 0 && d->ops->version ? d->ops->version(v, d) : 0;
    lp_records_unlock(v->r);
    return rc;
}

int lp_view_open(lp_view *v, lp_ino ino, bool writing, enum lp_write_rule *rule, char **data,
                 size_t *len)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    int rc = !n ? -ENOENT : is_dir(n) ? -EISDIR : 0;
    if (rc == 0) {
        *rule = n->ops->rule;
        if (writing && (*rule == LP_WRITE_NONE || *rule == LP_READ_STREAM) && n->ops->show)
            rc = -EACCES; /* read-only for everyone, root included */
    }
    /* In-memory files, streams, triggers and local files have no content to
     * take a copy of. */
    bool snapshot = rc == 0 && *rule != LP_WRITE_IN_PLACE && *rule != LP_READ_STREAM &&
                    *rule != LP_WRITE_TRIGGER && *rule != LP_READ_FILE;
    if (rc == 0 && !snapshot) {
        *data = NULL;
        *len = 0;
    }
    if (snapshot) {
        lp_sync_listing(v->sync, false, NULL);
        n = lp_node_get(v, ino);
        rc = !n || !alive(n) ? -ENOENT : 0;
        if (rc == 0 && n->ops->refresh) {
            rc = n->ops->refresh(v, n, true);
            n = lp_node_get(v, ino);
            if (rc == 0 && !n)
                rc = -ENOENT;
        }
        if (rc == 0)
            rc = n->ops->show ? n->ops->show(v, n, data, len) : -EINVAL;
    }
    lp_records_unlock(v->r);
    return rc;
}

int lp_view_rule(lp_view *v, lp_ino ino, enum lp_write_rule *rule)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    *rule = n ? n->ops->rule : LP_WRITE_NONE;
    lp_records_unlock(v->r);
    return n ? 0 : -ENOENT;
}

int lp_view_open_fd(lp_view *v, lp_ino ino, int *fd, uint64_t *size, struct lp_rcache_live **live)
{
    *live = NULL;
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    int rc = !n || !alive(n)   ? -ENOENT
             : n->ops->open_fd ? n->ops->open_fd(v, n, fd, size, live)
                               : -EINVAL;
    lp_records_unlock(v->r);
    return rc;
}

void lp_view_close_fd(lp_view *v, lp_ino ino, struct lp_rcache_live *live)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    if (n && n->ops->close_fd)
        n->ops->close_fd(v, n);
    lp_records_unlock(v->r);
    lp_rcache_live_put(live);
}

ssize_t lp_view_file_wait(struct lp_rcache_live *live, uint64_t off, size_t len, int ms,
                          uint64_t *size)
{
    return lp_rcache_live_wait(live, off, len, ms, size);
}

/* The live audience a file belongs to, or NULL. */
static struct lp_node *file_node(struct lp_view *v, lp_ino ino)
{
    struct lp_node *n = lp_node_get(v, ino);
    return n && n->aud && !n->aud->gone ? n : NULL;
}

int lp_view_store(lp_view *v, lp_ino ino, const char *payload)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    int rc = !n || !alive(n) ? -ENOENT : n->ops->store ? n->ops->store(v, n, payload) : -EACCES;
    lp_records_unlock(v->r);
    return rc;
}

void lp_view_set_error(lp_view *v, lp_ino ino, const char *message)
{
    lp_records_lock(v->r);
    struct lp_node *n = file_node(v, ino);
    if (n)
        lp_aud_set_error(n->aud, message);
    lp_records_unlock(v->r);
}

ssize_t lp_view_read(lp_view *v, lp_ino ino, char *buf, size_t size, off_t off)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    ssize_t rc = n && n->ops->read ? n->ops->read(n, buf, size, off) : -EBADF;
    lp_records_unlock(v->r);
    return rc;
}

ssize_t lp_view_write(lp_view *v, lp_ino ino, const char *buf, size_t size, off_t off)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    ssize_t rc = n && n->ops->write ? n->ops->write(v, n, buf, size, off) : -EBADF;
    lp_records_unlock(v->r);
    return rc;
}

int lp_view_readlink(lp_view *v, lp_ino ino, char **target)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    int rc = !n ? -ENOENT : n->ops->readlink ? n->ops->readlink(n, target) : -EINVAL;
    lp_records_unlock(v->r);
    return rc;
}

int lp_view_setattr(lp_view *v, lp_ino ino, int valid, const struct stat *in, struct stat *out)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    int rc = n ? 0 : -ENOENT;
    if (rc == 0 && n->ops->setattr)
        rc = n->ops->setattr(v, n, valid, in);
    else if (rc == 0 && (valid & LP_SET_SIZE))
        rc = -EINVAL; /* config.json/status sizes change through an open file */
    /* Mode, owner and times of the audience's own files are not stored: accept
     * them (touch, vim's fchmod) and change nothing. */
    if (rc == 0)
        lp_node_fill_stat(v, n, out);
    lp_records_unlock(v->r);
    return rc;
}

/* ---- namespace changes ---- */

static int make_entry(lp_view *v, lp_ino parent, const char *name, mode_t mode, uid_t uid,
                      gid_t gid, const char *link, struct stat *st)
{
    if (strlen(name) > LP_FILENAME_MAX && parent != LP_INO_ROOT)
        return -ENAMETOOLONG;
    lp_records_lock(v->r);
    struct lp_node *dir = lp_node_get(v, parent), *n = NULL;
    int rc = !dir ? -ENOENT : !is_dir(dir) ? -ENOTDIR : !dir->ops->create ? -EPERM : 0;
    if (rc == 0)
        rc = dir->ops->create(v, dir, name, mode, uid, gid, link, &n);
    if (rc == 0) {
        n->nlookup++;
        lp_node_fill_stat(v, n, st);
    }
    lp_records_unlock(v->r);
    return rc;
}

int lp_view_create(lp_view *v, lp_ino parent, const char *name, mode_t mode, uid_t uid, gid_t gid,
                   struct stat *st)
{
    return make_entry(v, parent, name, mode, uid, gid, NULL, st);
}

int lp_view_symlink(lp_view *v, lp_ino parent, const char *name, const char *target, uid_t uid,
                    gid_t gid, struct stat *st)
{
    return make_entry(v, parent, name, 0777, uid, gid, target, st);
}

int lp_view_mkdir(lp_view *v, lp_ino parent, const char *name, struct stat *st)
{
    lp_records_lock(v->r);
    struct lp_node *dir = lp_node_get(v, parent), *n = NULL;
    int rc = !dir ? -ENOENT : !is_dir(dir) ? -ENOTDIR : !dir->ops->mkdir ? -EPERM : 0;
    if (rc == 0)
        rc = dir->ops->mkdir(v, dir, name, &n);
    if (rc == 0) {
        n->nlookup++;
        lp_node_fill_stat(v, n, st);
    }
    lp_records_unlock(v->r);
    return rc;
}

int lp_view_unlink(lp_view *v, lp_ino parent, const char *name)
{
    lp_records_lock(v->r);
    struct lp_node *dir = lp_node_get(v, parent);
    int rc = !dir || !dir->ops->unlink ? -ENOENT : dir->ops->unlink(v, dir, name);
    lp_records_unlock(v->r);
    return rc;
}

int lp_view_rmdir(lp_view *v, lp_ino parent, const char *name)
{
    lp_records_lock(v->r);
    struct lp_node *dir = lp_node_get(v, parent);
    int rc = !dir ? -ENOENT : !dir->ops->rmdir ? -ENOTDIR : dir->ops->rmdir(v, dir, name);
    lp_records_unlock(v->r);
    return rc;
}

int lp_view_rename(lp_view *v, lp_ino parent, const char *name, lp_ino newparent,
                   const char *newname, unsigned flags)
{
    if (strlen(newname) > LP_FILENAME_MAX)
        return -ENAMETOOLONG;
    if (parent != newparent)
        return -EXDEV; /* audiences are not nested, files don't move between them */
    lp_records_lock(v->r);
    struct lp_node *dir = lp_node_get(v, parent);
    int rc = !dir || !dir->ops->rename ? -ENOENT : dir->ops->rename(v, dir, name, newname, flags);
    lp_records_unlock(v->r);
    return rc;
}

/* ---- extended attributes ---- */

int lp_view_getxattr(lp_view *v, lp_ino ino, const char *name, char **value, size_t *len)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    int rc = n ? -ENODATA : -ENOENT;
    size_t plen = strlen(XATTR_PREFIX);
    if (n && alive(n) && n->ops->xattr && strncmp(name, XATTR_PREFIX, plen) == 0) {
        const char *key, *val;
        for (size_t i = 0; n->ops->xattr(n, i, &key, &val); i++) {
            if (val && strcmp(key, name + plen) == 0) {
                rc = lp_dup_text(val, strlen(val), value, len);
                break;
            }
        }
    }
    lp_records_unlock(v->r);
    return rc;
}

int lp_view_listxattr(lp_view *v, lp_ino ino, char **list, size_t *len)
{
    lp_records_lock(v->r);
    struct lp_node *n = lp_node_get(v, ino);
    int rc = n ? 0 : -ENOENT;
    size_t used = 0, cap = 0;
    char *buf = NULL;
    const char *key, *val;
    for (size_t i = 0; rc == 0 && alive(n) && n->ops->xattr && n->ops->xattr(n, i, &key, &val);
         i++) {
        size_t need = strlen(XATTR_PREFIX) + strlen(key) + 1;
        if (!val)
            continue;
        if (used + need > cap) {
            cap = (used + need) * 2;
            char *grown = realloc(buf, cap);
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            buf = grown;
        }
        memcpy(buf + used, XATTR_PREFIX, strlen(XATTR_PREFIX));
        memcpy(buf + used + strlen(XATTR_PREFIX), key, strlen(key) + 1);
        used += need;
    }
    lp_records_unlock(v->r);
    if (rc == 0 && !buf)
        buf = malloc(1);
    if (rc == 0 && !buf)
        rc = -ENOMEM;
    if (rc == 0) {
        *list = buf;
        *len = used;
    } else {
        free(buf);
    }
    return rc;
}
