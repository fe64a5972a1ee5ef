/* control_text.c - account.json, filters.json and topics.tsv from the API's
 * answers (see control_text.h).
 */
#include "control_text.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_print.h"
#include "json_read.h"
#include "sbuf.h"
#include "textutil.h"

int lp_parse_pretty_at(const char *body, size_t len, const char *member, char **text,
                       size_t *text_len, char *err, size_t errlen)
{
    const cJSON *data;
    cJSON *root = lp_json_parse_answer(body, len, &data, err, errlen);
    const cJSON *v = member ? cJSON_GetObjectItemCaseSensitive(data, member) : data;

    *text = NULL;
    *text_len = 0;
    if (!root)
        return -1;
    if (member && !cJSON_IsObject(data))
        lp_set_reason(err, errlen, "the API's \"data\" is not an object");
    else if (member && !cJSON_IsObject(v))
        lp_set_reason(err, errlen, "the API's \"data\" has no \"%s\" object", member);
    else if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        lp_set_reason(err, errlen, "the API's \"data\" is neither an object nor a list");
    else if (!(*text = lp_json_pretty(v, SIZE_MAX))) /* no limit: nothing writes these back */
        lp_set_reason(err, errlen, "out of memory");
    cJSON_Delete(root);
    if (!*text)
        return -1;
    *text_len = strlen(*text);
    return 0;
}

int lp_parse_data_pretty(const char *body, size_t len, char **text, size_t *text_len, char *err,
                         size_t errlen)
{
    return lp_parse_pretty_at(body, len, NULL, text, text_len, err, errlen);
}

const char *lp_topics_tsv_header(void)
{
    return "topicId\ttopicName\ttype\tindustry\tcategory\n";
}

/* Appends s with each tab, CR and LF replaced by a space. */
static void put_tsv_text(struct lp_sbuf *b, const char *s)
{
    size_t run;

    while (*s) {
        run = strcspn(s, "\t\r\n");
        lp_sb_add(b, s, run);
        s += run;
        if (*s) {
            lp_sb_addc(b, ' ');
            s++;
        }
    }
}

/* Appends member key of item as one TSV field (see control_text.h). */
static void put_tsv_field(struct lp_sbuf *b, const cJSON *item, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, key);

    if (!v || cJSON_IsNull(v))
        return;
    if (cJSON_IsString(v)) {
        put_tsv_text(b, v->valuestring ? v->valuestring : "");
        return;
    }
    /* Compact JSON has no raw tab, CR or LF (strings escape them). */
    char *json = lp_json_compact(v);
    if (!json) {
        b->failed = true;
        return;
    }
    lp_sb_adds(b, json);
    free(json);
}

int lp_parse_topics_page(const char *body, size_t len, struct lp_sbuf *tsv, size_t *items,
                         long long *total, char *err, size_t errlen)
{
    static const char *const fields[] = {"topicId", "topicName", "type", "industry", "category"};
    const size_t nfields = sizeof fields / sizeof fields[0];
    const size_t mark = tsv->len;
    const cJSON *data, *item;
    size_t k = 0;

    *items = 0;
    *total = -1;
    lp_set_reason(err, errlen, "%s", "");
    cJSON *root = lp_json_parse_list_answer(body, len, &data, err, errlen);
    if (!root)
        return -1;
    cJSON_ArrayForEach(item, data)
    {
        k++;
        if (!cJSON_IsObject(item)) {
            /* One odd item must not hide the other topics; the first reason
             * stays in err for the caller to log. */
            if (err && errlen && !err[0])
                lp_set_reason(err, errlen, "topic %zu of the list is not a JSON object", k);
            continue;
        }
        for (size_t f = 0; f < nfields; f++) {
            if (f > 0)
                lp_sb_addc(tsv, '\t');
            put_tsv_field(tsv, item, fields[f]);
        }
        lp_sb_addc(tsv, '\n');
    }
    if (tsv->failed) {
        lp_sb_truncate(tsv, mark);
        lp_set_reason(err, errlen, "out of memory");
        cJSON_Delete(root);
        return -1;
    }
    *items = k;
    *total = lp_json_meta_total(root);
    cJSON_Delete(root);
    return 0;
}
