#include "node/http/message.h"

namespace hallmark::node {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool PercentDecode(std::string_view in, std::string* out, bool plus_is_space) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

std::string_view Request::path() const {
  std::string_view t = target();
  size_t q = t.find('?');
  return q == std::string_view::npos ? t : t.substr(0, q);
}

std::string_view Request::query_string() const {
  std::string_view t = target();
  size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::string_view Request::param(std::string_view name) const {
  for (size_t i = 0; i < param_count_; ++i) {
    if (param_names_[i] == name) return param_values_[i];
  }
  return {};
}

std::optional<std::string> Request::query(std::string_view name) const {
  std::string_view rest = query_string();
  std::string decoded_name;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (!PercentDecode(key, &decoded_name, true)) decoded_name.assign(key);
    if (decoded_name != name) continue;
    std::string out;
    if (!PercentDecode(value, &out, true)) out.assign(value);
    return out;
  }
  return std::nullopt;
}

std::string_view Request::header(std::string_view name) const {
  return message_[name];
}

}  // namespace hallmark::node
