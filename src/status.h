/* status.h - the words a file takes: an audience's status (draft, active,
 * paused), runs/queue (manual). Pure functions; the caller owns every buffer.
 */
#ifndef LEADPIPEFS_STATUS_H
#define LEADPIPEFS_STATUS_H

#include <stdbool.h>
#include <stddef.h>

/* What lp_status_parse and lp_queue_word_parse found. */
enum {
    LP_WORD_BAD = -1,  /* no word of the file's, however it goes on */
    LP_WORD_EMPTY = 0, /* nothing but whitespace */
    LP_WORD_OK = 1,    /* one of the file's words */
    LP_WORD_START = 2, /* the start of one ("pa" of paused), nothing after it:
                        * more bytes may finish it (dd bs=1, printf pa; printf used) */
};

/* Trims ASCII whitespace from buf[0..len) and copies the word into out (outlen bytes).
 * Returns an LP_WORD_ value: draft, active or paused are LP_WORD_OK. */
int lp_status_parse(const char *buf, size_t len, char *out, size_t outlen);
/* The same for runs/queue, whose only word is "manual" (the one run type a
 * client may queue). */
int lp_queue_word_parse(const char *buf, size_t len, char *out, size_t outlen);

#endif
