// sdk-check.cc - compiled only when QNN_SDK_ROOT is set at build time (native/binding.gyp): includes
// the Qualcomm SDK's headers and ours (native/include/lg_qnn_api.h) in one translation unit and
// static_asserts that they agree on everything the addon and the stand-ins rely on: the size and
// alignment of every structure, the offset and size of every field, the shape of every function we call
// (arity and the size of each parameter), and the value of every enum constant and error code. If
// this file compiles, the addon built against our declarations talks to that SDK's libraries with
// the SDK's own layout. No code is generated.
//
// Which SDKs: those whose libraries the addon accepts, core API >= 2.14 and system API >= 1.2
// (lg_qnn_api.h, docs/qnn.md "QNN versions"). Headers older than that stop the build here with one
// #error naming the minimum (their Qnn_Tensor_t, interface table or graph info has another layout), not
// with a page of failed assertions. Compiled cleanly with -Wall -Wextra -Werror against the headers of
// SDK 2.30 (core API 2.23, system API 1.2), SDK 2.40 (core 2.29 / system 1.5 and core 2.30 / system 1.6)
// and SDK 2.43 (core 2.32, system 1.7). Constants that not every accepted SDK defines are checked from
// the core API minor where they are known to exist: the one the SDK's API revision history names, else
// the oldest of the headers above that has them (so between 2.14 and that minor they go unchecked).
#include <cstddef>
#include <cstdint>

#include "QnnInterface.h"
#include "System/QnnSystemInterface.h"
#include "lg_qnn_api.h"

#if QNN_API_VERSION_MAJOR == 2 && QNN_API_VERSION_MINOR < LG_QNN_API_VERSION_MIN_MINOR
#error "QNN SDK headers (QNN_SDK_ROOT) of core API older than 2.14: the addon accepts core API 2.14 or newer only (docs/qnn.md, QNN versions); point QNN_SDK_ROOT at a newer SDK"
#elif QNN_SYSTEM_API_VERSION_MAJOR == 1 && QNN_SYSTEM_API_VERSION_MINOR < LG_QNN_SYSTEM_API_VERSION_MIN_MINOR
#error "QNN SDK headers (QNN_SDK_ROOT) of system API older than 1.2: the addon accepts system API 1.2 or newer only (docs/qnn.md, QNN versions); point QNN_SDK_ROOT at a newer SDK"
#else

namespace {

template <typename F>
struct Shape;
template <typename R, typename... A>
struct Shape<R (*)(A...)> {
  static constexpr std::size_t arity = sizeof...(A);
  static constexpr std::size_t result = sizeof(R);
  static constexpr std::size_t sizes[sizeof...(A) + 1] = {sizeof(A)..., 0};
};
template <typename... A>
struct Shape<void (*)(A...)> {
  static constexpr std::size_t arity = sizeof...(A);
  static constexpr std::size_t result = 0;
  static constexpr std::size_t sizes[sizeof...(A) + 1] = {sizeof(A)..., 0};
};

template <typename Ours, typename Theirs>
constexpr bool SameShape() {
  if (Shape<Ours>::arity != Shape<Theirs>::arity || Shape<Ours>::result != Shape<Theirs>::result) return false;
  for (std::size_t i = 0; i < Shape<Ours>::arity; ++i)
    if (Shape<Ours>::sizes[i] != Shape<Theirs>::sizes[i]) return false;
  return true;
}

}  // namespace

