/* rcache.c - the results cache of rcache.h: an index of the directory's
 * complete files (key -> entry), a list of them in order of use (least
 * recently used first), pins, bytes and eviction; the disk is rcache_disk.c,
 * the readers of a part being written rcache_live.c.
 *
 * The lock guards the index, the list and the total, and is held across the
 * renames and unlinks that change which files are complete, so the index and
 * the directory agree; writing and fsync of a part happen outside it.
 */
#include "rcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hashmap.h"
#include "rcache_disk.h"
#include "rcache_live.h"

struct entry {
    char *key; /* decoded; the index borrows it */
    uint64_t size;
    unsigned pins;
    bool complete;        /* KEY exists and is in the list */
    bool writing;         /* a part is open for this key */
    lp_rcache_live *live; /* while writing, once the part exists: its readers' */
    struct entry *prev, *next;
};

struct lp_rcache {
    pthread_mutex_t lock;
    struct lp_rcache_dir dir;
    uint64_t limit;
    uint64_t total;
    struct lp_map index;
    struct entry *lru, *mru; /* complete entries, least recently used first */
};

struct lp_rcache_part {
    lp_rcache *c;
    struct entry *e; /* kept alive by e->writing */
    struct lp_rcache_file f;
    lp_rcache_live *live; /* the writer's reference; NULL until the part exists */
};

/* The list, in order of use. */
static void list_remove(lp_rcache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->mru = e->prev;
    e->prev = e->next = NULL;
}

static void list_append(lp_rcache *c, struct entry *e)
{
    e->prev = c->mru;
    e->next = NULL;
    if (c->mru)
        c->mru->next = e;
    else
        c->lru = e;
    c->mru = e;
}

static void mark_used(lp_rcache *c, struct entry *e)
{
    list_remove(c, e);
    list_append(c, e);
}

static void free_entry(struct entry *e)
{
    free(e->key);
    free(e);
}

/* The entry for key, created (not complete, not in the list) when absent.
 * NULL on ENOMEM. */
static struct entry *get_entry(lp_rcache *c, const char *key)
{
    struct entry *e = lp_smap_get(&c->index, key);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return NULL;
    }
    if (lp_smap_put(&c->index, e->key, e) != 0) {
        free_entry(e);
        return NULL;
    }
    return e;
}

/* Forgets e once nothing refers to it. */
static void maybe_free(lp_rcache *c, struct entry *e)
{
    if (!e->complete && !e->writing && e->pins == 0) {
        lp_smap_del(&c->index, e->key);
        free_entry(e);
    }
}

/* e's file is no longer complete: out of the list and the total. */
static void drop_complete(lp_rcache *c, struct entry *e)
{
    list_remove(c, e);
    c->total -= e->size;
    e->complete = false;
    e->size = 0;
}

/* Removes least recently used unpinned files (never keep) until the total
 * is within the bound or nothing more can go. */
static void evict_locked(lp_rcache *c, const struct entry *keep)
{
    struct entry *e = c->lru;
    while (c->limit && c->total > c->limit && e) {
        struct entry *next = e->next;
        if (e->pins == 0 && e != keep) {
            lp_rcache_remove_key(&c->dir, e->key);
            drop_complete(c, e);
            maybe_free(c, e);
        }
        e = next;
    }
}

/* Indexes the directory's complete files, least recently used first. */
static int scan(lp_rcache *c, char *err, size_t errlen)
{
    struct lp_rcache_found *found;
    size_t n;
    int rc = lp_rcache_scan(&c->dir, &found, &n, err, errlen);
    if (rc == -1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct entry *e = get_entry(c, found[i].key);
        if (!e) {
            rc = -ENOMEM;
            break;
        }
        e->size = found[i].size;
        e->complete = true;
        c->total += e->size;
        list_append(c, e);
    }
    lp_rcache_found_free(found, n);
    if (rc < 0)
        snprintf(err, errlen, "out of memory indexing cache directory %s", c->dir.path);
    return rc < 0 ? -1 : 0;
}

static void free_value(void *value, void *ctx)
{
    (void)ctx;
    free_entry(value);
}

