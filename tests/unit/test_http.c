/* test_http.c - what http.c leaves behind in freed memory.
 *
 * curl_slist_append copies each header line, the "x-api-key: ..." one too, so
 * the lists must be wiped before curl_slist_free_all hands them back to malloc.
 * This program defines curl_slist_free_all itself: http.c's calls land here
 * (the executable's definition comes first), the lists are inspected, then
 * passed on to libcurl's own function.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http.h"
#include "testutil.h"

#define KEY "sk_test_wiped_on_free"

static int lists_freed;
static int lines_with_key; /* lines still holding the key (or its header name) at free */

void curl_slist_free_all(struct curl_slist *list)
{
    static void (*real)(struct curl_slist *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "curl_slist_free_all");
    if (list)
        lists_freed++;
    for (struct curl_slist *l = list; l; l = l->next)
        if (l->data && (strstr(l->data, KEY) || strncasecmp(l->data, "x-api-key", 9) == 0))
            lines_with_key++;
    if (real)
        real(list);
}

static void test_header_lists_wiped(void)
{
    struct lp_http_options o = {.base_url = "http://127.0.0.1:9", .api_key = KEY};
    lp_http *h = lp_http_new(&o);
    CHECK(h != NULL);
    lists_freed = lines_with_key = 0;
    lp_http_free(h);
    CHECK_INT(lists_freed, 3); /* without a body, with one, for streams */
    CHECK_INT(lines_with_key, 0);
}

int main(void)
{
    test_header_lists_wiped();
    return lp_test_summary();
}
