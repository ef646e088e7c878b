/*
 * Another process seen through /proc (procinfo.h).
 *
 * A worker that dropped its privileges is not dumpable, so its
 * /proc/PID/syscall, wchan, stack and fd links are root's alone, and
 * need CAP_SYS_PTRACE (the stack CAP_SYS_ADMIN): whoever lacks them is
 * told "denied", never an error.  Its stat (CPU time) and the socket
 * tables of /proc/net are anyone's.
 *
 * The system call's number is named from a table generated at build
 * time from the system's own <sys/syscall.h> (sysnames.h, Makefile.am),
 * so that it is the kernel's list of the machine echodctl is built for.
 * Only the few calls a worker waits in have their arguments described
 * here, by name; any other shows its six raw arguments.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "procinfo.h"

static const struct {
	long		 nr;
	const char	*name;
} sysnames[] = {
#include "sysnames.h"
};

/*
 * How to show the arguments of the calls a worker waits in, one letter
 * each: f a descriptor, named; E an epoll descriptor, with the ones it
 * watches; P a pollfd array, whose length is the next argument; p a
 * pointer; d a signed int; u an unsigned count; x flags, in hex; a
 * the flags of accept4(), s those of splice(), by name.
 */
static const struct {
	const char	*name;
	const char	*args;
} sysargs[] = {
	{ "accept",		"fpp" },
	{ "accept4",		"fppa" },
	{ "read",		"fpu" },
	{ "write",		"fpu" },
	{ "readv",		"fpu" },
	{ "writev",		"fpu" },
	{ "recvfrom",		"fpuxpp" },
	{ "sendto",		"fpuxpu" },
	{ "recvmsg",		"fpx" },
	{ "sendmsg",		"fpx" },
	{ "splice",		"fpfpus" },
	{ "close",		"f" },
	{ "poll",		"Pud" },
	{ "ppoll",		"Pupp" },
	{ "epoll_wait",		"Epdd" },
	{ "epoll_pwait",	"Epddp" },
	{ "epoll_pwait2",	"Epdpp" },
	{ "nanosleep",		"pp" },
	{ "clock_nanosleep",	"dxpp" },
};

/* The most descriptors shown of a poll() or an epoll set. */
#define SET_MAX		16

/* One socket of /proc/net/tcp or tcp6. */
struct sock_entry {
	unsigned long		 inode;
	int			 listening;
	struct sockaddr_storage	 local;
	struct sockaddr_storage	 remote;
};

/* The sockets, read once per process from /proc/self/net. */
static struct sock_entry	*socks;
static size_t			 nsocks;
static int			 socks_read;

const char *
proc_syscall_name(long nr)
{
	size_t	 i;

	for (i = 0; i < sizeof(sysnames) / sizeof(sysnames[0]); i++)
		if (sysnames[i].nr == nr)
			return sysnames[i].name;
	return NULL;
}

/* A word for JSON and scripts. */
const char *
proc_call_state_name(enum proc_call_state state)
{
	switch (state) {
	case PROC_CALL_IN:
		return "syscall";
	case PROC_CALL_RUNNING:
		return "running";
	case PROC_CALL_NONE:
		return "stopped";
	case PROC_CALL_DENIED:
		return "denied";
	case PROC_CALL_GONE:
		return "gone";
	default:
		return "unknown";
	}
}

/* Read a small /proc file whole; -1 with errno on failure. */
static ssize_t
read_file(const char *path, char *buf, size_t len)
{
	ssize_t	 n;
	size_t	 off = 0;
	int	 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (off + 1 < len) {
		if ((n = read(fd, buf + off, len - 1 - off)) == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		off += n;
	}
	close(fd);
	buf[off] = '\0';
	return off;
}

/* "0100007F:07D0" (IPv4) or 32 hex digits and a port (IPv6). */
static int
parse_address(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	const char		*colon;
	char			 word[9];
	uint32_t		 w;
	unsigned long		 port;
	int			 i;

	memset(ss, 0, sizeof(*ss));
	if ((colon = strchr(s, ':')) == NULL)
		return -1;
	port = strtoul(colon + 1, NULL, 16);
	/* The kernel prints each 32-bit word of the address as it is
	 * in memory, read as a host integer. */
	if (colon - s == 8) {
		memcpy(word, s, 8);
		word[8] = '\0';
		w = strtoul(word, NULL, 16);
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, &w, 4);
		sin->sin_port = htons(port);
		return 0;
	}
	if (colon - s != 32)
		return -1;
	sin6->sin6_family = AF_INET6;
	for (i = 0; i < 4; i++) {
		memcpy(word, s + 8 * i, 8);
		word[8] = '\0';
		w = strtoul(word, NULL, 16);
		memcpy(&sin6->sin6_addr.s6_addr[4 * i], &w, 4);
	}
	sin6->sin6_port = htons(port);
	return 0;
}

