// System-library wrapper for OpenSSL 3 (Debian's libssl-dev). Only VerseGRPC's TLS
// handler imports it. OpenSSL exposes several calls as function-like macros, which
// Swift cannot import; each forwarder below names the macro it stands for.
#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/x509v3.h>
#include <string.h>

// SSL_CTX_set_min_proto_version is a macro over SSL_CTX_ctrl.
static inline int COpenSSL_CTX_setMinTLS12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

// SSL_set_tlsext_host_name (SNI) is a macro over SSL_ctrl.
static inline int COpenSSL_setServerName(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

// BIO_pending is a macro over BIO_ctrl.
static inline long COpenSSL_BIO_pending(BIO *bio) { return (long)BIO_pending(bio); }

// A server's ALPN choice: `wanted` (length-prefixed, as on the wire) if the client
// offers it, else a fatal alert: a client that offers ALPN without it is refused
// rather than answered in a protocol it did not ask for. A client that sends no ALPN
// at all is not refused (the callback is not called).
static inline int COpenSSL_selectOnly(const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                                      unsigned int inlen, const unsigned char *wanted, unsigned int wantedlen) {
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, wanted, wantedlen, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

// gRPC requires HTTP/2, so a gRPC server offers only "h2".
static int COpenSSL_selectH2(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                             const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    static const unsigned char h2[] = {2, 'h', '2'};
    return COpenSSL_selectOnly(out, outlen, in, inlen, h2, sizeof(h2));
}

static inline void COpenSSL_CTX_acceptOnlyH2(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, COpenSSL_selectH2, NULL);
}

// The HTTP gate's port (browsers, curl): "h2" when the client offers it, else "http/1.1".
static int COpenSSL_selectH2OrHTTP11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                     const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    static const unsigned char both[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    return COpenSSL_selectOnly(out, outlen, in, inlen, both, sizeof(both));
}

static inline void COpenSSL_CTX_acceptH2OrHTTP11(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, COpenSSL_selectH2OrHTTP11, NULL);
}

// Client side: offer "h2" (SSL_set_alpn_protos returns 0 on success, unlike most calls).
static inline int COpenSSL_offerH2(SSL *ssl) {
    static const unsigned char h2[] = {2, 'h', '2'};
    return SSL_set_alpn_protos(ssl, h2, sizeof(h2));
}

// Returns 1 when ALPN settled on "h2".
static inline int COpenSSL_negotiatedH2(const SSL *ssl) {
    const unsigned char *proto = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl, &proto, &len);
    return len == 2 && memcmp(proto, "h2", 2) == 0;
}
#endif
