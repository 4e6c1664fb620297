#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "core/bytes.h"
#include "core/status.h"

namespace hallmark::core {

// Protobuf encoding that is the same on every machine running this build: the bytes that are
// hashed into state and header roots.
std::string SerializeDeterministic(const google::protobuf::Message& message);

// Parses `bytes` into `out`; refuses unknown fields at every level of nesting.
// `what` names the thing for the error message.
Status ParseStrict(std::string_view bytes, google::protobuf::Message* out, std::string_view what);

// ParseStrict, and the bytes must be exactly the message's deterministic encoding: no field
// repeated or out of order, no over-long varint, no default value written out. Then no byte can
// be changed without changing what the message says (proof bundles, docs/proofs.md).
Status ParseCanonical(std::string_view bytes, google::protobuf::Message* out,
                      std::string_view what);

// Counts the messages that parsing `bytes` as `type` would create (nested and repeated message
// fields, without building them) and refuses more than `max_messages`, so that a small input of
// empty repeated messages (two bytes each) cannot make the parser allocate gigabytes. Malformed
// input is left for the parser to report. `what` names the thing for the error message.
Status CheckMessageCount(std::string_view bytes, const google::protobuf::Descriptor& type,
                         size_t max_messages, std::string_view what);

// True when `message` or any message nested in it carries fields this build does not know.
bool HasUnknownFieldsDeep(const google::protobuf::Message& message);

// JSON through Protobuf's JSON mapping with the .proto field names, for people and files.
// Fields holding their default value are left out.
Result<std::string> ToJson(const google::protobuf::Message& message, bool pretty = true);
// The API's answers (docs/api.md, "Conventions"): as ToJson, but every field without presence
// is printed even when it holds its default: 0, "", false, the enum's zero name, and [] for a
// repeated field. Fields with presence are printed only when set: singular message fields and
// the members of a oneof. So a documented field never vanishes because it is zero.
Result<std::string> ToApiJson(const google::protobuf::Message& message);
// core::ParseJsonStrict (core/json.h) with generous limits (those of a node's answer: 64 MiB,
// 1,000,000 values), its message prefixed with `what: `. For tools and tests reading our own
// output; every input from outside names its own limits and calls ParseJsonStrict.
Status FromJson(std::string_view json, google::protobuf::Message* out, std::string_view what);

}  // namespace hallmark::core
