/*
 * Counts for people (human.h).
 */

#include <inttypes.h>
#include <stdio.h>

#include "human.h"

/* 1234, 12.3K, 123M: at most 5 characters. */
const char *
human_bytes(uint64_t n, char *buf, size_t len)
{
	const char	*unit = "KMGTP";
	double		 v = n;

	if (n < 10000) {
		snprintf(buf, len, "%" PRIu64, n);
		return buf;
	}
	v /= 1024;
	while (v >= 1000 && unit[1] != '\0') {
		v /= 1024;
		unit++;
	}
	snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, *unit);
	return buf;
}
