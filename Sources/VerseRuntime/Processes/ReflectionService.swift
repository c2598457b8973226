import VerseGRPC
import VerseProtobuf

/// gRPC server reflection (`grpc.reflection.v1.ServerReflection`, and the older
/// `v1alpha` that many tools still ask for: the same messages on the wire, so one
/// implementation serves both names): the services this port hosts, and the file
/// descriptors (from proto/, compiled into `ProtoFileDescriptors`) that define them.
enum ReflectionService {
    typealias Request = Grpc_Reflection_V1_ServerReflectionRequest
    typealias Response = Grpc_Reflection_V1_ServerReflectionResponse

    static let names = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]

    static func make(hosting services: [String]) -> [GRPCService] {
        let listed = (services + names).sorted()
        return names.map { name in
            var service = GRPCService(name: name)
            service.bidirectionalStreaming("ServerReflectionInfo") { (requests: RequestStream<Request>, writer: ResponseWriter<Response>, _) in
                for try await request in requests {
                    try await writer.send(answer(request, listing: listed))
                }
            }
            return service
        }
    }

    static func answer(_ request: Request, listing services: [String]) -> Response {
        var response = Response()
        response.validHost = request.host
        response.originalRequest = request
        if request.listServices != nil {
            var list = Grpc_Reflection_V1_ListServiceResponse()
            list.service = services.map { name in
                var entry = Grpc_Reflection_V1_ServiceResponse()
                entry.name = name
                return entry
            }
            response.listServicesResponse = list
        } else if let file = request.fileByFilename {
            response.fill(files: ProtoFileDescriptors.files[file] == nil ? nil : file, missing: "no file \"\(file)\"")
        } else if let symbol = request.fileContainingSymbol {
            response.fill(files: ProtoFileDescriptors.symbols[symbol], missing: "no symbol \"\(symbol)\"")
        } else if let type = request.allExtensionNumbersOfType {
            // proto3 files: no extensions anywhere.
            if ProtoFileDescriptors.symbols[type] != nil {
                var numbers = Grpc_Reflection_V1_ExtensionNumberResponse()
                numbers.baseTypeName = type
                response.allExtensionNumbersResponse = numbers
            } else {
                response.fail("no type \"\(type)\"")
            }
        } else if let wanted = request.fileContainingExtension {
            response.fail("no extension \(wanted.extensionNumber) of \"\(wanted.containingType)\"")
        } else {
            response.fail("empty request", code: .invalidArgument)
        }
        return response
    }

    /// `file` first, then every file it imports, each once.
    static func withDependencies(_ file: String) -> [[UInt8]] {
        var order: [String] = []
        var seen: Set<String> = []
        func visit(_ name: String) {
            guard seen.insert(name).inserted, let entry = ProtoFileDescriptors.files[name] else { return }
            order.append(name)
            entry.dependencies.forEach(visit)
        }
        visit(file)
        return order.compactMap { ProtoFileDescriptors.files[$0]?.bytes }
    }
}

private extension Grpc_Reflection_V1_ServerReflectionResponse {
    mutating func fill(files file: String?, missing: String) {
        guard let file else { return fail(missing) }
        var descriptors = Grpc_Reflection_V1_FileDescriptorResponse()
        descriptors.fileDescriptorProto = ReflectionService.withDependencies(file)
        fileDescriptorResponse = descriptors
    }

    mutating func fail(_ message: String, code: GRPCStatus.Code = .notFound) {
        var error = Grpc_Reflection_V1_ErrorResponse()
        error.errorCode = Int32(code.rawValue)
        error.errorMessage = message
        errorResponse = error
    }
}
