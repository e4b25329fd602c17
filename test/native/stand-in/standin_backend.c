/*
 * standin_backend.c - a stand-in QNN backend library for the addon's tests. Exports
 * QnnInterface_getProviders with three providers:
 *   STANDIN_OLD  core API 1.14.0 (wrong major: selection and the mismatch error)
 *   STANDIN_HTP  core API 2.20.0, backend id 6, with device support (the default choice)
 *   STANDIN_CPU  core API 2.20.0, backend id 3, no device functions
 * and implements exactly what the addon calls: log, backend, device create/free, context from an
 * "LGQNNSB1" binary, graph retrieve/execute (ADD and TABLE graphs), context free.
 *
 * Test controls (environment, read at each call):
 *   LG_STANDIN_TRACE       file to which every create/free appends "<op> <kind> <id>"
 *   LG_STANDIN_SOC         SoC model of the device (default: the binary's)
 *   LG_STANDIN_PROVIDERS   comma-separated provider names to expose (default: all)
 *   LG_STANDIN_BAD         misbehave: "nulllist" | "hugecount" | "nullname"
 *   LG_STANDIN_FAIL        make one call fail: backendCreate | deviceCreate | deviceUnsupported |
 *                          logCreate | contextFree | graphRetrieve
 *   LG_STANDIN_CORE_API    core API version STANDIN_HTP and STANDIN_CPU report, "major.minor[.patch]"
 *                          (read by QnnInterface_getProviders; e.g. 2.13 for the addon's refusal of
 *                          libraries older than it is built for)
 * Live handles are kept in a registry: a free of an unknown handle, or of a parent whose children
 * are still alive (backend before context, device before context, log before backend), fails and
 * is traced as "bad-free".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "standin_common.h"

enum { K_LOG = 1, K_BACKEND, K_DEVICE, K_CONTEXT };

typedef struct {
  unsigned id;
  lg_QnnLog_Callback_t callback;
  lg_QnnLog_Level_t level;
} sl_log;

typedef struct {
  unsigned id;
  sl_log* log;
} sl_backend;

typedef struct {
  unsigned id;
  uint32_t socModel; /* 0: accept any binary */
} sl_device;

typedef struct {
  unsigned id;
  sl_backend* backend;
  sl_device* device;
  sb_binary bin;
} sl_context;

#define MAX_LIVE 4096
static struct {
  int kind;
  void* p;
} g_live[MAX_LIVE];
static unsigned g_nextId = 1;

static int live_add(int kind, void* p) {
  for (int i = 0; i < MAX_LIVE; ++i)
    if (!g_live[i].p) {
      g_live[i].kind = kind;
      g_live[i].p = p;
      return 1;
    }
  return 0;
}

static int live_has(int kind, const void* p) {
  if (!p) return 0;
  for (int i = 0; i < MAX_LIVE; ++i)
    if (g_live[i].p == p && g_live[i].kind == kind) return 1;
  return 0;
}

static void live_remove(const void* p) {
  for (int i = 0; i < MAX_LIVE; ++i)
    if (g_live[i].p == p) g_live[i].p = NULL;
}

static int fails(const char* what) {
  const char* v = getenv("LG_STANDIN_FAIL");
  return v && strcmp(v, what) == 0;
}

static void say(const sl_log* log, lg_QnnLog_Level_t level, const char* fmt, ...) {
  if (!log || !log->callback || level > log->level) return;
  va_list ap;
  va_start(ap, fmt);
  log->callback(fmt, level, 0, ap);
  va_end(ap);
}

/* ------------------------------------------------------------------ log */

static lg_Qnn_ErrorHandle_t log_create(lg_QnnLog_Callback_t cb, lg_QnnLog_Level_t level,
                                       lg_Qnn_LogHandle_t* out) {
  if (!out) return LG_QNN_LOG_ERROR_INVALID_ARGUMENT;
  if (fails("logCreate")) return LG_QNN_LOG_ERROR_INITIALIZATION;
  sl_log* l = (sl_log*)calloc(1, sizeof *l);
  if (!l || !live_add(K_LOG, l)) {
    free(l);
    return LG_QNN_COMMON_ERROR_MEM_ALLOC;
  }
  l->id = g_nextId++;
  l->callback = cb;
  l->level = level;
  sb_trace("create", "log", l->id);
  *out = l;
  return LG_QNN_SUCCESS;
}

