/* aud_dir.c - an audience's directory: its fixed files (aud_files.c), the
 * editors' scratch files (scratch.c), and its metadata as extended
 * attributes. Its inode number is stable while the audience lives.
 */
#include "inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct lp_adir *lp_adir_new(struct lp_view *v, struct lp_aud *a)
{
    struct lp_adir *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    a->view = d;
    d->dir = lp_node_new(v, &lp_aud_dir_ops, a);
    if (!d->dir) {
        a->view = NULL;
        free(d);
        return NULL;
    }
    return d;
}

void lp_adir_free(struct lp_view *v, struct lp_aud *a)
{
    struct lp_adir *d = a->view;
    if (!d)
        return;
    while (d->scratch) {
        struct lp_scratch *s = d->scratch;
        d->scratch = s->next;
        lp_scratch_free(v, s);
    }
    free(d->dirname);
    free(d->new_dirname);
    free(d);
    a->view = NULL;
}

/* The live audience a directory node stands for, or NULL. */
static struct lp_aud *lp_dir_aud(struct lp_node *n)
{
    return n && n->ops == &lp_aud_dir_ops && n->aud && !n->aud->gone ? n->aud : NULL;
}

static void dir_release(struct lp_view *v, struct lp_node *n)
{
    (void)v;
    struct lp_adir *d = n->aud->view;
    if (d && d->dir == n)
        d->dir = NULL;
}

static int dir_lookup(struct lp_view *v, struct lp_node *dir, const char *name, bool fetch,
                      struct lp_node **out)
{
    struct lp_aud *a = lp_dir_aud(dir);
    if (!a)
        return -ENOENT;
    if (strcmp(name, LP_RUNS_DIR) == 0) {
        if (a->pending)
            return -ENOENT; /* runs come once the API knows the audience */
        *out = lp_runs_dir_node(v, a);
        return *out ? 0 : -ENOMEM;
    }
    int i = lp_aud_file_index(name);
    if (i < 0) {
        struct lp_scratch *s = lp_scratch_find(a->view, name);
        if (!s)
            return -ENOENT;
        *out = s->node;
        return 0;
    }
    struct lp_node *n = lp_aud_file_node(v, a, i);
    if (!n)
        return -ENOMEM;
    int rc = 0;
    if (n->ops->refresh) {
        lp_aud_pin(v->r, a);
        rc = n->ops->refresh(v, n, fetch); /* may drop the lock: n may be gone after */
        if (rc == 0 && a->gone)
            rc = -ENOENT;
        if (rc == 0 && !(n = lp_aud_file_node(v, a, i)))
            rc = -ENOMEM;
        lp_aud_unpin(v->r, a);
    }
    if (rc == 0)
        *out = n;
    return rc;
}

static int dir_list(struct lp_view *v, struct lp_node *dir, struct lp_dirent **out, size_t *count)
{
    struct lp_aud *a = dir->aud;
    struct lp_adir *d = a->view;
    size_t cap = LP_AUD_NFILES + 1;
    for (struct lp_scratch *s = d->scratch; s; s = s->next)
        cap++;
    struct lp_dirent *ents = calloc(cap, sizeof(*ents));
    if (!ents)
        return -ENOMEM;
    size_t n = 0;
    int rc = 0;
    for (int i = 0; i < LP_AUD_NFILES && rc == 0; i++) {
        struct lp_node *f = lp_aud_file_node(v, a, i);
        rc = lp_dirent_add(v, ents, &n, lp_aud_files[i]->name, f);
        /* A listing sends no request (find, ls would send one GET per
         * audience): a size that needs one is left unknown. */
        if (rc == 0 && f->ops->refresh && f->ops->refresh(v, f, false) < 0)
            ents[n - 1].attrs_valid = false;
    }
    if (rc == 0 && !a->pending)
        rc = lp_dirent_add(v, ents, &n, LP_RUNS_DIR, lp_runs_dir_node(v, a));
    for (struct lp_scratch *s = d->scratch; s && rc == 0; s = s->next)
        rc = lp_dirent_add(v, ents, &n, s->name, s->node);
    if (rc < 0) {
        lp_dirents_free(ents, n);
        return rc;
    }
    *out = ents;
    *count = n;
    return 0;
}

static int dir_create(struct lp_view *v, struct lp_node *dir, const char *name, mode_t mode,
                      uid_t uid, gid_t gid, const char *link, struct lp_node **out)
{
    struct lp_aud *a = lp_dir_aud(dir);
    if (!a)
        return -ENOENT;
    return lp_scratch_new(v, a, name, mode, uid, gid, link, out);
}

static int dir_unlink(struct lp_view *v, struct lp_node *dir, const char *name)
{
    struct lp_aud *a = lp_dir_aud(dir);
    if (!a)
        return -ENOENT;
    if (lp_aud_file_index(name) >= 0 || strcmp(name, LP_RUNS_DIR) == 0)
        return -EPERM; /* config.json, status, size and runs are the audience itself */
    struct lp_scratch *s = lp_scratch_find(a->view, name);
    if (!s)
        return -ENOENT;
    lp_scratch_unlink(v, a->view, s);
    return 0;
}

static int dir_rename(struct lp_view *v, struct lp_node *dir, const char *name, const char *newname,
                      unsigned flags)
{
    struct lp_aud *a = lp_dir_aud(dir);
    if (!a)
        return -ENOENT;
    if (strcmp(name, LP_RUNS_DIR) == 0 || strcmp(newname, LP_RUNS_DIR) == 0)
        return -EPERM;
    return lp_scratch_rename(v, a, name, newname, flags);
}

static bool dir_xattr(struct lp_node *n, size_t i, const char **key, const char **value)
{
    static const char *const keys[] = {
        "id",        "status",    "accessType",      "dailyRefreshEnabled",
        "createdAt", "updatedAt", "lastRefreshedAt", "lastError"};
    const struct lp_aud *a = n->aud;
    const struct lp_audience *rec = &a->rec;
    const char *refresh = rec->daily_refresh < 0 ? NULL : rec->daily_refresh ? "true" : "false";
    const char *values[] = {
        rec->id,         rec->status,     rec->access_type,       refresh,
        rec->created_at, rec->updated_at, rec->last_refreshed_at, a->last_error};
    if (i >= sizeof(keys) / sizeof(keys[0]))
        return false;
    *key = keys[i];
    *value = values[i];
    return true;
}

static void dir_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out)
{
    (void)v;
    const struct lp_adir *d = n->aud->view;
    lp_sb_adds(out, "/");
    lp_sb_adds(out, d && d->dirname ? d->dirname : "<gone>");
}

static int dir_rmdir(struct lp_view *v, struct lp_node *dir, const char *name)
{
    (void)v;
    struct lp_aud *a = lp_dir_aud(dir);
    if (!a)
        return -ENOENT;
    if (strcmp(name, LP_RUNS_DIR) == 0 && !a->pending)
        return -EPERM;
    return lp_scratch_find(a->view, name) || lp_aud_file_index(name) >= 0 ? -ENOTDIR : -ENOENT;
}

const struct lp_node_ops lp_aud_dir_ops = {
    .rmdir = dir_rmdir,
    .path = dir_path,
    .mode = S_IFDIR | 0755,
    .stat = lp_stat_dir,
    .keep = lp_keep_while_live, /* a live audience's directory keeps its inode */
    .release = dir_release,
    .lookup = dir_lookup,
    .list = dir_list,
    .create = dir_create,
    .unlink = dir_unlink,
    .rename = dir_rename,
    .xattr = dir_xattr,
};
