/* scratch.c - the files editors make in an audience directory (vim's swap
 * and backup files, sed -i's temporary file, lock links). They live in memory
 * only; renaming one onto config.json or status is a save, and renaming
 * config.json or status away (vim's backup) leaves a copy under the new name
 * while the fixed name keeps showing the audience (SPEC, TOOLS.md).
 */
#include "inode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "wbuf.h"

void lp_scratch_free(struct lp_view *v, struct lp_scratch *s)
{
    if (!s)
        return;
    lp_scratch_release_space(v, s);
    free(s->name);
    free(s);
}

struct lp_scratch *lp_scratch_find(struct lp_adir *d, const char *name)
{
    for (struct lp_scratch *s = d->scratch; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static void list_remove(struct lp_adir *d, struct lp_scratch *s)
{
    struct lp_scratch **pp = &d->scratch;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    s->next = NULL;
}

static void list_add(struct lp_adir *d, struct lp_scratch *s)
{
    s->next = d->scratch;
    d->scratch = s;
}

static struct lp_scratch *scratch_alloc(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
    struct lp_scratch *s = calloc(1, sizeof(*s));
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return NULL;
    }
    s->mode = mode & 07777;
    s->uid = uid;
    s->gid = gid;
    clock_gettime(CLOCK_REALTIME, &s->mtime);
    s->atime = s->ctime = s->mtime;
    return s;
}

int lp_scratch_new(struct lp_view *v, struct lp_aud *a, const char *name, mode_t mode, uid_t uid,
                   gid_t gid, const char *link, struct lp_node **out)
{
    struct lp_adir *d = a->view;
    if (lp_aud_file_index(name) >= 0 || strcmp(name, LP_RUNS_DIR) == 0 || lp_scratch_find(d, name))
        return -EEXIST;
    struct lp_scratch *s = scratch_alloc(name, link ? 0777 : mode, uid, gid);
    char *target = link ? strdup(link) : NULL;
    if (!s || (link && !target)) {
        free(target);
        lp_scratch_free(v, s);
        return -ENOMEM;
    }
    int rc = link ? lp_scratch_adopt(v, s, target, strlen(link)) : 0; /* a link's target counts */
    if (rc == 0 && !(s->node = lp_node_new(v, link ? &lp_symlink_ops : &lp_scratch_ops, a)))
        rc = -ENOMEM;
    if (rc < 0) {
        lp_scratch_free(v, s);
        return rc;
    }
    s->node->priv = s;
    list_add(d, s);
    *out = s->node;
    return 0;
}

void lp_scratch_unlink(struct lp_view *v, struct lp_adir *d, struct lp_scratch *s)
{
    list_remove(d, s);
    s->node->linked = false;
    lp_node_maybe_free(v, s->node);
}

/* ---- the kinds ---- */

static void scratch_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v;
    struct lp_scratch *s = n->priv;
    st->st_mode = (n->ops->mode & S_IFMT) | (s->mode & 07777);
    st->st_size = (off_t)s->len;
    st->st_uid = s->uid;
    st->st_gid = s->gid;
    st->st_atim = s->atime;
    st->st_mtim = s->mtime;
    st->st_ctim = s->ctime;
}

static void scratch_release(struct lp_view *v, struct lp_node *n)
{
    struct lp_scratch *s = n->priv;
    if (!s)
        return;
    s->node = NULL;
    if (!n->linked)
        lp_scratch_free(v, s); /* unlinked: nothing else holds it */
}

static ssize_t scratch_read(struct lp_node *n, char *buf, size_t size, off_t off)
{
    struct lp_scratch *s = n->priv;
    size_t got = (size_t)off >= s->len ? 0 : s->len - (size_t)off;
    if (got > size)
        got = size;
    if (got)
        memcpy(buf, s->data + off, got);
    return (ssize_t)got;
}

static ssize_t scratch_write(struct lp_view *v, struct lp_node *n, const char *buf, size_t size,
                             off_t off)
{
    struct lp_scratch *s = n->priv;
    size_t end = (size_t)off + size;
    int rc = end > s->len ? lp_scratch_resize(v, s, end) : 0;
    if (rc < 0)
        return rc;
    memcpy(s->data + off, buf, size);
    clock_gettime(CLOCK_REALTIME, &s->mtime);
    s->ctime = s->mtime;
    return (ssize_t)size;
}

