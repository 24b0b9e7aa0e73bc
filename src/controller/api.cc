#include "controller/api.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <exception>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "controller/job_spec.h"
#include "controller/state_keys.h"
#include "controller/workload_record.h"
#include "core/cluster.h"
#include "core/gpu_model.h"

namespace gpool::controller {
namespace {

using nlohmann::json;

constexpr int kMaxJsonDepth = 64;
constexpr std::int64_t kMaxTenantGpus = 1'000'000;

struct Context {
  store::KvStore& store;
  Clock& clock;
  TokenSource& tokens;
  NodeLiveness& liveness;
  WorkloadIndex& index;
  LogStore* logs;  // null: this server keeps no logs
  ControllerMetrics& metrics;
};

// Who is calling: the admin, or one tenant.
struct Caller {
  bool admin = false;
  std::string tenant;
};

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

HttpResponse JsonResponse(int status, const json& body) {
  return HttpResponse{status, "application/json", Dump(body)};
}

// The field path a message starts with ("resources.gpus.count: must be ..."), or "".
std::string FieldOf(const std::string& message) {
  const std::size_t colon = message.find(": ");
  if (colon == std::string::npos || colon == 0) return "";
  const std::string prefix = message.substr(0, colon);
  const bool path_like = std::all_of(prefix.begin(), prefix.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '[' ||
           c == ']' || c == '-';
  });
  return path_like ? prefix : "";
}

HttpResponse Error(int status, std::string_view code, const std::string& message,
                   std::string field = "") {
  if (field.empty()) field = FieldOf(message);
  json err = {{"code", code}, {"message", message}};
  if (!field.empty()) err["field"] = field;
  return JsonResponse(status, json{{"error", err}});
}

HttpResponse FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return Error(400, "invalid_argument", s.message());
    case StatusCode::kNotFound:
      return Error(404, "not_found", s.message());
    case StatusCode::kConflict:
      return Error(409, "conflict", s.message());
    case StatusCode::kUnavailable:
      return Error(503, "unavailable", s.message());
    case StatusCode::kOk:
    case StatusCode::kInternal:
      break;
  }
  return Error(500, "internal", s.message());
}

HttpResponse Unauthenticated(const std::string& m) { return Error(401, "unauthenticated", m); }
HttpResponse Forbidden(const std::string& m) { return Error(403, "forbidden", m); }
HttpResponse NotFoundResponse(const std::string& m) { return Error(404, "not_found", m); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A stored record; Internal if it is not a JSON object (a corrupted store).
Result<json> ParseRecord(const store::KeyValue& kv) {
  json j = json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Internal("corrupt record at " + kv.key);
  }
  return j;
}

// ---- authentication ----------------------------------------------------------------------

// The caller of `request`, or the 401 / error response to send.
std::variant<Caller, HttpResponse> Authenticate(Context& ctx, const HttpRequest& request) {
  const auto it = request.headers.find("authorization");
  if (it == request.headers.end()) {
    return Unauthenticated("missing Authorization header: use 'Authorization: Bearer <token>'");
  }
  std::string_view value = Trim(it->second);
  const std::size_t space = value.find(' ');
  if (space == std::string_view::npos || Lower(value.substr(0, space)) != "bearer") {
    return Unauthenticated("the Authorization header must be 'Bearer <token>'");
  }
  const std::string_view token = Trim(value.substr(space + 1));
  if (!LooksLikeToken(token)) return Unauthenticated("invalid token");
  auto kv = ctx.store.Get(TokenKey(Sha256Hex(token)));
  if (!kv.ok()) {
    if (kv.status().code() == StatusCode::kNotFound) return Unauthenticated("invalid token");
    return FromStatus(kv.status());
  }
  auto record = ParseRecord(*kv);
  if (!record.ok()) return FromStatus(record.status());
  const std::string role = record->value("role", "");
  if (role == "admin") return Caller{true, ""};
  if (role == "tenant" && (*record)["tenant"].is_string()) {
    return Caller{false, (*record)["tenant"].get<std::string>()};
  }
  return FromStatus(Status::Internal("corrupt token record"));
}

// ---- request bodies ----------------------------------------------------------------------

// Refuses JSON nested deeper than kMaxJsonDepth before parsing it (bounded work and stack).
bool NestedTooDeeply(std::string_view body) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// The body as a JSON value: JSON (Content-Type absent or application/json) or YAML
// (application/yaml, application/x-yaml, text/yaml).
Result<json> ParseBody(const HttpRequest& request) {
  std::string type;
  if (const auto it = request.headers.find("content-type"); it != request.headers.end()) {
    std::string_view v = it->second;
    v = Trim(v.substr(0, v.find(';')));
    type = Lower(v);
  }
  if (type == "application/yaml" || type == "application/x-yaml" || type == "text/yaml") {
    return YamlToJson(request.body, "body");
  }
  if (!type.empty() && type != "application/json") {
    return Status::InvalidArgument("unsupported Content-Type '" + type +
                                   "': send application/json or application/yaml");
  }
  if (NestedTooDeeply(request.body)) {
    return Status::InvalidArgument("malformed JSON: nested deeper than " +
                                   std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    return json::parse(request.body);
  } catch (const json::parse_error& e) {
    std::string detail = e.what();
    if (const std::size_t close = detail.find("] "); close != std::string::npos) {
      detail = detail.substr(close + 2);
    }
    return Status::InvalidArgument("malformed JSON at byte " + std::to_string(e.byte) + " (" +
                                   detail + ")");
  }
}

Result<std::int64_t> GpuCountField(const json& obj, const char* field) {
  if (!obj.contains(field)) return std::int64_t{0};
  const json& v = obj[field];
  if (!v.is_number_integer() && !v.is_number_unsigned()) {
    return Status::InvalidArgument(std::string(field) + ": expected an integer");
  }
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(kMaxTenantGpus)) {
    return Status::InvalidArgument(std::string(field) + ": must be between 0 and " +
                                   std::to_string(kMaxTenantGpus));
  }
  const std::int64_t n =
      v.is_number_unsigned() ? std::int64_t(v.get<std::uint64_t>()) : v.get<std::int64_t>();
  if (n < 0 || n > kMaxTenantGpus) {
    return Status::InvalidArgument(std::string(field) + ": must be between 0 and " +
                                   std::to_string(kMaxTenantGpus) + ", got " + std::to_string(n));
  }
  return n;
}

