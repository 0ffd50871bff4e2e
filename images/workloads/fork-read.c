/*
 * fork-read: touch N MiB of anonymous memory, then fork C children; each
 * child reads one byte of every 4 KiB page and exits, the parent waits.
 * Reports the time of the fork/read/wait phase (the touch is timed apart).
 *
 * Usage: fork-read [--mib N] [--children C] [--mode seq|concurrent]
 *                  [--thp default|never|always]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKLOAD "fork-read"
#define PAGE 4096UL
#define MIB (1024UL * 1024UL)
#define MAX_MIB (1UL << 20)
#define MAX_CHILDREN 4096UL

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " WORKLOAD " [--mib N] [--children C] [--mode seq|concurrent]\n"
		"                 [--thp default|never|always]\n"
		"  --mib N       anonymous memory touched by the parent, MiB (default 32)\n"
		"  --children C  children forked, each reads every page (default 8)\n"
		"  --mode M      seq: fork, wait, fork, ... (default);\n"
		"                concurrent: fork all, then wait for all\n"
		"  --thp M       madvise the region: default (leave alone),\n"
		"                never (MADV_NOHUGEPAGE), always (MADV_HUGEPAGE)\n"
		"Prints one line 'RESULT {json}' on stdout; value is the seconds of\n"
		"the fork/read/wait phase.\n");
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

/* Child: read one byte of every page, check it, exit 0 (3 on mismatch). */
static void child(const volatile char *p, size_t pages)
{
	for (size_t pg = 0; pg < pages; pg++)
		if (p[pg * PAGE] != (char)(pg | 1))
			_exit(3);
	_exit(0);
}

static void reap(pid_t pid)
{
	int status;
	pid_t r;

	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die("waitpid");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if (WIFEXITED(status))
		fprintf(stderr, WORKLOAD ": child %ld exited with %d%s\n",
			(long)pid, WEXITSTATUS(status),
			WEXITSTATUS(status) == 3 ? " (page content mismatch)" : "");
	else if (WIFSIGNALED(status))
		fprintf(stderr, WORKLOAD ": child %ld killed by signal %d\n",
			(long)pid, WTERMSIG(status));
	else
		fprintf(stderr, WORKLOAD ": child %ld: status 0x%x\n",
			(long)pid, status);
	exit(1);
}

int main(int argc, char **argv)
{
	unsigned long mib = 32, children = 8;
	const char *mode = "seq";
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
		else if (strcmp(a, "--children") == 0)
			children = parse_ulong("--children", argv[++i], 1,
					       MAX_CHILDREN);
		else if (strcmp(a, "--mode") == 0) {
			mode = argv[++i];
			if (strcmp(mode, "seq") && strcmp(mode, "concurrent"))
				bad_args("--mode must be seq or concurrent",
					 mode);
		} else if (strcmp(a, "--thp") == 0) {
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

	/* Flush stdio before forking so no child inherits a buffer. */
	if (fflush(NULL) != 0)
		die("fflush");

	pid_t *pids = calloc(children, sizeof(*pids));
	if (!pids)
		die("calloc");
	double t2 = now();
	for (unsigned long c = 0; c < children; c++) {
		pid_t pid = fork();
		if (pid < 0) {
			int e = errno;
			/* Do not leave children behind on failure. */
			for (unsigned long k = 0; k < c; k++)
				if (pids[k] > 0)
					waitpid(pids[k], NULL, 0);
			errno = e;
			die("fork");
		}
		if (pid == 0)
			child(v, pages);
		if (strcmp(mode, "seq") == 0)
			reap(pid);
		else
			pids[c] = pid;
	}
	if (strcmp(mode, "concurrent") == 0)
		for (unsigned long c = 0; c < children; c++)
			reap(pids[c]);
	double t3 = now();

	free(pids);
	if (munmap(p, len) != 0)
		die("munmap");

	printf("RESULT {\"workload\":\"" WORKLOAD "\",\"metric\":\"seconds\","
	       "\"value\":%.6f,\"unit\":\"s\",\"better\":\"lower\","
	       "\"mib\":%lu,\"children\":%lu,\"mode\":\"%s\",\"thp\":\"%s\","
	       "\"pages\":%zu,\"touch_seconds\":%.6f,\"child_page_reads\":%zu}\n",
	       t3 - t2, mib, children, mode, thp, pages, t1 - t0,
	       pages * children);
	if (fflush(stdout) != 0)
		die("stdout");
	return 0;
}
