#include "wallet-cli/qr_code.h"

#include <qrencode.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <memory>

namespace hallmark::wallet {
namespace {

// Bytes a version-40 symbol holds in 8-bit byte mode at each level (ISO/IEC 18004 Table 7).
int MaxBytes(QrEcLevel level) {
  switch (level) {
    case QrEcLevel::kL:
      return 2953;
    case QrEcLevel::kM:
      return 2331;
    case QrEcLevel::kQ:
      return 1663;
    case QrEcLevel::kH:
      return 1273;
  }
  return 0;
}

QRecLevel LibLevel(QrEcLevel level) {
  switch (level) {
    case QrEcLevel::kL:
      return QR_ECLEVEL_L;
    case QrEcLevel::kM:
      return QR_ECLEVEL_M;
    case QrEcLevel::kQ:
      return QR_ECLEVEL_Q;
    case QrEcLevel::kH:
      return QR_ECLEVEL_H;
  }
  return QR_ECLEVEL_M;
}

// "25", "20.5", "14.65": millimetres with at most two decimals, for SVG attributes.
std::string Millimetres(double mm) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", mm);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

void PutU32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

void PutChunk(std::string* png, std::string_view type, std::string_view data) {
  PutU32(png, static_cast<uint32_t>(data.size()));
  std::string body(type);
  body += data;
  png->append(body);
  PutU32(png, Crc32(body));
}

const std::array<uint32_t, 256>& CrcTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  return table;
}

}  // namespace

core::Result<QrEcLevel> ParseQrEcLevel(std::string_view text) {
  if (text.size() == 1) {
    switch (text[0]) {
      case 'L':
      case 'l':
        return QrEcLevel::kL;
      case 'M':
      case 'm':
        return QrEcLevel::kM;
      case 'Q':
      case 'q':
        return QrEcLevel::kQ;
      case 'H':
      case 'h':
        return QrEcLevel::kH;
      default:
        break;
    }
  }
  return core::Status::InvalidInput("error correction level \"" + std::string(text.substr(0, 16)) +
                                    "\" must be L, M, Q or H (7, 15, 25 or 30% may be lost)");
}

std::string_view QrEcLevelName(QrEcLevel level) {
  switch (level) {
    case QrEcLevel::kL:
      return "L";
    case QrEcLevel::kM:
      return "M";
    case QrEcLevel::kQ:
      return "Q";
    case QrEcLevel::kH:
      return "H";
  }
  return "?";
}

core::Result<QrMatrix> EncodeQr(std::string_view text, QrEcLevel level) {
  const std::string too_long =
      "the text is " + std::to_string(text.size()) + " bytes; a QR code at error correction " +
      std::string(QrEcLevelName(level)) + " holds at most " + std::to_string(MaxBytes(level)) +
      " (choose a lower level, or a shorter domain)";
  if (text.empty()) return core::Status::InvalidInput("nothing to encode in a QR code");
  if (text.size() > static_cast<size_t>(MaxBytes(level))) {
    return core::Status::InvalidInput(too_long);
  }
  // Version 0: the smallest that fits. 8-bit byte mode for the whole text, as given.
  errno = 0;
  std::unique_ptr<QRcode, decltype(&QRcode_free)> code(
      QRcode_encodeData(static_cast<int>(text.size()),
                        reinterpret_cast<const unsigned char*>(text.data()), 0, LibLevel(level)),
      &QRcode_free);
  if (!code) {
    if (errno == ERANGE) return core::Status::InvalidInput(too_long);
    return core::Status::Internal("libqrencode could not encode the text (errno " +
                                  std::to_string(errno) + ")");
  }
  QrMatrix qr;
  qr.version = code->version;
  qr.size = code->width;
  if (qr.version < 1 || qr.version > 40 || qr.size != 17 + 4 * qr.version) {
    return core::Status::Internal("libqrencode returned a symbol of unexpected size");
  }
  qr.dark.resize(static_cast<size_t>(qr.size) * qr.size);
  for (size_t i = 0; i < qr.dark.size(); ++i) qr.dark[i] = code->data[i] & 1;
  return qr;
}

double DefaultQrSizeMm(const QrMatrix& qr) {
  const double needed = qr.total() * kGs1MinXDimensionMm;
  return std::ceil(std::max(kQrDefaultSizeMm, needed) * 10.0 - 1e-9) / 10.0;
}

std::string QrSvg(const QrMatrix& qr, double size_mm) {
  const int n = qr.total();
  const std::string mm = Millimetres(size_mm) + "mm";
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + mm +
         "\" height=\"" + mm + "\" viewBox=\"0 0 " + std::to_string(n) + " " + std::to_string(n) +
         "\" shape-rendering=\"crispEdges\">\n";
  svg += "<rect width=\"" + std::to_string(n) + "\" height=\"" + std::to_string(n) +
         "\" fill=\"#fff\"/>\n";
  // One rectangle per horizontal run of dark modules.
  std::string d;
  for (int y = 0; y < qr.size; ++y) {
    for (int x = 0; x < qr.size;) {
      if (!qr.Dark(x, y)) {
        ++x;
        continue;
      }
      int run = 1;
      while (x + run < qr.size && qr.Dark(x + run, y)) ++run;
      d += "M" + std::to_string(x + kQrQuietZoneModules) + " " +
           std::to_string(y + kQrQuietZoneModules) + "h" + std::to_string(run) + "v1h-" +
           std::to_string(run) + "z";
      x += run;
    }
  }
  svg += "<path fill=\"#000\" d=\"" + d + "\"/>\n</svg>\n";
  return svg;
}

