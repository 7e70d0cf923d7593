// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sampled drop records from the guard's ring buffer, turned into "drop" events: who was dropped
 * on which interface, why, by which entry or limit, and the first bytes of the packet (base64,
 * which `aegis capture` writes to a pcap).
 */
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "guard_events.h"
#include "log.h"
#include "util.h"

#define RL_CLASS_NAME(id, name) name,
static const char *const rl_class_names[GUARD_RL_CLASS_COUNT] = { GUARD_RL_CLASSES(RL_CLASS_NAME) };
#undef RL_CLASS_NAME

const char *guard_rl_class_name(unsigned c)
{
	return c < GUARD_RL_CLASS_COUNT ? rl_class_names[c] : "?";
}

static void base64(const uint8_t *in, size_t len, char *out)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);

		out[o++] = tbl[(v >> 18) & 63];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? tbl[v & 63] : '=';
	}
	out[o] = '\0';
}

static void addr_text(int family, const uint8_t *a, char *buf, size_t len)
{
	if (family == 2 || family == 10)
		inet_ntop(family == 2 ? AF_INET : AF_INET6, a, buf, (socklen_t)len);
	else
		snprintf(buf, len, "-");
}

/* The entry or limit that decided: the source address cut to the matched prefix length. */
static json_t *match_json(const struct guard_events_ctx *ctx, const struct guard_event *e)
{
	struct cidr c = { .family = e->family == 2 ? AF_INET : AF_INET6, .prefixlen = e->match_prefixlen };
	char text[CIDR_STRLEN];
	unsigned bits = e->family == 2 ? 32 : 128;

	if (e->match == GUARD_MATCH_NONE || (e->family != 2 && e->family != 10))
		return json_null();
	memcpy(c.addr, e->saddr, 16);
	if (c.prefixlen > bits)
		c.prefixlen = (uint8_t)bits;
	for (unsigned i = c.prefixlen; i < bits; i++)
		c.addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	cidr_format(&c, text, sizeof(text));
	if (e->match == GUARD_MATCH_RATE_LIMIT)
		return json_pack("{s:s, s:s, s:s}", "kind", "rate_limit", "class",
				 guard_rl_class_name(e->rl_class), "prefix", text);
	return json_pack("{s:s, s:s, s:s, s:s}", "kind",
			 e->match == GUARD_MATCH_BLOCK_SCOPED ? "block_scoped" : "block", "cidr", text,
			 "origin", e->rule_origin < GUARD_ORIGIN_COUNT ? origin_names[e->rule_origin] : "?",
			 "reason", ctx->lists ? decisions_reason(&ctx->lists->store, e->rule_reason_id) : "");
}

json_t *guard_event_json(const struct guard_events_ctx *ctx, const struct guard_event *e)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], ifname[IF_NAMESIZE] = "?", when[40];
	char data[4 * (GUARD_EVENT_SNAPLEN + 2) / 3 + 4];
	uint64_t now_rt = now_realtime_ns(), now_boot = now_boottime_ns();
	size_t cap = e->cap_len <= GUARD_EVENT_SNAPLEN ? e->cap_len : GUARD_EVENT_SNAPLEN;
	json_t *j;

	if_indextoname(e->ifindex, ifname);
	addr_text(e->family, e->saddr, src, sizeof(src));
	addr_text(e->family, e->daddr, dst, sizeof(dst));
	format_rfc3339(now_rt - (now_boot > e->ts_ns ? now_boot - e->ts_ns : 0), when, sizeof(when));
	base64(e->data, cap, data);
	j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:o, s:I, s:I, s:I, s:s}",
		      "time", when, "interface", ifname, "ifindex", (json_int_t)e->ifindex, "reason",
		      e->reason < GUARD_REASON_COUNT ? guard_reason_names[e->reason] : "?", "verdict",
		      e->verdict == GUARD_EVENT_DROPPED ? "dropped" : "would_drop", "src", src, "dst", dst,
		      "proto", e->proto, "sport", ntohs(e->sport), "dport", ntohs(e->dport), "match",
		      match_json(ctx, e), "pkt_len", (json_int_t)e->pkt_len, "cap_len", (json_int_t)cap,
		      "sample_every", (json_int_t)e->sample_every, "data", data);
	return j;
}

static int on_record(void *arg, void *data, size_t size)
{
	struct guard_events_ctx *ctx = arg;

	if (size < sizeof(struct guard_event)) {
		log_once(LOG_LVL_WARN, "guard-event-size", "guard: a drop record of %zu bytes, expected %zu: "
			 "ignored (datapath and agent from different builds?)", size, sizeof(struct guard_event));
		return 0;
	}
	ctx->received++;
	events_publish("drop", guard_event_json(ctx, data));
	return 0;
}

int guard_events_open(struct guard_events_ctx *ctx, const struct guard *g, struct lists *l)
{
	int fd = bpfobj_map_fd(&g->obj, "guard_events");

	memset(ctx, 0, sizeof(*ctx));
	ctx->lists = l;
	if (!g->running)
		return 0;
	if (fd < 0)
		return pr_err_errno(-ENOENT, "guard: no guard_events map");
	ctx->rb = ring_buffer__new(fd, on_record, ctx, NULL);
	if (!ctx->rb)
		return pr_err_errno(-errno, "guard: cannot open the guard_events ring buffer");
	return 0;
}

int guard_events_fd(const struct guard_events_ctx *ctx)
{
	return ctx->rb ? ring_buffer__epoll_fd(ctx->rb) : -1;
}

void guard_events_consume(struct guard_events_ctx *ctx)
{
	if (ctx->rb && ring_buffer__consume(ctx->rb) < 0)
		log_once(LOG_LVL_WARN, "guard-events-consume", "guard: reading drop records: %s", strerror(errno));
}

void guard_events_close(struct guard_events_ctx *ctx)
{
	ring_buffer__free(ctx->rb);
	ctx->rb = NULL;
}
