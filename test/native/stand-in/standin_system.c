/*
 * standin_system.c - a stand-in QNN system library for the addon's tests. Exports
 * QnnSystemInterface_getProviders (one provider, system API 1.5.0 unless LG_STANDIN_SYSTEM_API says
 * otherwise) and answers
 * QnnSystemContext_create / getBinaryInfo / free from "LGQNNSB1" binaries: graph names, tensor
 * ids, names, types, data types, dims and encodings exactly as written in the binary.
 *
 * Test controls (environment, read at each call):
 *   LG_STANDIN_TRACE                 file to which create/free appends "<op> sysctx <id>"
 *   LG_STANDIN_BINARY_INFO_VERSION   version of the returned binary info (default 3)
 *   LG_STANDIN_GRAPH_INFO_VERSION    version of each graph info (default 3)
 *   LG_STANDIN_TENSOR_VERSION        version of each tensor (default 2)
 *   LG_STANDIN_SYSTEM_BAD            misbehave: "nullinfo" | "nullgraphs" | "hugeinputs" | "nullname"
 *   LG_STANDIN_SYSTEM_API            system API version the provider reports, "major.minor[.patch]"
 *                                    (read by QnnSystemInterface_getProviders; e.g. 1.1 for the
 *                                    addon's refusal of libraries older than it is built for)
 * Unknown versions are written as asked (with the version-1 field layout) so that the addon's
 * refusal can be tested.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "standin_common.h"

typedef struct {
  unsigned id;
  sb_binary bin;
  lg_QnnSystemContext_BinaryInfo_t* info;
  lg_QnnSystemContext_GraphInfo_t* graphs;
  lg_Qnn_Tensor_t** tensors; /* one array per graph: inputs then outputs */
  uint32_t tensorArrays;
} sys_ctx;

#define MAX_LIVE 1024
static sys_ctx* g_live[MAX_LIVE];
static unsigned g_nextId = 1;

static int live_index(const sys_ctx* c) {
  if (!c) return -1;
  for (int i = 0; i < MAX_LIVE; ++i)
    if (g_live[i] == c) return i;
  return -1;
}

static int bad(const char* what) {
  const char* v = getenv("LG_STANDIN_SYSTEM_BAD");
  return v && strcmp(v, what) == 0;
}

static void release_info(sys_ctx* c) {
  for (uint32_t i = 0; i < c->tensorArrays; ++i) free(c->tensors[i]);
  free(c->tensors);
  free(c->graphs);
  free(c->info);
  sb_free(&c->bin);
  c->tensors = NULL;
  c->tensorArrays = 0;
  c->graphs = NULL;
  c->info = NULL;
}

static lg_Qnn_ErrorHandle_t sys_create(lg_QnnSystemContext_Handle_t* out) {
  if (!out) return LG_QNN_SYSTEM_CONTEXT_ERROR_INVALID_ARGUMENT;
  int slot = -1;
  for (int i = 0; i < MAX_LIVE && slot < 0; ++i)
    if (!g_live[i]) slot = i;
  sys_ctx* c = slot < 0 ? NULL : (sys_ctx*)calloc(1, sizeof *c);
  if (!c) return LG_QNN_COMMON_ERROR_MEM_ALLOC;
  c->id = g_nextId++;
  g_live[slot] = c;
  sb_trace("create", "sysctx", c->id);
  *out = c;
  return LG_QNN_SUCCESS;
}

static lg_Qnn_ErrorHandle_t sys_free(lg_QnnSystemContext_Handle_t h) {
  sys_ctx* c = (sys_ctx*)h;
  int i = live_index(c);
  if (i < 0) {
    sb_trace("bad-free", "sysctx", 0);
    return LG_QNN_SYSTEM_CONTEXT_ERROR_INVALID_HANDLE;
  }
  sb_trace("free", "sysctx", c->id);
  g_live[i] = NULL;
  release_info(c);
  free(c);
  return LG_QNN_SUCCESS;
}