#define LG_SAME_TYPE(ours, theirs)                                              \
  static_assert(sizeof(ours) == sizeof(theirs), #ours " / " #theirs ": size"); \
  static_assert(alignof(ours) == alignof(theirs), #ours " / " #theirs ": alignment")
#define LG_SAME_FIELD(ours, theirs, field)                                                   \
  static_assert(offsetof(ours, field) == offsetof(theirs, field), #ours "." #field ": offset"); \
  static_assert(sizeof(static_cast<ours*>(nullptr)->field) == sizeof(static_cast<theirs*>(nullptr)->field), \
                #ours "." #field ": size")
#define LG_SAME_FIELD_AS(ours, ofield, theirs, tfield) \
  static_assert(offsetof(ours, ofield) == offsetof(theirs, tfield), #ours "." #ofield ": offset")
#define LG_SAME_VALUE(ours, theirs) \
  static_assert(static_cast<long long>(ours) == static_cast<long long>(theirs), #ours " / " #theirs ": value")
#define LG_SAME_SHAPE(ours, theirs) static_assert(SameShape<ours, theirs>(), #ours " / " #theirs ": signature")

// ------------------------------------------------------------------ QnnCommon.h
LG_SAME_VALUE(LG_QNN_API_VERSION_MAJOR, QNN_API_VERSION_MAJOR);
LG_SAME_VALUE(LG_QNN_SYSTEM_API_VERSION_MAJOR, QNN_SYSTEM_API_VERSION_MAJOR);
LG_SAME_VALUE(LG_QNN_SUCCESS, QNN_SUCCESS);
LG_SAME_TYPE(lg_Qnn_ErrorHandle_t, Qnn_ErrorHandle_t);
LG_SAME_TYPE(lg_Qnn_Handle_t, Qnn_Handle_t);
LG_SAME_VALUE(LG_QNN_ERROR_CODE(0x12345678ABCDull), QNN_GET_ERROR_CODE(0x12345678ABCDull));

LG_SAME_VALUE(LG_QNN_COMMON_ERROR_NOT_SUPPORTED, QNN_COMMON_ERROR_NOT_SUPPORTED);
LG_SAME_VALUE(LG_QNN_COMMON_ERROR_MEM_ALLOC, QNN_COMMON_ERROR_MEM_ALLOC);
LG_SAME_VALUE(LG_QNN_COMMON_ERROR_SYSTEM, QNN_COMMON_ERROR_SYSTEM);
LG_SAME_VALUE(LG_QNN_COMMON_ERROR_INVALID_ARGUMENT, QNN_COMMON_ERROR_INVALID_ARGUMENT);
LG_SAME_VALUE(LG_QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED, QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED);
LG_SAME_VALUE(LG_QNN_COMMON_ERROR_PLATFORM_NOT_SUPPORTED, QNN_COMMON_ERROR_PLATFORM_NOT_SUPPORTED);
LG_SAME_VALUE(LG_QNN_COMMON_ERROR_SYSTEM_COMMUNICATION, QNN_COMMON_ERROR_SYSTEM_COMMUNICATION);
LG_SAME_VALUE(LG_QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES, QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES);
LG_SAME_VALUE(LG_QNN_COMMON_ERROR_LOADING_BINARIES, QNN_COMMON_ERROR_LOADING_BINARIES);
LG_SAME_VALUE(LG_QNN_COMMON_ERROR_RESOURCE_UNAVAILABLE, QNN_COMMON_ERROR_RESOURCE_UNAVAILABLE);
LG_SAME_VALUE(LG_QNN_COMMON_ERROR_GENERAL, QNN_COMMON_ERROR_GENERAL);
LG_SAME_VALUE(LG_QNN_BACKEND_ERROR_CANNOT_INITIALIZE, QNN_BACKEND_ERROR_CANNOT_INITIALIZE);
LG_SAME_VALUE(LG_QNN_BACKEND_ERROR_TERMINATE_FAILED, QNN_BACKEND_ERROR_TERMINATE_FAILED);
LG_SAME_VALUE(LG_QNN_BACKEND_ERROR_NOT_SUPPORTED, QNN_BACKEND_ERROR_NOT_SUPPORTED);
LG_SAME_VALUE(LG_QNN_BACKEND_ERROR_INVALID_ARGUMENT, QNN_BACKEND_ERROR_INVALID_ARGUMENT);
LG_SAME_VALUE(LG_QNN_BACKEND_ERROR_INVALID_HANDLE, QNN_BACKEND_ERROR_INVALID_HANDLE);
LG_SAME_VALUE(LG_QNN_BACKEND_ERROR_INVALID_CONFIG, QNN_BACKEND_ERROR_INVALID_CONFIG);
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_INVALID_ARGUMENT, QNN_CONTEXT_ERROR_INVALID_ARGUMENT);
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_CTX_DOES_NOT_EXIST, QNN_CONTEXT_ERROR_CTX_DOES_NOT_EXIST);
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_INVALID_HANDLE, QNN_CONTEXT_ERROR_INVALID_HANDLE);
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_NOT_FINALIZED, QNN_CONTEXT_ERROR_NOT_FINALIZED);
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_BINARY_VERSION, QNN_CONTEXT_ERROR_BINARY_VERSION);
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_CREATE_FROM_BINARY, QNN_CONTEXT_ERROR_CREATE_FROM_BINARY);
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_GET_BINARY_SIZE_FAILED, QNN_CONTEXT_ERROR_GET_BINARY_SIZE_FAILED);
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_GET_BINARY_FAILED, QNN_CONTEXT_ERROR_GET_BINARY_FAILED);
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_BINARY_CONFIGURATION, QNN_CONTEXT_ERROR_BINARY_CONFIGURATION);
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_SET_PROFILE, QNN_CONTEXT_ERROR_SET_PROFILE);
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_INVALID_CONFIG, QNN_CONTEXT_ERROR_INVALID_CONFIG);
LG_SAME_VALUE(LG_QNN_GRAPH_ERROR_INVALID_ARGUMENT, QNN_GRAPH_ERROR_INVALID_ARGUMENT);
LG_SAME_VALUE(LG_QNN_GRAPH_ERROR_INVALID_HANDLE, QNN_GRAPH_ERROR_INVALID_HANDLE);
LG_SAME_VALUE(LG_QNN_GRAPH_ERROR_GRAPH_DOES_NOT_EXIST, QNN_GRAPH_ERROR_GRAPH_DOES_NOT_EXIST);
LG_SAME_VALUE(LG_QNN_GRAPH_ERROR_INVALID_NAME, QNN_GRAPH_ERROR_INVALID_NAME);
LG_SAME_VALUE(LG_QNN_GRAPH_ERROR_INVALID_TENSOR, QNN_GRAPH_ERROR_INVALID_TENSOR);
LG_SAME_VALUE(LG_QNN_GRAPH_ERROR_GRAPH_NOT_FINALIZED, QNN_GRAPH_ERROR_GRAPH_NOT_FINALIZED);
LG_SAME_VALUE(LG_QNN_LOG_ERROR_INITIALIZATION, QNN_LOG_ERROR_INITIALIZATION);
LG_SAME_VALUE(LG_QNN_LOG_ERROR_INVALID_ARGUMENT, QNN_LOG_ERROR_INVALID_ARGUMENT);
LG_SAME_VALUE(LG_QNN_LOG_ERROR_INVALID_HANDLE, QNN_LOG_ERROR_INVALID_HANDLE);
LG_SAME_VALUE(LG_QNN_DEVICE_ERROR_INVALID_HANDLE, QNN_DEVICE_ERROR_INVALID_HANDLE);
LG_SAME_VALUE(LG_QNN_DEVICE_ERROR_INVALID_CONFIG, QNN_DEVICE_ERROR_INVALID_CONFIG);
LG_SAME_VALUE(LG_QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE, QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE);
LG_SAME_VALUE(LG_QNN_DEVICE_ERROR_ASSOCIATED_TO_CONTEXT, QNN_DEVICE_ERROR_ASSOCIATED_TO_CONTEXT);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_ERROR_INVALID_HANDLE, QNN_SYSTEM_CONTEXT_ERROR_INVALID_HANDLE);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_ERROR_INVALID_ARGUMENT, QNN_SYSTEM_CONTEXT_ERROR_INVALID_ARGUMENT);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_ERROR_OPERATION_FAILED, QNN_SYSTEM_CONTEXT_ERROR_OPERATION_FAILED);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_ERROR_MALFORMED_BINARY, QNN_SYSTEM_CONTEXT_ERROR_MALFORMED_BINARY);
LG_SAME_VALUE(LG_QNN_INTERFACE_ERROR_NOT_SUPPORTED, QNN_INTERFACE_ERROR_NOT_SUPPORTED);
LG_SAME_VALUE(LG_QNN_INTERFACE_ERROR_INVALID_PARAMETER, QNN_INTERFACE_ERROR_INVALID_PARAMETER);
#if QNN_API_VERSION_MINOR >= 17  // API revision history: added in 2.17
LG_SAME_VALUE(LG_QNN_COMMON_ERROR_SYSTEM_COMMUNICATION_FATAL, QNN_COMMON_ERROR_SYSTEM_COMMUNICATION_FATAL);
#endif
#if QNN_API_VERSION_MINOR >= 23  // present in 2.23 (SDK 2.30)
LG_SAME_VALUE(LG_QNN_CONTEXT_ERROR_BINARY_SUBOPTIMAL, QNN_CONTEXT_ERROR_BINARY_SUBOPTIMAL);
LG_SAME_VALUE(LG_QNN_GRAPH_ERROR_DISABLED, QNN_GRAPH_ERROR_DISABLED);
#endif
LG_SAME_VALUE(LG_QNN_BACKEND_ID_NULL, QNN_BACKEND_ID_NULL);

