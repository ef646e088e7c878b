/*
 * echodctl: a live view into a running echod, through its control
 * socket (see control.c for the protocol).
 *
 *   echodctl [-j] [-s socket] [-t seconds] status | workers | conns |
 *       metrics | stack [-k] [pid] | reload | upgrade | stop [-g]
 *
 * The master composes the answer; echodctl sends one line, prints what
 * comes back, and turns an "error:" answer into a message on stderr and
 * exit status 1.  Each command has a deadline, the connection included,
 * past which echodctl gives up with exit status 3.  What only /proc
 * tells of a worker, its resident memory and CPU time and, for stack,
 * its system call, echodctl reads itself (procinfo.c), beside the
 * master's answer (report.c says why).
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "pathnames.h"
#include "human.h"
#include "procinfo.h"

/*
 * How long a command may take, from the connection to the end of the
 * answer: a master that is stopped or wedged, or a control socket whose
 * queue is full, must not hold a script or a monitor for ever.  The
 * master answers a query at once, and a reload once the new generation
 * serves, which it gives 10 s (master.c): a little more here, so that
 * its own verdict arrives.
 */
#define DEADLINE_S		5
#define DEADLINE_RELOAD_S	15
/* An upgrade's new master has 10 s to serve (upgrade.h), likewise. */
#define DEADLINE_UPGRADE_S	15
/* The deadline passed: the command may or may not have been carried out. */
#define EXIT_DEADLINE		3

static int	deadline_s;
static int64_t	deadline;

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: echodctl [-j] [-s socket] [-t seconds] "
	    "command\n"
	    "commands: status, workers, conns, metrics, stack [-k] [pid], "
	    "reload, upgrade, stop [-g]\n");
	exit(2);
}

/* Milliseconds to the deadline; none left ends echodctl, saying why. */
static int
time_left(const char *what, const char *why)
{
	int64_t	 left = deadline - clock_ms();

	if (left <= 0)
		errx(EXIT_DEADLINE, "%s within %d s%s", what, deadline_s, why);
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Wait, until the deadline, for fd to be ready for events. */
static void
wait_fd(int fd, short events, const char *what)
{
	struct pollfd	 pfd;
	int		 n;

	pfd.fd = fd;
	pfd.events = events;
	while ((n = poll(&pfd, 1, time_left(what, ""))) != 1) {
		if (n == -1 && errno != EINTR)
			err(1, "poll");
	}
}

/*
 * A UNIX-domain connect() does not wait for the master to accept, only
 * for room in its listening socket's queue; when that is full (the
 * master is stopped, or flooded), it blocks, as long as SO_SNDTIMEO
 * allows, and is woken as soon as there is room.  O_NONBLOCK would
 * only say EAGAIN and leave us to retry blindly.
 */
static int
connect_control(const char *path)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv;
	char			 what[sizeof(sun.sun_path) + 64];
	int			 fd, left;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(1, "%s: path too long", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	snprintf(what, sizeof(what), "%s: echod did not take the connection",
	    path);
	for (;;) {
		left = time_left(what, " (stopped, or its queue is full)");
		tv.tv_sec = left / 1000;
		tv.tv_usec = (left % 1000) * 1000;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
		    sizeof(tv)) == -1)
			err(1, "setsockopt SO_SNDTIMEO");
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		if (errno == EINTR || errno == EAGAIN ||
		    errno == EINPROGRESS)
			continue;	/* time_left() decides */
		if (errno == ENOENT || errno == ECONNREFUSED)
			errx(1, "no echod is running on %s (%s)", path,
			    strerror(errno));
		if (errno == EACCES || errno == EPERM)
			errx(1, "%s: permission denied (root or the control "
			    "group only)", path);
		err(1, "%s", path);
	}
	/* From here on, poll() keeps the deadline. */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		err(1, "fcntl O_NONBLOCK");
	return fd;
}

