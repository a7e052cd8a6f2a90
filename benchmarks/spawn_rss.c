/* Run one command and report its wall time and its own peak RSS: "<nanoseconds> <maxrss KiB> <exit code>".
 *
 * Why a separate program: Linux keeps a process's peak RSS across exec, so a child forked from
 * the (large) Python runner would report at least the runner's size. Forked from this small
 * program, the figure is the command's own. The child's stdout and stderr go to /dev/null, and
 * its stdin comes from /dev/null, or from FILE with "-i FILE" (what a status line is fed).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct timespec start, end;
    struct rusage usage;
    int status = 0;
    pid_t child;
    const char *input = "/dev/null";

    if (argc >= 3 && argv[1][0] == '-' && argv[1][1] == 'i' && argv[1][2] == '\0') {
        input = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: spawn_rss [-i FILE] COMMAND [ARG...]\n");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    child = fork();
    if (child < 0) {
        perror("fork");
        return 2;
    }
    if (child == 0) {
        int null = open("/dev/null", O_RDWR);
        int in = open(input, O_RDONLY);
        if (null < 0 || in < 0)
            _exit(126);
        dup2(in, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execv(argv[1], argv + 1);
        _exit(127);
    }
    if (wait4(child, &status, 0, &usage) < 0) {
        perror("wait4");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    printf("%lld %ld %d\n",
           (long long)(end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec),
           usage.ru_maxrss,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}