// ------------------------------------------------------------------ QnnTypes.h
LG_SAME_TYPE(lg_Qnn_ContextBinarySize_t, Qnn_ContextBinarySize_t);
LG_SAME_TYPE(lg_Qnn_Version_t, Qnn_Version_t);
LG_SAME_FIELD(lg_Qnn_Version_t, Qnn_Version_t, major);
LG_SAME_FIELD(lg_Qnn_Version_t, Qnn_Version_t, minor);
LG_SAME_FIELD(lg_Qnn_Version_t, Qnn_Version_t, patch);
LG_SAME_TYPE(lg_Qnn_ApiVersion_t, Qnn_ApiVersion_t);
LG_SAME_FIELD(lg_Qnn_ApiVersion_t, Qnn_ApiVersion_t, coreApiVersion);
LG_SAME_FIELD(lg_Qnn_ApiVersion_t, Qnn_ApiVersion_t, backendApiVersion);

LG_SAME_TYPE(lg_Qnn_DataType_t, Qnn_DataType_t);
LG_SAME_VALUE(LG_QNN_DATATYPE_INT_8, QNN_DATATYPE_INT_8);
LG_SAME_VALUE(LG_QNN_DATATYPE_INT_16, QNN_DATATYPE_INT_16);
LG_SAME_VALUE(LG_QNN_DATATYPE_INT_32, QNN_DATATYPE_INT_32);
LG_SAME_VALUE(LG_QNN_DATATYPE_INT_64, QNN_DATATYPE_INT_64);
LG_SAME_VALUE(LG_QNN_DATATYPE_UINT_8, QNN_DATATYPE_UINT_8);
LG_SAME_VALUE(LG_QNN_DATATYPE_UINT_16, QNN_DATATYPE_UINT_16);
LG_SAME_VALUE(LG_QNN_DATATYPE_UINT_32, QNN_DATATYPE_UINT_32);
LG_SAME_VALUE(LG_QNN_DATATYPE_UINT_64, QNN_DATATYPE_UINT_64);
LG_SAME_VALUE(LG_QNN_DATATYPE_FLOAT_16, QNN_DATATYPE_FLOAT_16);
LG_SAME_VALUE(LG_QNN_DATATYPE_FLOAT_32, QNN_DATATYPE_FLOAT_32);
LG_SAME_VALUE(LG_QNN_DATATYPE_SFIXED_POINT_8, QNN_DATATYPE_SFIXED_POINT_8);
LG_SAME_VALUE(LG_QNN_DATATYPE_SFIXED_POINT_16, QNN_DATATYPE_SFIXED_POINT_16);
LG_SAME_VALUE(LG_QNN_DATATYPE_SFIXED_POINT_32, QNN_DATATYPE_SFIXED_POINT_32);
LG_SAME_VALUE(LG_QNN_DATATYPE_UFIXED_POINT_8, QNN_DATATYPE_UFIXED_POINT_8);
LG_SAME_VALUE(LG_QNN_DATATYPE_UFIXED_POINT_16, QNN_DATATYPE_UFIXED_POINT_16);
LG_SAME_VALUE(LG_QNN_DATATYPE_UFIXED_POINT_32, QNN_DATATYPE_UFIXED_POINT_32);
LG_SAME_VALUE(LG_QNN_DATATYPE_BOOL_8, QNN_DATATYPE_BOOL_8);
LG_SAME_VALUE(LG_QNN_DATATYPE_UNDEFINED, QNN_DATATYPE_UNDEFINED);
#if QNN_API_VERSION_MINOR >= 23  // present in 2.23 (SDK 2.30)
LG_SAME_VALUE(LG_QNN_DATATYPE_FLOAT_64, QNN_DATATYPE_FLOAT_64);
LG_SAME_VALUE(LG_QNN_DATATYPE_SFIXED_POINT_4, QNN_DATATYPE_SFIXED_POINT_4);
LG_SAME_VALUE(LG_QNN_DATATYPE_UFIXED_POINT_4, QNN_DATATYPE_UFIXED_POINT_4);
LG_SAME_VALUE(LG_QNN_DATATYPE_STRING, QNN_DATATYPE_STRING);
#endif
#if QNN_API_VERSION_MINOR >= 32  // absent in 2.29 and 2.30, present in 2.32 (SDK 2.43)
LG_SAME_VALUE(LG_QNN_DATATYPE_BFLOAT_16, QNN_DATATYPE_BFLOAT_16);
#endif

