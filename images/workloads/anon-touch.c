/*
 * anon-touch: mmap N MiB of anonymous private memory and write one byte to
 * every 4 KiB page (first touch). Reports the time of the touching loop.
 *
 * Usage: anon-touch [--mib N] [--thp default|never|always]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define WORKLOAD "anon-touch"
#define PAGE 4096UL
#define MIB (1024UL * 1024UL)
#define MAX_MIB (1UL << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " WORKLOAD " [--mib N] [--thp default|never|always]\n"
		"  --mib N    anonymous memory to touch, in MiB (default 64)\n"
		"  --thp M    madvise the region: default (leave alone),\n"
		"             never (MADV_NOHUGEPAGE), always (MADV_HUGEPAGE)\n"
		"Writes one byte to every 4 KiB page and prints one line\n"
		"'RESULT {json}' on stdout.\n");
}

static void bad_args(const char *msg, const char *arg)
{
	fprintf(stderr, WORKLOAD ": %s%s%s\n", msg, arg ? ": " : "",
		arg ? arg : "");
	usage(stderr);
	exit(2);
}

static unsigned long parse_ulong(const char *name, const char *s,
				 unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		bad_args("not a non-negative integer", s);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end != '\0')
		bad_args("not a non-negative integer", s);
	if (v < min || v > max) {
		fprintf(stderr, WORKLOAD ": %s must be in [%lu, %lu]\n", name,
			min, max);
		usage(stderr);
		exit(2);
	}
	return v;
}

static void die(const char *what)
{
	fprintf(stderr, WORKLOAD ": %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime");
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long mib = 64;
	const char *thp = "default";
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc)
			bad_args("missing value or unknown argument", a);
		if (strcmp(a, "--mib") == 0)
			mib = parse_ulong("--mib", argv[++i], 1, MAX_MIB);
		else if (strcmp(a, "--thp") == 0) {
			thp = argv[++i];
			if (strcmp(thp, "default") && strcmp(thp, "never") &&
			    strcmp(thp, "always"))
				bad_args("--thp must be default, never or always",
					 thp);
		} else
			bad_args("unknown argument", a);
	}

	size_t len = mib * MIB;
	size_t pages = len / PAGE;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	if (strcmp(thp, "never") == 0 &&
	    madvise(p, len, MADV_NOHUGEPAGE) != 0)
		die("madvise(MADV_NOHUGEPAGE)");
	if (strcmp(thp, "always") == 0 && madvise(p, len, MADV_HUGEPAGE) != 0)
		die("madvise(MADV_HUGEPAGE)");

	volatile char *v = p;
	double t0 = now();
	for (size_t pg = 0; pg < pages; pg++)
		v[pg * PAGE] = (char)(pg | 1);
	double t1 = now();

	/* Verify the writes landed (cheap: one byte per page). */
	for (size_t pg = 0; pg < pages; pg++) {
		if (v[pg * PAGE] != (char)(pg | 1)) {
			fprintf(stderr, WORKLOAD ": page %zu lost its write\n",
				pg);
			return 1;
		}
	}
	if (munmap(p, len) != 0)
		die("munmap");

	printf("RESULT {\"workload\":\"" WORKLOAD "\",\"metric\":\"seconds\","
	       "\"value\":%.6f,\"unit\":\"s\",\"better\":\"lower\","
	       "\"mib\":%lu,\"thp\":\"%s\",\"pages\":%zu}\n",
	       t1 - t0, mib, thp, pages);
	if (fflush(stdout) != 0)
		die("stdout");
	return 0;
}
