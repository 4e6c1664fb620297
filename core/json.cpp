// ParseJsonStrict: a shape check driven by the message's descriptor, then Protobuf's parser.
//
// The check is a token scanner, not a parser: it builds no values and keeps nothing but the
// path to the current field (for messages). Every value Protobuf will later build is counted
// and every open object or array is one level of a bounded depth, so what Protobuf allocates
// stays a small multiple of the input.
#include "core/json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <string>
#include <vector>

namespace hallmark::core {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// How much of a key an error message quotes.
constexpr size_t kQuotedKeyBytesMax = 64;

enum class Kind { kObject, kArray, kString, kNumber, kBool, kNull };

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kObject:
      return "an object";
    case Kind::kArray:
      return "an array";
    case Kind::kString:
      return "a string";
    case Kind::kNumber:
      return "a number";
    case Kind::kBool:
      return "true or false";
    case Kind::kNull:
      return "null";
  }
  return "a value";
}

// Well-known types (Timestamp, Struct, wrappers…) have JSON forms of their own; their values are
// checked for bounds only. A google.protobuf.Struct at the top level reads any JSON object
// (the EPCIS import, wallet-cli/epcis_import.h); json.h's promise of refusing unknown
// keys is then moot, as a Struct has no fixed keys, still within every bound.
bool IsWellKnownType(const Descriptor* type) {
  return type->file()->package() == "google.protobuf";
}

// The field `name` of `type`, by its proto name or its JSON name, as Protobuf's parser finds it.
const FieldDescriptor* FindField(const Descriptor* type, std::string_view name) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* f = type->field(i);
    if (f->name() == name || f->json_name() == name) return f;
  }
  return nullptr;
}

// One step of the path to the value being checked: a key, or an index into an array.
struct PathPart {
  std::string_view key;
  size_t index = 0;
  bool is_index = false;
};

class ShapeCheck {
 public:
  ShapeCheck(std::string_view text, const JsonLimits& limits) : s_(text), limits_(limits) {}

  Status Run(const Descriptor* type) {
    SkipSpace();
    if (pos_ == s_.size())
      return Status::InvalidInput("the JSON text is empty; expected an object");
    if (s_[pos_] != '{') {
      if (!IsValueStart(s_[pos_])) return Syntax("expected a JSON object");
      return Status::InvalidInput("expected a JSON object at the top level, found " +
                                  std::string(KindName(PeekKind())));
    }
    HM_RETURN_IF_ERROR(IsWellKnownType(type) ? Opaque() : Message(type));
    SkipSpace();
    if (pos_ != s_.size()) return Syntax("unexpected text after the object");
    return Status::Ok();
  }

 private:
  // --- Errors -----------------------------------------------------------------------------

  std::string Path() const {
    std::string out;
    for (const PathPart& p : path_) {
      if (p.is_index) {
        out += "[" + std::to_string(p.index) + "]";
      } else {
        if (!out.empty()) out += '.';
        // A hostile key may be megabytes long; messages quote only its start.
        out += p.key.size() <= kQuotedKeyBytesMax ? p.key : p.key.substr(0, kQuotedKeyBytesMax);
        if (p.key.size() > kQuotedKeyBytesMax) out += "…";
      }
    }
    return out;
  }

  // A shape error at the current field: `field "history[0]": …`.
  Status Shape(std::string_view what) const {
    if (path_.empty()) return Status::InvalidInput(std::string(what));
    return Status::InvalidInput("field \"" + Path() + "\": " + std::string(what));
  }

  Status Syntax(std::string_view expected) const {
    std::string at = pos_ < s_.size() ? "at byte " + std::to_string(pos_ + 1) : "at the end";
    return Status::InvalidInput("malformed JSON " + at + ": " + std::string(expected));
  }

  Status Mismatch(std::string_view expected, Kind found) const {
    return Shape("expected " + std::string(expected) + ", found " + std::string(KindName(found)));
  }

