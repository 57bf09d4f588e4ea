/* ports.c: how many local ports are free on 127.0.0.1. Connections closed
 * in the last minute hold their client ports in TIME_WAIT; when the range
 * runs out, bind(127.0.0.1:0) fails for every program on the machine, our
 * next server included. */
#include <config.h>
#include "scale.h"

#include <stdlib.h>
#include <string.h>

int scale_port_range(long *lo, long *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (!f)
		return -1;
	int ok = fscanf(f, "%ld %ld", lo, hi) == 2 && *lo > 0 && *hi >= *lo &&
	         *hi <= 65535;
	fclose(f);
	return ok ? 0 : -1;
}

/* Whether a socket bound to this /proc/net/tcp{,6} local address takes its
 * port from 127.0.0.1 too: 127.0.0.1 itself, or a wildcard. */
static int blocks_loopback(const char *hex, size_t n)
{
	static const char *const addrs[] = {
		"0100007F",				/* 127.0.0.1 */
		"00000000",				/* 0.0.0.0 */
		"00000000000000000000000000000000",	/* :: */
		"0000000000000000FFFF00000100007F",	/* ::ffff:127.0.0.1 */
	};
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++)
		if (strlen(addrs[i]) == n && strncmp(hex, addrs[i], n) == 0)
			return 1;
	return 0;
}

/* Marks the local port of every socket in a /proc/net/tcp file that could
 * stand in the way of binding 127.0.0.1. */
static int mark_ports(const char *path, unsigned char *used)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[512];
	if (!fgets(line, sizeof line, f)) {	/* the header */
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		/* "  12: 0100007F:9C5B 0100007F:1F90 06 ...": the local
		 * address (hex, in the kernel's byte order), then its port. */
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		char *addr = colon + 1;
		while (*addr == ' ')
			addr++;
		char *port = strchr(addr, ':');
		if (!port)
			continue;
		if (!blocks_loopback(addr, (size_t)(port - addr)))
			continue;
		unsigned long p = strtoul(port + 1, NULL, 16);
		if (p < 65536)
			used[p / 8] |= (unsigned char)(1u << (p % 8));
	}
	fclose(f);
	return 0;
}

long scale_free_ports(void)
{
	long lo, hi;
	if (scale_port_range(&lo, &hi) < 0)
		return -1;
	unsigned char *used = calloc(65536 / 8, 1);
	if (!used)
		return -1;
	int a = mark_ports("/proc/net/tcp", used);
	int b = mark_ports("/proc/net/tcp6", used);
	long busy = 0;
	for (long p = lo; p <= hi; p++)
		if (used[p / 8] & (1u << (p % 8)))
			busy++;
	free(used);
	if (a < 0 && b < 0)
		return -1;
	return hi - lo + 1 - busy;
}
