import CProtobufC
import VerseCodec

/// A protobuf message as a Swift value. Generated code (tools/gen_swift_protos.py)
/// conforms each message in proto/ to it; the wire format itself is protobuf-c's job.
public protocol ProtoMessage: WireMessage, Equatable where Encoding == EncodedProto {
    static var protoDescriptor: ProtoDescriptor { get }
    init()
    /// Copies the fields out of a message protobuf-c has decoded.
    init(reading reader: ProtoReader)
    /// Copies the fields into a C message that protobuf-c will encode.
    func write(to writer: ProtoWriter)
}

/// A protobuf enum: open, so numbers this build does not know survive a round trip.
public protocol ProtoEnum: RawRepresentable, Sendable, Hashable where RawValue == Int32 {
    init(rawValue: Int32)
}

/// The bytes were not a valid encoding of the expected message.
public struct ProtoDecodingError: Error, CustomStringConvertible, Equatable {
    public let messageName: String
    public let byteCount: Int
    public var description: String { "invalid \(messageName) (\(byteCount) bytes)" }
}

extension ProtoMessage {
    /// The full protobuf name, e.g. `chat.ChatMessage`.
    public static var protoMessageName: String { protoDescriptor.fullName }

    // The codec seam (VerseCodec): how the transport carries protobuf messages.
    public static var wireName: String { protoMessageName }
    public func wireEncoding() -> EncodedProto { encoded() }
    public init(wireBytes bytes: UnsafeRawBufferPointer) throws { try self.init(serializedBytes: bytes) }

    /// Decodes `bytes` with protobuf-c.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        let descriptor = Self.protoDescriptor
        // protobuf-c wants a non-null pointer even for an empty message.
        var empty: UInt8 = 0
        let decoded: UnsafeMutablePointer<ProtobufCMessage>? = withUnsafeMutablePointer(to: &empty) { emptyPointer in
            let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(emptyPointer)
            return protobuf_c_message_unpack(descriptor.pointer, nil, bytes.count, base)
        }
        guard let decoded else {
            throw ProtoDecodingError(messageName: descriptor.fullName, byteCount: bytes.count)
        }
        defer { protobuf_c_message_free_unpacked(decoded, nil) }
        self.init(reading: ProtoReader(message: UnsafeRawPointer(decoded), descriptor: descriptor))
    }

    public init<Bytes: Sequence>(serializedBytes bytes: Bytes) throws where Bytes.Element == UInt8 {
        let array = Array(bytes)
        self = try array.withUnsafeBytes { try Self(serializedBytes: $0) }
    }

    /// Builds the C form of this message, ready for protobuf-c to size and encode.
    public func encoded() -> EncodedProto {
        let writer = ProtoWriter(descriptor: Self.protoDescriptor, arena: ProtoArena())
        write(to: writer)
        return EncodedProto(writer: writer)
    }

    /// The protobuf encoding of this message.
    public func serializedBytes() -> [UInt8] {
        encoded().bytes()
    }
}

/// A message in protobuf-c's C form: its encoded size is known before any byte is
/// written, so callers can encode straight into their own buffer (e.g. after a gRPC
/// length prefix) without an intermediate copy.
public struct EncodedProto: WireEncoding {
    let writer: ProtoWriter

    private var cMessage: UnsafePointer<ProtobufCMessage> {
        UnsafePointer(writer.base.assumingMemoryBound(to: ProtobufCMessage.self))
    }

    /// Encoded size in bytes.
    public var count: Int { protobuf_c_message_get_packed_size(cMessage) }

    /// Encodes into `buffer`, which must hold at least `count` bytes; returns bytes written.
    /// A caller that already asked for `count` passes it as `knownCount` (measuring
    /// walks the whole message).
    @discardableResult
    public func write(into buffer: UnsafeMutableRawBufferPointer, knownCount: Int? = nil) -> Int {
        let size = knownCount ?? count
        precondition(buffer.count >= size, "buffer too small for encoded message")
        guard size > 0, let base = buffer.baseAddress else { return 0 }
        return withExtendedLifetime(writer.arena) {
            protobuf_c_message_pack(cMessage, base.assumingMemoryBound(to: UInt8.self))
        }
    }

    public func bytes() -> [UInt8] {
        let size = count
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            initialized = write(into: UnsafeMutableRawBufferPointer(buffer), knownCount: size)
        }
    }
}
