// SPDX-License-Identifier: GPL-2.0-only
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <libgen.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api.h"
#include "log.h"
#include "util.h"

#define MAX_PEER_GROUPS 64
#define MAX_WAITING 256

struct listener {
	struct MHD_Daemon *mhd;
	struct api_server *srv;
	bool tcp;		/* requests must carry the token */
};

struct api_server {
	struct listener l[2];
	int n;
	const struct api_route *routes;
	char socket_path[PATH_MAX];
	char token[256];
	gid_t admin_gid;
	bool have_admin_gid;
	struct MHD_Connection *waiting[MAX_WAITING];
	size_t n_waiting;
};

/* Per-connection request state while MHD hands us the body in pieces. */
struct conn_ctx {
	char *buf;
	size_t len;
	bool too_big;
	uint64_t wait_until;
};

unsigned api_error(struct api_response *resp, unsigned status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(resp->json);
	resp->json = json_pack("{s:s}", "error", msg);
	resp->status = status;
	return status;
}

const char *api_query(struct api_request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool api_query_u64(struct api_request *req, const char *key, uint64_t max, uint64_t *out,
		   struct api_response *resp)
{
	const char *v = api_query(req, key);

	if (!v)
		return true;
	if (parse_u64(v, out) || *out > max) {
		api_error(resp, 400, "%s must be a number 0..%llu, not '%s'", key, (unsigned long long)max, v);
		return false;
	}
	return true;
}

bool api_body_fields(struct api_request *req, const char *const *allowed, struct api_response *resp)
{
	const char *key;
	json_t *v;

	if (!json_is_object(req->body)) {
		api_error(resp, 400, "the request body must be a JSON object");
		return false;
	}
	json_object_foreach(req->body, key, v) {
		char names[256] = "";
		bool known = false;

		for (size_t i = 0; allowed[i]; i++) {
			known |= streq(allowed[i], key);
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
				 allowed[i]);
		}
		if (!known) {
			/* A typo must not pass as a default: "tll" would make a block permanent. */
			api_error(resp, 400, "unknown field '%s' (known: %s)", key, names);
			return false;
		}
	}
	return true;
}

static bool peer_in_group(int fd, gid_t primary, gid_t want)
{
	gid_t groups[MAX_PEER_GROUPS];
	socklen_t len = sizeof(groups);

	if (primary == want)
		return true;
	/* SO_PEERGROUPS: the supplementary groups the peer had when it connected. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == want)
			return true;
	return false;
}

static bool token_ok(struct api_server *s, struct MHD_Connection *conn)
{
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	size_t tlen = strlen(s->token), alen;
	unsigned char diff = 0;

	if (!auth || strncmp(auth, "Bearer ", 7) || !tlen)
		return false;
	auth += 7;
	alen = strlen(auth);
	/* Constant time in the token's length, so timing does not reveal a prefix. */
	for (size_t i = 0; i < tlen; i++)
		diff |= (unsigned char)(s->token[i] ^ (i < alen ? auth[i] : 0));
	return diff == 0 && alen == tlen;
}

static void identify(struct api_server *s, const struct listener *l, struct MHD_Connection *conn,
		     struct api_request *req)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof(cred);

	memset(&req->actor, 0, sizeof(req->actor));
	req->privileged = false;
	if (l->tcp) {
		req->actor.kind = ACTOR_TOKEN;
		req->actor.uid = (uid_t)-1;
		req->privileged = token_ok(s, conn);
		return;
	}
	req->actor.kind = ACTOR_PEER;
	req->actor.uid = (uid_t)-1;
	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return;
	req->actor.uid = cred.uid;
	req->actor.gid = cred.gid;
	req->actor.pid = cred.pid;
	pid_comm(cred.pid, req->actor.comm, sizeof(req->actor.comm));
	req->privileged = cred.uid == 0 ||
			  (s->have_admin_gid && peer_in_group(ci->connect_fd, cred.gid, s->admin_gid));
}

