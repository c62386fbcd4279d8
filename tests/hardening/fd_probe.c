/* Prints the descriptor its first open() gets and the descriptors open at
 * that point, as a program that counts on "lowest free" would see them. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    const int fd = open("/dev/null", O_RDONLY);
    char open_fds[256] = "";
    DIR *dir = opendir("/proc/self/fd");
    const int skip = dir ? dirfd(dir) : -1;
    for (struct dirent *d; dir && (d = readdir(dir)) != NULL;) {
        if (d->d_name[0] == '.' || atoi(d->d_name) == skip)
            continue;
        strncat(open_fds, " ", sizeof open_fds - strlen(open_fds) - 1);
        strncat(open_fds, d->d_name, sizeof open_fds - strlen(open_fds) - 1);
    }
    if (dir)
        closedir(dir);
    /* stderr may be closed: the answer goes to stdout. */
    printf("first=%d open=%s\n", fd, open_fds);
    return 0;
}
