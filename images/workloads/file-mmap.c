/*
 * file-mmap: create an N MiB file in DIR (tmpfs in the guest) with write(),
 * then R rounds of: mmap it PROT_READ/MAP_SHARED, read one byte of every
 * 4 KiB page, munmap. Each round faults again; the kernel's fault-around
 * maps up to 16 neighbouring page-cache pages per fault as young. Reports
 * the seconds of the R rounds only.
 *
 * The file is unlinked as soon as it is created (it lives on through the
 * open descriptor), so it is gone at exit, on success or on any failure.
 *
 * Usage: file-mmap [--mib N] [--rounds R] [--dir D]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define WORKLOAD "file-mmap"
#define PAGE 4096UL
#define MIB (1024UL * 1024UL)
#define MAX_MIB (1UL << 20)
#define MAX_ROUNDS 1000000UL
#define FILL 0x5a

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " WORKLOAD " [--mib N] [--rounds R] [--dir D]\n"
		"  --mib N     file size in MiB (default 32)\n"
		"  --rounds R  mmap/read-every-page/munmap rounds (default 4)\n"
		"  --dir D     directory for the file, tmpfs in the guest\n"
		"              (default /dev/shm)\n"
		"Prints one line 'RESULT {json}' on stdout; value is the seconds\n"
		"of the R rounds (file creation excluded).\n");
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

/* Print s as a JSON string (with the quotes). */
static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

int main(int argc, char **argv)
{
	unsigned long mib = 32, rounds = 4;
	const char *dir = "/dev/shm";
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
		else if (strcmp(a, "--rounds") == 0)
			rounds = parse_ulong("--rounds", argv[++i], 1,
					     MAX_ROUNDS);
		else if (strcmp(a, "--dir") == 0) {
			dir = argv[++i];
			if (*dir == '\0')
				bad_args("--dir must not be empty", NULL);
		} else
			bad_args("unknown argument", a);
	}

	size_t len = mib * MIB;
	size_t pages = len / PAGE;

	size_t plen = strlen(dir) + sizeof("/" WORKLOAD ".XXXXXX");
	char *path = malloc(plen);
	if (!path)
		die("malloc");
	snprintf(path, plen, "%s/" WORKLOAD ".XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0)
		die(path);
	/* Unlink now: the descriptor keeps the file; nothing is left behind
	 * whatever happens next. */
	if (unlink(path) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		die("unlink");
	}

	char *buf = malloc(MIB);
	if (!buf)
		die("malloc");
	memset(buf, FILL, MIB);
	for (unsigned long m = 0; m < mib; m++) {
		size_t done = 0;
		while (done < MIB) {
			ssize_t w = write(fd, buf + done, MIB - done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				die("write");
			}
			if (w == 0) {
				fprintf(stderr, WORKLOAD ": write returned 0\n");
				return 1;
			}
			done += (size_t)w;
		}
	}
	free(buf);
	struct stat st;
	if (fstat(fd, &st) != 0)
		die("fstat");
	if ((size_t)st.st_size != len) {
		fprintf(stderr, WORKLOAD ": file size %lld, expected %zu\n",
			(long long)st.st_size, len);
		return 1;
	}

	unsigned long bad = 0;
	double t0 = now();
	for (unsigned long r = 0; r < rounds; r++) {
		char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap");
		const volatile char *v = p;
		for (size_t pg = 0; pg < pages; pg++)
			bad += v[pg * PAGE] != (char)FILL;
		if (munmap(p, len) != 0)
			die("munmap");
	}
	double t1 = now();

	if (close(fd) != 0)
		die("close");
	if (bad) {
		fprintf(stderr, WORKLOAD ": %lu page reads saw wrong data\n",
			bad);
		return 1;
	}

	printf("RESULT {\"workload\":\"" WORKLOAD "\",\"metric\":\"seconds\","
	       "\"value\":%.6f,\"unit\":\"s\",\"better\":\"lower\","
	       "\"mib\":%lu,\"rounds\":%lu,\"dir\":",
	       t1 - t0, mib, rounds);
	json_string(dir);
	printf(",\"pages\":%zu,\"page_reads\":%zu}\n", pages, pages * rounds);
	if (fflush(stdout) != 0)
		die("stdout");
	free(path);
	return 0;
}
