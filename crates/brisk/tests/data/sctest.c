/* Syscalls for the seccomp tests, made directly (no libc wrapper deciding
 * anything): each line is "name=return value or -errno".
 *   x86_64 ABI: getpid, io_uring_setup(1, NULL) (not in podman's profile),
 *               personality(PER_LINUX32) and personality(ADDR_NO_RANDOMIZE)
 *               (the profile allows only a few values of its argument)
 *   i386 ABI (int 0x80): getpid (20), io_uring_setup (425)
 * Built static by the test: gcc -static -O1 -o sctest sctest.c */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys64(long nr, long a, long b)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
}

static long sys32(long nr, long a, long b)
{
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b) : "memory");
    return r;
}

int main(void)
{
    printf("getpid=%ld\n", sys64(SYS_getpid, 0, 0));
    printf("io_uring_setup=%ld\n", sys64(SYS_io_uring_setup, 1, 0));
    printf("personality_linux32=%ld\n", sys64(SYS_personality, 0x0008, 0) >= 0 ? 0L : -1L);
    printf("personality_norandom=%ld\n", sys64(SYS_personality, 0x0040000, 0));
    printf("i386_getpid=%ld\n", sys32(20, 0, 0));
    printf("i386_io_uring_setup=%ld\n", sys32(425, 1, 0));
    return 0;
}