// ---- tenants -----------------------------------------------------------------------------

json PublicTenant(const json& record) {
  json out = record;
  out.erase("token_sha256");
  return out;
}

HttpResponse CreateTenant(Context& ctx, const Caller& caller, const HttpRequest& request) {
  if (!caller.admin) return Forbidden("only the admin token may create tenants");
  auto body = ParseBody(request);
  if (!body.ok()) return FromStatus(body.status());
  const json& doc = *body;
  if (!doc.is_object()) {
    return Error(400, "invalid_argument",
                 "expected an object {name, guaranteed_gpus, borrow_gpus}");
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "name" && key != "guaranteed_gpus" && key != "borrow_gpus") {
      return Error(400, "invalid_argument",
                   key + ": unknown field; known fields: name, guaranteed_gpus, borrow_gpus", key);
    }
  }
  if (!doc.contains("name")) return Error(400, "invalid_argument", "name: is required");
  if (!doc["name"].is_string() || !IsValidName(doc["name"].get<std::string>())) {
    return Error(400, "invalid_argument",
                 "name: use 1 to 63 lowercase letters, digits and '-', starting and ending with a "
                 "letter or digit");
  }
  const std::string name = doc["name"].get<std::string>();
  auto guaranteed = GpuCountField(doc, "guaranteed_gpus");
  if (!guaranteed.ok()) return FromStatus(guaranteed.status());
  auto borrow = GpuCountField(doc, "borrow_gpus");
  if (!borrow.ok()) return FromStatus(borrow.status());

  auto token = ctx.tokens.NewToken();
  if (!token.ok()) return FromStatus(token.status());
  const std::string sha = Sha256Hex(*token);
  const json record = {{"name", name},
                       {"guaranteed_gpus", *guaranteed},
                       {"borrow_gpus", *borrow},
                       {"token_sha256", sha},
                       {"created_at", ctx.clock.NowSeconds()}};
  store::TxnRequest txn;
  txn.compare.push_back(store::ModRevisionIs(TenantKey(name), 0));
  txn.compare.push_back(store::ModRevisionIs(TokenKey(sha), 0));
  txn.success.push_back(store::PutOp(TenantKey(name), Dump(record)));
  txn.success.push_back(
      store::PutOp(TokenKey(sha), Dump(json{{"role", "tenant"}, {"tenant", name}})));
  auto result = ctx.store.Txn(txn);
  if (!result.ok()) return FromStatus(result.status());
  if (!result->succeeded) {
    return Error(409, "conflict", "name: tenant '" + name + "' already exists");
  }
  return JsonResponse(
      201,
      json{{"tenant", PublicTenant(record)}, {"token", *token}, {"revision", result->revision}});
}

HttpResponse ListTenants(Context& ctx, const Caller& caller) {
  store::RangeRequest range;
  if (caller.admin) {
    range.key = std::string(kTenantsPrefix);
    range.range_end = store::PrefixEnd(kTenantsPrefix);
  } else {
    range.key = TenantKey(caller.tenant);
  }
  auto rr = ctx.store.Range(range);
  if (!rr.ok()) return FromStatus(rr.status());
  json tenants = json::array();
  for (const auto& kv : rr->kvs) {
    auto record = ParseRecord(kv);
    if (!record.ok()) return FromStatus(record.status());
    tenants.push_back(PublicTenant(*record));
  }
  return JsonResponse(200, json{{"tenants", tenants}, {"revision", rr->revision}});
}

// ---- workloads ---------------------------------------------------------------------------

bool IsState(std::string_view s) {
  return s == "pending" || s == "assigned" || s == "running" || s == "succeeded" ||
         s == "failed" || s == "cancelled";
}

