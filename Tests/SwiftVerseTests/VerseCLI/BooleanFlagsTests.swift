import Testing
import VerseCLI

@Suite("command lines: boolean flags as the reference interop binaries take them")
struct BooleanFlagsTests {
    @Test func bareNegatedAndValuedFormsAllParse() {
        let booleans: Set = ["use_tls", "use_test_ca"]
        #expect(BooleanFlags.normalized(["--use_tls", "--server_port=1"], booleans: booleans) == ["--use_tls=true", "--server_port=1"])
        #expect(BooleanFlags.normalized(["--nouse_tls"], booleans: booleans) == ["--use_tls=false"])
        #expect(BooleanFlags.normalized(["--use_tls", "false", "--use_test_ca"], booleans: booleans)
                == ["--use_tls=false", "--use_test_ca=true"])
        #expect(BooleanFlags.normalized(["--use_tls=false"], booleans: booleans) == ["--use_tls=false"])
        // Other options and their values pass untouched, "--notes" included.
        #expect(BooleanFlags.normalized(["--test_case", "all", "--notes"], booleans: booleans) == ["--test_case", "all", "--notes"])
    }
}
