/* runs_dir.c - an audience's runs/ directory (SPEC "The runs tree"): one
 * directory per run (run_dir.c), `queue` (write "manual" to queue a run) and
 * `latest`, a link to the newest completed run. Listing it fetches the runs
 * list (per cache_timeout); nothing in it can be created, renamed or removed
 * but a queued run, which rmdir cancels.
 */
#include "inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE "queue"
#define LATEST "latest"

static struct lp_adir *adir_of(struct lp_node *n)
{
    return n->aud->view;
}

/* ---- queue: reads as an empty file; "manual" written queues a run ---- */

static int queue_show(struct lp_view *v, struct lp_node *n, char **data, size_t *len)
{
    (void)v, (void)n;
    return lp_dup_text("", 0, data, len);
}

static int queue_store(struct lp_view *v, struct lp_node *n, const char *word)
{
    (void)word; /* the write rule let only "manual" through */
    struct lp_run_rec *run = NULL;
    int rc = lp_sync_run_queue(v->sync, n->aud, &run);
    if (rc == 0)
        lp_runs_notify(v, n->aud);
    return rc;
}

/* ---- latest: a link to the newest completed run ---- */

static int latest_target(struct lp_aud *a, char **target)
{
    struct lp_run_rec *run = lp_runs_latest(a->runs);
    if (!run)
        return -ENOENT;
    *target = lp_run_shown_name(a->runs, run);
    return *target ? 0 : -ENOMEM;
}

static void latest_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v;
    char *target = NULL;
    if (latest_target(n->aud, &target) == 0)
        st->st_size = (off_t)strlen(target);
    free(target);
}

static int latest_readlink(struct lp_node *n, char **target)
{
    return latest_target(n->aud, target);
}

static void child_release(struct lp_view *v, struct lp_node *n)
{
    (void)v;
    struct lp_adir *d = adir_of(n);
    if (d && d->runs_queue == n)
        d->runs_queue = NULL;
    if (d && d->runs_latest == n)
        d->runs_latest = NULL;
}

static void child_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out)
{
    struct lp_adir *d = adir_of(n);
    lp_node_path_in(v, d ? d->runs_dir : NULL, n->ops->name, out);
}

static const struct lp_node_ops queue_ops = {
    .name = QUEUE,
    .mode = S_IFREG | 0644,
    .rule = LP_WRITE_QUEUE,
    .release = child_release,
    .show = queue_show,
    .store = queue_store,
    .path = child_path,
};

static const struct lp_node_ops latest_ops = {
    .name = LATEST,
    .mode = S_IFLNK | 0777,
    .rule = LP_WRITE_NONE,
    .stat = latest_stat,
    .release = child_release,
    .readlink = latest_readlink,
    .path = child_path,
};

static struct lp_node *child(struct lp_view *v, struct lp_aud *a, struct lp_node **slot,
                             const struct lp_node_ops *ops)
{
    if (!*slot)
        *slot = lp_node_new(v, ops, a);
    return *slot;
}

/* ---- runs/ ---- */

static void dir_release(struct lp_view *v, struct lp_node *n)
{
    (void)v;
    struct lp_adir *d = adir_of(n);
    if (d && d->runs_dir == n)
        d->runs_dir = NULL;
}

/* The run shown under name, or NULL. */
static struct lp_run_rec *run_named(struct lp_runs *runs, const char *name)
{
    for (size_t i = 0; runs && i < runs->n; i++) {
        struct lp_run_rec *run = runs->items[i];
        if (run->gone)
            continue;
        char *shown = lp_run_shown_name(runs, run);
        bool same = shown && strcmp(shown, name) == 0;
        free(shown);
        if (same)
            return run;
    }
    return NULL;
}

static int dir_lookup(struct lp_view *v, struct lp_node *dir, const char *name, bool fetch,
                      struct lp_node **out)
{
    struct lp_aud *a = dir->aud;
    struct lp_adir *d = adir_of(dir);
    if (a->gone)
        return -ENOENT;
    if (strcmp(name, QUEUE) == 0) {
        *out = child(v, a, &d->runs_queue, &queue_ops);
        return *out ? 0 : -ENOMEM;
    }
    lp_aud_pin(v->r, a);
    int rc = lp_sync_runs(v->sync, a, fetch); /* may drop the lock */
    if (rc == 0 && a->gone)
        rc = -ENOENT;
    if (rc == 0 && strcmp(name, LATEST) == 0) {
        rc = lp_runs_latest(a->runs) ? 0 : -ENOENT;
        if (rc == 0 && !(*out = child(v, a, &d->runs_latest, &latest_ops)))
            rc = -ENOMEM;
    } else if (rc == 0) {
        struct lp_run_rec *run = run_named(a->runs, name);
        rc = !run ? -ENOENT : (*out = lp_run_dir_node(v, a, run)) ? 0 : -ENOMEM;
    }
    lp_aud_unpin(v->r, a);
    return rc;
}