static const struct api_route *find_route(const struct api_route *routes, const char *method,
					  const char *path, bool *path_known)
{
	*path_known = false;
	for (const struct api_route *r = routes; r->path; r++) {
		size_t n = strlen(r->path);
		bool match = r->path[n - 1] == '/' ? strncmp(path, r->path, n) == 0 : streq(path, r->path);

		if (!match)
			continue;
		*path_known = true;
		if (streq(r->method, method))
			return r;
	}
	return NULL;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct api_response *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *body;
	const char *ctype = resp->content_type;

	if (resp->json) {
		body = json_dumps(resp->json, JSON_INDENT(2) | JSON_SORT_KEYS);
		json_decref(resp->json);
		resp->json = NULL;
		ctype = "application/json";
		if (body) {
			size_t n = strlen(body);
			char *nb = realloc(body, n + 2);

			if (nb) {
				body = nb;
				body[n] = '\n';
				body[n + 1] = '\0';
			}
		}
	} else {
		body = resp->text;
		resp->text = NULL;
	}
	if (!body)
		body = strdup("");
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", ctype ? ctype : "text/plain; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static void dispatch(struct api_server *s, const struct listener *l, struct MHD_Connection *conn,
		     const char *method, const char *url, struct conn_ctx *ctx, struct api_response *resp)
{
	struct api_request req = { .method = method, .path = url, .conn = conn,
				   .wait_until = &ctx->wait_until };
	const struct api_route *route;
	bool path_known;
	json_error_t jerr;

	identify(s, l, conn, &req);
	route = find_route(s->routes, method, url, &path_known);
	if (l->tcp && !req.privileged) {
		/* Over TCP nothing is answered without the token, reads included. */
		audit_log(&req.actor, route && route->op ? route->op : "request", url, AUDIT_REFUSED,
			  "missing or wrong token", NULL);
		api_error(resp, 401, "this listener needs 'Authorization: Bearer <token>' (agent.token_file)");
		return;
	}
	if (!route) {
		if (path_known)
			api_error(resp, 405, "method %s not allowed on %s", method, url);
		else
			api_error(resp, 404, "no such endpoint: %s %s (see docs/api.md)", method, url);
		return;
	}
	if (route->change && !req.privileged) {
		audit_log(&req.actor, route->op ? route->op : url, url, AUDIT_REFUSED,
			  "permission denied: changes need root or agent.admin_group", NULL);
		api_error(resp, 403, "permission denied: uid %d may not change state (root or the "
			  "agent.admin_group may)", (int)req.actor.uid);
		return;
	}
	if (ctx->too_big) {
		api_error(resp, 413, "request body larger than %u MiB", API_MAX_BODY >> 20);
		return;
	}
	if (route->raw) {
		req.raw = ctx->buf ? ctx->buf : "";
		req.raw_len = ctx->len;
	} else if (ctx->len) {
		req.body = json_loadb(ctx->buf, ctx->len, JSON_REJECT_DUPLICATES, &jerr);
		if (!req.body) {
			api_error(resp, 400, "request body is not valid JSON: line %d column %d: %s",
				  jerr.line, jerr.column, jerr.text);
			return;
		}
	}
	resp->status = 200;
	route->fn(&req, resp);
	json_decref(req.body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **con_cls)
{
	const struct listener *l = cls;
	struct api_server *s = l->srv;
	struct conn_ctx *ctx = *con_cls;
	struct api_response resp = { .status = 500 };

	if (!ctx) {
		ctx = calloc(1, sizeof(*ctx));
		if (!ctx)
			return MHD_NO;
		*con_cls = ctx;
		return MHD_YES;
	}
	if (*upload_size) {
		if (ctx->len + *upload_size > API_MAX_BODY) {
			ctx->too_big = true;
		} else {
			char *nb = realloc(ctx->buf, ctx->len + *upload_size);

			if (!nb)
				return MHD_NO;
			ctx->buf = nb;
			memcpy(ctx->buf + ctx->len, upload_data, *upload_size);
			ctx->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	dispatch(s, l, conn, method, url, ctx, &resp);
	if (resp.status == API_SUSPEND) {
		if (s->n_waiting < MAX_WAITING) {
			s->waiting[s->n_waiting++] = conn;
			MHD_suspend_connection(conn);
			return MHD_YES;
		}
		api_error(&resp, 503, "too many waiting requests (%d)", MAX_WAITING);
	}
	return send_response(conn, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_ctx *ctx = *con_cls;

	if (ctx) {
		free(ctx->buf);
		free(ctx);
		*con_cls = NULL;
	}
}

static int bind_unix(const struct aegis_config *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	gid_t gid = 0;
	int fd, err;

	if (strlen(cfg->socket_path) >= sizeof(sa.sun_path))
		return pr_err_errno(-ENAMETOOLONG, "agent.socket %s", cfg->socket_path);
	if (cfg->socket_group) {
		struct group *gr = getgrnam(cfg->socket_group);

		if (!gr)
			return pr_err_errno(-ENOENT, "agent.socket_group '%s': no such group", cfg->socket_group);
		gid = gr->gr_gid;
	}
	snprintf(dir, sizeof(dir), "%s", cfg->socket_path);
	err = mkdir_p(dirname(dir), 0755);
	if (err)
		return pr_err_errno(err, "cannot create the directory of %s", cfg->socket_path);
	/* A live socket means another agent runs; a dead one is a leftover of a crash. */
	if (unix_socket_answers(cfg->socket_path)) {
		pr_err("another agent is already serving %s", cfg->socket_path);
		return -EADDRINUSE;
	}
	unlink(cfg->socket_path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cfg->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pr_err_errno(-errno, "socket(AF_UNIX)");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chown(cfg->socket_path, 0, gid) ||
	    chmod(cfg->socket_path, 0660) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return pr_err_errno(err, "cannot serve the API on %s", cfg->socket_path);
	}
	return fd;
}

static int bind_tcp(const struct aegis_config *cfg)
{
	struct sockaddr_storage ss = {};
	socklen_t sslen;
	char host[64];
	const char *colon = strrchr(cfg->listen_tcp, ':');
	uint64_t port;
	int fd, one = 1, err;

	if (!colon || (size_t)(colon - cfg->listen_tcp) >= sizeof(host) || parse_u64(colon + 1, &port) ||
	    !port || port > 65535)
		return pr_err_errno(-EINVAL, "agent.listen_tcp '%s': expected HOST:PORT", cfg->listen_tcp);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - cfg->listen_tcp), cfg->listen_tcp);
	if (host[0] == '[') {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;

		host[strlen(host) - 1] = '\0';
		sa->sin6_family = AF_INET6;
		sa->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &sa->sin6_addr) != 1)
			return pr_err_errno(-EINVAL, "agent.listen_tcp '%s': bad address", cfg->listen_tcp);
		sslen = sizeof(*sa);
	} else {
		struct sockaddr_in *sa = (struct sockaddr_in *)&ss;

		sa->sin_family = AF_INET;
		sa->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
			return pr_err_errno(-EINVAL, "agent.listen_tcp '%s': bad address", cfg->listen_tcp);
		sslen = sizeof(*sa);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pr_err_errno(-errno, "socket(TCP)");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return pr_err_errno(err, "cannot serve the API on %s", cfg->listen_tcp);
	}
	return fd;
}

static int read_token(struct api_server *s, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	int err;

	if (stat(path, &st))
		return pr_err_errno(-errno, "agent.token_file %s", path);
	if (st.st_mode & 0077)
		return pr_err_errno(-EPERM, "agent.token_file %s is readable by others (chmod 600 it)", path);
	err = read_file(path, &buf, NULL);
	if (err)
		return pr_err_errno(err, "agent.token_file %s", path);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) < 16 || strlen(buf) >= sizeof(s->token))
		return pr_err_errno(-EINVAL, "agent.token_file %s: the token must be 16..255 characters", path);
	snprintf(s->token, sizeof(s->token), "%s", buf);
	return 0;
}

