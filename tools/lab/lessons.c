/* lessons.c: the course, in the order pollux-labs(7) teaches it. A lesson
 * is one file that defines its entry; add it here and to local.am. */
#include "toolconfig.h"
#include "lab.h"

extern const struct lesson lab_lesson_blocking;
extern const struct lesson lab_lesson_busy;
extern const struct lesson lab_lesson_fdsetsize;
extern const struct lesson lab_lesson_triggers;
extern const struct lesson lab_lesson_framing;
extern const struct lesson lab_lesson_sendfile;
extern const struct lesson lab_lesson_partial;
extern const struct lesson lab_lesson_scaling;
extern const struct lesson lab_lesson_async;

const struct lesson *const lab_lessons[] = {
	&lab_lesson_blocking,
	&lab_lesson_busy,
	&lab_lesson_fdsetsize,
	&lab_lesson_triggers,
	&lab_lesson_framing,
	&lab_lesson_sendfile,
	&lab_lesson_partial,
	&lab_lesson_scaling,
	&lab_lesson_async,
	NULL
};