  // --- Bounds ------------------------------------------------------------------------------

  Status CountValue() {
    if (++values_ > limits_.values_max) {
      return Status::InvalidInput("the JSON holds more than " + std::to_string(limits_.values_max) +
                                  " values (objects, arrays and their elements), the limit for " +
                                  "this input");
    }
    return Status::Ok();
  }

  Status Enter() {
    if (++depth_ > limits_.depth_max) {
      return Shape("nested deeper than " + std::to_string(limits_.depth_max) + " levels");
    }
    return Status::Ok();
  }
  void Leave() { --depth_; }

  // --- Tokens ------------------------------------------------------------------------------

  static bool IsValueStart(char c) {
    return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' ||
           c == 'f' || c == 'n';
  }

  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  // REQUIRES: SkipSpace() was called; pos_ is at a value start.
  Kind PeekKind() const {
    switch (s_[pos_]) {
      case '{':
        return Kind::kObject;
      case '[':
        return Kind::kArray;
      case '"':
        return Kind::kString;
      case 't':
      case 'f':
        return Kind::kBool;
      case 'n':
        return Kind::kNull;
      default:
        return Kind::kNumber;
    }
  }

  // Skips space and returns the kind of the value that starts there.
  Status Next(Kind* kind) {
    SkipSpace();
    if (pos_ == s_.size() || !IsValueStart(s_[pos_])) return Syntax("expected a value");
    *kind = PeekKind();
    return Status::Ok();
  }

  Status Expect(char c, std::string_view what) {
    SkipSpace();
    if (pos_ == s_.size() || s_[pos_] != c) return Syntax(what);
    ++pos_;
    return Status::Ok();
  }

