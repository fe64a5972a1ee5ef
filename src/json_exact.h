/* json_exact.h - parsing JSON with cJSON without losing what cJSON would
 * lose: the exact value of a number a double cannot hold, and NUL characters
 * inside strings. Every parser of API answers and of config.json goes
 * through here (json_read.c, config.c, audience.c).
 *
 * Why cJSON alone cannot: it keeps a number only as a double, so the API's
 * 1234567890123456789 would reach cat, and go back in the next PATCH, as
 * 1234567890123456768 (0.10000000000000000001 as 0.1); and it hands strings
 * out NUL-terminated, so "a\u0000b" would be "a". A value the API sent must
 * come back exactly as sent, and a name must never be cut.
 *
 * How, with cJSON still doing the parsing: before it parses, each \u0000
 * escape inside a string becomes LP_TEXT_NUL (textutil.h: C0 80, never
 * valid UTF-8 otherwise), which cJSON copies into the string like any other
 * bytes; after it parses, each number whose canonical print (json_print.h)
 * would not say the same decimal value as its source text gets that text in
 * its valuestring, which cJSON leaves unused for numbers and yet frees
 * (cJSON_Delete) and copies (cJSON_Duplicate) like any other. json_print.c
 * prints that text, and C0 80 as \u0000. A number's valuedouble is cJSON's
 * as always.
 *
 * Ownership: lp_json_parse_exact returns a tree the caller cJSON_Deletes.
 */
#ifndef LEADPIPEFS_JSON_EXACT_H
#define LEADPIPEFS_JSON_EXACT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Parses one JSON value at the start of text[0..len) (no NUL terminator
 * needed) as cJSON_ParseWithLengthOpts does. *stop (stop may be NULL) is the
 * offset in text where parsing stopped: just past the value, or at the fault
 * when NULL is returned. */
cJSON *lp_json_parse_exact(const char *text, size_t len, size_t *stop);

/* True when number v is a whole number: judged by its source text when one
 * is kept (1.0000000000000000001 is not, though its double is 1). */
bool lp_json_number_is_integral(const cJSON *v);

#endif
