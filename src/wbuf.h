/* wbuf.h - the write buffer of one open config.json or status, and the rule
 * that decides when its bytes become a request (SPEC: "Operations").
 *
 * Pure logic, no FUSE and no API: the filesystem layer feeds it writes and
 * truncations and asks, after each write and at flush/fsync, whether to send.
 */
#ifndef LEADPIPEFS_WBUF_H
#define LEADPIPEFS_WBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum lp_wbuf_kind { LP_WBUF_STATUS, LP_WBUF_CONFIG, LP_WBUF_QUEUE };

struct lp_wbuf {
    enum lp_wbuf_kind kind;
    char *data;
    size_t len, cap;
    bool touched; /* written to or truncated since open */
    /* [own_lo, own_hi): bytes this open wrote. The rest is what the file held
     * at open (or zeros a truncate added): while any of that is left, the
     * content is not the writer's yet (a rewrite in place before its truncate). */
    size_t own_lo, own_hi;
    char *sent; /* the payload the API last accepted through this buffer */
};

enum lp_wbuf_action {
    LP_WBUF_NOTHING, /* nothing to send: untouched, or sent already */
    LP_WBUF_WAIT,    /* unfinished (empty, an object not closed yet, the start of a
                      * word; after a write, also old bytes left): fine while more
                      * may come; if this is the end (never after a write), *err
                      * and reason say why it can't be sent */
    LP_WBUF_SEND,    /* *payload holds what to send */
    LP_WBUF_REFUSE,  /* the content can't be sent: *err and reason say why */
};

/* When the content is judged. */
enum lp_wbuf_moment {
    LP_WBUF_AT_WRITE, /* after a write or truncate: only the writer's own, finished
                       * content is judged; anything else waits */
    LP_WBUF_AT_CLOSE, /* flush, fsync, rename onto the file: the content as it stands */
};

/* Starts with the file's current content (copied). Returns 0 or -ENOMEM. */
int lp_wbuf_init(struct lp_wbuf *w, enum lp_wbuf_kind kind, const char *content, size_t len);
void lp_wbuf_clear(struct lp_wbuf *w);

/* The largest content the buffer takes, in bytes. */
size_t lp_wbuf_limit(enum lp_wbuf_kind kind);
/* Both return 0, -EFBIG past the size cap, or -ENOMEM. */
int lp_wbuf_write(struct lp_wbuf *w, const char *buf, size_t size, off_t off);
int lp_wbuf_truncate(struct lp_wbuf *w, off_t size);

/* A copy of the bytes and length, to undo a write the API refused. */
struct lp_wbuf_undo {
    char *data;
    size_t len;
    bool touched;
    size_t own_lo, own_hi;
};
int lp_wbuf_save(const struct lp_wbuf *w, struct lp_wbuf_undo *u);
void lp_wbuf_restore(struct lp_wbuf *w, struct lp_wbuf_undo *u);
void lp_wbuf_undo_clear(struct lp_wbuf_undo *u);

/* What the bytes mean now (see lp_wbuf_moment). Whether WAIT is an error is
 * the caller's to say: not at a write, nor at a close that leaves the file
 * open elsewhere; yes at the last close and at fsync. On SEND *payload is
 * malloc'd (the compact config or the status word): pass it to lp_wbuf_sent
 * after the API accepted it, or free it. */
enum lp_wbuf_action lp_wbuf_decide(const struct lp_wbuf *w, enum lp_wbuf_moment at, char **payload,
                                   int *err, char *reason, size_t reasonlen);
/* Records that the API accepted payload (ownership passes to w). */
void lp_wbuf_sent(struct lp_wbuf *w, char *payload);

#endif
