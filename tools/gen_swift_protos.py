#!/usr/bin/env python3
"""Generate the Swift message API (Sources/VerseProtobuf/Generated) and the descriptor
registry (CModules/CSwiftVerseProto) for every message in proto/.

protoc-c writes the C codec; this script writes only thin Swift value types whose
`init(reading:)` and `write(to:)` move fields between Swift and protobuf-c's C structs
by field number (VerseProtobuf's ProtoReader/ProtoWriter use the C descriptors for
offsets), so no protobuf wire format is ever parsed or written in Swift.

Input: a FileDescriptorSet (protoc --descriptor_set_out --include_imports) and the
protoc-c output folder (to learn the C symbol of each message descriptor exactly as
protoc-c named it). Output is deterministic: `make proto` twice gives the same bytes.
"""
import re
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2 as d

FD = d.FieldDescriptorProto
SWIFT_KEYWORDS = {
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func",
    "import", "init", "inout", "internal", "let", "open", "operator", "private",
    "protocol", "public", "rethrows", "static", "struct", "subscript", "typealias",
    "var", "break", "case", "continue", "default", "defer", "do", "else",
    "fallthrough", "for", "guard", "if", "in", "repeat", "return", "switch", "where",
    "while", "as", "catch", "false", "is", "nil", "super", "self", "Self", "throw",
    "throws", "true", "try", "Any", "Type", "Protocol",
}

# proto type -> (Swift type, ProtoReader/ProtoWriter method stem, zero value)
SCALARS = {
    FD.TYPE_INT32: ("Int32", "int32", "0"),
    FD.TYPE_SINT32: ("Int32", "int32", "0"),
    FD.TYPE_SFIXED32: ("Int32", "int32", "0"),
    FD.TYPE_UINT32: ("UInt32", "uint32", "0"),
    FD.TYPE_FIXED32: ("UInt32", "uint32", "0"),
    FD.TYPE_INT64: ("Int64", "int64", "0"),
    FD.TYPE_SINT64: ("Int64", "int64", "0"),
    FD.TYPE_SFIXED64: ("Int64", "int64", "0"),
    FD.TYPE_UINT64: ("UInt64", "uint64", "0"),
    FD.TYPE_FIXED64: ("UInt64", "uint64", "0"),
    FD.TYPE_BOOL: ("Bool", "bool", "false"),
    FD.TYPE_FLOAT: ("Float", "float", "0"),
    FD.TYPE_DOUBLE: ("Double", "double", "0"),
    FD.TYPE_STRING: ("String", "string", '""'),
    FD.TYPE_BYTES: ("[UInt8]", "bytes", "[]"),
}


def camel(name, upper_first=False):
    parts = [p.lower() if p.isupper() else p for p in name.split("_") if p]  # TTL -> ttl
    if not parts:
        return name
    out = parts[0] if not upper_first else parts[0][:1].upper() + parts[0][1:]
    if not upper_first:
        out = out[:1].lower() + out[1:]
    for p in parts[1:]:
        out += p[:1].upper() + p[1:]
    return out


def ident(name):
    return f"`{name}`" if name in SWIFT_KEYWORDS else name


def swift_type_name(full_name):
    """`chat.ChatRoom_JoinRequest` -> `Chat_ChatRoom_JoinRequest`; nested types keep
    their parents' names (`etcdserverpb.Compare.CompareResult` -> ..._Compare_CompareResult)."""
    return "_".join(p[:1].upper() + p[1:] for p in full_name.split("."))


def c_accessor(full_name):
    return "CSwiftVerseProto_" + full_name.replace(".", "_")


def enum_case(value_name, enum_name):
    # Strip a redundant ENUMNAME_ prefix (proto style guide) when what remains is valid.
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum_name).upper() + "_"
    name = value_name
    if name.startswith(prefix) and len(name) > len(prefix) and not name[len(prefix)].isdigit():
        name = name[len(prefix):]
    return ident(camel(name.lower()))


def collect(fds):
    messages, enums = [], []

    def walk_msg(pkg, msg, parent):
        full = f"{parent}.{msg.name}" if parent else (f"{pkg}.{msg.name}" if pkg else msg.name)
        if msg.options.map_entry:
            return
        messages.append((full, msg))
        for nested in msg.nested_type:
            walk_msg(pkg, nested, full)
        for e in msg.enum_type:
            enums.append((f"{full}.{e.name}", e))

    for f in fds.file:
        for m in f.message_type:
            walk_msg(f.package, m, None)
        for e in f.enum_type:
            enums.append((f"{f.package}.{e.name}" if f.package else e.name, e))
    return messages, enums


