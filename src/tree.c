/* tree.c - the inode cache: nodes and their inode numbers, the names shown in
 * the root, attributes, extended attributes and the in-memory scratch files.
 * Everything the API is asked lives in sync.c; this file only shapes the cache.
 */
#include "tree_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SCRATCH_MAX (8 << 20) /* an editor's file larger than this is not a scratch file */

double lp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void lp_names_changed(struct lp_tree *t)
{
    t->names_version++;
    clock_gettime(CLOCK_REALTIME, &t->names_mtime);
}

double lp_fail_hold(const struct lp_tree *t)
{
    return t->opts.fail_hold > t->opts.cache_timeout ? t->opts.fail_hold : t->opts.cache_timeout;
}

/* ---- nodes ---- */

static struct lp_node *node_new(struct lp_tree *t, enum lp_kind kind, struct lp_aud *a)
{
    struct lp_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->ino = t->next_ino++;
    n->kind = kind;
    n->aud = a;
    n->linked = true;
    if (lp_imap_put(&t->by_ino, n->ino, n) < 0) {
        free(n);
        return NULL;
    }
    if (a)
        a->nodes++;
    return n;
}

struct lp_node *lp_node_get(struct lp_tree *t, lp_ino ino)
{
    if (ino == LP_INO_ROOT)
        return &t->root;
    return lp_imap_get(&t->by_ino, ino);
}

static void scratch_free(struct lp_scratch *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->data);
    free(s);
}

static void aud_free(struct lp_aud *a)
{
    lp_audience_clear(&a->rec);
    free(a->dirname);
    free(a->new_dirname);
    free(a->config_text);
    free(a->last_error);
    while (a->scratch) {
        struct lp_scratch *s = a->scratch;
        a->scratch = s->next;
        scratch_free(s);
    }
    free(a);
}

/* A node nobody can reach any more, and the kernel has forgotten, is freed. The
 * directory node of a live audience stays, so its inode number never changes. */
static void node_maybe_free(struct lp_tree *t, struct lp_node *n)
{
    if (n == &t->root || n->nlookup > 0)
        return;
    struct lp_aud *a = n->aud;
    bool alive = n->linked && a && !a->gone;
    /* A live audience keeps its directory node (stable inode) and its scratch
     * files (they have names); config.json/status/size nodes are remade on demand. */
    if (alive &&
        (n->kind == LP_KIND_DIR || n->kind == LP_KIND_SCRATCH || n->kind == LP_KIND_SYMLINK))
        return;
    lp_imap_del(&t->by_ino, n->ino);
    if (a) {
        if (a->dir == n)
            a->dir = NULL;
        if (a->config == n)
            a->config = NULL;
        if (a->status == n)
            a->status = NULL;
        if (a->size == n)
            a->size = NULL;
    }
    if (n->scratch && !n->linked)
        scratch_free(n->scratch);
    free(n);
    if (a && --a->nodes == 0 && a->gone)
        aud_free(a);
}

/* ---- audiences ---- */

/* Reads n digits at s into *v; returns false unless all n are digits. */
static bool digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SS[.fraction]" (UTC, as the API sends it) -> time; the
 * epoch when absent or unreadable. Computed on each stat rather than kept per
 * audience (16 bytes each): a few dozen nanoseconds, no locale, no libc lock. */
static struct timespec parse_iso(const char *s)
{
    struct timespec ts = {0, 0};
    int y, mo, d, h, mi, sec;
    if (!s || strlen(s) < 19 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec) ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return ts;
    ts.tv_sec = (time_t)(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec);
    const char *rest = s + 19;
    if (*rest == '.') {
        long frac = 0, scale = 100000000;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
            if (scale)
                frac += (*rest - '0') * scale;
        ts.tv_nsec = frac;
    }
    return ts;
}

/* An audience directory's mtime: updatedAt, else createdAt. */
static struct timespec aud_mtime(const struct lp_aud *a)
{
    return parse_iso(a->rec.updated_at ? a->rec.updated_at : a->rec.created_at);
}

/* Takes over the fields of rec (rec is left empty). */
struct lp_aud *lp_aud_new(struct lp_tree *t, struct lp_audience *rec)
{
    struct lp_aud *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->rec = *rec;
    memset(rec, 0, sizeof(*rec));
    a->dir = node_new(t, LP_KIND_DIR, a);
    if (!a->dir || (a->rec.id && lp_smap_put(&t->by_id, a->rec.id, a) < 0)) {
        if (a->dir) {
            lp_imap_del(&t->by_ino, a->dir->ino);
            free(a->dir);
        }
        lp_audience_clear(&a->rec);
        free(a);
        return NULL;
    }
    a->next = t->live;
    if (t->live)
        t->live->prev = a;
    t->live = a;
    t->nlive++;
    return a;
}

void lp_aud_unpin(struct lp_tree *t, struct lp_aud *a)
{
    (void)t;
    if (--a->nodes == 0 && a->gone)
        aud_free(a);
}

void lp_notify_node(struct lp_tree *t, struct lp_node *n)
{
    /* The root is always known to the kernel (it never counts a lookup). */
    if (!n || (n->nlookup == 0 && n != &t->root) || !t->opts.notify)
        return;
    struct lp_change c = {.entry = false, .ino = n->ino};
    t->opts.notify(t->opts.notify_ctx, &c);
}

void lp_notify_aud(struct lp_tree *t, struct lp_aud *a)
{
    lp_notify_node(t, a->dir);
    lp_notify_node(t, a->config);
    lp_notify_node(t, a->status);
    lp_notify_node(t, a->size);
}

