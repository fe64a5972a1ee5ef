/* run_dir.c - one run's directory in runs/ (SPEC "The runs tree"): its
 * status, and for a completed run results.csv (the export, byte for byte,
 * read from the results cache through the page cache) and stats.json; the
 * run's fields as extended attributes. A run never changes once completed,
 * so its files are fetched once.
 */
#include "inode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isotime.h"
#include "names.h"

#define RUN_NFILES 3
#define U_SWUNG "\xE2\x81\x93" /* U+2053: the id suffix, as in audience names */

/* The view of one run (run_rec->view): its nodes while the kernel knows them. */
struct lp_rview {
    struct lp_node *dir;
    struct lp_node *files[RUN_NFILES];
};

static struct lp_rview *rview_of(struct lp_run_rec *run)
{
    if (!run->view)
        run->view = calloc(1, sizeof(struct lp_rview));
    return run->view;
}

void lp_run_views_free(struct lp_aud *a)
{
    for (size_t i = 0; a->runs && i < a->runs->n; i++) {
        free(a->runs->items[i]->view);
        a->runs->items[i]->view = NULL;
    }
}

void lp_run_nodes_release(struct lp_view *v, struct lp_run_rec *run)
{
    struct lp_rview *rv = run->view;
    if (!rv)
        return;
    for (int i = 0; i < RUN_NFILES; i++)
        if (rv->files[i])
            lp_node_maybe_free(v, rv->files[i]);
    if (rv->dir)
        lp_node_maybe_free(v, rv->dir);
}

void lp_run_view_notify(struct lp_view *v, struct lp_run_rec *run)
{
    struct lp_rview *rv = run->view;
    if (!rv)
        return;
    lp_notify_node(v, rv->dir);
    for (int i = 0; i < RUN_NFILES; i++)
        lp_notify_node(v, rv->files[i]);
}

static bool completed(const struct lp_run_rec *run)
{
    return run->run.status && strcmp(run->run.status, "completed") == 0;
}

char *lp_run_shown_name(struct lp_runs *runs, struct lp_run_rec *run)
{
    char *name = lp_run_dirname(&run->run);
    if (!name)
        return NULL;
    /* The older of two runs of the same name keeps it plainly; the list is
     * newest first, so a clash with any run after this one means suffix. */
    bool after = false, clash = false;
    for (size_t i = 0; runs && i < runs->n && !clash; i++) {
        struct lp_run_rec *other = runs->items[i];
        if (other == run) {
            after = true;
            continue;
        }
        if (!after || other->gone)
            continue;
        char *o = lp_run_dirname(&other->run);
        clash = o && strcmp(o, name) == 0;
        free(o);
    }
    if (!clash)
        return name;
    size_t len = strlen(name) + strlen(U_SWUNG) + strlen(run->run.id) + 1;
    char *suffixed = malloc(len);
    if (suffixed)
        snprintf(suffixed, len, "%s" U_SWUNG "%s", name, run->run.id);
    free(name);
    return suffixed;
}

/* ---- the files ---- */

static struct lp_run_rec *run_of(struct lp_node *n)
{
    return n->priv;
}

static int text_out(const char *text, size_t len, char **data, size_t *out_len)
{
    return lp_dup_text(text ? text : "", text ? len : 0, data, out_len);
}

static void status_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v;
    const char *s = run_of(n)->run.status;
    st->st_size = (off_t)(s ? strlen(s) + 1 : 0);
}

/* A queued or running run's status changes: re-listed per cache_timeout. */
static int status_refresh(struct lp_view *v, struct lp_node *n, bool fetch)
{
    int rc = lp_sync_runs(v->sync, n->aud, fetch);
    return rc == -ENOENT ? 0 : rc;
}

static int status_show(struct lp_view *v, struct lp_node *n, char **data, size_t *len)
{
    (void)v;
    const char *s = run_of(n)->run.status;
    char buf[64];
    snprintf(buf, sizeof(buf), "%s\n", s ? s : "");
    return text_out(s ? buf : NULL, strlen(buf), data, len);
}

static void stats_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v;
    st->st_size = (off_t)run_of(n)->stats_len;
}

static int stats_refresh(struct lp_view *v, struct lp_node *n, bool fetch)
{
    struct lp_run_rec *run = run_of(n);
    if (run->stats)
        return 0;
    return fetch ? lp_sync_run_stats(v->sync, n->aud, run) : -EAGAIN;
}

static int stats_show(struct lp_view *v, struct lp_node *n, char **data, size_t *len)
{
    (void)v;
    return text_out(run_of(n)->stats, run_of(n)->stats_len, data, len);
}

static void csv_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v;
    st->st_size = (off_t)run_of(n)->csv_size;
}

/* Its size is known only once its download's answer announced it: a lookup
 * or stat starts the download (and waits for that, not for all of it). */
static int csv_refresh(struct lp_view *v, struct lp_node *n, bool fetch)
{
    struct lp_run_rec *run = run_of(n);
    uint64_t size;
    if (!fetch)
        return run->csv_known ? 0 : -EAGAIN;
    return lp_sync_run_results(v->sync, n->aud, run, &size);
}

static int csv_open(struct lp_view *v, struct lp_node *n, int *fd, uint64_t *size,
                    lp_rcache_live **live)
{
    return lp_sync_run_results_open(v->sync, n->aud, run_of(n), fd, size, live);
}

static void csv_close(struct lp_view *v, struct lp_node *n)
{
    lp_sync_run_results_close(v->sync, run_of(n));
}

static void file_release(struct lp_view *v, struct lp_node *n)
{
    (void)v;
    struct lp_rview *rv = run_of(n)->view;
    for (int i = 0; rv && i < RUN_NFILES; i++)
        if (rv->files[i] == n)
            rv->files[i] = NULL;
}

