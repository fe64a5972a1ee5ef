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
    char *sent;   /* the payload the API last accepted through this buffer */
};

enum lp_wbuf_action {
    LP_WBUF_NOTHING, /* nothing to send (yet) */
    LP_WBUF_SEND,    /* *payload holds what to send */
    LP_WBUF_REFUSE,  /* the content can't be sent: *err and reason say why */
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
};
int lp_wbuf_save(const struct lp_wbuf *w, struct lp_wbuf_undo *u);
void lp_wbuf_restore(struct lp_wbuf *w, struct lp_wbuf_undo *u);
void lp_wbuf_undo_clear(struct lp_wbuf_undo *u);

/* What the bytes mean now. at_close: flush/fsync, where an unfinished JSON
 * object is an error rather than something to wait for. On SEND *payload is
 * malloc'd (the compact config or the status word): pass it to lp_wbuf_sent
 * after the API accepted it, or free it. */
enum lp_wbuf_action lp_wbuf_decide(const struct lp_wbuf *w, bool at_close, char **payload, int *err,
                                   char *reason, size_t reasonlen);
/* Records that the API accepted payload (ownership passes to w). */
void lp_wbuf_sent(struct lp_wbuf *w, char *payload);

#endif