LG_SAME_TYPE(lg_Qnn_TensorType_t, Qnn_TensorType_t);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_APP_WRITE, QNN_TENSOR_TYPE_APP_WRITE);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_APP_READ, QNN_TENSOR_TYPE_APP_READ);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_APP_READWRITE, QNN_TENSOR_TYPE_APP_READWRITE);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_NATIVE, QNN_TENSOR_TYPE_NATIVE);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_STATIC, QNN_TENSOR_TYPE_STATIC);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_NULL, QNN_TENSOR_TYPE_NULL);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_UNDEFINED, QNN_TENSOR_TYPE_UNDEFINED);
#if QNN_API_VERSION_MINOR >= 17  // API revision history: added in 2.17
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_UPDATEABLE_STATIC, QNN_TENSOR_TYPE_UPDATEABLE_STATIC);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_UPDATEABLE_NATIVE, QNN_TENSOR_TYPE_UPDATEABLE_NATIVE);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_UPDATEABLE_APP_WRITE, QNN_TENSOR_TYPE_UPDATEABLE_APP_WRITE);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_UPDATEABLE_APP_READ, QNN_TENSOR_TYPE_UPDATEABLE_APP_READ);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_UPDATEABLE_APP_READWRITE, QNN_TENSOR_TYPE_UPDATEABLE_APP_READWRITE);
#endif
#if QNN_API_VERSION_MINOR >= 22  // API revision history: added in 2.22
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_OPTIONAL_APP_WRITE, QNN_TENSOR_TYPE_OPTIONAL_APP_WRITE);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_OPTIONAL_APP_READ, QNN_TENSOR_TYPE_OPTIONAL_APP_READ);
LG_SAME_VALUE(LG_QNN_TENSOR_TYPE_OPTIONAL_APP_READWRITE, QNN_TENSOR_TYPE_OPTIONAL_APP_READWRITE);
#endif

LG_SAME_TYPE(lg_Qnn_Definition_t, Qnn_Definition_t);
LG_SAME_VALUE(LG_QNN_DEFINITION_IMPL_GENERATED, QNN_DEFINITION_IMPL_GENERATED);
LG_SAME_VALUE(LG_QNN_DEFINITION_DEFINED, QNN_DEFINITION_DEFINED);
LG_SAME_VALUE(LG_QNN_DEFINITION_UNDEFINED, QNN_DEFINITION_UNDEFINED);

LG_SAME_TYPE(lg_Qnn_QuantizationEncoding_t, Qnn_QuantizationEncoding_t);
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_SCALE_OFFSET, QNN_QUANTIZATION_ENCODING_SCALE_OFFSET);
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_AXIS_SCALE_OFFSET, QNN_QUANTIZATION_ENCODING_AXIS_SCALE_OFFSET);
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_BW_SCALE_OFFSET, QNN_QUANTIZATION_ENCODING_BW_SCALE_OFFSET);
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_BW_AXIS_SCALE_OFFSET, QNN_QUANTIZATION_ENCODING_BW_AXIS_SCALE_OFFSET);
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_UNDEFINED, QNN_QUANTIZATION_ENCODING_UNDEFINED);
#if QNN_API_VERSION_MINOR >= 17  // API revision history: added in 2.17
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_BLOCK, QNN_QUANTIZATION_ENCODING_BLOCK);
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_BLOCKWISE_EXPANSION, QNN_QUANTIZATION_ENCODING_BLOCKWISE_EXPANSION);
#endif
#if QNN_API_VERSION_MINOR >= 23  // present in 2.23 (SDK 2.30)
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_VECTOR, QNN_QUANTIZATION_ENCODING_VECTOR);
#endif
#if QNN_API_VERSION_MINOR >= 29  // absent in 2.23, present in 2.29 (SDK 2.40)
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_FLOAT_BLOCK, QNN_QUANTIZATION_ENCODING_FLOAT_BLOCK);
#endif
#if QNN_API_VERSION_MINOR >= 32  // absent in 2.30, present in 2.32 (SDK 2.43)
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_BW_AXIS_SCALE_OFFSET_MAPPED, QNN_QUANTIZATION_ENCODING_BW_AXIS_SCALE_OFFSET_MAPPED);
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_BW_BLOCK_MAPPED, QNN_QUANTIZATION_ENCODING_BW_BLOCK_MAPPED);
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_BW_BLOCKWISE_EXPANSION_MAPPED, QNN_QUANTIZATION_ENCODING_BW_BLOCKWISE_EXPANSION_MAPPED);
LG_SAME_VALUE(LG_QNN_QUANTIZATION_ENCODING_BW_FLOAT_BLOCK, QNN_QUANTIZATION_ENCODING_BW_FLOAT_BLOCK);
#endif

