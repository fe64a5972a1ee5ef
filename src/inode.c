/* inode.c - the view's nodes: inode numbers, lifetimes, the attributes every
 * node shares, and what the kernel is told when they change. The kinds
 * (root_dir.c, aud_dir.c, aud_files.c, scratch.c) build on this; view.c
 * dispatches to them.
 */
#include "inode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isotime.h"

struct lp_node *lp_node_new(struct lp_view *v, const struct lp_node_ops *ops, struct lp_aud *a)
{
    LP_ASSERT_LOCKED(v->r);
    struct lp_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->ino = v->next_ino++;
    n->ops = ops;
    n->aud = a;
    n->linked = true;
    if (lp_imap_put(&v->by_ino, n->ino, n) < 0) {
        free(n);
        return NULL;
    }
    if (a)
        lp_aud_hold(v->r, a);
    return n;
}

struct lp_node *lp_node_get(struct lp_view *v, lp_ino ino)
{
    LP_ASSERT_LOCKED(v->r);
    if (ino == LP_INO_ROOT)
        return &v->root;
    return lp_imap_get(&v->by_ino, ino);
}

/* A node nobody can reach any more, and the kernel has forgotten, is freed. */
void lp_node_maybe_free(struct lp_view *v, struct lp_node *n)
{
    LP_ASSERT_LOCKED(v->r);
    if (n == &v->root || n->nlookup > 0 || (n->ops->keep && n->ops->keep(v, n)))
        return;
    lp_imap_del(&v->by_ino, n->ino);
    if (n->ops->release)
        n->ops->release(v, n);
    struct lp_aud *a = n->aud;
    free(n);
    if (a)
        lp_aud_drop(v->r, a);
}

void lp_stat_dir(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v, (void)n;
    st->st_nlink = 2;
}

bool lp_keep_while_live(struct lp_view *v, struct lp_node *n)
{
    (void)v;
    return n->linked && !n->aud->gone;
}

void lp_node_fill_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = n->ino;
    st->st_mode = n->ops->mode;
    st->st_uid = v->opts.uid;
    st->st_gid = v->opts.gid;
    st->st_nlink = 1;
    st->st_blksize = 4096;
    st->st_atim = st->st_mtim = st->st_ctim = n->aud ? lp_aud_mtime(n->aud) : v->names_mtime;
    if (n->ops->stat)
        n->ops->stat(v, n, st);
    if (!n->linked)
        st->st_nlink = 0;
    st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
}

void lp_notify_node(struct lp_view *v, struct lp_node *n)
{
    /* The root is always known to the kernel (it never counts a lookup). */
    if (!n || (n->nlookup == 0 && n != &v->root) || !v->opts.notify)
        return;
    struct lp_change c = {.entry = false, .ino = n->ino};
    v->opts.notify(v->opts.notify_ctx, &c);
}

void lp_notify_entry(struct lp_view *v, lp_ino parent, const char *name)
{
    if (!v->opts.notify || !name)
        return;
    struct lp_change c = {.entry = true, .parent = parent, .name = name};
    v->opts.notify(v->opts.notify_ctx, &c);
}

void lp_view_names_changed(struct lp_view *v)
{
    v->names_version++;
    clock_gettime(CLOCK_REALTIME, &v->names_mtime);
}

int lp_dup_text(const char *text, size_t len, char **data, size_t *out_len)
{
    *data = malloc(len + 1);
    if (!*data)
        return -ENOMEM;
    memcpy(*data, text, len);
    (*data)[len] = '\0';
    *out_len = len;
    return 0;
}

int lp_dirent_add(struct lp_view *v, struct lp_dirent *ents, size_t *n, const char *name,
                  struct lp_node *node)
{
    if (!node || !(ents[*n].name = strdup(name)))
        return -ENOMEM;
    lp_node_fill_stat(v, node, &ents[*n].st);
    ents[*n].attrs_valid = true;
    (*n)++;
    return 0;
}

void lp_dirents_free(struct lp_dirent *ents, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
}

struct timespec lp_aud_mtime(const struct lp_aud *a)
{
    return lp_iso_time(a->rec.updated_at ? a->rec.updated_at : a->rec.created_at);
}

static void notify_value(void *value, void *ctx)
{
    lp_notify_node(ctx, value);
}

void lp_notify_all(struct lp_view *v)
{
    lp_notify_node(v, &v->root);
    lp_map_foreach(&v->by_ino, notify_value, v);
}

void lp_node_path_in(struct lp_view *v, struct lp_node *dir, const char *name, struct lp_sbuf *out)
{
    if (dir)
        lp_node_path(v, dir, out);
    lp_sb_adds(out, "/");
    lp_sb_adds(out, name);
}

void lp_node_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out)
{
    if (n->ops->path) {
        n->ops->path(v, n, out);
    } else {
        char buf[32];
        snprintf(buf, sizeof(buf), "<%llu>", (unsigned long long)n->ino);
        lp_sb_adds(out, buf);
    }
}