def field_decl(field, proto3_optional):
    """Returns (swift declaration, reader expression, writer statement)."""
    name = ident(camel(field.name))
    num = field.number
    repeated = field.label == FD.LABEL_REPEATED
    in_oneof = field.HasField("oneof_index") and not field.proto3_optional
    if field.type == FD.TYPE_GROUP:
        raise SystemExit(f"groups are not supported: {field.name}")
    if field.type in (FD.TYPE_MESSAGE, FD.TYPE_ENUM):
        target = swift_type_name(field.type_name.lstrip("."))
    if repeated and field.type == FD.TYPE_MESSAGE:
        if target.endswith("Entry"):
            raise SystemExit(f"map fields are not supported: {field.name}")
        return (f"public var {name}: [{target}] = []",
                f"reader.repeatedMessage({num})",
                f"writer.repeatedMessage({num}, {name})")
    if repeated and field.type == FD.TYPE_ENUM:
        return (f"public var {name}: [{target}] = []",
                f"reader.repeatedEnum({num})",
                f"writer.repeatedEnum({num}, {name})")
    if repeated:
        swift, stem, _ = SCALARS[field.type]
        return (f"public var {name}: [{swift}] = []",
                f"reader.repeated{stem.capitalize()}({num})",
                f"writer.repeated{stem.capitalize()}({num}, {name})")
    if field.type == FD.TYPE_MESSAGE:
        return (f"public var {name}: {target}? = nil",
                f"reader.message({num})",
                f"writer.message({num}, {name})")
    if field.type == FD.TYPE_ENUM:
        swift, stem, zero = target, "enumValue", f"{target}(rawValue: 0)"
    else:
        swift, stem, zero = SCALARS[field.type]
    if in_oneof or proto3_optional:
        return (f"public var {name}: {swift}? = nil",
                f"reader.has({num}) ? reader.{stem}({num}) : nil",
                f"if let v = {name} {{ writer.{stem}({num}, v) }}")
    return (f"public var {name}: {swift} = {zero}",
            f"reader.{stem}({num})",
            f"writer.{stem}({num}, {name})")


def gen_message(full, msg):
    tname = swift_type_name(full)
    decls, reads, writes = [], [], []
    for field in msg.field:
        decl, rd, wr = field_decl(field, field.proto3_optional)
        name = ident(camel(field.name))
        decls.append(f"    /// field {field.number}: `{field.name}`\n    {decl}")
        reads.append(f"        self.{name} = {rd}")
        writes.append(f"        {wr}")
    body = "\n".join(decls)
    lines = [f"/// `{full}`",
             f"public struct {tname}: ProtoMessage {{",
             f"    public static let protoDescriptor = ProtoDescriptor({c_accessor(full)}())"]
    if body:
        lines.append(body)
    lines.append("")
    lines.append("    public init() {}")
    lines.append("")
    if reads:
        lines.append("    public init(reading reader: ProtoReader) {")
        lines.extend(reads)
        lines.append("    }")
    else:
        lines.append("    public init(reading reader: ProtoReader) {}")
    lines.append("")
    if writes:
        lines.append("    public func write(to writer: ProtoWriter) {")
        lines.extend(writes)
        lines.append("    }")
    else:
        lines.append("    public func write(to writer: ProtoWriter) {}")
    lines.append("}")
    return "\n".join(lines)


def gen_enum(full, enum):
    tname = swift_type_name(full)
    lines = [f"/// `{full}` (open: unknown values are kept as raw numbers)",
             f"public struct {tname}: ProtoEnum {{",
             "    public var rawValue: Int32",
             "    public init(rawValue: Int32) { self.rawValue = rawValue }"]
    for v in enum.value:
        lines.append(f"    public static let {enum_case(v.name, enum.name)} = {tname}(rawValue: {v.number})")
    lines.append("}")
    return "\n".join(lines)


def c_descriptor_symbols(c_out):
    pattern = re.compile(
        r'const ProtobufCMessageDescriptor (\w+) =\s*\{\s*PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,\s*"([^"]+)"')
    symbols = {}
    for c_file in sorted(Path(c_out).rglob("*.pb-c.c")):
        for sym, full in pattern.findall(c_file.read_text()):
            symbols[full] = sym
    return symbols


