/*
 * The workers' resource limits (limits.c).
 */

#ifndef ECHOD_LIMITS_H
#define ECHOD_LIMITS_H

#include "conf.h"

void	limits_apply(const struct config *);
void	limits_allow_core(const struct config *);
void	limits_check(const struct config *);

#endif /* ECHOD_LIMITS_H */
