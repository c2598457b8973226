import CProtobufC

/// Fills the C struct of a message for protobuf-c to encode, by field number.
/// All C memory comes from the arena, which the encoding keeps alive.
public struct ProtoWriter {
    let base: UnsafeMutableRawPointer
    let descriptor: ProtoDescriptor
    let arena: ProtoArena

    init(descriptor: ProtoDescriptor, arena: ProtoArena) {
        self.descriptor = descriptor
        self.arena = arena
        self.base = arena.allocate(Int(descriptor.pointer.pointee.sizeof_message))
        // Sets the descriptor pointer and every default (e.g. proto3's empty strings).
        base.withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) {
            protobuf_c_message_init(descriptor.pointer, $0)
        }
    }

    /// Stores a singular value and marks it present where the C struct tracks presence.
    private func store<T>(_ number: Int32, _ value: T) {
        let field = descriptor.field(number)
        base.storeBytes(of: value, toByteOffset: field.offset, as: T.self)
        if field.isOneofMember {
            base.storeBytes(of: UInt32(number), toByteOffset: field.quantifierOffset, as: UInt32.self)
        } else if field.hasPresenceFlag {
            base.storeBytes(of: Int32(1), toByteOffset: field.quantifierOffset, as: Int32.self)
        }
    }

    public func int32(_ number: Int32, _ value: Int32) { store(number, value) }
    public func uint32(_ number: Int32, _ value: UInt32) { store(number, value) }
    public func int64(_ number: Int32, _ value: Int64) { store(number, value) }
    public func uint64(_ number: Int32, _ value: UInt64) { store(number, value) }
    public func bool(_ number: Int32, _ value: Bool) { store(number, Int32(value ? 1 : 0)) }
    public func float(_ number: Int32, _ value: Float) { store(number, value) }
    public func double(_ number: Int32, _ value: Double) { store(number, value) }
    public func enumValue<E: ProtoEnum>(_ number: Int32, _ value: E) { store(number, value.rawValue) }

    public func string(_ number: Int32, _ value: String) {
        // proto3 omits an empty string unless it is a oneof member; the default set by
        // message_init already means "empty", so nothing needs copying.
        if value.isEmpty && !descriptor.field(number).isOneofMember { return }
        store(number, UnsafePointer(arena.cString(value)))
    }

    public func bytes(_ number: Int32, _ value: [UInt8]) {
        if value.isEmpty && !descriptor.field(number).isOneofMember { return }
        store(number, arena.bytes(value))
    }

    public func message<M: ProtoMessage>(_ number: Int32, _ value: M?) {
        guard let value else { return }
        store(number, UnsafeRawPointer(child(value).base))
    }

    private func child<M: ProtoMessage>(_ value: M) -> ProtoWriter {
        let writer = ProtoWriter(descriptor: M.protoDescriptor, arena: arena)
        value.write(to: writer)
        return writer
    }

    // MARK: repeated fields

    private func storeArray<T>(_ number: Int32, _ values: [T]) {
        guard !values.isEmpty else { return }
        let field = descriptor.field(number)
        let array = arena.allocate(MemoryLayout<T>.stride * values.count)
        values.withUnsafeBytes { array.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        base.storeBytes(of: values.count, toByteOffset: field.quantifierOffset, as: Int.self)
        base.storeBytes(of: UnsafeRawPointer(array), toByteOffset: field.offset, as: UnsafeRawPointer.self)
    }

    public func repeatedInt32(_ number: Int32, _ values: [Int32]) { storeArray(number, values) }
    public func repeatedUint32(_ number: Int32, _ values: [UInt32]) { storeArray(number, values) }
    public func repeatedInt64(_ number: Int32, _ values: [Int64]) { storeArray(number, values) }
    public func repeatedUint64(_ number: Int32, _ values: [UInt64]) { storeArray(number, values) }
    public func repeatedBool(_ number: Int32, _ values: [Bool]) { storeArray(number, values.map { Int32($0 ? 1 : 0) }) }
    public func repeatedFloat(_ number: Int32, _ values: [Float]) { storeArray(number, values) }
    public func repeatedDouble(_ number: Int32, _ values: [Double]) { storeArray(number, values) }
    public func repeatedEnum<E: ProtoEnum>(_ number: Int32, _ values: [E]) { storeArray(number, values.map(\.rawValue)) }
    public func repeatedString(_ number: Int32, _ values: [String]) {
        storeArray(number, values.map { UnsafeRawPointer(arena.cString($0)) })
    }
    public func repeatedBytes(_ number: Int32, _ values: [[UInt8]]) {
        storeArray(number, values.map { arena.bytes($0) })
    }
    public func repeatedMessage<M: ProtoMessage>(_ number: Int32, _ values: [M]) {
        storeArray(number, values.map { UnsafeRawPointer(child($0).base) })
    }
}