static void file_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out)
{
    struct lp_rview *rv = run_of(n)->view;
    lp_node_path_in(v, rv ? rv->dir : NULL, n->ops->name, out);
}

static const struct lp_node_ops run_files[RUN_NFILES] = {
    {.name = "status",
     .mode = S_IFREG | 0444,
     .rule = LP_WRITE_NONE,
     .stat = status_stat,
     .refresh = status_refresh,
     .release = file_release,
     .show = status_show,
     .path = file_path},
    {.name = "results.csv",
     .mode = S_IFREG | 0444,
     .rule = LP_READ_FILE,
     .stat = csv_stat,
     .refresh = csv_refresh,
     .release = file_release,
     .open_fd = csv_open,
     .close_fd = csv_close,
     .path = file_path},
    {.name = "stats.json",
     .mode = S_IFREG | 0444,
     .rule = LP_WRITE_NONE,
     .stat = stats_stat,
     .refresh = stats_refresh,
     .release = file_release,
     .show = stats_show,
     .path = file_path},
};

/* status always; results.csv and stats.json once the run completed. */
static bool has_file(const struct lp_run_rec *run, int i)
{
    return i == 0 || completed(run);
}

static struct lp_node *file_node(struct lp_view *v, struct lp_node *dir, int i)
{
    struct lp_rview *rv = run_of(dir)->view;
    if (!rv->files[i] && (rv->files[i] = lp_node_new(v, &run_files[i], dir->aud)))
        rv->files[i]->priv = dir->priv;
    return rv->files[i];
}

/* ---- the directory ---- */

static const struct lp_node_ops run_dir_ops;

static void dir_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v;
    const struct lp_run *r = &run_of(n)->run;
    st->st_nlink = 2;
    st->st_mtim = st->st_ctim = st->st_atim = lp_iso_time(r->completed_at ? r->completed_at
                                                          : r->updated_at ? r->updated_at
                                                                          : r->created_at);
}

static bool dir_keep(struct lp_view *v, struct lp_node *n)
{
    (void)v;
    return n->linked && !n->aud->gone && !run_of(n)->gone;
}

static void dir_release(struct lp_view *v, struct lp_node *n)
{
    (void)v;
    struct lp_rview *rv = run_of(n)->view;
    if (rv && rv->dir == n)
        rv->dir = NULL;
}

static int dir_lookup(struct lp_view *v, struct lp_node *dir, const char *name, bool fetch,
                      struct lp_node **out)
{
    struct lp_run_rec *run = run_of(dir);
    if (dir->aud->gone || run->gone)
        return -ENOENT;
    for (int i = 0; i < RUN_NFILES; i++) {
        if (strcmp(name, run_files[i].name) != 0 || !has_file(run, i))
            continue;
        struct lp_node *n = file_node(v, dir, i);
        if (!n)
            return -ENOMEM;
        struct lp_aud *a = dir->aud;
        lp_aud_pin(v->r, a);
        int rc = n->ops->refresh(v, n, fetch); /* may drop the lock */
        if (rc == 0 && (a->gone || run->gone))
            rc = -ENOENT;
        /* dir stays (the kernel holds it while it looks up in it). */
        if (rc == 0 && !(n = file_node(v, dir, i)))
            rc = -ENOMEM;
        lp_aud_unpin(v->r, a);
        if (rc == 0)
            *out = n;
        return rc;
    }
    return -ENOENT;
}

static int dir_list(struct lp_view *v, struct lp_node *dir, struct lp_dirent **out, size_t *count)
{
    struct lp_run_rec *run = run_of(dir);
    struct lp_dirent *ents = calloc(RUN_NFILES, sizeof(*ents));
    size_t n = 0;
    int rc = ents ? 0 : -ENOMEM;
    for (int i = 0; i < RUN_NFILES && rc == 0; i++) {
        if (!has_file(run, i))
            continue;
        struct lp_node *f = file_node(v, dir, i);
        rc = lp_dirent_add(v, ents, &n, run_files[i].name, f);
        /* A listing sends no request: sizes not known yet are left unknown. */
        if (rc == 0 && f->ops->refresh(v, f, false) < 0)
            ents[n - 1].attrs_valid = false;
    }
    if (rc < 0) {
        lp_dirents_free(ents, n);
        return rc;
    }
    *out = ents;
    *count = n;
    return 0;
}

static bool dir_xattr(struct lp_node *n, size_t i, const char **key, const char **value)
{
    const struct lp_run *r = &run_of(n)->run;
    if (i >= r->nfields)
        return false;
    *key = r->fields[i].key;
    *value = r->fields[i].value;
    return true;
}

static void dir_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out)
{
    const struct lp_adir *d = n->aud->view;
    char *name = lp_run_shown_name(n->aud->runs, run_of(n));
    lp_node_path_in(v, d ? d->runs_dir : NULL, name ? name : "?", out);
    free(name);
}

static const struct lp_node_ops run_dir_ops = {
    .mode = S_IFDIR | 0555,
    .stat = dir_stat,
    .keep = dir_keep,
    .release = dir_release,
    .lookup = dir_lookup,
    .list = dir_list,
    .xattr = dir_xattr,
    .path = dir_path,
};

struct lp_node *lp_run_dir_node(struct lp_view *v, struct lp_aud *a, struct lp_run_rec *run)
{
    struct lp_rview *rv = rview_of(run);
    if (!rv)
        return NULL;
    if (!rv->dir && (rv->dir = lp_node_new(v, &run_dir_ops, a)))
        rv->dir->priv = run;
    return rv->dir;
}
