/* json_print.h - prints a cJSON tree as compact or as pretty (2-space
 * indented) JSON text, stable across round trips; the model's own printer.
 *
 * cJSON's printer is not used for output: it prints integral numbers from
 * 1e15 up in exponent form and may round a double by one ulp. Here whole
 * numbers below 1e21 print as integers, other numbers as the shortest %g form
 * that reads back to the same double, and a non-finite number as null; a
 * number that keeps its source text (json_exact.h: one a double cannot hold)
 * prints as that text, and a NUL held in a string (C0 80) as \u0000.
 * Ownership: both printers return malloc'd text the caller frees, or NULL
 * (errno ENOMEM).
 */
#ifndef LEADPIPEFS_JSON_PRINT_H
#define LEADPIPEFS_JSON_PRINT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* 2^53: from here on every double is a whole number, and not every whole
 * number is a double. */
#define LP_JSON_EXACT_INT_LIMIT 9007199254740992.0

/* True when d is finite and a whole number. */
bool lp_json_is_integral(double d);

/* Room for a number's text: cJSON reads at most 63 characters of one, and
 * the canonical form of a double is shorter. */
#define LP_JSON_NUMBER_TEXT 64
/* The canonical text of d (as the printers print a number without source
 * text) into out, NUL-terminated; out holds LP_JSON_NUMBER_TEXT bytes. */
void lp_json_number_text(double d, char *out, size_t outlen);

/* Compact JSON of v: no whitespace at all. */
char *lp_json_compact(const cJSON *v);

/* Pretty JSON of v ending in "\n": "key": value, 2-space indent, an array of
 * scalars on one line when that line stays under 80 characters. When the
 * indented text would reach limit bytes, the compact text (plus "\n") instead. */
char *lp_json_pretty(const cJSON *v, size_t limit);

#endif