LG_SAME_TYPE(lg_Qnn_ScaleOffset_t, Qnn_ScaleOffset_t);
LG_SAME_FIELD(lg_Qnn_ScaleOffset_t, Qnn_ScaleOffset_t, scale);
LG_SAME_FIELD(lg_Qnn_ScaleOffset_t, Qnn_ScaleOffset_t, offset);
LG_SAME_TYPE(lg_Qnn_AxisScaleOffset_t, Qnn_AxisScaleOffset_t);
LG_SAME_FIELD(lg_Qnn_AxisScaleOffset_t, Qnn_AxisScaleOffset_t, axis);
LG_SAME_FIELD(lg_Qnn_AxisScaleOffset_t, Qnn_AxisScaleOffset_t, numScaleOffsets);
LG_SAME_FIELD(lg_Qnn_AxisScaleOffset_t, Qnn_AxisScaleOffset_t, scaleOffset);
LG_SAME_TYPE(lg_Qnn_BwScaleOffset_t, Qnn_BwScaleOffset_t);
LG_SAME_FIELD(lg_Qnn_BwScaleOffset_t, Qnn_BwScaleOffset_t, bitwidth);
LG_SAME_FIELD(lg_Qnn_BwScaleOffset_t, Qnn_BwScaleOffset_t, scale);
LG_SAME_FIELD(lg_Qnn_BwScaleOffset_t, Qnn_BwScaleOffset_t, offset);
LG_SAME_TYPE(lg_Qnn_BwAxisScaleOffset_t, Qnn_BwAxisScaleOffset_t);
LG_SAME_FIELD(lg_Qnn_BwAxisScaleOffset_t, Qnn_BwAxisScaleOffset_t, bitwidth);
LG_SAME_FIELD(lg_Qnn_BwAxisScaleOffset_t, Qnn_BwAxisScaleOffset_t, axis);
LG_SAME_FIELD(lg_Qnn_BwAxisScaleOffset_t, Qnn_BwAxisScaleOffset_t, numElements);
LG_SAME_FIELD(lg_Qnn_BwAxisScaleOffset_t, Qnn_BwAxisScaleOffset_t, scales);
LG_SAME_FIELD(lg_Qnn_BwAxisScaleOffset_t, Qnn_BwAxisScaleOffset_t, offsets);
LG_SAME_TYPE(lg_Qnn_QuantizeParams_t, Qnn_QuantizeParams_t);
LG_SAME_FIELD(lg_Qnn_QuantizeParams_t, Qnn_QuantizeParams_t, encodingDefinition);
LG_SAME_FIELD(lg_Qnn_QuantizeParams_t, Qnn_QuantizeParams_t, quantizationEncoding);
LG_SAME_FIELD(lg_Qnn_QuantizeParams_t, Qnn_QuantizeParams_t, scaleOffsetEncoding);
LG_SAME_FIELD(lg_Qnn_QuantizeParams_t, Qnn_QuantizeParams_t, axisScaleOffsetEncoding);
LG_SAME_FIELD(lg_Qnn_QuantizeParams_t, Qnn_QuantizeParams_t, bwScaleOffsetEncoding);
LG_SAME_FIELD(lg_Qnn_QuantizeParams_t, Qnn_QuantizeParams_t, bwAxisScaleOffsetEncoding);

LG_SAME_VALUE(LG_QNN_TENSOR_DATA_FORMAT_FLAT_BUFFER, QNN_TENSOR_DATA_FORMAT_FLAT_BUFFER);
LG_SAME_TYPE(lg_Qnn_TensorDataFormat_t, Qnn_TensorDataFormat_t);
LG_SAME_TYPE(lg_Qnn_TensorMemType_t, Qnn_TensorMemType_t);
LG_SAME_VALUE(LG_QNN_TENSORMEMTYPE_RAW, QNN_TENSORMEMTYPE_RAW);
LG_SAME_VALUE(LG_QNN_TENSORMEMTYPE_MEMHANDLE, QNN_TENSORMEMTYPE_MEMHANDLE);
LG_SAME_VALUE(LG_QNN_TENSORMEMTYPE_UNDEFINED, QNN_TENSORMEMTYPE_UNDEFINED);
#if QNN_API_VERSION_MINOR >= 22  // API revision history: added in 2.22
LG_SAME_VALUE(LG_QNN_TENSORMEMTYPE_RETRIEVE_RAW, QNN_TENSORMEMTYPE_RETRIEVE_RAW);
#endif
LG_SAME_TYPE(lg_Qnn_ClientBuffer_t, Qnn_ClientBuffer_t);
LG_SAME_FIELD(lg_Qnn_ClientBuffer_t, Qnn_ClientBuffer_t, data);
LG_SAME_FIELD(lg_Qnn_ClientBuffer_t, Qnn_ClientBuffer_t, dataSize);

#define LG_SAME_TENSOR_FIELDS(ours, theirs)         \
  LG_SAME_TYPE(ours, theirs);                       \
  LG_SAME_FIELD(ours, theirs, id);                  \
  LG_SAME_FIELD(ours, theirs, name);                \
  LG_SAME_FIELD(ours, theirs, type);                \
  LG_SAME_FIELD(ours, theirs, dataFormat);          \
  LG_SAME_FIELD(ours, theirs, dataType);            \
  LG_SAME_FIELD(ours, theirs, quantizeParams);      \
  LG_SAME_FIELD(ours, theirs, rank);                \
  LG_SAME_FIELD(ours, theirs, dimensions);          \
  LG_SAME_FIELD(ours, theirs, memType);             \
  LG_SAME_FIELD(ours, theirs, clientBuf);           \
  LG_SAME_FIELD(ours, theirs, memHandle)
