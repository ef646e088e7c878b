/*
 * A growing text buffer (buf.c): the answer to a control command is
 * composed in one, by report.c and master.c, and written out by
 * control.c as fast as the client reads it.
 */

#ifndef ECHOD_BUF_H
#define ECHOD_BUF_H

#include <stddef.h>

struct buf {
	char		*data;
	size_t		 len, cap;
	int		 oom;	/* a printf did not fit: the text is cut */
};

void	buf_printf(struct buf *, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
void	buf_json_string(struct buf *, const char *);
void	buf_free(struct buf *);

#endif /* ECHOD_BUF_H */
