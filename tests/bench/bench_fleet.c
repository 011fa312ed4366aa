/*
 * bench_fleet.c: the baselines for `make bench`'s fleet figures.
 *   bench_fleet scan FILE COLUMN   the bare fgets+strtok scan a report is held
 *                                  against: counts devices per value of one
 *                                  comma-separated column (no quoting rules)
 *   bench_fleet run CMD [ARGS...]  runs CMD and prints its wall time and peak
 *                                  resident memory (wait4's ru_maxrss)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int scan(const char *path, int column)
{
	char line[4096], names[64][64];
	long counts[64] = { 0 };
	int nnames = 0, i;
	FILE *fp = fopen(path, "r");
	double t0 = now();

	if (fp == NULL)
		return perror(path), 1;
	if (fgets(line, sizeof(line), fp) == NULL)	/* header */
		return fclose(fp), 1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *tok = strtok(line, ",\r\n");

		for (i = 0; tok != NULL && i < column; i++)
			tok = strtok(NULL, ",\r\n");
		if (tok == NULL)
			continue;
		for (i = 0; i < nnames && strcmp(names[i], tok) != 0; i++)
			;
		if (i == nnames && nnames < 64)
			snprintf(names[nnames++], sizeof(names[0]), "%s", tok);
		if (i < 64)
			counts[i]++;
	}
	fclose(fp);
	printf("scan_s %.4f\n", now() - t0);
	for (i = 0; i < nnames; i++)
		printf("count %s %ld\n", names[i], counts[i]);
	return 0;
}

static int run(char **argv)
{
	struct rusage ru;
	double t0 = now();
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) != pid)
		return perror("wait4"), 1;
	printf("run_s %.4f\nmaxrss_kib %ld\nexit %d\n", now() - t0, ru.ru_maxrss,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "scan") == 0)
		return scan(argv[2], atoi(argv[3]));
	if (argc >= 3 && strcmp(argv[1], "run") == 0)
		return run(argv + 2);
	fprintf(stderr, "usage: bench_fleet scan FILE COLUMN | bench_fleet run CMD [ARGS...]\n");
	return 2;
}