static void fill_quant(lg_Qnn_QuantizeParams_t* q, const sb_tensor* t) {
  memset(q, 0, sizeof *q);
  q->encodingDefinition = LG_QNN_DEFINITION_UNDEFINED;
  q->quantizationEncoding = LG_QNN_QUANTIZATION_ENCODING_UNDEFINED;
  if (t->encodingKind == SB_ENC_BW_SCALE_OFFSET) {
    q->encodingDefinition = LG_QNN_DEFINITION_DEFINED;
    q->quantizationEncoding = LG_QNN_QUANTIZATION_ENCODING_BW_SCALE_OFFSET;
    q->bwScaleOffsetEncoding.bitwidth = t->bitwidth;
    q->bwScaleOffsetEncoding.scale = t->scale;
    q->bwScaleOffsetEncoding.offset = t->offset;
  } else if (t->encodingKind == SB_ENC_BW_AXIS_SCALE_OFFSET) {
    q->encodingDefinition = LG_QNN_DEFINITION_DEFINED;
    q->quantizationEncoding = LG_QNN_QUANTIZATION_ENCODING_BW_AXIS_SCALE_OFFSET;
    q->bwAxisScaleOffsetEncoding.bitwidth = t->bitwidth;
    q->bwAxisScaleOffsetEncoding.axis = t->axis;
    q->bwAxisScaleOffsetEncoding.numElements = t->axisCount;
    q->bwAxisScaleOffsetEncoding.scales = t->bwScales;
    /* all-zero offsets are given as NULL, as QNN does for symmetric encodings */
    int symmetric = 1;
    for (uint32_t i = 0; i < t->axisCount; ++i)
      if (t->bwOffsets[i] != 0) symmetric = 0;
    q->bwAxisScaleOffsetEncoding.offsets = symmetric ? NULL : t->bwOffsets;
  } else if (t->encodingKind == SB_ENC_CODE) {
    q->encodingDefinition = LG_QNN_DEFINITION_DEFINED;
    q->quantizationEncoding = (lg_Qnn_QuantizationEncoding_t)t->qnnCode;
  } else if (t->encodingKind == SB_ENC_SCALE_OFFSET) {
    q->encodingDefinition = LG_QNN_DEFINITION_DEFINED;
    q->quantizationEncoding = LG_QNN_QUANTIZATION_ENCODING_SCALE_OFFSET;
    q->scaleOffsetEncoding.scale = t->scale;
    q->scaleOffsetEncoding.offset = t->offset;
  } else if (t->encodingKind == SB_ENC_AXIS_SCALE_OFFSET) {
    q->encodingDefinition = LG_QNN_DEFINITION_DEFINED;
    q->quantizationEncoding = LG_QNN_QUANTIZATION_ENCODING_AXIS_SCALE_OFFSET;
    q->axisScaleOffsetEncoding.axis = t->axis;
    q->axisScaleOffsetEncoding.numScaleOffsets = t->axisCount;
    q->axisScaleOffsetEncoding.scaleOffset = t->axisEncodings;
  }
}

#define FILL_TENSOR_FIELDS(dst, t)                      \
  do {                                                  \
    (dst).id = (t)->id;                                 \
    (dst).name = (t)->name;                             \
    (dst).type = (lg_Qnn_TensorType_t)(t)->tensorType;  \
    (dst).dataFormat = LG_QNN_TENSOR_DATA_FORMAT_FLAT_BUFFER; \
    (dst).dataType = (lg_Qnn_DataType_t)(t)->dataType;  \
    fill_quant(&(dst).quantizeParams, (t));             \
    (dst).rank = (t)->rank;                             \
    (dst).dimensions = (t)->rank ? (t)->dims : NULL;    \
    (dst).memType = LG_QNN_TENSORMEMTYPE_RAW;           \
    (dst).clientBuf.data = NULL;                        \
    (dst).clientBuf.dataSize = 0;                       \
  } while (0)

static void fill_tensor(lg_Qnn_Tensor_t* out, const sb_tensor* t, uint32_t version) {
  memset(out, 0, sizeof *out);
  out->version = (lg_Qnn_TensorVersion_t)version;
  if (version == LG_QNN_TENSOR_VERSION_2) {
    FILL_TENSOR_FIELDS(out->v2, t);
    out->v2.isDynamicDimensions = NULL;
    out->v2.sparseParams.type = 0x7FFFFFFFu;
    out->v2.isProduced = 0;
  } else {
    FILL_TENSOR_FIELDS(out->v1, t);
  }
}

static lg_Qnn_Tensor_t* tensor_array(sys_ctx* c, uint32_t n, const sb_tensor* ts, uint32_t version) {
  lg_Qnn_Tensor_t* a = (lg_Qnn_Tensor_t*)calloc(n ? n : 1, sizeof(lg_Qnn_Tensor_t));
  if (!a) return NULL;
  for (uint32_t i = 0; i < n; ++i) fill_tensor(&a[i], &ts[i], version);
  c->tensors[c->tensorArrays++] = a;
  return a;
}

#define FILL_GRAPH_FIELDS(dst, g, ins, outs)              \
  do {                                                    \
    (dst).graphName = bad("nullname") ? NULL : (g)->name; \
    (dst).numGraphInputs = bad("hugeinputs") ? 0xFFFFFFFFu : (g)->nInputs; \
    (dst).graphInputs = (ins);                            \
    (dst).numGraphOutputs = (g)->nOutputs;                \
    (dst).graphOutputs = (outs);                          \
  } while (0)

#define FILL_BINARY_FIELDS(dst, c, size)                  \
  do {                                                    \
    (dst).backendId = LG_QNN_BACKEND_ID_HTP;              \
    (dst).buildId = "v2.20.0.standin";                    \
    (dst).coreApiVersion.major = 2;                       \
    (dst).coreApiVersion.minor = 20;                      \
    (dst).backendApiVersion.major = 5;                    \
    (dst).backendApiVersion.minor = 20;                   \
    (dst).socVersion = "standin";                         \
    (dst).contextBlobSize = (size);                       \
    (dst).numGraphs = (c)->bin.graphCount;                \
    (dst).graphs = bad("nullgraphs") ? NULL : (c)->graphs; \
  } while (0)

