/*
 * A worker's privilege drop (privdrop.c).
 */

#ifndef ECHOD_PRIVDROP_H
#define ECHOD_PRIVDROP_H

#include "conf.h"

int	privdrop_applies(const struct config *);
int	privdrop(const struct config *);

#endif /* ECHOD_PRIVDROP_H */