HttpResponse SubmitWorkload(Context& ctx, const Caller& caller, const HttpRequest& request) {
  auto body = ParseBody(request);
  if (!body.ok()) return FromStatus(body.status());
  auto parsed = ParseJobSpec(*body);
  if (!parsed.ok()) return FromStatus(parsed.status());
  JobSpec spec = std::move(parsed).value();
  if (caller.admin) {
    if (spec.tenant.empty()) {
      // `gpool up` creates a tenant named "default" for the single-user case.
      if (ctx.store.Get(TenantKey("default")).ok()) {
        spec.tenant = "default";
      } else {
        return Error(400, "invalid_argument",
                     "tenant: is required when submitting as the admin (no tenant \"default\")");
      }
    }
  } else if (spec.tenant.empty()) {
    spec.tenant = caller.tenant;
  } else if (spec.tenant != caller.tenant) {
    return Error(
        403, "forbidden",
        "tenant: a tenant token may only submit for its own tenant '" + caller.tenant + "'");
  }
  const double now = ctx.clock.NowSeconds();
  const std::string tenant_key = TenantKey(spec.tenant);
  for (int attempt = 0; attempt < kMaxTxnAttempts; ++attempt) {
    std::int64_t id = 1;
    store::Revision counter_rev = 0;
    auto counter = ctx.store.Get(std::string(kCounterKey));
    if (counter.ok()) {
      counter_rev = counter->mod_revision;
      const std::string& v = counter->value;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), id);
      if (ec != std::errc() || end != v.data() + v.size() || id < 1) {
        return FromStatus(Status::Internal("corrupt workload id counter"));
      }
    } else if (counter.status().code() != StatusCode::kNotFound) {
      return FromStatus(counter.status());
    }
    json record = {{"id", id},           {"tenant", spec.tenant}, {"spec", JobSpecToJson(spec)},
                   {"state", "pending"}, {"submitted_at", now},   {"updated_at", now}};
    store::TxnRequest txn;
    txn.compare.push_back(store::ModRevisionIs(std::string(kCounterKey), counter_rev));
    txn.compare.push_back(store::Compare{tenant_key, store::CompareTarget::kCreateRevision,
                                         store::CompareOp::kGreater, 0, ""});
    txn.compare.push_back(store::ModRevisionIs(WorkloadKey(id), 0));
    txn.success.push_back(store::PutOp(std::string(kCounterKey), std::to_string(id + 1)));
    txn.success.push_back(store::PutOp(WorkloadKey(id), Dump(record)));
    auto result = ctx.store.Txn(txn);
    if (!result.ok()) return FromStatus(result.status());
    if (result->succeeded) {
      record["revision"] = result->revision;
      return JsonResponse(201, record);
    }
    // Lost a race on the counter, or the tenant does not exist: find out which.
    auto tenant = ctx.store.Get(tenant_key);
    if (!tenant.ok()) {
      if (tenant.status().code() == StatusCode::kNotFound) {
        return Error(400, "invalid_argument", "tenant: unknown tenant '" + spec.tenant + "'");
      }
      return FromStatus(tenant.status());
    }
  }
  return Error(503, "unavailable", "too much contention allocating a workload id; retry");
}

// The workload id in a path segment: decimal digits, 1 .. 10^19 - 1; nullopt otherwise.
std::optional<std::int64_t> ParseId(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || end != s.data() + s.size() || id < 1) return std::nullopt;
  return id;
}

// The workload `id` if the caller may see it; a 404 (also for another tenant's) otherwise.
std::variant<std::pair<store::KeyValue, json>, HttpResponse> LoadVisibleWorkload(
    Context& ctx, const Caller& caller, std::int64_t id) {
  const std::string missing = "workload " + std::to_string(id) + " not found";
  auto kv = ctx.store.Get(WorkloadKey(id));
  if (!kv.ok()) {
    if (kv.status().code() == StatusCode::kNotFound) return NotFoundResponse(missing);
    return FromStatus(kv.status());
  }
  auto record = ParseRecord(*kv);
  if (!record.ok()) return FromStatus(record.status());
  if (!caller.admin && record->value("tenant", "") != caller.tenant) {
    return NotFoundResponse(missing);
  }
  return std::make_pair(std::move(kv).value(), std::move(record).value());
}

// Writes `record` at kv.key if the key is still at kv.mod_revision: the new revision, or 0 when
// it changed meanwhile (the caller re-reads and retries).
Result<store::Revision> PutIfUnchanged(Context& ctx, const store::KeyValue& kv,
                                       const json& record) {
  store::TxnRequest txn;
  txn.compare.push_back(store::ModRevisionIs(kv.key, kv.mod_revision));
  txn.success.push_back(store::PutOp(kv.key, Dump(record)));
  auto result = ctx.store.Txn(txn);
  if (!result.ok()) return result.status();
  return result->succeeded ? result->revision : store::Revision{0};
}

HttpResponse GetWorkload(Context& ctx, const Caller& caller, std::int64_t id) {
  auto loaded = LoadVisibleWorkload(ctx, caller, id);
  if (auto* r = std::get_if<HttpResponse>(&loaded)) return *r;
  auto& [kv, record] = std::get<0>(loaded);
  record["revision"] = kv.mod_revision;
  return JsonResponse(200, record);
}

HttpResponse CancelWorkload(Context& ctx, const Caller& caller, std::int64_t id) {
  for (int attempt = 0; attempt < kMaxTxnAttempts; ++attempt) {
    auto loaded = LoadVisibleWorkload(ctx, caller, id);
    if (auto* r = std::get_if<HttpResponse>(&loaded)) return *r;
    auto& [kv, record] = std::get<0>(loaded);
    const std::string state = record.value("state", "");
    if (state != "pending" && state != "assigned" && state != "running") {
      return Error(409, "conflict",
                   "workload " + std::to_string(id) + " is already " + state +
                       "; only pending, assigned or running workloads can be cancelled");
    }
    record["state"] = "cancelled";
    record["updated_at"] = ctx.clock.NowSeconds();
    record["finished_at"] = record["updated_at"];
    // Its slices stay booked until the agent says the process is gone (status "stopped").
    if (state != "pending") MarkReleasing(record);
    auto revision = PutIfUnchanged(ctx, kv, record);
    if (!revision.ok()) return FromStatus(revision.status());
    if (*revision != 0) {
      record["revision"] = *revision;
      return JsonResponse(200, record);
    }
  }
  return Error(503, "unavailable", "too much contention cancelling the workload; retry");
}

// key=value pairs of a query string; InvalidArgument on a repeated or empty key.
Result<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    const std::string key(pair.substr(0, eq));
    const std::string value(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (key.empty()) return Status::InvalidArgument("query: empty parameter name");
    if (!out.emplace(key, value).second) {
      return Status::InvalidArgument(key + ": given more than once");
    }
  }
  return out;
}