std::string QrPng(const QrMatrix& qr, int scale_px, double size_mm) {
  HM_ASSERT(scale_px >= 1 && scale_px <= kQrScalePxMax);
  const uint32_t width = static_cast<uint32_t>(qr.total() * scale_px);
  const size_t row_bytes = (width + 7) / 8;
  // Each row: filter type 0 (None), then the pixels, 8 to a byte, the leftmost in the high bit.
  std::string raw;
  raw.reserve((row_bytes + 1) * width);
  std::string row(row_bytes, '\0');
  for (uint32_t py = 0; py < width; ++py) {
    const int my = static_cast<int>(py) / scale_px - kQrQuietZoneModules;
    std::fill(row.begin(), row.end(), '\0');
    for (uint32_t px = 0; px < width; ++px) {
      const int mx = static_cast<int>(px) / scale_px - kQrQuietZoneModules;
      const bool dark = mx >= 0 && my >= 0 && mx < qr.size && my < qr.size && qr.Dark(mx, my);
      if (!dark) row[px / 8] = static_cast<char>(row[px / 8] | (0x80 >> (px % 8)));
    }
    raw.push_back('\0');
    raw += row;
  }

  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  PutU32(&ihdr, width);
  PutU32(&ihdr, width);
  ihdr.push_back(1);  // Bit depth.
  ihdr.push_back(0);  // Colour type: greyscale.
  ihdr.push_back(0);  // Compression: deflate.
  ihdr.push_back(0);  // Filter method 0.
  ihdr.push_back(0);  // No interlace.
  PutChunk(&png, "IHDR", ihdr);
  std::string phys;
  const double metres = size_mm / 1000.0;
  const auto per_metre = static_cast<uint32_t>(std::lround(width / metres));
  PutU32(&phys, per_metre);
  PutU32(&phys, per_metre);
  phys.push_back(1);  // Unit: the metre.
  PutChunk(&png, "pHYs", phys);
  PutChunk(&png, "IDAT", ZlibStored(raw));
  PutChunk(&png, "IEND", "");
  return png;
}

std::string QrTerminalText(const QrMatrix& qr, bool ansi_colors) {
  const int n = qr.total();
  auto light = [&](int x, int y) {
    if (y >= n) return false;  // Below the last row: nothing to draw.
    const int mx = x - kQrQuietZoneModules, my = y - kQrQuietZoneModules;
    return !(mx >= 0 && my >= 0 && mx < qr.size && my < qr.size && qr.Dark(mx, my));
  };
  std::string out;
  for (int y = 0; y < n; y += 2) {
    if (ansi_colors) out += "\x1b[97;40m";
    for (int x = 0; x < n; ++x) {
      const bool top = light(x, y), bottom = light(x, y + 1);
      out += top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ";
    }
    if (ansi_colors) out += "\x1b[0m";
    out += "\n";
  }
  return out;
}

uint32_t Crc32(std::string_view bytes, uint32_t crc) {
  const auto& table = CrcTable();
  uint32_t c = crc ^ 0xFFFFFFFFu;
  for (char ch : bytes) c = table[(c ^ static_cast<uint8_t>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t Adler32(std::string_view bytes, uint32_t adler) {
  constexpr uint32_t kMod = 65521;
  uint32_t a = adler & 0xFFFF, b = adler >> 16;
  for (char ch : bytes) {
    a = (a + static_cast<uint8_t>(ch)) % kMod;
    b = (b + a) % kMod;
  }
  return (b << 16) | a;
}

std::string ZlibStored(std::string_view data) {
  constexpr size_t kBlockMax = 65535;
  // CMF 0x78: deflate with a 32 KiB window; FLG 0x01: no dictionary, level 0, and
  // (CMF × 256 + FLG) a multiple of 31.
  std::string out("\x78\x01", 2);
  size_t pos = 0;
  do {
    const size_t len = std::min(kBlockMax, data.size() - pos);
    const bool last = pos + len == data.size();
    out.push_back(last ? 1 : 0);  // BFINAL, BTYPE 00; the rest of the byte is padding.
    out.push_back(static_cast<char>(len & 0xFF));
    out.push_back(static_cast<char>(len >> 8));
    out.push_back(static_cast<char>(~len & 0xFF));
    out.push_back(static_cast<char>((~len >> 8) & 0xFF));
    out.append(data.substr(pos, len));
    pos += len;
  } while (pos < data.size());
  PutU32(&out, Adler32(data));
  return out;
}

}  // namespace hallmark::wallet