static int scratch_setattr(struct lp_view *v, struct lp_node *n, int valid, const struct stat *in)
{
    struct lp_scratch *s = n->priv;
    int rc = 0;
    if ((valid & LP_SET_SIZE) && n->ops == &lp_scratch_ops)
        rc = lp_scratch_resize(v, s, (size_t)in->st_size);
    if (rc < 0)
        return rc;
    if (valid & LP_SET_MODE)
        s->mode = in->st_mode & 07777;
    if (valid & LP_SET_UID)
        s->uid = in->st_uid;
    if (valid & LP_SET_GID)
        s->gid = in->st_gid;
    if (valid & LP_SET_ATIME)
        s->atime = in->st_atim;
    if (valid & LP_SET_MTIME)
        s->mtime = in->st_mtim;
    clock_gettime(CLOCK_REALTIME, &s->ctime);
    return 0;
}

static int symlink_readlink(struct lp_node *n, char **target)
{
    struct lp_scratch *s = n->priv;
    *target = strdup(s->data ? s->data : "");
    return *target ? 0 : -ENOMEM;
}

static void scratch_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out)
{
    const struct lp_adir *d = n->aud->view;
    const struct lp_scratch *s = n->priv;
    lp_node_path_in(v, d ? d->dir : NULL, s ? s->name : "<gone>", out);
}

const struct lp_node_ops lp_scratch_ops = {
    .path = scratch_path,
    .mode = S_IFREG,
    .rule = LP_WRITE_IN_PLACE,
    .stat = scratch_stat,
    .keep = lp_keep_while_live, /* named: kept, like any file */
    .release = scratch_release,
    .read = scratch_read,
    .write = scratch_write,
    .setattr = scratch_setattr,
};

const struct lp_node_ops lp_symlink_ops = {
    .path = scratch_path,
    .mode = S_IFLNK,
    .rule = LP_WRITE_NONE,
    .stat = scratch_stat,
    .keep = lp_keep_while_live,
    .release = scratch_release,
    .setattr = scratch_setattr,
    .readlink = symlink_readlink,
};

/* ---- renames: the editors' save dance ---- */

/* What the API holds for the file a write rule stands for. */
static const char *confirmed(const struct lp_aud *a, enum lp_write_rule rule)
{
    return rule == LP_WRITE_CONFIG ? a->rec.config : a->rec.status;
}

/* A scratch file renamed onto config.json or status (index i) is a save: it
 * succeeds only if the API accepts the content, judged by the same rule as a
 * write to that file at close. The scratch node then becomes that file (the
 * kernel now knows its inode under that name). */
static int commit(struct lp_view *v, struct lp_aud *a, struct lp_scratch *s, int i)
{
    const struct lp_node_ops *target = lp_aud_files[i];
    struct lp_wbuf w = {
        .kind = target->rule == LP_WRITE_CONFIG ? LP_WBUF_CONFIG : LP_WBUF_STATUS,
        .data = s->data,
        .len = s->len,
        .touched = true,
    };
    char *payload = NULL, reason[256] = "";
    int err = EINVAL;
    /* A rename is the save's last step: unfinished (empty, cut short) is refused. */
    enum lp_wbuf_action act =
        lp_wbuf_decide(&w, LP_WBUF_AT_CLOSE, &payload, &err, reason, sizeof(reason));
    if (act != LP_WBUF_SEND) {
        const char *dirname = ((struct lp_adir *)a->view)->dirname;
        lp_log(LP_LOG_WARNING, "%s: %s not saved: %s", dirname ? dirname : "?", target->name,
               reason);
        lp_aud_set_error(a, reason);
        return err ? -err : -EINVAL;
    }
    struct lp_node *node = s->node;
    int rc = 0;
    /* An editor putting back its backup after a failed save (vim renames
     * config.json~ onto config.json) restores what the API already holds:
     * nothing to send, and updatedAt must not move. */
    const char *held = confirmed(a, target->rule);
    if (a->pending || !held || strcmp(held, payload) != 0)
        rc = target->store(v, node, payload); /* may drop the lock */
    free(payload);
    if (rc < 0)
        return rc;
    if (a->gone || node->priv != s || !node->linked)
        return 0; /* unlinked meanwhile: the save stands, nothing to move */
    struct lp_adir *d = a->view;
    list_remove(d, s);
    lp_scratch_free(v, s);
    node->priv = NULL;
    node->ops = target;
    struct lp_node *old = d->files[i];
    d->files[i] = node;
    if (old) {
        old->linked = false;
        lp_notify_node(v, old);
        lp_node_maybe_free(v, old);
    }
    lp_notify_node(v, node);
    return 0;
}

