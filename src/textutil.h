/* textutil.h - small text helpers shared by the model files: reason strings,
 * UTF-8 sequence lengths, JSON whitespace, line/column of a byte offset.
 * Plain C and libc only (no cJSON): part of the dependency-free util layer.
 */
#ifndef LEADPIPEFS_TEXTUTIL_H
#define LEADPIPEFS_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Writes a printf-formatted reason into buf when the caller gave room for one
 * (buf NULL or len 0: nothing is written). */
void lp_set_reason(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Space, tab, newline, carriage return: the only whitespace JSON allows. */
bool lp_is_json_space(unsigned char c);

/* Length (1-4) of the well-formed UTF-8 sequence at s, of which avail bytes
 * can be read: 0 when the bytes can never be valid (overlong forms,
 * surrogates and code points above U+10FFFF included), -1 when they are a
 * valid start cut short by the end of the buffer. */
int lp_utf8_len(const unsigned char *s, size_t avail);

/* 1-based line and column (in characters) of byte offset pos. */
void lp_line_col(const unsigned char *s, size_t pos, size_t *line, size_t *col);

#endif
