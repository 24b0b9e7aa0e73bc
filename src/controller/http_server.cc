#include "controller/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace gpool::controller {

struct HttpServer::Impl {
  explicit Impl(ApiHandler& h) : handler(h) {}
  ApiHandler& handler;
  httplib::Server server;
  socket_t listen_fd = INVALID_SOCKET;  // seen by the socket-options hook at bind
};

HttpServer::HttpServer(ApiHandler& handler) : impl_(std::make_unique<Impl>(handler)) {
  auto forward = [this](const httplib::Request& req, httplib::Response& res) {
    HttpRequest r;
    r.method = req.method;
    r.path = req.target.empty() ? req.path : req.target;
    for (const auto& [name, value] : req.headers) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      r.headers[lower] = value;
    }
    r.body = req.body;
    const HttpResponse out = impl_->handler.Handle(r);
    res.status = out.status;
    res.set_content(out.body, out.content_type.c_str());
  };
  // SO_REUSEADDR (restart right after a stop) but not httplib's default SO_REUSEPORT, which lets
  // a second server silently share the port with the first.
  impl_->server.set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<void*>(&yes), sizeof(yes));
    impl_->listen_fd = sock;
  });
  // Replies go out at once: without it a keep-alive client waits for a delayed ACK (~40 ms)
  // between httplib's header and body writes (docs/benchmarks.md §5).
  impl_->server.set_tcp_nodelay(true);
  // Bodies a little over the API's limit still reach the handler, which answers 413 itself.
  impl_->server.set_payload_max_length(kMaxBodyBytes + 1024);
  impl_->server.Get(".*", forward);
  impl_->server.Post(".*", forward);
  impl_->server.Put(".*", forward);
  impl_->server.Patch(".*", forward);
  impl_->server.Delete(".*", forward);
}

HttpServer::~HttpServer() = default;

Result<int> HttpServer::Bind(const std::string& host, int port) {
  int bound = port;
  if (port == 0) {
    bound = impl_->server.bind_to_any_port(host);
    if (bound <= 0) return Status::Unavailable("cannot bind " + host + ":0");
  } else if (!impl_->server.bind_to_port(host, port)) {
    return Status::Unavailable("cannot listen on " + host + ":" + std::to_string(port) +
                               " (in use, or not an address of this machine)");
  }
  // Debian's httplib listens with a backlog of 5: a burst of agents' connections would be
  // dropped and retried a second later. Listening again only raises the backlog.
  if (impl_->listen_fd != INVALID_SOCKET) ::listen(impl_->listen_fd, SOMAXCONN);
  return bound;
}

void HttpServer::Serve() { impl_->server.listen_after_bind(); }

void HttpServer::Stop() { impl_->server.stop(); }

Result<std::pair<std::string, int>> ParseListenAddress(const std::string& text) {
  std::string host = "0.0.0.0";
  std::string port_text = text;
  if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.empty()) host = "0.0.0.0";
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
  }
  int port = -1;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return Status::InvalidArgument("--listen: expected HOST:PORT (e.g. 127.0.0.1:8470), got '" +
                                   text + "'");
  }
  return std::make_pair(host, port);
}

}  // namespace gpool::controller