HttpResponse ListWorkloads(Context& ctx, const Caller& caller, std::string_view query) {
  auto params = ParseQuery(query);
  if (!params.ok()) return FromStatus(params.status());
  std::string state_filter;
  std::string tenant_filter = caller.admin ? "" : caller.tenant;
  for (const auto& [key, value] : *params) {
    if (key == "state") {
      if (!IsState(value)) {
        return Error(400, "invalid_argument",
                     "state: must be one of pending, assigned, running, succeeded, failed, "
                     "cancelled");
      }
      state_filter = value;
    } else if (key == "tenant") {
      if (!IsValidName(value)) {
        return Error(400, "invalid_argument", "tenant: not a valid tenant name");
      }
      if (!caller.admin && value != caller.tenant) {
        return Error(403, "forbidden",
                     "tenant: a tenant token may only list its own tenant's workloads");
      }
      tenant_filter = value;
    } else {
      return Error(400, "invalid_argument", key + ": unknown query parameter; known: state, tenant",
                   key);
    }
  }
  store::RangeRequest range;
  range.key = std::string(kWorkloadsPrefix);
  range.range_end = store::PrefixEnd(kWorkloadsPrefix);
  auto rr = ctx.store.Range(range);
  if (!rr.ok()) return FromStatus(rr.status());
  json workloads = json::array();
  for (const auto& kv : rr->kvs) {
    auto record = ParseRecord(kv);
    if (!record.ok()) return FromStatus(record.status());
    if (!tenant_filter.empty() && record->value("tenant", "") != tenant_filter) continue;
    if (!state_filter.empty() && record->value("state", "") != state_filter) continue;
    workloads.push_back(std::move(record).value());
  }
  return JsonResponse(200, json{{"workloads", workloads}, {"revision", rr->revision}});
}

// ---- nodes -------------------------------------------------------------------------------

HttpResponse ListNodes(Context& ctx, const Caller& caller) {
  if (!caller.admin) return Forbidden("only the admin token may read nodes");
  store::RangeRequest range;
  range.key = std::string(kNodesPrefix);
  range.range_end = store::PrefixEnd(kNodesPrefix);
  auto rr = ctx.store.Range(range);
  if (!rr.ok()) return FromStatus(rr.status());
  json nodes = json::array();
  for (const auto& kv : rr->kvs) {
    auto record = ParseRecord(kv);
    if (!record.ok()) return FromStatus(record.status());
    // Beats of ready nodes live in memory (node_liveness.h); show the latest.
    if (record->value("state", "") == "ready" && record->contains("name")) {
      (*record)["last_heartbeat"] =
          std::max(record->value("last_heartbeat", 0.0),
                   ctx.liveness.LastSeen((*record)["name"].get<std::string>(),
                                         ctx.clock.NowSeconds()));
    }
    nodes.push_back(std::move(record).value());
  }
  return JsonResponse(200, json{{"nodes", nodes}, {"revision", rr->revision}});
}

// ---- agents: node registration, heartbeats, status reports ---------------------------------

// POST /v1/nodes: an agent registers (or refreshes) its node: ready, heartbeat now.
HttpResponse RegisterNode(Context& ctx, const Caller& caller, const HttpRequest& request) {
  if (!caller.admin) return Forbidden("only the admin token may register nodes");
  auto body = ParseBody(request);
  if (!body.ok()) return FromStatus(body.status());
  const json& doc = *body;
  if (!doc.is_object()) return Error(400, "invalid_argument", "expected a JSON object");
  for (const auto& [key, value] : doc.items()) {
    static constexpr std::string_view kKnown[] = {"name",  "cpu_milli",      "memory_mib", "gpus",
                                                  "model", "gpu_memory_mib", "simulated"};
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      return Error(400, "invalid_argument", key + ": unknown field", key);
    }
  }
  if (!doc.contains("name") || !doc["name"].is_string() ||
      !IsValidName(doc["name"].get<std::string>())) {
    return Error(400, "invalid_argument", "name: a node name of lowercase letters, digits and '-'",
                 "name");
  }
  for (const char* f : {"cpu_milli", "memory_mib", "gpus"}) {
    if (!doc.contains(f) || !doc[f].is_number_integer() || doc[f].get<std::int64_t>() < 0) {
      return Error(400, "invalid_argument", std::string(f) + ": a non-negative integer is required",
                   f);
    }
  }
  if (doc.contains("gpu_memory_mib") &&
      (!doc["gpu_memory_mib"].is_number_integer() || doc["gpu_memory_mib"].get<std::int64_t>() < 1)) {
    return Error(400, "invalid_argument", "gpu_memory_mib: a positive integer", "gpu_memory_mib");
  }
  if (doc.contains("simulated") && !doc["simulated"].is_boolean()) {
    return Error(400, "invalid_argument", "simulated: true or false", "simulated");
  }
  if (doc.contains("model") && !doc["model"].is_string()) {
    return Error(400, "invalid_argument", "model: a GPU model name", "model");
  }
  const std::int64_t gpus = doc["gpus"];
  if (gpus > core::kMaxDevicesPerNode) {
    return Error(400, "invalid_argument",
                 "gpus: at most " + std::to_string(core::kMaxDevicesPerNode) + " per node", "gpus");
  }
  json node = doc;
  if (gpus > 0) {
    if (!doc.contains("model") || !doc["model"].is_string()) {
      return Error(400, "invalid_argument", "model: required when gpus > 0", "model");
    }
    auto model = core::FindGpuModel(doc["model"].get<std::string>());
    if (!model.ok())
      return Error(400, "invalid_argument", "model: " + model.status().message(), "model");
    node["model"] = std::string(core::GetGpuModel(*model).name);
  }
  node["state"] = "ready";
  node["last_heartbeat"] = ctx.clock.NowSeconds();
  node["simulated"] = doc.value("simulated", false);
  const std::string key = NodeKey(doc["name"].get<std::string>());
  auto r = ctx.store.Put(key, Dump(node));
  if (!r.ok()) return FromStatus(r.status());
  ctx.liveness.Beat(doc["name"].get<std::string>(), node["last_heartbeat"].get<double>());
  node["revision"] = *r;
  return JsonResponse(200, node);
}

