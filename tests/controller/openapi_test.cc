// docs/openapi.yaml against the code it describes.
//
// The document is read with the project's own YAML reader (YamlToJson), then checked against:
//  - the router: the (path, method) pairs are exactly those ApiHandler routes (a table here, and
//    every documented pair sent through a real handler is routed; every other method is 405);
//  - live replies: each status a handler returns in these tests is documented for its operation,
//    with its media type, and the body is valid against the documented schema in a strict sense
//    (an object may hold only the properties its schema lists), so the field names are exact;
//  - auth: `x-gpool-auth` (none | admin | tenant-or-admin) is what the handler enforces;
//  - the job-spec parser: the JobSpec schema's field names, required fields, nullable fields,
//    enums and examples are what ParseJobSpec accepts, and the schema and the parser agree on a
//    table of valid and invalid specs;
//  - POST /v1/workloads: its documented codes are exactly the ones the handler is made to give.
// Deterministic: in-memory store, FakeClock, FakeTokenSource, a temporary log folder.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../temp_dir.h"
#include "controller/api.h"
#include "controller/clock.h"
#include "controller/job_spec.h"
#include "controller/log_store.h"
#include "controller/reconciler.h"
#include "controller/token_source.h"
#include "store/kv_store.h"
#include "../store/forwarding_store.h"

namespace gpool::controller {
namespace {

using nlohmann::json;

// ---- the document ----------------------------------------------------------------------------

// What ApiHandler's router accepts (src/controller/api.cc, Route()). Keep in step with it.
const std::set<std::pair<std::string, std::string>> kRouterEndpoints = {
    {"/healthz", "get"},
    {"/metrics", "get"},
    {"/v1/tenants", "get"},
    {"/v1/tenants", "post"},
    {"/v1/workloads", "get"},
    {"/v1/workloads", "post"},
    {"/v1/workloads/{id}", "get"},
    {"/v1/workloads/{id}/cancel", "post"},
    {"/v1/workloads/{id}/status", "post"},
    {"/v1/workloads/{id}/logs", "get"},
    {"/v1/workloads/{id}/logs", "post"},
    {"/v1/events", "get"},
    {"/v1/nodes", "get"},
    {"/v1/nodes", "post"},
    {"/v1/nodes/{name}/heartbeat", "post"},
};

// OpenAPI's operation keys; the HTTP server forwards the first five to the handler.
const std::vector<std::string> kForwardedMethods = {"get", "post", "put", "patch", "delete"};
const std::vector<std::string> kOperationKeys = {"get",    "post", "put",     "patch",
                                                 "delete", "head", "options", "trace"};

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct LoadedDoc {
  json doc;
  std::string error;
};

const LoadedDoc& Loaded() {
  static const LoadedDoc loaded = [] {
    LoadedDoc l;
    const std::filesystem::path file =
        std::filesystem::path(GPOOL_SOURCE_DIR) / "docs" / "openapi.yaml";
    std::ifstream in(file);
    if (!in) {
      l.error = "cannot read " + file.string();
      return l;
    }
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = YamlToJson(text.str(), "docs/openapi.yaml");
    if (!parsed.ok()) {
      l.error = parsed.status().message();
    } else if (!parsed->is_object()) {
      l.error = "docs/openapi.yaml is not a mapping";
    } else {
      l.doc = std::move(parsed).value();
    }
    return l;
  }();
  return loaded;
}

// The node `n` stands for, following "$ref": "#/..." (throws when one does not resolve).
const json& Deref(const json& doc, const json& n) {
  const json* node = &n;
  for (int hops = 0; node->is_object() && node->contains("$ref"); ++hops) {
    if (hops > 32) throw std::runtime_error("$ref loop");
    const std::string ref = (*node)["$ref"].get<std::string>();
    if (ref.rfind("#/", 0) != 0) throw std::runtime_error("not a local $ref: " + ref);
    const json::json_pointer pointer(ref.substr(1));
    if (!doc.contains(pointer)) throw std::runtime_error("unresolved $ref: " + ref);
    node = &doc.at(pointer);
  }
  return *node;
}

// Every "$ref" string anywhere under `n`.
void CollectRefs(const json& n, std::vector<std::string>* out) {
  if (n.is_object()) {
    for (const auto& [k, v] : n.items()) {
      if (k == "$ref" && v.is_string()) out->push_back(v.get<std::string>());
      CollectRefs(v, out);
    }
  } else if (n.is_array()) {
    for (const json& v : n) CollectRefs(v, out);
  }
}

// A JSON-schema check for the OpenAPI 3.0 subset the document uses: $ref, nullable, type, enum,
// pattern, min/maxLength, minimum, maximum, minItems, items, required, properties,
// additionalProperties, allOf, oneOf, not. Strict: an object whose schema lists properties may
// hold only those, unless additionalProperties allows more.
class SchemaChecker {
 public:
  explicit SchemaChecker(const json& doc) : doc_(doc) {}

  std::vector<std::string> Check(const json& schema, const json& value,
                                 const std::string& path = "$") const {
    std::vector<std::string> errors;
    Walk(schema, value, path, &errors);
    return errors;
  }

