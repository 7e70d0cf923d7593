// SPDX-License-Identifier: GPL-2.0-only
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "util.h"

struct buf {
	char *p;
	size_t len;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *userp)
{
	struct buf *b = userp;
	size_t n = size * nmemb;
	char *np = realloc(b->p, b->len + n + 1);

	if (!np)
		return 0;
	memcpy(np + b->len, data, n);
	b->p = np;
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static long os_errno(CURL *c)
{
	long e = 0;

	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &e);
	return e;
}

const char *client_socket_path(void)
{
	const char *env = getenv("AEGIS_SOCKET");

	return env && *env ? env : AEGIS_SOCKET_DEFAULT;
}

static long request(const char *method, const char *path, const char *data, size_t len,
		    const char *ctype, json_t **out, char **text)
{
	struct curl_slist *hdrs = NULL;
	struct buf resp = {};
	char url[2048], errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	CURL *c;

	*out = NULL;
	if (text)
		*text = NULL;
	if (curl_global_init(CURL_GLOBAL_NOTHING) || !(c = curl_easy_init())) {
		fprintf(stderr, "aegis: cannot initialise libcurl\n");
		return 0;
	}
	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, client_socket_path());
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
	if (data) {
		char h[128];

		snprintf(h, sizeof(h), "Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, h);
		hdrs = curl_slist_append(hdrs, "Expect:");	/* no 100-continue round trip */
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	} else if (rc == CURLE_COULDNT_CONNECT && os_errno(c) == EACCES) {
		fprintf(stderr, "aegis: permission denied on %s: the API is for root and the members of "
				"agent.socket_group\n", client_socket_path());
	} else if (rc == CURLE_COULDNT_CONNECT) {
		fprintf(stderr, "aegis: the agent is not running (nothing answers on %s; start it with "
				"`aegis agent`)\n", client_socket_path());
	} else {
		fprintf(stderr, "aegis: request to the agent on %s failed: %s\n", client_socket_path(),
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	if (status && resp.p) {
		*out = json_loads(resp.p, 0, NULL);
		if (!*out && text) {
			*text = resp.p;
			resp.p = NULL;
		}
	}
	free(resp.p);
	return status;
}

long client_request(const char *method, const char *path, json_t *body, json_t **out, char **text)
{
	char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
	long status;

	if (body && !payload) {
		fprintf(stderr, "aegis: cannot encode the request\n");
		*out = NULL;
		return 0;
	}
	status = request(method, path, payload, payload ? strlen(payload) : 0, "application/json", out, text);
	free(payload);
	return status;
}

static int finish_call(long status, json_t *resp, json_t **out)
{
	*out = NULL;
	if (!status)
		return 1;
	if (status < 200 || status >= 300) {
		const char *msg = json_string_value(json_object_get(resp, "error"));

		fprintf(stderr, "aegis: %s (HTTP %ld)\n", msg ? msg : "request failed", status);
		json_decref(resp);
		return 1;
	}
	*out = resp;
	return 0;
}

int client_call(const char *method, const char *path, json_t *body, json_t **out)
{
	json_t *resp;
	long status = client_request(method, path, body, &resp, NULL);

	return finish_call(status, resp, out);
}

int client_call_text(const char *path, const char *data, size_t len, json_t **out)
{
	json_t *resp;
	long status = request("POST", path, data, len, "text/plain", &resp, NULL);

	return finish_call(status, resp, out);
}

void print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
}
