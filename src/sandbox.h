/*
 * The workers' seccomp sandbox (sandbox.c), built with libseccomp only.
 */

#ifndef ECHOD_SANDBOX_H
#define ECHOD_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#ifdef HAVE_SECCOMP
int	sandbox_prepare(void);
int	sandbox_enter(volatile int32_t *);
void	sandbox_syscall_name(int32_t, char *, size_t);
#endif

#endif /* ECHOD_SANDBOX_H */