def write_file_descriptors(fds, swift_out):
    """ProtoFileDescriptors.swift: each .proto file's FileDescriptorProto (hex, decoded on
    first use: a byte-array literal this size would take the compiler minutes) with its
    imports, and every symbol it defines, for server reflection."""
    files, symbols = [], []
    for f in sorted(fds.file, key=lambda f: f.name):
        files.append((f.name, f.SerializeToString().hex(), list(f.dependency)))
        prefix = f"{f.package}." if f.package else ""

        def walk(message, parent):
            full = f"{parent}{message.name}"
            symbols.append((full, f.name))
            for enum in message.enum_type:
                symbols.append((f"{full}.{enum.name}", f.name))
            for nested in message.nested_type:
                walk(nested, full + ".")

        for message in f.message_type:
            walk(message, prefix)
        for enum in f.enum_type:
            symbols.append((f"{prefix}{enum.name}", f.name))
        for service in f.service:
            symbols.append((f"{prefix}{service.name}", f.name))
            for method in service.method:
                symbols.append((f"{prefix}{service.name}.{method.name}", f.name))
    lines = ["// Generated by tools/gen_swift_protos.py (make proto). Do not edit.", "",
             "/// The .proto files this build was made from, as FileDescriptorProtos (for server",
             "/// reflection): each file's serialized descriptor and imports, and the file that",
             "/// defines each fully qualified symbol.",
             "public enum ProtoFileDescriptors {",
             "    public struct File: Sendable {",
             "        public let name: String",
             "        public let dependencies: [String]",
             "        let hex: StaticString",
             "        /// The serialized FileDescriptorProto.",
             "        public var bytes: [UInt8] { ProtoFileDescriptors.decodeHex(hex) }",
             "    }", "",
             "    public static let files: [String: File] = ["]
    for name, hexed, deps in files:
        dep_list = ", ".join(f'"{x}"' for x in deps)
        lines.append(f'        "{name}": File(name: "{name}", dependencies: [{dep_list}], hex: "{hexed}"),')
    lines += ["    ]", "", "    public static let symbols: [String: String] = ["]
    for symbol, name in sorted(symbols):
        lines.append(f'        "{symbol}": "{name}",')
    lines += ["    ]", "",
              "    static func decodeHex(_ text: StaticString) -> [UInt8] {",
              "        text.withUTF8Buffer { hex in",
              "            func value(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }",
              "            return stride(from: 0, to: hex.count, by: 2).map { value(hex[$0]) << 4 | value(hex[$0 + 1]) }",
              "        }",
              "    }",
              "}", ""]
    Path(swift_out, "ProtoFileDescriptors.swift").write_text("\n".join(lines))


def main():
    descriptor_set, c_root, swift_out = sys.argv[1:4]
    fds = d.FileDescriptorSet()
    fds.ParseFromString(Path(descriptor_set).read_bytes())
    messages, _ = collect(fds)
    symbols = c_descriptor_symbols(c_root)

    header = ["// Generated by tools/gen_swift_protos.py (make proto). Do not edit.",
              "// One accessor per protoc-c message descriptor: Swift cannot take the address",
              "// of a `const` C global, so these hand it the descriptor's stable address.",
              "#ifndef CSWIFTVERSEPROTO_H", "#define CSWIFTVERSEPROTO_H",
              "#include <protobuf-c/protobuf-c.h>", ""]
    source = ["// Generated by tools/gen_swift_protos.py (make proto). Do not edit.",
              '#include "CSwiftVerseProto.h"']
    for f in fds.file:
        for dep_path in [f.name]:
            source.append(f'#include "{dep_path[:-len(".proto")]}.pb-c.h"')
    source.append("")
    for full, _ in sorted(messages):
        if full not in symbols:
            raise SystemExit(f"protoc-c output has no descriptor for {full}")
        header.append(f"const ProtobufCMessageDescriptor *{c_accessor(full)}(void);")
        source.append(f"const ProtobufCMessageDescriptor *{c_accessor(full)}(void) {{ return &{symbols[full]}; }}")
    header += ["", "#endif", ""]
    source.append("")
    Path(c_root, "include", "CSwiftVerseProto.h").write_text("\n".join(header))
    Path(c_root, "descriptors.c").write_text("\n".join(source))
    # An explicit module map: Swift imports only the accessor header, while the
    # protoc-c headers stay in their package folders for the C sources' includes.
    Path(c_root, "include", "module.modulemap").write_text(
        "module CSwiftVerseProto {\n    header \"CSwiftVerseProto.h\"\n    export *\n}\n")

    write_file_descriptors(fds, swift_out)

    # One Swift file per .proto file, named after it.
    by_file = {}
    for f in fds.file:
        pkg_msgs = []

        def walk(msg, parent):
            full = f"{parent}.{msg.name}"
            if msg.options.map_entry:
                return
            pkg_msgs.append(("m", full, msg))
            for e in msg.enum_type:
                pkg_msgs.append(("e", f"{full}.{e.name}", e))
            for nested in msg.nested_type:
                walk(nested, full)

        for e in f.enum_type:
            pkg_msgs.append(("e", f"{f.package}.{e.name}", e))
        for m in f.message_type:
            walk(m, f.package)
        by_file[f.name] = pkg_msgs
    out = Path(swift_out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.pb.swift"):
        old.unlink()
    for fname, items in sorted(by_file.items()):
        if not items:
            continue
        text = ["// Generated by tools/gen_swift_protos.py from " + fname + " (make proto). Do not edit.",
                "import CSwiftVerseProto", ""]
        for kind, full, node in items:
            text.append(gen_message(full, node) if kind == "m" else gen_enum(full, node))
            text.append("")
        swift_name = fname[:-len(".proto")].replace("/", "_") + ".pb.swift"
        (out / swift_name).write_text("\n".join(text))


if __name__ == "__main__":
    main()
