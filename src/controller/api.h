// ApiHandler: the controller's REST/JSON API as a pure function of a request, without sockets.
//
// The HTTP server (not here) turns each request into an HttpRequest and sends back the
// HttpResponse; Handle() does authentication, validation and the store transaction. A 201 means
// the change is committed in the store (the store is the truth; the handler keeps no state).
//
// Endpoints (JSON bodies; everything but /healthz needs `Authorization: Bearer <token>`):
//   GET  /healthz                      no auth -> 200 {"status":"ok","revision":N}
//   GET  /metrics                      admin -> 200 Prometheus text (metrics.h): workloads by
//                                      state and tenant, GPUs by node and model, scheduling
//                                      histograms
//   POST /v1/tenants                   admin; {name, guaranteed_gpus?, borrow_gpus?} -> 201
//                                      {"tenant":{...},"token":"<hex>"} (the token is shown once);
//                                      409 if the tenant exists
//   GET  /v1/tenants                   admin: every tenant; tenant token: only its own
//   POST /v1/workloads                 a job spec (docs/jobspec.md) as JSON, or as YAML with
//                                      Content-Type application/yaml -> 201 the workload
//   GET  /v1/workloads[?state=S&tenant=T]  admin: all; tenant token: its own (naming another
//                                      tenant in `tenant=` is 403)
//   GET  /v1/workloads/{id}            another tenant's workload is 404, not 403: a tenant cannot
//                                      learn which ids exist beyond its own
//   POST /v1/workloads/{id}/cancel     pending|assigned|running -> cancelled (200); finished -> 409.
//                                      An assigned or running one is also `releasing`: its slices
//                                      stay booked until its agent reports it stopped
//   GET  /v1/events?since=R&limit=N    what changed from store revision R on (default: all kept),
//                                      looking at N store changes (1000; max 10000; changes of
//                                      tenants and tokens are not shown): 200 {events: [{revision, kind:
//                                      workload, id, tenant, name, state, epoch, time, nodes?,
//                                      releasing?, message?, exit_code?} | {revision, kind: node,
//                                      node, state, time}], revision}; follow with since =
//                                      revision + 1. A tenant sees its workloads' events only.
//                                      404 (field since) when those events were compacted
//   GET  /v1/nodes                     admin only (tenant token: 403): the JSON under /gpool/nodes/
//   POST /v1/nodes                     admin (the agent): register or refresh a node {name,
//                                      cpu_milli, memory_mib, gpus, model, gpu_memory_mib?,
//                                      simulated?} -> 200, state ready, heartbeat now
//   POST /v1/nodes/{name}/heartbeat    admin (the agent): renews the lease (in memory, see
//                                      node_liveness.h); 200 {assignments: [{id, epoch, state,
//                                      tenant, spec, bindings on this node}], stop: [{id, epoch}]
//                                      (finished workloads releasing slices here: stop them and
//                                      report "stopped"), was_lost}; unknown node 404
//   POST /v1/workloads/{id}/status     admin (the agent): {state: running|succeeded|failed, epoch,
//                                      exit_code?, message?}; 409 when the epoch is stale or the
//                                      workload is no longer assigned/running (cancelled, moved):
//                                      the agent must stop it. {state: stopped, epoch}: the
//                                      process of a releasing workload is gone (slices freed)
//   GET  /v1/workloads/{id}/logs?stream=stdout|stderr&offset=N&limit=N&epoch=E
//                                      visible workloads (as GET /v1/workloads/{id}): 200 {id,
//                                      epoch, stream, offset, data, size, state, current_epoch,
//                                      finished}; at
//                                      most 1 MiB per call (limit), epoch defaults to the latest
//                                      run; `finished`: the run is over and its output complete
//   POST /v1/workloads/{id}/logs?stream=..&offset=N&epoch=E  admin (the agent): body = bytes to
//                                      append at offset N (see log_store.h); 200 {size}, or 409
//                                      {size} when N is not the log's size (resume from size)
//
// Submission rules: a tenant token submits for its own tenant (`tenant` absent => its own, another
// name => 403); an admin names an existing tenant, or gets tenant "default" when it exists (the
// single-user pool of `gpool up`); an unknown tenant is 400 with field "tenant".
//
// Errors: {"error":{"code":C,"message":M,"field":F}} where C is one of invalid_argument (400, 405,
// 413), unauthenticated (401), forbidden (403), not_found (404), conflict (409), unavailable (503),
// internal (500); "field" is present when the message starts with a field path
// ("resources.gpus.count: must be ..."). Statuses: 400 malformed JSON/YAML (with the byte
// position or line:column), unknown fields, impossible resources, unsupported Content-Type,
// JSON nested deeper than 64 levels; 401 missing or unknown token; 403 wrong role; 404 unknown path
// or id; 405 wrong method on a known path; 413 a body over kMaxBodyBytes (checked first).
//
// State layout in the store (every value is JSON):
//   /gpool/meta/admin               {"token_sha256": H}; exists once the admin token was created
//   /gpool/tokens/<sha256 hex>      {"role":"admin"} | {"role":"tenant","tenant":NAME}
//   /gpool/tenants/<name>           {name, guaranteed_gpus, borrow_gpus, token_sha256, created_at}
//   /gpool/meta/next_workload_id    the next id to hand out, decimal (absent: 1)
//   /gpool/workloads/<id, 20 digits zero-padded>
//                                   {id, tenant, spec (JobSpecToJson, tenant filled in), state
//                                    (pending|assigned|running|succeeded|failed|cancelled),
//                                    submitted_at, updated_at; set by the reconciler: bindings,
//                                    epoch, attempts; by agents: started_at, exit_code} (times:
//                                    Unix seconds from the Clock)
//   /gpool/nodes/<name>             written by agents (not here); listed by GET /v1/nodes
// Tokens are looked up by their SHA-256 only, so neither the store nor the lookup's timing reveals
// a token. Token role records are JSON (not a bare tenant name) so a tenant may be called "admin".
//
// Transactions: every mutation is one Txn with compares. Creating a tenant: ModRevisionIs(tenant,
// 0). Submitting: ModRevisionIs(counter, seen) && tenant exists && ModRevisionIs(workload, 0),
// putting the counter and the workload together; lost races are retried up to kMaxTxnAttempts
// times, then 503 unavailable. Cancelling: ModRevisionIs(workload, seen), retried likewise.
//
// Thread safety: Handle() and Bootstrap() may be called concurrently from any threads (the store
// serialises; the handler's only state, the liveness table and the workload index, are
// thread-safe caches). Handle() never throws.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include "controller/clock.h"
#include "controller/log_store.h"
#include "controller/metrics.h"
#include "controller/node_liveness.h"
#include "controller/token_source.h"
#include "controller/workload_index.h"
#include "core/status.h"
#include "store/kv_store.h"

