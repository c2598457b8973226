// System-library wrapper for libprotobuf-c (Debian's libprotobuf-c-dev, 1.4).
// Only VerseProtobuf and the generated CSwiftVerseProto import it: protobuf-c is the
// one protobuf codec of the project.
#ifndef CPROTOBUFC_SHIM_H
#define CPROTOBUFC_SHIM_H
#include <protobuf-c/protobuf-c.h>

// protobuf-c's label and flag enums import into Swift as opaque structs whose
// constants differ in spelling across Swift versions; these answer the two
// questions VerseProtobuf asks about a field in plain C.

/// The field is a oneof member: its quantifier slot holds the number of the set member.
static inline int CProtobufC_isOneofMember(const ProtobufCFieldDescriptor *field) {
    return (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

/// The field has a `has_` flag in its quantifier slot (proto2 optional, proto3 `optional`).
static inline int CProtobufC_hasPresenceFlag(const ProtobufCFieldDescriptor *field) {
    return field->label == PROTOBUF_C_LABEL_OPTIONAL && !CProtobufC_isOneofMember(field)
        && field->quantifier_offset != 0;
}
#endif