// What the agent on `node` should be running (assigned, running), and what it must stop and
// confirm (finished workloads still releasing their slices there), from the workload index.
Result<std::pair<json, json>> AssignmentsOf(Context& ctx, const std::string& node) {
  if (Status st = ctx.index.Sync(ctx.store); !st.ok()) return st;
  json run = json::array();
  json stop = json::array();
  for (const auto& w : ctx.index.OnNode(node)) {
    const json& record = w->record;
    if (ReleasingOn(record, node)) {
      stop.push_back({{"id", w->id}, {"epoch", record.value("epoch", 0)}});
      continue;
    }
    if (w->state != "assigned" && w->state != "running") continue;
    if (MemberDone(record, node)) continue;  // this node's part of a spread gang has ended
    json mine = json::array();
    for (const json& b : record.value("bindings", json::array())) {
      if (b.value("node", "") == node) mine.push_back(b);
    }
    run.push_back({{"id", w->id},
                   {"epoch", record.value("epoch", 0)},
                   {"state", w->state},
                   {"tenant", record.value("tenant", "")},
                   {"spec", record.value("spec", json::object())},
                   {"bindings", mine}});
  }
  return std::make_pair(std::move(run), std::move(stop));
}

// POST /v1/nodes/{name}/heartbeat: renews the node's lease and returns its assignments. A beat
// of a ready node is kept in memory only (NodeLiveness); a lost node that beats again is made
// ready in the store.
HttpResponse Heartbeat(Context& ctx, const Caller& caller, const std::string& name) {
  if (!caller.admin) return Forbidden("only the admin token may send heartbeats");
  const std::string key = NodeKey(name);
  for (int attempt = 0; attempt < kMaxTxnAttempts; ++attempt) {
    auto kv = ctx.store.Get(key);
    if (!kv.ok()) {
      if (kv.status().code() == StatusCode::kNotFound) {
        return NotFoundResponse("no node " + name + "; register it first (POST /v1/nodes)");
      }
      return FromStatus(kv.status());
    }
    auto record = ParseRecord(*kv);
    if (!record.ok()) return FromStatus(record.status());
    const double now = ctx.clock.NowSeconds();
    const bool was_lost = record->value("state", "") != "ready";
    if (was_lost) {
      (*record)["state"] = "ready";
      (*record)["last_heartbeat"] = now;
      (*record)["ready_since"] = now;
      store::TxnRequest txn;
      txn.compare.push_back(store::ModRevisionIs(key, kv->mod_revision));
      txn.success.push_back(store::PutOp(key, Dump(*record)));
      auto r = ctx.store.Txn(txn);
      if (!r.ok()) return FromStatus(r.status());
      if (!r->succeeded) continue;
    }
    ctx.liveness.Beat(name, now);
    auto assignments = AssignmentsOf(ctx, name);
    if (!assignments.ok()) return FromStatus(assignments.status());
    return JsonResponse(200, json{{"node", name},
                                  {"was_lost", was_lost},
                                  {"assignments", assignments->first},
                                  {"stop", assignments->second},
                                  {"revision", ctx.store.CurrentRevision()}});
  }
  return Error(503, "unavailable", "too much contention on node " + name + "; retry");
}

// POST /v1/workloads/{id}/status: the agent reports {state: running|succeeded|failed, epoch,
// exit_code?, message?}. A report for an older epoch (the workload was re-assigned meanwhile)
// or for a cancelled workload is 409: the agent must stop it.
HttpResponse ReportStatus(Context& ctx, const Caller& caller, std::int64_t id,
                          const HttpRequest& request) {
  if (!caller.admin) return Forbidden("only the admin token may report workload status");
  auto body = ParseBody(request);
  if (!body.ok()) return FromStatus(body.status());
  const json& doc = *body;
  if (!doc.is_object() || !doc.contains("state") || !doc["state"].is_string()) {
    return Error(400, "invalid_argument", "state: running, succeeded, failed or stopped", "state");
  }
  const std::string next = doc["state"];
  if (next != "running" && next != "succeeded" && next != "failed" && next != "stopped") {
    return Error(400, "invalid_argument",
                 "state: running, succeeded, failed or stopped, got " + next, "state");
  }
  if (!doc.contains("epoch") || !doc["epoch"].is_number_integer()) {
    return Error(400, "invalid_argument", "epoch: the assignment's epoch is required", "epoch");
  }
  if (doc.contains("node") && !doc["node"].is_string()) {
    return Error(400, "invalid_argument", "node: the reporting agent's node name", "node");
  }
  if (const auto e = doc["epoch"].get<std::int64_t>(); e < 0 || e > (std::int64_t{1} << 30)) {
    return Error(400, "invalid_argument", "epoch: out of range", "epoch");
  }
  if (doc.contains("exit_code") &&
      (!doc["exit_code"].is_number_integer() || doc["exit_code"].get<std::int64_t>() < -1000 ||
       doc["exit_code"].get<std::int64_t>() > 1000)) {
    return Error(400, "invalid_argument", "exit_code: an integer from -1000 to 1000", "exit_code");
  }
  if (doc.contains("message") && !doc["message"].is_string()) {
    return Error(400, "invalid_argument", "message: a string", "message");
  }
  const std::string node = doc.value("node", "");
  for (int attempt = 0; attempt < kMaxTxnAttempts; ++attempt) {
    auto loaded = LoadVisibleWorkload(ctx, caller, id);
    if (auto* r = std::get_if<HttpResponse>(&loaded)) return *r;
    auto& [kv, record] = std::get<0>(loaded);
    const std::string state = record.value("state", "");
    if (record.value("epoch", 0) != doc["epoch"].get<int>()) {
      return Error(409, "conflict",
                   "stale epoch: workload " + std::to_string(id) + " was re-assigned; stop it");
    }
    const std::set<std::string> bound = BoundNodes(record);
    // A gang spread over nodes ends member by member: each node reports its own part.
    const bool spread = bound.size() > 1 && bound.count(node) == 1;
    const double now = ctx.clock.NowSeconds();
    if (next == "stopped") {
      // The agent confirms the process of a finished workload is gone: its slices are free.
      if (!record.value("releasing", false)) return JsonResponse(200, record);  // already
      ReleasedOn(record, spread ? node : "");
      if (!record.value("releasing", false)) record["released_at"] = now;
    } else if (state != "assigned" && state != "running") {
      return Error(409, "conflict",
                   "workload " + std::to_string(id) + " is " + state + "; stop it");
    } else if (spread && next != "running") {
      if (MemberDone(record, node)) return JsonResponse(200, record);  // a repeated report
      record["members_done"][node] = next;
      record["updated_at"] = now;
      if (next == "failed") {
        // One member failed: the gang has failed; the others are stopped and confirm.
        record["state"] = "failed";
        record["finished_at"] = now;
        if (doc.contains("exit_code")) record["exit_code"] = doc["exit_code"];
        record["message"] =
            "the member on " + node + " failed" +
            (doc.contains("message") ? ": " + doc["message"].get<std::string>() : std::string());
        MarkReleasing(record);
      } else if (record["members_done"].size() == bound.size()) {
        record["state"] = "succeeded";
        record["finished_at"] = now;
        record["exit_code"] = 0;
      } else {
        record["state"] = "running";
      }
    } else {
      record["state"] = next;
      record["updated_at"] = now;
      if (next == "running") record["started_at"] = record["updated_at"];  // of this epoch's run
      if (next != "running") record["finished_at"] = record["updated_at"];
      if (doc.contains("exit_code")) record["exit_code"] = doc["exit_code"];
      if (doc.contains("message")) record["message"] = doc["message"].get<std::string>().substr(0, 4096);
    }
    auto revision = PutIfUnchanged(ctx, kv, record);
    if (!revision.ok()) return FromStatus(revision.status());
    if (*revision != 0) return JsonResponse(200, record);
  }
  return Error(503, "unavailable", "too much contention on the workload; retry");
}