void lp_rcache_close(lp_rcache *c)
{
    if (!c)
        return;
    lp_map_foreach(&c->index, free_value, NULL);
    lp_map_destroy(&c->index);
    if (c->dir.fd >= 0)
        close(c->dir.fd);
    pthread_mutex_destroy(&c->lock);
    free(c->dir.path);
    free(c);
}

lp_rcache *lp_rcache_open(const char *dir, uint64_t limit, char *err, size_t errlen)
{
    if (!dir || !*dir) {
        snprintf(err, errlen, "no cache directory given");
        return NULL;
    }
    if (lp_rcache_make_dirs(dir, err, errlen) < 0)
        return NULL;
    lp_rcache *c = calloc(1, sizeof *c);
    if (!c || !(c->dir.path = strdup(dir))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    lp_map_init_str(&c->index);
    c->limit = limit;
    c->dir.fd = lp_rcache_open_private_dir(dir, err, errlen);
    if (c->dir.fd < 0 || scan(c, err, errlen) < 0) {
        lp_rcache_close(c);
        return NULL;
    }
    evict_locked(c, NULL); /* the bound may have been lowered since */
    return c;
}

char *lp_rcache_default_dir(const char *base_url, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *parts[3] = {base_url ? base_url : "", "\n", key ? key : ""};
    for (int i = 0; i < 3; i++)
        for (const unsigned char *s = (const unsigned char *)parts[i]; *s; s++) {
            h ^= *s;
            h *= 0x100000001b3ULL;
        }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *dir = NULL;
    int n;
    /* XDG: a relative or empty value is ignored. */
    if (xdg && xdg[0] == '/')
        n = asprintf(&dir, "%s/leadpipefs/%016llx", xdg, (unsigned long long)h);
    else if (home && home[0] == '/')
        n = asprintf(&dir, "%s/.cache/leadpipefs/%016llx", home, (unsigned long long)h);
    else
        return NULL;
    return n < 0 ? NULL : dir;
}

/* A file being written: its announced size; with pin a descriptor of the
 * part, a pin and a reference for *live. 0 or the fd, -EINPROGRESS, -EIO. */
static int use_part(struct entry *e, uint64_t *size, bool pin, lp_rcache_live **live)
{
    if (!e->live)
        return -EINPROGRESS; /* the part is being made */
    bool known = lp_rcache_live_size(e->live, size);
    if (!pin)
        return known ? 0 : -EINPROGRESS;
    int fd = lp_rcache_live_dup(e->live);
    if (fd < 0)
        return fd;
    lp_rcache_live_get(e->live);
    *live = e->live;
    e->pins++;
    return fd;
}

/* A use of key's complete file: its size, and with pin an fd and a pin.
 * With live (pin), a file being written too (use_part). 0 or the fd,
 * -ENOENT, -EINPROGRESS or -EIO. */
static int use_file(lp_rcache *c, const char *key, uint64_t *size, bool pin, lp_rcache_live **live)
{
    char name[LP_RCACHE_NAME_LEN + 1];
    if (live)
        *live = NULL;
    if (lp_rcache_escape_key(key, name) < 0)
        return -ENOENT;
    pthread_mutex_lock(&c->lock);
    struct entry *e = lp_smap_get(&c->index, key);
    int rc = -ENOENT;
    if (e && !e->complete && e->writing && (live || !pin)) {
        rc = use_part(e, size, pin, live);
    } else if (e && e->complete) {
        rc = pin ? lp_rcache_open_read(&c->dir, name) : 0;
        if (rc >= 0) {
            e->pins += pin;
            *size = e->size;
            mark_used(c, e);
            lp_rcache_touch(&c->dir, name);
        } else if (rc == -ENOENT) { /* removed behind our back */
            drop_complete(c, e);
            maybe_free(c, e);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int lp_rcache_size(lp_rcache *c, const char *key, uint64_t *size)
{
    return use_file(c, key, size, false, NULL);
}

int lp_rcache_open_file(lp_rcache *c, const char *key, uint64_t *size, lp_rcache_live **live)
{
    return use_file(c, key, size, true, live);
}

void lp_rcache_unpin(lp_rcache *c, const char *key)
{
    pthread_mutex_lock(&c->lock);
    struct entry *e = key ? lp_smap_get(&c->index, key) : NULL;
    if (e && e->pins > 0) {
        e->pins--;
        maybe_free(c, e);
    }
    pthread_mutex_unlock(&c->lock);
}

/* Writing. */

lp_rcache_part *lp_rcache_begin(lp_rcache *c, const char *key, int *err)
{
    lp_rcache_part *p = calloc(1, sizeof *p);
    if (!p) {
        *err = -ENOMEM;
        return NULL;
    }
    p->c = c;
    int rc = lp_rcache_file_init(&p->f, key);
    if (rc < 0) {
        free(p);
        *err = rc;
        return NULL;
    }

    pthread_mutex_lock(&c->lock);
    struct entry *e = get_entry(c, key);
    rc = !e ? -ENOMEM : e->writing ? -EBUSY : 0;
    if (rc == 0)
        e->writing = true;
    pthread_mutex_unlock(&c->lock);
    if (rc < 0) {
        free(p);
        *err = rc;
        return NULL;
    }
    p->e = e;

    rc = lp_rcache_file_create(&c->dir, &p->f);
    int rfd = rc < 0 ? rc : lp_rcache_file_open_reader(&c->dir, &p->f);
    if (rfd >= 0 && !(p->live = lp_rcache_live_new(rfd)))
        rfd = -ENOMEM;
    if (rfd < 0) {
        lp_rcache_abort(p);
        *err = rfd;
        return NULL;
    }
    pthread_mutex_lock(&c->lock);
    e->live = p->live; /* readers may come now */
    pthread_mutex_unlock(&c->lock);
    *err = 0;
    return p;
}

void lp_rcache_announce(lp_rcache_part *p, int64_t len)
{
    lp_rcache_live_announce(p->live, len);
}

int lp_rcache_write(lp_rcache_part *p, const char *buf, size_t n)
{
    int rc = lp_rcache_file_write(&p->c->dir, &p->f, buf, n);
    if (rc == 0)
        lp_rcache_live_written(p->live, p->f.len);
    return rc;
}

int lp_rcache_reset(lp_rcache_part *p)
{
    lp_rcache_file_reset(&p->f);
    lp_rcache_live_restart(p->live);
    return 0;
}

/* Closes the part's fd, removes it and ends the writer's claim; frees p.
 * Readers of the part keep their descriptors (and with them its bytes). */
static void end_part(lp_rcache_part *p, bool remove_part)
{
    lp_rcache *c = p->c;
    if (remove_part && p->live)
        lp_rcache_live_fail(p->live);
    lp_rcache_file_end(&c->dir, &p->f, remove_part);
    pthread_mutex_lock(&c->lock);
    p->e->writing = false;
    p->e->live = NULL;
    maybe_free(c, p->e);
    pthread_mutex_unlock(&c->lock);
    lp_rcache_live_put(p->live);
    free(p);
}

void lp_rcache_abort(lp_rcache_part *p)
{
    if (p)
        end_part(p, true);
}

int lp_rcache_finish(lp_rcache_part *p, uint64_t expected_len)
{
    int rc = lp_rcache_file_check(&p->c->dir, &p->f, expected_len);
    if (rc == 0) /* whole and checked: readers need not wait for the disk */
        lp_rcache_live_whole(p->live, p->f.len);
    return rc;
}

int lp_rcache_commit(lp_rcache_part *p, uint64_t expected_len)
{
    lp_rcache *c = p->c;
    int rc = lp_rcache_finish(p, expected_len);
    if (rc == 0)
        rc = lp_rcache_file_sync(&c->dir, &p->f);
    if (rc < 0) {
        end_part(p, true);
        return rc;
    }

    pthread_mutex_lock(&c->lock);
    struct entry *e = p->e;
    int e_no = lp_rcache_file_rename(&c->dir, &p->f);
    if (e_no) {
        pthread_mutex_unlock(&c->lock);
        rc = lp_rcache_file_failed(&c->dir, &p->f, "cannot rename", e_no);
        end_part(p, true);
        return rc;
    }
    if (e->complete)
        drop_complete(c, e); /* replaced */
    e->complete = true;
    e->size = p->f.len;
    c->total += e->size;
    list_append(c, e);
    evict_locked(c, e);
    pthread_mutex_unlock(&c->lock);
    end_part(p, false);
    return 0;
}

uint64_t lp_rcache_bytes(lp_rcache *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->total;
    pthread_mutex_unlock(&c->lock);
    return n;
}
