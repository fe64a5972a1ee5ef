/* json_scan.h - a strict, incremental JSON syntax scanner for text that must
 * be exactly one JSON object (config.json as it is being written).
 *
 * Why not just cJSON: cJSON alone cannot tell "not finished yet" from
 * "broken" (it fails at the 't' of a cut-off "tr", exactly as at a wrong
 * byte), so a write path fed a few bytes at a time could not know whether to
 * wait for more; and it accepts what JSON does not: control characters as
 * whitespace, raw control characters and invalid UTF-8 inside strings. This
 * scanner checks the bytes first, RFC 8259 to the letter, and says which of
 * the three cases holds. It also refuses what cJSON would get wrong or refuse
 * later: nesting deeper than CJSON_NESTING_LIMIT, numbers longer than the 63
 * characters cJSON reads and lone UTF-16 surrogates. (Numbers a double cannot
 * hold and \u0000 are fine: json_exact.h keeps them.) It builds no tree:
 * parse with lp_json_parse_exact after LP_SCAN_DONE. Nothing is allocated.
 */
#ifndef LEADPIPEFS_JSON_SCAN_H
#define LEADPIPEFS_JSON_SCAN_H

#include <stddef.h>

enum lp_scan_result {
    LP_SCAN_DONE, /* exactly one JSON object, plus whitespace */
    LP_SCAN_MORE, /* a prefix of one (or only whitespace): more bytes may complete it */
    LP_SCAN_BAD,  /* no bytes appended can ever make it one object */
};

/* Scans s[0..len) (no NUL terminator needed).
 * For LP_SCAN_BAD, *err_pos is the byte offset of the fault and *why says
 * what is wrong, worded to follow a subject ("is not valid JSON", "has a
 * control character inside a string"); *why is NULL when the text starts a
 * valid JSON value that is not an object. For the other results *err_pos is
 * where scanning stopped and *why is NULL. */
enum lp_scan_result lp_json_scan_object(const unsigned char *s, size_t len, size_t *err_pos,
                                        const char **why);

#endif
