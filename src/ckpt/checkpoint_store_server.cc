#include "ckpt/checkpoint_store_server.h"

#include <httplib.h>

#include <atomic>
#include <thread>

namespace gpool::ckpt {

struct CheckpointStoreServer::Impl {
  explicit Impl(CheckpointStoreApi& a) : api(a) {}
  CheckpointStoreApi& api;
  httplib::Server server;
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> serving{false};
};

CheckpointStoreServer::CheckpointStoreServer(CheckpointStoreApi& api)
    : impl_(std::make_unique<Impl>(api)) {
  auto forward = [this](const httplib::Request& req, httplib::Response& res) {
    StoreApiRequest r;
    r.method = req.method;
    r.path = req.path;
    for (const auto& [key, value] : req.params) r.query.emplace(key, value);  // the first wins
    r.authorization = req.get_header_value("Authorization");
    r.body = req.body;
    StoreApiResponse out = impl_->api.Handle(r);
    res.status = out.status;
    res.set_content(std::move(out.body), out.content_type.c_str());
  };
  // SO_REUSEADDR (restart right after a stop), not httplib's default SO_REUSEPORT, which would
  // let a second server silently share the port.
  impl_->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<void*>(&yes), sizeof(yes));
  });
  impl_->server.set_tcp_nodelay(true);
  impl_->server.set_payload_max_length(api.MaxBodyBytes());
  impl_->server.set_read_timeout(60);
  impl_->server.set_write_timeout(60);
  impl_->server.Get(".*", forward);
  impl_->server.Post(".*", forward);
  impl_->server.Put(".*", forward);
  impl_->server.Patch(".*", forward);
  impl_->server.Delete(".*", forward);
}

CheckpointStoreServer::~CheckpointStoreServer() = default;

Result<int> CheckpointStoreServer::Bind(const std::string& host, int port) {
  if (port == 0) {
    const int bound = impl_->server.bind_to_any_port(host);
    if (bound <= 0) return Status::Unavailable("cannot bind " + host + ":0");
    return bound;
  }
  if (!impl_->server.bind_to_port(host, port)) {
    return Status::Unavailable("cannot listen on " + host + ":" + std::to_string(port) +
                               " (in use, or not an address of this machine)");
  }
  return port;
}

void CheckpointStoreServer::Serve() {
  impl_->serving.store(true);
  if (!impl_->stop_requested.load()) impl_->server.listen_after_bind();
  impl_->serving.store(false);
}

void CheckpointStoreServer::Stop() {
  impl_->stop_requested.store(true);
  // httplib's stop() does nothing until its accept loop runs: if Serve() has begun, wait for
  // that loop (microseconds) or for Serve() to return, then stop it.
  while (impl_->serving.load() && !impl_->server.is_running()) std::this_thread::yield();
  impl_->server.stop();
}

}  // namespace gpool::ckpt
