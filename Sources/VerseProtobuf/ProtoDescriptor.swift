import CProtobufC

/// A protoc-c message descriptor: the C codec's description of one message type.
///
/// `@unchecked Sendable` because it points at `const` static data that protoc-c
/// generated; nothing ever writes to it, so any thread may read it.
public struct ProtoDescriptor: @unchecked Sendable {
    public let pointer: UnsafePointer<ProtobufCMessageDescriptor>

    public init(_ pointer: UnsafePointer<ProtobufCMessageDescriptor>) {
        self.pointer = pointer
    }

    /// The full protobuf name, e.g. `chat.ChatMessage`.
    public var fullName: String { String(cString: pointer.pointee.name) }

    /// The field with this number. Generated code only asks for numbers the .proto
    /// declares, so a miss means the generated Swift and C disagree: a build bug.
    func field(_ number: Int32) -> UnsafePointer<ProtobufCFieldDescriptor> {
        guard let field = protobuf_c_message_descriptor_get_field(pointer, UInt32(number)) else {
            preconditionFailure("\(fullName) has no field \(number): regenerate with `make proto`")
        }
        return field
    }
}

extension UnsafePointer<ProtobufCFieldDescriptor> {
    var offset: Int { Int(pointee.offset) }
    var quantifierOffset: Int { Int(pointee.quantifier_offset) }
    var isOneofMember: Bool { CProtobufC_isOneofMember(self) != 0 }
    var hasPresenceFlag: Bool { CProtobufC_hasPresenceFlag(self) != 0 }
}