static lg_Qnn_ErrorHandle_t log_free(lg_Qnn_LogHandle_t h) {
  sl_log* l = (sl_log*)h;
  if (!live_has(K_LOG, l)) {
    sb_trace("bad-free", "log", 0);
    return LG_QNN_LOG_ERROR_INVALID_HANDLE;
  }
  for (int i = 0; i < MAX_LIVE; ++i)
    if (g_live[i].p && g_live[i].kind == K_BACKEND && ((sl_backend*)g_live[i].p)->log == l) {
      sb_trace("bad-free", "log", l->id);
      return LG_QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED;
    }
  sb_trace("free", "log", l->id);
  live_remove(l);
  free(l);
  return LG_QNN_SUCCESS;
}

/* ------------------------------------------------------------------ backend */

static lg_Qnn_ErrorHandle_t backend_create(lg_Qnn_LogHandle_t log, const lg_QnnBackend_Config_t** config,
                                           lg_Qnn_BackendHandle_t* out) {
  (void)config;
  if (!out) return LG_QNN_BACKEND_ERROR_INVALID_ARGUMENT;
  if (log && !live_has(K_LOG, log)) return LG_QNN_BACKEND_ERROR_INVALID_HANDLE;
  if (fails("backendCreate")) return LG_QNN_BACKEND_ERROR_CANNOT_INITIALIZE;
  sl_backend* b = (sl_backend*)calloc(1, sizeof *b);
  if (!b || !live_add(K_BACKEND, b)) {
    free(b);
    return LG_QNN_COMMON_ERROR_MEM_ALLOC;
  }
  b->id = g_nextId++;
  b->log = (sl_log*)log;
  sb_trace("create", "backend", b->id);
  say(b->log, LG_QNN_LOG_LEVEL_INFO, "stand-in: backend %u created", b->id);
  *out = b;
  return LG_QNN_SUCCESS;
}

static lg_Qnn_ErrorHandle_t backend_free(lg_Qnn_BackendHandle_t h) {
  sl_backend* b = (sl_backend*)h;
  if (!live_has(K_BACKEND, b)) {
    sb_trace("bad-free", "backend", 0);
    return LG_QNN_BACKEND_ERROR_INVALID_HANDLE;
  }
  for (int i = 0; i < MAX_LIVE; ++i)
    if (g_live[i].p && g_live[i].kind == K_CONTEXT && ((sl_context*)g_live[i].p)->backend == b) {
      sb_trace("bad-free", "backend", b->id);
      return LG_QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED;
    }
  sb_trace("free", "backend", b->id);
  live_remove(b);
  free(b);
  return LG_QNN_SUCCESS;
}

static lg_Qnn_ErrorHandle_t backend_get_api_version(lg_Qnn_ApiVersion_t* v) {
  if (!v) return LG_QNN_BACKEND_ERROR_INVALID_ARGUMENT;
  lg_Qnn_ApiVersion_t a = {{2, 20, 0}, {5, 20, 0}};
  sb_env_version("LG_STANDIN_CORE_API", &a.coreApiVersion);
  *v = a;
  return LG_QNN_SUCCESS;
}

static lg_Qnn_ErrorHandle_t backend_get_build_id(const char** id) {
  if (!id) return LG_QNN_BACKEND_ERROR_INVALID_ARGUMENT;
  *id = "v2.20.0.standin";
  return LG_QNN_SUCCESS;
}

/* ------------------------------------------------------------------ device */

