#include "core/codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>

#include "core/json.h"

namespace hallmark::core {

std::string SerializeDeterministic(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  bool ok = message.SerializeToCodedStream(&coded);
  HM_ASSERT_MSG(ok, "serialising a message failed");
  coded.Trim();
  return out;
}

Status ParseStrict(std::string_view bytes, google::protobuf::Message* out, std::string_view what) {
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::InvalidInput(std::string(what) + " is not valid Protobuf");
  }
  if (!out->GetReflection()->GetUnknownFields(*out).empty()) {
    return Status::InvalidInput(std::string(what) + " has fields this version does not know");
  }
  return Status::Ok();
}

Result<std::string> ToJson(const google::protobuf::Message& message, bool pretty) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.preserve_proto_field_names = true;
  auto st = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!st.ok()) return Status::Internal("JSON encoding failed: " + std::string(st.message()));
  return out;
}

Status FromJson(std::string_view json, google::protobuf::Message* out, std::string_view what) {
  JsonLimits limits = kApiAnswerJsonLimits;
  limits.unknown_fields_allowed = false;
  return ParseJsonStrict(json, out, limits).WithContext(what);
}

}  // namespace hallmark::core