void lp_notify_entry(struct lp_tree *t, lp_ino parent, const char *name)
{
    if (!t->opts.notify || !name)
        return;
    struct lp_change c = {.entry = true, .parent = parent, .name = name};
    t->opts.notify(t->opts.notify_ctx, &c);
}

/* The audience leaves the tree; its nodes linger until the kernel forgets them. */
void lp_aud_remove(struct lp_tree *t, struct lp_aud *a)
{
    if (a->gone)
        return;
    a->gone = true;
    if (a->prev)
        a->prev->next = a->next;
    else
        t->live = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->prev = a->next = NULL;
    t->nlive--;
    lp_names_changed(t);
    if (a->rec.id && lp_smap_get(&t->by_id, a->rec.id) == a)
        lp_smap_del(&t->by_id, a->rec.id);
    if (a->dirname) {
        if (lp_smap_get(&t->by_name, a->dirname) == a)
            lp_smap_del(&t->by_name, a->dirname);
        lp_notify_entry(t, LP_INO_ROOT, a->dirname);
    }
    lp_notify_node(t, &t->root);
    a->nodes++; /* hold a while its nodes are released */
    struct lp_node *ns[] = {a->dir, a->config, a->status, a->size};
    for (size_t i = 0; i < 4; i++)
        if (ns[i])
            node_maybe_free(t, ns[i]);
    for (struct lp_scratch *s = a->scratch; s; s = s->next)
        if (s->node)
            node_maybe_free(t, s->node);
    if (--a->nodes == 0)
        aud_free(a);
}

void lp_set_error(struct lp_aud *a, const char *message)
{
    free(a->last_error);
    a->last_error = message && *message ? strdup(message) : NULL;
}

const char *lp_aud_config_text(struct lp_aud *a)
{
    if (!a->config_text) {
        /* Only an audience made by mkdir shows the template before it has one. */
        const char *cfg = a->rec.config ? a->rec.config : a->pending ? lp_config_template() : "{}";
        a->config_text = lp_config_pretty(cfg);
    }
    return a->config_text ? a->config_text : "";
}

/* ---- names in the root ---- */

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
    const char *id = a->rec.id;
    const char *name = a->rec.name ? a->rec.name : "";
    if (!id) {
        snprintf(local, sizeof(local), "new%05lu", (unsigned long)(a->dir ? a->dir->ino : 0));
        id = local;
    }
    char *shown = lp_name_encode(name, owner ? NULL : id);
    if (shown && owner && !round_trips(shown, name)) {
        free(shown);
        shown = lp_name_encode(name, id);
    }
    return shown;
}

/* Gives every live audience its shown name: the oldest audience of a name shows
 * it plainly, later ones carry an id suffix. Names that changed are withdrawn
 * from the kernel. */
void lp_assign_names(struct lp_tree *t)
{
    struct lp_map owners;
    lp_map_init_str(&owners);
    for (struct lp_aud *a = t->live; a; a = a->next) {
        const char *key = a->rec.name ? a->rec.name : "";
        struct lp_aud *cur = lp_smap_get(&owners, key);
        if (!cur || older(a, cur))
            lp_smap_put(&owners, key, a);
    }
    for (struct lp_aud *a = t->live; a; a = a->next) {
        free(a->new_dirname);
        a->new_dirname = shown_name(a, lp_smap_get(&owners, a->rec.name ? a->rec.name : "") == a);
        if (a->dirname && (!a->new_dirname || strcmp(a->dirname, a->new_dirname) != 0)) {
            if (lp_smap_get(&t->by_name, a->dirname) == a)
                lp_smap_del(&t->by_name, a->dirname);
            lp_notify_entry(t, LP_INO_ROOT, a->dirname);
            free(a->dirname);
            a->dirname = NULL;
            lp_names_changed(t);
        }
    }
    for (struct lp_aud *a = t->live; a; a = a->next) {
        if (!a->dirname && a->new_dirname) {
            a->dirname = a->new_dirname;
            a->new_dirname = NULL;
            lp_smap_put(&t->by_name, a->dirname, a);
            lp_names_changed(t);
        }
        free(a->new_dirname);
        a->new_dirname = NULL;
    }
    lp_map_destroy(&owners);
}

/* ---- construction ---- */

lp_tree *lp_tree_new(const struct lp_tree_options *opts)
{
    struct lp_tree *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->opts = *opts;
    if (t->opts.cache_timeout < 0)
        t->opts.cache_timeout = 0;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    lp_map_init_u64(&t->by_ino);
    lp_map_init_str(&t->by_id);
    lp_map_init_str(&t->by_name);
    t->root.ino = LP_INO_ROOT;
    t->root.kind = LP_KIND_ROOT;
    t->root.linked = true;
    t->next_ino = LP_INO_ROOT + 1;
    clock_gettime(CLOCK_REALTIME, &t->names_mtime);
    return t;
}

static void free_node_value(void *value, void *ctx)
{
    (void)ctx;
    struct lp_node *n = value;
    if (n->scratch && !n->linked)
        scratch_free(n->scratch);
    /* A gone audience is reachable only through its nodes: free it with the last. */
    if (n->aud && n->aud->gone && --n->aud->nodes == 0)
        aud_free(n->aud);
    free(n);
}

void lp_tree_free(lp_tree *t)
{
    if (!t)
        return;
    lp_prefetch_stop(t);
    lp_map_foreach(&t->by_ino, free_node_value, NULL);
    while (t->live) {
        struct lp_aud *a = t->live;
        t->live = a->next;
        aud_free(a);
    }
    /* Gone audiences still held by nodes were reachable only through those nodes. */
    lp_map_destroy(&t->by_ino);
    lp_map_destroy(&t->by_id);
    lp_map_destroy(&t->by_name);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    free(t);
}