 private:
  void Walk(const json& schema_in, const json& v, const std::string& path,
            std::vector<std::string>* errors) const {
    const json& s = Deref(doc_, schema_in);
    if (!s.is_object()) {
      errors->push_back(path + ": the schema is not an object");
      return;
    }
    if (v.is_null() && s.value("nullable", false)) return;
    if (s.contains("allOf")) {
      for (const json& sub : s["allOf"]) Walk(sub, v, path, errors);
    }
    if (s.contains("oneOf")) {
      int matches = 0;
      std::string why;
      for (std::size_t i = 0; i < s["oneOf"].size(); ++i) {
        const auto e = Check(s["oneOf"][i], v, path);
        if (e.empty()) {
          ++matches;
        } else {
          why += " [" + std::to_string(i) + ": " + e.front() + "]";
        }
      }
      if (matches != 1) {
        errors->push_back(path + ": " + v.dump() + " matches " + std::to_string(matches) +
                          " of oneOf" + why);
      }
    }
    if (s.contains("not") && Check(s["not"], v, path).empty()) {
      errors->push_back(path + ": matches the schema under `not`");
    }
    if (s.contains("enum")) {
      const json& e = s["enum"];
      if (std::find(e.begin(), e.end(), v) == e.end()) {
        errors->push_back(path + ": " + v.dump() + " is not one of " + e.dump());
      }
    }
    if (s.contains("type")) {
      const std::string t = s["type"].get<std::string>();
      const bool ok = t == "string"    ? v.is_string()
                      : t == "integer" ? (v.is_number_integer() || v.is_number_unsigned())
                      : t == "number"  ? v.is_number()
                      : t == "boolean" ? v.is_boolean()
                      : t == "array"   ? v.is_array()
                      : t == "object"  ? v.is_object()
                                       : false;
      if (!ok) {
        errors->push_back(path + ": expected " + t + ", got " + v.dump());
        return;
      }
    }
    if (v.is_string()) {
      const std::string str = v.get<std::string>();
      if (s.contains("pattern") &&
          !std::regex_search(str, std::regex(s["pattern"].get<std::string>()))) {
        errors->push_back(path + ": \"" + str + "\" does not match " + s["pattern"].dump());
      }
      if (s.contains("minLength") && str.size() < s["minLength"].get<std::size_t>()) {
        errors->push_back(path + ": shorter than minLength");
      }
      if (s.contains("maxLength") && str.size() > s["maxLength"].get<std::size_t>()) {
        errors->push_back(path + ": longer than maxLength");
      }
    }
    if (v.is_number()) {
      if (s.contains("minimum") && v.get<double>() < s["minimum"].get<double>()) {
        errors->push_back(path + ": " + v.dump() + " is below the minimum");
      }
      if (s.contains("maximum") && v.get<double>() > s["maximum"].get<double>()) {
        errors->push_back(path + ": " + v.dump() + " is above the maximum");
      }
    }
    if (v.is_array()) {
      if (s.contains("minItems") && v.size() < s["minItems"].get<std::size_t>()) {
        errors->push_back(path + ": fewer items than minItems");
      }
      if (s.contains("items")) {
        for (std::size_t i = 0; i < v.size(); ++i) {
          Walk(s["items"], v[i], path + "[" + std::to_string(i) + "]", errors);
        }
      }
    }
    if (v.is_object()) {
      for (const json& r : s.value("required", json::array())) {
        if (!v.contains(r.get<std::string>())) {
          errors->push_back(path + ": lacks the required " + r.get<std::string>());
        }
      }
      const json props = s.value("properties", json::object());
      const bool has_additional = s.contains("additionalProperties");
      for (const auto& [key, value] : v.items()) {
        const std::string sub = path + "." + key;
        if (props.contains(key)) {
          Walk(props[key], value, sub, errors);
        } else if (has_additional && s["additionalProperties"].is_object()) {
          Walk(s["additionalProperties"], value, sub, errors);
        } else if (has_additional && s["additionalProperties"] == true) {
          // allowed
        } else if ((has_additional && s["additionalProperties"] == false) ||
                   s.contains("properties")) {
          errors->push_back(sub + ": not in the schema's properties");
        }
      }
    }
  }

  const json& doc_;
};

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += "\n  " + s;
  return out;
}

// The template of `path` (without its query) among the document's paths, or "".
std::string TemplateOf(const json& doc, std::string path) {
  path = path.substr(0, path.find('?'));
  auto split = [](const std::string& p) {
    std::vector<std::string> parts;
    std::stringstream in(p);
    for (std::string part; std::getline(in, part, '/');) parts.push_back(part);
    return parts;
  };
  const std::vector<std::string> concrete = split(path);
  for (const auto& [tmpl, item] : doc["paths"].items()) {
    const std::vector<std::string> t = split(tmpl);
    if (t.size() != concrete.size()) continue;
    bool match = true;
    for (std::size_t i = 0; i < t.size() && match; ++i) {
      const bool param = t[i].size() > 2 && t[i].front() == '{' && t[i].back() == '}';
      match = param ? !concrete[i].empty() : t[i] == concrete[i];
    }
    if (match) return tmpl;
  }
  return "";
}

class OpenApi : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(Loaded().error.empty()) << Loaded().error; }

  const json& doc() const { return Loaded().doc; }
  const json& Resolve(const json& n) const { return Deref(doc(), n); }
  const json& Schema(const std::string& name) const { return doc()["components"]["schemas"][name]; }
  // The operation object, or null when the document has none.
  const json* Operation(const std::string& tmpl, const std::string& method) const {
    const json& paths = doc()["paths"];
    if (!paths.contains(tmpl) || !paths[tmpl].contains(method)) return nullptr;
    return &paths[tmpl][method];
  }
  std::vector<std::pair<std::string, std::string>> Operations() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [tmpl, item] : doc()["paths"].items()) {
      for (const std::string& m : kOperationKeys) {
        if (item.contains(m)) out.emplace_back(tmpl, m);
      }
    }
    return out;
  }
  // The property names of an object schema.
  std::set<std::string> Properties(const json& schema) const {
    std::set<std::string> out;
    const json properties = Resolve(schema).value("properties", json::object());
    for (const auto& [k, v] : properties.items()) out.insert(k);
    return out;
  }
};

// ---- the document's frame ----------------------------------------------------------------------

TEST_F(OpenApi, IsOpenApi303WithTheAgreedFrame) {
  EXPECT_EQ(doc()["openapi"], "3.0.3");
  EXPECT_EQ(doc()["info"]["version"], "0.1.0");
  EXPECT_TRUE(doc()["info"]["title"].is_string());
  const std::string description = doc()["info"].value("description", "");
  for (const char* must :
       {"Bearer", "admin.token", "POST /v1/tenants", "404", "Unix seconds", "milli-cores", "MiB"}) {
    EXPECT_NE(description.find(must), std::string::npos) << "info.description lacks " << must;
  }
  ASSERT_TRUE(doc()["servers"].is_array());
  EXPECT_EQ(doc()["servers"][0]["url"], "http://127.0.0.1:8470");
  const json& bearer = doc()["components"]["securitySchemes"]["bearerAuth"];
  EXPECT_EQ(bearer["type"], "http");
  EXPECT_EQ(bearer["scheme"], "bearer");
  EXPECT_EQ(doc()["security"], json::parse(R"([{"bearerAuth": []}])"));

  std::vector<std::string> refs;
  CollectRefs(doc(), &refs);
  EXPECT_GT(refs.size(), 20u);
  for (const std::string& ref : refs) {
    EXPECT_NO_THROW(Resolve(json{{"$ref", ref}})) << ref;
  }

  const std::set<std::string> known_codes = {"200", "201", "400", "401", "403",
                                             "404", "409", "413", "500", "503"};
  for (const auto& [tmpl, method] : Operations()) {
    const json& op = *Operation(tmpl, method);
    const std::string where = Upper(method) + " " + tmpl;
    const std::string auth = op.value("x-gpool-auth", "");
    EXPECT_TRUE(auth == "none" || auth == "admin" || auth == "tenant-or-admin") << where;
    // An operation without a token says `security: []`; the others inherit bearerAuth.
    EXPECT_EQ(op.contains("security") && op["security"].empty(), auth == "none") << where;
    EXPECT_TRUE(op.contains("operationId")) << where;
    ASSERT_TRUE(op.contains("responses") && !op["responses"].empty()) << where;
    for (const auto& [code, response] : op["responses"].items()) {
      EXPECT_TRUE(known_codes.count(code)) << where << " lists " << code;
      EXPECT_TRUE(Resolve(response).contains("description")) << where << " " << code;
    }
    if (auth != "none") {
      EXPECT_TRUE(op["responses"].contains("401")) << where;
    }
    if (auth == "admin") {
      EXPECT_TRUE(op["responses"].contains("403")) << where;
    }
    // Any request body can be over the limit; a POST is where clients send one.
    if (method == "post") {
      EXPECT_TRUE(op["responses"].contains("413")) << where;
    }
    // Agents' endpoints are tagged and need the admin token.
    const json tags = op.value("tags", json::array());
    if (std::find(tags.begin(), tags.end(), "agent") != tags.end()) {
      EXPECT_EQ(auth, "admin") << where;
    }
  }
}

