/* root_dir.c - the mount's root: one directory per audience, under the name
 * it shows (names.h encodes the names a file system cannot hold, and gives
 * the later of two audiences sharing a name an id suffix). mkdir makes a
 * pending audience, rmdir deletes one, rename renames one.
 */
#include "inode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* ---- names ---- */

static bool older(const struct lp_aud *x, const struct lp_aud *y)
{
    const char *cx = x->rec.created_at, *cy = y->rec.created_at;
    if (cx && cy && strcmp(cx, cy) != 0)
        return strcmp(cx, cy) < 0;
    if (!cx != !cy)
        return cx != NULL;
    if (x->pending != y->pending)
        return !x->pending;
    const char *ix = x->rec.id ? x->rec.id : "", *iy = y->rec.id ? y->rec.id : "";
    return strcmp(ix, iy) < 0;
}

/* A name that only fits cut short must carry the id: decoding it no longer
 * gives the name back, and two long names could share the same cut. */
static bool round_trips(const char *shown, const char *name)
{
    char *back = lp_name_decode(shown);
    bool same = back && strcmp(back, name) == 0;
    free(back);
    return same;
}

static char *shown_name(const struct lp_aud *a, bool owner)
{
    char local[32];
    const struct lp_adir *d = a->view;
    const char *id = a->rec.id;
    const char *name = a->rec.name ? a->rec.name : "";
    if (!id) {
        snprintf(local, sizeof(local), "new%05lu", (unsigned long)(d->dir ? d->dir->ino : 0));
        id = local;
    }
    char *shown = lp_name_encode(name, owner ? NULL : id);
    if (shown && owner && !round_trips(shown, name)) {
        free(shown);
        shown = lp_name_encode(name, id);
    }
    return shown;
}

static const char *name_key(const struct lp_aud *a)
{
    return a->rec.name ? a->rec.name : "";
}

/* Withdraws a's shown name from the root and the kernel. */
static void drop_name(struct lp_view *v, struct lp_adir *d, struct lp_aud *a)
{
    if (lp_smap_get(&v->by_name, d->dirname) == a)
        lp_smap_del(&v->by_name, d->dirname);
    lp_notify_entry(v, LP_INO_ROOT, d->dirname);
    free(d->dirname);
    d->dirname = NULL;
    lp_view_names_changed(v);
}

/* Gives every live audience its shown name: the oldest audience of a name shows
 * it plainly, later ones carry an id suffix. Names that changed are withdrawn
 * from the kernel first, so two audiences swapping names never collide. */
void lp_names_assign(struct lp_view *v)
{
    uint64_t before = v->names_version;
    struct lp_map owners;
    lp_map_init_str(&owners);
    bool oom = false;
    for (struct lp_aud *a = v->r->live; a; a = a->next) {
        struct lp_aud *cur = lp_smap_get(&owners, name_key(a));
        if (a->view && (!cur || older(a, cur)))
            oom |= lp_smap_put(&owners, name_key(a), a) < 0;
    }
    for (struct lp_aud *a = v->r->live; a; a = a->next) {
        struct lp_adir *d = a->view;
        if (!d)
            continue;
        free(d->new_dirname);
        /* Out of memory, every name carries its id: unique without the owners map. */
        bool owner = !oom && lp_smap_get(&owners, name_key(a)) == a;
        d->new_dirname = shown_name(a, owner);
        if (d->dirname && (!d->new_dirname || strcmp(d->dirname, d->new_dirname) != 0))
            drop_name(v, d, a);
    }
    for (struct lp_aud *a = v->r->live; a; a = a->next) {
        struct lp_adir *d = a->view;
        if (!d)
            continue;
        if (!d->dirname && d->new_dirname) {
            if (lp_smap_put(&v->by_name, d->new_dirname, a) == 0) {
                d->dirname = d->new_dirname;
                d->new_dirname = NULL;
                lp_view_names_changed(v);
            } else {
                lp_log(LP_LOG_ERR, "out of memory: audience %s not shown", a->rec.id);
            }
        }
        free(d->new_dirname);
        d->new_dirname = NULL;
    }
    lp_map_destroy(&owners);
    if (v->names_version != before)
        lp_notify_node(v, &v->root);
}

void lp_names_withdraw(struct lp_view *v, struct lp_aud *a)
{
    struct lp_adir *d = a->view;
    if (d && d->dirname)
        drop_name(v, d, a);
    else
        lp_view_names_changed(v);
    lp_notify_node(v, &v->root);
}

/* ---- the root's kind ---- */

static void root_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)n;
    /* The root's mtime moves when its names do: the kernel keeps its listing
     * while the mtime it saw is unchanged. */
    st->st_nlink = 2 + v->r->nlive;
}

/* The kernel asks the root's attributes before it trusts its cached listing
 * of it: a good moment to refresh a stale one. */
static int root_refresh(struct lp_view *v, struct lp_node *n, bool fetch)
{
    (void)n, (void)fetch;
    lp_sync_listing(v->sync, false, NULL);
    return 0;
}

static struct lp_aud *by_name(struct lp_view *v, const char *name)
{
    return lp_smap_get(&v->by_name, name);
}

static int root_lookup(struct lp_view *v, struct lp_node *dir, const char *name, bool fetch,
                       struct lp_node **out)
{
    (void)dir, (void)fetch;
    if (strcmp(name, LP_CONTROL_DIR) == 0) {
        *out = v->ctl_dir; /* found by name, never listed */
        return 0;
    }
    struct lp_aud *a = by_name(v, name);
    if (!a)
        return -ENOENT;
    *out = ((struct lp_adir *)a->view)->dir;
    return 0;
}

