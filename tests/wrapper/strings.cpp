// `strings` keeps a std::string live whose buffer is allocated inside
// libstdc++ (its explicit instantiation of _M_construct, without debug
// info on a stock system), prints "ready" and exits at the next line on
// stdin: a core taken in between and the exit report hold the same stack.
#include <cstdio>
#include <string>
#include <unistd.h>

std::string *volatile kept;

int main() {
    kept = new std::string(300, 'x');
    std::printf("ready pid %d\n", static_cast<int>(getpid()));
    std::fflush(stdout);
    char c;
    while (read(0, &c, 1) == 1 && c != '\n') {
    }
    return 0;
}