// ---- logs --------------------------------------------------------------------------------

constexpr std::int64_t kMaxLogRead = std::int64_t{1} << 20;

Result<std::int64_t> IntegerParam(const std::map<std::string, std::string>& params,
                                  const std::string& name, std::int64_t fallback) {
  const auto it = params.find(name);
  if (it == params.end()) return fallback;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || end != it->second.data() + it->second.size() || v < 0) {
    return Status::InvalidArgument(name + ": a non-negative integer, got \"" + it->second + "\"");
  }
  return v;
}

// GET /v1/workloads/{id}/logs?stream=stdout|stderr&offset=N&limit=N&epoch=E (visible workloads)
// and POST the same path (the agent; body = the bytes, appended at `offset` of `epoch`).
HttpResponse Logs(Context& ctx, const Caller& caller, std::int64_t id, const HttpRequest& request,
                  std::string_view query) {
  if (ctx.logs == nullptr) return Error(503, "unavailable", "this server keeps no logs");
  const bool post = request.method == "POST";
  if (post && !caller.admin) return Forbidden("only the admin token (the agent) may write logs");
  auto params = ParseQuery(query);
  if (!params.ok()) return FromStatus(params.status());
  for (const auto& [key, value] : *params) {
    if (key != "stream" && key != "offset" && key != "limit" && key != "epoch") {
      return Error(400, "invalid_argument",
                   key + ": unknown query parameter; known: stream, offset, limit, epoch", key);
    }
  }
  const auto stream_it = params->find("stream");
  auto stream = ParseLogStream(stream_it == params->end() ? "stdout" : stream_it->second);
  if (!stream.ok()) return FromStatus(stream.status());
  auto offset = IntegerParam(*params, "offset", 0);
  if (!offset.ok()) return FromStatus(offset.status());
  auto limit = IntegerParam(*params, "limit", kMaxLogRead);
  if (!limit.ok()) return FromStatus(limit.status());
  auto loaded = LoadVisibleWorkload(ctx, caller, id);
  if (auto* r = std::get_if<HttpResponse>(&loaded)) return *r;
  const json& record = std::get<0>(loaded).second;
  const int current_epoch = record.value("epoch", 0);
  auto epoch = IntegerParam(*params, "epoch", current_epoch);
  if (!epoch.ok()) return FromStatus(epoch.status());
  if (*epoch > current_epoch) {
    return Error(404, "not_found",
                 "epoch: workload " + std::to_string(id) + " has run " +
                     std::to_string(current_epoch) + " time(s); no epoch " +
                     std::to_string(*epoch),
                 "epoch");
  }
  const int e = static_cast<int>(*epoch);
  if (post) {
    auto appended = ctx.logs->Append(id, e, *stream, *offset, request.body);
    if (!appended.ok()) return FromStatus(appended.status());
    return JsonResponse(appended->written ? 200 : 409, json{{"size", appended->size}});
  }
  auto chunk = ctx.logs->Read(id, e, *stream, *offset, std::min(*limit, kMaxLogRead));
  if (!chunk.ok()) return FromStatus(chunk.status());
  const std::string state = record.value("state", "");
  const bool finished = (state == "succeeded" || state == "failed" || state == "cancelled") &&
                        !record.value("releasing", false);
  return JsonResponse(200, json{{"id", id},
                                {"epoch", e},
                                {"stream", LogStreamName(*stream)},
                                {"offset", chunk->offset},
                                {"next_offset",
                                 chunk->offset + static_cast<std::int64_t>(chunk->data.size())},
                                {"data", chunk->data},
                                {"size", chunk->size},
                                {"state", state},
                                {"current_epoch", current_epoch},
                                {"finished", finished && e == current_epoch}});
}

