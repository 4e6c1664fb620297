#pragma once

// The one way JSON from outside becomes a Protobuf message: API request bodies, the CLI's
// answers from nodes, saved proof bundles, key share and keystore files, config.json and
// genesis.json all go through ParseJsonStrict.
//
// Protobuf's own JSON parser is lenient about shape (it reads `{"ids":[["a"]]}` as a flat list
// and accepts `[null]`) and spends far more memory than the input's size on some shapes (about
// 150 bytes per input byte on nested arrays). So before it runs, a token scanner checks the
// input's shape against the message's descriptor: sizes, depth and value counts are bounded,
// and every key and value kind is one the message can hold. The scanner builds no values; the
// values themselves are still read by Protobuf, with unknown fields refused.

#include <google/protobuf/message.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/limits.h"
#include "core/status.h"

namespace hallmark::core {

// Bounds on one JSON text. Value type; each kind of input has its own (below).
struct JsonLimits {
  size_t bytes_max = 1024 * 1024;
  // Objects and arrays open at once. Our messages nest a few levels; 16 leaves room.
  uint32_t depth_max = limits::kMaxJsonDepth;
  // Every value counted once: objects, arrays, array elements and field values. Protobuf's
  // memory grows with this count, so it bounds memory where bytes_max alone would not.
  size_t values_max = 100'000;
  // Keys the message does not have are refused unless this is set, for the CLI reading a newer
  // node's answers. Their values are then skipped, still within the depth and value bounds.
  bool unknown_fields_allowed = false;
};

// The limits of each kind of JSON input; the numbers and their reasons are in limits.h.
// API request bodies (node/http/content.cpp).
inline constexpr JsonLimits kApiRequestJsonLimits{.bytes_max = limits::kMaxApiRequestJsonBytes,
                                                  .values_max = limits::kMaxApiRequestJsonValues};
// The CLI's answers from a node. Fields this version does not know are skipped, so that a newer
// node still works with an older CLI (proof bundles excepted: see below).
inline constexpr JsonLimits kApiAnswerJsonLimits{.bytes_max = limits::kMaxApiAnswerJsonBytes,
                                                 .values_max = limits::kMaxApiAnswerJsonValues,
                                                 .unknown_fields_allowed = true};
// Proof bundles, saved or served: unknown fields refused at every level (docs/proofs.md).
inline constexpr JsonLimits kProofBundleJsonLimits{.bytes_max = limits::kMaxProofBundleJsonBytes,
                                                   .values_max = limits::kMaxProofBundleJsonValues};
inline constexpr JsonLimits kGenesisJsonLimits{.bytes_max = limits::kMaxGenesisBytes,
                                               .values_max = limits::kMaxGenesisJsonValues};
inline constexpr JsonLimits kConfigJsonLimits{.bytes_max = limits::kMaxConfigJsonBytes,
                                              .values_max = limits::kMaxConfigJsonValues};
// Keystore and key share files.
inline constexpr JsonLimits kKeyFileJsonLimits{.bytes_max = limits::kMaxKeyFileJsonBytes,
                                               .values_max = limits::kMaxKeyFileJsonValues};

// Custody proof files and their copies in a check request (core/custody_proof.h).
inline constexpr JsonLimits kCustodyProofJsonLimits{
    .bytes_max = limits::kMaxCustodyProofJsonBytes,
    .values_max = limits::kMaxCustodyProofJsonValues};

// Checks `json`'s shape against `out`'s type, then parses it into `out` through Protobuf's JSON
// mapping. Refused with kInvalidInput and a one-line message naming the place, e.g.
// `field "history[0]": an array inside an array is not allowed`:
//   - more than bytes_max bytes, nesting deeper than depth_max, more than values_max values;
//   - malformed JSON, anything but one object at the top, trailing text;
//   - a key the message does not know (by proto name or JSON name), unless allowed; a key
//     written with escapes;
//   - an object where the field is not a message or a map, an array where it is not repeated;
//     an array inside an array, null inside an array;
//   - a value of the wrong kind for the field (a number for a string, a string for a message…);
//   - then whatever Protobuf refuses (a bad enum name, bad base64, a number out of range).
// The message is not prefixed; callers add what the input was ("genesis.json: …").
Status ParseJsonStrict(std::string_view json, google::protobuf::Message* out,
                       const JsonLimits& limits);

}  // namespace hallmark::core