TEST_F(OpenApi, ErrorSchemaNamesTheHandlersCodes) {
  const json& error = Schema("Error");
  EXPECT_EQ(error["required"], json::array({"error"}));
  const json& inner = error["properties"]["error"];
  EXPECT_EQ(Properties(inner), (std::set<std::string>{"code", "message", "field"}));
  EXPECT_EQ(inner["required"], json::array({"code", "message"}));
  const json codes = inner["properties"]["code"]["enum"];
  EXPECT_EQ(std::set<std::string>(codes.begin(), codes.end()),
            (std::set<std::string>{"invalid_argument", "unauthenticated", "forbidden", "not_found",
                                   "conflict", "unavailable", "internal"}));
}

TEST_F(OpenApi, PathsAndMethodsAreExactlyTheRouters) {
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [tmpl, item] : doc()["paths"].items()) {
    for (const auto& [key, value] : item.items()) {
      // Only operations: no path-level keys are used in this document.
      EXPECT_TRUE(std::find(kOperationKeys.begin(), kOperationKeys.end(), key) !=
                  kOperationKeys.end())
          << tmpl << " has " << key;
      documented.emplace(tmpl, key);
    }
  }
  for (const auto& e : kRouterEndpoints) {
    EXPECT_TRUE(documented.count(e)) << "not documented: " << Upper(e.second) << " " << e.first;
  }
  for (const auto& e : documented) {
    EXPECT_TRUE(kRouterEndpoints.count(e)) << "not routed: " << Upper(e.second) << " " << e.first;
  }
}

// ---- the job spec
// --------------------------------------------------------------------------------

// The field names the parser lists when it refuses `doc` for an unknown field at `path`.
std::set<std::string> KnownFieldsOf(const json& doc, const std::string& path) {
  auto r = ParseJobSpec(doc);
  if (r.ok()) {
    ADD_FAILURE() << "accepted an unknown field: " << doc.dump();
    return {};
  }
  const std::string m = r.status().message();
  EXPECT_EQ(m.rfind(path + ": unknown field", 0), 0u) << m;
  const std::string marker = "known fields: ";
  const std::size_t at = m.find(marker);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no list of known fields in: " << m;
    return {};
  }
  std::set<std::string> out;
  std::stringstream in(m.substr(at + marker.size()));
  for (std::string f; std::getline(in, f, ',');) {
    while (!f.empty() && f.front() == ' ') f.erase(f.begin());
    out.insert(f);
  }
  return out;
}

json MinimalSpec() { return {{"name", "x"}, {"command", {"true"}}}; }

TEST_F(OpenApi, JobSpecFieldsAreTheParsers) {
  const json& spec = Schema("JobSpec");
  EXPECT_EQ(spec["additionalProperties"], false);
  const json& resources = Schema("Resources");
  EXPECT_EQ(resources["additionalProperties"], false);

  // The field names, both ways: the parser's lists of known fields are the schemas' properties.
  json unknown = MinimalSpec();
  unknown["zzz"] = 1;
  EXPECT_EQ(KnownFieldsOf(unknown, "zzz"), Properties(spec));
  unknown = MinimalSpec();
  unknown["resources"] = {{"zzz", 1}};
  EXPECT_EQ(KnownFieldsOf(unknown, "resources.zzz"), Properties(resources));
  std::set<std::string> gpu_fields;
  for (const json& form : Resolve(Schema("Gpus"))["oneOf"]) {
    const json& f = Resolve(form);
    if (f.value("type", "") != "object") continue;
    EXPECT_EQ(f["additionalProperties"], false);
    const auto p = Properties(f);
    gpu_fields.insert(p.begin(), p.end());
  }
  unknown = MinimalSpec();
  unknown["resources"] = {{"gpus", {{"zzz", 1}}}};
  EXPECT_EQ(KnownFieldsOf(unknown, "resources.gpus.zzz"), gpu_fields);
  unknown = MinimalSpec();
  unknown["resources"] = {{"gpus", {{"share", {{"compute", 0.5}, {"zzz", 1}}}}}};
  EXPECT_EQ(KnownFieldsOf(unknown, "resources.gpus.share.zzz"), Properties(Schema("GpuShare")));

  // Each property's example is accepted alone; so is the whole example; and the schema accepts
  // them too.
  SchemaChecker checker(doc());
  for (const auto& [name, property] : spec["properties"].items()) {
    const json& p = Resolve(property);
    json example = p.contains("example") ? p["example"] : json();
    if (name == "name") example = "x";
    ASSERT_FALSE(example.is_null()) << "JobSpec." << name << " has no example";
    json one = MinimalSpec();
    one[name] = example;
    auto r = ParseJobSpec(one);
    EXPECT_TRUE(r.ok()) << "JobSpec." << name << " example " << example.dump() << ": "
                        << r.status().message();
    EXPECT_EQ(Joined(checker.Check(spec, one)), "") << one.dump();
  }
  for (const auto& [name, property] : resources["properties"].items()) {
    const json& p = Resolve(property);
    ASSERT_TRUE(p.contains("example")) << "Resources." << name << " has no example";
    json one = MinimalSpec();
    one["resources"] = {{name, p["example"]}};
    auto r = ParseJobSpec(one);
    EXPECT_TRUE(r.ok()) << one.dump() << ": " << r.status().message();
    EXPECT_EQ(Joined(checker.Check(spec, one)), "") << one.dump();
  }
  for (const json& form : Resolve(Schema("Gpus"))["oneOf"]) {
    const json& f = Resolve(form);
    if (!f.contains("example")) continue;
    json one = MinimalSpec();
    one["resources"] = {{"gpus", f["example"]}};
    auto r = ParseJobSpec(one);
    EXPECT_TRUE(r.ok()) << one.dump() << ": " << r.status().message();
    EXPECT_EQ(Joined(checker.Check(spec, one)), "") << one.dump();
  }
  const json& full = spec["example"];
  ASSERT_TRUE(full.is_object());
  auto parsed = ParseJobSpec(full);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(Joined(checker.Check(spec, full)), "");
  // The canonical form stored in workload records is a JobSpec too.
  EXPECT_EQ(Joined(checker.Check(spec, JobSpecToJson(*parsed))), "")
      << JobSpecToJson(*parsed).dump();

  // Required fields: without one the spec is refused naming it; without any other it is not.
  std::set<std::string> required;
  for (const json& r : spec["required"]) required.insert(r.get<std::string>());
  EXPECT_EQ(required, (std::set<std::string>{"name", "command"}));
  for (const auto& [name, property] : spec["properties"].items()) {
    json without = full;
    without.erase(name);
    auto r = ParseJobSpec(without);
    if (required.count(name)) {
      ASSERT_FALSE(r.ok()) << "accepted without " << name;
      EXPECT_EQ(r.status().message().rfind(name + ": ", 0), 0u) << r.status().message();
    } else {
      EXPECT_TRUE(r.ok()) << "refused without " << name << ": " << r.status().message();
    }
  }

  // null: accepted (as absent) exactly where the schema says nullable.
  for (const auto& [name, property] : spec["properties"].items()) {
    if (required.count(name)) continue;
    json with_null = MinimalSpec();
    with_null[name] = nullptr;
    EXPECT_EQ(ParseJobSpec(with_null).ok(), Resolve(property).value("nullable", false))
        << "JobSpec." << name << ": null";
  }
  for (const auto& [name, property] : resources["properties"].items()) {
    json with_null = MinimalSpec();
    with_null["resources"] = {{name, nullptr}};
    EXPECT_EQ(ParseJobSpec(with_null).ok(), Resolve(property).value("nullable", false))
        << "Resources." << name << ": null";
  }

  // Enumerations: every value is accepted, another is not.
  for (const json& value : spec["properties"]["priority"]["enum"]) {
    json one = MinimalSpec();
    one["priority"] = value;
    EXPECT_TRUE(ParseJobSpec(one).ok()) << value;
  }
  json bad_priority = MinimalSpec();
  bad_priority["priority"] = "urgent";
  EXPECT_FALSE(ParseJobSpec(bad_priority).ok());
}

