/*
 * lg_qnn_api.h - llama-golden's own declarations of the part of the Qualcomm QNN C API that the
 * native addon (native/src/addon.cc) and the test stand-in libraries (test/native/stand-in/)
 * use. Written from the public descriptions of the QNN SDK headers; no SDK text is reproduced.
 *
 * Every name carries an `lg_` / `LG_` prefix so this header and the SDK's headers can be included
 * in the same translation unit: native/src/sdk-check.cc does exactly that when QNN_SDK_ROOT is set
 * at build time and static_asserts that sizes, field offsets and enum values agree.
 *
 * Where the facts come from: the QNN SDK's include/QNN headers as vendored in public repositories,
 * read for QNN SDK 2.13 (core API 2.7, system API 1.1), an SDK with core API 2.10 (system API 1.1),
 * SDK 2.30 (core 2.23, system 1.2), SDK 2.40 (core 2.29 / system 1.5 and core 2.30 / system 1.6) and
 * SDK 2.43 (core 2.32, system 1.7); sdk-check.cc compiles cleanly against the last four (docs/qnn.md,
 * "QNN versions"):
 *   QnnCommon.h      error handle type, 16-bit error code extraction, error ranges, handle types,
 *                    QNN_API_VERSION_MAJOR = 2, common error codes (1000 + n)
 *   QnnTypes.h       Qnn_Version_t, Qnn_ApiVersion_t, Qnn_DataType_t, Qnn_TensorType_t,
 *                    Qnn_Definition_t, Qnn_QuantizationEncoding_t, Qnn_ScaleOffset_t,
 *                    Qnn_AxisScaleOffset_t, Qnn_BwScaleOffset_t, Qnn_BwAxisScaleOffset_t,
 *                    Qnn_QuantizeParams_t, Qnn_TensorMemType_t, Qnn_ClientBuffer_t,
 *                    Qnn_TensorV1_t, Qnn_SparseParams_t, Qnn_TensorV2_t, Qnn_Tensor_t
 *   QnnLog.h         QnnLog_Level_t, QnnLog_Callback_t
 *   QnnBackend.h, QnnDevice.h, QnnContext.h, QnnGraph.h   signatures and error codes
 *   QnnInterface.h   QnnInterface_t and the order of the function table (since core API 2.10 at the
 *                    latest, new entries are only appended after signalFree, so we declare the prefix
 *                    we need)
 *   System/QnnSystemCommon.h     QNN_SYSTEM_API_VERSION_MAJOR = 1, system error codes (30000 + n)
 *   System/QnnSystemContext.h    graph/binary info structures, versions 1..3
 *   System/QnnSystemInterface.h  QnnSystemInterface_t and its function table order
 *
 * Which libraries fit (checked at run time where the provider is chosen, native/src/qnn_session.cc):
 *   - core API >= 2.14 (LG_QNN_API_VERSION_MIN_MINOR). Core API 2.7 (SDK 2.13) lacks backendSetConfig,
 *     graphCreateSubgraph, profileSetConfig and profileGetExtendedEventData, so every slot we call after
 *     backendCreate sits elsewhere, and neither 2.7 nor 2.10 has Qnn_TensorV2_t: their Qnn_Tensor_t is
 *     120 bytes, ours 144, and arrays of it are what QnnGraph_execute and the graph infos carry.
 *   - system API >= 1.2 (LG_QNN_SYSTEM_API_VERSION_MIN_MINOR). The graph-info array the system library
 *     returns is indexed with sizeof(lg_QnnSystemContext_GraphInfo_t), 88 bytes with graph info
 *     version 3 in the union; system API 1.1 has only version 1 there (48 bytes).
 *
 * Layout notes (LP64 and LLP64 alike; all enums are 32-bit):
 *   - every "union UNNAMED" of the SDK is an anonymous union here too, with the members we read;
 *     where the SDK union has more members we add a same-size filler so sizeof stays equal.
 *   - Qnn_Tensor_t arrays are passed to QnnGraph_execute, so sizeof(lg_Qnn_Tensor_t) must equal
 *     the SDK's (it includes Qnn_TensorV2_t, i.e. SDKs whose QnnTypes.h has tensor version 2).
 */
#ifndef LG_QNN_API_H
#define LG_QNN_API_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- QnnCommon.h */

#define LG_QNN_API_VERSION_MAJOR 2u        /* the core API major this code is written against */
#define LG_QNN_SYSTEM_API_VERSION_MAJOR 1u /* System/QnnSystemCommon.h */
/* The oldest minors whose layouts are these declarations' (see the top of this file). */
#define LG_QNN_API_VERSION_MIN_MINOR 14u
#define LG_QNN_SYSTEM_API_VERSION_MIN_MINOR 2u

