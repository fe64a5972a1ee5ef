/* forbid/curl.h - forced into every layer but the network one (meson's
 * `-include`): any use of libcurl there, its header included, fails to build. */
#pragma GCC poison CURL CURLcode CURLM CURLSH curl_easy_init curl_global_init curl_slist
