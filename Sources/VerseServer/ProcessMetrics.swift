import VerseCLI
import VerseRuntime

/// The metrics of a node, gate or embedded process: Prometheus (see
/// `PrometheusMetrics`), served at `GET /metrics` on its HTTP port.
public enum ProcessMetrics {
    /// Once per process, before any server is made. `enabled` false: no backend, so
    /// every instrument is swift-metrics' no-op, and no endpoint.
    public static func bootstrap(enabled: Bool = true) -> MetricsEndpoint? {
        guard enabled else { return nil }
        let metrics = PrometheusMetrics.bootstrap()
        let endpoint = MetricsEndpoint { metrics.render() }
        endpoint.beforeRendering(metrics.refreshProcessFigures)
        return endpoint
    }
}