typedef uint64_t lg_Qnn_ErrorHandle_t; /* only the low 16 bits carry the error code */
#define LG_QNN_SUCCESS 0u
#define LG_QNN_ERROR_CODE(handle) ((uint32_t)((handle) & 0xFFFFu))

typedef void* lg_Qnn_Handle_t;
typedef lg_Qnn_Handle_t lg_Qnn_BackendHandle_t;
typedef lg_Qnn_Handle_t lg_Qnn_ContextHandle_t;
typedef lg_Qnn_Handle_t lg_Qnn_DeviceHandle_t;
typedef lg_Qnn_Handle_t lg_Qnn_GraphHandle_t;
typedef lg_Qnn_Handle_t lg_Qnn_LogHandle_t;
typedef lg_Qnn_Handle_t lg_Qnn_MemHandle_t;
typedef lg_Qnn_Handle_t lg_Qnn_ProfileHandle_t;
typedef lg_Qnn_Handle_t lg_Qnn_SignalHandle_t;

/* Error codes used by the addon and the stand-ins (values from the headers listed above). */
enum {
  /* QnnCommon.h: QNN_MIN_ERROR_COMMON + n */
  LG_QNN_COMMON_ERROR_NOT_SUPPORTED = 1000,
  LG_QNN_COMMON_ERROR_MEM_ALLOC = 1002,
  LG_QNN_COMMON_ERROR_SYSTEM = 1003,
  LG_QNN_COMMON_ERROR_INVALID_ARGUMENT = 1004,
  LG_QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED = 1005,
  LG_QNN_COMMON_ERROR_PLATFORM_NOT_SUPPORTED = 1006,
  LG_QNN_COMMON_ERROR_SYSTEM_COMMUNICATION = 1007,
  LG_QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES = 1008,
  LG_QNN_COMMON_ERROR_LOADING_BINARIES = 1009,
  LG_QNN_COMMON_ERROR_RESOURCE_UNAVAILABLE = 1010,
  LG_QNN_COMMON_ERROR_SYSTEM_COMMUNICATION_FATAL = 1011,
  LG_QNN_COMMON_ERROR_GENERAL = 1100,
  /* QnnBackend.h: QNN_MIN_ERROR_BACKEND (4000) + n */
  LG_QNN_BACKEND_ERROR_CANNOT_INITIALIZE = 4000,
  LG_QNN_BACKEND_ERROR_TERMINATE_FAILED = 4002,
  LG_QNN_BACKEND_ERROR_NOT_SUPPORTED = 4003,
  LG_QNN_BACKEND_ERROR_INVALID_ARGUMENT = 4004,
  LG_QNN_BACKEND_ERROR_INVALID_HANDLE = 4011,
  LG_QNN_BACKEND_ERROR_INVALID_CONFIG = 4012,
  /* QnnContext.h: QNN_MIN_ERROR_CONTEXT (5000) + n */
  LG_QNN_CONTEXT_ERROR_INVALID_ARGUMENT = 5000,
  LG_QNN_CONTEXT_ERROR_CTX_DOES_NOT_EXIST = 5001,
  LG_QNN_CONTEXT_ERROR_INVALID_HANDLE = 5002,
  LG_QNN_CONTEXT_ERROR_NOT_FINALIZED = 5003,
  LG_QNN_CONTEXT_ERROR_BINARY_VERSION = 5004,
  LG_QNN_CONTEXT_ERROR_CREATE_FROM_BINARY = 5005,
  LG_QNN_CONTEXT_ERROR_GET_BINARY_SIZE_FAILED = 5006,
  LG_QNN_CONTEXT_ERROR_GET_BINARY_FAILED = 5007,
  LG_QNN_CONTEXT_ERROR_BINARY_CONFIGURATION = 5008,
  LG_QNN_CONTEXT_ERROR_SET_PROFILE = 5009,
  LG_QNN_CONTEXT_ERROR_INVALID_CONFIG = 5010,
  LG_QNN_CONTEXT_ERROR_BINARY_SUBOPTIMAL = 5011,
  /* QnnGraph.h: QNN_MIN_ERROR_GRAPH (6000) + n */
  LG_QNN_GRAPH_ERROR_INVALID_ARGUMENT = 6000,
  LG_QNN_GRAPH_ERROR_INVALID_HANDLE = 6001,
  LG_QNN_GRAPH_ERROR_GRAPH_DOES_NOT_EXIST = 6002,
  LG_QNN_GRAPH_ERROR_INVALID_NAME = 6003,
  LG_QNN_GRAPH_ERROR_INVALID_TENSOR = 6004,
  LG_QNN_GRAPH_ERROR_GRAPH_NOT_FINALIZED = 6023,
  LG_QNN_GRAPH_ERROR_DISABLED = 6035,
  /* QnnLog.h: QNN_MIN_ERROR_LOG (11000) + n */
  LG_QNN_LOG_ERROR_INITIALIZATION = 11002,
  LG_QNN_LOG_ERROR_INVALID_ARGUMENT = 11003,
  LG_QNN_LOG_ERROR_INVALID_HANDLE = 11004,
  /* QnnDevice.h: QNN_MIN_ERROR_DEVICE (14000) + n */
  LG_QNN_DEVICE_ERROR_INVALID_HANDLE = 14000,
  LG_QNN_DEVICE_ERROR_INVALID_CONFIG = 14001,
  LG_QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE = 14002,
  LG_QNN_DEVICE_ERROR_ASSOCIATED_TO_CONTEXT = 14003,
  /* System/QnnSystemCommon.h, System/QnnSystemContext.h: QNN_MIN_ERROR_SYSTEM (30000) + n */
  LG_QNN_SYSTEM_CONTEXT_ERROR_INVALID_HANDLE = 30000,
  LG_QNN_SYSTEM_CONTEXT_ERROR_INVALID_ARGUMENT = 30001,
  LG_QNN_SYSTEM_CONTEXT_ERROR_OPERATION_FAILED = 30002,
  LG_QNN_SYSTEM_CONTEXT_ERROR_MALFORMED_BINARY = 30010,
  /* QnnInterface.h: same values as the common codes */
  LG_QNN_INTERFACE_ERROR_NOT_SUPPORTED = 1000,
  LG_QNN_INTERFACE_ERROR_INVALID_PARAMETER = 1004
};

