/*
 * The kernel's TCP_INFO for connections the master does not hold.
 *
 * Each connection belongs to a worker; the master cannot getsockopt()
 * another process's socket.  It asks the kernel instead, as ss(8) does:
 * one NETLINK_SOCK_DIAG dump of the TCP sockets, from which it keeps the
 * ones whose local port is one of echod's and whose remote end is a
 * client a worker is serving.  Nothing is asked of the workers, so the
 * hot path pays nothing for echodctl conns.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "tcpdiag.h"

static int
compare_conn(const void *a, const void *b)
{
	const struct conn_info	*x = a, *y = b;
	int			 c;

	if ((c = memcmp(x->key, y->key, sizeof(x->key))) != 0)
		return c;
	return (int)x->port - (int)y->port;
}

static int
is_our_port(uint16_t port, const uint16_t *ports, size_t nports)
{
	size_t	 i;

	for (i = 0; i < nports; i++)
		if (ports[i] == port)
			return 1;
	return 0;
}

/* One message of the dump: a socket, and perhaps its struct tcp_info. */
static void
take_socket(const struct nlmsghdr *h, struct conn_info *conns, size_t n,
    const uint16_t *ports, size_t nports)
{
	const struct inet_diag_msg	*d = NLMSG_DATA(h);
	const struct rtattr		*a;
	struct conn_info		 want, *c;
	int				 len;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)) ||
	    !is_our_port(ntohs(d->id.idiag_sport), ports, nports))
		return;
	memset(&want, 0, sizeof(want));
	addr_key_raw(d->idiag_family, d->id.idiag_dst, want.key);
	want.port = ntohs(d->id.idiag_dport);
	if ((c = bsearch(&want, conns, n, sizeof(*conns), compare_conn)) ==
	    NULL)
		return;

	len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*d));
	for (a = (const struct rtattr *)(d + 1); RTA_OK(a, len);
	    a = RTA_NEXT(a, len)) {
		if (a->rta_type != INET_DIAG_INFO)
			continue;
		memset(&c->ti, 0, sizeof(c->ti));
		memcpy(&c->ti, RTA_DATA(a), RTA_PAYLOAD(a) < sizeof(c->ti) ?
		    RTA_PAYLOAD(a) : sizeof(c->ti));
		c->found = 1;
	}
}

static int
dump_family(int fd, int family, struct conn_info *conns, size_t n,
    const uint16_t *ports, size_t nports)
{
	struct {
		struct nlmsghdr		 nlh;
		struct inet_diag_req_v2	 req;
	} msg;
	struct nlmsghdr	*h;
	char		 buf[32768];
	ssize_t		 len;

	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	msg.req.sdiag_family = family;
	msg.req.sdiag_protocol = IPPROTO_TCP;
	msg.req.idiag_states = ~(1U << TCP_LISTEN) & 0xfff;
	msg.req.idiag_ext = 1 << (INET_DIAG_INFO - 1);
	if (send(fd, &msg, sizeof(msg), 0) == -1)
		return -1;

	for (;;) {
		if ((len = recv(fd, buf, sizeof(buf), 0)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		    h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -1;
			take_socket(h, conns, n, ports, nports);
		}
	}
}

/*
 * Fill in conns[].ti (and .found) for the connections, given by their
 * client's address (key) and port, whose local port is in ports[].
 * conns[] is sorted here.  Returns -1 if the kernel could not be asked.
 */
int
tcpdiag_fill(struct conn_info *conns, size_t n, const uint16_t *ports,
    size_t nports)
{
	int	 fd, rc;

	if (n == 0)
		return 0;
	qsort(conns, n, sizeof(*conns), compare_conn);
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd == -1)
		return -1;
	rc = dump_family(fd, AF_INET, conns, n, ports, nports);
	if (rc == 0)
		rc = dump_family(fd, AF_INET6, conns, n, ports, nports);
	close(fd);
	return rc;
}
