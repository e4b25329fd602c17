/*
 * standin_format.c - the "LGQNNSB1" stand-in context binary parser (every read bounds-checked,
 * every count checked against the bytes left before anything is allocated), tracing, and QNN
 * element sizes. Shared by the stand-in backend and system libraries.
 *
 * Layout (all integers little-endian):
 *   header: "LGQNNSB1" | u32 formatVersion = 1 | u32 socModel | u32 graphCount
 *   graph:  u32 nameLen | name | u32 kind (1 ADD, 2 TABLE) | u32 nInputs | u32 nOutputs
 *           | tensor[nInputs] | tensor[nOutputs] | program
 *   tensor: u32 id | u32 nameLen | name | u32 tensorType | u32 dataType | u32 rank | u32 dims[rank]
 *           | u32 encodingKind | f32 scale | i32 offset [| kind-specific fields, standin_common.h]
 *   TABLE:  u32 keyCount | u32 keyInputIndex[keyCount] | u32 entryCount
 *           | entry[entryCount] = key bytes (key inputs in order) | out bytes (all outputs in order)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "standin_common.h"

typedef struct {
  const uint8_t* p;
  uint64_t size;
  uint64_t pos;
  char* err;
  size_t errLen;
  int code;
} reader;

static void fail(reader* r, int code, const char* fmt, ...) {
  if (r->code != SB_OK) return; /* keep the first failure */
  r->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, r->errLen, fmt, ap);
  va_end(ap);
}

static uint64_t left(const reader* r) { return r->size - r->pos; }

