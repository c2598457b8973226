import NIOConcurrencyHelpers

/// What `GET /metrics` answers: the process's metrics in Prometheus' text format, from
/// whichever registry the executable bootstrapped swift-metrics with. Gauges of state
/// (the shard map, members, process memory) are brought up to date just before.
public final class MetricsEndpoint: Sendable {
    private let render: @Sendable () -> [UInt8]
    private let hooks = NIOLockedValueBox<[@Sendable () -> Void]>([])

    public init(render: @escaping @Sendable () -> [UInt8]) {
        self.render = render
    }

    /// Runs before every rendering.
    public func beforeRendering(_ hook: @escaping @Sendable () -> Void) {
        hooks.withLockedValue { $0.append(hook) }
    }

    public func text() -> [UInt8] {
        for hook in hooks.withLockedValue({ $0 }) { hook() }
        return render()
    }
}