/* Backend identifiers (QnnCommon.h comment; each backend's Qnn<Backend>Common.h defines its own). */
#define LG_QNN_BACKEND_ID_NULL 0u
#define LG_QNN_BACKEND_ID_CPU 3u
#define LG_QNN_BACKEND_ID_GPU 4u
#define LG_QNN_BACKEND_ID_DSP 5u
#define LG_QNN_BACKEND_ID_HTP 6u

/* ---------------------------------------------------------------- QnnTypes.h */

typedef uint64_t lg_Qnn_ContextBinarySize_t;

typedef struct {
  uint32_t major;
  uint32_t minor;
  uint32_t patch;
} lg_Qnn_Version_t;

typedef struct {
  lg_Qnn_Version_t coreApiVersion;
  lg_Qnn_Version_t backendApiVersion;
} lg_Qnn_ApiVersion_t;

/* Data types: high byte = class (0 int, 1 uint, 2 float, 3 sfixed, 4 ufixed, 5 bool, 6 string),
 * low byte = bit width written as a hex-looking decimal (0x08, 0x16, 0x32, 0x64, 0x04). */
typedef enum {
  LG_QNN_DATATYPE_INT_8 = 0x0008,
  LG_QNN_DATATYPE_INT_16 = 0x0016,
  LG_QNN_DATATYPE_INT_32 = 0x0032,
  LG_QNN_DATATYPE_INT_64 = 0x0064,
  LG_QNN_DATATYPE_UINT_8 = 0x0108,
  LG_QNN_DATATYPE_UINT_16 = 0x0116,
  LG_QNN_DATATYPE_UINT_32 = 0x0132,
  LG_QNN_DATATYPE_UINT_64 = 0x0164,
  LG_QNN_DATATYPE_FLOAT_16 = 0x0216,
  LG_QNN_DATATYPE_BFLOAT_16 = 0x0226,
  LG_QNN_DATATYPE_FLOAT_32 = 0x0232,
  LG_QNN_DATATYPE_FLOAT_64 = 0x0264,
  LG_QNN_DATATYPE_SFIXED_POINT_4 = 0x0304,
  LG_QNN_DATATYPE_SFIXED_POINT_8 = 0x0308,
  LG_QNN_DATATYPE_SFIXED_POINT_16 = 0x0316,
  LG_QNN_DATATYPE_SFIXED_POINT_32 = 0x0332,
  LG_QNN_DATATYPE_UFIXED_POINT_4 = 0x0404,
  LG_QNN_DATATYPE_UFIXED_POINT_8 = 0x0408,
  LG_QNN_DATATYPE_UFIXED_POINT_16 = 0x0416,
  LG_QNN_DATATYPE_UFIXED_POINT_32 = 0x0432,
  LG_QNN_DATATYPE_BOOL_8 = 0x0508,
  LG_QNN_DATATYPE_STRING = 0x0608,
  LG_QNN_DATATYPE_UNDEFINED = 0x7FFFFFFF
} lg_Qnn_DataType_t;

