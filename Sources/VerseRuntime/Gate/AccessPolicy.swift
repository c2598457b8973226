/// What clients may do through the gate. Anything not allowed is PERMISSION_DENIED;
/// the node service itself is never reachable through the gate.
public struct AccessPolicy: Sendable {
    /// `Type/Method` pairs clients may call (`Type/*` for every method); nil: all.
    public var calls: Set<String>?
    /// Object types clients may create or delete explicitly.
    public var creatable: Set<String>
    public var deletable: Set<String>
    /// Create/Delete need a registered client on the connection.
    public var requiresSession: Bool
    /// `Type/Method` pairs (also allowed by `calls`) that need no registered client:
    /// a call with an empty client id may make only these. Every other call without a
    /// client is UNAUTHENTICATED.
    public var publicCalls: Set<String>

    public init(calls: Set<String>?, creatable: Set<String> = [], deletable: Set<String> = [], requiresSession: Bool = true,
                publicCalls: Set<String> = []) {
        self.calls = calls
        self.creatable = creatable
        self.deletable = deletable
        self.requiresSession = requiresSession
        self.publicCalls = publicCalls
    }

    public func isPublic(type: String, method: String) -> Bool {
        publicCalls.contains("\(type)/\(method)") || publicCalls.contains("\(type)/*")
    }

    /// Every call, create and delete: for tests and trusted clients.
    public static let allowAll = AccessPolicy(calls: nil, creatable: ["*"], deletable: ["*"], requiresSession: false)

    public func allowsCall(type: String, method: String) -> Bool {
        guard let calls else { return true }
        return calls.contains("\(type)/\(method)") || calls.contains("\(type)/*")
    }

    public func allowsCreate(type: String) -> Bool { creatable.contains(type) || creatable.contains("*") }
    public func allowsDelete(type: String) -> Bool { deletable.contains(type) || deletable.contains("*") }
}
