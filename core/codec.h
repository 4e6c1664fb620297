#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "core/bytes.h"
#include "core/status.h"

namespace hallmark::core {

// Protobuf encoding that is the same on every machine running this build: the bytes that are
// hashed into state and header roots.
std::string SerializeDeterministic(const google::protobuf::Message& message);

// Parses `bytes` into `out`; refuses unknown fields at the top level and trailing garbage.
// `what` names the thing for the error message.
Status ParseStrict(std::string_view bytes, google::protobuf::Message* out, std::string_view what);

// JSON through Protobuf's JSON mapping, for people and the API.
Result<std::string> ToJson(const google::protobuf::Message& message, bool pretty = true);
// core::ParseJsonStrict (core/json.h) with generous limits (those of a node's answer: 64 MiB,
// 1,000,000 values), its message prefixed with `what: `. For tools and tests reading our own
// output; every input from outside names its own limits and calls ParseJsonStrict.
Status FromJson(std::string_view json, google::protobuf::Message* out, std::string_view what);

}  // namespace hallmark::core
