import CProtobufC

/// Reads the fields of a message that protobuf-c has decoded, by field number.
/// Offsets and presence come from the C descriptor, so Swift never depends on the
/// layout or names protoc-c chose for its structs.
public struct ProtoReader {
    let base: UnsafeRawPointer
    let descriptor: ProtoDescriptor

    init(message: UnsafeRawPointer, descriptor: ProtoDescriptor) {
        self.base = message
        self.descriptor = descriptor
    }

    private func load<T>(_ number: Int32, as type: T.Type) -> T {
        base.loadUnaligned(fromByteOffset: descriptor.field(number).offset, as: T.self)
    }

    /// For a oneof member: whether it is the member that is set.
    public func has(_ number: Int32) -> Bool {
        let field = descriptor.field(number)
        if field.isOneofMember {
            return base.loadUnaligned(fromByteOffset: field.quantifierOffset, as: UInt32.self) == UInt32(number)
        }
        if field.hasPresenceFlag {
            return base.loadUnaligned(fromByteOffset: field.quantifierOffset, as: Int32.self) != 0
        }
        return true
    }

    public func int32(_ number: Int32) -> Int32 { load(number, as: Int32.self) }
    public func uint32(_ number: Int32) -> UInt32 { load(number, as: UInt32.self) }
    public func int64(_ number: Int32) -> Int64 { load(number, as: Int64.self) }
    public func uint64(_ number: Int32) -> UInt64 { load(number, as: UInt64.self) }
    public func bool(_ number: Int32) -> Bool { load(number, as: Int32.self) != 0 }
    public func float(_ number: Int32) -> Float { load(number, as: Float.self) }
    public func double(_ number: Int32) -> Double { load(number, as: Double.self) }
    public func enumValue<E: ProtoEnum>(_ number: Int32) -> E { E(rawValue: load(number, as: Int32.self)) }

    public func string(_ number: Int32) -> String {
        Self.string(load(number, as: UnsafePointer<CChar>?.self))
    }

    public func bytes(_ number: Int32) -> [UInt8] {
        Self.bytes(load(number, as: ProtobufCBinaryData.self))
    }

    public func message<M: ProtoMessage>(_ number: Int32) -> M? {
        // Oneof members share their storage: only the set member's pointer is valid.
        if descriptor.field(number).isOneofMember && !has(number) { return nil }
        guard let child = load(number, as: UnsafeRawPointer?.self) else { return nil }
        return M(reading: ProtoReader(message: child, descriptor: M.protoDescriptor))
    }

    // MARK: repeated fields: a count at the quantifier offset, an array at the offset.

    private func elements<C, T>(_ number: Int32, _ cType: C.Type, _ convert: (C) -> T) -> [T] {
        let field = descriptor.field(number)
        let count = base.loadUnaligned(fromByteOffset: field.quantifierOffset, as: Int.self)
        guard count > 0, let array = base.loadUnaligned(fromByteOffset: field.offset, as: UnsafeRawPointer?.self) else {
            return []
        }
        let typed = array.bindMemory(to: C.self, capacity: count)
        return (0..<count).map { convert(typed[$0]) }
    }

    public func repeatedInt32(_ number: Int32) -> [Int32] { elements(number, Int32.self) { $0 } }
    public func repeatedUint32(_ number: Int32) -> [UInt32] { elements(number, UInt32.self) { $0 } }
    public func repeatedInt64(_ number: Int32) -> [Int64] { elements(number, Int64.self) { $0 } }
    public func repeatedUint64(_ number: Int32) -> [UInt64] { elements(number, UInt64.self) { $0 } }
    public func repeatedBool(_ number: Int32) -> [Bool] { elements(number, Int32.self) { $0 != 0 } }
    public func repeatedFloat(_ number: Int32) -> [Float] { elements(number, Float.self) { $0 } }
    public func repeatedDouble(_ number: Int32) -> [Double] { elements(number, Double.self) { $0 } }
    public func repeatedEnum<E: ProtoEnum>(_ number: Int32) -> [E] { elements(number, Int32.self) { E(rawValue: $0) } }
    public func repeatedString(_ number: Int32) -> [String] {
        elements(number, UnsafePointer<CChar>?.self) { Self.string($0) }
    }
    public func repeatedBytes(_ number: Int32) -> [[UInt8]] {
        elements(number, ProtobufCBinaryData.self) { Self.bytes($0) }
    }
    public func repeatedMessage<M: ProtoMessage>(_ number: Int32) -> [M] {
        elements(number, UnsafeRawPointer?.self) { child in
            guard let child else { return M() }
            return M(reading: ProtoReader(message: child, descriptor: M.protoDescriptor))
        }
    }

    private static func string(_ pointer: UnsafePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer)
    }

    private static func bytes(_ data: ProtobufCBinaryData) -> [UInt8] {
        guard data.len > 0, let pointer = data.data else { return [] }
        return Array(UnsafeBufferPointer(start: pointer, count: data.len))
    }
}