TEST_F(OpenApi, JobSpecSchemaAndParserAgreeOnValidity) {
  SchemaChecker checker(doc());
  const json& spec = Schema("JobSpec");
  auto with = [](const std::string& field, const json& value) {
    json j = MinimalSpec();
    j[field] = value;
    return j;
  };
  auto res = [&](const json& resources) { return with("resources", resources); };
  const std::vector<json> cases = {
      MinimalSpec(),
      with("command", "echo hi"),
      with("command", json::array()),
      with("command", json::array({"a", 1, true})),
      with("command", json::array({json::array({"a"})})),
      with("command", 3),
      with("name", "Bad_Name"),
      with("name", std::string(64, 'a')),
      with("tenant", "vision"),
      with("tenant", "-x"),
      with("priority", "production"),
      with("priority", 1),
      with("env", {{"A_1", "x"}, {"B", 2}, {"C", false}}),
      with("env", {{"A", json::array({1})}}),
      with("env", "A=1"),
      with("gang", 1024),
      with("gang", 0),
      with("gang", 1025),
      with("gang", "2"),
      with("checkpointable", false),
      with("checkpointable", "yes"),
      with("max_runtime", 90),
      with("max_runtime", "1h30m"),
      with("max_runtime", "2d"),
      with("max_runtime", 0),
      with("max_runtime", "1x"),
      with("max_runtime", "h"),
      with("max_runtime", 1.5),
      res({{"cpu", 2}}),
      res({{"cpu", 0.5}}),
      res({{"cpu", "500m"}}),
      res({{"cpu", "1.5"}}),
      res({{"cpu", "abc"}}),
      res({{"cpu", 0}}),
      res({{"cpu", true}}),
      res({{"memory", "16Gi"}}),
      res({{"memory", "1.5G"}}),
      res({{"memory", "512Mi"}}),
      res({{"memory", "16"}}),
      res({{"memory", 16}}),
      res({{"memory", "16Gb"}}),
      res({{"gpus", 0}}),
      res({{"gpus", 16}}),
      res({{"gpus", 17}}),
      res({{"gpus", -1}}),
      res({{"gpus", "2"}}),
      res({{"gpus", {{"count", 2}}}}),
      res({{"gpus", {{"count", 0}}}}),
      res({{"gpus", {{"count", 17}}}}),
      res({{"gpus", {{"count", 2}, {"model", "H100-80GB"}}}}),
      res({{"gpus", {{"count", 2}, {"models", {"A100-80GB", "H100-80GB"}}}}}),
      res({{"gpus", {{"count", 2}, {"models", json::array()}}}}),
      res({{"gpus", {{"count", 2}, {"model", "H100-80GB"}, {"models", {"H100-80GB"}}}}}),
      res({{"gpus", {{"model", "H100-80GB"}}}}),
      res({{"gpus", {{"mig", "3g"}}}}),
      res({{"gpus", {{"mig", "1g"}, {"count", 7}}}}),
      res({{"gpus", {{"mig", "1g"}, {"count", 8}}}}),
      res({{"gpus", {{"mig", "2g"}, {"share", {{"compute", 0.5}}}}}}),
      res({{"gpus", {{"share", {{"compute", 0.25}}}}}}),
      res({{"gpus", {{"share", {{"compute", "250m"}, {"memory", "10Gi"}}}}}}),
      res({{"gpus", {{"share", {{"compute", 0.25}}}, {"count", 1}}}}),
      res({{"gpus", {{"share", {{"compute", 0.25}}}, {"count", 2}}}}),
      res({{"gpus", {{"share", {{"compute", 1}}}}}}),
      res({{"gpus", {{"share", {{"memory", "1Gi"}}}}}}),
      res({{"gpus", {{"share", {{"compute", 0.5}, {"memory", 5}}}}}}),
      json::array(),
      "name: x",
  };
  for (const json& c : cases) {
    const bool parser = ParseJobSpec(c).ok();
    const auto errors = checker.Check(spec, c);
    EXPECT_EQ(parser, errors.empty())
        << c.dump() << ": the parser " << (parser ? "accepts" : "refuses") << ", the schema says"
        << Joined(errors);
  }
  // The examples of the repository are valid against the schema.
  const std::filesystem::path examples = std::filesystem::path(GPOOL_SOURCE_DIR) / "examples";
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(examples)) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    auto j = YamlToJson(text.str(), entry.path().string());
    ASSERT_TRUE(j.ok()) << j.status().message();
    ASSERT_TRUE(ParseJobSpec(*j).ok()) << entry.path();
    EXPECT_EQ(Joined(checker.Check(spec, *j)), "") << entry.path();
    ++seen;
  }
  EXPECT_GT(seen, 0);
}