LG_SAME_TENSOR_FIELDS(lg_Qnn_TensorV1_t, Qnn_TensorV1_t);
LG_SAME_TENSOR_FIELDS(lg_Qnn_TensorV2_t, Qnn_TensorV2_t);
LG_SAME_FIELD(lg_Qnn_TensorV2_t, Qnn_TensorV2_t, isDynamicDimensions);
LG_SAME_FIELD(lg_Qnn_TensorV2_t, Qnn_TensorV2_t, sparseParams);
LG_SAME_FIELD(lg_Qnn_TensorV2_t, Qnn_TensorV2_t, isProduced);
LG_SAME_TYPE(lg_Qnn_SparseParams_t, Qnn_SparseParams_t);
LG_SAME_FIELD(lg_Qnn_SparseParams_t, Qnn_SparseParams_t, type);
LG_SAME_FIELD(lg_Qnn_SparseParams_t, Qnn_SparseParams_t, hybridCoo);
LG_SAME_TYPE(lg_Qnn_TensorVersion_t, Qnn_TensorVersion_t);
LG_SAME_VALUE(LG_QNN_TENSOR_VERSION_1, QNN_TENSOR_VERSION_1);
LG_SAME_VALUE(LG_QNN_TENSOR_VERSION_2, QNN_TENSOR_VERSION_2);
LG_SAME_VALUE(LG_QNN_TENSOR_VERSION_UNDEFINED, QNN_TENSOR_VERSION_UNDEFINED);
// Arrays of Qnn_Tensor_t are passed to QnnGraph_execute: the element size must be the SDK's.
LG_SAME_TYPE(lg_Qnn_Tensor_t, Qnn_Tensor_t);
LG_SAME_FIELD(lg_Qnn_Tensor_t, Qnn_Tensor_t, version);
LG_SAME_FIELD(lg_Qnn_Tensor_t, Qnn_Tensor_t, v1);
LG_SAME_FIELD(lg_Qnn_Tensor_t, Qnn_Tensor_t, v2);

// ------------------------------------------------------------------ QnnLog.h
LG_SAME_TYPE(lg_QnnLog_Level_t, QnnLog_Level_t);
LG_SAME_VALUE(LG_QNN_LOG_LEVEL_ERROR, QNN_LOG_LEVEL_ERROR);
LG_SAME_VALUE(LG_QNN_LOG_LEVEL_WARN, QNN_LOG_LEVEL_WARN);
LG_SAME_VALUE(LG_QNN_LOG_LEVEL_INFO, QNN_LOG_LEVEL_INFO);
LG_SAME_VALUE(LG_QNN_LOG_LEVEL_VERBOSE, QNN_LOG_LEVEL_VERBOSE);
LG_SAME_VALUE(LG_QNN_LOG_LEVEL_DEBUG, QNN_LOG_LEVEL_DEBUG);
LG_SAME_SHAPE(lg_QnnLog_Callback_t, QnnLog_Callback_t);

// ------------------------------------------------------------------ QnnInterface.h
LG_SAME_SHAPE(lg_QnnLog_CreateFn_t, QnnLog_CreateFn_t);
LG_SAME_SHAPE(lg_QnnLog_FreeFn_t, QnnLog_FreeFn_t);
LG_SAME_SHAPE(lg_QnnBackend_CreateFn_t, QnnBackend_CreateFn_t);
LG_SAME_SHAPE(lg_QnnBackend_GetApiVersionFn_t, QnnBackend_GetApiVersionFn_t);
LG_SAME_SHAPE(lg_QnnBackend_GetBuildIdFn_t, QnnBackend_GetBuildIdFn_t);
LG_SAME_SHAPE(lg_QnnBackend_FreeFn_t, QnnBackend_FreeFn_t);
LG_SAME_SHAPE(lg_QnnDevice_CreateFn_t, QnnDevice_CreateFn_t);
LG_SAME_SHAPE(lg_QnnDevice_FreeFn_t, QnnDevice_FreeFn_t);
LG_SAME_SHAPE(lg_QnnContext_CreateFromBinaryFn_t, QnnContext_CreateFromBinaryFn_t);
LG_SAME_SHAPE(lg_QnnContext_FreeFn_t, QnnContext_FreeFn_t);
LG_SAME_SHAPE(lg_QnnGraph_RetrieveFn_t, QnnGraph_RetrieveFn_t);
LG_SAME_SHAPE(lg_QnnGraph_ExecuteFn_t, QnnGraph_ExecuteFn_t);

