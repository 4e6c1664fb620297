#pragma once

// TLS for peer links: a context that speaks only TLS 1.3 with a throwaway self-signed
// certificate on each side, and the session exporter the Hello signature binds to.
//
// Certificates are deliberately not verified. A certificate says nothing about a consensus key;
// the Hello (hello.h) is what authenticates a peer, and it is bound to the TLS session through
// the exporter, so verifying certificates would add work and configuration and no security.
// Each side still presents a certificate because TLS needs one from the server, and requiring
// one from the client too keeps the two directions alike.

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "core/bytes.h"
#include "core/status.h"

namespace hallmark::node {

// A fresh TLS 1.3-only context with a new EC P-256 key and a self-signed certificate, usable
// for both accepting and dialing. Session tickets and caching are off: every connection does a
// full handshake and gets its own exporter. The returned context is thread-compatible once
// built (OpenSSL allows concurrent SSL_new from one SSL_CTX).
core::Result<std::unique_ptr<boost::asio::ssl::context>> MakePeerTlsContext();

// The 32-byte exporter value of an established TLS 1.3 session (label "EXPORTER-hallmark-p2p",
// no context). Fails if the handshake is not complete or the session is not TLS 1.3.
core::Result<core::Hash256> ExportHelloKeyingMaterial(SSL* ssl);

}  // namespace hallmark::node
