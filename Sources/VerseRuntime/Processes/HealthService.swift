import VerseGRPC
import VerseProtobuf

/// `grpc.health.v1.Health` (the standard health checking protocol): the overall
/// service "" and each service this port hosts, all with the process's readiness.
enum HealthService {
    typealias Status = Grpc_Health_V1_HealthCheckResponse_ServingStatus

    static func make(health: ProcessHealth, services: [String]) -> GRPCService {
        let known = Set(services + ["", "grpc.health.v1.Health"])
        @Sendable func status(of service: String) -> Status? {
            guard known.contains(service) else { return nil }
            return health.readiness == .ready ? .serving : .notServing
        }
        @Sendable func response(_ status: Status) -> Grpc_Health_V1_HealthCheckResponse {
            var response = Grpc_Health_V1_HealthCheckResponse()
            response.status = status
            return response
        }
        var service = GRPCService(name: "grpc.health.v1.Health")
        service.unary("Check") { (request: Grpc_Health_V1_HealthCheckRequest, _) -> Grpc_Health_V1_HealthCheckResponse in
            guard let current = status(of: request.service) else {
                throw GRPCStatus(.notFound, "unknown service \"\(request.service)\"")
            }
            return response(current)
        }
        // The status now, then each change, until the client goes away.
        service.serverStreaming("Watch") { (request: Grpc_Health_V1_HealthCheckRequest,
                                            writer: ResponseWriter<Grpc_Health_V1_HealthCheckResponse>, _) in
            var last = status(of: request.service) ?? .serviceUnknown
            try await writer.send(response(last))
            for await _ in health.changes() {
                let now = status(of: request.service) ?? .serviceUnknown
                guard now != last else { continue }
                last = now
                try await writer.send(response(now))
            }
        }
        return service
    }
}
