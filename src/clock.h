/*
 * The one clock echod keeps time by: CLOCK_MONOTONIC, which no one can
 * set back.  A vDSO call, not a system call, so the workers may read it
 * on their hot path.
 */

#ifndef ECHOD_CLOCK_H
#define ECHOD_CLOCK_H

#include <stdint.h>

int64_t		 clock_ms(void);	/* milliseconds */
uint64_t	 clock_us(void);	/* microseconds, for systemd */

#endif /* ECHOD_CLOCK_H */