/* Write the whole command, or exit. */
static void
send_command(int fd, const char *line)
{
	size_t	 len = strlen(line), off = 0;
	ssize_t	 n;

	while (off < len) {
		wait_fd(fd, POLLOUT, "no answer from echod");
		if ((n = write(fd, line + off, len - off)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err(1, "write");
		}
		off += n;
	}
}

/*
 * Send one command line and read the whole answer, NUL-terminated, its
 * length in *lenp; the deadline ends echodctl.
 */
static char *
ask(const char *path, const char *line, size_t *lenp)
{
	char		 buf[8192], *answer = NULL, *grown;
	size_t		 len = 0, cap = 0;
	ssize_t		 n;
	int		 fd;

	fd = connect_control(path);
	send_command(fd, line);
	for (;;) {
		wait_fd(fd, POLLIN, "no answer from echod");
		if ((n = read(fd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err(1, "read");
		}
		if (n == 0)
			break;
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			if ((grown = realloc(answer, cap)) == NULL)
				err(1, "realloc");
			answer = grown;
		}
		memcpy(answer + len, buf, n);
		len += n;
	}
	close(fd);
	if (answer == NULL)
		errx(1, "echod closed the control connection without an answer");
	answer[len] = '\0';
	*lenp = len;
	return answer;
}

/*
 * The body of an answer, after its first line, which is "ok",
 * "ok: ..." or "error: ..."; an error ends echodctl with its message.
 */
static char *
answer_body(char *answer, size_t len)
{
	char	*body;

	if ((body = strchr(answer, '\n')) != NULL)
		*body++ = '\0';
	else
		body = answer + len;
	if (strncmp(answer, "error: ", 7) == 0) {
		fprintf(stderr, "echodctl: %s\n", answer + 7);
		exit(1);
	}
	if (strncmp(answer, "ok", 2) != 0)
		errx(1, "unexpected answer: %s", answer);
	return body;
}

/*
 * Reading the master's JSON: only the flat objects of its "workers"
 * array, whose fields are numbers, strings and null (echodctl(8)).
 */

/* The end of the object or array that starts at p, past strings. */
static const char *
json_close(const char *p)
{
	int	 depth = 0, in_string = 0;

	for (; *p != '\0'; p++) {
		if (in_string) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_string = 0;
		} else if (*p == '"')
			in_string = 1;
		else if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && --depth == 0)
			return p;
	}
	return NULL;
}

/* The value of "key" in the object [obj, end), or NULL. */
static const char *
json_value(const char *obj, const char *end, const char *key)
{
	char		 pat[64];
	const char	*p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(obj, pat)) == NULL || p >= end)
		return NULL;
	return p + strlen(pat);
}

/* A string value into buf ("" for null or none); 0 if there was one. */
static int
json_string_value(const char *obj, const char *end, const char *key,
    char *buf, size_t len)
{
	const char	*p;
	size_t		 n = 0;

	buf[0] = '\0';
	if ((p = json_value(obj, end, key)) == NULL || *p != '"')
		return -1;
	for (p++; *p != '\0' && *p != '"' && p < end; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (n + 1 < len)
			buf[n++] = *p;
	}
	buf[n] = '\0';
	return 0;
}

/* A number, or -1 for null or none. */
static double
json_number_value(const char *obj, const char *end, const char *key)
{
	const char	*p;

	if ((p = json_value(obj, end, key)) == NULL || *p == 'n')
		return -1;
	return strtod(p, NULL);
}

static void
json_print_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

