/*
 * The scoreboard's memory, and the totals read from it.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <string.h>

#include "clock.h"
#include "scoreboard.h"

/*
 * Shared, anonymous, and mapped before the first fork: every worker
 * sees the same pages.  Only the pages of slots in use are ever touched,
 * so the table's size costs address space, not memory.
 */
struct scoreboard *
scoreboard_create(void)
{
	struct scoreboard	*sb;

	sb = mmap(NULL, sizeof(*sb), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sb == MAP_FAILED)
		return NULL;
	sb->started = clock_ms();
	return sb;
}

void
scoreboard_totals(const struct scoreboard *sb, struct totals *t)
{
	uint32_t	 i, high;

	t->connections = sb->retired_connections;
	t->bytes_in = sb->retired_bytes_in;
	t->bytes_out = sb->retired_bytes_out;
	t->timeouts = sb->retired_timeouts;
	t->refused = sb->retired_refused;
	t->errors = sb->retired_errors;
	high = __atomic_load_n(&sb->high_water, __ATOMIC_ACQUIRE);
	for (i = 0; i < high; i++) {
		const struct slot *s = &sb->slots[i];

		t->connections += __atomic_load_n(&s->connections,
		    __ATOMIC_RELAXED);
		t->bytes_in += __atomic_load_n(&s->bytes_in, __ATOMIC_RELAXED);
		t->bytes_out += __atomic_load_n(&s->bytes_out,
		    __ATOMIC_RELAXED);
		t->timeouts += __atomic_load_n(&s->timeouts, __ATOMIC_RELAXED);
		t->refused += __atomic_load_n(&s->refused, __ATOMIC_RELAXED);
		t->errors += __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
	}
}
