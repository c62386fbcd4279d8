// A small request-serving loop that leaks the way long-running services do:
//   - SessionCache keeps every session's state and never evicts;
//   - StringTable interns header values, and one header is unique per request;
//   - the handler's error path forgets to give its buffer back to the C pool.
// Everything else it allocates per request is freed, so what memleak shows
// growing is exactly these three call sites.
//
// Usage: memleak-demo-service [--rate REQUESTS_PER_SECOND] [--seconds N]
// Runs until SIGTERM or SIGINT (or N seconds), then exits 0.
#include <memleak/memleak.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <unistd.h>

#include "buffer_pool.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int) { g_stop = 1; }

}  // namespace

namespace demo {

struct Request {
    std::uint64_t id;
    std::uint64_t session;
    std::string path;
    std::string user_agent;
    std::string trace_id;
};

char *copy_string(const char *text, std::size_t length) {
    char *copy = new char[length + 1];
    std::memcpy(copy, text, length);
    copy[length] = '\0';
    return copy;
}

std::size_t hash_string(const char *text, std::size_t length) {
    std::size_t h = 1469598103934665603ull;
    for (std::size_t i = 0; i < length; ++i)
        h = (h ^ static_cast<unsigned char>(text[i])) * 1099511628211ull;
    return h;
}

// Session state by session id, in a chained hash table that only grows.
class SessionCache {
public:
    SessionCache() : buckets_(new Entry *[kBuckets]()) {}
    SessionCache(const SessionCache &) = delete;
    SessionCache &operator=(const SessionCache &) = delete;

    void remember(std::uint64_t session, const std::string &state) {
        Entry *&head = buckets_[session % kBuckets];
        for (Entry *e = head; e; e = e->next) {
            if (e->session == session) {
                delete[] e->state;
                e->state = copy_string(state.data(), state.size());
                return;
            }
        }
        head = new Entry{session, copy_string(state.data(), state.size()), head};
        ++size_;
    }
    std::size_t size() const { return size_; }

private:
    struct Entry {
        std::uint64_t session;
        char *state;
        Entry *next;
    };
    static constexpr std::size_t kBuckets = 4096;
    Entry **buckets_;
    std::size_t size_ = 0;
};

// Interned header values: each distinct string is stored once, forever.
class StringTable {
public:
    StringTable() : buckets_(new Node *[kBuckets]()) {}
    StringTable(const StringTable &) = delete;
    StringTable &operator=(const StringTable &) = delete;

    const char *intern(const std::string &value) {
        Node *&head = buckets_[hash_string(value.data(), value.size()) % kBuckets];
        for (Node *n = head; n; n = n->next)
            if (value == n->text)
                return n->text;
        head = new Node{copy_string(value.data(), value.size()), head};
        ++size_;
        return head->text;
    }
    std::size_t size() const { return size_; }

private:
    struct Node {
        char *text;
        Node *next;
    };
    static constexpr std::size_t kBuckets = 4096;
    Node **buckets_;
    std::size_t size_ = 0;
};

struct Config {
    std::vector<std::string> routes;
};

Config load_config() {
    Config config;
    for (const char *route : {"/", "/login", "/api/items", "/api/orders", "/static/app.js"})
        config.routes.emplace_back(route);
    return config;
}

class RequestHandler {
public:
    explicit RequestHandler(const Config &config) : config_(config) { bufpool_init(&pool_, 8); }
    ~RequestHandler() { bufpool_destroy(&pool_); }

    void handle(const Request &request) {
        record_headers(request);
        update_session(request);
        respond(request);
    }

    std::size_t sessions() const { return cache_.size(); }
    std::size_t strings() const { return strings_.size(); }

private:
    void record_headers(const Request &request) {
        strings_.intern(request.path);
        strings_.intern(request.user_agent);
        strings_.intern(request.trace_id);
    }

    void update_session(const Request &request) {
        std::string state = "user=" + std::to_string(request.session % 1000) + ";cart=";
        state.append(200, 'x');
        cache_.remember(request.session, state);
    }

    bool render(const Request &request, struct buffer *out) {
        if (request.id % 13 == 0)
            return false;  // a malformed request
        int n = std::snprintf(out->data, out->capacity, "HTTP/1.1 200 OK\r\nX-Trace: %s\r\n\r\n%s",
                              request.trace_id.c_str(), request.path.c_str());
        out->length = n > 0 ? static_cast<std::size_t>(n) : 0;
        return true;
    }

    void respond(const Request &request) {
        struct buffer *out = bufpool_acquire(&pool_, 4096);
        if (!out)
            return;
        if (!render(request, out))
            return;  // the error path never releases `out`
        std::string log_line = "served " + request.path + " in 1 ms";
        bufpool_release(&pool_, out);
    }

    const Config &config_;
    SessionCache cache_;
    StringTable strings_;
    struct buffer_pool pool_;

public:
    Request next_request(std::uint64_t id) const {
        Request request;
        request.id = id;
        request.session = id / 2;
        request.path = config_.routes[id % config_.routes.size()];
        request.user_agent = id % 3 ? "Mozilla/5.0 (X11; Linux x86_64)" : "curl/7.88.1";
        request.trace_id = "trace-" + std::to_string(id * 2654435761u) + "-0123456789abcdef";
        return request;
    }
};

}  // namespace demo

namespace {

void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, nullptr);  // an early wake-up (signal, debugger) only shortens one pause
}

double now_seconds() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

}  // namespace

int main(int argc, char **argv) {
    long rate = 200;
    double seconds = 0;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--rate") && i + 1 < argc) {
            rate = std::strtol(argv[++i], nullptr, 10);
        } else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = std::strtod(argv[++i], nullptr);
        } else {
            std::fprintf(stderr, "usage: %s [--rate REQUESTS_PER_SECOND] [--seconds N]\n", argv[0]);
            return 2;
        }
    }
    if (rate < 1)
        rate = 1;

    struct sigaction action = {};
    action.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);

    demo::Config config = demo::load_config();
    demo::RequestHandler handler(config);
    memleak_try_mark("startup");
    std::printf("demo service: pid %d, %ld requests/s\n", static_cast<int>(getpid()), rate);
    std::fflush(stdout);

    const double start = now_seconds();
    std::uint64_t id = 0;
    while (!g_stop && (seconds <= 0 || now_seconds() - start < seconds)) {
        handler.handle(handler.next_request(++id));
        sleep_ns(1000000000L / rate);
    }
    std::printf("demo service: served %llu requests, %zu sessions cached, %zu strings interned\n",
                static_cast<unsigned long long>(id), handler.sessions(), handler.strings());
    return 0;
}
