#include "ckpt/http_checkpoint_remote.h"

#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "ckpt/checkpoint_store_api.h"

namespace gpool::ckpt {
namespace {

using nlohmann::json;

// Room for an error message beside a bounded body.
constexpr std::size_t kErrorSlack = 64 << 10;

struct Reply {
  int status = 0;
  std::string body;
};

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Names go into a URL path: only the characters a store allows in a name (which need no
// escaping); the server checks the rest of the rules.
Status CheckNameForUrl(std::string_view name) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), IsNameChar)) {
    return Status::InvalidArgument("checkpoint name '" + std::string(name) +
                                   "' may hold only [A-Za-z0-9._-]");
  }
  return Status::Ok();
}

// The server's {"error": message}, or the start of whatever it sent.
std::string ServerMessage(const std::string& body) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    return j["error"].get<std::string>();
  }
  return body.size() > 200 ? body.substr(0, 200) + "..." : body;
}

}  // namespace

struct HttpCheckpointRemote::Impl {
  std::string url;  // http://host:port, no trailing '/'
  HttpRemoteOptions options;
  std::mutex mu;
  std::vector<std::unique_ptr<httplib::Client>> idle;  // kept-alive connections, guarded by mu

  std::unique_ptr<httplib::Client> Borrow() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!idle.empty()) {
        std::unique_ptr<httplib::Client> c = std::move(idle.back());
        idle.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<httplib::Client>(url);
    c->set_connection_timeout(options.connect_timeout_s, 0);
    c->set_read_timeout(options.io_timeout_s, 0);
    c->set_write_timeout(options.io_timeout_s, 0);
    c->set_tcp_nodelay(true);
    c->set_keep_alive(true);
    return c;
  }
  void Return(std::unique_ptr<httplib::Client> c) {
    std::lock_guard<std::mutex> lock(mu);
    idle.push_back(std::move(c));
  }

  // One request; the reply's body is read up to `max_reply` bytes (more is an error).
  Result<Reply> Send(const std::string& method, const std::string& path, std::string body,
                     const std::string& content_type, std::size_t max_reply) {
    httplib::Request req;
    req.method = method;
    req.path = path;
    if (!options.token.empty()) req.headers.emplace("Authorization", "Bearer " + options.token);
    if (!content_type.empty()) req.headers.emplace("Content-Type", content_type);
    req.body = std::move(body);
    std::string received;
    bool too_large = false;
    req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
      if (received.size() + n > max_reply) {
        too_large = true;
        return false;
      }
      received.append(data, n);
      return true;
    };
    std::unique_ptr<httplib::Client> client = Borrow();
    httplib::Result r = client->send(req);
    const std::string what = method + " " + url + path;
    if (too_large) {
      return Status::Internal(what + ": the reply is over " + std::to_string(max_reply) + " bytes");
    }
    if (!r) {
      return Status::Unavailable(what + ": " + httplib::to_string(r.error()));
    }
    Return(std::move(client));
    return Reply{r->status, std::move(received)};
  }

  // The Status for a reply whose HTTP status is not the expected one.
  Status Failure(const std::string& method, const std::string& path, const Reply& reply,
                 bool not_found_is_absent) const {
    const std::string message = method + " " + url + path + ": " + std::to_string(reply.status) +
                                " " + ServerMessage(reply.body);
    if (reply.status == 404 && not_found_is_absent) return Status::NotFound(message);
    if (reply.status == 409) return Status::Conflict(message);
    if (reply.status >= 400 && reply.status < 500) return Status::InvalidArgument(message);
    return Status::Unavailable(message);
  }

  // A JSON reply with status `expected`.
  Result<json> SendJson(const std::string& method, const std::string& path, std::string body,
                        int expected, std::size_t max_reply) {
    Result<Reply> reply =
        Send(method, path, std::move(body), method == "GET" ? "" : "application/json", max_reply);
    if (!reply.ok()) return reply.status();
    if (reply->status != expected) return Failure(method, path, *reply, false);
    json j = json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      return Status::Internal(method + " " + url + path + ": the reply is not JSON");
    }
    return j;
  }
};

HttpCheckpointRemote::HttpCheckpointRemote(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpCheckpointRemote::~HttpCheckpointRemote() = default;

Result<std::unique_ptr<HttpCheckpointRemote>> HttpCheckpointRemote::Create(
    const std::string& url, HttpRemoteOptions options) {
  constexpr std::string_view kScheme = "http://";
  const auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("'" + url + "' is not a store URL (" + why +
                                   "; expected http://HOST:PORT)");
  };
  if (!url.starts_with(kScheme)) {
    return bad(url.starts_with("https://") ? "https is not supported" : "no http://");
  }
  std::string rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty()) return bad("no host");
  if (rest.find('/') != std::string::npos || rest.find('?') != std::string::npos ||
      rest.find('@') != std::string::npos) {
    return bad("a path, query or user is not supported");
  }
  // The port: digits after the last ':' outside an [IPv6] literal.
  const std::size_t colon = rest.rfind(':');
  const std::size_t bracket = rest.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    const std::string port_text = rest.substr(colon + 1);
    int port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
        port > 65535) {
      return bad("bad port '" + port_text + "'");
    }
    if (colon == 0) return bad("no host");
  }
  auto impl = std::make_unique<Impl>();
  impl->url = std::string(kScheme) + rest;
  impl->options = std::move(options);
  return std::unique_ptr<HttpCheckpointRemote>(new HttpCheckpointRemote(std::move(impl)));
}