// GET /v1/events?since=REV&limit=N: what changed, from the store's event log — workloads'
// state changes (a tenant sees its own) and nodes' (the admin only).
HttpResponse Events(Context& ctx, const Caller& caller, std::string_view query) {
  auto params = ParseQuery(query);
  if (!params.ok()) return FromStatus(params.status());
  for (const auto& [key, value] : *params) {
    if (key != "since" && key != "limit") {
      return Error(400, "invalid_argument", key + ": unknown query parameter; known: since, limit",
                   key);
    }
  }
  auto since = IntegerParam(*params, "since", 0);
  if (!since.ok()) return FromStatus(since.status());
  auto limit = IntegerParam(*params, "limit", 1000);
  if (!limit.ok()) return FromStatus(limit.status());
  const std::int64_t max = std::clamp<std::int64_t>(*limit, 1, 10000);
  // Both prefixes lie in [/gpool/nodes/, end of /gpool/workloads/); the rest is filtered out.
  auto batch = ctx.store.EventsSince(kNodesPrefix, store::PrefixEnd(kWorkloadsPrefix),
                                     *since, static_cast<std::size_t>(max));
  if (!batch.ok()) {
    if (batch.status().code() == StatusCode::kNotFound) {
      const store::Revision oldest = ctx.store.CompactedRevision() + 1;
      return Error(404, "not_found",
                   "since: events before revision " + std::to_string(oldest) +
                       " were compacted; read the current state, then follow from its revision",
                   "since");
    }
    return FromStatus(batch.status());
  }
  json events = json::array();
  for (const store::Event& e : batch->events) {
    if (e.type != store::EventType::kPut) continue;
    const json record = json::parse(e.kv.value, nullptr, false);
    if (record.is_discarded() || !record.is_object()) continue;
    const bool workload = std::string_view(e.kv.key).starts_with(kWorkloadsPrefix);
    const bool node = std::string_view(e.kv.key).starts_with(kNodesPrefix);
    if (workload) {
      const std::string tenant = record.value("tenant", "");
      if (!caller.admin && tenant != caller.tenant) continue;
      json ev = {{"revision", e.kv.mod_revision},
                 {"kind", "workload"},
                 {"id", record.value("id", std::int64_t{0})},
                 {"tenant", tenant},
                 {"name", record.value("spec", json::object()).value("name", "")},
                 {"state", record.value("state", "")},
                 {"epoch", record.value("epoch", 0)},
                 {"time", record.value("updated_at", record.value("submitted_at", 0.0))}};
      json nodes = json::array();
      for (const json& b : record.value("bindings", json::array())) {
        if (b.is_object()) nodes.push_back(b.value("node", ""));
      }
      if (!nodes.empty()) ev["nodes"] = nodes;
      if (record.value("releasing", false)) ev["releasing"] = true;
      if (record.contains("message")) ev["message"] = record["message"];
      if (record.contains("exit_code")) ev["exit_code"] = record["exit_code"];
      events.push_back(std::move(ev));
    } else if (node && caller.admin) {
      events.push_back({{"revision", e.kv.mod_revision},
                        {"kind", "node"},
                        {"node", record.value("name", "")},
                        {"state", record.value("state", "")},
                        {"time", record.value("lost_at", record.value("last_heartbeat", 0.0))}});
    }
  }
  return JsonResponse(200, json{{"events", events}, {"revision", batch->revision}});
}

// GET /metrics (admin).
HttpResponse Metrics(Context& ctx, const Caller& caller) {
  if (!caller.admin) return Forbidden("only the admin token may read /metrics");
  std::vector<json> workloads, nodes;
  for (auto [prefix, out] : {std::pair<std::string_view, std::vector<json>*>{kWorkloadsPrefix,
                                                                              &workloads},
                             std::pair<std::string_view, std::vector<json>*>{kNodesPrefix,
                                                                              &nodes}}) {
    store::RangeRequest range;
    range.key = std::string(prefix);
    range.range_end = store::PrefixEnd(prefix);
    auto rr = ctx.store.Range(range);
    if (!rr.ok()) return FromStatus(rr.status());
    out->reserve(rr->kvs.size());
    for (const auto& kv : rr->kvs) out->push_back(json::parse(kv.value, nullptr, false));
  }
  HttpResponse r;
  r.content_type = std::string(kMetricsContentType);
  r.body = RenderMetrics(workloads, nodes, ctx.metrics);
  return r;
}

// ---- routing -----------------------------------------------------------------------------

HttpResponse MethodNotAllowed(std::string_view method, std::string_view path,
                              std::string_view allowed) {
  return Error(405, "invalid_argument",
               std::string(method) + " is not allowed on " + std::string(path) + "; use " +
                   std::string(allowed));
}

