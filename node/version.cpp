#include "node/version.h"

namespace hallmark::node {

std::string_view Version() {
  return "0.1.0";
}

}  // namespace hallmark::node