std::string HttpCheckpointRemote::Describe() const { return impl_->url; }

Result<CheckpointListing> HttpCheckpointRemote::List() {
  const std::string path = "/v1/checkpoints";
  Result<json> j = impl_->SendJson("GET", path, "", 200, kMaxManifestBytes);
  if (!j.ok()) return j.status();
  CheckpointListing listing;
  try {
    listing.names = j->at("checkpoints").get<std::vector<std::string>>();
    if (!j->at("latest").is_null()) listing.latest = j->at("latest").get<std::string>();
  } catch (const json::exception& e) {
    return Status::Internal("GET " + impl_->url + path + ": unexpected reply (" + e.what() + ")");
  }
  return listing;
}

Result<CheckpointManifest> HttpCheckpointRemote::ReadManifest(std::string_view name) {
  if (Status s = CheckNameForUrl(name); !s.ok()) return s;
  const std::string path = "/v1/checkpoints/" + std::string(name);
  Result<Reply> reply = impl_->Send("GET", path, "", "", kMaxManifestBytes + kErrorSlack);
  if (!reply.ok()) return reply.status();
  if (reply->status != 200) return impl_->Failure("GET", path, *reply, true);
  Result<CheckpointManifest> m = ParseManifest(reply->body);
  if (!m.ok()) {
    return Status::Internal("GET " + impl_->url + path + ": a malformed manifest (" +
                            m.status().message() + ")");
  }
  if (name != kLatest && m->name != name) {
    return Status::Internal("GET " + impl_->url + path + ": the manifest names '" + m->name + "'");
  }
  return m;
}

Result<std::vector<std::string>> HttpCheckpointRemote::MissingChunks(
    const std::vector<std::string>& hashes) {
  if (hashes.size() > kMaxHashesPerQuery) {
    return Status::InvalidArgument("at most " + std::to_string(kMaxHashesPerQuery) +
                                   " hashes per question, not " + std::to_string(hashes.size()));
  }
  for (const std::string& h : hashes) {
    if (Status s = CheckChunkHash(h); !s.ok()) return s;
  }
  const std::string path = "/v1/chunks/missing";
  Result<json> j =
      impl_->SendJson("POST", path, json{{"hashes", hashes}}.dump(), 200, kMaxQueryBytes);
  if (!j.ok()) return j.status();
  std::vector<std::string> missing;
  try {
    missing = j->at("missing").get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    return Status::Internal("POST " + impl_->url + path + ": unexpected reply (" + e.what() + ")");
  }
  // Only hashes that were asked about: anything else would be a transfer of the server's choice.
  const std::set<std::string> asked(hashes.begin(), hashes.end());
  for (const std::string& h : missing) {
    if (!asked.contains(h)) {
      return Status::Internal("POST " + impl_->url + path + ": the reply names chunk '" + h +
                              "', which was not asked about");
    }
  }
  return missing;
}

Result<std::string> HttpCheckpointRemote::ReadChunkFile(const ChunkRef& chunk) {
  if (Status s = CheckChunkHash(chunk.hash); !s.ok()) return s;
  const std::string path = "/v1/chunks/" + chunk.hash;
  Result<Reply> reply =
      impl_->Send("GET", path, "", "", MaxChunkFileBytes(chunk.size) + kErrorSlack);
  if (!reply.ok()) return reply.status();
  if (reply->status != 200) return impl_->Failure("GET", path, *reply, true);
  return std::move(reply->body);
}

Result<bool> HttpCheckpointRemote::PutChunkFile(const ChunkRef& chunk, std::string_view file) {
  if (Status s = CheckChunkHash(chunk.hash); !s.ok()) return s;
  const std::string path = "/v1/chunks/" + chunk.hash + "?size=" + std::to_string(chunk.size);
  Result<Reply> reply =
      impl_->Send("PUT", path, std::string(file), "application/octet-stream", kErrorSlack);
  if (!reply.ok()) return reply.status();
  if (reply->status == 201) return true;
  if (reply->status == 200) return false;
  return impl_->Failure("PUT", path, *reply, false);
}

Status HttpCheckpointRemote::Publish(const CheckpointManifest& manifest, bool make_latest) {
  if (Status s = CheckNameForUrl(manifest.name); !s.ok()) return s;
  const std::string path =
      "/v1/checkpoints/" + manifest.name + (make_latest ? "?latest=1" : "?latest=0");
  Result<json> j = impl_->SendJson("PUT", path, ManifestToJson(manifest), 200, kErrorSlack);
  return j.ok() ? Status::Ok() : j.status();
}

}  // namespace gpool::ckpt
