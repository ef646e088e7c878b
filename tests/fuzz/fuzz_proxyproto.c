/*
 * libFuzzer harness for the PROXY protocol parser: any bytes must give
 * a verdict, never a crash or a sanitizer report, and the verdicts must
 * hang together the way worker.c relies on them:
 *
 * - a whole header is never longer than the bytes it was found in, nor
 *   than the protocol allows;
 * - the same header is found in its own bytes alone (the client's data
 *   after it plays no part);
 * - every shorter prefix of it asks for more, since the worker consumes
 *   the bytes of an unfinished header and waits for the rest.
 *
 * A broken rule aborts, which libFuzzer reports as a crash.  Built by
 * "make fuzz" with clang; see tests/Makefile.inc.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_header	 ph, again;
	const char		*why = NULL;
	size_t			 k, step;

	switch (proxy_parse(data, size, &ph, &why)) {
	case PROXY_MORE:
		if (size >= PROXY_HEADER_MAX)
			abort();
		return 0;
	case PROXY_INVALID:
		if (why == NULL)
			abort();
		return 0;
	case PROXY_DONE:
		break;
	}
	if (ph.len == 0 || ph.len > size || ph.len > PROXY_HEADER_MAX ||
	    (ph.version == 1 && ph.len > PROXY_V1_MAX) ||
	    (ph.version != 1 && ph.version != 2))
		abort();
	if (proxy_parse(data, ph.len, &again, &why) != PROXY_DONE ||
	    memcmp(&ph, &again, sizeof(ph)) != 0)
		abort();
	/* Every prefix of a short header; a long one's in 97-byte steps. */
	step = ph.len > 512 ? 97 : 1;
	for (k = 0; k < ph.len; k += step)
		if (proxy_parse(data, k, &again, &why) != PROXY_MORE)
			abort();
	return 0;
}
