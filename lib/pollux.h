/* pollux.h: the public interface of libpollux, one event poller over
 * select, poll and epoll, with the backend chosen at run time. */
#ifndef POLLUX_H
#define POLLUX_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pollux pollux_t;

struct pollux_event {
	int fd;
	unsigned events;
	void *data;
};

/* Interest bits: what pollux_add and pollux_mod may ask for. */
#define POLLUX_IN	0x01u
#define POLLUX_OUT	0x02u
/* Reported only, whether asked for or not. */
#define POLLUX_ERR	0x04u
#define POLLUX_HUP	0x08u
/* Modifiers. ONESHOT works on every backend; EDGE needs POLLUX_FEAT_EDGE. */
#define POLLUX_ONESHOT	0x10u
#define POLLUX_EDGE	0x20u

/* Feature bits returned by pollux_features(). */
#define POLLUX_FEAT_EDGE	0x01u	/* native edge trigger: epoll, uring, kqueue */
#define POLLUX_FEAT_O1		0x02u	/* wait cost independent of registered fds: epoll, uring, kqueue */
#define POLLUX_FEAT_NOLIMIT	0x04u	/* no FD_SETSIZE cap: poll, epoll, select on Linux/BSD */

pollux_t   *pollux_new(const char *backend);
void        pollux_free(pollux_t *p);
const char *pollux_backend(const pollux_t *p);
unsigned    pollux_features(const pollux_t *p);
int         pollux_add(pollux_t *p, int fd, unsigned events, void *data);
int         pollux_mod(pollux_t *p, int fd, unsigned events, void *data);
int         pollux_del(pollux_t *p, int fd);
int         pollux_close(pollux_t *p, int fd);
int         pollux_wait(pollux_t *p, struct pollux_event *ev, int maxev,
                        int timeout_ms);
int         pollux_wait_ns(pollux_t *p, struct pollux_event *ev, int maxev,
                           long long timeout_ns);
int         pollux_wake(pollux_t *p);
int         pollux_reinit(pollux_t *p);
const char *const *pollux_backends(void);
const char *pollux_version(void);

/* Number of fds currently registered with p (0 for NULL). */
int         pollux_count(const pollux_t *p);

#ifdef __cplusplus
}
#endif

#endif /* POLLUX_H */
