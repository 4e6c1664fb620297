#include "node/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/status.h"

namespace hallmark::node {
namespace {

bool IsMetricNameChar(char c, bool first) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  return alpha || (!first && c >= '0' && c <= '9');
}

bool ValidMetricName(std::string_view name) {
  if (!name.starts_with("hallmark_")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsMetricNameChar(name[i], i == 0)) return false;
  }
  return true;
}

bool ValidLabelName(std::string_view name) {
  if (name.empty() || name == "le" || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == ':' || !IsMetricNameChar(name[i], i == 0)) return false;
  }
  return true;
}

// HELP text escapes only backslash and newline (quotes are fine there).
std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void AppendDouble(std::string* out, double v) {
  if (std::isnan(v)) {
    *out += "NaN";
  } else if (std::isinf(v)) {
    *out += v > 0 ? "+Inf" : "-Inf";
  } else {
    // Shortest round-trip digits; plain notation for everyday magnitudes so that bucket bounds
    // read as le="0.0005" (as other Prometheus clients write them), exponents only far out.
    char buf[64];
    double magnitude = std::fabs(v);
    bool plain = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e21);
    auto [end, ec] =
        std::to_chars(buf, buf + sizeof(buf), v,
                      plain ? std::chars_format::fixed : std::chars_format::scientific);
    HM_ASSERT(ec == std::errc());
    out->append(buf, end);
  }
}

void AppendUint(std::string* out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  HM_ASSERT(ec == std::errc());
  out->append(buf, end);
}

// name{labels[,extra]} — braces only when there is at least one label.
void AppendSeriesName(std::string* out, std::string_view name, std::string_view suffix,
                      std::string_view labels, std::string_view extra) {
  *out += name;
  *out += suffix;
  if (labels.empty() && extra.empty()) return;
  *out += '{';
  *out += labels;
  if (!labels.empty() && !extra.empty()) *out += ',';
  *out += extra;
  *out += '}';
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Histogram::Histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds.begin(), upper_bounds.end()),
      counts_(new std::atomic<uint64_t>[upper_bounds.size() + 1]) {
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    HM_ASSERT_MSG(std::isfinite(upper_bounds_[i]), "histogram bounds must be finite");
    HM_ASSERT_MSG(i == 0 || upper_bounds_[i - 1] < upper_bounds_[i],
                  "histogram bounds must increase");
  }
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  // A bucket counts values <= its bound (Prometheus "le"); NaN falls through to +Inf.
  size_t i = static_cast<size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  if (std::isnan(value)) i = upper_bounds_.size();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot s;
  s.upper_bounds = upper_bounds_;
  s.cumulative.resize(upper_bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

MetricsRegistry::Series& MetricsRegistry::FindOrAdd(std::string_view name, std::string_view help,
                                                    Type type, std::span<const double> upper_bounds,
                                                    MetricLabels labels) {
  HM_ASSERT_MSG(ValidMetricName(name), std::string(name).c_str());
  std::sort(labels.begin(), labels.end());
  std::string key;
  for (size_t i = 0; i < labels.size(); ++i) {
    HM_ASSERT_MSG(ValidLabelName(labels[i].first), labels[i].first.c_str());
    HM_ASSERT_MSG(i == 0 || labels[i - 1].first != labels[i].first, "duplicate label name");
    if (i > 0) key += ',';
    key += labels[i].first;
    key += "=\"";
    key += EscapeLabelValue(labels[i].second);
    key += '"';
  }

  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    Family family;
    family.type = type;
    family.help = std::string(help);
    family.upper_bounds.assign(upper_bounds.begin(), upper_bounds.end());
    it = families_.emplace(std::string(name), std::move(family)).first;
  }
  Family& family = it->second;
  HM_ASSERT_MSG(family.type == type, "a metric name was registered with two types");
  HM_ASSERT_MSG(family.help == help, "a metric name was registered with two help texts");
  HM_ASSERT_MSG(std::equal(family.upper_bounds.begin(), family.upper_bounds.end(),
                           upper_bounds.begin(), upper_bounds.end()),
                "a histogram was registered with two sets of buckets");

  auto [series_it, inserted] = family.series.try_emplace(std::move(key));
  Series& series = series_it->second;
  if (inserted) {
    switch (type) {
      case Type::kCounter:
        series.counter = std::make_unique<Counter>();
        break;
      case Type::kGauge:
        series.gauge = std::make_unique<Gauge>();
        break;
      case Type::kHistogram:
        series.histogram = std::make_unique<Histogram>(upper_bounds);
        break;
    }
  }
  return series;
}

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     MetricLabels labels) {
  return *FindOrAdd(name, help, Type::kCounter, {}, std::move(labels)).counter;
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 MetricLabels labels) {
  return *FindOrAdd(name, help, Type::kGauge, {}, std::move(labels)).gauge;
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         std::span<const double> upper_bounds,
                                         MetricLabels labels) {
  return *FindOrAdd(name, help, Type::kHistogram, upper_bounds, std::move(labels)).histogram;
}

std::string MetricsRegistry::Render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& [name, family] : families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += EscapeHelp(family.help);
    out += "\n# TYPE ";
    out += name;
    switch (family.type) {
      case Type::kCounter:
        out += " counter\n";
        break;
      case Type::kGauge:
        out += " gauge\n";
        break;
      case Type::kHistogram:
        out += " histogram\n";
        break;
    }
    for (const auto& [labels, series] : family.series) {
      switch (family.type) {
        case Type::kCounter:
          AppendSeriesName(&out, name, "", labels, "");
          out += ' ';
          AppendUint(&out, series.counter->value());
          out += '\n';
          break;
        case Type::kGauge:
          AppendSeriesName(&out, name, "", labels, "");
          out += ' ';
          AppendDouble(&out, series.gauge->value());
          out += '\n';
          break;
        case Type::kHistogram: {
          Histogram::Snapshot snap = series.histogram->Take();
          for (size_t i = 0; i < snap.cumulative.size(); ++i) {
            std::string le = "le=\"";
            if (i < snap.upper_bounds.size()) {
              AppendDouble(&le, snap.upper_bounds[i]);
            } else {
              le += "+Inf";
            }
            le += '"';
            AppendSeriesName(&out, name, "_bucket", labels, le);
            out += ' ';
            AppendUint(&out, snap.cumulative[i]);
            out += '\n';
          }
          AppendSeriesName(&out, name, "_sum", labels, "");
          out += ' ';
          AppendDouble(&out, snap.sum);
          out += '\n';
          AppendSeriesName(&out, name, "_count", labels, "");
          out += ' ';
          AppendUint(&out, snap.count);
          out += '\n';
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace hallmark::node
