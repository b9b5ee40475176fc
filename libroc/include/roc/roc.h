/* ROC — remote object calls in C. Including this header gives the whole
 * public API: errors (error.h), arenas and values (value.h), the msgpack
 * codec (codec.h), URIs (uri.h), the daemon (daemon.h) and proxies
 * (proxy.h). See docs/ for the guide and docs/wire.md for the protocol. */
#ifndef ROC_ROC_H
#define ROC_ROC_H

#define ROC_VERSION_MAJOR 0
#define ROC_VERSION_MINOR 1
#define ROC_VERSION_PATCH 0
#define ROC_VERSION "0.1.0"
/* Wire protocol versions this library speaks (inclusive range). */
#define ROC_PROTOCOL_MIN 1
#define ROC_PROTOCOL_MAX 1

#include "error.h"
#include "value.h"
#include "codec.h"
#include "uri.h"
#include "security.h"
#include "daemon.h"
#include "proxy.h"
#include "naming.h"
#include "service.h"
#include "discovery.h"

#endif
