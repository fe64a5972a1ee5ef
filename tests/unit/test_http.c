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
#include "http_int.h"
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

/* curl's words for each problem (OpenSSL 3 through curl 7.88, as the TLS
 * tests see them) tell the problems apart; other codes are no certificate's. */
static void test_cert_problem(void)
{
    static const struct {
        CURLcode rc;
        const char *text;
        enum lp_cert_problem want;
    } cases[] = {
        {CURLE_PEER_FAILED_VERIFICATION,
         "SSL certificate problem: unable to get local issuer certificate", LP_CERT_UNKNOWN_CA},
        {CURLE_PEER_FAILED_VERIFICATION, "SSL certificate problem: self-signed certificate",
         LP_CERT_UNKNOWN_CA},
        {CURLE_PEER_FAILED_VERIFICATION, "SSL certificate problem: certificate has expired",
         LP_CERT_EXPIRED},
        {CURLE_PEER_FAILED_VERIFICATION, "SSL certificate problem: certificate is not yet valid",
         LP_CERT_EXPIRED},
        {CURLE_PEER_FAILED_VERIFICATION,
         "SSL: no alternative certificate subject name matches target host name 'expired.test'",
         LP_CERT_WRONG_HOST},
        {CURLE_PEER_FAILED_VERIFICATION, "SSL certificate problem: certificate revoked",
         LP_CERT_OTHER},
        {CURLE_PEER_FAILED_VERIFICATION, "", LP_CERT_OTHER},
        {CURLE_SSL_CACERT_BADFILE, "error setting certificate file: /x", LP_CERT_CAFILE},
        {CURLE_COULDNT_CONNECT, "Failed to connect to 127.0.0.1 port 9: certificate", LP_CERT_NONE},
        {CURLE_SSL_CONNECT_ERROR, "OpenSSL SSL_connect: Connection reset by peer", LP_CERT_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_INT(lp_http_cert_problem(cases[i].rc, cases[i].text), cases[i].want);
    CHECK_INT(lp_http_cert_problem(CURLE_PEER_FAILED_VERIFICATION, NULL), LP_CERT_OTHER);
    CHECK_STR(lp_http_cert_words(LP_CERT_NONE), "");
    CHECK_STR(lp_http_cert_words(LP_CERT_EXPIRED), "it has expired or is not valid yet");
}

int main(void)
{
    test_header_lists_wiped();
    test_cert_problem();
    return lp_test_summary();
}
