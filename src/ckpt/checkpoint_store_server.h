// CheckpointStoreServer: the socket side of CheckpointStoreApi — what `gpool ckpt serve` runs.
// Every HTTP request becomes a StoreApiRequest (path and query decoded, the Authorization
// header) and the handler's StoreApiResponse is sent back; all decisions are the handler's.
//
// Uses cpp-httplib: a thread pool serves connections, so Handle() runs concurrently (it is
// thread safe). Bodies over the handler's MaxBodyBytes() are refused (413) before they are read.
// Bind() then Serve() (blocking) until Stop() from another thread; Stop() before or during
// Serve() both end it.
#pragma once

#include <memory>
#include <string>

#include "ckpt/checkpoint_store_api.h"
#include "core/status.h"

namespace gpool::ckpt {

class CheckpointStoreServer {
 public:
  // Keeps a reference: `api` must outlive the server.
  explicit CheckpointStoreServer(CheckpointStoreApi& api);
  ~CheckpointStoreServer();
  CheckpointStoreServer(const CheckpointStoreServer&) = delete;
  CheckpointStoreServer& operator=(const CheckpointStoreServer&) = delete;

  // Binds host:port; port 0 picks a free port. Returns the bound port, or Unavailable.
  Result<int> Bind(const std::string& host, int port);
  // Serves until Stop(). REQUIRES: Bind() succeeded.
  void Serve();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpool::ckpt