typedef enum {
  LG_QNN_TENSOR_TYPE_APP_WRITE = 0,
  LG_QNN_TENSOR_TYPE_APP_READ = 1,
  LG_QNN_TENSOR_TYPE_APP_READWRITE = 2,
  LG_QNN_TENSOR_TYPE_NATIVE = 3,
  LG_QNN_TENSOR_TYPE_STATIC = 4,
  LG_QNN_TENSOR_TYPE_NULL = 5,
  LG_QNN_TENSOR_TYPE_UPDATEABLE_STATIC = 6,
  LG_QNN_TENSOR_TYPE_UPDATEABLE_NATIVE = 7,
  LG_QNN_TENSOR_TYPE_UPDATEABLE_APP_WRITE = 8,
  LG_QNN_TENSOR_TYPE_UPDATEABLE_APP_READ = 9,
  LG_QNN_TENSOR_TYPE_UPDATEABLE_APP_READWRITE = 10,
  LG_QNN_TENSOR_TYPE_OPTIONAL_APP_WRITE = 11,
  LG_QNN_TENSOR_TYPE_OPTIONAL_APP_READ = 12,
  LG_QNN_TENSOR_TYPE_OPTIONAL_APP_READWRITE = 13,
  LG_QNN_TENSOR_TYPE_UNDEFINED = 0x7FFFFFFF
} lg_Qnn_TensorType_t;

typedef enum {
  LG_QNN_DEFINITION_IMPL_GENERATED = 0,
  LG_QNN_DEFINITION_DEFINED = 1,
  LG_QNN_DEFINITION_UNDEFINED = 0x7FFFFFFF
} lg_Qnn_Definition_t;

typedef enum {
  LG_QNN_QUANTIZATION_ENCODING_SCALE_OFFSET = 0,
  LG_QNN_QUANTIZATION_ENCODING_AXIS_SCALE_OFFSET = 1,
  LG_QNN_QUANTIZATION_ENCODING_BW_SCALE_OFFSET = 2,
  LG_QNN_QUANTIZATION_ENCODING_BW_AXIS_SCALE_OFFSET = 3,
  /* Later encodings: the addon reports their code and name only (their parameters are values of at
   * most the union's size, or pointers). BLOCKWISE_EXPANSION is the LPBQ weights' encoding. */
  LG_QNN_QUANTIZATION_ENCODING_BLOCK = 4,
  LG_QNN_QUANTIZATION_ENCODING_BLOCKWISE_EXPANSION = 5,
  LG_QNN_QUANTIZATION_ENCODING_VECTOR = 6,
  LG_QNN_QUANTIZATION_ENCODING_FLOAT_BLOCK = 7,
  LG_QNN_QUANTIZATION_ENCODING_BW_AXIS_SCALE_OFFSET_MAPPED = 8,
  LG_QNN_QUANTIZATION_ENCODING_BW_BLOCK_MAPPED = 9,
  LG_QNN_QUANTIZATION_ENCODING_BW_BLOCKWISE_EXPANSION_MAPPED = 10,
  LG_QNN_QUANTIZATION_ENCODING_BW_FLOAT_BLOCK = 11,
  LG_QNN_QUANTIZATION_ENCODING_UNDEFINED = 0x7FFFFFFF
} lg_Qnn_QuantizationEncoding_t;

/* real = scale * (quantized + offset); offset is the negated zero point. */
typedef struct {
  float scale;
  int32_t offset;
} lg_Qnn_ScaleOffset_t;

typedef struct {
  int32_t axis;
  uint32_t numScaleOffsets;
  lg_Qnn_ScaleOffset_t* scaleOffset;
} lg_Qnn_AxisScaleOffset_t;

typedef struct {
  uint32_t bitwidth;
  float scale;
  int32_t offset;
} lg_Qnn_BwScaleOffset_t;

typedef struct {
  uint32_t bitwidth;
  int32_t axis;
  uint32_t numElements;
  float* scales;
  int32_t* offsets; /* may be NULL: symmetric */
} lg_Qnn_BwAxisScaleOffset_t;

typedef struct {
  lg_Qnn_Definition_t encodingDefinition;
  lg_Qnn_QuantizationEncoding_t quantizationEncoding;
  union {
    lg_Qnn_ScaleOffset_t scaleOffsetEncoding;
    lg_Qnn_AxisScaleOffset_t axisScaleOffsetEncoding;
    lg_Qnn_BwScaleOffset_t bwScaleOffsetEncoding;
    /* the largest member in every SDK version: fixes the union at 32 bytes / 8-byte alignment;
     * later SDKs add block/vector encodings (values of at most this size, or pointers) */
    lg_Qnn_BwAxisScaleOffset_t bwAxisScaleOffsetEncoding;
  };
} lg_Qnn_QuantizeParams_t;

