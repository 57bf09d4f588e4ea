/* proc.h: child processes of pollux-scale, run in their own process groups
 * with stdout and stderr read through pipes. */
#ifndef POLLUX_SCALE_PROC_H
#define POLLUX_SCALE_PROC_H

#include "scale.h"

#define PROC_MAX 4			/* children one pump watches */
#define PROC_MAX_OUT (4u << 20)		/* stdout kept, at most */

struct proc {
	pid_t pid;		/* also the process group id; -1: none */
	const char *name;
	int out_fd, err_fd;	/* -1 once at EOF */
	char *out;		/* all of stdout, NUL-terminated */
	size_t outlen, outcap;
	char err[1024];		/* the tail of stderr */
	size_t errlen;
	int exited, status;	/* reaped, and its wait status */
};

/* Starts argv[0] (a path) with stdin from /dev/null. 0 or -1 (errno). */
int proc_spawn(struct proc *p, const char *const argv[]);
/* The same, but the child runs fn(arg) and exits with what it returns. */
int proc_fork(struct proc *p, const char *name, int (*fn)(void *), void *arg);
/* Waits up to timeout_ms for output, an exit or a signal; reads output
 * and reaps children. -1 when a stop signal has arrived, else 0. */
int proc_pump(struct proc *ps[], int n, int timeout_ms);
/* Sends sig to the child's group, waits up to grace_ms, then SIGKILLs the
 * group; always returns with the child reaped. */
void proc_stop(struct proc *p, int sig, int grace_ms);
/* Stops (if needed) and releases everything. */
void proc_free(struct proc *p);
void proc_last_error(const struct proc *p, char *buf, size_t n);
void proc_describe_status(const struct proc *p, char *buf, size_t n);
/* Waits up to timeout_ms (-1: no limit) through a libpollux poller for
 * fds[i] to be ready for events[i] (POLLUX_IN, POLLUX_OUT); sets ready[i].
 * Returns how many are ready (0 on timeout), or -1 with errno (EINTR when
 * a signal cut the wait short). */
int proc_wait_fds(const int *fds, const unsigned *events, int n, int *ready,
                  int timeout_ms);
/* The read end of the signal self-pipe, for other waits to watch. */
int scale_wake_fd(void);

#endif