static lg_Qnn_ErrorHandle_t device_create(lg_Qnn_LogHandle_t log, const lg_QnnDevice_Config_t** config,
                                          lg_Qnn_DeviceHandle_t* out) {
  (void)config;
  if (!out) return LG_QNN_COMMON_ERROR_INVALID_ARGUMENT;
  if (log && !live_has(K_LOG, log)) return LG_QNN_DEVICE_ERROR_INVALID_HANDLE;
  if (fails("deviceUnsupported")) return LG_QNN_COMMON_ERROR_NOT_SUPPORTED;
  if (fails("deviceCreate")) return LG_QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE;
  sl_device* d = (sl_device*)calloc(1, sizeof *d);
  if (!d || !live_add(K_DEVICE, d)) {
    free(d);
    return LG_QNN_COMMON_ERROR_MEM_ALLOC;
  }
  d->id = g_nextId++;
  d->socModel = sb_env_u32("LG_STANDIN_SOC", 0);
  sb_trace("create", "device", d->id);
  *out = d;
  return LG_QNN_SUCCESS;
}

static lg_Qnn_ErrorHandle_t device_free(lg_Qnn_DeviceHandle_t h) {
  sl_device* d = (sl_device*)h;
  if (!live_has(K_DEVICE, d)) {
    sb_trace("bad-free", "device", 0);
    return LG_QNN_DEVICE_ERROR_INVALID_HANDLE;
  }
  for (int i = 0; i < MAX_LIVE; ++i)
    if (g_live[i].p && g_live[i].kind == K_CONTEXT && ((sl_context*)g_live[i].p)->device == d) {
      sb_trace("bad-free", "device", d->id);
      return LG_QNN_DEVICE_ERROR_ASSOCIATED_TO_CONTEXT;
    }
  sb_trace("free", "device", d->id);
  live_remove(d);
  free(d);
  return LG_QNN_SUCCESS;
}

/* ------------------------------------------------------------------ context */

static lg_Qnn_ErrorHandle_t context_create_from_binary(lg_Qnn_BackendHandle_t backend,
                                                       lg_Qnn_DeviceHandle_t device,
                                                       const lg_QnnContext_Config_t** config,
                                                       const void* buffer,
                                                       lg_Qnn_ContextBinarySize_t size,
                                                       lg_Qnn_ContextHandle_t* out,
                                                       lg_Qnn_ProfileHandle_t profile) {
  (void)config;
  (void)profile;
  sl_backend* b = (sl_backend*)backend;
  sl_device* d = (sl_device*)device;
  if (!live_has(K_BACKEND, b)) return LG_QNN_CONTEXT_ERROR_INVALID_HANDLE;
  if (d && !live_has(K_DEVICE, d)) return LG_QNN_CONTEXT_ERROR_INVALID_HANDLE;
  if (!out || !buffer) return LG_QNN_CONTEXT_ERROR_INVALID_ARGUMENT;
  sl_context* c = (sl_context*)calloc(1, sizeof *c);
  if (!c) return LG_QNN_COMMON_ERROR_MEM_ALLOC;
  char err[256];
  int rc = sb_parse((const uint8_t*)buffer, size, &c->bin, err, sizeof err);
  if (rc != SB_OK) {
    say(b->log, LG_QNN_LOG_LEVEL_ERROR, "stand-in: %s", err);
    free(c);
    return rc == SB_ERR_VERSION ? LG_QNN_CONTEXT_ERROR_BINARY_VERSION : LG_QNN_CONTEXT_ERROR_CREATE_FROM_BINARY;
  }
  if (d && d->socModel != 0 && c->bin.socModel != 0 && d->socModel != c->bin.socModel) {
    say(b->log, LG_QNN_LOG_LEVEL_ERROR, "stand-in: binary prepared for SoC %u, device is SoC %u",
        c->bin.socModel, d->socModel);
    sb_free(&c->bin);
    free(c);
    return LG_QNN_CONTEXT_ERROR_BINARY_VERSION;
  }
  if (!live_add(K_CONTEXT, c)) {
    sb_free(&c->bin);
    free(c);
    return LG_QNN_COMMON_ERROR_MEM_ALLOC;
  }
  c->id = g_nextId++;
  c->backend = b;
  c->device = d;
  sb_trace("create", "context", c->id);
  *out = c;
  return LG_QNN_SUCCESS;
}