static uint32_t rd_u32(reader* r, const char* what) {
  if (r->code != SB_OK) return 0;
  if (left(r) < 4) {
    fail(r, SB_ERR_TRUNCATED, "truncated at byte %llu reading %s", (unsigned long long)r->pos, what);
    return 0;
  }
  const uint8_t* b = r->p + r->pos;
  r->pos += 4;
  return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static float rd_f32(reader* r, const char* what) {
  uint32_t u = rd_u32(r, what);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* A length-prefixed name, copied with a terminating NUL; embedded NULs are rejected. */
static char* rd_name(reader* r, const char* what) {
  uint32_t n = rd_u32(r, what);
  if (r->code != SB_OK) return NULL;
  if (n > left(r)) {
    fail(r, SB_ERR_TRUNCATED, "%s of %u bytes runs past the end", what, n);
    return NULL;
  }
  if (memchr(r->p + r->pos, 0, n) != NULL) {
    fail(r, SB_ERR_INVALID, "%s contains a NUL byte", what);
    return NULL;
  }
  char* s = (char*)malloc((size_t)n + 1);
  if (!s) {
    fail(r, SB_ERR_INVALID, "out of memory");
    return NULL;
  }
  memcpy(s, r->p + r->pos, n);
  s[n] = 0;
  r->pos += n;
  return s;
}

uint64_t sb_element_bytes(uint32_t dataType, uint64_t count) {
  uint32_t cls = dataType >> 8, bits = dataType & 0xFFu, size;
  if (cls > 5 || dataType > 0xFFFFu) return SB_UNKNOWN_SIZE;
  switch (bits) {
    case 0x04: return count / 2 + (count & 1);
    case 0x08: size = 1; break;
    case 0x16: size = 2; break;
    case 0x32: size = 4; break;
    case 0x64: size = 8; break;
    default: return SB_UNKNOWN_SIZE;
  }
  if (count > (UINT64_C(1) << 48)) return SB_UNKNOWN_SIZE;
  return count * size;
}

static void free_tensor(sb_tensor* t) {
  free(t->name);
  free(t->dims);
  free(t->axisEncodings);
  free(t->bwScales);
  free(t->bwOffsets);
}

#define MIN_TENSOR_BYTES 32u /* id, nameLen, type, dtype, rank, encodingKind, scale, offset */
#define MIN_GRAPH_BYTES 20u  /* nameLen, kind, nInputs, nOutputs, + at least one u32 of program or tensors */

static void rd_tensor(reader* r, sb_tensor* t, const char* where) {
  t->id = rd_u32(r, "tensor id");
  t->name = rd_name(r, "tensor name");
  t->tensorType = rd_u32(r, "tensor type");
  t->dataType = rd_u32(r, "tensor data type");
  t->rank = rd_u32(r, "tensor rank");
  if (r->code != SB_OK) return;
  if (t->rank > left(r) / 4) {
    fail(r, SB_ERR_TRUNCATED, "%s %s: rank %u runs past the end", where, t->name, t->rank);
    return;
  }
  t->dims = (uint32_t*)calloc(t->rank ? t->rank : 1, sizeof(uint32_t));
  if (!t->dims) {
    fail(r, SB_ERR_INVALID, "out of memory");
    return;
  }
  uint64_t count = 1;
  int overflow = 0;
  for (uint32_t i = 0; i < t->rank; ++i) {
    t->dims[i] = rd_u32(r, "tensor dimension");
    if (t->dims[i] != 0 && count > (UINT64_C(1) << 48) / t->dims[i]) overflow = 1;
    else count *= t->dims[i];
  }
  t->byteSize = overflow ? SB_UNKNOWN_SIZE : sb_element_bytes(t->dataType, count);
  t->encodingKind = rd_u32(r, "encoding kind");
  t->scale = rd_f32(r, "encoding scale");
  t->offset = (int32_t)rd_u32(r, "encoding offset");
  if (r->code != SB_OK) return;
  if (t->encodingKind == SB_ENC_BW_SCALE_OFFSET || t->encodingKind == SB_ENC_BW_AXIS_SCALE_OFFSET)
    t->bitwidth = rd_u32(r, "encoding bitwidth");
  if (t->encodingKind == SB_ENC_CODE) t->qnnCode = rd_u32(r, "encoding code");
  if (r->code != SB_OK) return;
  if (t->encodingKind == SB_ENC_AXIS_SCALE_OFFSET || t->encodingKind == SB_ENC_BW_AXIS_SCALE_OFFSET) {
    t->axis = (int32_t)rd_u32(r, "encoding axis");
    t->axisCount = rd_u32(r, "encoding count");
    if (r->code != SB_OK) return;
    if (t->axisCount > left(r) / 8) {
      fail(r, SB_ERR_TRUNCATED, "%s %s: %u axis encodings run past the end", where, t->name, t->axisCount);
      return;
    }
    const size_t n = t->axisCount ? t->axisCount : 1;
    t->axisEncodings = (lg_Qnn_ScaleOffset_t*)calloc(n, sizeof(lg_Qnn_ScaleOffset_t));
    t->bwScales = (float*)calloc(n, sizeof(float));
    t->bwOffsets = (int32_t*)calloc(n, sizeof(int32_t));
    if (!t->axisEncodings || !t->bwScales || !t->bwOffsets) {
      fail(r, SB_ERR_INVALID, "out of memory");
      return;
    }
    for (uint32_t i = 0; i < t->axisCount; ++i) {
      t->axisEncodings[i].scale = t->bwScales[i] = rd_f32(r, "axis scale");
      t->axisEncodings[i].offset = t->bwOffsets[i] = (int32_t)rd_u32(r, "axis offset");
    }
  } else if (t->encodingKind > SB_ENC_CODE) {
    fail(r, SB_ERR_INVALID, "%s %s: unknown encoding kind %u", where, t->name, t->encodingKind);
  }
}

static void rd_tensors(reader* r, uint32_t n, sb_tensor** out, const char* where) {
  if (r->code != SB_OK) return;
  if (n > left(r) / MIN_TENSOR_BYTES) {
    fail(r, SB_ERR_TRUNCATED, "%u %s tensors run past the end", n, where);
    return;
  }
  *out = (sb_tensor*)calloc(n ? n : 1, sizeof(sb_tensor));
  if (!*out) {
    fail(r, SB_ERR_INVALID, "out of memory");
    return;
  }
  for (uint32_t i = 0; i < n && r->code == SB_OK; ++i) rd_tensor(r, &(*out)[i], where);
}

static int same_shape(const sb_tensor* a, const sb_tensor* b) {
  if (a->rank != b->rank || a->dataType != b->dataType) return 0;
  for (uint32_t i = 0; i < a->rank; ++i)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

static void rd_program(reader* r, sb_graph* g) {
  if (r->code != SB_OK) return;
  if (g->kind == SB_KIND_ADD) {
    if (g->nInputs != 2 || g->nOutputs != 1) {
      fail(r, SB_ERR_INVALID, "ADD graph %s needs 2 inputs and 1 output", g->name);
      return;
    }
    const sb_tensor* a = &g->inputs[0];
    if (!same_shape(a, &g->inputs[1]) || !same_shape(a, &g->outputs[0])) {
      fail(r, SB_ERR_INVALID, "ADD graph %s: inputs and output differ in dims or data type", g->name);
      return;
    }
    if (a->dataType != LG_QNN_DATATYPE_FLOAT_32 && a->dataType != LG_QNN_DATATYPE_UFIXED_POINT_8)
      fail(r, SB_ERR_INVALID, "ADD graph %s: data type 0x%04x is not FLOAT_32 or UFIXED_POINT_8", g->name, a->dataType);
    return;
  }
  if (g->kind != SB_KIND_TABLE) {
    fail(r, SB_ERR_INVALID, "graph %s has unknown kind %u", g->name, g->kind);
    return;
  }
  g->keyCount = rd_u32(r, "TABLE key count");
  if (r->code != SB_OK) return;
  if (g->keyCount > g->nInputs) {
    fail(r, SB_ERR_INVALID, "TABLE graph %s: %u keys for %u inputs", g->name, g->keyCount, g->nInputs);
    return;
  }
  g->keyInputIndex = (uint32_t*)calloc(g->keyCount ? g->keyCount : 1, sizeof(uint32_t));
  if (!g->keyInputIndex) {
    fail(r, SB_ERR_INVALID, "out of memory");
    return;
  }
  g->keyBytes = 0;
  for (uint32_t i = 0; i < g->keyCount && r->code == SB_OK; ++i) {
    uint32_t k = rd_u32(r, "TABLE key input index");
    if (r->code != SB_OK) return;
    if (k >= g->nInputs) {
      fail(r, SB_ERR_INVALID, "TABLE graph %s: key input index %u out of range", g->name, k);
      return;
    }
    if (g->inputs[k].byteSize == SB_UNKNOWN_SIZE) {
      fail(r, SB_ERR_INVALID, "TABLE graph %s: key input %u has no known byte size", g->name, k);
      return;
    }
    g->keyInputIndex[i] = k;
    g->keyBytes += g->inputs[k].byteSize;
  }
  g->outBytes = 0;
  for (uint32_t i = 0; i < g->nOutputs; ++i) {
    if (g->outputs[i].byteSize == SB_UNKNOWN_SIZE) {
      fail(r, SB_ERR_INVALID, "TABLE graph %s: output %u has no known byte size", g->name, i);
      return;
    }
    g->outBytes += g->outputs[i].byteSize;
  }
  g->entryCount = rd_u32(r, "TABLE entry count");
  if (r->code != SB_OK) return;
  uint64_t entry = g->keyBytes + g->outBytes;
  if (entry > 0 && g->entryCount > left(r) / entry) {
    fail(r, SB_ERR_TRUNCATED, "TABLE graph %s: %u entries of %llu bytes run past the end", g->name,
         g->entryCount, (unsigned long long)entry);
    return;
  }
  uint64_t total = entry * g->entryCount;
  g->entries = (uint8_t*)malloc(total ? (size_t)total : 1);
  if (!g->entries) {
    fail(r, SB_ERR_INVALID, "out of memory");
    return;
  }
  memcpy(g->entries, r->p + r->pos, (size_t)total);
  r->pos += total;
}

int sb_parse(const uint8_t* data, uint64_t size, sb_binary* out, char* err, size_t errLen) {
  reader r = {data, size, 0, err, errLen, SB_OK};
  memset(out, 0, sizeof *out);
  if (errLen) err[0] = 0;
  if (data == NULL || size < 8 || memcmp(data, "LGQNNSB1", 8) != 0) {
    fail(&r, SB_ERR_MAGIC, "not a stand-in context binary (magic LGQNNSB1 missing)");
    return r.code;
  }
  r.pos = 8;
  out->formatVersion = rd_u32(&r, "format version");
  if (r.code == SB_OK && out->formatVersion != 1) {
    fail(&r, SB_ERR_VERSION, "stand-in binary format version %u is not supported (1)", out->formatVersion);
    return r.code;
  }
  out->socModel = rd_u32(&r, "SoC model");
  uint32_t graphCount = rd_u32(&r, "graph count");
  if (r.code == SB_OK && graphCount > left(&r) / MIN_GRAPH_BYTES)
    fail(&r, SB_ERR_TRUNCATED, "%u graphs run past the end", graphCount);
  if (r.code == SB_OK) {
    out->graphs = (sb_graph*)calloc(graphCount ? graphCount : 1, sizeof(sb_graph));
    if (!out->graphs) fail(&r, SB_ERR_INVALID, "out of memory");
    else out->graphCount = graphCount;
  }
  for (uint32_t i = 0; i < out->graphCount && r.code == SB_OK; ++i) {
    sb_graph* g = &out->graphs[i];
    g->name = rd_name(&r, "graph name");
    g->kind = rd_u32(&r, "graph kind");
    uint32_t nIn = rd_u32(&r, "input count");
    uint32_t nOut = rd_u32(&r, "output count");
    /* counts are recorded as soon as the (zeroed) arrays exist, so sb_free frees partial reads */
    rd_tensors(&r, nIn, &g->inputs, "input");
    if (g->inputs) g->nInputs = nIn;
    rd_tensors(&r, nOut, &g->outputs, "output");
    if (g->outputs) g->nOutputs = nOut;
    rd_program(&r, g);
    for (uint32_t j = 0; j < i && r.code == SB_OK; ++j)
      if (strcmp(out->graphs[j].name, g->name) == 0) fail(&r, SB_ERR_INVALID, "duplicate graph name %s", g->name);
  }
  if (r.code == SB_OK && left(&r) != 0)
    fail(&r, SB_ERR_INVALID, "%llu trailing bytes after the last graph", (unsigned long long)left(&r));
  if (r.code != SB_OK) sb_free(out);
  return r.code;
}

void sb_free(sb_binary* b) {
  if (!b->graphs) return;
  for (uint32_t i = 0; i < b->graphCount; ++i) {
    sb_graph* g = &b->graphs[i];
    free(g->name);
    /* tensor arrays are calloc'ed at their full count: freeing every slot is safe */
    if (g->inputs)
      for (uint32_t j = 0; j < g->nInputs; ++j) free_tensor(&g->inputs[j]);
    if (g->outputs)
      for (uint32_t j = 0; j < g->nOutputs; ++j) free_tensor(&g->outputs[j]);
    free(g->inputs);
    free(g->outputs);
    free(g->keyInputIndex);
    free(g->entries);
  }
  free(b->graphs);
  memset(b, 0, sizeof *b);
}

void sb_trace(const char* op, const char* kind, unsigned id) {
  const char* path = getenv("LG_STANDIN_TRACE");
  if (!path || !*path) return;
  FILE* f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "%s %s %u\n", op, kind, id);
  fclose(f);
}

uint32_t sb_env_u32(const char* name, uint32_t fallback) {
  const char* v = getenv(name);
  if (!v || !*v) return fallback;
  char* end = NULL;
  unsigned long x = strtoul(v, &end, 0);
  if (!end || *end || x > 0xFFFFFFFFul) return fallback;
  return (uint32_t)x;
}

int sb_env_version(const char* name, lg_Qnn_Version_t* v) {
  const char* s = getenv(name);
  if (!s || !*s) return 0;
  unsigned long part[3] = {0, 0, 0};
  int n = 0;
  for (const char* p = s;;) {
    char* end = NULL;
    if (n == 3 || *p < '0' || *p > '9') return 0;
    part[n++] = strtoul(p, &end, 10);
    if (part[n - 1] > 0xFFFFFFFFul) return 0;
    if (*end == 0) break;
    if (*end != '.') return 0;
    p = end + 1;
  }
  if (n < 2) return 0;
  v->major = (uint32_t)part[0];
  v->minor = (uint32_t)part[1];
  v->patch = (uint32_t)part[2];
  return 1;
}
