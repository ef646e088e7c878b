/*
 * Process titles.
 *
 * The kernel shows as /proc/PID/cmdline (and so ps and pgrep -a show)
 * the memory in which the command line was handed to us: the argument
 * strings, each with its NUL, and, in a case below, the environment's
 * strings that follow them.  libbsd's setproctitle_init() copies both
 * elsewhere (and the program name), so that this memory may be written
 * over; but its setproctitle() then leaves a '.' or a ' ' at the place
 * of argv[0]'s old NUL, for kernels long gone, and today's kernel shows
 * that byte, and every NUL up to the end of the arguments, as part of
 * the title.  So titles are written here, in that same memory.
 *
 * What the kernel shows (fs/proc/base.c, get_mm_cmdline()): if the last
 * byte of the arguments is NUL, all of the arguments' bytes; if it is
 * not, the string that starts there, up to its NUL, running on into the
 * environment if need be.  So a title shorter than the arguments ends
 * with its NUL and leaves that last byte not NUL, one as long ends
 * there, and a longer one runs on into the environment's room: in every
 * case /proc/PID/cmdline is the title and one NUL.  A title that does
 * not fit in both is cut short.
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "title.h"

extern char	**environ;

/* Room for a long configuration path; the kernel shows one page. */
#define TITLE_MAX	2048

static char	*area;		/* argv[0]: where the kernel's view starts */
static size_t	 args_len;	/* the arguments' bytes, NULs included */
static size_t	 area_len;	/* with the environment's after them */
static size_t	 dirty;		/* bytes from area on not known to be NUL */
static char	 prefix[64];	/* "echod: " */
static size_t	 prefix_len;
static int	 prefixed;	/* the area starts with the prefix */

static int
inside(const char *p, const char *start, size_t len)
{
	return p >= start && p < start + len;
}

/*
 * Before anything has looked at the environment: setproctitle_init()
 * replaces it.
 */
void
title_init(int argc, char *argv[], char *envp[])
{
	char	*start, *end;
	size_t	 nargs;
	int	 i;

	if (argc < 1 || argv[0] == NULL)
		return;
	start = end = argv[0];
	for (i = 0; i < argc; i++) {
		if (argv[i] != end)
			return;		/* not the kernel's layout */
		end += strlen(argv[i]) + 1;
	}
	nargs = end - start;
	for (i = 0; envp[i] != NULL && envp[i] == end; i++)
		end += strlen(envp[i]) + 1;

	setproctitle_init(argc, argv, envp);
	(void)snprintf(prefix, sizeof(prefix), "%s: ", getprogname());
	prefix_len = strlen(prefix);

	/*
	 * Only what has been copied elsewhere may be written over: if
	 * libbsd ran out of memory, some argument (the -f file) or the
	 * environment may still live here.
	 */
	for (i = 1; i < argc; i++)
		if (inside(argv[i], start, end - start))
			return;
	for (i = 0; environ != NULL && environ[i] != NULL; i++)
		if (inside(environ[i], start, end - start)) {
			end = start + nargs;
			break;
		}
	if (end - start < 2)
		return;
	area = start;
	args_len = nargs;
	area_len = end - start;
	dirty = area_len;
}

/* The title is the first len bytes of the area: end it there. */
static void
title_end(size_t len)
{
	if (dirty > len)
		memset(area + len, '\0', dirty - len);
	else
		area[len] = '\0';
	dirty = len + 1;
	/* Shorter than the arguments: the kernel is to stop at its NUL. */
	if (len + 1 < args_len) {
		area[args_len - 1] = ' ';
		dirty = args_len;
	}
}

/*
 * The title, len bytes of buf (which starts with the prefix), written
 * over the area: only what it must, and no system call.
 */
static void
title_write(const char *buf, size_t len)
{
	if (len > area_len - 1)
		len = area_len - 1;
	memcpy(area, buf, len);
	prefixed = len >= prefix_len;
	title_end(len);
}

/* "echod: " and the title. */
void
title_set(const char *fmt, ...)
{
	char	 buf[TITLE_MAX];
	va_list	 ap;
	size_t	 len;
	int	 n;

	if (area == NULL)
		return;
	len = strlcpy(buf, prefix, sizeof(buf));
	va_start(ap, fmt);
	n = vsnprintf(buf + len, sizeof(buf) - len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	title_write(buf, strnlen(buf, sizeof(buf)));
}

/*
 * The same for a title that is a string already, without a format:
 * the workers set theirs twice per connection, and vsnprintf() was a
 * good part of a connection's user-space time (BENCHMARKS.md, "Where a
 * connection's time goes").  Where the prefix is in the area already,
 * and the title fits after it, only the title is written.
 */
void
title_set_str(const char *title)
{
	char	 buf[TITLE_MAX];
	size_t	 tlen;

	if (area == NULL)
		return;
	tlen = strnlen(title, sizeof(buf) - 1 - prefix_len);
	if (prefixed && prefix_len + tlen <= area_len - 1) {
		memcpy(area + prefix_len, title, tlen);
		title_end(prefix_len + tlen);
		return;
	}
	memcpy(buf, prefix, prefix_len);
	memcpy(buf + prefix_len, title, tlen);
	title_write(buf, prefix_len + tlen);
}
