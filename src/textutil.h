/* textutil.h - small text helpers shared by the model files: reason strings,
 * UTF-8 sequence lengths, JSON whitespace, line/column of a byte offset, and
 * how a NUL character is held inside a C string.
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

/* A NUL character inside text (a JSON "\u0000", in a name or any string of
 * a parsed answer): C0 80, U+0000 as "modified UTF-8" writes it, which is
 * never valid UTF-8 otherwise, so a C string can hold it and nothing else
 * reads the same (json_exact.h makes it; json_print.c, names.c show it). */
#define LP_TEXT_NUL "\xC0\x80"
#define LP_TEXT_NUL_LEN 2

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
