/*
 * The kernel's TCP_INFO for connections the master does not hold.
 *
 * Each connection belongs to a worker; the master cannot getsockopt()
 * another process's socket.  It asks the kernel instead, as ss(8) does:
 * a NETLINK_SOCK_DIAG dump of the TCP sockets, from which it keeps the
 * ones whose remote end is a client a worker is serving.  Nothing is
 * asked of the workers, so the hot path pays nothing for echodctl conns.
 *
 * The master asks from its own loop, so the dump must not grow with
 * the host: the kernel is told to send only sockets whose local port is
 * one of echod's (inet_diag bytecode) in the states a worker's
 * connection can be in (ESTABLISHED, CLOSE_WAIT once the client has
 * half-closed), never the host's other sockets nor the TIME_WAIT and
 * orphaned ones a busy port leaves behind.  What comes back is echod's
 * own connections and those waiting in its accept queues, bounded by
 * max-workers and the backlogs.  The socket is non-blocking and the
 * dump is cut short once every connection asked for is found.
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

/*
 * One message of the dump: a socket, and perhaps its struct tcp_info.
 * Returns 1 if it is one of conns[] seen for the first time, else 0.
 */
static int
take_socket(const struct nlmsghdr *h, struct conn_info *conns, size_t n,
    const uint16_t *ports, size_t nports)
{
	const struct inet_diag_msg	*d = NLMSG_DATA(h);
	const struct rtattr		*a;
	struct conn_info		 want, *c;
	int				 len;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)) ||
	    !is_our_port(ntohs(d->id.idiag_sport), ports, nports))
		return 0;
	memset(&want, 0, sizeof(want));
	addr_key_raw(d->idiag_family, d->id.idiag_dst, want.key);
	want.port = ntohs(d->id.idiag_dport);
	if ((c = bsearch(&want, conns, n, sizeof(*conns), compare_conn)) ==
	    NULL || c->found)
		return 0;

	len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*d));
	for (a = (const struct rtattr *)(d + 1); RTA_OK(a, len);
	    a = RTA_NEXT(a, len)) {
		if (a->rta_type != INET_DIAG_INFO)
			continue;
		memset(&c->ti, 0, sizeof(c->ti));
		memcpy(&c->ti, RTA_DATA(a), RTA_PAYLOAD(a) < sizeof(c->ti) ?
		    RTA_PAYLOAD(a) : sizeof(c->ti));
		c->found = 1;
		return 1;
	}
	return 0;
}

/* The socket states a worker's connection can be in. */
#define CONN_STATES	((1U << TCP_ESTABLISHED) | (1U << TCP_CLOSE_WAIT))

/*
 * The filter "local port is ports[0] or ports[1] or ...", as ss(8)
 * writes "sport = :A or sport = :B": each port a condition whose "yes"
 * goes to a jump to the end (accept) and whose "no" to the next
 * condition; the last one's "no" jumps past the end (reject).  The
 * kernel checks that every target is on the chain of "yes" jumps, which
 * this layout is.  Returns its length, written to bc (16 bytes a port).
 */
static size_t
port_filter(unsigned char *bc, const uint16_t *ports, size_t nports)
{
	struct inet_diag_bc_op		 cond, jmp;
	struct inet_diag_hostcond	 host;
	size_t				 i, off = 0;

	for (i = 0; i < nports; i++) {
		cond.code = INET_DIAG_BC_S_COND;
		cond.yes = sizeof(cond) + sizeof(host);
		cond.no = cond.yes + sizeof(jmp);
		memset(&host, 0, sizeof(host));
		host.family = AF_UNSPEC;
		host.prefix_len = 0;
		host.port = ports[i];
		memcpy(bc + off, &cond, sizeof(cond));
		off += sizeof(cond);
		memcpy(bc + off, &host, sizeof(host));
		off += sizeof(host);
		if (i + 1 == nports)
			break;
		jmp.code = INET_DIAG_BC_JMP;
		jmp.yes = sizeof(jmp);
		jmp.no = (nports - 1 - i) * (sizeof(cond) + sizeof(host) +
		    sizeof(jmp));
		memcpy(bc + off, &jmp, sizeof(jmp));
		off += sizeof(jmp);
	}
	return off;
}

