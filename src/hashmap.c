/* hashmap.c - open-addressing hash maps used by the inode cache (ino, id and
 * name indexes): linear probing, at most 3/4 full, deletion by shifting the
 * following entries back (no tombstones, so lookups never slow down).
 * FNV-1a for strings, a 64-bit mixer for integers.
 */
#include "hashmap.h"

#include <stdlib.h>
#include <string.h>

/* key: the integer, or the caller's string pointer; value NULL: free slot. */
struct lp_map_slot {
    uint64_t key;
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

static const char *skey_of(uint64_t key)
{
    return (const char *)(uintptr_t)key;
}

static uint64_t hash_key(const struct lp_map *m, uint64_t key)
{
    return m->string_keys ? hash_str(skey_of(key)) : hash_u64(key);
}

static int same_key(const struct lp_map *m, uint64_t a, uint64_t b)
{
    return m->string_keys ? strcmp(skey_of(a), skey_of(b)) == 0 : a == b;
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
    free(m->slots);
    m->slots = NULL;
    m->nslots = m->count = 0;
}

/* The slot holding key, or the free slot where it would go; n must be > 0. */
static size_t probe(const struct lp_map *m, uint64_t h, uint64_t key)
{
    size_t mask = m->nslots - 1;
    size_t i = h & mask;
    while (m->slots[i].value && !same_key(m, m->slots[i].key, key))
        i = (i + 1) & mask;
    return i;
}

static int grow(struct lp_map *m)
{
    size_t n = m->nslots ? m->nslots * 2 : 64;
    struct lp_map_slot *old = m->slots;
    size_t nold = m->nslots;
    m->slots = calloc(n, sizeof(*m->slots));
    if (!m->slots) {
        m->slots = old;
        return -1;
    }
    m->nslots = n;
    for (size_t i = 0; i < nold; i++)
        if (old[i].value)
            m->slots[probe(m, hash_key(m, old[i].key), old[i].key)] = old[i];
    free(old);
    return 0;
}

static int put(struct lp_map *m, uint64_t h, uint64_t key, void *value)
{
    if (!value)
        return -1;
    if ((m->count + 1) * 4 > m->nslots * 3 && grow(m) < 0)
        return -1;
    struct lp_map_slot *s = &m->slots[probe(m, h, key)];
    if (!s->value)
        m->count++;
    s->key = key; /* a string key: the new owner's copy */
    s->value = value;
    return 0;
}

static void *get(const struct lp_map *m, uint64_t h, uint64_t key)
{
    return m->nslots ? m->slots[probe(m, h, key)].value : NULL;
}

/* Is home, the slot an entry hashes to, cyclically within (hole, at]? Then the
 * entry at `at` can stay; otherwise it must move back into the hole. */
static int stays(size_t hole, size_t at, size_t home)
{
    return hole <= at ? hole < home && home <= at : hole < home || home <= at;
}

static void *del(struct lp_map *m, uint64_t h, uint64_t key)
{
    if (!m->nslots)
        return NULL;
    size_t mask = m->nslots - 1;
    size_t hole = probe(m, h, key);
    void *value = m->slots[hole].value;
    if (!value)
        return NULL;
    m->slots[hole].value = NULL;
    m->count--;
    for (size_t at = (hole + 1) & mask; m->slots[at].value; at = (at + 1) & mask) {
        size_t home = hash_key(m, m->slots[at].key) & mask;
        if (stays(hole, at, home))
            continue;
        m->slots[hole] = m->slots[at];
        m->slots[at].value = NULL;
        hole = at;
    }
    return value;
}

int lp_smap_put(struct lp_map *m, const char *key, void *value)
{
    return put(m, hash_str(key), (uint64_t)(uintptr_t)key, value);
}

void *lp_smap_get(const struct lp_map *m, const char *key)
{
    return get(m, hash_str(key), (uint64_t)(uintptr_t)key);
}

void *lp_smap_del(struct lp_map *m, const char *key)
{
    return del(m, hash_str(key), (uint64_t)(uintptr_t)key);
}

int lp_imap_put(struct lp_map *m, uint64_t key, void *value)
{
    return put(m, hash_u64(key), key, value);
}

void *lp_imap_get(const struct lp_map *m, uint64_t key)
{
    return get(m, hash_u64(key), key);
}

void *lp_imap_del(struct lp_map *m, uint64_t key)
{
    return del(m, hash_u64(key), key);
}

void lp_map_foreach(const struct lp_map *m, void (*fn)(void *value, void *ctx), void *ctx)
{
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i].value)
            fn(m->slots[i].value, ctx);
}