// Our table is a prefix of QNN_INTERFACE_VER_TYPE (later minors append entries): every slot we
// declare sits where the SDK has it.
static_assert(sizeof(lg_QnnInterface_FunctionTable_t) <= sizeof(QNN_INTERFACE_VER_TYPE), "function table prefix");
#define LG_SAME_SLOT(field) LG_SAME_FIELD(lg_QnnInterface_FunctionTable_t, QNN_INTERFACE_VER_TYPE, field)
LG_SAME_SLOT(propertyHasCapability);
LG_SAME_SLOT(backendCreate);
LG_SAME_SLOT(backendSetConfig);
LG_SAME_SLOT(backendGetApiVersion);
LG_SAME_SLOT(backendGetBuildId);
LG_SAME_SLOT(backendRegisterOpPackage);
LG_SAME_SLOT(backendGetSupportedOperations);
LG_SAME_SLOT(backendValidateOpConfig);
LG_SAME_SLOT(backendFree);
LG_SAME_SLOT(contextCreate);
LG_SAME_SLOT(contextSetConfig);
LG_SAME_SLOT(contextGetBinarySize);
LG_SAME_SLOT(contextGetBinary);
LG_SAME_SLOT(contextCreateFromBinary);
LG_SAME_SLOT(contextFree);
LG_SAME_SLOT(graphCreate);
LG_SAME_SLOT(graphCreateSubgraph);
LG_SAME_SLOT(graphSetConfig);
LG_SAME_SLOT(graphAddNode);
LG_SAME_SLOT(graphFinalize);
LG_SAME_SLOT(graphRetrieve);
LG_SAME_SLOT(graphExecute);
LG_SAME_SLOT(graphExecuteAsync);
LG_SAME_SLOT(tensorCreateContextTensor);
LG_SAME_SLOT(tensorCreateGraphTensor);
LG_SAME_SLOT(logCreate);
LG_SAME_SLOT(logSetLogLevel);
LG_SAME_SLOT(logFree);
LG_SAME_SLOT(profileCreate);
LG_SAME_SLOT(profileSetConfig);
LG_SAME_SLOT(profileGetEvents);
LG_SAME_SLOT(profileGetSubEvents);
LG_SAME_SLOT(profileGetEventData);
LG_SAME_SLOT(profileGetExtendedEventData);
LG_SAME_SLOT(profileFree);
LG_SAME_SLOT(memRegister);
LG_SAME_SLOT(memDeRegister);
LG_SAME_SLOT(deviceGetPlatformInfo);
LG_SAME_SLOT(deviceFreePlatformInfo);
LG_SAME_SLOT(deviceGetInfrastructure);
LG_SAME_SLOT(deviceCreate);
LG_SAME_SLOT(deviceSetConfig);
LG_SAME_SLOT(deviceGetInfo);
LG_SAME_SLOT(deviceFree);
LG_SAME_SLOT(signalCreate);
LG_SAME_SLOT(signalSetConfig);
LG_SAME_SLOT(signalTrigger);
LG_SAME_SLOT(signalFree);

LG_SAME_FIELD(lg_QnnInterface_t, QnnInterface_t, backendId);
LG_SAME_FIELD(lg_QnnInterface_t, QnnInterface_t, providerName);
LG_SAME_FIELD(lg_QnnInterface_t, QnnInterface_t, apiVersion);
LG_SAME_FIELD_AS(lg_QnnInterface_t, functions, QnnInterface_t, QNN_INTERFACE_VER_NAME);
LG_SAME_SHAPE(lg_QnnInterface_GetProvidersFn_t, decltype(&QnnInterface_getProviders));

// ------------------------------------------------------------------ System/QnnSystemContext.h
LG_SAME_TYPE(lg_QnnSystemContext_Handle_t, QnnSystemContext_Handle_t);
LG_SAME_TYPE(lg_QnnSystemContext_GraphInfoVersion_t, QnnSystemContext_GraphInfoVersion_t);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_1, QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_1);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_2, QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_2);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_3, QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_3);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_GRAPH_INFO_UNDEFINED, QNN_SYSTEM_CONTEXT_GRAPH_INFO_UNDEFINED);
LG_SAME_TYPE(lg_QnnSystemContext_BinaryInfoVersion_t, QnnSystemContext_BinaryInfoVersion_t);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_1, QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_1);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_2, QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_2);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_3, QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_3);
LG_SAME_VALUE(LG_QNN_SYSTEM_CONTEXT_BINARY_INFO_UNDEFINED, QNN_SYSTEM_CONTEXT_BINARY_INFO_UNDEFINED);

#define LG_SAME_GRAPH_V1_FIELDS(ours, theirs)     \
  LG_SAME_TYPE(ours, theirs);                     \
  LG_SAME_FIELD(ours, theirs, graphName);         \
  LG_SAME_FIELD(ours, theirs, numGraphInputs);    \
  LG_SAME_FIELD(ours, theirs, graphInputs);       \
  LG_SAME_FIELD(ours, theirs, numGraphOutputs);   \
  LG_SAME_FIELD(ours, theirs, graphOutputs)
LG_SAME_GRAPH_V1_FIELDS(lg_QnnSystemContext_GraphInfoV1_t, QnnSystemContext_GraphInfoV1_t);
LG_SAME_GRAPH_V1_FIELDS(lg_QnnSystemContext_GraphInfoV2_t, QnnSystemContext_GraphInfoV2_t);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfoV2_t, QnnSystemContext_GraphInfoV2_t, numUpdateableTensors);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfoV2_t, QnnSystemContext_GraphInfoV2_t, updateableTensors);
LG_SAME_GRAPH_V1_FIELDS(lg_QnnSystemContext_GraphInfoV3_t, QnnSystemContext_GraphInfoV3_t);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfoV3_t, QnnSystemContext_GraphInfoV3_t, numUpdateableTensors);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfoV3_t, QnnSystemContext_GraphInfoV3_t, updateableTensors);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfoV3_t, QnnSystemContext_GraphInfoV3_t, graphBlobInfoSize);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfoV3_t, QnnSystemContext_GraphInfoV3_t, graphBlobInfo);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfoV3_t, QnnSystemContext_GraphInfoV3_t, startOpIndex);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfoV3_t, QnnSystemContext_GraphInfoV3_t, endOpIndex);
LG_SAME_TYPE(lg_QnnSystemContext_GraphInfo_t, QnnSystemContext_GraphInfo_t);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfo_t, QnnSystemContext_GraphInfo_t, version);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfo_t, QnnSystemContext_GraphInfo_t, graphInfoV1);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfo_t, QnnSystemContext_GraphInfo_t, graphInfoV2);
LG_SAME_FIELD(lg_QnnSystemContext_GraphInfo_t, QnnSystemContext_GraphInfo_t, graphInfoV3);

