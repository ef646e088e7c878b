/*
 * Text buffers (buf.h).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/*
 * Append to b.  Out of memory, b keeps what it had and is marked oom,
 * and nothing more is appended: a reader must not take a cut text for
 * a whole one.
 */
void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*grown;
	int	 n;
	size_t	 need;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->data ? b->data + b->len : NULL,
		    b->data ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->data != NULL && b->len + n < b->cap) {
			b->len += n;
			return;
		}
		need = b->len + n + 1;
		need = need < 4096 ? 4096 : need * 2;
		if ((grown = realloc(b->data, need)) == NULL) {
			b->oom = 1;
			return;
		}
		b->data = grown;
		b->cap = need;
	}
}

/* A string as a JSON string, with the few escapes a path may need. */
void
buf_json_string(struct buf *b, const char *s)
{
	buf_printf(b, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf_printf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			buf_printf(b, "\\u%04x", (unsigned char)*s);
		else
			buf_printf(b, "%c", *s);
	}
	buf_printf(b, "\"");
}

void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
