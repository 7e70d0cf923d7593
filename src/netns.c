// SPDX-License-Identifier: GPL-2.0-only
/*
 * rtnetlink without a library: messages are short and fixed in shape, so a request buffer with
 * iproute2-style attribute helpers is all it takes (libmnl would be one more dependency).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netns.h"
#include "util.h"

#define RTNL_BUF 1024

struct rtnl_req {
	struct nlmsghdr nh;
	struct ifinfomsg ifi;
	char attrs[RTNL_BUF];
};

static uint32_t rtnl_seq;

int rtnl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static struct rtattr *nlmsg_tail(struct nlmsghdr *nh)
{
	return (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));
}

/* Appends one attribute; -ENOSPC when the request buffer is full (a bug in the caller). */
static int addattr(struct rtnl_req *req, int type, const void *data, size_t len)
{
	struct rtattr *rta = nlmsg_tail(&req->nh);
	size_t newlen = NLMSG_ALIGN(req->nh.nlmsg_len) + RTA_ALIGN(RTA_LENGTH(len));

	if (newlen > sizeof(*req))
		return -ENOSPC;
	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	req->nh.nlmsg_len = newlen;
	return 0;
}

static struct rtattr *nest_start(struct rtnl_req *req, int type)
{
	struct rtattr *nest = nlmsg_tail(&req->nh);

	return addattr(req, type, NULL, 0) ? NULL : nest;
}

static void nest_end(struct rtnl_req *req, struct rtattr *nest)
{
	nest->rta_len = (char *)nlmsg_tail(&req->nh) - (char *)nest;
}

static void req_init(struct rtnl_req *req, int type, int flags)
{
	memset(req, 0, sizeof(*req));
	req->nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	req->nh.nlmsg_type = type;
	req->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	req->nh.nlmsg_seq = ++rtnl_seq;
	req->ifi.ifi_family = AF_UNSPEC;
}

