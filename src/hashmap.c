/* hashmap.c - chained hash maps used by the inode cache (ino, id and name indexes).
 * FNV-1a for strings, a 64-bit mixer for integers; the table doubles at load 1.
 */
#include "hashmap.h"

#include <stdlib.h>
#include <string.h>

struct lp_map_entry {
    struct lp_map_entry *next;
    uint64_t hash;
    uint64_t ikey;
    const char *skey;
    void *value;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static void map_init(struct lp_map *m, int string_keys)
{
    memset(m, 0, sizeof(*m));
    m->string_keys = string_keys;
}

void lp_map_init_str(struct lp_map *m)
{
    map_init(m, 1);
}

void lp_map_init_u64(struct lp_map *m)
{
    map_init(m, 0);
}

void lp_map_destroy(struct lp_map *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct lp_map_entry *e = m->buckets[i];
        while (e) {
            struct lp_map_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->count = 0;
}

static int grow(struct lp_map *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
    struct lp_map_entry **b = calloc(n, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct lp_map_entry *e = m->buckets[i];
        while (e) {
            struct lp_map_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return 0;
}

/* Finds the link pointing at the entry for the key (or at the NULL ending its chain). */
static struct lp_map_entry **find(const struct lp_map *m, uint64_t h, const char *skey,
                                  uint64_t ikey)
{
    if (!m->nbuckets)
        return NULL;
    struct lp_map_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        struct lp_map_entry *e = *pp;
        if (e->hash != h)
            continue;
        if (m->string_keys ? strcmp(e->skey, skey) == 0 : e->ikey == ikey)
            return pp;
    }
    return pp;
}

static int put(struct lp_map *m, uint64_t h, const char *skey, uint64_t ikey, void *value)
{
    struct lp_map_entry **pp = find(m, h, skey, ikey);
    if (pp && *pp) {
        (*pp)->value = value;
        (*pp)->skey = skey; /* the new owner's copy of the key */
        return 0;
    }
    if (m->count >= m->nbuckets && grow(m) < 0)
        return -1;
    struct lp_map_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return -1;
    e->skey = skey;
    e->hash = h;
    e->ikey = ikey;
    e->value = value;
    size_t i = h & (m->nbuckets - 1);
    e->next = m->buckets[i];
    m->buckets[i] = e;
    m->count++;
    return 0;
}

static void *get(const struct lp_map *m, uint64_t h, const char *skey, uint64_t ikey)
{
    struct lp_map_entry **pp = find(m, h, skey, ikey);
    return pp && *pp ? (*pp)->value : NULL;
}

static void *del(struct lp_map *m, uint64_t h, const char *skey, uint64_t ikey)
{
    struct lp_map_entry **pp = find(m, h, skey, ikey);
    if (!pp || !*pp)
        return NULL;
    struct lp_map_entry *e = *pp;
    void *value = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return value;
}

int lp_smap_put(struct lp_map *m, const char *key, void *value)
{
    return put(m, hash_str(key), key, 0, value);
}

void *lp_smap_get(const struct lp_map *m, const char *key)
{
    return get(m, hash_str(key), key, 0);
}

void *lp_smap_del(struct lp_map *m, const char *key)
{
    return del(m, hash_str(key), key, 0);
}

int lp_imap_put(struct lp_map *m, uint64_t key, void *value)
{
    return put(m, hash_u64(key), NULL, key, value);
}

void *lp_imap_get(const struct lp_map *m, uint64_t key)
{
    return get(m, hash_u64(key), NULL, key);
}

void *lp_imap_del(struct lp_map *m, uint64_t key)
{
    return del(m, hash_u64(key), NULL, key);
}

void lp_map_foreach(const struct lp_map *m, void (*fn)(void *value, void *ctx), void *ctx)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct lp_map_entry *e = m->buckets[i]; e; e = e->next)
            fn(e->value, ctx);
}