#define LG_SAME_BINARY_COMMON_FIELDS(ours, theirs)   \
  LG_SAME_TYPE(ours, theirs);                        \
  LG_SAME_FIELD(ours, theirs, backendId);            \
  LG_SAME_FIELD(ours, theirs, buildId);              \
  LG_SAME_FIELD(ours, theirs, coreApiVersion);       \
  LG_SAME_FIELD(ours, theirs, backendApiVersion);    \
  LG_SAME_FIELD(ours, theirs, socVersion);           \
  LG_SAME_FIELD(ours, theirs, contextBlobVersion);   \
  LG_SAME_FIELD(ours, theirs, contextBlobSize);      \
  LG_SAME_FIELD(ours, theirs, numContextTensors);    \
  LG_SAME_FIELD(ours, theirs, contextTensors);       \
  LG_SAME_FIELD(ours, theirs, numGraphs);            \
  LG_SAME_FIELD(ours, theirs, graphs)
LG_SAME_BINARY_COMMON_FIELDS(lg_QnnSystemContext_BinaryInfoV1_t, QnnSystemContext_BinaryInfoV1_t);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfoV1_t, QnnSystemContext_BinaryInfoV1_t, hwInfoBlobVersion);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfoV1_t, QnnSystemContext_BinaryInfoV1_t, hwInfoBlobSize);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfoV1_t, QnnSystemContext_BinaryInfoV1_t, hwInfoBlob);
LG_SAME_BINARY_COMMON_FIELDS(lg_QnnSystemContext_BinaryInfoV2_t, QnnSystemContext_BinaryInfoV2_t);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfoV2_t, QnnSystemContext_BinaryInfoV2_t, hwInfoBlobVersion);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfoV2_t, QnnSystemContext_BinaryInfoV2_t, hwInfoBlobSize);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfoV2_t, QnnSystemContext_BinaryInfoV2_t, hwInfoBlob);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfoV2_t, QnnSystemContext_BinaryInfoV2_t, platformInfo);
LG_SAME_BINARY_COMMON_FIELDS(lg_QnnSystemContext_BinaryInfoV3_t, QnnSystemContext_BinaryInfoV3_t);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfoV3_t, QnnSystemContext_BinaryInfoV3_t, platformInfo);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfoV3_t, QnnSystemContext_BinaryInfoV3_t, contextMetadataSize);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfoV3_t, QnnSystemContext_BinaryInfoV3_t, contextMetadata);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfoV3_t, QnnSystemContext_BinaryInfoV3_t, socModel);
LG_SAME_TYPE(lg_QnnSystemContext_BinaryInfo_t, QnnSystemContext_BinaryInfo_t);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfo_t, QnnSystemContext_BinaryInfo_t, version);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfo_t, QnnSystemContext_BinaryInfo_t, contextBinaryInfoV1);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfo_t, QnnSystemContext_BinaryInfo_t, contextBinaryInfoV2);
LG_SAME_FIELD(lg_QnnSystemContext_BinaryInfo_t, QnnSystemContext_BinaryInfo_t, contextBinaryInfoV3);

// ------------------------------------------------------------------ System/QnnSystemInterface.h
LG_SAME_SHAPE(lg_QnnSystemContext_CreateFn_t, QnnSystemContext_CreateFn_t);
LG_SAME_SHAPE(lg_QnnSystemContext_GetBinaryInfoFn_t, QnnSystemContext_GetBinaryInfoFn_t);
LG_SAME_SHAPE(lg_QnnSystemContext_FreeFn_t, QnnSystemContext_FreeFn_t);
static_assert(sizeof(lg_QnnSystemInterface_FunctionTable_t) <= sizeof(QNN_SYSTEM_INTERFACE_VER_TYPE), "system table prefix");
LG_SAME_FIELD(lg_QnnSystemInterface_FunctionTable_t, QNN_SYSTEM_INTERFACE_VER_TYPE, systemContextCreate);
LG_SAME_FIELD(lg_QnnSystemInterface_FunctionTable_t, QNN_SYSTEM_INTERFACE_VER_TYPE, systemContextGetBinaryInfo);
LG_SAME_FIELD(lg_QnnSystemInterface_FunctionTable_t, QNN_SYSTEM_INTERFACE_VER_TYPE, systemContextGetMetaData);
LG_SAME_FIELD(lg_QnnSystemInterface_FunctionTable_t, QNN_SYSTEM_INTERFACE_VER_TYPE, systemContextFree);
LG_SAME_FIELD(lg_QnnSystemInterface_t, QnnSystemInterface_t, backendId);
LG_SAME_FIELD(lg_QnnSystemInterface_t, QnnSystemInterface_t, providerName);
LG_SAME_FIELD(lg_QnnSystemInterface_t, QnnSystemInterface_t, systemApiVersion);
LG_SAME_FIELD_AS(lg_QnnSystemInterface_t, functions, QnnSystemInterface_t, QNN_SYSTEM_INTERFACE_VER_NAME);
LG_SAME_SHAPE(lg_QnnSystemInterface_GetProvidersFn_t, decltype(&QnnSystemInterface_getProviders));

#endif  // the SDK is one the addon accepts