/* Add the sockets of one /proc/.../net/tcp or tcp6 table. */
static void
read_sockets(const char *path)
{
	struct sock_entry	 e, *grown;
	char			 line[512], local[64], remote[64];
	unsigned int		 st;
	size_t			 cap = nsocks;
	FILE			*fp;

	if ((fp = fopen(path, "re")) == NULL)
		return;
	if (fgets(line, sizeof(line), fp) == NULL) {	/* the header */
		fclose(fp);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		memset(&e, 0, sizeof(e));
		if (sscanf(line, "%*s %63s %63s %x %*s %*s %*s %*s %*s %lu",
		    local, remote, &st, &e.inode) != 4 || e.inode == 0)
			continue;
		if (parse_address(local, &e.local) == -1 ||
		    parse_address(remote, &e.remote) == -1)
			continue;
		e.listening = st == 0x0a;	/* TCP_LISTEN */
		if (nsocks == cap) {
			cap = cap ? cap * 2 : 64;
			if ((grown = reallocarray(socks, cap,
			    sizeof(*socks))) == NULL)
				break;
			socks = grown;
		}
		socks[nsocks++] = e;
	}
	fclose(fp);
}

static const struct sock_entry *
find_socket(pid_t pid, unsigned long inode)
{
	char	 path[64];
	size_t	 i;
	int	 pass;

	/* The workers' own network namespace is the likely one; ours next. */
	for (pass = 0; pass < 2; pass++) {
		if (socks_read <= pass) {
			if (pass == 0)
				snprintf(path, sizeof(path), "/proc/%ld/net/",
				    (long)pid);
			else
				strlcpy(path, "/proc/self/net/", sizeof(path));
			strlcat(path, "tcp", sizeof(path));
			read_sockets(path);
			strlcat(path, "6", sizeof(path));
			read_sockets(path);
			socks_read = pass + 1;
		}
		for (i = 0; i < nsocks; i++)
			if (socks[i].inode == inode)
				return &socks[i];
	}
	return NULL;
}

static socklen_t
ss_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

/* "listener [::]:2000", "127.0.0.1:40854" (the client), "pipe", ... */
static void
describe_fd(pid_t pid, int fd, char *buf, size_t len)
{
	const struct sock_entry	*e;
	char			 path[64], link[256], name[ADDR_NAME_MAX];
	unsigned long		 inode;
	ssize_t			 n;

	snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)pid, fd);
	if ((n = readlink(path, link, sizeof(link) - 1)) == -1) {
		snprintf(buf, len, "%d", fd);
		return;
	}
	link[n] = '\0';
	if (sscanf(link, "socket:[%lu]", &inode) == 1) {
		if ((e = find_socket(pid, inode)) == NULL)
			snprintf(buf, len, "%d = socket", fd);
		else if (e->listening) {
			addr_format((const struct sockaddr *)&e->local,
			    ss_len(&e->local), name, sizeof(name));
			snprintf(buf, len, "%d = listener %s", fd, name);
		} else {
			addr_format_peer(&e->remote, ss_len(&e->remote), name,
			    sizeof(name));
			snprintf(buf, len, "%d = %s", fd, name);
		}
	} else if (strncmp(link, "pipe:", 5) == 0)
		snprintf(buf, len, "%d = pipe", fd);
	else if (strncmp(link, "anon_inode:", 11) == 0) {
		/* "anon_inode:[eventfd]", "anon_inode:[eventpoll]" */
		n = strlen(link);
		if (link[11] == '[' && link[n - 1] == ']')
			link[n - 1] = '\0';
		snprintf(buf, len, "%d = %s", fd,
		    link + (link[11] == '[' ? 12 : 11));
	} else {
		/* A file's path, truncated if long. */
		snprintf(buf, len, "%d = ", fd);
		strlcat(buf, link, len);
	}
}