int lp_tree_load(lp_tree *t, struct lp_api_error *err)
{
    pthread_mutex_lock(&t->lock);
    int rc = lp_sync_listing(t, true, err);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void lp_tree_counts(lp_tree *t, size_t *audiences, size_t *nodes)
{
    pthread_mutex_lock(&t->lock);
    *audiences = t->nlive;
    *nodes = t->by_ino.count;
    pthread_mutex_unlock(&t->lock);
}

/* ---- attributes ---- */

static size_t text_len_status(const struct lp_aud *a)
{
    return strlen(a->rec.status ? a->rec.status : "") + 1;
}

static size_t text_len_size(const struct lp_aud *a)
{
    char buf[32];
    return (size_t)snprintf(buf, sizeof(buf), "%lld\n", a->rec.audience_size);
}

static void fill_stat(struct lp_tree *t, struct lp_node *n, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = n->ino;
    st->st_uid = t->opts.uid;
    st->st_gid = t->opts.gid;
    st->st_nlink = 1;
    st->st_blksize = 4096;
    struct lp_aud *a = n->aud;
    /* The root's mtime moves when its names do: the kernel keeps its listing
     * while the mtime it saw is unchanged. */
    struct timespec tm = a ? aud_mtime(a) : t->names_mtime;
    switch (n->kind) {
    case LP_KIND_ROOT:
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2 + t->nlive;
        break;
    case LP_KIND_DIR:
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        break;
    case LP_KIND_CONFIG:
        st->st_mode = S_IFREG | 0644;
        st->st_size = (off_t)strlen(lp_aud_config_text(a));
        break;
    case LP_KIND_STATUS:
        st->st_mode = S_IFREG | 0644;
        st->st_size = (off_t)text_len_status(a);
        break;
    case LP_KIND_SIZE:
        st->st_mode = S_IFREG | 0444;
        st->st_size = (off_t)text_len_size(a);
        break;
    case LP_KIND_SCRATCH:
    case LP_KIND_SYMLINK: {
        struct lp_scratch *s = n->scratch;
        st->st_mode = (n->kind == LP_KIND_SYMLINK ? S_IFLNK : S_IFREG) | (s->mode & 07777);
        st->st_size = (off_t)s->len;
        st->st_uid = s->uid;
        st->st_gid = s->gid;
        st->st_nlink = n->linked ? 1 : 0;
        st->st_atim = s->atime;
        st->st_mtim = s->mtime;
        st->st_ctim = s->ctime;
        st->st_blocks = (blkcnt_t)((s->len + 511) / 512);
        return;
    }
    }
    if (!n->linked)
        st->st_nlink = 0;
    st->st_atim = st->st_mtim = st->st_ctim = tm;
    st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
}

static struct lp_node *file_node(struct lp_tree *t, struct lp_aud *a, enum lp_kind kind)
{
    struct lp_node **slot = kind == LP_KIND_CONFIG   ? &a->config
                            : kind == LP_KIND_STATUS ? &a->status
                                                     : &a->size;
    if (!*slot)
        *slot = node_new(t, kind, a);
    return *slot;
}

static struct lp_scratch *scratch_find(struct lp_aud *a, const char *name)
{
    for (struct lp_scratch *s = a->scratch; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static enum lp_kind file_kind_of(const char *name, bool *special)
{
    *special = true;
    if (strcmp(name, LP_FILE_CONFIG) == 0)
        return LP_KIND_CONFIG;
    if (strcmp(name, LP_FILE_STATUS) == 0)
        return LP_KIND_STATUS;
    if (strcmp(name, LP_FILE_SIZE) == 0)
        return LP_KIND_SIZE;
    *special = false;
    return LP_KIND_SCRATCH;
}

/* The audience a directory inode stands for (live), or NULL. */
static struct lp_aud *dir_aud(struct lp_tree *t, lp_ino ino)
{
    struct lp_node *n = lp_node_get(t, ino);
    if (!n || n->kind != LP_KIND_DIR || !n->aud || n->aud->gone)
        return NULL;
    return n->aud;
}

/* Finds the child; fills *out. Config text is fetched (lock dropped) when needed. */
static bool config_cached(const struct lp_tree *t, const struct lp_aud *a)
{
    return a->pending || (a->rec.config && lp_now() - a->config_time < t->opts.cache_timeout);
}

/* fetch: false answers -EAGAIN where config.json's text would need a GET. */
static int child(struct lp_tree *t, lp_ino parent, const char *name, bool fetch,
                 struct lp_node **out)
{
    if (parent == LP_INO_ROOT) {
        struct lp_aud *a = lp_smap_get(&t->by_name, name);
        if (!a)
            return -ENOENT;
        *out = a->dir;
        return 0;
    }
    struct lp_aud *a = dir_aud(t, parent);
    if (!a) {
        struct lp_node *p = lp_node_get(t, parent);
        return p && p->kind != LP_KIND_DIR ? -ENOTDIR : -ENOENT;
    }
    bool special;
    enum lp_kind kind = file_kind_of(name, &special);
    if (special) {
        if (kind == LP_KIND_CONFIG && !fetch && !config_cached(t, a))
            return -EAGAIN;
        if (kind == LP_KIND_CONFIG) {
            int rc = lp_sync_config(t, a);
            if (rc < 0)
                return rc;
            if (a->gone)
                return -ENOENT;
        }
        *out = file_node(t, a, kind);
        return *out ? 0 : -ENOMEM;
    }
    struct lp_scratch *s = scratch_find(a, name);
    if (!s)
        return -ENOENT;
    *out = s->node;
    return 0;
}

static int lookup(lp_tree *t, lp_ino parent, const char *name, bool fetch, struct stat *st)
{
    pthread_mutex_lock(&t->lock);
    lp_sync_listing(t, false, NULL);
    struct lp_node *n = NULL;
    int rc = child(t, parent, name, fetch, &n);
    if (rc == 0) {
        n->nlookup++;
        fill_stat(t, n, st);
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int lp_tree_lookup(lp_tree *t, lp_ino parent, const char *name, struct stat *st)
{
    return lookup(t, parent, name, true, st);
}

int lp_tree_lookup_cached(lp_tree *t, lp_ino parent, const char *name, struct stat *st)
{
    return lookup(t, parent, name, false, st);
}

void lp_tree_forget(lp_tree *t, lp_ino ino, uint64_t nlookup)
{
    pthread_mutex_lock(&t->lock);
    struct lp_node *n = lp_node_get(t, ino);
    if (n && n != &t->root) {
        n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
        node_maybe_free(t, n);
    }
    pthread_mutex_unlock(&t->lock);
}

int lp_tree_getattr(lp_tree *t, lp_ino ino, struct stat *st)
{
    pthread_mutex_lock(&t->lock);
    /* The kernel asks the root's attributes before it trusts its cached
     * listing of it: a good moment to refresh a stale one. */
    if (ino == LP_INO_ROOT)
        lp_sync_listing(t, false, NULL);
    struct lp_node *n = lp_node_get(t, ino);
    int rc = n ? 0 : -ENOENT;
    if (n && n->kind == LP_KIND_CONFIG && n->aud && !n->aud->gone)
        rc = lp_sync_config(t, n->aud);
    n = lp_node_get(t, ino); /* the fetch may have dropped the lock */
    if (rc == 0 && n)
        fill_stat(t, n, st);
    else if (rc == 0)
        rc = -ENOENT;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int lp_tree_kind(lp_tree *t, lp_ino ino, enum lp_kind *kind)
{
    pthread_mutex_lock(&t->lock);
    struct lp_node *n = lp_node_get(t, ino);
    if (n)
        *kind = n->kind;
    pthread_mutex_unlock(&t->lock);
    return n ? 0 : -ENOENT;
}

/* ---- directory listings ---- */

void lp_dirents_free(struct lp_dirent *ents, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
}

static int dirent_add(struct lp_tree *t, struct lp_dirent *ents, size_t *n, const char *name,
                      struct lp_node *node)
{
    if (!node)
        return -ENOMEM;
    ents[*n].name = strdup(name);
    if (!ents[*n].name)
        return -ENOMEM;
    fill_stat(t, node, &ents[*n].st);
    ents[*n].attrs_valid = true;
    (*n)++;
    return 0;
}

static int list_root(struct lp_tree *t, struct lp_dirent **out, size_t *count)
{
    struct lp_dirent *ents = calloc(t->nlive + 1, sizeof(*ents));
    if (!ents)
        return -ENOMEM;
    size_t n = 0;
    /* The live list is newest-first; list oldest-first, as the API does. */
    struct lp_aud *last = t->live;
    while (last && last->next)
        last = last->next;
    for (struct lp_aud *a = last; a; a = a->prev) {
        if (!a->dirname)
            continue;
        if (dirent_add(t, ents, &n, a->dirname, a->dir) < 0) {
            lp_dirents_free(ents, n);
            return -ENOMEM;
        }
    }
    *out = ents;
    *count = n;
    return 0;
}

static int list_audience(struct lp_tree *t, struct lp_aud *a, struct lp_dirent **out, size_t *count)
{
    size_t cap = 3;
    for (struct lp_scratch *s = a->scratch; s; s = s->next)
        cap++;
    struct lp_dirent *ents = calloc(cap, sizeof(*ents));
    if (!ents)
        return -ENOMEM;
    size_t n = 0;
    int rc = dirent_add(t, ents, &n, LP_FILE_CONFIG, file_node(t, a, LP_KIND_CONFIG));
    /* config.json's size needs its text; a listing does not fetch it (find, ls
     * would send one GET per audience), so its attributes are left unknown. */
    if (!rc && !a->pending && !a->rec.config)
        ents[0].attrs_valid = false;
    if (!rc)
        rc = dirent_add(t, ents, &n, LP_FILE_STATUS, file_node(t, a, LP_KIND_STATUS));
    if (!rc)
        rc = dirent_add(t, ents, &n, LP_FILE_SIZE, file_node(t, a, LP_KIND_SIZE));
    for (struct lp_scratch *s = a->scratch; s && !rc; s = s->next)
        rc = dirent_add(t, ents, &n, s->name, s->node);
    if (rc < 0) {
        lp_dirents_free(ents, n);
        return rc;
    }
    *out = ents;
    *count = n;
    return 0;
}

int lp_tree_list(lp_tree *t, lp_ino dir, struct lp_dirent **ents, size_t *n, uint64_t *version)
{
    pthread_mutex_lock(&t->lock);
    lp_sync_listing(t, false, NULL);
    int rc;
    *version = 0;
    if (dir == LP_INO_ROOT) {
        rc = list_root(t, ents, n);
        *version = t->names_version;
    } else {
        struct lp_aud *a = dir_aud(t, dir);
        rc = a ? list_audience(t, a, ents, n) : -ENOENT;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int lp_tree_dir_version(lp_tree *t, lp_ino dir, uint64_t *version)
{
    pthread_mutex_lock(&t->lock);
    lp_sync_listing(t, false, NULL);
    int rc = 0;
    *version = 0;
    if (dir == LP_INO_ROOT) {
        *version = t->names_version;
    } else if (!dir_aud(t, dir)) {
        struct lp_node *n = lp_node_get(t, dir);
        rc = n && n->kind != LP_KIND_DIR ? -ENOTDIR : -ENOENT;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* ---- content ---- */

static int dup_text(const char *text, size_t len, char **data, size_t *out_len)
{
    *data = malloc(len + 1);
    if (!*data)
        return -ENOMEM;
    memcpy(*data, text, len);
    (*data)[len] = '\0';
    *out_len = len;
    return 0;
}

int lp_tree_content(lp_tree *t, lp_ino ino, char **data, size_t *len)
{
    pthread_mutex_lock(&t->lock);
    lp_sync_listing(t, false, NULL);
    struct lp_node *n = lp_node_get(t, ino);
    int rc = n ? 0 : -ENOENT;
    if (rc == 0 && n->aud && n->aud->gone && n->kind != LP_KIND_SCRATCH)
        rc = -ENOENT;
    if (rc == 0 && n->kind == LP_KIND_CONFIG)
        rc = lp_sync_config(t, n->aud);
    n = lp_node_get(t, ino);
    if (rc == 0 && !n)
        rc = -ENOENT;
    if (rc == 0) {
        char buf[48];
        struct lp_aud *a = n->aud;
        switch (n->kind) {
        case LP_KIND_CONFIG: {
            const char *text = lp_aud_config_text(a);
            rc = dup_text(text, strlen(text), data, len);
            break;
        }
        case LP_KIND_STATUS:
            snprintf(buf, sizeof(buf), "%s\n", a->rec.status ? a->rec.status : "");
            rc = dup_text(buf, strlen(buf), data, len);
            break;
        case LP_KIND_SIZE:
            snprintf(buf, sizeof(buf), "%lld\n", a->rec.audience_size);
            rc = dup_text(buf, strlen(buf), data, len);
            break;
        case LP_KIND_SCRATCH:
        case LP_KIND_SYMLINK:
            rc = dup_text(n->scratch->data ? n->scratch->data : "", n->scratch->len, data, len);
            break;
        default:
            rc = -EISDIR;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* ---- scratch files ---- */

static int scratch_new(struct lp_tree *t, lp_ino parent, const char *name, enum lp_kind kind,
                       mode_t mode, uid_t uid, gid_t gid, struct lp_node **out)
{
    if (parent == LP_INO_ROOT)
        return -EPERM; /* the root holds audiences only */
    if (strlen(name) > LP_FILENAME_MAX)
        return -ENAMETOOLONG;
    struct lp_aud *a = dir_aud(t, parent);
    if (!a)
        return -ENOENT;
    bool special;
    file_kind_of(name, &special);
    if (special || scratch_find(a, name))
        return -EEXIST;
    struct lp_scratch *s = calloc(1, sizeof(*s));
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return -ENOMEM;
    }
    s->node = node_new(t, kind, a);
    if (!s->node) {
        scratch_free(s);
        return -ENOMEM;
    }
    s->node->scratch = s;
    s->mode = mode & 07777;
    s->uid = uid;
    s->gid = gid;
    clock_gettime(CLOCK_REALTIME, &s->mtime);
    s->atime = s->ctime = s->mtime;
    s->next = a->scratch;
    a->scratch = s;
    *out = s->node;
    return 0;
}

int lp_tree_create(lp_tree *t, lp_ino parent, const char *name, mode_t mode, uid_t uid, gid_t gid,
                   struct stat *st)
{
    pthread_mutex_lock(&t->lock);
    struct lp_node *n = NULL;
    int rc = scratch_new(t, parent, name, LP_KIND_SCRATCH, mode, uid, gid, &n);
    if (rc == 0) {
        n->nlookup++;
        fill_stat(t, n, st);
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int lp_tree_symlink(lp_tree *t, lp_ino parent, const char *name, const char *target, uid_t uid,
                    gid_t gid, struct stat *st)
{
    pthread_mutex_lock(&t->lock);
    struct lp_node *n = NULL;
    int rc = scratch_new(t, parent, name, LP_KIND_SYMLINK, 0777, uid, gid, &n);
    if (rc == 0) {
        n->scratch->data = strdup(target);
        n->scratch->len = strlen(target);
        n->nlookup++;
        fill_stat(t, n, st);
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int lp_tree_readlink(lp_tree *t, lp_ino ino, char **target)
{
    pthread_mutex_lock(&t->lock);
    struct lp_node *n = lp_node_get(t, ino);
    int rc = !n ? -ENOENT : n->kind != LP_KIND_SYMLINK ? -EINVAL : 0;
    if (rc == 0 && !(*target = strdup(n->scratch->data ? n->scratch->data : "")))
        rc = -ENOMEM;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static struct lp_scratch *scratch_of(struct lp_tree *t, lp_ino ino)
{
    struct lp_node *n = lp_node_get(t, ino);
    return n && n->kind == LP_KIND_SCRATCH ? n->scratch : NULL;
}

static int scratch_resize(struct lp_scratch *s, size_t len)
{
    if (len > SCRATCH_MAX)
        return -EFBIG;
    if (len > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < len)
            cap *= 2;
        char *d = realloc(s->data, cap);
        if (!d)
            return -ENOMEM;
        s->data = d;
        s->cap = cap;
    }
    if (len > s->len)
        memset(s->data + s->len, 0, len - s->len);
    s->len = len;
    return 0;
}

ssize_t lp_tree_scratch_read(lp_tree *t, lp_ino ino, char *buf, size_t size, off_t off)
{
    pthread_mutex_lock(&t->lock);
    struct lp_scratch *s = scratch_of(t, ino);
    ssize_t rc = -EBADF;
    if (s) {
        size_t n = (size_t)off >= s->len ? 0 : s->len - (size_t)off;
        if (n > size)
            n = size;
        if (n)
            memcpy(buf, s->data + off, n);
        rc = (ssize_t)n;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

ssize_t lp_tree_scratch_write(lp_tree *t, lp_ino ino, const char *buf, size_t size, off_t off)
{
    pthread_mutex_lock(&t->lock);
    struct lp_scratch *s = scratch_of(t, ino);
    ssize_t rc = -EBADF;
    if (s) {
        size_t end = (size_t)off + size;
        rc = end > s->len ? scratch_resize(s, end) : 0;
        if (rc == 0) {
            memcpy(s->data + off, buf, size);
            clock_gettime(CLOCK_REALTIME, &s->mtime);
            s->ctime = s->mtime;
            rc = (ssize_t)size;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static void scratch_unlink(struct lp_tree *t, struct lp_aud *a, struct lp_scratch *s)
{
    struct lp_scratch **pp = &a->scratch;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    s->next = NULL;
    s->node->linked = false;
    node_maybe_free(t, s->node);
}

int lp_tree_unlink(lp_tree *t, lp_ino parent, const char *name)
{
    pthread_mutex_lock(&t->lock);
    int rc = -ENOENT;
    struct lp_aud *a = dir_aud(t, parent);
    bool special;
    file_kind_of(name, &special);
    if (parent == LP_INO_ROOT)
        rc = lp_smap_get(&t->by_name, name) ? -EISDIR : -ENOENT;
    else if (a && special)
        rc = -EPERM; /* config.json, status and size are the audience itself */
    else if (a) {
        struct lp_scratch *s = scratch_find(a, name);
        if (s) {
            scratch_unlink(t, a, s);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int lp_tree_setattr(lp_tree *t, lp_ino ino, int valid, const struct stat *in, struct stat *out)
{
    pthread_mutex_lock(&t->lock);
    struct lp_node *n = lp_node_get(t, ino);
    int rc = n ? 0 : -ENOENT;
    if (rc == 0 && (n->kind == LP_KIND_SCRATCH || n->kind == LP_KIND_SYMLINK)) {
        struct lp_scratch *s = n->scratch;
        if ((valid & LP_SET_SIZE) && n->kind == LP_KIND_SCRATCH)
            rc = scratch_resize(s, (size_t)in->st_size);
        if (rc == 0) {
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
        }
    } else if (rc == 0 && (valid & LP_SET_SIZE)) {
        rc = -EINVAL; /* config.json/status sizes change through an open file */
    }
    /* Mode, owner and times of the audience's own files are not stored: accept
     * them (touch, vim's fchmod) and change nothing. */
    if (rc == 0)
        fill_stat(t, n, out);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* ---- directories ---- */

int lp_tree_mkdir(lp_tree *t, lp_ino parent, const char *name, struct stat *st)
{
    if (parent != LP_INO_ROOT)
        return -EPERM; /* audiences hold no directories */
    if (strlen(name) > LP_FILENAME_MAX)
        return -ENAMETOOLONG; /* the kernel lets FUSE names grow to 1024 bytes */
    char *decoded = lp_name_decode(name);
    if (!decoded)
        return -EINVAL;
    char reason[128];
    if (lp_name_validate(decoded, reason, sizeof(reason)) < 0) {
        lp_log(LP_LOG_WARNING, "mkdir %s: %s", name, reason);
        free(decoded);
        return -EINVAL;
    }
    pthread_mutex_lock(&t->lock);
    lp_sync_listing(t, false, NULL);
    int rc = 0;
    char *plain = lp_name_encode(decoded, NULL);
    if (lp_smap_get(&t->by_name, name) || (plain && lp_smap_get(&t->by_name, plain)))
        rc = -EEXIST;
    free(plain);
    struct lp_audience rec;
    memset(&rec, 0, sizeof(rec));
    struct lp_aud *a = NULL;
    if (rc == 0) {
        char now[32];
        time_t secs = time(NULL);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        rec.name = decoded;
        decoded = NULL;
        rec.status = strdup("draft");
        rec.config = strdup(lp_config_template());
        rec.created_at = strdup(now);
        rec.updated_at = strdup(now);
        rec.daily_refresh = -1;
        a = lp_aud_new(t, &rec);
        rc = a ? 0 : -ENOMEM;
    }
    if (a) {
        a->pending = true;
        a->changed_seq = ++t->seq;
        lp_assign_names(t);
        a->dir->nlookup++;
        fill_stat(t, a->dir, st);
        lp_notify_node(t, &t->root);
    }
    lp_audience_clear(&rec);
    pthread_mutex_unlock(&t->lock);
    free(decoded);
    return rc;
}

int lp_tree_rmdir(lp_tree *t, lp_ino parent, const char *name)
{
    pthread_mutex_lock(&t->lock);
    int rc = 0;
    struct lp_aud *a = parent == LP_INO_ROOT ? lp_smap_get(&t->by_name, name) : NULL;
    if (!a)
        rc = parent == LP_INO_ROOT ? -ENOENT : -ENOTDIR;
    else
        rc = lp_sync_delete(t, a);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int rename_dir(struct lp_tree *t, const char *name, const char *newname, unsigned flags)
{
    struct lp_aud *a = lp_smap_get(&t->by_name, name);
    if (!a)
        return -ENOENT;
    if (strlen(newname) > LP_FILENAME_MAX)
        return -ENAMETOOLONG;
    struct lp_aud *other = lp_smap_get(&t->by_name, newname);
    if (other == a)
        return 0;
    if (other)
        return (flags & LP_RENAME_NOREPLACE) ? -EEXIST : -ENOTEMPTY;
    char *decoded = lp_name_decode(newname);
    if (!decoded)
        return -EINVAL;
    char reason[128];
    int rc = 0;
    if (lp_name_validate(decoded, reason, sizeof(reason)) < 0) {
        lp_set_error(a, reason);
        rc = -EINVAL;
    } else {
        rc = lp_sync_rename(t, a, decoded);
    }
    /* The kernel now knows the directory as newname; if the name shown differs
     * (encoding, duplicates), make it ask again. */
    if (rc == 0 && (!a->dirname || strcmp(a->dirname, newname) != 0))
        lp_notify_entry(t, LP_INO_ROOT, newname);
    free(decoded);
    return rc;
}

/* A scratch file renamed onto config.json or status is a save: it succeeds only
 * if the API accepts the content. The scratch node then becomes that file (the
 * kernel now knows its inode under that name). */
static int commit_scratch(struct lp_tree *t, struct lp_aud *a, struct lp_scratch *s,
                          enum lp_kind kind)
{
    char reason[256] = "";
    int rc;
    char *payload = NULL;
    if (kind == LP_KIND_CONFIG) {
        enum lp_config_result r =
            lp_config_check(s->data ? s->data : "", s->len, &payload, reason, sizeof(reason));
        rc = r == LP_CONFIG_OK ? 0 : r == LP_CONFIG_TOO_BIG ? -EFBIG : -EINVAL;
    } else {
        char word[16];
        rc = lp_status_parse(s->data ? s->data : "", s->len, word, sizeof(word)) == 1 ? 0 : -EINVAL;
        if (rc < 0)
            snprintf(reason, sizeof(reason), "status must be draft, active or paused");
        else
            payload = strdup(word);
    }
    if (rc < 0) {
        lp_log(LP_LOG_WARNING, "%s: %s not saved: %s", a->dirname ? a->dirname : "?",
               kind == LP_KIND_CONFIG ? LP_FILE_CONFIG : LP_FILE_STATUS, reason);
        lp_set_error(a, reason);
        return rc;
    }
    struct lp_node *node = s->node;
    /* An editor putting back its backup after a failed save (vim renames
     * config.json~ onto config.json) restores what the API already holds:
     * nothing to send, and updatedAt must not move. */
    const char *confirmed = kind == LP_KIND_CONFIG ? a->rec.config : a->rec.status;
    if (!a->pending && confirmed && strcmp(confirmed, payload) == 0)
        rc = 0;
    else
        rc = kind == LP_KIND_CONFIG ? lp_sync_config_write(t, a, payload)
                                    : lp_sync_status(t, a, payload);
    free(payload);
    if (rc < 0)
        return rc;
    if (a->gone || node->scratch != s || !node->linked)
        return 0; /* unlinked meanwhile: the save stands, nothing to move */
    struct lp_node **slot = kind == LP_KIND_CONFIG ? &a->config : &a->status;
    struct lp_scratch **pp = &a->scratch;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    scratch_free(s);
    node->scratch = NULL;
    node->kind = kind;
    if (*slot) {
        struct lp_node *old = *slot;
        old->linked = false;
        *slot = node;
        lp_notify_node(t, old);
        node_maybe_free(t, old);
    }
    *slot = node;
    lp_notify_node(t, node);
    return 0;
}

/* config.json or status renamed away (vim's backup): the name keeps showing the
 * audience, under a new inode, and the old inode becomes a scratch copy. */
static int detach_file(struct lp_tree *t, struct lp_aud *a, struct lp_node *node,
                       const char *newname)
{
    char *text = NULL;
    size_t len = 0;
    if (node->kind == LP_KIND_CONFIG) {
        const char *ct = lp_aud_config_text(a);
        len = strlen(ct);
        text = strdup(ct);
    } else {
        len = text_len_status(a);
        text = malloc(len + 1);
        if (text)
            snprintf(text, len + 1, "%s\n", a->rec.status ? a->rec.status : "");
    }
    struct lp_scratch *s = calloc(1, sizeof(*s));
    if (!text || !s || !(s->name = strdup(newname))) {
        free(text);
        free(s);
        return -ENOMEM;
    }
    s->data = text;
    s->len = s->cap = len;
    s->mode = 0644;
    s->uid = t->opts.uid;
    s->gid = t->opts.gid;
    s->mtime = s->atime = aud_mtime(a);
    clock_gettime(CLOCK_REALTIME, &s->ctime);
    s->node = node;
    node->scratch = s;
    if (a->config == node)
        a->config = NULL;
    if (a->status == node)
        a->status = NULL;
    node->kind = LP_KIND_SCRATCH;
    s->next = a->scratch;
    a->scratch = s;
    return 0;
}

static int rename_file(struct lp_tree *t, lp_ino parent, const char *name, const char *newname,
                       unsigned flags)
{
    struct lp_aud *a = dir_aud(t, parent);
    if (!a)
        return -ENOENT;
    bool src_special, dst_special;
    enum lp_kind src_kind = file_kind_of(name, &src_special);
    enum lp_kind dst_kind = file_kind_of(newname, &dst_special);
    if (strcmp(name, newname) == 0)
        return 0;
    if (src_special) {
        if (src_kind == LP_KIND_SIZE || dst_special)
            return -EPERM;
        if (src_kind == LP_KIND_CONFIG) {
            int rc = lp_sync_config(t, a);
            if (rc < 0)
                return rc;
            if (a->gone)
                return -ENOENT;
        }
        struct lp_scratch *target = scratch_find(a, newname);
        if (target && (flags & LP_RENAME_NOREPLACE))
            return -EEXIST;
        struct lp_node *node = file_node(t, a, src_kind);
        if (!node)
            return -ENOMEM;
        if (target)
            scratch_unlink(t, a, target);
        return detach_file(t, a, node, newname);
    }
    struct lp_scratch *s = scratch_find(a, name);
    if (!s)
        return -ENOENT;
    if (dst_special) {
        if (flags & LP_RENAME_NOREPLACE)
            return -EEXIST;
        if (dst_kind == LP_KIND_SIZE || s->node->kind != LP_KIND_SCRATCH)
            return -EPERM;
        return commit_scratch(t, a, s, dst_kind);
    }
    struct lp_scratch *target = scratch_find(a, newname);
    if (target && (flags & LP_RENAME_NOREPLACE))
        return -EEXIST;
    char *nn = strdup(newname);
    if (!nn)
        return -ENOMEM;
    if (target)
        scratch_unlink(t, a, target);
    free(s->name);
    s->name = nn;
    clock_gettime(CLOCK_REALTIME, &s->ctime);
    return 0;
}

int lp_tree_rename(lp_tree *t, lp_ino parent, const char *name, lp_ino newparent,
                   const char *newname, unsigned flags)
{
    if (strlen(newname) > LP_FILENAME_MAX)
        return -ENAMETOOLONG;
    pthread_mutex_lock(&t->lock);
    int rc;
    if (parent != newparent)
        rc = -EXDEV; /* audiences are not nested, files don't move between them */
    else if (parent == LP_INO_ROOT)
        rc = rename_dir(t, name, newname, flags);
    else
        rc = rename_file(t, parent, name, newname, flags);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* ---- write-through entry points ---- */

static struct lp_aud *file_aud(struct lp_tree *t, lp_ino ino, int *rc)
{
    struct lp_node *n = lp_node_get(t, ino);
    *rc = 0;
    if (!n || !n->aud || n->aud->gone) {
        *rc = -ENOENT;
        return NULL;
    }
    return n->aud;
}

int lp_tree_commit_status(lp_tree *t, lp_ino ino, const char *word)
{
    pthread_mutex_lock(&t->lock);
    int rc;
    struct lp_aud *a = file_aud(t, ino, &rc);
    if (a)
        rc = lp_sync_status(t, a, word);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int lp_tree_commit_config(lp_tree *t, lp_ino ino, const char *compact)
{
    pthread_mutex_lock(&t->lock);
    int rc;
    struct lp_aud *a = file_aud(t, ino, &rc);
    if (a)
        rc = lp_sync_config_write(t, a, compact);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void lp_tree_set_error(lp_tree *t, lp_ino ino, const char *message)
{
    pthread_mutex_lock(&t->lock);
    int rc;
    struct lp_aud *a = file_aud(t, ino, &rc);
    if (a)
        lp_set_error(a, message);
    pthread_mutex_unlock(&t->lock);
}

/* ---- extended attributes ---- */

#define XATTR_PREFIX "user.leadpipe."
static const char *const xattr_names[] = {
    "id",        "status",    "accessType",      "dailyRefreshEnabled",
    "createdAt", "updatedAt", "lastRefreshedAt", "lastError"};
#define NXATTR (sizeof(xattr_names) / sizeof(xattr_names[0]))

static const char *xattr_value(const struct lp_aud *a, size_t i)
{
    switch (i) {
    case 0:
        return a->rec.id;
    case 1:
        return a->rec.status;
    case 2:
        return a->rec.access_type;
    case 3:
        return a->rec.daily_refresh < 0 ? NULL : a->rec.daily_refresh ? "true" : "false";
    case 4:
        return a->rec.created_at;
    case 5:
        return a->rec.updated_at;
    case 6:
        return a->rec.last_refreshed_at;
    case 7:
        return a->last_error;
    }
    return NULL;
}

int lp_tree_getxattr(lp_tree *t, lp_ino ino, const char *name, char **value, size_t *len)
{
    pthread_mutex_lock(&t->lock);
    int rc = -ENODATA;
    struct lp_aud *a = dir_aud(t, ino);
    if (a && strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) == 0) {
        const char *key = name + strlen(XATTR_PREFIX);
        for (size_t i = 0; i < NXATTR; i++) {
            const char *v = strcmp(key, xattr_names[i]) == 0 ? xattr_value(a, i) : NULL;
            if (v) {
                rc = dup_text(v, strlen(v), value, len);
                break;
            }
        }
    } else if (!lp_node_get(t, ino)) {
        rc = -ENOENT;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int lp_tree_listxattr(lp_tree *t, lp_ino ino, char **list, size_t *len)
{
    pthread_mutex_lock(&t->lock);
    int rc = 0;
    struct lp_aud *a = dir_aud(t, ino);
    size_t cap = 512, used = 0;
    char *buf = malloc(cap);
    if (!buf)
        rc = -ENOMEM;
    for (size_t i = 0; a && buf && i < NXATTR; i++) {
        if (!xattr_value(a, i))
            continue;
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", XATTR_PREFIX, xattr_names[i]) + 1;
    }
    if (rc == 0 && !lp_node_get(t, ino))
        rc = -ENOENT;
    if (rc == 0) {
        *list = buf;
        *len = used;
    } else {
        free(buf);
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}
