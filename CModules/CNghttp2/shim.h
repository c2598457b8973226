// System-library wrapper for libnghttp2 (Debian's libnghttp2-dev, 1.52).
// Swift sees nghttp2 only through this header and VerseGRPC's HTTP/2 layer.
#ifndef CNGHTTP2_SHIM_H
#define CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>

// nghttp2's flag and error constants are C enums that Swift imports as structs;
// these return plain ints so the Swift side needs no rawValue casts at every use.
static inline int CNghttp2_flagEndStream(void) { return NGHTTP2_FLAG_END_STREAM; }
static inline int CNghttp2_flagEndHeaders(void) { return NGHTTP2_FLAG_END_HEADERS; }
#endif