/* Sends one request and waits for its acknowledgement: 0 or the kernel's -errno. */
static int rtnl_talk(int nl, struct rtnl_req *req)
{
	char buf[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	if (sendto(nl, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(nl, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			struct nlmsgerr *e = NLMSG_DATA(nh);

			if (nh->nlmsg_seq != req->nh.nlmsg_seq || nh->nlmsg_type != NLMSG_ERROR)
				continue;
			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return -EPROTO;
			return e->error;
		}
	}
}

/* Appends len zero bytes (aligned) for a fixed header inside a nest. */
static void *reserve(struct rtnl_req *req, size_t len)
{
	void *p = nlmsg_tail(&req->nh);
	size_t newlen = NLMSG_ALIGN(req->nh.nlmsg_len) + NLMSG_ALIGN(len);

	if (newlen > sizeof(*req))
		return NULL;
	memset(p, 0, NLMSG_ALIGN(len));
	req->nh.nlmsg_len = newlen;
	return p;
}

static int add_peer(struct rtnl_req *req, const char *peer)
{
	struct rtattr *data, *info;
	struct ifinfomsg *peer_ifi;

	data = nest_start(req, IFLA_INFO_DATA);
	info = data ? nest_start(req, VETH_INFO_PEER) : NULL;
	/* VETH_INFO_PEER carries a whole ifinfomsg followed by the peer's own attributes. */
	peer_ifi = info ? reserve(req, sizeof(*peer_ifi)) : NULL;
	if (!peer_ifi)
		return -ENOSPC;
	peer_ifi->ifi_family = AF_UNSPEC;
	if (addattr(req, IFLA_IFNAME, peer, strlen(peer) + 1))
		return -ENOSPC;
	nest_end(req, info);
	nest_end(req, data);
	return 0;
}

int rtnl_veth_add(int nl, const char *name, const char *peer)
{
	struct rtnl_req req;
	struct rtattr *linkinfo;
	int err;

	if (strlen(name) >= IFNAMSIZ || strlen(peer) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	req_init(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	if (addattr(&req, IFLA_IFNAME, name, strlen(name) + 1))
		return -ENOSPC;
	linkinfo = nest_start(&req, IFLA_LINKINFO);
	if (!linkinfo || addattr(&req, IFLA_INFO_KIND, "veth", strlen("veth")))
		return -ENOSPC;
	err = add_peer(&req, peer);
	if (err)
		return err;
	nest_end(&req, linkinfo);
	return rtnl_talk(nl, &req);
}

int rtnl_link_set_up(int nl, int ifindex, int up)
{
	struct rtnl_req req;

	req_init(&req, RTM_NEWLINK, 0);
	req.ifi.ifi_index = ifindex;
	req.ifi.ifi_change = IFF_UP;
	req.ifi.ifi_flags = up ? IFF_UP : 0;
	return rtnl_talk(nl, &req);
}

int rtnl_link_set_netns_fd(int nl, int ifindex, int netns_fd)
{
	struct rtnl_req req;
	__u32 fd = (__u32)netns_fd;

	req_init(&req, RTM_NEWLINK, 0);
	req.ifi.ifi_index = ifindex;
	if (addattr(&req, IFLA_NET_NS_FD, &fd, sizeof(fd)))
		return -ENOSPC;
	return rtnl_talk(nl, &req);
}

int rtnl_link_del(int nl, int ifindex)
{
	struct rtnl_req req;

	req_init(&req, RTM_DELLINK, 0);
	req.ifi.ifi_index = ifindex;
	return rtnl_talk(nl, &req);
}

int link_ifindex(const char *name)
{
	unsigned int idx = if_nametoindex(name);

	if (!idx)
		return errno ? -errno : -ENODEV;
	return (int)idx;
}

/* ---- children in fresh namespaces --------------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int64_t ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Reads exactly len bytes before the deadline: 0, -ETIMEDOUT, -ECHILD on early EOF, -errno. */
static int read_all(int fd, void *buf, size_t len, const struct timespec *deadline)
{
	char *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = ms_left(deadline);
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECHILD;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int child_enter(int unshare_flags, pid_t parent)
{
	/* Never outlive the parent: a probe child must not keep a namespace alive on its own. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		return -errno;
	if (getppid() != parent)
		return -ESRCH;
	if (unshare(unshare_flags))
		return -errno;
	/* Without this, mounts made in the child would propagate to shared peers on the host. */
	if ((unshare_flags & CLONE_NEWNS) && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	return 0;
}

static void __attribute__((noreturn))
child_main(int fd, int unshare_flags, pid_t parent, ns_child_fn fn, void *arg, size_t len)
{
	void *result = calloc(1, len ? len : 1);
	int rc = result ? child_enter(unshare_flags, parent) : -ENOMEM;

	if (!rc)
		rc = fn(arg, result, len);
	/* The result is sent even on failure (then zeroed) so the parent reads a fixed size. */
	if (write_all(fd, &rc, sizeof(rc)) || (result && write_all(fd, result, len)))
		_exit(2);
	_exit(0);
}

/* Waits for the child; kills it first when it did not deliver. */
static void child_reap(pid_t pid, bool kill_it)
{
	if (kill_it)
		kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int ns_child_start(struct ns_child *c, int unshare_flags, ns_child_fn fn, void *arg, size_t len,
		   int timeout_ms)
{
	pid_t parent = getpid();
	int p[2], err;

	c->pid = -1;
	c->fd = -1;
	c->len = len;
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += timeout_ms / 1000;
	c->deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (c->deadline.tv_nsec >= 1000000000L) {
		c->deadline.tv_sec++;
		c->deadline.tv_nsec -= 1000000000L;
	}
	c->pid = fork();
	if (c->pid < 0) {
		err = -errno;
		close(p[0]);
		close(p[1]);
		return err;
	}
	if (c->pid == 0) {
		close(p[0]);
		child_main(p[1], unshare_flags, parent, fn, arg, len);
	}
	close(p[1]);
	c->fd = p[0];
	return 0;
}

int ns_child_finish(struct ns_child *c, void *result)
{
	_cleanup_free_ void *buf = NULL;
	int rc, err;

	if (c->pid <= 0 || c->fd < 0)
		return -ECHILD;
	/* Read into a copy so that `result` stays untouched when the child fails half way. */
	buf = malloc(c->len ? c->len : 1);
	err = buf ? read_all(c->fd, &rc, sizeof(rc), &c->deadline) : -ENOMEM;
	if (!err)
		err = read_all(c->fd, buf, c->len, &c->deadline);
	close(c->fd);
	child_reap(c->pid, err != 0);
	c->fd = -1;
	c->pid = -1;
	if (err)
		return err;
	memcpy(result, buf, c->len);
	return rc;
}

int ns_child_run(int unshare_flags, ns_child_fn fn, void *arg, void *result, size_t len,
		 int timeout_ms)
{
	struct ns_child c;
	int err = ns_child_start(&c, unshare_flags, fn, arg, len, timeout_ms);

	return err ? err : ns_child_finish(&c, result);
}

int netns_run(ns_child_fn fn, void *arg, void *result, size_t len, int timeout_ms)
{
	return ns_child_run(CLONE_NEWNET, fn, arg, result, len, timeout_ms);
}
