/* aud_files.c - the files in an audience's directory, one ops table each, as
 * sysfs attributes: `show` gives the text, `store` sends what was written.
 * config.json and status are written through wbuf.c's rule (view.h's
 * lp_write_rule); size is read-only. A new file is a new entry in
 * lp_aud_files (and LP_AUD_NFILES).
 */
#include "inode.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- config.json: the config, pretty JSON + "\n"; fetched per cache_timeout ---- */

static void config_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v;
    st->st_size = (off_t)strlen(lp_aud_config_text(n->aud));
}

/* The listing carries no config: it is fetched (GET) when stale. */
static int config_refresh(struct lp_view *v, struct lp_node *n, bool fetch)
{
    if (!fetch && !lp_aud_config_fresh(v->r, n->aud))
        return -EAGAIN;
    return lp_sync_config(v->sync, n->aud);
}

static int config_show(struct lp_view *v, struct lp_node *n, char **data, size_t *len)
{
    (void)v;
    const char *text = lp_aud_config_text(n->aud);
    return lp_dup_text(text, strlen(text), data, len);
}

static int config_store(struct lp_view *v, struct lp_node *n, const char *compact)
{
    return lp_sync_config_write(v->sync, n->aud, compact);
}

/* ---- status: "draft\n", "active\n" or "paused\n" ---- */

static int status_show(struct lp_view *v, struct lp_node *n, char **data, size_t *len)
{
    (void)v;
    char buf[48];
    snprintf(buf, sizeof(buf), "%s\n", n->aud->rec.status ? n->aud->rec.status : "");
    return lp_dup_text(buf, strlen(buf), data, len);
}

static void status_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v;
    st->st_size = (off_t)strlen(n->aud->rec.status ? n->aud->rec.status : "") + 1;
}

static int status_store(struct lp_view *v, struct lp_node *n, const char *word)
{
    return lp_sync_status(v->sync, n->aud, word);
}

/* ---- size: audienceSize, read-only ---- */

static int size_show(struct lp_view *v, struct lp_node *n, char **data, size_t *len)
{
    (void)v;
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld\n", n->aud->rec.audience_size);
    return lp_dup_text(buf, strlen(buf), data, len);
}

static void size_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v;
    char buf[32];
    st->st_size = snprintf(buf, sizeof(buf), "%lld\n", n->aud->rec.audience_size);
}

/* ---- the table ---- */

static void file_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out)
{
    const struct lp_adir *d = n->aud->view;
    lp_node_path_in(v, d ? d->dir : NULL, n->ops->name, out);
}

/* A file keeps its inode number while its audience lives, as the directory
 * does (SPEC: inode numbers are stable), however often the kernel forgets
 * it; once the audience is gone, or a save replaced the node, it is freed. */
static void file_release(struct lp_view *v, struct lp_node *n)
{
    (void)v;
    struct lp_node **slot = lp_aud_file_slot(n->aud, n);
    if (slot)
        *slot = NULL;
}

static const struct lp_node_ops config_ops = {
    .name = "config.json",
    .mode = S_IFREG | 0644,
    .rule = LP_WRITE_CONFIG,
    .stat = config_stat,
    .refresh = config_refresh,
    .keep = lp_keep_while_live,
    .release = file_release,
    .path = file_path,
    .show = config_show,
    .store = config_store,
};

static const struct lp_node_ops status_ops = {
    .name = "status",
    .mode = S_IFREG | 0644,
    .rule = LP_WRITE_STATUS,
    .stat = status_stat,
    .keep = lp_keep_while_live,
    .release = file_release,
    .path = file_path,
    .show = status_show,
    .store = status_store,
};

static const struct lp_node_ops size_ops = {
    .name = "size",
    .mode = S_IFREG | 0444,
    .rule = LP_WRITE_NONE,
    .stat = size_stat,
    .keep = lp_keep_while_live,
    .release = file_release,
    .path = file_path,
    .show = size_show,
};

const struct lp_node_ops *const lp_aud_files[LP_AUD_NFILES] = {&config_ops, &status_ops, &size_ops};

int lp_aud_file_index(const char *name)
{
    for (int i = 0; i < LP_AUD_NFILES; i++)
        if (strcmp(name, lp_aud_files[i]->name) == 0)
            return i;
    return -1;
}

struct lp_node **lp_aud_file_slot(struct lp_aud *a, const struct lp_node *n)
{
    struct lp_adir *d = a->view;
    for (int i = 0; d && i < LP_AUD_NFILES; i++)
        if (d->files[i] == n)
            return &d->files[i];
    return NULL;
}

struct lp_node *lp_aud_file_node(struct lp_view *v, struct lp_aud *a, int i)
{
    struct lp_adir *d = a->view;
    if (!d->files[i])
        d->files[i] = lp_node_new(v, lp_aud_files[i], a);
    return d->files[i];
}
