/* sbuf.c - a growable NUL-terminated string buffer (see sbuf.h).
 * No cJSON, no I/O.
 */
#include "sbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void lp_sb_add(struct lp_sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void lp_sb_adds(struct lp_sbuf *b, const char *s)
{
    lp_sb_add(b, s, strlen(s));
}

void lp_sb_addc(struct lp_sbuf *b, char c)
{
    lp_sb_add(b, &c, 1);
}

void lp_sb_truncate(struct lp_sbuf *b, size_t len)
{
    if (len > b->len)
        return;
    b->len = len;
    if (b->p)
        b->p[len] = '\0';
}

char *lp_sb_finish(struct lp_sbuf *b)
{
    if (b->failed) {
        free(b->p);
        errno = ENOMEM;
        return NULL;
    }
    if (!b->p)
        return strdup("");
    /* Names and configs are kept for the mount's life: give back the slack of
     * the doubling (a short name would otherwise hold 128 bytes). */
    if (b->cap - b->len > 32) {
        char *fit = realloc(b->p, b->len + 1);
        if (fit)
            b->p = fit;
    }
    return b->p;
}