// ---- a live handler
// --------------------------------------------------------------------------------

// A store that can be made to fail every transaction with Unavailable (a failing disk).
class FlakyStore final : public test::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  bool fail = false;
  Result<store::TxnResult> Txn(const store::TxnRequest& r) override {
    if (fail) return Status::Unavailable("disk I/O error");
    return ForwardingStore::Txn(r);
  }
};

class OpenApiServer : public OpenApi {
 protected:
  void SetUp() override {
    OpenApi::SetUp();
    if (HasFatalFailure()) return;
    auto admin = api_.Bootstrap();
    ASSERT_TRUE(admin.ok() && admin->has_value());
    admin_ = **admin;
  }

  static HttpRequest Request(const std::string& method, const std::string& path,
                             const std::string& token, const std::string& body = "",
                             const std::string& content_type = "") {
    HttpRequest q;
    q.method = method;
    q.path = path;
    if (!token.empty()) q.headers["authorization"] = "Bearer " + token;
    if (!content_type.empty()) q.headers["content-type"] = content_type;
    q.body = body;
    return q;
  }

  // Checks `r`, the reply to `method path`, against the document: the path and method are
  // documented, the status is one of the operation's, the media type is the response's, and a
  // JSON body is valid against its schema.
  void CheckReply(const std::string& method, const std::string& path, const HttpResponse& r) {
    const std::string where =
        method + " " + path + " -> " + std::to_string(r.status) + " " + r.body.substr(0, 300);
    const std::string tmpl = TemplateOf(doc(), path);
    ASSERT_NE(tmpl, "") << "undocumented path: " << where;
    const json* op = Operation(tmpl, Lower(method));
    ASSERT_NE(op, nullptr) << "undocumented method: " << where;
    const std::string status = std::to_string(r.status);
    ASSERT_TRUE((*op)["responses"].contains(status)) << "undocumented status: " << where;
    const json& response = Resolve((*op)["responses"][status]);
    ASSERT_TRUE(response.contains("content")) << where;
    std::string media = r.content_type.substr(0, r.content_type.find(';'));
    while (!media.empty() && media.back() == ' ') media.pop_back();
    ASSERT_TRUE(response["content"].contains(media))
        << "undocumented media type " << r.content_type << ": " << where;
    if (media != "application/json") return;
    const json body = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << where;
    SchemaChecker checker(doc());
    EXPECT_EQ(Joined(checker.Check(response["content"][media]["schema"], body)), "") << where;
    if (r.status >= 400 && body.contains("error")) {
      // The code goes with the status as api.h says.
      static const std::map<int, std::string> kCode = {
          {400, "invalid_argument"}, {401, "unauthenticated"},  {403, "forbidden"},
          {404, "not_found"},        {405, "invalid_argument"}, {409, "conflict"},
          {413, "invalid_argument"}, {500, "internal"},         {503, "unavailable"}};
      EXPECT_EQ(body["error"]["code"], kCode.at(r.status)) << where;
    }
  }

  // Sends the request, checks the reply against the document, and (expect >= 0) its status.
  HttpResponse Call(const std::string& method, const std::string& path, const std::string& token,
                    const std::string& body = "", int expect = -1,
                    const std::string& content_type = "") {
    const HttpResponse r = api_.Handle(Request(method, path, token, body, content_type));
    if (expect >= 0) {
      EXPECT_EQ(r.status, expect) << method << " " << path << ": " << r.body;
    }
    CheckReply(method, path, r);
    return r;
  }
  json CallJson(const std::string& method, const std::string& path, const std::string& token,
                const json& body, int expect) {
    return json::parse(Call(method, path, token, body.is_null() ? "" : body.dump(), expect).body,
                       nullptr, false);
  }

  // The example request body of an operation ("" when it has none).
  std::string ExampleBody(const std::string& tmpl, const std::string& method) const {
    const json* op = Operation(tmpl, method);
    if (op == nullptr || !op->contains("requestBody")) return "";
    const json& content = Resolve((*op)["requestBody"])["content"];
    if (content.contains("application/json") && content["application/json"].contains("example")) {
      return content["application/json"]["example"].dump();
    }
    return "log line\n";
  }
  json JsonExample(const std::string& tmpl, const std::string& method) const {
    return json::parse(ExampleBody(tmpl, method));
  }

  // The concrete path of a template: parameters take their examples.
  std::string Concrete(const std::string& tmpl) const {
    std::map<std::string, std::string> values;
    for (const std::string& m : kOperationKeys) {
      const json* op = Operation(tmpl, m);
      if (op == nullptr) continue;
      for (const json& p : op->value("parameters", json::array())) {
        const json& param = Resolve(p);
        if (param["in"] != "path") continue;
        EXPECT_TRUE(param.contains("example")) << tmpl << " parameter " << param["name"];
        const json& e = param["example"];
        values[param["name"].get<std::string>()] = e.is_string() ? e.get<std::string>() : e.dump();
      }
    }
    std::string out = tmpl;
    for (const auto& [name, value] : values) {
      const std::string key = "{" + name + "}";
      for (std::size_t at; (at = out.find(key)) != std::string::npos;)
        out.replace(at, key.size(), value);
    }
    EXPECT_EQ(out.find('{'), std::string::npos) << tmpl;
    return out;
  }

