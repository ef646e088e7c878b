/*
 * libFuzzer harness for the echod.conf parser: any input must give a
 * configuration or an error message, never a crash, a sanitizer report
 * or a leak.  Built by "make fuzz" with clang; see tests/Makefile.inc.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*conf;
	char		 err[1024];
	FILE		*fp;

	/* Host names would be looked up in DNS: numeric addresses only. */
	config_resolve_names = 0;
	if (size == 0 || (fp = fmemopen((void *)data, size, "r")) == NULL)
		return 0;
	conf = config_parse(fp, "fuzz.conf", err, sizeof(err));
	config_free(conf);
	fclose(fp);
	return 0;
}