static lg_Qnn_ErrorHandle_t context_free(lg_Qnn_ContextHandle_t h, lg_Qnn_ProfileHandle_t profile) {
  (void)profile;
  sl_context* c = (sl_context*)h;
  if (!live_has(K_CONTEXT, c)) {
    sb_trace("bad-free", "context", 0);
    return LG_QNN_CONTEXT_ERROR_INVALID_HANDLE;
  }
  sb_trace("free", "context", c->id);
  live_remove(c);
  sb_free(&c->bin);
  free(c);
  /* the context is gone either way; the failure only tests error reporting from close() */
  return fails("contextFree") ? LG_QNN_COMMON_ERROR_GENERAL : LG_QNN_SUCCESS;
}

/* ------------------------------------------------------------------ graphs */

static sl_context* owner_of(const void* graph) {
  for (int i = 0; i < MAX_LIVE; ++i) {
    if (!g_live[i].p || g_live[i].kind != K_CONTEXT) continue;
    sl_context* c = (sl_context*)g_live[i].p;
    const sb_graph* g = (const sb_graph*)graph;
    if (c->bin.graphs && g >= c->bin.graphs && g < c->bin.graphs + c->bin.graphCount) return c;
  }
  return NULL;
}

static lg_Qnn_ErrorHandle_t graph_retrieve(lg_Qnn_ContextHandle_t h, const char* name,
                                           lg_Qnn_GraphHandle_t* out) {
  sl_context* c = (sl_context*)h;
  if (!live_has(K_CONTEXT, c)) return LG_QNN_GRAPH_ERROR_INVALID_HANDLE;
  if (!name || !out) return LG_QNN_GRAPH_ERROR_INVALID_ARGUMENT;
  if (fails("graphRetrieve")) return LG_QNN_GRAPH_ERROR_DISABLED;
  for (uint32_t i = 0; i < c->bin.graphCount; ++i)
    if (strcmp(c->bin.graphs[i].name, name) == 0) {
      *out = &c->bin.graphs[i];
      return LG_QNN_SUCCESS;
    }
  say(c->backend->log, LG_QNN_LOG_LEVEL_ERROR, "stand-in: no graph named %s", name);
  return LG_QNN_GRAPH_ERROR_GRAPH_DOES_NOT_EXIST;
}

/* The client buffer of a tensor bound for execution, after checking it against the graph's. */
static const lg_Qnn_ClientBuffer_t* bound_buffer(const lg_Qnn_Tensor_t* t, const sb_tensor* want) {
  uint32_t id, dataType, memType;
  const lg_Qnn_ClientBuffer_t* buf;
  if (t->version == LG_QNN_TENSOR_VERSION_1) {
    id = t->v1.id;
    dataType = t->v1.dataType;
    memType = t->v1.memType;
    buf = &t->v1.clientBuf;
  } else if (t->version == LG_QNN_TENSOR_VERSION_2) {
    id = t->v2.id;
    dataType = t->v2.dataType;
    memType = t->v2.memType;
    buf = &t->v2.clientBuf;
  } else {
    return NULL;
  }
  if (id != want->id || dataType != want->dataType || memType != LG_QNN_TENSORMEMTYPE_RAW) return NULL;
  if (want->byteSize == SB_UNKNOWN_SIZE || buf->dataSize != want->byteSize) return NULL;
  if (buf->dataSize > 0 && !buf->data) return NULL;
  return buf;
}

static void run_add(const sb_graph* g, const lg_Qnn_ClientBuffer_t* a, const lg_Qnn_ClientBuffer_t* b,
                    const lg_Qnn_ClientBuffer_t* o) {
  const uint8_t* pa = (const uint8_t*)a->data;
  const uint8_t* pb = (const uint8_t*)b->data;
  uint8_t* po = (uint8_t*)o->data;
  if (g->inputs[0].dataType == LG_QNN_DATATYPE_FLOAT_32) {
    for (uint32_t i = 0; i + 4 <= o->dataSize; i += 4) {
      float x, y, z;
      memcpy(&x, pa + i, 4); /* buffers come from JavaScript: no alignment promise */
      memcpy(&y, pb + i, 4);
      z = x + y;
      memcpy(po + i, &z, 4);
    }
  } else {
    for (uint32_t i = 0; i < o->dataSize; ++i) {
      unsigned s = (unsigned)pa[i] + pb[i];
      po[i] = (uint8_t)(s > 255 ? 255 : s);
    }
  }
}

