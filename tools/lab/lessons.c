/* lessons.c: the course, in the order pollux-labs(7) teaches it. A lesson
 * is one file that defines its entry; add it here and to local.am. */
#include <config.h>
#include "lab.h"

extern const struct lesson lab_lesson_fdsetsize;
extern const struct lesson lab_lesson_sendfile;
extern const struct lesson lab_lesson_partial;
extern const struct lesson lab_lesson_scaling;

const struct lesson *const lab_lessons[] = {
	&lab_lesson_fdsetsize,
	&lab_lesson_sendfile,
	&lab_lesson_partial,
	&lab_lesson_scaling,
	NULL
};