typedef uint32_t lg_Qnn_TensorDataFormat_t; /* 0 = dense / flat buffer */
#define LG_QNN_TENSOR_DATA_FORMAT_FLAT_BUFFER 0u

typedef enum {
  LG_QNN_TENSORMEMTYPE_RAW = 0,
  LG_QNN_TENSORMEMTYPE_MEMHANDLE = 1,
  LG_QNN_TENSORMEMTYPE_RETRIEVE_RAW = 2,
  LG_QNN_TENSORMEMTYPE_UNDEFINED = 0x7FFFFFFF
} lg_Qnn_TensorMemType_t;

typedef struct {
  void* data;
  uint32_t dataSize; /* bytes; 32-bit in the API */
} lg_Qnn_ClientBuffer_t;

typedef struct {
  uint32_t id;
  const char* name;
  lg_Qnn_TensorType_t type;
  lg_Qnn_TensorDataFormat_t dataFormat;
  lg_Qnn_DataType_t dataType;
  lg_Qnn_QuantizeParams_t quantizeParams;
  uint32_t rank;
  uint32_t* dimensions;
  lg_Qnn_TensorMemType_t memType;
  union {
    lg_Qnn_ClientBuffer_t clientBuf;
    lg_Qnn_MemHandle_t memHandle;
  };
} lg_Qnn_TensorV1_t;

typedef struct {
  uint32_t numSpecifiedElements;
  uint32_t numSparseDimensions;
} lg_Qnn_SparseLayoutHybridCoo_t;

typedef struct {
  uint32_t type; /* Qnn_SparseLayoutType_t: 0 = hybrid COO */
  union {
    lg_Qnn_SparseLayoutHybridCoo_t hybridCoo;
  };
} lg_Qnn_SparseParams_t;

typedef struct {
  uint32_t id;
  const char* name;
  lg_Qnn_TensorType_t type;
  lg_Qnn_TensorDataFormat_t dataFormat;
  lg_Qnn_DataType_t dataType;
  lg_Qnn_QuantizeParams_t quantizeParams;
  uint32_t rank;
  uint32_t* dimensions;
  lg_Qnn_TensorMemType_t memType;
  union {
    lg_Qnn_ClientBuffer_t clientBuf;
    lg_Qnn_MemHandle_t memHandle;
    void* retrieveRaw; /* Qnn_TensorRetrieveRaw_t*, unused here */
  };
  uint8_t* isDynamicDimensions;
  lg_Qnn_SparseParams_t sparseParams;
  uint8_t isProduced;
} lg_Qnn_TensorV2_t;

typedef enum {
  LG_QNN_TENSOR_VERSION_1 = 1,
  LG_QNN_TENSOR_VERSION_2 = 2,
  LG_QNN_TENSOR_VERSION_UNDEFINED = 0x7FFFFFFF
} lg_Qnn_TensorVersion_t;

typedef struct {
  lg_Qnn_TensorVersion_t version;
  union {
    lg_Qnn_TensorV1_t v1;
    lg_Qnn_TensorV2_t v2;
  };
} lg_Qnn_Tensor_t;

/* ---------------------------------------------------------------- QnnLog.h */

typedef enum {
  LG_QNN_LOG_LEVEL_ERROR = 1,
  LG_QNN_LOG_LEVEL_WARN = 2,
  LG_QNN_LOG_LEVEL_INFO = 3,
  LG_QNN_LOG_LEVEL_VERBOSE = 4,
  LG_QNN_LOG_LEVEL_DEBUG = 5,
  LG_QNN_LOG_LEVEL_MAX = 0x7FFFFFFF
} lg_QnnLog_Level_t;

typedef void (*lg_QnnLog_Callback_t)(const char* fmt, lg_QnnLog_Level_t level, uint64_t timestamp,
                                     va_list args);

/* ---------------------------------------------------------------- component signatures */

/* Config structures are only ever passed as NULL here: opaque. */
typedef struct lg_QnnBackend_Config lg_QnnBackend_Config_t;
typedef struct lg_QnnDevice_Config lg_QnnDevice_Config_t;
typedef struct lg_QnnContext_Config lg_QnnContext_Config_t;

typedef lg_Qnn_ErrorHandle_t (*lg_QnnLog_CreateFn_t)(lg_QnnLog_Callback_t callback,
                                                     lg_QnnLog_Level_t maxLogLevel,
                                                     lg_Qnn_LogHandle_t* logger);
typedef lg_Qnn_ErrorHandle_t (*lg_QnnLog_FreeFn_t)(lg_Qnn_LogHandle_t logger);