/* config.json or status renamed away (vim's backup): the name keeps showing the
 * audience, under a new inode, and the old inode becomes a scratch copy. */
static int detach(struct lp_view *v, struct lp_aud *a, struct lp_node *node, const char *newname)
{
    struct lp_scratch *s = scratch_alloc(newname, 0644, v->opts.uid, v->opts.gid);
    char *data = NULL;
    size_t len = 0;
    if (!s || node->ops->show(v, node, &data, &len) < 0) {
        lp_scratch_free(v, s);
        return -ENOMEM;
    }
    int rc = lp_scratch_adopt(v, s, data, len); /* the copy counts like any scratch file */
    if (rc < 0) {
        lp_scratch_free(v, s);
        return rc;
    }
    s->mtime = s->atime = lp_aud_mtime(a);
    s->node = node;
    struct lp_node **slot = lp_aud_file_slot(a, node);
    if (slot)
        *slot = NULL;
    node->ops = &lp_scratch_ops;
    node->priv = s;
    list_add(a->view, s);
    return 0;
}

/* Fixed file -> a scratch name. */
static int rename_fixed(struct lp_view *v, struct lp_aud *a, int i, const char *newname,
                        unsigned flags)
{
    if (lp_aud_files[i]->rule == LP_WRITE_NONE)
        return -EPERM;
    if (lp_aud_files[i]->refresh) {
        struct lp_node *n = lp_aud_file_node(v, a, i);
        if (!n)
            return -ENOMEM;
        lp_aud_pin(v->r, a);
        int rc = n->ops->refresh(v, n, true); /* may drop the lock */
        bool gone = a->gone;
        lp_aud_unpin(v->r, a);
        if (rc < 0)
            return rc;
        if (gone)
            return -ENOENT;
    }
    struct lp_scratch *target = lp_scratch_find(a->view, newname);
    if (target && (flags & LP_RENAME_NOREPLACE))
        return -EEXIST;
    struct lp_node *node = lp_aud_file_node(v, a, i);
    if (!node)
        return -ENOMEM;
    if (target)
        lp_scratch_unlink(v, a->view, target);
    return detach(v, a, node, newname);
}

int lp_scratch_rename(struct lp_view *v, struct lp_aud *a, const char *name, const char *newname,
                      unsigned flags)
{
    int src = lp_aud_file_index(name), dst = lp_aud_file_index(newname);
    if (strcmp(name, newname) == 0)
        return 0;
    if (src >= 0)
        return dst >= 0 ? -EPERM : rename_fixed(v, a, src, newname, flags);
    struct lp_adir *d = a->view;
    struct lp_scratch *s = lp_scratch_find(d, name);
    if (!s)
        return -ENOENT;
    if (dst >= 0) {
        if (flags & LP_RENAME_NOREPLACE)
            return -EEXIST;
        if (lp_aud_files[dst]->rule == LP_WRITE_NONE || s->node->ops != &lp_scratch_ops)
            return -EPERM;
        return commit(v, a, s, dst);
    }
    struct lp_scratch *target = lp_scratch_find(d, newname);
    if (target && (flags & LP_RENAME_NOREPLACE))
        return -EEXIST;
    char *nn = strdup(newname);
    if (!nn)
        return -ENOMEM;
    if (target)
        lp_scratch_unlink(v, d, target);
    free(s->name);
    s->name = nn;
    clock_gettime(CLOCK_REALTIME, &s->ctime);
    return 0;
}
