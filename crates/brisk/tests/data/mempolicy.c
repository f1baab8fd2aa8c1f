/* Prints this process's NUMA memory policy (get_mempolicy(2)): the mode,
 * its flags and the node mask, for the memoryPolicy tests. Static, no
 * libnuma. */
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(void) {
    int mode = -1;
    unsigned long mask[16] = {0};
    if (syscall(SYS_get_mempolicy, &mode, mask, 1025UL, (void *)0, 0UL) != 0) {
        perror("get_mempolicy");
        return 1;
    }
    printf("mode=%d flags=0x%x nodes=0x%lx\n", mode & 0xff, mode & ~0xff, mask[0]);
    return 0;
}