  // A tenant, a node and a workload from the document's examples; the workload (id 1) assigned.
  void Populate() {
    const json tenant =
        CallJson("POST", "/v1/tenants", admin_, JsonExample("/v1/tenants", "post"), 201);
    ASSERT_TRUE(tenant.contains("token"));
    tenant_ = tenant["token"];
    tenant_name_ = tenant["tenant"]["name"];
    CallJson("POST", "/v1/nodes", admin_, JsonExample("/v1/nodes", "post"), 200);
    const json w =
        CallJson("POST", "/v1/workloads", admin_, JsonExample("/v1/workloads", "post"), 201);
    ASSERT_EQ(w.value("id", 0), 1);
    Reconcile();
    const json got = CallJson("GET", "/v1/workloads/1", admin_, json(), 200);
    ASSERT_EQ(got["state"], "assigned") << got.dump();
  }
  void Reconcile() {
    auto r = ReconcileOnce(*store_, clock_.NowSeconds(), {}, &api_.index(), &api_.liveness());
    ASSERT_TRUE(r.ok()) << r.status().message();
  }

  test::TempDir dir_{"gpool-openapi"};
  LogStore logs_{dir_.path().string()};
  std::unique_ptr<store::KvStore> store_ = store::NewMemoryStore();
  FakeClock clock_;
  FakeTokenSource tokens_{42};
  ApiHandler api_{*store_, clock_, tokens_, &logs_};
  std::string admin_;
  std::string tenant_;
  std::string tenant_name_;
};

TEST_F(OpenApiServer, EveryDocumentedOperationIsRoutedAndEveryOtherMethodIs405) {
  Populate();
  if (HasFatalFailure()) return;
  const std::vector<std::string> methods = {"GET",    "POST", "PUT",    "PATCH",
                                            "DELETE", "HEAD", "OPTIONS"};
  for (const auto& [tmpl, item] : doc()["paths"].items()) {
    const std::string path = Concrete(tmpl);
    std::vector<std::string> allowed;
    for (const char* m : {"get", "post"}) {
      if (item.contains(m)) allowed.push_back(Upper(m));
    }
    for (const auto& [key, op] : item.items()) {
      // The server forwards only these; anything else never reaches the handler.
      EXPECT_TRUE(std::find(kForwardedMethods.begin(), kForwardedMethods.end(), key) !=
                  kForwardedMethods.end())
          << tmpl << " documents " << key;
    }
    for (const std::string& method : methods) {
      const std::string m = Lower(method);
      const HttpRequest q = Request(method, path, admin_, ExampleBody(tmpl, m));
      const HttpResponse r = api_.Handle(q);
      const json body = json::parse(r.body, nullptr, false);
      const std::string message =
          body.is_object() && body.contains("error") ? body["error"].value("message", "") : "";
      if (item.contains(m)) {
        EXPECT_NE(r.status, 405) << method << " " << path << ": " << r.body;
        EXPECT_EQ(message.rfind("no such path", 0), std::string::npos) << method << " " << path;
        EXPECT_EQ(message.rfind("no workload ", 0), std::string::npos) << method << " " << path;
        CheckReply(method, path, r);
      } else {
        EXPECT_EQ(r.status, 405) << method << " " << path << ": " << r.body;
        ASSERT_TRUE(body.is_object()) << r.body;
        EXPECT_EQ(body["error"]["code"], "invalid_argument");
        // The router names the methods it allows: the documented ones.
        std::string use = allowed.size() == 2 ? "GET or POST" : allowed.at(0);
        EXPECT_TRUE(message.ends_with("; use " + use)) << message << " vs " << use;
      }
    }
  }
  // Near misses are unknown paths, for everyone.
  for (const std::string path : {"/", "/v1", "/v1/tenants/x", "/v1/nodes/node-1",
                                 "/v1/workloads/1/bogus", "/v1/workloads/1/", "/v1/events/1",
                                 "/healthz/", "/v2/workloads", "/v1/nodes/-x/heartbeat"}) {
    const HttpResponse r = api_.Handle(Request("GET", path, admin_));
    EXPECT_EQ(r.status, 404) << path << ": " << r.body;
  }
  // Ids that are not decimal workload ids are 404 before authentication.
  for (const std::string id : {"0", "-1", "abc", "1x", "99999999999999999999"}) {
    const HttpResponse r = api_.Handle(Request("GET", "/v1/workloads/" + id, ""));
    EXPECT_EQ(r.status, 404) << id << ": " << r.body;
  }
}

TEST_F(OpenApiServer, WhoMayCallWhatIsAsDocumented) {
  Populate();
  if (HasFatalFailure()) return;
  for (const auto& [tmpl, method] : Operations()) {
    const json& op = *Operation(tmpl, method);
    const std::string auth = op["x-gpool-auth"];
    const std::string path = Concrete(tmpl);
    const std::string body = ExampleBody(tmpl, method);
    const std::string where = Upper(method) + " " + path;
    // No token, a malformed one, an unknown one.
    for (const std::string& header : {std::string(), std::string("Bearer"),
                                      std::string("Basic abc"), "Bearer " + std::string(64, '0')}) {
      HttpRequest q = Request(Upper(method), path, "", body);
      if (!header.empty()) q.headers["authorization"] = header;
      const HttpResponse r = api_.Handle(q);
      if (auth == "none") {
        EXPECT_EQ(r.status, 200) << where;
      } else {
        EXPECT_EQ(r.status, 401) << where << " with '" << header << "'";
      }
      CheckReply(Upper(method), path, r);
    }
    // A tenant token: 403 exactly on the admin's operations.
    const HttpResponse r = Call(Upper(method), path, tenant_, body);
    if (auth == "admin") {
      EXPECT_EQ(r.status, 403) << where << ": " << r.body;
    } else {
      EXPECT_NE(r.status, 403) << where << ": " << r.body;
      EXPECT_NE(r.status, 401) << where << ": " << r.body;
      EXPECT_LT(r.status, 300) << where << ": " << r.body;
    }
  }
  // Another tenant sees no workload of the first: 404, not 403.
  const json other = CallJson("POST", "/v1/tenants", admin_, {{"name", "audio"}}, 201);
  const std::string other_token = other["token"];
  for (const std::string path : {"/v1/workloads/1", "/v1/workloads/1/logs"}) {
    Call("GET", path, other_token, "", 404);
  }
  Call("POST", "/v1/workloads/1/cancel", other_token, "", 404);
  EXPECT_EQ(CallJson("GET", "/v1/workloads", other_token, json(), 200)["workloads"].size(), 0u);
  Call("GET", "/v1/workloads?tenant=" + tenant_name_, other_token, "", 403);
  json spec = JsonExample("/v1/workloads", "post");
  spec["tenant"] = tenant_name_;
  Call("POST", "/v1/workloads", other_token, spec.dump(), 403);
}