HttpResponse Route(Context& ctx, const HttpRequest& request) {
  if (request.body.size() > kMaxBodyBytes) {
    return Error(413, "invalid_argument",
                 "request body of " + std::to_string(request.body.size()) +
                     " bytes is over the limit of " + std::to_string(kMaxBodyBytes) + " bytes");
  }
  const std::size_t qmark = request.path.find('?');
  const std::string_view path = std::string_view(request.path).substr(0, qmark);
  const std::string_view query = qmark == std::string::npos
                                     ? std::string_view()
                                     : std::string_view(request.path).substr(qmark + 1);
  const std::string& method = request.method;

  if (path == "/healthz") {
    if (method != "GET") return MethodNotAllowed(method, path, "GET");
    return JsonResponse(200, json{{"status", "ok"}, {"revision", ctx.store.CurrentRevision()}});
  }

  // Which endpoint, before authentication: an unknown path is 404 for everyone.
  enum class Endpoint {
    kTenants,
    kWorkloads,
    kWorkload,
    kCancel,
    kNodes,
    kHeartbeat,
    kStatus,
    kLogs,
    kMetrics,
    kEvents
  };
  Endpoint endpoint;
  std::int64_t id = 0;
  std::string node_name;
  constexpr std::string_view kNodesPath = "/v1/nodes/";
  std::string_view allowed;
  constexpr std::string_view kWorkloadsPath = "/v1/workloads/";
  if (path == "/metrics") {
    endpoint = Endpoint::kMetrics;
    allowed = "GET";
  } else if (path == "/v1/events") {
    endpoint = Endpoint::kEvents;
    allowed = "GET";
  } else if (path == "/v1/tenants") {
    endpoint = Endpoint::kTenants;
    allowed = "GET or POST";
  } else if (path == "/v1/workloads") {
    endpoint = Endpoint::kWorkloads;
    allowed = "GET or POST";
  } else if (path == "/v1/nodes") {
    endpoint = Endpoint::kNodes;
    allowed = "GET or POST";
  } else if (path.starts_with(kNodesPath) &&
             path.size() > kNodesPath.size() + std::string_view("/heartbeat").size() &&
             path.ends_with("/heartbeat")) {
    node_name =
        std::string(path.substr(kNodesPath.size(), path.size() - kNodesPath.size() -
                                                       std::string_view("/heartbeat").size()));
    if (!IsValidName(node_name)) return NotFoundResponse("no such path: " + std::string(path));
    endpoint = Endpoint::kHeartbeat;
    allowed = "POST";
  } else if (path.starts_with(kWorkloadsPath)) {
    std::string_view rest = path.substr(kWorkloadsPath.size());
    const std::size_t slash = rest.find('/');
    const std::optional<std::int64_t> parsed = ParseId(rest.substr(0, slash));
    if (!parsed) return NotFoundResponse("no workload " + std::string(rest.substr(0, slash)));
    id = *parsed;
    if (slash == std::string_view::npos) {
      endpoint = Endpoint::kWorkload;
      allowed = "GET";
    } else if (rest.substr(slash) == "/cancel") {
      endpoint = Endpoint::kCancel;
      allowed = "POST";
    } else if (rest.substr(slash) == "/status") {
      endpoint = Endpoint::kStatus;
      allowed = "POST";
    } else if (rest.substr(slash) == "/logs") {
      endpoint = Endpoint::kLogs;
      allowed = "GET or POST";
    } else {
      return NotFoundResponse("no such path: " + std::string(path));
    }
  } else {
    return NotFoundResponse("no such path: " + std::string(path));
  }
  const bool is_get = method == "GET";
  const bool is_post = method == "POST";
  const bool method_ok =
      allowed == "GET or POST" ? (is_get || is_post) : (allowed == "GET" ? is_get : is_post);
  if (!method_ok) return MethodNotAllowed(method, path, allowed);

  auto auth = Authenticate(ctx, request);
  if (auto* r = std::get_if<HttpResponse>(&auth)) return *r;
  const Caller& caller = std::get<Caller>(auth);

  switch (endpoint) {
    case Endpoint::kTenants:
      return is_post ? CreateTenant(ctx, caller, request) : ListTenants(ctx, caller);
    case Endpoint::kWorkloads:
      return is_post ? SubmitWorkload(ctx, caller, request) : ListWorkloads(ctx, caller, query);
    case Endpoint::kWorkload:
      return GetWorkload(ctx, caller, id);
    case Endpoint::kCancel:
      return CancelWorkload(ctx, caller, id);
    case Endpoint::kNodes:
      return is_post ? RegisterNode(ctx, caller, request) : ListNodes(ctx, caller);
    case Endpoint::kHeartbeat:
      return Heartbeat(ctx, caller, node_name);
    case Endpoint::kStatus:
      return ReportStatus(ctx, caller, id, request);
    case Endpoint::kLogs:
      return Logs(ctx, caller, id, request, query);
    case Endpoint::kMetrics:
      return Metrics(ctx, caller);
    case Endpoint::kEvents:
      return Events(ctx, caller, query);
  }
  return Error(500, "internal", "unreachable endpoint");
}

}  // namespace

ApiHandler::ApiHandler(store::KvStore& store, Clock& clock, TokenSource& tokens, LogStore* logs)
    : store_(store), clock_(clock), tokens_(tokens), logs_(logs) {}

Result<std::optional<std::string>> ApiHandler::Bootstrap() {
  auto existing = store_.Get(std::string(kAdminKey));
  if (existing.ok()) return std::optional<std::string>();
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  auto token = tokens_.NewToken();
  if (!token.ok()) return token.status();
  const std::string sha = Sha256Hex(*token);
  store::TxnRequest txn;
  txn.compare.push_back(store::ModRevisionIs(std::string(kAdminKey), 0));
  txn.success.push_back(store::PutOp(std::string(kAdminKey), Dump(json{{"token_sha256", sha}})));
  txn.success.push_back(store::PutOp(TokenKey(sha), Dump(json{{"role", "admin"}})));
  auto result = store_.Txn(txn);
  if (!result.ok()) return result.status();
  if (!result->succeeded) return std::optional<std::string>();  // created concurrently
  return std::optional<std::string>(*token);
}

HttpResponse ApiHandler::Handle(const HttpRequest& request) {
  Context ctx{store_, clock_, tokens_, liveness_, index_, logs_, metrics_};
  try {
    return Route(ctx, request);
  } catch (const std::exception& e) {
    return Error(500, "internal", std::string("unexpected error: ") + e.what());
  } catch (...) {
    return Error(500, "internal", "unexpected error");
  }
}

}  // namespace gpool::controller