static int root_list(struct lp_view *v, struct lp_node *dir, struct lp_dirent **out, size_t *count)
{
    (void)dir;
    struct lp_dirent *ents = calloc(v->r->nlive + 1, sizeof(*ents));
    if (!ents)
        return -ENOMEM;
    size_t n = 0;
    /* Oldest first, as the API lists them. */
    for (struct lp_aud *a = lp_records_oldest(v->r); a; a = a->prev) {
        struct lp_adir *d = a->view;
        if (!d || !d->dirname)
            continue;
        if (lp_dirent_add(v, ents, &n, d->dirname, d->dir) < 0) {
            lp_dirents_free(ents, n);
            return -ENOMEM;
        }
    }
    *out = ents;
    *count = n;
    return 0;
}

static uint64_t root_version(struct lp_view *v, struct lp_node *dir)
{
    (void)dir;
    return v->names_version;
}

/* Checks a name given to mkdir or rename; *decoded is the audience name (malloc'd). */
static int check_name(const char *name, char **decoded, char *reason, size_t reasonlen)
{
    if (strlen(name) > LP_FILENAME_MAX)
        return -ENAMETOOLONG; /* the kernel lets FUSE names grow to 1024 bytes */
    *decoded = lp_name_decode(name);
    if (!*decoded)
        return -EINVAL;
    if (lp_name_validate(*decoded, reason, reasonlen) < 0) {
        free(*decoded);
        *decoded = NULL;
        return -EINVAL;
    }
    return 0;
}

/* The record of a new audience made by mkdir: the template config, draft. */
static int pending_record(char *name, struct lp_audience *rec)
{
    char now[32];
    time_t secs = time(NULL);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    memset(rec, 0, sizeof(*rec));
    rec->name = name;
    rec->status = strdup("draft");
    rec->config = strdup(lp_config_template());
    rec->created_at = strdup(now);
    rec->updated_at = strdup(now);
    rec->daily_refresh = -1;
    return rec->status && rec->config && rec->created_at && rec->updated_at ? 0 : -ENOMEM;
}

static int root_mkdir(struct lp_view *v, struct lp_node *dir, const char *name,
                      struct lp_node **out)
{
    (void)dir;
    char *decoded = NULL, reason[128] = "";
    int rc = check_name(name, &decoded, reason, sizeof(reason));
    if (rc < 0) {
        if (reason[0])
            lp_log(LP_LOG_WARNING, "mkdir %s: %s", name, reason);
        return rc;
    }
    lp_sync_listing(v->sync, false, NULL);
    char *plain = lp_name_encode(decoded, NULL);
    if (by_name(v, name) || (plain && by_name(v, plain)))
        rc = -EEXIST;
    free(plain);
    if (rc < 0) {
        free(decoded);
        return rc;
    }
    struct lp_audience rec;
    rc = pending_record(decoded, &rec);
    struct lp_aud *a = rc == 0 ? lp_records_add(v->r, &rec, true) : NULL;
    lp_audience_clear(&rec);
    if (!a || !a->view) {
        if (a)
            lp_records_remove(v->r, a);
        return -ENOMEM;
    }
    lp_names_assign(v);
    *out = ((struct lp_adir *)a->view)->dir;
    lp_notify_node(v, &v->root);
    return 0;
}

static int root_rmdir(struct lp_view *v, struct lp_node *dir, const char *name)
{
    (void)dir;
    if (strcmp(name, LP_CONTROL_DIR) == 0)
        return -EPERM;
    struct lp_aud *a = by_name(v, name);
    return a ? lp_sync_delete(v->sync, a) : -ENOENT;
}

static int root_unlink(struct lp_view *v, struct lp_node *dir, const char *name)
{
    (void)dir;
    return by_name(v, name) ? -EISDIR : -ENOENT;
}

static int root_rename(struct lp_view *v, struct lp_node *dir, const char *name,
                       const char *newname, unsigned flags)
{
    (void)dir;
    if (strcmp(name, LP_CONTROL_DIR) == 0 || strcmp(newname, LP_CONTROL_DIR) == 0)
        return -EPERM;
    struct lp_aud *a = by_name(v, name);
    if (!a)
        return -ENOENT;
    struct lp_aud *other = by_name(v, newname);
    if (other == a)
        return 0;
    if (other)
        return (flags & LP_RENAME_NOREPLACE) ? -EEXIST : -ENOTEMPTY;
    char *decoded = NULL, reason[128] = "";
    int rc = check_name(newname, &decoded, reason, sizeof(reason));
    if (rc < 0) {
        if (reason[0])
            lp_aud_set_error(a, reason);
        return rc;
    }
    /* Its own shown name with a suffix ('A⁓<id>') names what it already has:
     * nothing to send (and updatedAt must not move). */
    if (!a->rec.name || strcmp(decoded, a->rec.name) != 0)
        rc = lp_sync_rename(v->sync, a, decoded);
    free(decoded);
    if (rc < 0)
        return rc; /* a may be gone (and freed) */
    /* The kernel now knows the directory as newname; if the name shown differs
     * (encoding, duplicates), make it ask again. */
    struct lp_adir *d = a->view;
    if (!d->dirname || strcmp(d->dirname, newname) != 0)
        lp_notify_entry(v, LP_INO_ROOT, newname);
    return 0;
}

static void root_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out)
{
    (void)v, (void)n;
    lp_sb_adds(out, "/");
}

const struct lp_node_ops lp_root_ops = {
    .path = root_path,
    .mode = S_IFDIR | 0755,
    .stat = root_stat,
    .refresh = root_refresh,
    .lookup = root_lookup,
    .list = root_list,
    .version = root_version,
    .mkdir = root_mkdir,
    .rmdir = root_rmdir,
    .unlink = root_unlink,
    .rename = root_rename,
};
