// The loopback test server: poll-based accept loop on its own thread, plain sockets.

#include "http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <stdexcept>

namespace imgbuild::test {

HttpServer::HttpServer() {
    m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(m_listen, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(m_listen, 64) != 0)
        throw std::runtime_error("cannot listen on 127.0.0.1");
    socklen_t length = sizeof address;
    ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&address), &length);
    m_port = ntohs(address.sin_port);
    m_thread = std::thread([this] { serve(); });
}

HttpServer::~HttpServer() {
    m_stop = true;
    m_thread.join();
    ::close(m_listen);
}

void HttpServer::add(const std::string& path, Route route) {
    std::lock_guard lock(m_mutex);
    m_routes[path] = std::move(route);
}

std::string HttpServer::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
}

int HttpServer::requests(const std::string& path) const {
    std::lock_guard lock(m_mutex);
    auto it = m_requests.find(path);
    return it == m_requests.end() ? 0 : it->second;
}

std::string HttpServer::last_range(const std::string& path) const {
    std::lock_guard lock(m_mutex);
    auto it = m_ranges.find(path);
    return it == m_ranges.end() ? std::string{} : it->second;
}

void HttpServer::serve() {
    while (!m_stop) {
        pollfd fd{m_listen, POLLIN, 0};
        if (::poll(&fd, 1, 50) <= 0) continue;
        int client = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) {
            handle(client);
            ::close(client);
        }
    }
}

void HttpServer::handle(int fd) {
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) return;
        request.append(buffer, static_cast<std::size_t>(n));
    }
    std::istringstream lines(request);
    std::string method, path, version;
    lines >> method >> path >> version;
    std::map<std::string, std::string> headers;
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line) && line != "\r") {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        if (!value.empty() && value.back() == '\r') value.pop_back();
        headers[name] = value;
    }

    Route route;
    bool found = false;
    {
        std::lock_guard lock(m_mutex);
        ++m_requests[path];
        m_ranges[path] = headers.count("range") ? headers["range"] : "";
        if (auto it = m_routes.find(path); it != m_routes.end()) {
            found = true;
            if (it->second.fail_times > 0) {
                --it->second.fail_times;
                route.status = 503;
            } else {
                route = it->second;
            }
        }
    }
    std::string status_line, extra, body;
    if (!found || route.status == 404) {
        status_line = "404 Not Found";
    } else if (route.status != 200) {
        status_line = std::to_string(route.status) + " Service Unavailable";
    } else if (!route.etag.empty() && headers["if-none-match"] == route.etag) {
        status_line = "304 Not Modified";
        extra = "ETag: " + route.etag + "\r\n";
    } else if (route.ranges && headers.count("range") && headers["range"].starts_with("bytes=")) {
        std::size_t from = std::stoul(headers["range"].substr(6));
        status_line = "206 Partial Content";
        body = from < route.body.size() ? route.body.substr(from) : "";
        extra = "Content-Range: bytes " + std::to_string(from) + "-" + std::to_string(route.body.size() - 1) + "/" +
                std::to_string(route.body.size()) + "\r\n";
    } else {
        status_line = "200 OK";
        body = route.body;
        if (!route.etag.empty()) extra = "ETag: " + route.etag + "\r\n";
    }
    std::string response = "HTTP/1.1 " + status_line + "\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\nConnection: close\r\n" + extra + "\r\n" + (method == "HEAD" ? "" : body);
    std::size_t sent = 0;
    std::size_t chunk =
        route.bytes_per_second ? std::max<std::size_t>(1, route.bytes_per_second / 20) : response.size();
    while (sent < response.size() && !m_stop) {
        ssize_t n = ::send(fd, response.data() + sent, std::min(chunk, response.size() - sent), MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<std::size_t>(n);
        if (route.bytes_per_second) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

} // namespace imgbuild::test