/* Append ", " and s to buf, or "..." once full. */
static void
append_item(char *buf, size_t len, const char *s, int first)
{
	if (!first)
		strlcat(buf, ", ", len);
	if (strlcat(buf, s, len) >= len && len > 4)
		strlcpy(buf + len - 4, "...", 4);
}

/* Append "|" and s to buf, unless it is empty. */
static void
append_flag(char *buf, size_t len, const char *s)
{
	if (buf[0] != '\0')
		strlcat(buf, "|", len);
	strlcat(buf, s, len);
}

/* "5 = epoll [3 = listener [::]:2000, 4 = eventfd]", from its fdinfo. */
static void
describe_epoll(pid_t pid, int fd, char *buf, size_t len)
{
	char	 path[64], info[4096], item[PROC_ARG_MAX], *p;
	int	 tfd, n = 0;

	snprintf(buf, len, "%d = epoll [", fd);
	snprintf(path, sizeof(path), "/proc/%ld/fdinfo/%d", (long)pid, fd);
	if (read_file(path, info, sizeof(info)) == -1) {
		snprintf(buf, len, "%d", fd);
		return;
	}
	for (p = info; (p = strstr(p, "tfd:")) != NULL && n < SET_MAX; p++) {
		if (sscanf(p, "tfd: %d", &tfd) != 1)
			continue;
		describe_fd(pid, tfd, item, sizeof(item));
		append_item(buf, len, item, n++ == 0);
	}
	strlcat(buf, "]", len);
}

/*
 * "[3 = listener [::]:2000, 4 = listener 0.0.0.0:2000]": the array is
 * in the other process's memory, which process_vm_readv() reads with
 * the same right as ptrace.
 */
static void
describe_pollfds(pid_t pid, uint64_t addr, uint64_t count, char *buf,
    size_t len)
{
	struct pollfd	 pfd[SET_MAX];
	struct iovec	 local, remote;
	char		 item[PROC_ARG_MAX];
	size_t		 n, i;

	if (addr == 0) {
		strlcpy(buf, "NULL", len);
		return;
	}
	n = count < SET_MAX ? count : SET_MAX;
	local.iov_base = pfd;
	local.iov_len = n * sizeof(pfd[0]);
	remote.iov_base = (void *)(uintptr_t)addr;
	remote.iov_len = local.iov_len;
	if (process_vm_readv(pid, &local, 1, &remote, 1, 0) !=
	    (ssize_t)local.iov_len) {
		snprintf(buf, len, "0x%" PRIx64, addr);
		return;
	}
	strlcpy(buf, "[", len);
	for (i = 0; i < n; i++) {
		describe_fd(pid, pfd[i].fd, item, sizeof(item));
		append_item(buf, len, item, i == 0);
	}
	if (count > n)
		append_item(buf, len, "...", 0);
	strlcat(buf, "]", len);
}

/* Flags by the names of the system's headers, what is left in hex. */
static void
describe_flags(uint64_t v, int which, char *buf, size_t len)
{
	static const struct {
		int		 which;
		uint64_t	 flag;
		const char	*name;
	} flags[] = {
		{ 'a', SOCK_CLOEXEC,		"SOCK_CLOEXEC" },
		{ 'a', SOCK_NONBLOCK,		"SOCK_NONBLOCK" },
		{ 's', SPLICE_F_MOVE,		"SPLICE_F_MOVE" },
		{ 's', SPLICE_F_NONBLOCK,	"SPLICE_F_NONBLOCK" },
		{ 's', SPLICE_F_MORE,		"SPLICE_F_MORE" },
		{ 's', SPLICE_F_GIFT,		"SPLICE_F_GIFT" },
	};
	char	 rest[32];
	size_t	 i;

	buf[0] = '\0';
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (flags[i].which == which && (v & flags[i].flag) != 0) {
			append_flag(buf, len, flags[i].name);
			v &= ~flags[i].flag;
		}
	if (v != 0 || buf[0] == '\0') {
		snprintf(rest, sizeof(rest), "0x%" PRIx64, v);
		append_flag(buf, len, rest);
	}
}