typedef lg_Qnn_ErrorHandle_t (*lg_QnnBackend_CreateFn_t)(lg_Qnn_LogHandle_t logger,
                                                         const lg_QnnBackend_Config_t** config,
                                                         lg_Qnn_BackendHandle_t* backend);
typedef lg_Qnn_ErrorHandle_t (*lg_QnnBackend_GetApiVersionFn_t)(lg_Qnn_ApiVersion_t* version);
typedef lg_Qnn_ErrorHandle_t (*lg_QnnBackend_GetBuildIdFn_t)(const char** id);
typedef lg_Qnn_ErrorHandle_t (*lg_QnnBackend_FreeFn_t)(lg_Qnn_BackendHandle_t backend);

typedef lg_Qnn_ErrorHandle_t (*lg_QnnDevice_CreateFn_t)(lg_Qnn_LogHandle_t logger,
                                                        const lg_QnnDevice_Config_t** config,
                                                        lg_Qnn_DeviceHandle_t* device);
typedef lg_Qnn_ErrorHandle_t (*lg_QnnDevice_FreeFn_t)(lg_Qnn_DeviceHandle_t device);

typedef lg_Qnn_ErrorHandle_t (*lg_QnnContext_CreateFromBinaryFn_t)(
    lg_Qnn_BackendHandle_t backend, lg_Qnn_DeviceHandle_t device,
    const lg_QnnContext_Config_t** config, const void* binaryBuffer,
    lg_Qnn_ContextBinarySize_t binaryBufferSize, lg_Qnn_ContextHandle_t* context,
    lg_Qnn_ProfileHandle_t profile);
typedef lg_Qnn_ErrorHandle_t (*lg_QnnContext_FreeFn_t)(lg_Qnn_ContextHandle_t context,
                                                       lg_Qnn_ProfileHandle_t profile);

typedef lg_Qnn_ErrorHandle_t (*lg_QnnGraph_RetrieveFn_t)(lg_Qnn_ContextHandle_t context,
                                                         const char* graphName,
                                                         lg_Qnn_GraphHandle_t* graph);
typedef lg_Qnn_ErrorHandle_t (*lg_QnnGraph_ExecuteFn_t)(
    lg_Qnn_GraphHandle_t graph, const lg_Qnn_Tensor_t* inputs, uint32_t numInputs,
    lg_Qnn_Tensor_t* outputs, uint32_t numOutputs, lg_Qnn_ProfileHandle_t profile,
    lg_Qnn_SignalHandle_t signal);

/* Table slots this code never calls: only their position matters. */
typedef void (*lg_QnnUnusedFn_t)(void);

/* ---------------------------------------------------------------- QnnInterface.h */

/* QNN_INTERFACE_VER_TYPE, in the SDK's order. Later API minors append entries after signalFree; the
 * prefix below is that of core API 2.10 and later (2.7 lacks four of these slots, see the top). */
typedef struct {
  lg_QnnUnusedFn_t propertyHasCapability;

  lg_QnnBackend_CreateFn_t backendCreate;
  lg_QnnUnusedFn_t backendSetConfig;
  lg_QnnBackend_GetApiVersionFn_t backendGetApiVersion;
  lg_QnnBackend_GetBuildIdFn_t backendGetBuildId;
  lg_QnnUnusedFn_t backendRegisterOpPackage;
  lg_QnnUnusedFn_t backendGetSupportedOperations;
  lg_QnnUnusedFn_t backendValidateOpConfig;
  lg_QnnBackend_FreeFn_t backendFree;

  lg_QnnUnusedFn_t contextCreate;
  lg_QnnUnusedFn_t contextSetConfig;
  lg_QnnUnusedFn_t contextGetBinarySize;
  lg_QnnUnusedFn_t contextGetBinary;
  lg_QnnContext_CreateFromBinaryFn_t contextCreateFromBinary;
  lg_QnnContext_FreeFn_t contextFree;

  lg_QnnUnusedFn_t graphCreate;
  lg_QnnUnusedFn_t graphCreateSubgraph;
  lg_QnnUnusedFn_t graphSetConfig;
  lg_QnnUnusedFn_t graphAddNode;
  lg_QnnUnusedFn_t graphFinalize;
  lg_QnnGraph_RetrieveFn_t graphRetrieve;
  lg_QnnGraph_ExecuteFn_t graphExecute;
  lg_QnnUnusedFn_t graphExecuteAsync;

  lg_QnnUnusedFn_t tensorCreateContextTensor;
  lg_QnnUnusedFn_t tensorCreateGraphTensor;

  lg_QnnLog_CreateFn_t logCreate;
  lg_QnnUnusedFn_t logSetLogLevel;
  lg_QnnLog_FreeFn_t logFree;

  lg_QnnUnusedFn_t profileCreate;
  lg_QnnUnusedFn_t profileSetConfig;
  lg_QnnUnusedFn_t profileGetEvents;
  lg_QnnUnusedFn_t profileGetSubEvents;
  lg_QnnUnusedFn_t profileGetEventData;
  lg_QnnUnusedFn_t profileGetExtendedEventData;
  lg_QnnUnusedFn_t profileFree;

  lg_QnnUnusedFn_t memRegister;
  lg_QnnUnusedFn_t memDeRegister;

  lg_QnnUnusedFn_t deviceGetPlatformInfo;
  lg_QnnUnusedFn_t deviceFreePlatformInfo;
  lg_QnnUnusedFn_t deviceGetInfrastructure;
  lg_QnnDevice_CreateFn_t deviceCreate;
  lg_QnnUnusedFn_t deviceSetConfig;
  lg_QnnUnusedFn_t deviceGetInfo;
  lg_QnnDevice_FreeFn_t deviceFree;

  lg_QnnUnusedFn_t signalCreate;
  lg_QnnUnusedFn_t signalSetConfig;
  lg_QnnUnusedFn_t signalTrigger;
  lg_QnnUnusedFn_t signalFree;
} lg_QnnInterface_FunctionTable_t;

