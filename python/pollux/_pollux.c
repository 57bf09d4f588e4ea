/* _pollux.c: the C half of the pollux package: Poller, one pollux_t whose
 * select() waits and builds the (key, events) list without running Python
 * code, which is where a selectors loop spends its time. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pollux.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

PyMODINIT_FUNC PyInit__pollux(void);

/* selectors.EVENT_READ and EVENT_WRITE. */
#define SEL_READ  1
#define SEL_WRITE 2

/* A timeout longer than this (about 31 years) is taken as this. */
#define MAX_TIMEOUT_NS 1000000000000000000LL

/* What the selector registered for one descriptor: its SelectorKey (a
 * strong reference, so that the key outlives nothing it is reported for)
 * and the selectors events it asked for. Indexed by descriptor, as
 * libpollux's own table is. */
struct slot {
	PyObject *key;
	unsigned char events;
};

typedef struct {
	PyObject_HEAD
	pollux_t *p;
	struct slot *slots;
	int nslots;
	struct pollux_event *ev;
	int evcap;
	int count;
	/* The thread that is inside select() with the GIL released, or 0. A
	 * pollux_t is used by one thread at a time: every other method called
	 * meanwhile is refused, rather than racing the wait. */
	unsigned long busy;
} Poller;

static unsigned to_pollux(int events)
{
	return ((events & SEL_READ) ? POLLUX_IN : 0u) |
	       ((events & SEL_WRITE) ? POLLUX_OUT : 0u);
}

/* As CPython's PollSelector reads poll(2)'s answer: anything but "only
 * writable" makes the descriptor readable, anything but "only readable"
 * writable, so that an error or a hang-up wakes a reader and a writer. */
static int to_selectors(unsigned ev)
{
	int r = 0;
	if (ev & ~POLLUX_OUT)
		r |= SEL_READ;
	if (ev & ~POLLUX_IN)
		r |= SEL_WRITE;
	return r;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int check_usable(Poller *self)
{
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
		                "pollux selector is in select() in another thread; "
		                "a selector is used by one thread at a time");
		return -1;
	}
	if (!self->p) {
		PyErr_SetString(PyExc_ValueError,
		                "I/O operation on a closed pollux selector");
		return -1;
	}
	return 0;
}

static void release_all(Poller *self)
{
	struct slot *slots = self->slots;
	int n = self->nslots;
	self->slots = NULL;
	self->nslots = 0;
	self->count = 0;
	for (int i = 0; i < n; i++)
		Py_CLEAR(slots[i].key);
	PyMem_Free(slots);
}

static void poller_close_all(Poller *self)
{
	if (self->p) {
		pollux_free(self->p);
		self->p = NULL;
	}
	release_all(self);
	PyMem_Free(self->ev);
	self->ev = NULL;
	self->evcap = 0;
}