static lg_Qnn_ErrorHandle_t graph_execute(lg_Qnn_GraphHandle_t graph, const lg_Qnn_Tensor_t* inputs,
                                          uint32_t numInputs, lg_Qnn_Tensor_t* outputs,
                                          uint32_t numOutputs, lg_Qnn_ProfileHandle_t profile,
                                          lg_Qnn_SignalHandle_t signal) {
  (void)profile;
  (void)signal;
  sl_context* c = owner_of(graph);
  if (!c) return LG_QNN_GRAPH_ERROR_INVALID_HANDLE;
  const sb_graph* g = (const sb_graph*)graph;
  const sl_log* log = c->backend->log;
  if (numInputs != g->nInputs || numOutputs != g->nOutputs) {
    say(log, LG_QNN_LOG_LEVEL_ERROR, "stand-in: graph %s takes %u inputs and %u outputs", g->name,
        g->nInputs, g->nOutputs);
    return LG_QNN_GRAPH_ERROR_INVALID_ARGUMENT;
  }
  if ((numInputs && !inputs) || (numOutputs && !outputs)) return LG_QNN_GRAPH_ERROR_INVALID_ARGUMENT;
  const lg_Qnn_ClientBuffer_t* in[64];
  const lg_Qnn_ClientBuffer_t* out[64];
  if (numInputs > 64 || numOutputs > 64) return LG_QNN_GRAPH_ERROR_INVALID_ARGUMENT;
  for (uint32_t i = 0; i < numInputs; ++i)
    if (!(in[i] = bound_buffer(&inputs[i], &g->inputs[i]))) {
      say(log, LG_QNN_LOG_LEVEL_ERROR, "stand-in: graph %s input %u does not match tensor %s", g->name, i,
          g->inputs[i].name);
      return LG_QNN_GRAPH_ERROR_INVALID_TENSOR;
    }
  for (uint32_t i = 0; i < numOutputs; ++i)
    if (!(out[i] = bound_buffer(&outputs[i], &g->outputs[i]))) {
      say(log, LG_QNN_LOG_LEVEL_ERROR, "stand-in: graph %s output %u does not match tensor %s", g->name, i,
          g->outputs[i].name);
      return LG_QNN_GRAPH_ERROR_INVALID_TENSOR;
    }
  if (g->kind == SB_KIND_ADD) {
    run_add(g, in[0], in[1], out[0]);
    return LG_QNN_SUCCESS;
  }
  /* TABLE: the concatenated key inputs select an entry whose bytes become the outputs */
  uint8_t* key = (uint8_t*)malloc(g->keyBytes ? (size_t)g->keyBytes : 1);
  if (!key) return LG_QNN_COMMON_ERROR_MEM_ALLOC;
  uint64_t at = 0;
  for (uint32_t k = 0; k < g->keyCount; ++k) {
    const lg_Qnn_ClientBuffer_t* b = in[g->keyInputIndex[k]];
    if (b->dataSize) memcpy(key + at, b->data, b->dataSize);
    at += b->dataSize;
  }
  const uint64_t entry = g->keyBytes + g->outBytes;
  const uint8_t* hit = NULL;
  for (uint32_t e = 0; e < g->entryCount && !hit; ++e) {
    const uint8_t* p = g->entries + entry * e;
    if (g->keyBytes == 0 || memcmp(p, key, (size_t)g->keyBytes) == 0) hit = p + g->keyBytes;
  }
  free(key);
  if (!hit) {
    say(log, LG_QNN_LOG_LEVEL_ERROR, "stand-in: no TABLE entry of graph %s matches its key inputs", g->name);
    return LG_QNN_COMMON_ERROR_GENERAL;
  }
  for (uint32_t i = 0; i < numOutputs; ++i) {
    if (out[i]->dataSize) memcpy(out[i]->data, hit, out[i]->dataSize);
    hit += out[i]->dataSize;
  }
  return LG_QNN_SUCCESS;
}

