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
        // protoc-c lists fields in number order, and most messages number them 1, 2, 3...:
        // then field N sits at index N-1, with no search. Anything else takes the search.
        let index = Int(number) - 1
        if index >= 0, index < Int(pointer.pointee.n_fields), let fields = pointer.pointee.fields,
           fields[index].id == UInt32(number) {
            return fields + index
        }
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
