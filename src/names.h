/* names.h - audience names: the API's name rule, and the encoding between a
 * name and the directory that shows it (and back, for mkdir and rename).
 *
 * Ownership: lp_name_encode and lp_name_decode return malloc'd text the
 * caller frees; reason buffers belong to the caller.
 */
#ifndef LEADPIPEFS_NAMES_H
#define LEADPIPEFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define LP_NAME_MAX_CHARS 255 /* API limit on name, in characters */
#define LP_FILENAME_MAX 255   /* bytes in one path component */
/* The control directory at the mount's root takes this name (SPEC). */
#define LP_CONTROL_DIR_TAIL "leadpipe"
#define LP_CONTROL_DIR "." LP_CONTROL_DIR_TAIL

/* Name rule: 1 to 255 characters (UTF-8 code points), valid UTF-8; a NUL
 * (the API's "\u0000") is held as LP_TEXT_NUL (textutil.h) and counts as one. */
int lp_name_validate(const char *name, char *reason, size_t reasonlen);

/* Directory names (see the man page, NAME ENCODING):
 * - a valid, unique name is shown as is;
 * - "/" shows as U+2215 (DIVISION SLASH); "" shows as U+2205 (EMPTY SET);
 *   a NUL (LP_TEXT_NUL) shows as U+2400 (SYMBOL FOR NULL);
 *   "." and ".." show with U+2024 (ONE DOT LEADER) for each dot, and so does
 *   the leading dot of ".leadpipe" (the control directory's name);
 * - a literal U+2215, U+2205, U+2024, U+2053, U+201B, U+2400 in a name is
 *   preceded by the escape U+201B (SINGLE HIGH-REVERSED-9 QUOTATION MARK);
 * - a name shared with an earlier audience, or longer than 255 bytes once
 *   encoded, gets the suffix U+2053 (SWUNG DASH) + the first 8 characters of
 *   its id (the encoded name cut at a character boundary to make room).
 * lp_name_encode returns malloc'd text; `suffix_id` NULL means no suffix. */
char *lp_name_encode(const char *name, const char *suffix_id);
/* Inverse for mkdir/rename: undoes escapes and drops a U+2053 suffix.
 * Returns malloc'd name, or NULL with errno=EINVAL for a malformed escape or
 * the bytes C0 80 (a NUL is typed as U+2400). */
char *lp_name_decode(const char *dirname);

#endif