typedef struct {
  uint32_t backendId;
  const char* providerName; /* may be NULL */
  lg_Qnn_ApiVersion_t apiVersion;
  union {
    lg_QnnInterface_FunctionTable_t functions; /* named v<major>_<minor> in the SDK */
  };
} lg_QnnInterface_t;

typedef lg_Qnn_ErrorHandle_t (*lg_QnnInterface_GetProvidersFn_t)(
    const lg_QnnInterface_t*** providerList, uint32_t* numProviders);
#define LG_QNN_INTERFACE_GET_PROVIDERS_SYMBOL "QnnInterface_getProviders"

/* ---------------------------------------------------------------- System/QnnSystemContext.h */

typedef void* lg_QnnSystemContext_Handle_t;

typedef enum {
  LG_QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_1 = 1,
  LG_QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_2 = 2,
  LG_QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_3 = 3,
  LG_QNN_SYSTEM_CONTEXT_GRAPH_INFO_UNDEFINED = 0x7FFFFFFF
} lg_QnnSystemContext_GraphInfoVersion_t;

typedef enum {
  LG_QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_1 = 1,
  LG_QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_2 = 2,
  LG_QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_3 = 3,
  LG_QNN_SYSTEM_CONTEXT_BINARY_INFO_UNDEFINED = 0x7FFFFFFF
} lg_QnnSystemContext_BinaryInfoVersion_t;

/* V2 and V3 start with the V1 fields, in the same order. */
typedef struct {
  const char* graphName;
  uint32_t numGraphInputs;
  lg_Qnn_Tensor_t* graphInputs;
  uint32_t numGraphOutputs;
  lg_Qnn_Tensor_t* graphOutputs;
} lg_QnnSystemContext_GraphInfoV1_t;

typedef struct {
  const char* graphName;
  uint32_t numGraphInputs;
  lg_Qnn_Tensor_t* graphInputs;
  uint32_t numGraphOutputs;
  lg_Qnn_Tensor_t* graphOutputs;
  uint32_t numUpdateableTensors;
  lg_Qnn_Tensor_t* updateableTensors;
} lg_QnnSystemContext_GraphInfoV2_t;

typedef struct {
  const char* graphName;
  uint32_t numGraphInputs;
  lg_Qnn_Tensor_t* graphInputs;
  uint32_t numGraphOutputs;
  lg_Qnn_Tensor_t* graphOutputs;
  uint32_t numUpdateableTensors;
  lg_Qnn_Tensor_t* updateableTensors;
  uint32_t graphBlobInfoSize;
  void* graphBlobInfo;
  uint32_t startOpIndex;
  uint32_t endOpIndex;
} lg_QnnSystemContext_GraphInfoV3_t;

typedef struct {
  lg_QnnSystemContext_GraphInfoVersion_t version;
  union {
    lg_QnnSystemContext_GraphInfoV1_t graphInfoV1;
    lg_QnnSystemContext_GraphInfoV2_t graphInfoV2;
    lg_QnnSystemContext_GraphInfoV3_t graphInfoV3;
  };
} lg_QnnSystemContext_GraphInfo_t;