/* ------------------------------------------------------------------ providers */

#define STANDIN_FUNCTIONS(device_create_fn, device_free_fn)        \
  {                                                                \
    .backendCreate = backend_create,                               \
    .backendGetApiVersion = backend_get_api_version,               \
    .backendGetBuildId = backend_get_build_id,                     \
    .backendFree = backend_free,                                   \
    .contextCreateFromBinary = context_create_from_binary,         \
    .contextFree = context_free,                                   \
    .graphRetrieve = graph_retrieve,                               \
    .graphExecute = graph_execute,                                 \
    .logCreate = log_create,                                       \
    .logFree = log_free,                                           \
    .deviceCreate = device_create_fn,                              \
    .deviceFree = device_free_fn,                                  \
  }

static const lg_QnnInterface_t g_old = {
    .backendId = LG_QNN_BACKEND_ID_HTP,
    .providerName = "STANDIN_OLD",
    .apiVersion = {{1, 14, 0}, {4, 0, 0}},
    .functions = STANDIN_FUNCTIONS(device_create, device_free),
};
static lg_QnnInterface_t g_htp = {
    .backendId = LG_QNN_BACKEND_ID_HTP,
    .providerName = "STANDIN_HTP",
    .apiVersion = {{2, 20, 0}, {5, 20, 0}},
    .functions = STANDIN_FUNCTIONS(device_create, device_free),
};
static lg_QnnInterface_t g_cpu = {
    .backendId = LG_QNN_BACKEND_ID_CPU,
    .providerName = "STANDIN_CPU",
    .apiVersion = {{2, 20, 0}, {1, 1, 0}},
    .functions = STANDIN_FUNCTIONS(NULL, NULL),
};
static lg_QnnInterface_t g_unnamed; /* copy of g_htp without a name, for LG_STANDIN_BAD=nullname */

static const lg_QnnInterface_t* g_list[3];

static int exposed(const char* name) {
  const char* v = getenv("LG_STANDIN_PROVIDERS");
  if (!v || !*v) return 1;
  size_t n = strlen(name);
  for (const char* p = v; *p;) {
    const char* end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && strncmp(p, name, n) == 0) return 1;
    p += len + (end ? 1 : 0);
  }
  return 0;
}

STANDIN_EXPORT lg_Qnn_ErrorHandle_t QnnInterface_getProviders(const lg_QnnInterface_t*** list,
                                                              uint32_t* count) {
  if (!list || !count) return LG_QNN_INTERFACE_ERROR_INVALID_PARAMETER;
  const lg_Qnn_Version_t standard = {2, 20, 0};
  g_htp.apiVersion.coreApiVersion = standard;
  g_cpu.apiVersion.coreApiVersion = standard;
  sb_env_version("LG_STANDIN_CORE_API", &g_htp.apiVersion.coreApiVersion);
  sb_env_version("LG_STANDIN_CORE_API", &g_cpu.apiVersion.coreApiVersion);
  const char* bad = getenv("LG_STANDIN_BAD");
  if (bad && strcmp(bad, "nulllist") == 0) {
    *list = NULL;
    *count = 3;
    return LG_QNN_SUCCESS;
  }
  uint32_t n = 0;
  if (bad && strcmp(bad, "nullname") == 0) {
    g_unnamed = g_htp;
    g_unnamed.providerName = NULL;
    g_list[n++] = &g_unnamed;
  } else {
    const lg_QnnInterface_t* all[3] = {&g_old, &g_htp, &g_cpu};
    for (int i = 0; i < 3; ++i)
      if (exposed(all[i]->providerName)) g_list[n++] = all[i];
  }
  *list = g_list;
  *count = (bad && strcmp(bad, "hugecount") == 0) ? 0xFFFFFFFFu : n;
  return LG_QNN_SUCCESS;
}
