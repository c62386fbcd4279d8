// A C++ program that frees what it allocates itself while using the parts
// of libstdc++ that keep memory until exit: iostreams, locale, long
// strings, std::thread, a thrown exception. Its report must be empty and
// its output and exit status unchanged.
#include <iostream>
#include <locale>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

int main() {
    // A named locale used through a stream that goes away. (Imbuing
    // std::cout with it instead would keep the locale alive in a stream
    // that is never destroyed: live memory the program holds, reported.)
    std::locale loc("C.UTF-8");
    std::ostringstream formatted;
    formatted.imbue(loc);
    formatted << 1234567 << ' ' << std::use_facet<std::ctype<char>>(loc).toupper('q');
    std::cout << formatted.str() << '\n';
    std::string text(200, 'x');
    text += " and more than fifteen characters";
    std::map<std::string, int> counts;
    for (int i = 0; i < 50; ++i)
        counts["key number " + std::to_string(i)] = i;

    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([i] {
            std::ostringstream out;
            out << "thread " << i << ' ' << std::string(100, 'y');
            std::string s = out.str();
            (void)s;
        });
    for (auto &t : threads)
        t.join();

    try {
        throw std::runtime_error("an exception message long enough to allocate");
    } catch (const std::exception &e) {
        std::cout << "caught " << std::string(e.what()).size() << '\n';
    }
    std::cout << "keys " << counts.size() << " text " << text.size() << std::endl;
    std::cout << "report_clean_cpp done\n";
    return 0;
}