static PyObject *Poller_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *names[] = {"backend", NULL};
	const char *backend = NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|z:Poller", names, &backend))
		return NULL;
	Poller *self = (Poller *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	self->p = pollux_new(backend);
	if (!self->p) {
		int e = errno;
		const char *shown = backend ? backend : getenv("POLLUX_BACKEND");
		if (!shown || !*shown)
			shown = "auto";
		if (e == EINVAL) {
			PyErr_Format(PyExc_ValueError, "unknown pollux backend '%s'%s",
			             shown, backend ? "" : " (from POLLUX_BACKEND)");
		} else if (e == ENOSYS) {
			PyObject *v = Py_BuildValue("(iN)", e, PyUnicode_FromFormat(
			    "pollux backend '%s' is not available here%s", shown,
			    backend ? "" : " (from POLLUX_BACKEND)"));
			if (v) {
				PyErr_SetObject(PyExc_OSError, v);
				Py_DECREF(v);
			}
		} else {
			errno = e;
			PyErr_SetFromErrno(PyExc_OSError);
		}
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

static int Poller_traverse(Poller *self, visitproc visit, void *arg)
{
	for (int i = 0; i < self->nslots; i++)
		Py_VISIT(self->slots[i].key);
	return 0;
}

static int Poller_clear(Poller *self)
{
	release_all(self);
	return 0;
}

static void Poller_dealloc(Poller *self)
{
	PyObject_GC_UnTrack(self);
	poller_close_all(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int parse_fd_events(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want,
                           const char *name, int *fd, int *events)
{
	if (nargs != want) {
		PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)",
		             name, want, nargs);
		return -1;
	}
	long v = PyLong_AsLong(args[0]);
	if (v == -1 && PyErr_Occurred())
		return -1;
	if (v < 0 || v > INT_MAX) {
		PyErr_Format(PyExc_ValueError, "Invalid file descriptor: %ld", v);
		return -1;
	}
	*fd = (int)v;
	if (want > 1) {
		long ev = PyLong_AsLong(args[1]);
		if (ev == -1 && PyErr_Occurred())
			return -1;
		if (ev <= 0 || (ev & ~(long)(SEL_READ | SEL_WRITE))) {
			PyErr_Format(PyExc_ValueError, "Invalid events: %ld", ev);
			return -1;
		}
		*events = (int)ev;
	}
	return 0;
}

static int grow_slots(Poller *self, int fd)
{
	if (fd < self->nslots)
		return 0;
	int cap = self->nslots ? self->nslots : 64;
	while (cap <= fd)
		cap = cap > INT_MAX / 2 ? INT_MAX : cap * 2;
	struct slot *s = PyMem_Realloc(self->slots, (size_t)cap * sizeof *s);
	if (!s) {
		PyErr_NoMemory();
		return -1;
	}
	memset(s + self->nslots, 0, (size_t)(cap - self->nslots) * sizeof *s);
	self->slots = s;
	self->nslots = cap;
	return 0;
}

/* add(fd, events, key): registers fd for selectors events; select()
 * reports key with it. */
static PyObject *Poller_add(Poller *self, PyObject *const *args, Py_ssize_t nargs)
{
	int fd, events;
	if (check_usable(self) < 0 ||
	    parse_fd_events(args, nargs, 3, "add", &fd, &events) < 0)
		return NULL;
	if (pollux_add(self->p, fd, to_pollux(events), NULL) < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	if (grow_slots(self, fd) < 0) {
		pollux_del(self->p, fd);
		return NULL;
	}
	Py_INCREF(args[2]);
	Py_XSETREF(self->slots[fd].key, args[2]);
	self->slots[fd].events = (unsigned char)events;
	self->count++;
	Py_RETURN_NONE;
}

/* modify(fd, events, key): a new interest or key (or both) for fd. The
 * same interest costs no call into the library. */
static PyObject *Poller_modify(Poller *self, PyObject *const *args, Py_ssize_t nargs)
{
	int fd, events;
	if (check_usable(self) < 0 ||
	    parse_fd_events(args, nargs, 3, "modify", &fd, &events) < 0)
		return NULL;
	if (fd >= self->nslots || !self->slots[fd].key) {
		errno = ENOENT;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	struct slot *s = &self->slots[fd];
	if (s->events != events) {
		if (pollux_mod(self->p, fd, to_pollux(events), NULL) < 0)
			return PyErr_SetFromErrno(PyExc_OSError);
		s->events = (unsigned char)events;
	}
	Py_INCREF(args[2]);
	Py_SETREF(s->key, args[2]);
	Py_RETURN_NONE;
}

/* delete(fd): forgets fd, whatever the library answers (a descriptor
 * closed before it was unregistered is not an error there). */
static PyObject *Poller_delete(Poller *self, PyObject *const *args, Py_ssize_t nargs)
{
	int fd, events;
	if (check_usable(self) < 0 ||
	    parse_fd_events(args, nargs, 1, "delete", &fd, &events) < 0)
		return NULL;
	int rc = pollux_del(self->p, fd);
	int e = errno;
	if (fd < self->nslots && self->slots[fd].key) {
		Py_CLEAR(self->slots[fd].key);
		self->slots[fd].events = 0;
		self->count--;
	}
	if (rc < 0) {
		errno = e;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	Py_RETURN_NONE;
}

/* The selectors timeout rules: None blocks, zero or less polls, else at
 * least that many seconds, rounded up to the nanosecond. */
static int parse_timeout(PyObject *arg, long long *ns)
{
	if (arg == Py_None) {
		*ns = -1;
		return 0;
	}
	double t = PyFloat_AsDouble(arg);
	if (t == -1.0 && PyErr_Occurred())
		return -1;
	if (isnan(t)) {
		PyErr_SetString(PyExc_ValueError, "Invalid value NaN (not a number)");
		return -1;
	}
	if (t <= 0)
		*ns = 0;
	else if (t >= (double)MAX_TIMEOUT_NS / 1e9)
		*ns = MAX_TIMEOUT_NS;
	else
		*ns = (long long)ceil(t * 1e9);
	return 0;
}

/* select(timeout=None): waits as selectors' select() does and returns the
 * list of (key, events). EINTR is retried with the time left once the
 * signal handlers have run (PEP 475); an exception they raise ends it. */
static PyObject *Poller_select(Poller *self, PyObject *const *args, Py_ssize_t nargs)
{
	long long timeout_ns;
	if (nargs > 1) {
		PyErr_SetString(PyExc_TypeError, "select() takes at most 1 argument");
		return NULL;
	}
	if (check_usable(self) < 0 ||
	    parse_timeout(nargs ? args[0] : Py_None, &timeout_ns) < 0)
		return NULL;
	int want = self->count > 0 ? self->count : 1;
	if (want > self->evcap) {
		struct pollux_event *ev = PyMem_Realloc(self->ev, (size_t)want * sizeof *ev);
		if (!ev)
			return PyErr_NoMemory();
		self->ev = ev;
		self->evcap = want;
	}
	long long deadline = timeout_ns > 0 ? now_ns() + timeout_ns : 0;
	int n;
	for (;;) {
		int e;
		self->busy = PyThread_get_thread_ident();
		if (self->busy == 0)
			self->busy = 1;
		Py_BEGIN_ALLOW_THREADS
		n = pollux_wait_ns(self->p, self->ev, want, timeout_ns);
		e = errno;
		Py_END_ALLOW_THREADS
		self->busy = 0;
		if (n >= 0)
			break;
		if (e != EINTR) {
			errno = e;
			return PyErr_SetFromErrno(PyExc_OSError);
		}
		if (PyErr_CheckSignals() < 0)
			return NULL;
		if (!self->p) {
			/* A signal handler closed the selector. */
			n = 0;
			break;
		}
		if (timeout_ns > 0) {
			timeout_ns = deadline - now_ns();
			if (timeout_ns <= 0) {
				n = 0;
				break;
			}
		}
	}
	PyObject *list = PyList_New(n);
	if (!list)
		return NULL;
	Py_ssize_t j = 0;
	for (int i = 0; i < n; i++) {
		int fd = self->ev[i].fd;
		if (fd < 0 || fd >= self->nslots || !self->slots[fd].key)
			continue;
		struct slot *s = &self->slots[fd];
		int r = to_selectors(self->ev[i].events) & s->events;
		if (!r)
			continue;
		PyObject *t = PyTuple_New(2);
		PyObject *evo = PyLong_FromLong(r);
		if (!t || !evo) {
			Py_XDECREF(t);
			Py_XDECREF(evo);
			Py_DECREF(list);
			return NULL;
		}
		Py_INCREF(s->key);
		PyTuple_SET_ITEM(t, 0, s->key);
		PyTuple_SET_ITEM(t, 1, evo);
		PyList_SET_ITEM(list, j, t);
		j++;
	}
	if (j < n && PyList_SetSlice(list, j, n, NULL) < 0) {
		Py_DECREF(list);
		return NULL;
	}
	return list;
}

static PyObject *Poller_close(Poller *self, PyObject *unused)
{
	(void)unused;
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
		                "cannot close a pollux selector while another thread "
		                "is in its select()");
		return NULL;
	}
	poller_close_all(self);
	Py_RETURN_NONE;
}

/* wake(): ends a select() in progress in another thread (or the next one)
 * early; safe from any thread, as pollux_wake(3) is. */
static PyObject *Poller_wake(Poller *self, PyObject *unused)
{
	(void)unused;
	if (!self->p) {
		PyErr_SetString(PyExc_ValueError,
		                "I/O operation on a closed pollux selector");
		return NULL;
	}
	if (pollux_wake(self->p) < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	Py_RETURN_NONE;
}

/* reinit(): new kernel state in a child after fork(), as pollux_reinit(3). */
static PyObject *Poller_reinit(Poller *self, PyObject *unused)
{
	(void)unused;
	if (check_usable(self) < 0)
		return NULL;
	if (pollux_reinit(self->p) < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	Py_RETURN_NONE;
}

static PyObject *Poller_get_backend(Poller *self, void *closure)
{
	(void)closure;
	if (!self->p)
		Py_RETURN_NONE;
	return PyUnicode_FromString(pollux_backend(self->p));
}

static PyObject *Poller_get_features(Poller *self, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLong(self->p ? pollux_features(self->p) : 0u);
}

static PyObject *Poller_get_closed(Poller *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->p == NULL);
}

static PyMethodDef Poller_methods[] = {
	{"add", (PyCFunction)(void (*)(void))Poller_add, METH_FASTCALL,
	 "add(fd, events, key): register fd for selectors events"},
	{"modify", (PyCFunction)(void (*)(void))Poller_modify, METH_FASTCALL,
	 "modify(fd, events, key): change fd's events or key"},
	{"delete", (PyCFunction)(void (*)(void))Poller_delete, METH_FASTCALL,
	 "delete(fd): forget fd"},
	{"select", (PyCFunction)(void (*)(void))Poller_select, METH_FASTCALL,
	 "select(timeout=None) -> list of (key, events)"},
	{"close", (PyCFunction)Poller_close, METH_NOARGS, "close(): free the poller"},
	{"wake", (PyCFunction)Poller_wake, METH_NOARGS,
	 "wake(): end a select() early, from any thread"},
	{"reinit", (PyCFunction)Poller_reinit, METH_NOARGS,
	 "reinit(): fresh kernel state after fork()"},
	{NULL, NULL, 0, NULL}
};

static PyGetSetDef Poller_getset[] = {
	{"backend", (getter)Poller_get_backend, NULL, "the backend's name", NULL},
	{"features", (getter)Poller_get_features, NULL, "pollux_features(3) bits", NULL},
	{"closed", (getter)Poller_get_closed, NULL, "True once closed", NULL},
	{NULL, NULL, NULL, NULL, NULL}
};

static PyTypeObject PollerType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pollux._pollux.Poller",
	.tp_basicsize = sizeof(Poller),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "Poller(backend=None): one libpollux poller",
	.tp_new = Poller_new,
	.tp_dealloc = (destructor)Poller_dealloc,
	.tp_traverse = (traverseproc)Poller_traverse,
	.tp_clear = (inquiry)Poller_clear,
	.tp_methods = Poller_methods,
	.tp_getset = Poller_getset,
};

static PyObject *mod_backends(PyObject *m, PyObject *unused)
{
	(void)m;
	(void)unused;
	const char *const *names = pollux_backends();
	Py_ssize_t n = 0;
	while (names[n])
		n++;
	PyObject *t = PyTuple_New(n);
	if (!t)
		return NULL;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *s = PyUnicode_FromString(names[i]);
		if (!s) {
			Py_DECREF(t);
			return NULL;
		}
		PyTuple_SET_ITEM(t, i, s);
	}
	return t;
}

static PyObject *mod_version(PyObject *m, PyObject *unused)
{
	(void)m;
	(void)unused;
	return PyUnicode_FromString(pollux_version());
}

static PyMethodDef module_methods[] = {
	{"backends", mod_backends, METH_NOARGS,
	 "backends() -> the backends built into libpollux, best first"},
	{"version", mod_version, METH_NOARGS, "version() -> libpollux's version"},
	{NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_pollux",
	"libpollux for the pollux package (use pollux, not this)",
	-1, module_methods, NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit__pollux(void)
{
	if (PyType_Ready(&PollerType) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&module);
	if (!m)
		return NULL;
	Py_INCREF(&PollerType);
	if (PyModule_AddObject(m, "Poller", (PyObject *)&PollerType) < 0 ||
	    PyModule_AddIntConstant(m, "FEAT_EDGE", POLLUX_FEAT_EDGE) < 0 ||
	    PyModule_AddIntConstant(m, "FEAT_O1", POLLUX_FEAT_O1) < 0 ||
	    PyModule_AddIntConstant(m, "FEAT_NOLIMIT", POLLUX_FEAT_NOLIMIT) < 0) {
		Py_DECREF(&PollerType);
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
