/// `google.protobuf.Any`: a message together with the type URL that names it.
///
/// The payload stays as encoded bytes; code that only forwards an Any (the gate) never
/// decodes it, and re-encoding the Any copies the bytes as they are.
public typealias ProtoAny = Google_Protobuf_Any

/// An Any held a different message type than the one asked for.
public struct ProtoAnyTypeMismatch: Error, CustomStringConvertible, Equatable {
    public let expected: String
    public let actual: String
    public var description: String { "expected Any of type \(expected), got \(actual.isEmpty ? "an empty type URL" : actual)" }
}

extension Google_Protobuf_Any {
    public static let typeURLPrefix = "type.googleapis.com/"

    /// Packs `message` with the URL `type.googleapis.com/<full name>`.
    public init<M: ProtoMessage>(packing message: M) {
        self.init()
        self.typeUrl = M.typeURL
        self.value = message.serializedBytes()
    }

    /// The message name after the last `/` of the type URL.
    public var typeName: String {
        guard let slash = typeUrl.lastIndex(of: "/") else { return typeUrl }
        return String(typeUrl[typeUrl.index(after: slash)...])
    }

    public func holds<M: ProtoMessage>(_ type: M.Type) -> Bool {
        typeName == M.protoMessageName
    }

    /// Decodes the payload as `M`; throws ProtoAnyTypeMismatch when the URL names
    /// another type and ProtoDecodingError when the bytes are not a valid `M`.
    public func unpack<M: ProtoMessage>(_ type: M.Type) throws -> M {
        guard holds(type) else {
            throw ProtoAnyTypeMismatch(expected: M.protoMessageName, actual: typeUrl)
        }
        return try M(serializedBytes: value)
    }
}

extension ProtoMessage {
    /// `type.googleapis.com/<full name>`: the Any type URL for this message.
    public static var typeURL: String { Google_Protobuf_Any.typeURLPrefix + protoMessageName }
}