/* 59s, 59m, 23h, 9d. */
static const char *
human_seconds(double secs, char *buf, size_t len)
{
	long long	 s = secs > 0 ? (long long)secs : 0;

	if (s < 60)
		snprintf(buf, len, "%llds", s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(buf, len, "%lldh", s / 3600);
	else
		snprintf(buf, len, "%lldd", s / 86400);
	return buf;
}

/* A worker as the master's scoreboard shows it, for stack. */
struct stack_worker {
	long		 pid;
	long		 generation;
	char		 state[16];
	char		 peer[128];
	double		 connection_age;	/* -1: not busy */
	double		 idle;			/* -1: not idle */
};

/* Print one worker, as text or as JSON; 1 if its system call was hidden. */
static int
stack_worker(const struct stack_worker *w, int json, int kernel, int first)
{
	struct proc_call	 c;
	char			 wchan[128], age[32], *kstack = NULL, *line;
	char			*next;
	int			 i, have_wchan, kstack_errno = 0;

	proc_call((pid_t)w->pid, &c);
	have_wchan = proc_wchan((pid_t)w->pid, wchan, sizeof(wchan)) == 0;
	if (kernel && (kstack = proc_kernel_stack((pid_t)w->pid)) == NULL)
		kstack_errno = errno;
	if (json) {
		printf("%s{\"pid\":%ld,\"generation\":%ld,\"state\":",
		    first ? "" : ",", w->pid, w->generation);
		json_print_string(w->state);
		printf(",\"peer\":");
		if (w->peer[0] != '\0')
			json_print_string(w->peer);
		else
			printf("null");
		printf(",\"connection_age\":");
		printf(w->connection_age >= 0 ? "%.3f" : "null",
		    w->connection_age);
		printf(",\"idle\":");
		printf(w->idle >= 0 ? "%.3f" : "null", w->idle);
		printf(",\"call\":\"%s\",\"syscall\":",
		    proc_call_state_name(c.state));
		if (c.state == PROC_CALL_IN) {
			printf("{\"nr\":%ld,\"name\":", c.nr);
			if (c.name != NULL)
				json_print_string(c.name);
			else
				printf("null");
			printf(",\"args\":[");
			for (i = 0; i < c.nargs; i++) {
				printf("%s", i ? "," : "");
				json_print_string(c.args[i]);
			}
			printf("]}");
		} else
			printf("null");
		printf(",\"wchan\":");
		if (have_wchan)
			json_print_string(wchan);
		else
			printf("null");
		if (kernel) {
			printf(",\"kernel_stack\":");
			if (kstack == NULL)
				printf("null");
			else {
				printf("[");
				for (line = kstack, i = 0; *line != '\0';
				    line = next) {
					if ((next = strchr(line, '\n')) ==
					    NULL)
						next = line + strlen(line);
					else
						*next++ = '\0';
					printf("%s", i++ ? "," : "");
					json_print_string(line);
				}
				printf("]");
			}
		}
		printf("}");
	} else {
		printf("%ld  gen %ld  %s", w->pid, w->generation, w->state);
		if (w->connection_age >= 0)
			printf(" for %s", human_seconds(w->connection_age,
			    age, sizeof(age)));
		else if (w->idle >= 0)
			printf(" for %s", human_seconds(w->idle, age,
			    sizeof(age)));
		if (w->peer[0] != '\0')
			printf(" with %s", w->peer);
		printf("\n");
		if (c.state == PROC_CALL_IN) {
			if (c.name != NULL)
				printf("    %s(", c.name);
			else
				printf("    syscall %ld(", c.nr);
			for (i = 0; i < c.nargs; i++)
				printf("%s%s", i ? ", " : "", c.args[i]);
			printf(")\n");
		} else if (c.state == PROC_CALL_RUNNING)
			printf("    running, in user space\n");
		else if (c.state == PROC_CALL_NONE)
			printf("    stopped, not in a system call\n");
		else if (c.state == PROC_CALL_GONE)
			printf("    exited\n");
		if (have_wchan)
			printf("    wchan %s\n", wchan);
		if (kernel && kstack != NULL) {
			printf("    kernel stack:\n");
			for (line = kstack; *line != '\0'; line = next) {
				if ((next = strchr(line, '\n')) == NULL)
					next = line + strlen(line);
				else
					*next++ = '\0';
				printf("        %s\n", line);
			}
		} else if (kernel && c.state != PROC_CALL_GONE &&
		    c.state != PROC_CALL_DENIED)
			printf("    kernel stack: %s (root with "
			    "CAP_SYS_ADMIN only)\n", strerror(kstack_errno));
	}
	free(kstack);
	return c.state == PROC_CALL_DENIED;
}

/*
 * echodctl stack [-k] [PID]: the master's scoreboard gives each
 * worker's state, client and time in that state (its "workers json"
 * answer); /proc gives, to root only, the system call the worker is in,
 * its wait channel and (-k) its kernel stack.  echodctl reads those
 * itself: the master has no right to them under the shipped unit, and
 * is not to wait on a slow /proc read for one client.
 */
static int
stack(const char *path, int json, int argc, char *argv[])
{
	struct stack_worker	 w;
	const char		*errstr, *p, *end, *arr_end;
	char			*answer, *body;
	size_t			 len;
	long			 want = 0;
	int			 kernel = 0, shown = 0, hidden = 0, i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-k") == 0)
			kernel = 1;
		else if (want == 0) {
			want = strtonum(argv[i], 1, INT_MAX, &errstr);
			if (errstr != NULL) {
				warnx("stack %s: pid %s", argv[i], errstr);
				usage();
			}
		} else
			usage();
	}
	if (deadline_s == 0)
		deadline_s = DEADLINE_S;
	deadline = clock_ms() + (int64_t)deadline_s * 1000;
	answer = ask(path, "workers json\n", &len);
	body = answer_body(answer, len);
	if ((p = strstr(body, "\"workers\":[")) == NULL ||
	    (arr_end = json_close(p + 10)) == NULL)
		errx(1, "unexpected answer to workers: %s", body);
	if (json)
		printf("{\"workers\":[");
	for (p += 11; p < arr_end && (p = strchr(p, '{')) != NULL &&
	    p < arr_end; p = end + 1) {
		if ((end = json_close(p)) == NULL)
			break;
		memset(&w, 0, sizeof(w));
		w.pid = (long)json_number_value(p, end, "pid");
		w.generation = (long)json_number_value(p, end, "generation");
		json_string_value(p, end, "state", w.state, sizeof(w.state));
		json_string_value(p, end, "peer", w.peer, sizeof(w.peer));
		w.connection_age = json_number_value(p, end, "connection_age");
		w.idle = json_number_value(p, end, "idle");
		if (w.pid <= 0 || (want != 0 && w.pid != want))
			continue;
		hidden |= stack_worker(&w, json, kernel, shown++ == 0);
	}
	if (json)
		printf("],\"syscalls_shown\":%s}\n", hidden ? "false" : "true");
	else if (hidden)
		printf("(system calls, wait channels and kernel stacks not "
		    "shown: they are root's, with CAP_SYS_PTRACE)\n");
	free(answer);
	if (want != 0 && shown == 0)
		errx(1, "%ld is not a worker of this echod", want);
	return 0;
}

