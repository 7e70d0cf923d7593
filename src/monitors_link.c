// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-interface counters as the kernel keeps them for each device (struct rtnl_link_stats64,
 * what `ip -s link` and node_exporter show), read with one RTM_GETLINK dump on a NETLINK_ROUTE
 * socket: one request for every interface, and the socket's own network namespace, so the
 * agent's namespace, is the one counted. Nothing runs per packet for these: the driver or the
 * core already counts, and the agent reads when asked.
 *
 * The parser trusts nothing about the messages' framing: every length is checked against what
 * is left, so a malformed message is skipped (and counted), never read past.
 */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "monitors.h"
#include "netns.h"
#include "util.h"

/* The dump's datagrams: the kernel sizes them to at most 32 KiB (netlink_recvmsg's cap). */
#define DUMP_BUF (32 * 1024)
#define DUMP_TRIES 3		/* a dump interrupted by a link change is started again */
#define DUMP_TIMEOUT_S 2	/* never hold the agent's loop on a silent socket */

/* The first eight counters of rtnl_link_stats64, in its order, stable since Linux 2.6.35. */
enum { ST_RX_PACKETS, ST_TX_PACKETS, ST_RX_BYTES, ST_TX_BYTES, ST_RX_ERRORS, ST_TX_ERRORS,
       ST_RX_DROPPED, ST_TX_DROPPED, ST_USED };

static int parse_attr(const struct rtattr *rta, struct mon_link *l, bool *has_name, bool *has_stats)
{
	const char *data = RTA_DATA(rta);
	size_t len = RTA_PAYLOAD(rta);
	uint64_t st[ST_USED];

	switch (rta->rta_type & NLA_TYPE_MASK) {
	case IFLA_IFNAME:
		/* A name ends with its NUL within IFNAMSIZ bytes. */
		if (!len || !memchr(data, '\0', len < IF_NAMESIZE ? len : IF_NAMESIZE))
			return -EBADMSG;
		memcpy(l->name, data, strlen(data) + 1);
		*has_name = true;
		return 0;
	case IFLA_STATS64:
		/* Later kernels append counters; fewer than these eight is not a stats64. */
		if (len < sizeof(st))
			return -EBADMSG;
		memcpy(st, data, sizeof(st));	/* 4-byte aligned in the message */
		l->rx_packets = st[ST_RX_PACKETS];
		l->tx_packets = st[ST_TX_PACKETS];
		l->rx_bytes = st[ST_RX_BYTES];
		l->tx_bytes = st[ST_TX_BYTES];
		l->rx_errors = st[ST_RX_ERRORS];
		l->tx_errors = st[ST_TX_ERRORS];
		l->rx_dropped = st[ST_RX_DROPPED];
		l->tx_dropped = st[ST_TX_DROPPED];
		*has_stats = true;
		return 0;
	default:
		return 0;	/* everything else a link carries */
	}
}

int mon_link_parse(const struct nlmsghdr *nh, struct mon_link *l)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	const struct rtattr *rta;
	size_t left;
	bool has_name = false, has_stats = false;

	if (nh->nlmsg_type != RTM_NEWLINK)
		return 0;
	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return -EBADMSG;
	memset(l, 0, sizeof(*l));
	l->ifindex = (uint32_t)ifi->ifi_index;
	rta = (const struct rtattr *)((const char *)ifi + NLMSG_ALIGN(sizeof(*ifi)));
	left = nh->nlmsg_len - NLMSG_SPACE(sizeof(*ifi));
	while (left) {
		size_t step;
		int err;

		if (left < sizeof(*rta) || rta->rta_len < sizeof(*rta) || rta->rta_len > left)
			return -EBADMSG;	/* an attribute runs past the message */
		err = parse_attr(rta, l, &has_name, &has_stats);
		if (err)
			return err;
		step = RTA_ALIGN(rta->rta_len);
		if (step >= left)
			break;		/* the last attribute may go without its padding */
		left -= step;
		rta = (const struct rtattr *)((const char *)rta + step);
	}
	return has_name && has_stats && l->ifindex ? 1 : 0;
}

static int links_add(struct mon_links *ls, const struct mon_link *l)
{
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 16;
		struct mon_link *v = realloc(ls->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ls->v = v;
		ls->cap = cap;
	}
	ls->v[ls->n++] = *l;
	return 0;
}

/* The error an NLMSG_ERROR or NLMSG_DONE carries (0: none), or -EBADMSG when it is cut short. */
static int msg_error(const struct nlmsghdr *nh)
{
	int err;

	if (nh->nlmsg_type == NLMSG_ERROR) {
		if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
			return -EBADMSG;
		return ((const struct nlmsgerr *)NLMSG_DATA(nh))->error;
	}
	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(int)))
		return 0;	/* a DONE without its error word: nothing went wrong */
	memcpy(&err, NLMSG_DATA(nh), sizeof(err));
	return err < 0 ? err : 0;
}

int mon_links_parse(struct mon_links *ls, const void *buf, size_t len, uint32_t seq)
{
	const char *p = buf;

	while (len) {
		const struct nlmsghdr *nh = (const struct nlmsghdr *)p;
		struct mon_link l;
		size_t step;
		int r;

		if (len < sizeof(*nh) || nh->nlmsg_len < sizeof(*nh) || nh->nlmsg_len > len)
			return -EBADMSG;	/* the datagram cannot be walked further */
		step = NLMSG_ALIGN(nh->nlmsg_len);
		if (nh->nlmsg_seq == seq) {
			if (nh->nlmsg_flags & NLM_F_DUMP_INTR)
				return -EAGAIN;
			if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type == NLMSG_DONE) {
				r = msg_error(nh);
				return r ? r : nh->nlmsg_type == NLMSG_DONE;
			}
			r = mon_link_parse(nh, &l);
			if (r < 0)
				ls->malformed++;
			else if (r > 0 && links_add(ls, &l))
				return -ENOMEM;
		}
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return 0;
}

/* One dump: 0 with ls filled, -EAGAIN when the kernel says it was interrupted, or -errno. */
static int dump_once(struct mon_links *ls, uint32_t seq)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_GETLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = seq },
		.ifi = { .ifi_family = AF_UNSPEC },
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct timeval timeout = { .tv_sec = DUMP_TIMEOUT_S };
	_cleanup_free_ char *buf = malloc(DUMP_BUF);
	_cleanup_close_ int fd = rtnl_open();
	int r = 0;

	if (fd < 0)
		return fd;
	if (!buf)
		return -ENOMEM;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)))
		return -errno;
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	ls->n = 0;
	ls->malformed = 0;
	while (r == 0) {
		struct iovec iov = { buf, DUMP_BUF };
		struct msghdr msg = { .msg_name = &kernel, .msg_namelen = sizeof(kernel),
				      .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &msg, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0 || (msg.msg_flags & MSG_TRUNC))
			return -EBADMSG;
		r = mon_links_parse(ls, buf, (size_t)n, seq);
	}
	return r < 0 ? r : 0;
}

int mon_links_read(struct mon_links *ls)
{
	static uint32_t seq;
	int err = -EAGAIN;

	for (int i = 0; i < DUMP_TRIES && err == -EAGAIN; i++)
		err = dump_once(ls, ++seq);
	return err;
}

void mon_links_free(struct mon_links *ls)
{
	free(ls->v);
	memset(ls, 0, sizeof(*ls));
}