TEST_F(OpenApiServer, RequestBodiesAndQueryParametersAreTheHandlers) {
  Populate();
  if (HasFatalFailure()) return;
  for (const auto& [tmpl, method] : Operations()) {
    const json& op = *Operation(tmpl, method);
    const std::string path = Concrete(tmpl);
    const std::string where = Upper(method) + " " + path;
    if (op.contains("requestBody")) {
      const json& content = Resolve(op["requestBody"])["content"];
      if (content.contains("application/json")) {
        // A parsed body: JSON and YAML are accepted, other types and malformed JSON are not.
        Call(Upper(method), path, admin_, "{", 400);
        Call(Upper(method), path, admin_, ExampleBody(tmpl, method), 400, "text/plain");
        for (const auto& [media, unused] : content.items()) {
          const HttpResponse r =
              Call(Upper(method), path, admin_, ExampleBody(tmpl, method), -1, media);
          EXPECT_NE(r.status, 400) << where << " as " << media << ": " << r.body;
        }
      } else {
        // Raw bytes: any type.
        EXPECT_TRUE(content.contains("application/octet-stream")) << where;
      }
    }
    // Every documented query parameter is known to the handler; where there are any, an
    // unknown one is refused, naming it.
    bool has_query = false;
    for (const json& p : op.value("parameters", json::array())) {
      const json& param = Resolve(p);
      if (param["in"] != "query") continue;
      has_query = true;
      const json& schema = Resolve(param["schema"]);
      json value = schema.contains("default")   ? schema["default"]
                   : schema.contains("enum")    ? schema["enum"][0]
                   : schema.contains("minimum") ? schema["minimum"]
                                                : json();
      if (param["name"] == "tenant") value = tenant_name_;
      ASSERT_FALSE(value.is_null()) << where << " " << param["name"];
      const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      const std::string q = path + "?" + param["name"].get<std::string>() + "=" + text;
      const HttpResponse r = Call(Upper(method), q, admin_, ExampleBody(tmpl, method));
      EXPECT_NE(r.status, 400) << q << ": " << r.body;
      if (schema.contains("enum")) {
        for (const json& e : schema["enum"]) {
          const std::string qe =
              path + "?" + param["name"].get<std::string>() + "=" + e.get<std::string>();
          EXPECT_NE(Call(Upper(method), qe, admin_, ExampleBody(tmpl, method)).status, 400) << qe;
        }
        const std::string qbad = path + "?" + param["name"].get<std::string>() + "=zzz";
        EXPECT_EQ(Call(Upper(method), qbad, admin_, ExampleBody(tmpl, method)).status, 400) << qbad;
      }
    }
    if (has_query) {
      const HttpResponse r =
          Call(Upper(method), path + "?zzz=1", admin_, ExampleBody(tmpl, method), 400);
      EXPECT_EQ(json::parse(r.body)["error"]["field"], "zzz") << where;
    }
  }
  // The state filter's values, against the workload states: what the handler takes is what
  // the parameter's enum lists.
  const json* list = Operation("/v1/workloads", "get");
  ASSERT_NE(list, nullptr);
  json state_enum;
  for (const json& p : (*list)["parameters"]) {
    if (Resolve(p)["name"] == "state") state_enum = Resolve(Resolve(p)["schema"])["enum"];
  }
  ASSERT_TRUE(state_enum.is_array());
  for (const json& s : Schema("WorkloadState")["enum"]) {
    const bool documented = std::find(state_enum.begin(), state_enum.end(), s) != state_enum.end();
    const HttpResponse r = Call("GET", "/v1/workloads?state=" + s.get<std::string>(), admin_);
    EXPECT_EQ(r.status, documented ? 200 : 400) << s;
  }
}

