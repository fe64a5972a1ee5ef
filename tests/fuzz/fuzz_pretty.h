/* fuzz_pretty.h - the check the fuzz targets share for an answer turned into
 * pretty JSON (account.json, filters.json, stats.json): refused with a
 * reason and nothing returned, or text that ends in "\n", is as long as said
 * and parses again as an object (or, when lists_too, a list). Frees text. */
#ifndef LEADPIPEFS_FUZZ_PRETTY_H
#define LEADPIPEFS_FUZZ_PRETTY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline void check_pretty(int rc, char *text, size_t len, const char *err, bool lists_too)
{
    if (rc != 0) {
        if (text || len || !err[0])
            abort();
        return;
    }
    if (!text || len == 0 || len != strlen(text) || text[len - 1] != '\n')
        abort();
    cJSON *again = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(again) && !(lists_too && cJSON_IsArray(again)))
        abort();
    cJSON_Delete(again);
    free(text);
}

#endif
