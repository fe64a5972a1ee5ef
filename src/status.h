/* status.h - the words a file takes: an audience's status (draft, active,
 * paused), runs/queue (manual). Pure functions; the caller owns every buffer.
 */
#ifndef LEADPIPEFS_STATUS_H
#define LEADPIPEFS_STATUS_H

#include <stdbool.h>
#include <stddef.h>

/* Trims ASCII whitespace from buf[0..len) and copies the word into out (outlen bytes).
 * Returns 1 when the word is draft/active/paused, 0 when empty, -1 otherwise. */
int lp_status_parse(const char *buf, size_t len, char *out, size_t outlen);
/* The same for runs/queue, whose only word is "manual" (the one run type a
 * client may queue). */
int lp_queue_word_parse(const char *buf, size_t len, char *out, size_t outlen);

#endif
