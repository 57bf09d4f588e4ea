/* fdset_naive.h: the two builds of the lesson fdsetsize's wrong program
 * (fdset_naive.c), one with glibc's _FORTIFY_SOURCE checks, one without. */
#ifndef POLLUX_LAB_FDSET_NAIVE_H
#define POLLUX_LAB_FDSET_NAIVE_H

/* For lab_fork: arg points to the descriptor number to use (an int), past
 * FD_SETSIZE. Passed at run time so that the compiler cannot see it: a
 * constant would make the fortified FD_SET a compile-time error instead of
 * a run-time abort. Writes "key value" lines on stdout as it goes (fd,
 * fortify, corrupt OFFSET OLD NEW, fdset done, select RC ERRNO, isset, done). */
int fdset_naive_fortified(void *arg);
int fdset_naive_plain(void *arg);
/* The _FORTIFY_SOURCE level each copy was really built with (0: none). */
extern const int fdset_naive_fortify_fortified;
extern const int fdset_naive_fortify_plain;
/* Whether each copy was compiled with optimisation (__OPTIMIZE__): a
 * CFLAGS with -O0 after ours leaves the fortified copy unfortified. */
extern const int fdset_naive_optimized_fortified;
extern const int fdset_naive_optimized_plain;

#endif