// Through a workload's life, each reply is valid against its documented schema (strictly: no
// undocumented fields), so the record, binding, slice, node, heartbeat, event and log schemas
// are exact.
TEST_F(OpenApiServer, RepliesMatchTheSchemasThroughAWorkloadsLife) {
  Call("GET", "/healthz", "", "", 200);
  Populate();
  if (HasFatalFailure()) return;
  Call("POST", "/v1/tenants", admin_, JsonExample("/v1/tenants", "post").dump(), 409);
  Call("GET", "/v1/tenants", admin_, "", 200);
  EXPECT_EQ(CallJson("GET", "/v1/tenants", tenant_, json(), 200)["tenants"].size(), 1u);
  // More workloads, of every GPU kind, by the tenant (the YAML example too).
  const json* submit = Operation("/v1/workloads", "post");
  const json& yaml = (*submit)["requestBody"]["content"]["application/yaml"]["example"];
  ASSERT_TRUE(yaml.is_string());
  Call("POST", "/v1/workloads", tenant_, yaml.get<std::string>(), 201, "application/yaml");  // 2
  json mig = {{"name", "infer"},
              {"command", "serve"},
              {"resources", {{"gpus", {{"mig", "3g"}, {"count", 2}}}}}};
  CallJson("POST", "/v1/workloads", tenant_, mig, 201);  // 3
  json share = {{"name", "notebook"},
                {"command", {"jupyter"}},
                {"env", {{"A", 1}}},
                {"resources",
                 {{"cpu", "500m"},
                  {"memory", "2Gi"},
                  {"gpus", {{"share", {{"compute", 0.25}, {"memory", "10Gi"}}}}}}},
                {"max_runtime", 60}};
  CallJson("POST", "/v1/workloads", tenant_, share, 201);  // 4
  Reconcile();
  const json beat = CallJson("POST", "/v1/nodes/node-1/heartbeat", admin_, json(), 200);
  EXPECT_EQ(beat["assignments"].size(), 4u) << beat.dump();
  std::set<std::string> kinds;
  for (const json& a : beat["assignments"]) {
    for (const json& b : a["bindings"]) {
      for (const json& s : b["slices"]) kinds.insert(s["kind"].get<std::string>());
    }
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"whole", "mig", "share"}));

  // The agent runs 1 and 4 and ships output; the owner reads it.
  CallJson("POST", "/v1/workloads/1/status", admin_, {{"state", "running"}, {"epoch", 1}}, 200);
  CallJson("POST", "/v1/workloads/4/status", admin_, {{"state", "running"}, {"epoch", 1}}, 200);
  Call("POST", "/v1/workloads/1/logs?epoch=1&offset=0", admin_, "hello\n", 200);
  EXPECT_EQ(CallJson("POST", "/v1/workloads/1/logs?offset=0", admin_, json(), 409),
            (json{{"size", 6}}));
  Call("POST", "/v1/workloads/1/logs?stream=err&offset=0", admin_, "warn\n", 200);
  EXPECT_EQ(CallJson("GET", "/v1/workloads/1/logs", tenant_, json(), 200)["data"], "hello\n");
  Call("GET", "/v1/workloads/1/logs?stream=stderr&offset=2&limit=2", tenant_, "", 200);
  Call("GET", "/v1/workloads/1/logs?epoch=2", tenant_, "", 404);
  Call("GET", "/v1/workloads/1/logs?offset=-1", tenant_, "", 400);
  Call("GET", "/v1/workloads", tenant_, "", 200);
  Call("GET", "/v1/workloads?state=running&tenant=" + tenant_name_, admin_, "", 200);
  Call("GET", "/v1/workloads?state=running&state=failed", admin_, "", 400);

  // Cancel 2 (assigned: releasing), the agent stops it; 1 succeeds; 4 runs past its limit.
  const json cancelled = CallJson("POST", "/v1/workloads/2/cancel", tenant_, json(), 200);
  EXPECT_EQ(cancelled["releasing"], true);
  Call("POST", "/v1/workloads/2/cancel", tenant_, "", 409);
  const json stops = CallJson("POST", "/v1/nodes/node-1/heartbeat", admin_, json(), 200);
  EXPECT_EQ(stops["stop"], json::parse(R"([{"id": 2, "epoch": 1}])"));
  Call("POST", "/v1/workloads/2/status", admin_, R"({"state": "running", "epoch": 1})", 409);
  const json released =
      CallJson("POST", "/v1/workloads/2/status", admin_, {{"state", "stopped"}, {"epoch", 1}}, 200);
  EXPECT_TRUE(released.contains("released_at"));
  CallJson("POST", "/v1/workloads/1/status", admin_,
           {{"state", "succeeded"}, {"epoch", 1}, {"exit_code", 0}, {"message", "done"}}, 200);
  CallJson("POST", "/v1/workloads/1/status", admin_, {{"state", "failed"}, {"epoch", 0}}, 409);
  CallJson("POST", "/v1/workloads/1/status", admin_, {{"state", "paused"}, {"epoch", 1}}, 400);
  EXPECT_EQ(CallJson("GET", "/v1/workloads/1/logs", tenant_, json(), 200)["finished"], true);
  clock_.Advance(61);
  CallJson("POST", "/v1/nodes/node-1/heartbeat", admin_, json(), 200);
  Reconcile();
  const json timed_out = CallJson("GET", "/v1/workloads/4", admin_, json(), 200);
  EXPECT_EQ(timed_out["state"], "failed");
  EXPECT_TRUE(timed_out.contains("message"));

  // The node is lost, its workload goes back to the queue; the node beats again.
  clock_.Advance(100);
  Reconcile();
  EXPECT_EQ(CallJson("GET", "/v1/nodes", admin_, json(), 200)["nodes"][0]["state"], "lost");
  EXPECT_EQ(CallJson("GET", "/v1/workloads/3", admin_, json(), 200)["attempts"], 1);
  EXPECT_EQ(CallJson("POST", "/v1/nodes/node-1/heartbeat", admin_, json(), 200)["was_lost"], true);
  Call("GET", "/v1/nodes", admin_, "", 200);
  Call("POST", "/v1/nodes/node-2/heartbeat", admin_, "", 404);
  CallJson("POST", "/v1/nodes", admin_,
           {{"name", "cpu-only"}, {"cpu_milli", 4000}, {"memory_mib", 8192}, {"gpus", 0}}, 200);
  CallJson("POST", "/v1/nodes", admin_,
           {{"name", "n"}, {"cpu_milli", 1}, {"memory_mib", 1}, {"gpus", 1}}, 400);
  Call("GET", "/metrics", admin_, "", 200);

  // Events: everything for the admin, the tenant's own for the tenant, paged, then compacted.
  const json events = CallJson("GET", "/v1/events", admin_, json(), 200);
  std::set<std::string> event_kinds;
  for (const json& e : events["events"]) event_kinds.insert(e["kind"].get<std::string>());
  EXPECT_EQ(event_kinds, (std::set<std::string>{"workload", "node"}));
  Call("GET", "/v1/events?since=3&limit=2", tenant_, "", 200);
  Call("GET", "/v1/events?limit=x", tenant_, "", 400);
  ASSERT_TRUE(store_->Compact(store_->CurrentRevision()).ok());
  const json compacted = CallJson("GET", "/v1/events?since=1", admin_, json(), 404);
  EXPECT_EQ(compacted["error"]["field"], "since");
}

// POST /v1/workloads: the codes the document lists are exactly those the handler gives here.
TEST_F(OpenApiServer, SubmitAnswersExactlyTheDocumentedCodes) {
  Populate();
  if (HasFatalFailure()) return;
  std::set<int> seen;
  auto submit = [&](const std::string& token, const std::string& body, int expect,
                    const std::string& type = "") {
    const HttpResponse r = Call("POST", "/v1/workloads", token, body, expect, type);
    seen.insert(r.status);
    return r;
  };
  const std::string example = ExampleBody("/v1/workloads", "post");
  submit(admin_, example, 201);
  submit(tenant_, example, 201, "application/json; charset=utf-8");
  submit(tenant_, "name: y\ncommand: [\"true\"]\n", 201, "application/yaml");
  submit(tenant_, R"({"name": "y", "command": "true", "gpu": 1})", 400);
  submit(tenant_, R"({"name": "y", "command": "true", "tenant": "nobody"})", 403);
  submit(admin_, R"({"name": "y", "command": "true", "tenant": "nobody"})", 400);
  submit(admin_, R"({"name": "y", "command": "true"})", 400);  // no tenant "default"
  submit(tenant_, "name: y\nname: z\n", 400, "application/yaml");
  submit(tenant_, std::string(70, '[') + std::string(70, ']'), 400);
  submit(tenant_, example, 400, "text/plain");
  submit("", example, 401);
  submit(std::string(64, 'f'), example, 401);
  submit(tenant_, std::string(kMaxBodyBytes + 1, ' '), 413);
  {
    FlakyStore flaky(*store_);
    ApiHandler failing(flaky, clock_, tokens_, &logs_);
    flaky.fail = true;
    const HttpResponse r = failing.Handle(Request("POST", "/v1/workloads", tenant_, example));
    EXPECT_EQ(r.status, 503) << r.body;
    CheckReply("POST", "/v1/workloads", r);
    seen.insert(r.status);
  }
  ASSERT_TRUE(store_->Put("/gpool/meta/next_workload_id", "not a number").ok());
  submit(tenant_, example, 500);

  std::set<int> documented;
  for (const auto& [code, unused] : (*Operation("/v1/workloads", "post"))["responses"].items()) {
    documented.insert(std::stoi(code));
  }
  EXPECT_EQ(seen, documented);
}

}  // namespace
}  // namespace gpool::controller