/*
 * echodctl workers: each worker's CPU time, user and system, which
 * echodctl reads from /proc/PID/stat (anyone's) rather than the master
 * from its loop; "-" or null if the worker has just exited.  As text, a
 * CPU column at the end of each line; in JSON (workers and status), a
 * "cpu" field after each worker's "pid".  Returns body itself when
 * there is nothing to add, else a new string.
 */
static char *
with_cpu(const char *command, int json, char *body)
{
	const char	*p, *q, *eol, *workers;
	char		*out = NULL, val[32];
	size_t		 outlen = 0;
	uint64_t	 ms;
	long		 pid;
	FILE		*fp;

	if (strcmp(command, "workers") != 0 &&
	    !(json && strcmp(command, "status") == 0))
		return body;
	if ((fp = open_memstream(&out, &outlen)) == NULL)
		err(1, "open_memstream");
	if (json) {
		if ((workers = strstr(body, "\"workers\":[")) == NULL) {
			fclose(fp);
			free(out);
			return body;
		}
		for (p = body; (q = strstr(p, "{\"pid\":")) != NULL; p = q) {
			q += 7;
			pid = strtol(q, (char **)&eol, 10);
			fwrite(p, 1, eol - p, fp);
			q = eol;
			if (q < workers)
				continue;	/* the master's own pid */
			if (pid > 0 && proc_cpu_ms((pid_t)pid, &ms) == 0)
				fprintf(fp, ",\"cpu\":%.3f", ms / 1000.0);
			else
				fprintf(fp, ",\"cpu\":null");
		}
		fputs(p, fp);
	} else {
		for (p = body; *p != '\0'; p = eol + 1) {
			if ((eol = strchr(p, '\n')) == NULL) {
				fputs(p, fp);
				break;
			}
			fwrite(p, 1, eol - p, fp);
			pid = strtol(p, NULL, 10);
			if (p == body)
				fprintf(fp, " %3s", "CPU");
			else if (pid > 0 && proc_cpu_ms((pid_t)pid, &ms) == 0)
				fprintf(fp, " %3s", human_seconds(ms / 1000.0,
				    val, sizeof(val)));
			else
				fprintf(fp, " %3s", "-");
			fputc('\n', fp);
		}
	}
	if (fclose(fp) != 0)
		err(1, "open_memstream");
	return out;
}

/*
 * A process's resident memory, in bytes, from /proc/PID/statm (which
 * anyone may read); 0 if the process has just exited, -1 if the file
 * cannot be read (a /proc mounted with hidepid=, say).
 */
