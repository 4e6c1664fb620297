#include "core/codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>

#include <vector>

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
  if (HasUnknownFieldsDeep(*out)) {
    return Status::InvalidInput(std::string(what) + " has fields this version does not know");
  }
  return Status::Ok();
}

Status ParseCanonical(std::string_view bytes, google::protobuf::Message* out,
                      std::string_view what) {
  HM_RETURN_IF_ERROR(ParseStrict(bytes, out, what));
  if (SerializeDeterministic(*out) != bytes) {
    return Status::InvalidInput(std::string(what) +
                                " is not in canonical encoding (fields repeated, out of order, "
                                "or encoded at more length than needed)");
  }
  return Status::Ok();
}

bool HasUnknownFieldsDeep(const google::protobuf::Message& message) {
  const google::protobuf::Reflection* r = message.GetReflection();
  if (!r->GetUnknownFields(message).empty()) return true;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      const int n = r->FieldSize(message, f);
      for (int i = 0; i < n; ++i) {
        if (HasUnknownFieldsDeep(r->GetRepeatedMessage(message, f, i))) return true;
      }
    } else if (HasUnknownFieldsDeep(r->GetMessage(message, f))) {
      return true;
    }
  }
  return false;
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
