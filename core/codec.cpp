#include "core/codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/wire_format_lite.h>

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

namespace {

// Returns false when the count is exceeded; malformed input ends the scan quietly.
bool CountMessages(std::string_view bytes, const google::protobuf::Descriptor& type, int depth,
                   size_t max_messages, size_t* count) {
  using google::protobuf::internal::WireFormatLite;
  if (depth > 100) return true;  // Protobuf's own recursion limit refuses it.
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return true;
    const google::protobuf::FieldDescriptor* field =
        type.FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
    if (field != nullptr &&
        field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return true;
      const int at = in.CurrentPosition();
      if (length > bytes.size() - static_cast<size_t>(at)) return true;
      if (++*count > max_messages) return false;
      if (!CountMessages(bytes.substr(static_cast<size_t>(at), length), *field->message_type(),
                         depth + 1, max_messages, count)) {
        return false;
      }
      if (!in.Skip(static_cast<int>(length))) return true;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return true;
    }
  }
}

}  // namespace

Status CheckMessageCount(std::string_view bytes, const google::protobuf::Descriptor& type,
                         size_t max_messages, std::string_view what) {
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) {
    return Status::InvalidInput(std::string(what) + " is too large");
  }
  size_t count = 0;
  if (!CountMessages(bytes, type, 0, max_messages, &count)) {
    return Status::InvalidInput(std::string(what) + " holds more than " +
                                std::to_string(max_messages) + " messages");
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

Result<std::string> ToApiJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
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
