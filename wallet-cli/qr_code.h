#pragma once

// QR code symbols for `hallmark qr` (docs/page.md): a text (an item's GS1 Digital Link) encoded
// by libqrencode, and the symbol drawn as SVG, as PNG or as text for a terminal. The PNG is
// written here, without an image library: IHDR, pHYs, IDAT holding a zlib stream of stored
// (uncompressed) deflate blocks, IEND (PNG: ISO/IEC 15948 / W3C PNG 2nd edition; zlib: RFC 1950;
// deflate: RFC 1951). Pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hallmark::wallet {

// Light modules around the symbol on every side, as ISO/IEC 18004 asks for QR Code.
inline constexpr int kQrQuietZoneModules = 4;
// GS1 General Specifications §5.12.3.1 (symbol specification table for GS1 Digital Link QR
// Code scanned at retail point of sale): X-dimension (module size) 0.396 mm to 0.990 mm, quiet
// zone 4X. As summarised by GS1 UK, "How big should a QR code powered by GS1 be?",
// https://www.gs1uk.org/knowledge-hub/qr-codes-powered-by-gs1/how-big-should-a-qr-code-powered-by-gs1-be
inline constexpr double kGs1MinXDimensionMm = 0.396;
inline constexpr double kGs1MaxXDimensionMm = 0.990;
// The printed width of a symbol, quiet zone included, when none is asked for: at least 20 mm, and
// wider when the symbol needs it to keep the X-dimension at GS1's minimum.
inline constexpr double kQrDefaultSizeMm = 20.0;
// What --size and --scale accept.
inline constexpr double kQrSizeMmMin = 5.0;
inline constexpr double kQrSizeMmMax = 1000.0;
inline constexpr int kQrScalePxMax = 64;
// A PNG without --scale gets enough pixels per module for this resolution at its print size
// (and at least kQrPngScalePxMin).
inline constexpr double kQrPngDefaultDpi = 300.0;
inline constexpr int kQrPngScalePxMin = 8;

// QR Code error correction: about 7, 15, 25 and 30% of the symbol may be lost.
enum class QrEcLevel { kL, kM, kQ, kH };
// "L", "M", "Q" or "H" (either case); InvalidInput otherwise.
core::Result<QrEcLevel> ParseQrEcLevel(std::string_view text);
std::string_view QrEcLevelName(QrEcLevel level);

// One QR Code symbol, without its quiet zone. Value type.
struct QrMatrix {
  int version = 0;            // 1..40.
  int size = 0;               // Modules per side: 17 + 4 × version.
  std::vector<uint8_t> dark;  // size × size, row by row from the top: 1 dark, 0 light.

  bool Dark(int x, int y) const { return dark[static_cast<size_t>(y) * size + x] != 0; }
  // Modules per side with the quiet zone on both sides.
  int total() const { return size + 2 * kQrQuietZoneModules; }
};

// The smallest symbol holding `text` in 8-bit byte mode at `level` (libqrencode). InvalidInput
// when it does not fit a version-40 symbol at that level (saying so, and how much fits).
core::Result<QrMatrix> EncodeQr(std::string_view text, QrEcLevel level);

// The width to print at when none is asked for (see kQrDefaultSizeMm), in mm, rounded up to
// 0.1 mm.
double DefaultQrSizeMm(const QrMatrix& qr);

// An SVG document: a white square and one black <path> covering exactly the dark modules; the
// viewBox counts modules (quiet zone included), width and height are `size_mm` millimetres.
std::string QrSvg(const QrMatrix& qr, double size_mm);

// A PNG image: 1-bit greyscale (0 black, 1 white), `scale_px` pixels per module, the quiet zone
// included; its pHYs chunk says how many pixels per metre make it `size_mm` wide when printed.
// REQUIRES: 1 <= scale_px <= kQrScalePxMax.
std::string QrPng(const QrMatrix& qr, int scale_px, double size_mm);

// The symbol as lines of text, two module rows per line, quiet zone included: light modules are
// drawn with the Unicode block elements █ ▀ ▄ and dark ones are spaces, so the code reads on a
// dark-background terminal (the convention of `qrencode -t UTF8`). With `ansi_colors`, each line
// sets white on black itself, so that it reads on any terminal.
std::string QrTerminalText(const QrMatrix& qr, bool ansi_colors);

// CRC-32 as PNG uses it (ISO 3309 / ITU-T V.42: polynomial 0xEDB88320 reflected, initial and
// final XOR 0xFFFFFFFF). `crc` continues an earlier value.
uint32_t Crc32(std::string_view bytes, uint32_t crc = 0);
// Adler-32 (RFC 1950 §9). `adler` continues an earlier value (1 to start).
uint32_t Adler32(std::string_view bytes, uint32_t adler = 1);
// A zlib stream (RFC 1950) holding `data` in stored deflate blocks (RFC 1951 §3.2.4, BTYPE 00,
// at most 65,535 bytes each), with its Adler-32.
std::string ZlibStored(std::string_view data);

}  // namespace hallmark::wallet
