import CoreMetrics
import NIOConcurrencyHelpers
import Prometheus

/// swift-metrics bootstrapped with a Prometheus registry (swift-prometheus), and the
/// process's own figures (memory, CPU, open files) read from /proc before each
/// rendering. Once per process, before any instrument is made (instruments bind to the
/// factory bootstrapped when they are created).
public struct PrometheusMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// Brings the process gauges up to date; run it before rendering the registry.
    public let refreshProcessFigures: @Sendable () -> Void

    /// Everything in the registry, in Prometheus' text format.
    public func render() -> [UInt8] { registry.emitToBuffer() }

    public static func bootstrap() -> PrometheusMetrics {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Calls here take microseconds to milliseconds: buckets from 50 us.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .seconds(1), .milliseconds(2500), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
        let memory = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "swiftverse", subsystem: "process", metricName: "resident_memory", unitName: "bytes",
            helpText: "Resident set size of this process"))
        let cpu = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "swiftverse", subsystem: "process", metricName: "cpu_seconds", unitName: "total",
            helpText: "CPU time this process has used, user and system"))
        let files = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "swiftverse", subsystem: "process", metricName: "open", unitName: "fds",
            helpText: "File descriptors this process has open"))
        let cpuSeen = NIOLockedValueBox(0.0)
        return PrometheusMetrics(registry: registry) {
            if let bytes = ProcessStats.residentBytes() { memory.set(Double(bytes)) }
            if let seconds = ProcessStats.cpuSeconds() {
                let delta = cpuSeen.withLockedValue { seen -> Double in
                    defer { seen = max(seen, seconds) }
                    return max(0, seconds - seen)
                }
                cpu.increment(by: delta)
            }
            if let count = ProcessStats.openFiles() { files.set(Double(count)) }
        }
    }
}