static int dir_list(struct lp_view *v, struct lp_node *dir, struct lp_dirent **out, size_t *count)
{
    struct lp_aud *a = dir->aud;
    lp_aud_pin(v->r, a);
    int rc = lp_sync_runs(v->sync, a, true); /* may drop the lock */
    struct lp_runs *runs = a->runs;
    struct lp_adir *d = adir_of(dir);
    size_t cap = 2 + (runs ? runs->n : 0), n = 0;
    struct lp_dirent *ents = rc == 0 && !a->gone ? calloc(cap, sizeof(*ents)) : NULL;
    if (rc == 0)
        rc = a->gone ? -ENOENT : ents ? 0 : -ENOMEM;
    if (rc == 0)
        rc = lp_dirent_add(v, ents, &n, QUEUE, child(v, a, &d->runs_queue, &queue_ops));
    if (rc == 0 && lp_runs_latest(runs))
        rc = lp_dirent_add(v, ents, &n, LATEST, child(v, a, &d->runs_latest, &latest_ops));
    /* Oldest first: the order the runs were made in. */
    for (size_t i = runs ? runs->n : 0; rc == 0 && i-- > 0;) {
        struct lp_run_rec *run = runs->items[i];
        if (run->gone)
            continue;
        char *name = lp_run_shown_name(runs, run);
        rc = name ? lp_dirent_add(v, ents, &n, name, lp_run_dir_node(v, a, run)) : -ENOMEM;
        free(name);
    }
    lp_aud_unpin(v->r, a);
    if (rc < 0) {
        lp_dirents_free(ents, n);
        return rc;
    }
    *out = ents;
    *count = n;
    return 0;
}

/* rmdir of a run cancels it (only a queued one can be). */
static int dir_rmdir(struct lp_view *v, struct lp_node *dir, const char *name)
{
    struct lp_aud *a = dir->aud;
    lp_aud_pin(v->r, a);
    int rc = lp_sync_runs(v->sync, a, true);
    struct lp_run_rec *run = rc == 0 && !a->gone ? run_named(a->runs, name) : NULL;
    if (rc == 0)
        rc = run ? lp_sync_run_cancel(v->sync, a, run) : -ENOENT;
    if (rc == 0)
        lp_runs_notify(v, a);
    lp_aud_unpin(v->r, a);
    return rc;
}

static int dir_refuse(struct lp_view *v, struct lp_node *dir, const char *name)
{
    (void)v, (void)dir, (void)name;
    return -EPERM; /* runs are made by queue and by Leadpipe, never by name */
}

static int dir_refuse_rename(struct lp_view *v, struct lp_node *dir, const char *name,
                             const char *newname, unsigned flags)
{
    (void)newname, (void)flags;
    return dir_refuse(v, dir, name);
}

static void dir_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out)
{
    struct lp_adir *d = adir_of(n);
    lp_node_path_in(v, d ? d->dir : NULL, LP_RUNS_DIR, out);
}

const struct lp_node_ops lp_runs_dir_ops = {
    .mode = S_IFDIR | 0755,
    .stat = lp_stat_dir,
    .keep = lp_keep_while_live, /* a live audience's directory keeps its inode */
    .release = dir_release,
    .lookup = dir_lookup,
    .list = dir_list,
    .rmdir = dir_rmdir,
    .unlink = dir_refuse,
    .rename = dir_refuse_rename,
    .path = dir_path,
};

struct lp_node *lp_runs_dir_node(struct lp_view *v, struct lp_aud *a)
{
    struct lp_adir *d = a->view;
    if (!d->runs_dir)
        d->runs_dir = lp_node_new(v, &lp_runs_dir_ops, a);
    return d->runs_dir;
}

void lp_runs_nodes_release(struct lp_view *v, struct lp_aud *a)
{
    struct lp_adir *d = a->view;
    for (size_t i = 0; a->runs && i < a->runs->n; i++)
        lp_run_nodes_release(v, a->runs->items[i]);
    if (!d)
        return;
    /* Each one freed clears its field (child_release, dir_release). */
    if (d->runs_queue)
        lp_node_maybe_free(v, d->runs_queue);
    if (d->runs_latest)
        lp_node_maybe_free(v, d->runs_latest);
    if (d->runs_dir)
        lp_node_maybe_free(v, d->runs_dir);
}

void lp_runs_notify(struct lp_view *v, struct lp_aud *a)
{
    struct lp_adir *d = a->view;
    if (!d)
        return;
    lp_notify_node(v, d->runs_dir);
    lp_notify_node(v, d->runs_latest);
    if (d->runs_dir)
        lp_notify_entry(v, d->runs_dir->ino, LATEST);
    for (size_t i = 0; a->runs && i < a->runs->n; i++) {
        struct lp_run_rec *run = a->runs->items[i];
        lp_run_view_notify(v, run);
        if (run->gone && d->runs_dir) {
            char *name = lp_run_shown_name(a->runs, run);
            lp_notify_entry(v, d->runs_dir->ino, name);
            free(name);
        }
    }
}
