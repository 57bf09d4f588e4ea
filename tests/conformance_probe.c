/* conformance_probe.c: where the kernel refuses io_uring, pollux_new("uring")
 * fails with ENOSYS at creation and automatic choice takes the next backend.
 * The refusal is made by a seccomp filter in a forked child, the way a
 * container's profile or kernel.io_uring_disabled refuses it. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance.h"

#if defined(HAVE_BACKEND_URING) && defined(HAVE_LINUX_SECCOMP_H) && \
    defined(HAVE_LINUX_FILTER_H)
#include <stddef.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifdef __NR_io_uring_setup
/* Makes io_uring_setup fail with err in this process, everything else
 * allowed. No architecture check: the filter only ever denies. */
static int refuse_io_uring(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO |
		         ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof f / sizeof f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* In the child: 0 if all held, else a line saying what did not. */
static int refused_child(int err, char *msg, size_t len)
{
	struct pollux_event ev[2];
	int fds[2], tag;
	pollux_t *p;

	if (refuse_io_uring(err) != 0) {
		snprintf(msg, len, "seccomp filter: %s", strerror(errno));
		return -1;
	}
	errno = 0;
	p = pollux_new("uring");
	if (p != NULL || errno != ENOSYS) {
		snprintf(msg, len, "io_uring_setup refused with %s: "
		         "pollux_new(\"uring\") gave %s, errno %d (%s), want NULL "
		         "with ENOSYS", strerror(err), p ? "a poller" : "NULL",
		         errno, strerror(errno));
		return -1;
	}
	p = pollux_new(NULL);
	if (p == NULL || strcmp(pollux_backend(p), "uring") == 0) {
		snprintf(msg, len, "io_uring_setup refused with %s: "
		         "pollux_new(NULL) gave %s (%s)", strerror(err),
		         p ? pollux_backend(p) : "NULL", strerror(errno));
		return -1;
	}
	/* And the one it chose works. */
	if (pipe(fds) != 0 || pollux_add(p, fds[0], POLLUX_IN, &tag) != 0 ||
	    write(fds[1], "x", 1) != 1 ||
	    pollux_wait(p, ev, 2, CT_WAIT_MS) != 1 || ev[0].fd != fds[0]) {
		snprintf(msg, len, "%s chosen without io_uring does not report "
		         "a readable pipe", pollux_backend(p));
		return -1;
	}
	pollux_free(p);
	return 0;
}

START_TEST(uring_refused_enosys_and_auto_moves_on)
{
	static const int errs[] = { EPERM, ENOSYS, EINVAL };

	unsetenv("POLLUX_BACKEND");
	for (size_t k = 0; k < sizeof errs / sizeof errs[0]; k++) {
		char msg[256] = "";
		int rep[2], status;
		ssize_t n;
		pid_t kid;

		ck_assert_int_eq(pipe(rep), 0);
		kid = fork();
		ck_assert_msg(kid >= 0, "fork: %s", strerror(errno));
		if (kid == 0) {
			close(rep[0]);
			alarm(20);
			if (refused_child(errs[k], msg, sizeof msg) == 0)
				_exit(0);
			(void)!write(rep[1], msg, strlen(msg));
			_exit(1);
		}
		close(rep[1]);
		n = read(rep[0], msg, sizeof msg - 1);
		msg[n > 0 ? n : 0] = '\0';
		close(rep[0]);
		ck_assert_int_eq(waitpid(kid, &status, 0), kid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		              "child: %s (status 0x%x)", msg[0] ? msg : "no report",
		              status);
	}
}
END_TEST
#endif
#endif

void ct_add_probe(TCase *tc)
{
#if defined(HAVE_BACKEND_URING) && defined(HAVE_LINUX_SECCOMP_H) && \
    defined(HAVE_LINUX_FILTER_H) && defined(__NR_io_uring_setup)
	tcase_add_test(tc, uring_refused_enosys_and_auto_moves_on);
#else
	(void)tc;
#endif
}
