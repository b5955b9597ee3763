/*
 * A stand-in for $SPARK_HOME/bin/spark-submit used by scripts/bench.
 *
 * The first thing it does is read CLOCK_REALTIME. If its arguments contain `--stamp PATH`
 * (the benchmark passes it as the batch's application arguments, so it comes last on the
 * spark-submit command line), it writes that time as decimal nanoseconds plus a newline to
 * PATH, via PATH.tmp and rename(2) so a reader never sees a partial file. Then it exits 0.
 * It prints nothing, so the server's log rings stay empty, unless `--lines N` asks it to write N
 * log-like lines (about 100 bytes each) to stdout and N to stderr before exiting, as a chatty
 * spark-submit would (`scripts/bench --log-lines N`, to see what full log rings cost).
 *
 * scripts/bench compiles it with `gcc -O2 -static` (falling back to a dynamic build) into a
 * temporary SPARK_HOME/bin/spark-submit.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);

    const char *path = NULL;
    long lines = 0;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--stamp") == 0) {
            path = argv[i + 1];
        } else if (strcmp(argv[i], "--lines") == 0) {
            lines = strtol(argv[i + 1], NULL, 10);
        }
    }
    for (long i = 0; i < lines; i++) {
        printf("25/11/23 20:00:00 INFO Client: Application report for application_1700000000000_0001 "
               "(state: RUNNING) %ld\n", i);
        fprintf(stderr, "25/11/23 20:00:00 INFO SparkContext: Running Spark version 4.0.0 on the fake "
                        "spark-submit of scripts/bench %ld\n", i);
    }
    if (path == NULL) {
        return 0;
    }

    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        return 2;
    }
    char line[32];
    int n = snprintf(line, sizeof line, "%lld\n",
                     (long long)ts.tv_sec * 1000000000LL + (long long)ts.tv_nsec);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return 3;
    }
    if (write(fd, line, (size_t)n) != n) {
        close(fd);
        return 4;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        return 5;
    }
    return 0;
}
