#pragma once

#include <string_view>

namespace hallmark::node {

// The version string hallmarkd and the API report.
std::string_view Version();

}  // namespace hallmark::node
