/* fdset_naive.c: the wrong program of the lesson "fdsetsize": a descriptor
 * past FD_SETSIZE put into a plain fd_set with FD_SET, then select. Built
 * twice (tools/lab/local.am): NAIVE_FORTIFY=2 as distributions build, with
 * glibc's _FORTIFY_SOURCE checks, and NAIVE_FORTIFY=0 without them. */

/* The choice is made here, before any header, rather than only by -D/-U on
 * the command line: the user's CPPFLAGS come after the per-target ones, so
 * a -D_FORTIFY_SOURCE=2 there (dpkg-buildflags sets one) would otherwise
 * turn the unfortified copy into a second fortified one. glibc honours the
 * level only when optimising (and warns otherwise, which -Werror would turn
 * into a failed build), so without -O the fortified copy is built
 * unfortified and reports that it is (fdset_naive_fortify_*). */
#undef _FORTIFY_SOURCE
#if NAIVE_FORTIFY > 0 && defined(__OPTIMIZE__)
#define _FORTIFY_SOURCE NAIVE_FORTIFY
#endif

#include "toolconfig.h"
#include "fdset_naive.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#if NAIVE_FORTIFY > 0
#define NAIVE_RUN fdset_naive_fortified
#define NAIVE_LEVEL fdset_naive_fortify_fortified
#define NAIVE_OPT fdset_naive_optimized_fortified
#else
#define NAIVE_RUN fdset_naive_plain
#define NAIVE_LEVEL fdset_naive_fortify_plain
#define NAIVE_OPT fdset_naive_optimized_plain
#endif

#ifdef __USE_FORTIFY_LEVEL
const int NAIVE_LEVEL = __USE_FORTIFY_LEVEL;
#else
const int NAIVE_LEVEL = 0;
#endif
#ifdef __OPTIMIZE__
const int NAIVE_OPT = 1;
#else
const int NAIVE_OPT = 0;
#endif

/* The out-of-bounds write is the point of this program, so a sanitizer
 * must not stop it first: under -fsanitize=address,undefined (CI's build,
 * whose CFLAGS come after ours and cannot be taken back on the command
 * line) ASan would report a stack-buffer-overflow and UBSan an index out
 * of bounds for fds_bits[], each a report file that fails CI. The function
 * is therefore built without that instrumentation; it runs only in a child
 * of the lab (lab_fork), so what it corrupts dies with it. */
#if defined(__GNUC__) && (__GNUC__ >= 8 || defined(__clang__))
#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))
#else
#define NO_SANITIZE
#endif

/* One line to the lab, written at once: if the next step kills us, the
 * lab still has every line before it. */
__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > 0 && write(1, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) < 0)
		_exit(3);
}

NO_SANITIZE
int NAIVE_RUN(void *arg)
{
	int want = *(const int *)arg;	/* not a constant: see fdset_naive.h */
	int pfd[2];
	if (pipe(pfd) < 0) {
		say("error pipe: %s\n", strerror(errno));
		return 2;
	}
	int fd = dup2(pfd[0], want);
	if (fd < 0) {
		say("error dup2 onto %d: %s\n", want, strerror(errno));
		return 2;
	}
	if (write(pfd[1], "x", 1) != 1) {
		say("error write: %s\n", strerror(errno));
		return 2;
	}
	say("fd %d\n", fd);
	say("fortify %d\n", NAIVE_LEVEL);

	/* A plain fd_set with the next member right after it, as in any
	 * struct that holds one; "after" is how the lab sees the write. */
	struct {
		fd_set set;
		unsigned char after[64];
	} t;
	memset(&t, 0, sizeof t);
	FD_ZERO(&t.set);
	FD_SET(fd, &t.set);	/* fortified: __fdelt_chk aborts here */
	/* Make the compiler read "after" back from memory instead of
	 * assuming an fd_set store cannot have touched it. */
	__asm__ __volatile__("" ::: "memory");
	for (size_t i = 0; i < sizeof t.after; i++)
		if (t.after[i])
			say("corrupt %zu 0 %u\n", i, t.after[i]);
	say("fdset done\n");

	struct timeval tv = { 1, 0 };
	int rc = select(fd + 1, &t.set, NULL, NULL, &tv);
	int e = errno;
	__asm__ __volatile__("" ::: "memory");
	say("select %d %d\n", rc, rc < 0 ? e : 0);
	if (rc >= 0)
		say("isset %d\n", FD_ISSET(fd, &t.set) ? 1 : 0);
	say("done\n");
	return 0;
}
