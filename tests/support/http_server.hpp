#pragma once
// A small HTTP/1.1 server on 127.0.0.1 for tests: serves bodies by path, answers conditional requests
// (ETag / If-None-Match → 304) and ranges (206), and can fail a path a number of times (503) or
// ignore ranges, to test retries and resumed downloads. One request per connection.

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace imgbuild::test {

class HttpServer {
public:
    struct Route {
        std::string body;
        std::string etag;                 // sent, and compared with If-None-Match
        int fail_times = 0;               // answer 503 this many times first
        bool ranges = true;               // honour Range requests
        int status = 200;                 // e.g. 404
        std::size_t bytes_per_second = 0; // 0: as fast as it goes; else slowly (to interrupt a download)
    };

    HttpServer();
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    void add(const std::string& path, Route route);
    std::string url(const std::string& path) const;
    int requests(const std::string& path) const; // how many requests the path got
    std::string last_range(const std::string& path) const;

private:
    void serve();
    void handle(int fd);

    int m_listen = -1;
    int m_port = 0;
    std::atomic<bool> m_stop{false};
    mutable std::mutex m_mutex;
    std::map<std::string, Route> m_routes;
    std::map<std::string, int> m_requests;
    std::map<std::string, std::string> m_ranges;
    std::thread m_thread;
};

} // namespace imgbuild::test
