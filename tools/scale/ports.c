/* ports.c: how many local ports are free on 127.0.0.1. Connections closed
 * in the last minute hold their client ports in TIME_WAIT; when the range
 * runs out, bind(127.0.0.1:0) fails for every program on the machine, our
 * next server included. */
#include "toolconfig.h"
#include "cli.h"
#include "scale.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

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

/* ---- the system-wide limits that bind past one process ---- */

static long read_long(const char *path, int field)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (!f)
		return -1;
	for (int i = 0; i <= field; i++)
		if (fscanf(f, "%ld", &v) != 1) {
			v = -1;
			break;
		}
	fclose(f);
	return v;
}

static long meminfo_kib(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* "TCP: inuse N orphan N tw N alloc N mem N" of /proc/net/sockstat. */
static void sockstat_tcp(char *buf, size_t n, long *mem_pages)
{
	FILE *f = fopen("/proc/net/sockstat", "r");
	char line[256];
	snprintf(buf, n, "?");
	*mem_pages = -1;
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "TCP:", 4) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, n, "%s", line + 5);
			const char *m = strstr(line, " mem ");
			if (m)
				*mem_pages = strtol(m + 5, NULL, 10);
			break;
		}
	fclose(f);
}

void scale_print_limits(FILE *f, unsigned long conns, int procs, int nsrc,
                        unsigned long per_process)
{
	long file_max = read_long("/proc/sys/fs/file-max", 0);
	long nr_open = read_long("/proc/sys/fs/nr_open", 0);
	long file_nr = read_long("/proc/sys/fs/file-nr", 0);
	long tcp_mem_max = read_long("/proc/sys/net/ipv4/tcp_mem", 2);
	long avail = meminfo_kib("MemAvailable");
	long lo = -1, hi = -1, mem_pages;
	char tcp[256];
	struct rlimit rl;
	long hard = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	            rl.rlim_max != RLIM_INFINITY ? (long)rl.rlim_max : -1;
	scale_port_range(&lo, &hi);
	sockstat_tcp(tcp, sizeof tcp, &mem_pages);
	/* fs.file-max is LONG_MAX on current kernels: "unlimited", not
	 * 9223372036854775807; so is an infinite hard RLIMIT_NOFILE. */
	char fmax[32], rhard[32];
	if (file_max < 0)
		snprintf(fmax, sizeof fmax, "?");
	else
		px_fmt_limit(fmax, sizeof fmax, (unsigned long long)file_max);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		snprintf(rhard, sizeof rhard, "?");
	else
		px_fmt_limit(rhard, sizeof rhard, rl.rlim_max == RLIM_INFINITY ? ~0ULL :
		             (unsigned long long)rl.rlim_max);
	fprintf(f, "pollux-scale: limits: fs.file-max %s, fs.nr_open %ld, "
	        "file-nr %ld, ip_local_port_range %ld-%ld, RLIMIT_NOFILE hard "
	        "%s, MemAvailable %ld kB, tcp_mem max %ld pages, TCP: %s\n",
	        fmax, nr_open, file_nr, lo, hi, rhard, avail, tcp_mem_max,
	        tcp);
	/* Both ends of every loopback connection are descriptors here. */
	unsigned long need = 2 * conns + 1000;
	if (file_max > 0 && file_nr >= 0 &&
	    (unsigned long)file_max < (unsigned long)file_nr + need)
		fprintf(f, "pollux-scale: binds: fs.file-max %ld with %ld open "
		        "leaves no room for %lu more (both ends of %lu "
		        "connections); fix: sysctl -w fs.file-max=%lu\n",
		        file_max, file_nr, need, conns,
		        (unsigned long)file_nr + 2 * need);
	if (nr_open > 0 && (unsigned long)nr_open < per_process)
		fprintf(f, "pollux-scale: binds: fs.nr_open %ld caps every "
		        "process below %lu descriptors; fix: sysctl -w "
		        "fs.nr_open=%lu, then raise the hard RLIMIT_NOFILE\n",
		        nr_open, per_process, per_process + 1000);
	if (hard > 0 && (unsigned long)hard < per_process)
		fprintf(f, "pollux-scale: binds: RLIMIT_NOFILE hard %ld caps "
		        "every process below %lu; fix: ulimit -Hn, limits.conf, "
		        "or a lower --fds-per-process\n", hard, per_process);
	long ports = lo > 0 && hi >= lo ? hi - lo + 1 : -1;
	if (ports > 0 && (unsigned long)ports * (unsigned long)nsrc < conns)
		fprintf(f, "pollux-scale: binds: %ld local ports times %d "
		        "source addresses hold fewer than %lu connections; fix: "
		        "sysctl -w net.ipv4.ip_local_port_range='1024 65535'\n",
		        ports, nsrc, conns);
	if (tcp_mem_max > 0 && mem_pages >= 0 &&
	    mem_pages >= tcp_mem_max * 9 / 10)
		fprintf(f, "pollux-scale: binds: TCP buffers use %ld of the %ld "
		        "pages net.ipv4.tcp_mem allows; fix: raise its third "
		        "figure (sysctl -w net.ipv4.tcp_mem=...)\n", mem_pages,
		        tcp_mem_max);
	/* About 4 KiB per socket in the kernel and per connection in each
	 * tool, both ends (scripts/c100k.sh measures it). */
	if (avail >= 0 && (unsigned long)avail < conns * 2 * 8)
		fprintf(f, "pollux-scale: binds: MemAvailable %ld kB is under "
		        "~16 kB per connection (both ends, kernel and tools) for "
		        "%lu; fix: fewer --fds or more memory\n", avail, conns);
	(void)procs;
}
