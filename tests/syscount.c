/* syscount.c: registers N socketpairs with a poller of backend B, then
 * changes only their pointers, then closes them with pollux_close, with
 * getppid() marking where each phase
 * starts and ends, so that test_syscalls.sh can count the system calls of
 * each under strace. Nothing else in here makes a system call.
 * "syscount --list" prints the backends built in. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pollux.h"

int main(int argc, char **argv)
{
	if (argc == 2) {	/* the backends built in, one per line */
		for (const char *const *b = pollux_backends(); *b; b++)
			puts(*b);
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: syscount BACKEND N\n");
		return 2;
	}
	int n = atoi(argv[2]);
	pollux_t *p = pollux_new(argv[1]);
	int (*sv)[2] = malloc(sizeof *sv * (size_t)(n > 0 ? n : 1));
	if (!p || !sv || n < 1) {
		perror("syscount");
		return 1;
	}
	for (int i = 0; i < n; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) < 0) {
			perror("socketpair");
			return 1;
		}
	int bad = 0;
	getppid();	/* add: */
	for (int i = 0; i < n; i++)
		bad |= pollux_add(p, sv[i][0], POLLUX_IN, NULL);
	getppid();	/* mod, same interest: */
	for (int i = 0; i < n; i++)
		bad |= pollux_mod(p, sv[i][0], POLLUX_IN, sv[i]);
	getppid();	/* close: */
	for (int i = 0; i < n; i++)
		bad |= pollux_close(p, sv[i][0]);
	getppid();	/* end */
	if (bad) {
		perror("pollux_add/mod/close");
		return 1;
	}
	pollux_free(p);
	return 0;
}
