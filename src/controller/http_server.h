// HttpServer: the socket side of the controller's API. Every HTTP request is handed, unchanged
// apart from lower-cased header names, to ApiHandler::Handle, and its HttpResponse is sent back;
// all decisions (auth, validation, store transactions) are the handler's.
//
// Uses cpp-httplib (Debian's libcpp-httplib-dev): a thread pool serves connections, so Handle()
// runs concurrently (it is thread safe). Bind() then Serve() (blocking) until Stop() from another
// thread or a signal handler's thread.
#pragma once

#include <memory>
#include <string>

#include "controller/api.h"
#include "core/status.h"

namespace gpool::controller {

class HttpServer {
 public:
  explicit HttpServer(ApiHandler& handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port; port 0 picks a free port. Returns the bound port, or Unavailable saying why.
  Result<int> Bind(const std::string& host, int port);
  // Serves until Stop(). REQUIRES: Bind() succeeded.
  void Serve();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "127.0.0.1:8470" -> {"127.0.0.1", 8470}; ":8470" and "8470" bind every address. InvalidArgument
// naming the text otherwise.
Result<std::pair<std::string, int>> ParseListenAddress(const std::string& text);

}  // namespace gpool::controller
