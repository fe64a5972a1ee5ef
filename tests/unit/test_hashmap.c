/* test_hashmap.c - the inode cache's indexes: every key found after any mix of
 * puts, replacements and deletions (checked against a plain array). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hashmap.h"
#include "testutil.h"

#define NKEYS 5000

/* Random puts and deletes of integer keys; the model is value[key] (NULL: absent). */
static void test_u64_against_model(void)
{
    static void *model[NKEYS];
    static int values[NKEYS];
    struct lp_map m;
    lp_map_init_u64(&m);
    srand(7);
    int wrong = 0;
    size_t present = 0;
    for (int step = 0; step < 200000; step++) {
        /* Keys that differ in high bits only: the mixer must spread them. */
        int k = rand() % NKEYS;
        uint64_t key = (uint64_t)k << 40;
        if (rand() % 3 == 0) {
            void *got = lp_imap_del(&m, key);
            wrong += got != model[k];
            present -= model[k] != NULL;
            model[k] = NULL;
        } else {
            present += model[k] == NULL;
            model[k] = &values[k];
            wrong += lp_imap_put(&m, key, model[k]) != 0;
        }
        if (step % 20000 == 0)
            for (int i = 0; i < NKEYS; i++)
                wrong += lp_imap_get(&m, (uint64_t)i << 40) != model[i];
    }
    for (int i = 0; i < NKEYS; i++)
        wrong += lp_imap_get(&m, (uint64_t)i << 40) != model[i];
    CHECK_INT(wrong, 0);
    CHECK_INT(m.count, present);
    lp_map_destroy(&m);
}

static void count_value(void *value, void *ctx)
{
    (void)value;
    ++*(size_t *)ctx;
}

/* String keys are the caller's: equal text in another buffer finds the entry. */
static void test_strings_borrowed_and_replaced(void)
{
    static char keys[1000][16];
    struct lp_map m;
    lp_map_init_str(&m);
    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "aud_%04d", i);
        CHECK_INT(lp_smap_put(&m, keys[i], keys[i]), 0);
    }
    char probe[16];
    snprintf(probe, sizeof(probe), "aud_%04d", 123);
    CHECK(lp_smap_get(&m, probe) == keys[123]);
    CHECK(lp_smap_get(&m, "aud_1000") == NULL);
    /* Replacing keeps one entry, with the new value. */
    CHECK_INT(lp_smap_put(&m, probe, keys[5]), 0);
    CHECK(lp_smap_get(&m, "aud_0123") == keys[5]);
    CHECK_INT(m.count, 1000);
    CHECK_INT(lp_smap_put(&m, "x", NULL), -1); /* NULL marks a free slot */
    for (int i = 0; i < 1000; i += 2)
        CHECK(lp_smap_del(&m, keys[i]) != NULL);
    CHECK(lp_smap_del(&m, "aud_0000") == NULL);
    int wrong = 0;
    for (int i = 1; i < 1000; i += 2)
        wrong += lp_smap_get(&m, keys[i]) == NULL;
    CHECK_INT(wrong, 0);
    size_t seen = 0;
    lp_map_foreach(&m, count_value, &seen);
    CHECK_INT(seen, 500);
    lp_map_destroy(&m);
    CHECK(lp_smap_get(&m, "aud_0001") == NULL);
}

int main(void)
{
    test_u64_against_model();
    test_strings_borrowed_and_replaced();
    return lp_test_summary();
}
