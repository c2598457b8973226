import COpenSSL

/// TLS settings for a server (certificate chain + key) or a client (trust roots and
/// the name to verify). TLS 1.2 and 1.3, ALPN "h2" only.
public struct TLSConfiguration: Sendable {
    /// Server: PEM certificate chain file.
    public var certificateChainFile: String?
    /// Server: PEM private key file.
    public var privateKeyFile: String?
    /// Client: PEM file of CA certificates to trust; nil uses the system's roots.
    public var trustRootsFile: String?
    /// Client: the name sent in SNI and checked against the server certificate;
    /// nil uses the host connected to.
    public var serverNameOverride: String?

    public static func server(certificateChainFile: String, privateKeyFile: String) -> TLSConfiguration {
        TLSConfiguration(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile)
    }

    public static func client(trustRootsFile: String? = nil, serverNameOverride: String? = nil) -> TLSConfiguration {
        TLSConfiguration(trustRootsFile: trustRootsFile, serverNameOverride: serverNameOverride)
    }
}

/// A TLS setup error, with OpenSSL's own reason.
public struct TLSError: Error, CustomStringConvertible {
    public let description: String

    init(_ what: String) {
        self.description = "\(what): \(TLSError.drainOpenSSLErrors())"
    }

    init(plain: String) {
        self.description = plain
    }

    /// Pops OpenSSL's thread-local error queue into one line.
    static func drainOpenSSLErrors() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons.isEmpty ? "unknown OpenSSL error" : reasons.joined(separator: "; ")
    }
}

/// An OpenSSL SSL_CTX configured once and shared by every connection.
///
/// `@unchecked Sendable`: after init the context is only read (SSL_new), which
/// OpenSSL documents as thread-safe.
final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    let isServer: Bool
    let serverNameOverride: String?

    /// What a server's ALPN settles on: gRPC's "h2"; for the HTTP gate, "h2" or
    /// "http/1.1" (h2 first).
    enum ServerProtocol { case h2, h2OrHTTP11 }

    init(server configuration: TLSConfiguration, protocol serverProtocol: ServerProtocol = .h2) throws {
        guard let certificate = configuration.certificateChainFile, let key = configuration.privateKeyFile else {
            throw TLSError(plain: "a TLS server needs a certificate chain file and a private key file")
        }
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError("SSL_CTX_new failed") }
        self.context = context
        self.isServer = true
        self.serverNameOverride = nil
        guard COpenSSL_CTX_setMinTLS12(context) == 1 else { throw TLSError("cannot require TLS 1.2") }
        guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1 else {
            throw TLSError("cannot load certificate chain \(certificate)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
            throw TLSError("cannot load private key \(key)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError("private key \(key) does not match certificate \(certificate)")
        }
        switch serverProtocol {
        case .h2: COpenSSL_CTX_acceptOnlyH2(context)
        case .h2OrHTTP11: COpenSSL_CTX_acceptH2OrHTTP11(context)
        }
    }

    init(client configuration: TLSConfiguration) throws {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw TLSError("SSL_CTX_new failed") }
        self.context = context
        self.isServer = false
        self.serverNameOverride = configuration.serverNameOverride
        guard COpenSSL_CTX_setMinTLS12(context) == 1 else { throw TLSError("cannot require TLS 1.2") }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let roots = configuration.trustRootsFile {
            guard SSL_CTX_load_verify_locations(context, roots, nil) == 1 else {
                throw TLSError("cannot load trust roots \(roots)")
            }
        } else {
            guard SSL_CTX_set_default_verify_paths(context) == 1 else { throw TLSError("cannot load system trust roots") }
        }
    }

    deinit {
        SSL_CTX_free(context)
    }
}