  static bool IsHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  // A string token; `*escaped` says whether it held an escape. `*raw` is its text between the
  // quotes, as written.
  Status String(std::string_view* raw = nullptr, bool* escaped = nullptr) {
    HM_ASSERT(s_[pos_] == '"');
    const size_t start = ++pos_;
    bool any_escape = false;
    while (pos_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        if (raw != nullptr) *raw = s_.substr(start, pos_ - start);
        if (escaped != nullptr) *escaped = any_escape;
        ++pos_;
        return Status::Ok();
      }
      if (c < 0x20) return Syntax("a control character inside a string");
      if (c == '\\') {
        any_escape = true;
        if (++pos_ == s_.size()) break;
        const char e = s_[pos_];
        if (e == 'u') {
          for (int i = 0; i < 4; ++i) {
            if (++pos_ == s_.size() || !IsHex(s_[pos_])) return Syntax("a bad \\u escape");
          }
        } else if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' &&
                   e != 'r' && e != 't') {
          return Syntax("a bad escape in a string");
        }
      }
      ++pos_;
    }
    return Syntax("a string that does not end");
  }

  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  Status Digits() {
    if (pos_ == s_.size() || !IsDigit(s_[pos_])) return Syntax("a malformed number");
    while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    return Status::Ok();
  }

  // RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  Status Number() {
    if (s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
    } else {
      HM_RETURN_IF_ERROR(Digits());
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      HM_RETURN_IF_ERROR(Digits());
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      HM_RETURN_IF_ERROR(Digits());
    }
    return Status::Ok();
  }

  Status Literal() {
    for (std::string_view word : {"true", "false", "null"}) {
      if (s_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return Status::Ok();
      }
    }
    return Syntax("expected a value");
  }

  // A scalar token of kind `kind` (string, number, true, false, null).
  Status Scalar(Kind kind) {
    switch (kind) {
      case Kind::kString:
        return String();
      case Kind::kNumber:
        return Number();
      case Kind::kBool:
      case Kind::kNull:
        return Literal();
      case Kind::kObject:
      case Kind::kArray:
        break;
    }
    HM_ASSERT_MSG(false, "Scalar called on a container");
    return Status::Internal("unreachable");
  }

  // Calls `element(index)` for each element of the array at pos_, or for each member of the
  // object at pos_ after reading its key into `*key`.
  template <typename F>
  Status Array(F element) {
    HM_RETURN_IF_ERROR(Enter());
    ++pos_;  // '['
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      Leave();
      return Status::Ok();
    }
    for (size_t index = 0;; ++index) {
      HM_RETURN_IF_ERROR(element(index));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      HM_RETURN_IF_ERROR(Expect(']', "expected ',' or ']'"));
      break;
    }
    Leave();
    return Status::Ok();
  }

  template <typename F>
  Status Object(F member) {
    HM_RETURN_IF_ERROR(Enter());
    ++pos_;  // '{'
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      Leave();
      return Status::Ok();
    }
    for (;;) {
      SkipSpace();
      if (pos_ == s_.size() || s_[pos_] != '"') return Syntax("expected a quoted field name");
      std::string_view key;
      bool escaped = false;
      HM_RETURN_IF_ERROR(String(&key, &escaped));
      HM_RETURN_IF_ERROR(Expect(':', "expected ':' after a field name"));
      HM_RETURN_IF_ERROR(member(key, escaped));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      HM_RETURN_IF_ERROR(Expect('}', "expected ',' or '}'"));
      break;
    }
    Leave();
    return Status::Ok();
  }

  // --- Shapes ------------------------------------------------------------------------------

  // Any JSON value, bounded in depth and count: unknown fields (when allowed) and well-known
  // types.
  Status Opaque() {
    Kind kind = Kind::kNull;
    HM_RETURN_IF_ERROR(Next(&kind));
    HM_RETURN_IF_ERROR(CountValue());
    switch (kind) {
      case Kind::kObject:
        return Object([this](std::string_view, bool) { return Opaque(); });
      case Kind::kArray:
        return Array([this](size_t) { return Opaque(); });
      case Kind::kString:
      case Kind::kNumber:
      case Kind::kBool:
      case Kind::kNull:
        return Scalar(kind);
    }
    return Status::Internal("unreachable");
  }

  // A message's object at pos_.
  Status Message(const Descriptor* type) {
    return Object([this, type](std::string_view key, bool escaped) -> Status {
      path_.push_back({key});
      if (escaped) return Shape("field names must be written without escapes");
      const FieldDescriptor* field = FindField(type, key);
      Status s;
      if (field != nullptr) {
        s = FieldValue(field);
      } else if (limits_.unknown_fields_allowed) {
        s = Opaque();
      } else {
        return Status::InvalidInput("unknown field \"" + Path() + "\"");
      }
      if (s.ok()) path_.pop_back();
      return s;
    });
  }

  // The value of `field` as a member of its message.
  Status FieldValue(const FieldDescriptor* field) {
    Kind kind = Kind::kNull;
    HM_RETURN_IF_ERROR(Next(&kind));
    if (kind == Kind::kNull) {  // Protobuf reads null as "not set".
      HM_RETURN_IF_ERROR(CountValue());
      return Literal();
    }
    if (field->is_map()) {
      if (kind != Kind::kObject) return Mismatch("an object (the field is a map)", kind);
      HM_RETURN_IF_ERROR(CountValue());
      const FieldDescriptor* value = field->message_type()->map_value();
      return Object([this, value](std::string_view key, bool) -> Status {
        path_.push_back({key});
        HM_RETURN_IF_ERROR(Element(value));
        path_.pop_back();
        return Status::Ok();
      });
    }
    if (field->is_repeated()) {
      if (kind != Kind::kArray) return Mismatch("an array (the field is repeated)", kind);
      HM_RETURN_IF_ERROR(CountValue());
      return Array([this, field](size_t index) -> Status {
        path_.push_back({{}, index, true});
        HM_RETURN_IF_ERROR(Element(field));
        path_.pop_back();
        return Status::Ok();
      });
    }
    return Single(field, kind);
  }

  // One element of a repeated field or one value of a map: never null, never an array.
  Status Element(const FieldDescriptor* field) {
    Kind kind = Kind::kNull;
    HM_RETURN_IF_ERROR(Next(&kind));
    if (kind == Kind::kArray) {
      return Shape("an array inside an array is not allowed (a repeated field is one flat list)");
    }
    if (kind == Kind::kNull) return Shape("null is not allowed inside an array or a map");
    return Single(field, kind);
  }

  // One value of `field`'s type, of kind `kind`, at pos_.
  Status Single(const FieldDescriptor* field, Kind kind) {
    using Cpp = FieldDescriptor::CppType;
    switch (field->cpp_type()) {
      case Cpp::CPPTYPE_MESSAGE:
        if (IsWellKnownType(field->message_type())) return Opaque();
        if (kind != Kind::kObject) return Mismatch("an object", kind);
        HM_RETURN_IF_ERROR(CountValue());
        return Message(field->message_type());
      case Cpp::CPPTYPE_STRING:
        if (kind != Kind::kString) return Mismatch("a string", kind);
        break;
      case Cpp::CPPTYPE_BOOL:
        if (kind != Kind::kBool && kind != Kind::kString) return Mismatch("true or false", kind);
        break;
      case Cpp::CPPTYPE_ENUM:
        if (kind != Kind::kString && kind != Kind::kNumber) {
          return Mismatch("an enum name or number", kind);
        }
        break;
      case Cpp::CPPTYPE_INT32:
      case Cpp::CPPTYPE_INT64:
      case Cpp::CPPTYPE_UINT32:
      case Cpp::CPPTYPE_UINT64:
      case Cpp::CPPTYPE_DOUBLE:
      case Cpp::CPPTYPE_FLOAT:
        if (kind != Kind::kNumber && kind != Kind::kString) return Mismatch("a number", kind);
        break;
    }
    HM_RETURN_IF_ERROR(CountValue());
    return Scalar(kind);
  }

  std::string_view s_;
  const JsonLimits& limits_;
  size_t pos_ = 0;
  uint32_t depth_ = 0;
  size_t values_ = 0;
  std::vector<PathPart> path_;
};

