/* control_text.h - the text of the control directory's read-only files, made
 * from the API's answers: account.json and filters.json (an answer's "data"
 * as pretty JSON) and topics.tsv (the topic list as tab-separated lines).
 *
 * Pure functions over cJSON; no I/O. Parsing never crashes on hostile input:
 * wrong types are an error or, for one topic of a page, that topic left out.
 */
#ifndef LEADPIPEFS_CONTROL_TEXT_H
#define LEADPIPEFS_CONTROL_TEXT_H

#include <stddef.h>

struct lp_sbuf;

/* {"data": <object or array>, ...} -> the data value as pretty JSON ending in
 * "\n" (2-space indent, as config.json; numbers as json_print.h prints them:
 * whole numbers as integers, as the API sent them). *text is malloc'd (the
 * caller frees it), *text_len its length. Returns 0, or -1 with *text NULL and
 * a reason in err when the body is not JSON, has no "data", or its data is
 * neither an object nor an array (or on no memory). */
int lp_parse_data_pretty(const char *body, size_t len, char **text, size_t *text_len, char *err,
                         size_t errlen);
/* The same for data.<member> when member is not NULL: data must be an object
 * and its member an object (run stats: run.h). */
int lp_parse_pretty_at(const char *body, size_t len, const char *member, char **text,
                       size_t *text_len, char *err, size_t errlen);

/* The first line of topics.tsv: "topicId\ttopicName\ttype\tindustry\tcategory\n". */
const char *lp_topics_tsv_header(void);

/* One page of GET /v1/intent/topics, {"data":[{topicId, topicName, type,
 * industry, category}...], "meta":{"total":T,...}?}: appends one line per
 * topic to tsv, its fields in the header's order, tab-separated, ending in
 * "\n". A string field is written as it is, with each tab, CR and LF in it
 * replaced by a space; a missing or null one is empty; a number (topicId)
 * prints as json_print.h prints it (an integer as an integer); any other
 * value as compact JSON. An item that is not an object is left out (no line),
 * its reason in err, and the call still succeeds.
 * *items is the number of elements of data, those left out included (what an
 * offset counts); *total is meta.total, or -1 when the answer has none.
 * Returns 0, or -1 with a reason (not JSON, no "data", data not a list, no
 * memory): then tsv holds what it held before (after no memory it is marked
 * failed, see sbuf.h), *items is 0 and *total -1. */
int lp_parse_topics_page(const char *body, size_t len, struct lp_sbuf *tsv, size_t *items,
                         long long *total, char *err, size_t errlen);

#endif