#define PORT_FILTER_LEN(n) \
	((n) * (sizeof(struct inet_diag_bc_op) * 2 + \
	sizeof(struct inet_diag_hostcond)))

/*
 * One family's dump.  Returns -1 if the kernel could not be asked, else
 * 0; *found counts the connections filled in so far.
 */
static int
dump_family(int fd, int family, struct conn_info *conns, size_t n,
    const uint16_t *ports, size_t nports, size_t *found)
{
	struct nlmsghdr		*nlh, *h;
	struct inet_diag_req_v2	*req;
	struct rtattr		*rta;
	unsigned char		*msg;
	char			 buf[32768];
	size_t			 bclen, len;
	ssize_t			 got;
	int			 rc = -1;

	len = NLMSG_SPACE(sizeof(*req)) + RTA_SPACE(PORT_FILTER_LEN(nports));
	if ((msg = calloc(1, len)) == NULL)
		return -1;
	nlh = (struct nlmsghdr *)msg;
	req = NLMSG_DATA(nlh);
	rta = (struct rtattr *)(msg + NLMSG_SPACE(sizeof(*req)));
	bclen = port_filter(RTA_DATA(rta), ports, nports);
	rta->rta_type = INET_DIAG_REQ_BYTECODE;
	rta->rta_len = RTA_LENGTH(bclen);
	nlh->nlmsg_len = NLMSG_SPACE(sizeof(*req)) + RTA_SPACE(bclen);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req->sdiag_family = family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = CONN_STATES;
	req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
	if (send(fd, msg, nlh->nlmsg_len, 0) == -1)
		goto out;

	/*
	 * The kernel writes the next part of a dump while the previous one
	 * is read, so there is always something to read until NLMSG_DONE;
	 * EAGAIN would mean it could not (memory), and ends the dump.
	 */
	while (*found < n) {
		if ((got = recv(fd, buf, sizeof(buf), 0)) == -1) {
			if (errno == EINTR)
				continue;
			rc = errno == EAGAIN ? 0 : -1;
			goto out;
		}
		len = got;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		    h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				rc = 0;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_ERROR)
				goto out;
			*found += take_socket(h, conns, n, ports, nports);
		}
	}
	rc = 0;
out:
	free(msg);
	return rc;
}

static int
compare_port(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
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
	uint16_t	*uniq;
	size_t		 found = 0, nuniq = 0, i;
	int		 fd, rc = -1;

	if (n == 0 || nports == 0)
		return 0;
	qsort(conns, n, sizeof(*conns), compare_conn);
	/* Listeners on several addresses may share a port. */
	if ((uniq = calloc(nports, sizeof(*uniq))) == NULL)
		return -1;
	memcpy(uniq, ports, nports * sizeof(*uniq));
	qsort(uniq, nports, sizeof(*uniq), compare_port);
	for (i = 0; i < nports; i++)
		if (nuniq == 0 || uniq[nuniq - 1] != uniq[i])
			uniq[nuniq++] = uniq[i];
	/* More than a netlink attribute holds: no such configuration. */
	if (RTA_LENGTH(PORT_FILTER_LEN(nuniq)) > UINT16_MAX)
		goto out;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    NETLINK_SOCK_DIAG);
	if (fd == -1)
		goto out;
	rc = dump_family(fd, AF_INET, conns, n, uniq, nuniq, &found);
	/* A new socket: the rest of a dump cut short would come first. */
	if (rc == 0 && found < n) {
		close(fd);
		fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
		if (fd == -1) {
			rc = -1;
			goto out;
		}
		rc = dump_family(fd, AF_INET6, conns, n, uniq, nuniq, &found);
	}
	close(fd);
out:
	free(uniq);
	return rc;
}
