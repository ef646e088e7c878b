/*
 * What /proc tells about another process, for echodctl: the system call
 * it is in, with its arguments made readable (descriptors named by what
 * they are: a listener, a client, a pipe, an epoll set), its kernel wait
 * channel and stack, and its CPU time.  Nothing here asks the master.
 */

#ifndef ECHOD_PROCINFO_H
#define ECHOD_PROCINFO_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define PROC_ARGS	6
#define PROC_ARG_MAX	256

/* What /proc/PID/syscall said. */
enum proc_call_state {
	PROC_CALL_IN,		/* in a system call: nr and args */
	PROC_CALL_RUNNING,	/* on a CPU, in user space */
	PROC_CALL_NONE,		/* stopped, not in a system call */
	PROC_CALL_DENIED,	/* not ours to read (not root) */
	PROC_CALL_GONE,		/* the process has exited */
	PROC_CALL_UNKNOWN,	/* unreadable for another reason */
};

struct proc_call {
	enum proc_call_state	 state;
	long			 nr;
	uint64_t		 raw[PROC_ARGS];	/* as the kernel shows */
	const char		*name;	/* NULL: a number unknown here */
	int			 nargs;	/* of args[] that are set */
	char			 args[PROC_ARGS][PROC_ARG_MAX];
};

void		 proc_call(pid_t, struct proc_call *);
const char	*proc_call_state_name(enum proc_call_state);
const char	*proc_syscall_name(long);
int		 proc_wchan(pid_t, char *, size_t);
char		*proc_kernel_stack(pid_t);
int		 proc_cpu_ms(pid_t, uint64_t *);

#endif /* ECHOD_PROCINFO_H */