static void
describe_args(pid_t pid, struct proc_call *c)
{
	const char	*spec = "xxxxxx";
	size_t		 i;
	int		 k;

	if (c->name != NULL)
		for (i = 0; i < sizeof(sysargs) / sizeof(sysargs[0]); i++)
			if (strcmp(sysargs[i].name, c->name) == 0) {
				spec = sysargs[i].args;
				break;
			}
	for (k = 0; k < PROC_ARGS && spec[k] != '\0'; k++) {
		char		*a = c->args[k];
		uint64_t	 v = c->raw[k];

		switch (spec[k]) {
		case 'f':
			describe_fd(pid, (int)v, a, PROC_ARG_MAX);
			break;
		case 'E':
			describe_epoll(pid, (int)v, a, PROC_ARG_MAX);
			break;
		case 'P':
			describe_pollfds(pid, v, k + 1 < PROC_ARGS ?
			    c->raw[k + 1] : 0, a, PROC_ARG_MAX);
			break;
		case 'p':
			if (v == 0)
				strlcpy(a, "NULL", PROC_ARG_MAX);
			else
				snprintf(a, PROC_ARG_MAX, "0x%" PRIx64, v);
			break;
		case 'd':
			snprintf(a, PROC_ARG_MAX, "%d", (int)(int32_t)v);
			break;
		case 'u':
			snprintf(a, PROC_ARG_MAX, "%" PRIu64, v);
			break;
		case 'a':
		case 's':
			describe_flags(v, spec[k], a, PROC_ARG_MAX);
			break;
		default:
			snprintf(a, PROC_ARG_MAX, "0x%" PRIx64, v);
			break;
		}
	}
	c->nargs = k;
}

/*
 * /proc/PID/syscall: "NR ARG1 ... ARG6 SP PC" while in a system call,
 * "-1 SP PC" while stopped outside one, "running" on a CPU.
 */
void
proc_call(pid_t pid, struct proc_call *c)
{
	char	 path[64], buf[512], *p, *end;
	int	 i;

	memset(c, 0, sizeof(*c));
	snprintf(path, sizeof(path), "/proc/%ld/syscall", (long)pid);
	if (read_file(path, buf, sizeof(buf)) == -1) {
		if (errno == ENOENT || errno == ESRCH)
			c->state = PROC_CALL_GONE;
		else if (errno == EACCES || errno == EPERM)
			c->state = PROC_CALL_DENIED;
		else
			c->state = PROC_CALL_UNKNOWN;
		return;
	}
	if (buf[0] == '\0') {
		c->state = PROC_CALL_GONE;
		return;
	}
	if (strncmp(buf, "running", 7) == 0) {
		c->state = PROC_CALL_RUNNING;
		return;
	}
	c->nr = strtol(buf, &end, 10);
	if (end == buf) {
		c->state = PROC_CALL_UNKNOWN;
		return;
	}
	if (c->nr < 0) {
		c->state = PROC_CALL_NONE;
		return;
	}
	p = end;
	for (i = 0; i < PROC_ARGS; i++) {
		c->raw[i] = strtoull(p, &end, 16);
		if (end == p)
			break;
		p = end;
	}
	c->state = PROC_CALL_IN;
	c->name = proc_syscall_name(c->nr);
	describe_args(pid, c);
}

/* The kernel function the process sleeps in; -1 with errno if unknown. */
int
proc_wchan(pid_t pid, char *buf, size_t len)
{
	char	 path[64];
	ssize_t	 n;

	snprintf(path, sizeof(path), "/proc/%ld/wchan", (long)pid);
	if ((n = read_file(path, buf, len)) == -1)
		return -1;
	/* "0" when running, or when the kernel hides it from us. */
	if (n == 0 || strcmp(buf, "0") == 0) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

/* /proc/PID/stack, allocated, or NULL with errno. */
char *
proc_kernel_stack(pid_t pid)
{
	char	 path[64], *buf;

	snprintf(path, sizeof(path), "/proc/%ld/stack", (long)pid);
	if ((buf = malloc(8192)) == NULL)
		return NULL;
	if (read_file(path, buf, 8192) == -1) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * CPU time, user and system, in ms, from /proc/PID/stat (anyone's):
 * fields 14 and 15, counted after the command name's closing
 * parenthesis, since the name itself may hold spaces and parentheses.
 */
int
proc_cpu_ms(pid_t pid, uint64_t *ms)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 utime, stime;
	long			 hz;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu", &utime, &stime) != 2)
		return -1;
	if ((hz = sysconf(_SC_CLK_TCK)) <= 0)
		hz = 100;
	*ms = (utime + stime) * 1000 / hz;
	return 0;
}
