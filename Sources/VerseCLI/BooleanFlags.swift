/// Boolean flags in every spelling the reference gRPC interop binaries accept (gflags):
/// bare `--use_tls` (true), `--nouse_tls` (false), `--use_tls=true|false`, and, as
/// swift-argument-parser options take them, `--use_tls true|false`. Options declared as
/// `Bool` need a value, so the bare and negated forms are rewritten before parsing.
public enum BooleanFlags {
    public static func normalized(_ arguments: [String], booleans: Set<String>) -> [String] {
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), !argument.contains("=") else {
                result.append(argument)
                continue
            }
            let name = String(argument.dropFirst(2))
            if booleans.contains(name) {
                if index < arguments.count, arguments[index] == "true" || arguments[index] == "false" {
                    result.append("--\(name)=\(arguments[index])")
                    index += 1
                } else {
                    result.append("--\(name)=true")
                }
            } else if name.hasPrefix("no"), booleans.contains(String(name.dropFirst(2))) {
                result.append("--\(name.dropFirst(2))=false")
            } else {
                result.append(argument)
            }
        }
        return result
    }
}