static int start_listener(struct api_server *s, int fd, bool tcp)
{
	struct listener *l = &s->l[s->n];

	l->tcp = tcp;
	l->srv = s;
	l->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, l,
				  MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
				  NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_END);
	if (!l->mhd) {
		close(fd);
		return pr_err_errno(-EIO, "libmicrohttpd could not start on the %s listener", tcp ? "TCP" : "unix");
	}
	s->n++;
	return 0;
}

int api_start(struct api_server **out, const struct aegis_config *cfg, const struct api_route *routes)
{
	struct api_server *s = routes ? calloc(1, sizeof(*s)) : NULL;
	int fd, err;

	if (!s)
		return -ENOMEM;
	s->routes = routes;
	snprintf(s->socket_path, sizeof(s->socket_path), "%s", cfg->socket_path);
	if (cfg->admin_group) {
		struct group *gr = getgrnam(cfg->admin_group);

		if (!gr) {
			free(s);
			return pr_err_errno(-ENOENT, "agent.admin_group '%s': no such group", cfg->admin_group);
		}
		s->admin_gid = gr->gr_gid;
		s->have_admin_gid = true;
	}
	fd = bind_unix(cfg);
	if (fd < 0) {
		free(s);
		return fd;
	}
	err = start_listener(s, fd, false);
	if (!err && cfg->listen_tcp) {
		err = read_token(s, cfg->token_file);
		if (!err) {
			fd = bind_tcp(cfg);
			err = fd < 0 ? fd : start_listener(s, fd, true);
		}
	}
	if (err) {
		api_stop(s);
		return err;
	}
	pr_info("API listening on %s%s%s", cfg->socket_path, cfg->listen_tcp ? " and " : "",
		cfg->listen_tcp ? cfg->listen_tcp : "");
	*out = s;
	return 0;
}

