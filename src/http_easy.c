/* http_easy.c - the options every easy handle of a client gets once, whether
 * the event thread's pool (http_loop.c) or a thread's own handle for a
 * streamed GET (http_thread.c) made it. Its own file so that both sit below
 * http.c, which drives them, and neither needs to call back up into it.
 */
#include <curl/curl.h>

#include "http_int.h"
#include "lp_config.h"

/* The options that never change for this client; set once per handle. */
static int configure_easy(struct lp_http *h, CURL *c, char *errbuf)
{
    if (curl_easy_setopt(c, CURLOPT_SHARE, h->share) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
        return -1;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 60L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 30L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "leadpipefs/" LP_VERSION); /* curl copies it */
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");                 /* whatever curl can decode */
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)LP_HTTP_MAX_BODY);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, lp_http_write_body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    /* Only the CAs of this file are trusted then: a proxy that re-signs TLS
     * is trusted by naming its CA, never by turning verification off. */
    if (h->ca_file && curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file) != CURLE_OK)
        return -1;
    return 0;
}

CURL *lp_http_new_easy(struct lp_http *h, char *errbuf)
{
    CURL *c = curl_easy_init();
    if (c && configure_easy(h, c, errbuf) != 0) {
        curl_easy_cleanup(c);
        c = NULL;
    }
    return c;
}
