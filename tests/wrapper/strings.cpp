// `strings` keeps a std::string live whose buffer is allocated inside
// libstdc++ (its explicit instantiation of _M_construct, without debug
// info on a stock system), prints "ready" and exits at the next line on
// stdin: a core taken in between and the exit report hold the same stack.
// A line "abort" makes it die of abort() instead, for a kernel core.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

std::string *volatile kept;

int main() {
    kept = new std::string(300, 'x');
    std::printf("ready pid %d\n", static_cast<int>(getpid()));
    std::fflush(stdout);
    char line[16] = {};
    unsigned n = 0;
    char c;
    while (read(0, &c, 1) == 1 && c != '\n')
        if (n < sizeof line - 1)
            line[n++] = c;
    if (std::strcmp(line, "abort") == 0)
        std::abort();
    return 0;
}