typedef struct {
  uint32_t backendId;
  const char* buildId;
  lg_Qnn_Version_t coreApiVersion;
  lg_Qnn_Version_t backendApiVersion;
  const char* socVersion;
  lg_Qnn_Version_t hwInfoBlobVersion;
  lg_Qnn_Version_t contextBlobVersion;
  uint32_t hwInfoBlobSize;
  void* hwInfoBlob;
  uint64_t contextBlobSize;
  uint32_t numContextTensors;
  lg_Qnn_Tensor_t* contextTensors;
  uint32_t numGraphs;
  lg_QnnSystemContext_GraphInfo_t* graphs;
} lg_QnnSystemContext_BinaryInfoV1_t;

typedef struct {
  uint32_t backendId;
  const char* buildId;
  lg_Qnn_Version_t coreApiVersion;
  lg_Qnn_Version_t backendApiVersion;
  const char* socVersion;
  lg_Qnn_Version_t hwInfoBlobVersion;
  lg_Qnn_Version_t contextBlobVersion;
  uint32_t hwInfoBlobSize;
  void* hwInfoBlob;
  uint64_t contextBlobSize;
  uint32_t numContextTensors;
  lg_Qnn_Tensor_t* contextTensors;
  uint32_t numGraphs;
  lg_QnnSystemContext_GraphInfo_t* graphs;
  void* platformInfo; /* QnnDevice_PlatformInfo_t* */
} lg_QnnSystemContext_BinaryInfoV2_t;

/* V3 drops the hardware-info blob fields of V1/V2 and adds metadata and the SoC model. */
typedef struct {
  uint32_t backendId;
  const char* buildId;
  lg_Qnn_Version_t coreApiVersion;
  lg_Qnn_Version_t backendApiVersion;
  const char* socVersion;
  lg_Qnn_Version_t contextBlobVersion;
  uint64_t contextBlobSize;
  uint32_t numContextTensors;
  lg_Qnn_Tensor_t* contextTensors;
  uint32_t numGraphs;
  lg_QnnSystemContext_GraphInfo_t* graphs;
  void* platformInfo; /* QnnDevice_PlatformInfo_t* */
  uint32_t contextMetadataSize;
  void* contextMetadata;
  uint32_t socModel;
} lg_QnnSystemContext_BinaryInfoV3_t;

typedef struct {
  lg_QnnSystemContext_BinaryInfoVersion_t version;
  union {
    lg_QnnSystemContext_BinaryInfoV1_t contextBinaryInfoV1;
    lg_QnnSystemContext_BinaryInfoV2_t contextBinaryInfoV2;
    lg_QnnSystemContext_BinaryInfoV3_t contextBinaryInfoV3;
  };
} lg_QnnSystemContext_BinaryInfo_t;

typedef lg_Qnn_ErrorHandle_t (*lg_QnnSystemContext_CreateFn_t)(
    lg_QnnSystemContext_Handle_t* sysCtxHandle);
/* binaryBuffer is `void*` (not const) in the SDK's signature; it is only read. */
typedef lg_Qnn_ErrorHandle_t (*lg_QnnSystemContext_GetBinaryInfoFn_t)(
    lg_QnnSystemContext_Handle_t sysCtxHandle, void* binaryBuffer, uint64_t binaryBufferSize,
    const lg_QnnSystemContext_BinaryInfo_t** binaryInfo,
    lg_Qnn_ContextBinarySize_t* binaryInfoSize);
typedef lg_Qnn_ErrorHandle_t (*lg_QnnSystemContext_FreeFn_t)(
    lg_QnnSystemContext_Handle_t sysCtxHandle);

/* ---------------------------------------------------------------- System/QnnSystemInterface.h */

/* QNN_SYSTEM_INTERFACE_VER_TYPE prefix, in the SDK's order (later minors append entries). */
typedef struct {
  lg_QnnSystemContext_CreateFn_t systemContextCreate;
  lg_QnnSystemContext_GetBinaryInfoFn_t systemContextGetBinaryInfo;
  lg_QnnUnusedFn_t systemContextGetMetaData;
  lg_QnnSystemContext_FreeFn_t systemContextFree;
} lg_QnnSystemInterface_FunctionTable_t;

typedef struct {
  uint32_t backendId;
  const char* providerName; /* may be NULL */
  lg_Qnn_Version_t systemApiVersion;
  union {
    lg_QnnSystemInterface_FunctionTable_t functions; /* named v<major>_<minor> in the SDK */
  };
} lg_QnnSystemInterface_t;

typedef lg_Qnn_ErrorHandle_t (*lg_QnnSystemInterface_GetProvidersFn_t)(
    const lg_QnnSystemInterface_t*** providerList, uint32_t* numProviders);
#define LG_QNN_SYSTEM_INTERFACE_GET_PROVIDERS_SYMBOL "QnnSystemInterface_getProviders"

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LG_QNN_API_H */
