/*
 * Counts for people, as echodctl's tables show them: shared by the
 * master's answers (report.c) and echodctl, which fills in the column
 * the master leaves to it.
 */

#ifndef ECHOD_HUMAN_H
#define ECHOD_HUMAN_H

#include <stddef.h>
#include <stdint.h>

const char	*human_bytes(uint64_t, char *, size_t);

#endif /* ECHOD_HUMAN_H */
