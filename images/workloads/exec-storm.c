/*
 * exec-storm: N times, fork and execve this same binary with --noop (which
 * exits 0 at once), waiting for each. Reports the total seconds and the
 * execs per second.
 *
 * Usage: exec-storm [--count N]
 *        exec-storm --noop
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKLOAD "exec-storm"
#define MAX_COUNT 100000000UL

extern char **environ;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " WORKLOAD " [--count N]\n"
		"       " WORKLOAD " --noop\n"
		"  --count N  fork+execve of this binary with --noop, N times,\n"
		"             waiting for each (default 300)\n"
		"  --noop     exit 0 at once, print nothing (the exec target)\n"
		"Prints one line 'RESULT {json}' on stdout.\n");
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
	unsigned long count = 300;
	static char exe[PATH_MAX];
	int i;

	/* The exec target: checked first and cheap, prints nothing. */
	if (argc == 2 && strcmp(argv[1], "--noop") == 0)
		return 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--noop") == 0)
			bad_args("--noop takes no other arguments", NULL);
		if (i + 1 >= argc)
			bad_args("missing value or unknown argument", a);
		if (strcmp(a, "--count") == 0)
			count = parse_ulong("--count", argv[++i], 1, MAX_COUNT);
		else
			bad_args("unknown argument", a);
	}

	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		die("readlink /proc/self/exe");
	if ((size_t)n >= sizeof(exe) - 1) {
		fprintf(stderr, WORKLOAD ": /proc/self/exe: path too long\n");
		return 1;
	}
	exe[n] = '\0';
	if (access(exe, X_OK) != 0)
		die(exe);

	char *child_argv[] = { (char *)WORKLOAD, (char *)"--noop", NULL };

	if (fflush(NULL) != 0)
		die("fflush");

	double t0 = now();
	for (unsigned long k = 0; k < count; k++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execve(exe, child_argv, environ);
			/* Only reached on failure; stdio is not safe here. */
			char msg[] = WORKLOAD ": execve failed\n";
			ssize_t w = write(2, msg, sizeof(msg) - 1);
			(void)w;
			_exit(127);
		}
		int status;
		pid_t r;
		do
			r = waitpid(pid, &status, 0);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr,
				WORKLOAD ": exec %lu of %s failed: status 0x%x\n",
				k, exe, status);
			return 1;
		}
	}
	double t1 = now();
	double secs = t1 - t0;

	printf("RESULT {\"workload\":\"" WORKLOAD "\",\"metric\":\"seconds\","
	       "\"value\":%.6f,\"unit\":\"s\",\"better\":\"lower\","
	       "\"count\":%lu,\"execs_per_sec\":%.3f}\n",
	       secs, count, secs > 0 ? (double)count / secs : 0.0);
	if (fflush(stdout) != 0)
		die("stdout");
	return 0;
}
