/*
 * Receive steering (see steer.h): which socket of a UDP 4500 reuseport
 * group gets a datagram, decided by the kernel with a classic BPF program
 * (SO_ATTACH_REUSEPORT_CBPF) from the first octets of the UDP payload,
 * the RFC 3948 2.1-2.3 demultiplexing: IKE and NAT-keepalives stay on the
 * daemon's socket, ESP goes to the socket of the worker its SPI names
 * (RFC 4301 4.1: the SPI alone names our inbound SA).
 */
#include "dataplane/steer.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define STEER_MARKER_LEN 4 /* RFC 3948 2.2: the non-ESP marker, 4 zero octets */

void dp_steer_prog(struct sock_filter prog[DP_STEER_PROG_LEN], unsigned workers)
{
	const struct sock_filter p[DP_STEER_PROG_LEN] = {
	    /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
	    /* 1: a keepalive (1 octet, 2.3) or a runt -> the daemon */
	    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, STEER_MARKER_LEN, 0, 5),
	    /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
	    /* 3: the non-ESP marker (2.2): IKE -> the daemon */
	    /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 0),
	    /* 4: the SPI (2.1) names the worker */
	    /* 4 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, workers ? workers : 1),
	    /* 5 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1),
	    /* 6 */ BPF_STMT(BPF_RET | BPF_A, 0),
	    /* 7 */ BPF_STMT(BPF_RET | BPF_K, 0),
	};

	for (unsigned i = 0; i < DP_STEER_PROG_LEN; i++)
		prog[i] = p[i];
}

int dp_steer_attach(int fd, unsigned workers)
{
	struct sock_filter prog[DP_STEER_PROG_LEN];
	struct sock_fprog fp = {.len = DP_STEER_PROG_LEN, .filter = prog};

	dp_steer_prog(prog, workers);
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fp, sizeof(fp));
}

int dp_steer_socket(int fd)
{
	struct sockaddr_storage a;
	socklen_t alen = sizeof(a);
	int s, on = 1, saved;

	if (getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	if (a.ss_family != AF_INET && a.ss_family != AF_INET6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	s = socket(a.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (s < 0)
		return -1;
	/* As the daemon's: IPv6 only on an IPv6 socket; an address bound
	 * before it is configured (IP_FREEBIND) may be bound again. */
	if (setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0 ||
	    (a.ss_family == AF_INET6 &&
	     setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) ||
	    setsockopt(s, IPPROTO_IP, IP_FREEBIND, &on, sizeof(on)) < 0 ||
	    bind(s, (const struct sockaddr *)&a, alen) < 0) {
		saved = errno;
		close(s);
		errno = saved;
		return -1;
	}
	return s;
}