namespace gpool::controller {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // with an optional "?query"
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

inline constexpr std::size_t kMaxBodyBytes = std::size_t{1} << 20;  // 1 MiB
inline constexpr int kMaxTxnAttempts = 256;

class ApiHandler {
 public:
  // The handler keeps references: store, clock, tokens and logs must outlive it. Without a log
  // store the logs endpoints answer 503.
  ApiHandler(store::KvStore& store, Clock& clock, TokenSource& tokens, LogStore* logs = nullptr);

  // Creates the admin token on first start. Returns the new token (the caller shows or writes it
  // once; it is not kept anywhere) or std::nullopt when an admin token already exists (also when
  // another caller created it concurrently: exactly one caller ever gets a token). Errors: those of
  // the store or the token source.
  Result<std::optional<std::string>> Bootstrap();

  HttpResponse Handle(const HttpRequest& request);

  // Shared with the reconcile loop (both thread-safe): the agents' beats, and the index of
  // unfinished workloads that heartbeats read.
  NodeLiveness& liveness() { return liveness_; }
  WorkloadIndex& index() { return index_; }
  // The reconcile loop records its passes here; GET /metrics renders them.
  ControllerMetrics& metrics() { return metrics_; }

 private:
  store::KvStore& store_;
  Clock& clock_;
  TokenSource& tokens_;
  LogStore* logs_;
  NodeLiveness liveness_;
  WorkloadIndex index_;
  ControllerMetrics metrics_;
};

}  // namespace gpool::controller