// Protobuf reports "idz: Cannot find field." or "(ids): invalid value 7 for type TYPE_STRING",
// sometimes followed by lines quoting the input. Keep the first line, in our words.
std::string DescribeProtobufError(std::string_view raw) {
  std::string_view line = raw.substr(0, raw.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
  constexpr std::string_view kUnknown = ": Cannot find field.";
  if (line.ends_with(kUnknown)) {
    return "unknown field \"" + std::string(line.substr(0, line.size() - kUnknown.size())) + "\"";
  }
  if (line.starts_with("(")) {
    if (const size_t close = line.find("): "); close != std::string_view::npos) {
      return "field \"" + std::string(line.substr(1, close - 1)) +
             "\": " + std::string(line.substr(close + 3));
    }
  }
  if (line.starts_with(": ")) line.remove_prefix(2);  // About the root.
  return std::string(line);
}

}  // namespace

Status ParseJsonStrict(std::string_view json, google::protobuf::Message* out,
                       const JsonLimits& limits) {
  HM_ASSERT(limits.bytes_max <= static_cast<size_t>(INT32_MAX));
  if (json.size() > limits.bytes_max) {
    return Status::InvalidInput("the JSON is " + std::to_string(json.size()) +
                                " bytes, larger than the limit of " +
                                std::to_string(limits.bytes_max) + " bytes for this input");
  }
  ShapeCheck check(json, limits);
  HM_RETURN_IF_ERROR(check.Run(out->GetDescriptor()));

  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = limits.unknown_fields_allowed;
  const auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), out, options);
  if (!st.ok()) {
    return Status::InvalidInput(
        DescribeProtobufError(std::string_view(st.message().data(), st.message().size())));
  }
  return Status::Ok();
}

}  // namespace hallmark::core
