// SPDX-License-Identifier: GPL-2.0-only
/*
 * A small flood sender: prebuilt 64-byte IPv4 UDP frames sent with sendmmsg on an AF_PACKET
 * socket (qdisc bypassed), pinned to one CPU, for a number of seconds. Debian's xdp-trafficgen
 * does not run on this kernel.
 *
 *   pktgen --iface IF --src A.B.C.D[,A.B.C.D...] --dst A.B.C.D [--dst-mac MAC] [--cpu N]
 *          [--seconds S]
 *
 * Several sources (up to MAX_SRC) take turns, one frame each, as a flood from many hosts does.
 *
 * Prints "sent=N seconds=S pps=P". Only ever run it on a veth inside a namespace of its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pkt.h"

#define BATCH 64
#define MAX_SRC 1024

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "iface", required_argument, NULL, 'i' }, { "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' }, { "dst-mac", required_argument, NULL, 'm' },
		{ "cpu", required_argument, NULL, 'c' }, { "seconds", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *iface = NULL, *src = NULL, *dst = NULL, *dmac = NULL;
	double seconds = 5, t0, t;
	int cpu = 0, c, fd, one = 1;
	unsigned long long sent = 0, errors = 0;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	static struct pkt frames[MAX_SRC];
	static struct iovec iov[MAX_SRC];
	struct mmsghdr msgs[BATCH];
	size_t nsrc = 0, next = 0;
	char *list, *tok, *save = NULL;
	uint8_t mac[6];
	cpu_set_t set;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i': iface = optarg; break;
		case 's': src = optarg; break;
		case 'd': dst = optarg; break;
		case 'm': dmac = optarg; break;
		case 'c': cpu = atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		default:
			fprintf(stderr, "usage: pktgen --iface IF --src A --dst A [--dst-mac MAC] [--cpu N] [--seconds S]\n");
			return 2;
		}
	}
	if (!iface || !src || !dst) {
		fprintf(stderr, "pktgen: --iface, --src and --dst are required\n");
		return 2;
	}

	if (dmac && parse_mac(dmac, mac)) {
		fprintf(stderr, "pktgen: bad MAC %s\n", dmac);
		return 2;
	}
	list = strdup(src);
	for (tok = strtok_r(list, ",", &save); tok && nsrc < MAX_SRC; tok = strtok_r(NULL, ",", &save)) {
		struct pkt *p = &frames[nsrc];

		/* 14 + 20 + 8 + 22 = 64 bytes */
		pkt_init(p);
		pkt_eth(p);
		pkt_ipv4(p, tok, dst, 0);
		pkt_udp(p, 40000, 9);
		pkt_payload(p, 22);
		pkt_finish(p);
		if (dmac)
			memcpy(p->buf, mac, 6);
		iov[nsrc].iov_base = p->buf;
		iov[nsrc].iov_len = p->len;
		nsrc++;
	}
	free(list);

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("pktgen: sched_setaffinity");
		return 1;
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0);	/* protocol 0: send only, nothing queued to us */
	if (fd < 0) {
		perror("pktgen: socket(AF_PACKET)");
		return 1;
	}
	sll.sll_ifindex = (int)if_nametoindex(iface);
	if (!sll.sll_ifindex) {
		fprintf(stderr, "pktgen: %s: no such interface\n", iface);
		return 1;
	}
	sll.sll_halen = ETH_ALEN;
	memcpy(sll.sll_addr, frames[0].buf, ETH_ALEN);
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		perror("pktgen: bind");
		return 1;
	}
	/* Straight to the driver: the flood measures the receiver, not our qdisc. */
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)))
		perror("pktgen: PACKET_QDISC_BYPASS (continuing)");

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++)
		msgs[i].msg_hdr.msg_iovlen = 1;

	t0 = now();
	do {
		int n;

		for (int i = 0; i < BATCH; i++) {
			msgs[i].msg_hdr.msg_iov = &iov[next];
			next = next + 1 == nsrc ? 0 : next + 1;
		}
		n = sendmmsg(fd, msgs, BATCH, 0);

		if (n > 0)
			sent += (unsigned long long)n;
		else if (errno == ENOBUFS || errno == EAGAIN)
			errors++;
		else {
			perror("pktgen: sendmmsg");
			return 1;
		}
		t = now();
	} while (t - t0 < seconds);

	printf("sent=%llu seconds=%.3f pps=%.0f enobufs=%llu sources=%zu\n", sent, t - t0,
	       (double)sent / (t - t0), errors, nsrc);
	close(fd);
	return 0;
}
