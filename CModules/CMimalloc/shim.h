// mimalloc (Debian's libmimalloc-dev): the executables' allocator. Servers call
// mi_collect on their event-loop threads now and then, so memory freed after a burst
// goes back to the system even while those threads sit idle.
#ifndef CMIMALLOC_SHIM_H
#define CMIMALLOC_SHIM_H
#include <mimalloc.h>
#endif
