import VerseGRPC

/// Who a client is, as verified at Register.
public struct Identity: Sendable, Equatable {
    public var user: String
    public init(user: String) { self.user = user }
}

/// Verifies a client's credentials from its Register metadata. Throw UNAUTHENTICATED
/// (with a message the user can act on) to refuse.
public protocol Authenticator: Sendable {
    func authenticate(_ metadata: Metadata) async throws -> Identity
}

/// User name from `x-username` and one shared password in `x-password`: the chat
/// service's scheme (demo password 000000 unless configured).
public struct SharedPasswordAuthenticator: Authenticator {
    public let password: String

    public init(password: String) {
        self.password = password
    }

    /// 1 to 32 printable characters, no white space.
    public static func validate(userName: String) throws {
        guard !userName.isEmpty else { throw VerseError(.unauthenticated, "missing x-username") }
        guard userName.count <= 32 else {
            throw VerseError(.unauthenticated, "user name longer than 32 characters")
        }
        guard userName.unicodeScalars.allSatisfy({ !$0.properties.isWhitespace && $0.value >= 0x21 && $0.value != 0x7f
                && !(0x80...0x9f).contains($0.value) }) else {
            throw VerseError(.unauthenticated, "user name must be printable with no spaces")
        }
    }

    public func authenticate(_ metadata: Metadata) async throws -> Identity {
        let user = metadata["x-username"] ?? ""
        try Self.validate(userName: user)
        guard let given = metadata["x-password"] else { throw VerseError(.unauthenticated, "missing x-password") }
        guard given == password else { throw VerseError(.unauthenticated, "wrong password for \(ClientInput.brief(user))") }
        return Identity(user: user)
    }
}

/// No credentials required; the user name is `x-username` if given (validated), else
/// `anonymous`. For tests and trusted networks.
public struct OpenAuthenticator: Authenticator {
    public init() {}

    public func authenticate(_ metadata: Metadata) async throws -> Identity {
        guard let user = metadata["x-username"] else { return Identity(user: "anonymous") }
        try SharedPasswordAuthenticator.validate(userName: user)
        return Identity(user: user)
    }
}
