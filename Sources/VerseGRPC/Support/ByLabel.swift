import NIOConcurrencyHelpers

/// Instruments made once per label value, at first use (every label here takes one of
/// a bounded set of values: object types, reasons, status codes).
public final class ByLabel<Key: Hashable & Sendable, Instrument: Sendable>: Sendable {
    private let make: @Sendable (Key) -> Instrument
    private let made = NIOLockedValueBox<[Key: Instrument]>([:])

    public init(_ make: @escaping @Sendable (Key) -> Instrument) {
        self.make = make
    }

    public subscript(_ key: Key) -> Instrument {
        made.withLockedValue { made in
            if let found = made[key] { return found }
            let instrument = make(key)
            made[key] = instrument
            return instrument
        }
    }
}