static int64_t
resident(long pid)
{
	char		 path[64], buf[128];
	long long	 size, rss;
	ssize_t		 n;
	int		 fd;

	snprintf(path, sizeof(path), "/proc/%ld/statm", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n == 0 || errno == ESRCH ? 0 : -1;
	buf[n] = '\0';
	if (sscanf(buf, "%lld %lld", &size, &rss) != 2 || rss < 0)
		return -1;
	return rss * (int64_t)sysconf(_SC_PAGESIZE);
}

/*
 * The JSON of status and workers: each worker's object starts with its
 * "pid" and ends with "rss":null, the master's placeholder, written out
 * here with the number.  Neither "pid": nor "rss": can occur within a
 * JSON string, whose quotes are escaped.
 */
static void
print_json_rss(FILE *fp, const char *body)
{
	static const char	 hole[] = "\"rss\":null";
	const char		*p = body, *q, *k;
	long			 pid;
	int64_t			 rss;

	while ((q = strstr(p, hole)) != NULL) {
		pid = -1;
		for (k = p; (k = strstr(k, "\"pid\":")) != NULL && k < q; k++)
			pid = strtol(k + 6, NULL, 10);
		fwrite(p, 1, q - p, fp);
		if (pid > 0 && (rss = resident(pid)) >= 0)
			fprintf(fp, "\"rss\":%" PRId64, rss);
		else
			fputs(hole, fp);
		p = q + sizeof(hole) - 1;
	}
	fputs(p, fp);
}

/*
 * The table of workers: a header, then a line per worker that begins
 * with its pid and ends with the RSS column, 5 characters that the
 * master leaves as "-".
 */
static void
print_table_rss(FILE *fp, const char *body)
{
	const char	*p = body, *eol;
	char		 rss[16];
	size_t		 len;
	int64_t		 n;
	long		 pid;

	for (; *p != '\0'; p = eol) {
		if ((eol = strchr(p, '\n')) != NULL)
			eol++;
		else
			eol = p + strlen(p);
		len = eol - p;
		pid = strtol(p, NULL, 10);
		if (p == body || pid <= 0 || len < 7 ||
		    strncmp(eol - 6, "    -\n", 6) != 0 ||
		    (n = resident(pid)) < 0) {
			fwrite(p, 1, len, fp);
			continue;
		}
		fwrite(p, 1, len - 6, fp);
		fprintf(fp, "%5s\n", human_bytes(n, rss, sizeof(rss)));
	}
}

/* What echod answered, with the workers' memory where it belongs. */
static void
print_answer(FILE *fp, const char *command, int json, const char *body)
{
	if (json && (strcmp(command, "status") == 0 ||
	    strcmp(command, "workers") == 0))
		print_json_rss(fp, body);
	else if (!json && strcmp(command, "workers") == 0)
		print_table_rss(fp, body);
	else
		fputs(body, fp);
}

int
main(int argc, char *argv[])
{
	const char	*path = DEFAULT_CONTROL;
	const char	*errstr;
	char		 line[128], *answer, *body, *shown, *filled = NULL;
	size_t		 len, filledlen = 0;
	FILE		*fp;
	int		 ch, json = 0, graceful = 0;

	/* An echod that goes away mid-command is reported, not fatal. */
	signal(SIGPIPE, SIG_IGN);

	while ((ch = getopt(argc, argv, "+js:t:")) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 's':
			path = optarg;
			break;
		case 't':
			deadline_s = strtonum(optarg, 1, 3600, &errstr);
			if (errstr != NULL) {
				warnx("-t %s: %s", optarg, errstr);
				usage();
			}
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc >= 1 && strcmp(argv[0], "stack") == 0)
		return stack(path, json, argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[0], "stop") == 0 &&
	    strcmp(argv[1], "-g") == 0)
		graceful = 1;
	else if (argc != 1)
		usage();
	if (strcmp(argv[0], "status") != 0 && strcmp(argv[0], "workers") != 0 &&
	    strcmp(argv[0], "conns") != 0 && strcmp(argv[0], "metrics") != 0 &&
	    strcmp(argv[0], "reload") != 0 && strcmp(argv[0], "stop") != 0 &&
	    strcmp(argv[0], "upgrade") != 0)
		usage();
	if (deadline_s == 0)
		deadline_s = strcmp(argv[0], "reload") == 0 ?
		    DEADLINE_RELOAD_S : strcmp(argv[0], "upgrade") == 0 ?
		    DEADLINE_UPGRADE_S : DEADLINE_S;
	deadline = clock_ms() + (int64_t)deadline_s * 1000;

	snprintf(line, sizeof(line), "%s%s%s\n", argv[0], graceful ? " -g" : "",
	    json ? " json" : "");
	answer = ask(path, line, &len);

	body = answer_body(answer, len);
	/* reload, upgrade and stop answer on the first line: "ok: what happened". */
	if (answer[2] == ':' && answer[3] == ' ') {
		if (json) {
			printf("{\"ok\":true,\"message\":\"");
			for (body = answer + 4; *body != '\0'; body++)
				printf(*body == '"' || *body == '\\' ?
				    "\\%c" : "%c", *body);
			printf("\"}\n");
		} else
			printf("%s\n", answer + 4);
	} else {
		/* The memory first, into the master's RSS column; then CPU. */
		if ((fp = open_memstream(&filled, &filledlen)) == NULL)
			err(1, "open_memstream");
		print_answer(fp, argv[0], json, body);
		if (fclose(fp) != 0)
			err(1, "open_memstream");
		shown = with_cpu(argv[0], json, filled);
		fputs(shown, stdout);
		if (shown != filled)
			free(shown);
		free(filled);
	}
	free(answer);
	return 0;
}
