// SPDX-License-Identifier: GPL-2.0-only
/*
 * UDP over loopback in the caller's network namespace: batches of 64-byte datagrams sent with
 * sendmmsg and drained with recvmmsg, so each packet passes net_dev_xmit and netif_receive_skb
 * (what the net monitor hooked per packet before its interface counters came from the kernel)
 * and is consumed, never dropped. With -d the datagrams go to a closed port instead and are
 * not received: every one is a drop (skb:kfree_skb, reason NO_SOCKET), the worst case of the
 * net monitor's drop hook. Prints nanoseconds per packet.
 *   udploop [-n PACKETS] [-d]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	char bufs[BATCH][64];
	socklen_t len = sizeof(addr);
	long packets = 1000000, done = 0;
	struct timespec t0, t1;
	bool drops = false;
	int rx, tx, c;

	while ((c = getopt(argc, argv, "n:d")) != -1) {
		if (c == 'n')
			packets = atol(optarg);
		else if (c == 'd')
			drops = true;
		else
			return 2;
	}
	rx = socket(AF_INET, SOCK_DGRAM, 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (rx < 0 || tx < 0 || bind(rx, (struct sockaddr *)&addr, sizeof(addr)) ||
	    getsockname(rx, (struct sockaddr *)&addr, &len) ||
	    (!drops && connect(tx, (struct sockaddr *)&addr, sizeof(addr)))) {
		perror("socket");
		return 1;
	}
	/* The port closes with its socket; unconnected, the sender gets no ICMP error back. */
	if (drops)
		close(rx);
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ bufs[i], sizeof(bufs[i]) };
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		if (drops) {
			msgs[i].msg_hdr.msg_name = &addr;
			msgs[i].msg_hdr.msg_namelen = sizeof(addr);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < packets) {
		int s = sendmmsg(tx, msgs, BATCH, 0), r = drops ? s : 0;

		if (s <= 0) {
			perror("sendmmsg");
			return 1;
		}
		while (r < s) {
			int k = recvmmsg(rx, msgs, (unsigned)(s - r), 0, NULL);

			if (k <= 0) {
				perror("recvmmsg");
				return 1;
			}
			r += k;
		}
		for (int i = 0; i < BATCH; i++)
			msgs[i].msg_hdr.msg_iovlen = 1, iov[i].iov_len = sizeof(bufs[i]);
		done += s;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.1f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / done);
	return 0;
}