int api_poll_fds(struct api_server *s, int *fds, int max)
{
	int n = 0;

	for (int i = 0; i < s->n && n < max; i++) {
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->l[i].mhd, MHD_DAEMON_INFO_EPOLL_FD);

		if (di)
			fds[n++] = di->epoll_fd;
	}
	return n;
}

void api_run(struct api_server *s)
{
	for (int i = 0; i < s->n; i++)
		MHD_run(s->l[i].mhd);
}

int api_timeout_ms(struct api_server *s)
{
	int best = -1;

	for (int i = 0; i < s->n; i++) {
		MHD_UNSIGNED_LONG_LONG t;

		if (MHD_get_timeout(s->l[i].mhd, &t) == MHD_YES) {
			int ms = t > INT_MAX ? INT_MAX : (int)t;

			if (best < 0 || ms < best)
				best = ms;
		}
	}
	return best;
}

void api_wake(struct api_server *s)
{
	size_t n = s ? s->n_waiting : 0;

	if (!n)
		return;
	/* Resumed handlers may suspend again and refill the list: take it first. */
	struct MHD_Connection *conns[MAX_WAITING];

	memcpy(conns, s->waiting, n * sizeof(conns[0]));
	s->n_waiting = 0;
	for (size_t i = 0; i < n; i++)
		MHD_resume_connection(conns[i]);
}

void api_stop(struct api_server *s)
{
	if (!s)
		return;
	api_wake(s);	/* MHD must not be stopped with suspended connections */
	for (int i = 0; i < s->n; i++)
		MHD_stop_daemon(s->l[i].mhd);
	if (s->socket_path[0])
		unlink(s->socket_path);
	free(s);
}
