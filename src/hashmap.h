/* hashmap.h - two small open-addressing hash maps: string -> pointer and
 * uint64 -> pointer, 16 bytes a slot and no allocation per entry (there are
 * three indexes per audience, so the per-entry cost is the cache's size).
 *
 * The maps never own the values, nor the string keys: the caller keeps each
 * key alive and unchanged while it is in the map (an audience's own id and
 * name serve as keys, so no copy of them is made). Values must not be NULL
 * (NULL marks a free slot). Not thread-safe: the caller's lock protects them.
 */
#ifndef LEADPIPEFS_HASHMAP_H
#define LEADPIPEFS_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct lp_map_slot;

struct lp_map {
    struct lp_map_slot *slots;
    size_t nslots; /* 0 or a power of two */
    size_t count;
    int string_keys; /* 1: keys are strings (the caller's), 0: uint64 */
};

void lp_map_init_str(struct lp_map *m);
void lp_map_init_u64(struct lp_map *m);
void lp_map_destroy(struct lp_map *m);

/* Returns 0, or -1 on ENOMEM (or a NULL value). Replaces the value of an existing key. */
int lp_smap_put(struct lp_map *m, const char *key, void *value);
void *lp_smap_get(const struct lp_map *m, const char *key);
/* Removes key; returns its value or NULL. */
void *lp_smap_del(struct lp_map *m, const char *key);

int lp_imap_put(struct lp_map *m, uint64_t key, void *value);
void *lp_imap_get(const struct lp_map *m, uint64_t key);
void *lp_imap_del(struct lp_map *m, uint64_t key);

/* Calls fn for each value (order unspecified); fn must not change the map. */
void lp_map_foreach(const struct lp_map *m, void (*fn)(void *value, void *ctx), void *ctx);

#endif