static lg_Qnn_ErrorHandle_t sys_get_binary_info(lg_QnnSystemContext_Handle_t h, void* buffer,
                                                uint64_t size,
                                                const lg_QnnSystemContext_BinaryInfo_t** info,
                                                lg_Qnn_ContextBinarySize_t* infoSize) {
  sys_ctx* c = (sys_ctx*)h;
  if (live_index(c) < 0) return LG_QNN_SYSTEM_CONTEXT_ERROR_INVALID_HANDLE;
  if (!buffer || !info) return LG_QNN_SYSTEM_CONTEXT_ERROR_INVALID_ARGUMENT;
  release_info(c);
  char err[256];
  if (sb_parse((const uint8_t*)buffer, size, &c->bin, err, sizeof err) != SB_OK)
    return LG_QNN_SYSTEM_CONTEXT_ERROR_MALFORMED_BINARY;

  const uint32_t binVersion = sb_env_u32("LG_STANDIN_BINARY_INFO_VERSION", 3);
  const uint32_t graphVersion = sb_env_u32("LG_STANDIN_GRAPH_INFO_VERSION", 3);
  const uint32_t tensorVersion = sb_env_u32("LG_STANDIN_TENSOR_VERSION", 2);
  const uint32_t ng = c->bin.graphCount;
  c->info = (lg_QnnSystemContext_BinaryInfo_t*)calloc(1, sizeof *c->info);
  c->graphs = (lg_QnnSystemContext_GraphInfo_t*)calloc(ng ? ng : 1, sizeof *c->graphs);
  c->tensors = (lg_Qnn_Tensor_t**)calloc(2 * (size_t)ng + 1, sizeof *c->tensors);
  if (!c->info || !c->graphs || !c->tensors) {
    release_info(c);
    return LG_QNN_COMMON_ERROR_MEM_ALLOC;
  }
  for (uint32_t i = 0; i < ng; ++i) {
    const sb_graph* g = &c->bin.graphs[i];
    lg_Qnn_Tensor_t* ins = tensor_array(c, g->nInputs, g->inputs, tensorVersion);
    lg_Qnn_Tensor_t* outs = tensor_array(c, g->nOutputs, g->outputs, tensorVersion);
    if (!ins || !outs) {
      release_info(c);
      return LG_QNN_COMMON_ERROR_MEM_ALLOC;
    }
    lg_QnnSystemContext_GraphInfo_t* gi = &c->graphs[i];
    gi->version = (lg_QnnSystemContext_GraphInfoVersion_t)graphVersion;
    if (graphVersion == 2) FILL_GRAPH_FIELDS(gi->graphInfoV2, g, ins, outs);
    else if (graphVersion == 3) FILL_GRAPH_FIELDS(gi->graphInfoV3, g, ins, outs);
    else FILL_GRAPH_FIELDS(gi->graphInfoV1, g, ins, outs);
  }
  lg_QnnSystemContext_BinaryInfo_t* bi = c->info;
  bi->version = (lg_QnnSystemContext_BinaryInfoVersion_t)binVersion;
  if (binVersion == 3) {
    FILL_BINARY_FIELDS(bi->contextBinaryInfoV3, c, size);
    bi->contextBinaryInfoV3.socModel = c->bin.socModel;
  } else if (binVersion == 2) {
    FILL_BINARY_FIELDS(bi->contextBinaryInfoV2, c, size);
  } else {
    FILL_BINARY_FIELDS(bi->contextBinaryInfoV1, c, size);
  }
  *info = bad("nullinfo") ? NULL : bi;
  if (infoSize) *infoSize = sizeof *bi;
  return LG_QNN_SUCCESS;
}

static lg_QnnSystemInterface_t g_provider = {
    .backendId = LG_QNN_BACKEND_ID_NULL,
    .providerName = "STANDIN_SYSTEM",
    .systemApiVersion = {1, 5, 0},
    .functions =
        {
            .systemContextCreate = sys_create,
            .systemContextGetBinaryInfo = sys_get_binary_info,
            .systemContextGetMetaData = NULL,
            .systemContextFree = sys_free,
        },
};
static const lg_QnnSystemInterface_t* g_list[1] = {&g_provider};

STANDIN_EXPORT lg_Qnn_ErrorHandle_t QnnSystemInterface_getProviders(
    const lg_QnnSystemInterface_t*** list, uint32_t* count) {
  if (!list || !count) return LG_QNN_INTERFACE_ERROR_INVALID_PARAMETER;
  const lg_Qnn_Version_t standard = {1, 5, 0};
  g_provider.systemApiVersion = standard;
  sb_env_version("LG_STANDIN_SYSTEM_API", &g_provider.systemApiVersion);
  *list = g_list;
  *count = 1;
  return LG_QNN_SUCCESS;
}
