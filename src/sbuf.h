/* sbuf.h - a growable NUL-terminated string buffer for building text piece by
 * piece. Plain C and libc only (no cJSON): part of the dependency-free util layer.
 *
 * Ownership: start from `struct lp_sbuf b = {0}`; lp_sb_finish hands over the
 * malloc'd text (the caller frees it). After an allocation failure every
 * further append is ignored and lp_sb_finish frees what was built and
 * returns NULL with errno ENOMEM. To drop a buffer without finishing it,
 * free(b.p).
 */
#ifndef LEADPIPEFS_SBUF_H
#define LEADPIPEFS_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct lp_sbuf {
    char *p; /* NULL until the first append */
    size_t len, cap;
    bool failed; /* an allocation failed: the text is incomplete */
};

/* Appends n bytes of s. */
void lp_sb_add(struct lp_sbuf *b, const char *s, size_t n);
/* Appends the NUL-terminated s. */
void lp_sb_adds(struct lp_sbuf *b, const char *s);
void lp_sb_addc(struct lp_sbuf *b, char c);
/* Cuts the text back to len bytes (len <= b->len), to undo appends. */
void lp_sb_truncate(struct lp_sbuf *b, size_t len);
/* Returns the malloc'd text (the caller frees it; "" when nothing was
 * appended), or NULL with errno ENOMEM after a failure. */
char *lp_sb_finish(struct lp_sbuf *b);

#endif
