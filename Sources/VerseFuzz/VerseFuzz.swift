import VerseFuzzTargets
#if FUZZING
import Foundation

// Built by `make fuzz` with -sanitize=fuzzer and -DFUZZING: libFuzzer provides main and
// calls this for every input; VERSE_FUZZ_TARGET says which target (tools/fuzz.sh sets it).
let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["VERSE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fatalError("set VERSE_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    target.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer's driver, for programs with a main of their own.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM links every executable with `main` defined as `<module>_main`, which the
/// compiler emits only for a module with an entry point: here, without one, this is
/// it, and it hands the process to libFuzzer (whose own main is then left out).
@_cdecl("VerseFuzz_main")
public func verseFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzOneInput)
}
#else
import ArgumentParser
import Foundation

/// Without libFuzzer: runs inputs (files, or folders of them) through a fuzz target,
/// to look at a finding under a debugger or in a normal build.
@main
struct VerseFuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verse-fuzz",
        abstract: "Replay inputs through one of SwiftVerse's fuzz targets (make fuzz runs libFuzzer on them).")

    @Argument(help: "The target: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")).")
    var target: String

    @Argument(help: "Input files, or folders of them.")
    var inputs: [String]

    func validate() throws {
        guard FuzzTarget(rawValue: target) != nil else {
            throw ValidationError("unknown target \"\(target)\"; known: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        let target = FuzzTarget(rawValue: target)!
        var count = 0
        for path in inputs {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                throw ValidationError("no such file or folder: \(path)")
            }
            let files = isFolder.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { "\(path)/\($0)" }
                : [path]
            for file in files {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
                bytes.withUnsafeBytes { target.run($0) }
                count += 1
            }
        }
        print("\(target.rawValue): \(count) inputs ran")
    }
}
#endif
