// qnn_session.h - the QNN side of the addon, free of N-API: loading the backend and system
// libraries, choosing an interface provider, reading context-binary info through the system
// library, and the life cycle log -> backend -> device -> context -> graphs -> execute -> free.
// Every failure is a QnnFailure naming the QNN call (or step) and its error code; nothing here
// trusts a pointer or a count handed back by a library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "lg_qnn_api.h"

namespace lgqnn {

// What went wrong, for the JavaScript side to sort user mistakes from bugs:
//   "load"     a library could not be loaded or lacks an entry point
//   "provider" no interface provider fits (name, API major, missing functions)
//   "api"      the library's core or system API is older than the minimum this code's layouts need
//              (lg_qnn_api.h: core API 2.14, system API 1.2); refused before any structure is read
//   "version"  a structure version this code does not understand (binary info, graph info, tensor)
//   "library"  a library handed back something unusable (NULL where data was promised, huge counts)
//   "qnn"      a QNN call returned an error code (call and code are set)
//   "argument" the caller passed something wrong (graph index, buffer count or size)
//   "closed"   the context was already closed
struct QnnFailure : std::runtime_error {
  QnnFailure(std::string kind_, std::string call_, uint64_t handle_, const std::string& message)
      : std::runtime_error(message), kind(std::move(kind_)), call(std::move(call_)), handle(handle_) {}
  std::string kind;
  std::string call;     // QNN function or step name; empty when not applicable
  uint64_t handle = 0;  // full Qnn_ErrorHandle_t for kind "qnn"
  uint32_t code() const { return LG_QNN_ERROR_CODE(handle); }
};

// Symbolic name and short meaning of a QNN error code, e.g. "QNN_CONTEXT_ERROR_BINARY_VERSION".
std::string ErrorCodeName(uint32_t code);

struct ProviderDesc {
  std::string name;  // "" when the library gives NULL
  uint32_t backendId = 0;
  lg_Qnn_ApiVersion_t apiVersion{};
  const lg_QnnInterface_t* iface = nullptr;
};

struct EncodingDesc {
  uint32_t definition = LG_QNN_DEFINITION_UNDEFINED;
  uint32_t code = LG_QNN_QUANTIZATION_ENCODING_UNDEFINED;
  float scale = 0;
  int32_t offset = 0;
  int32_t axis = 0;
  uint32_t bitwidth = 0;
  std::vector<float> scales;
  std::vector<int32_t> offsets;
};

struct TensorDesc {
  const lg_Qnn_Tensor_t* raw = nullptr;  // points into the system context's memory (kept alive)
  uint32_t version = 0;
  uint32_t id = 0;
  std::string name;
  uint32_t type = 0;
  uint32_t dataFormat = 0;
  uint32_t dataType = 0;
  std::vector<uint32_t> dims;
  EncodingDesc encoding;
  // Byte size of the tensor's data, or kUnknownSize when the data type's size is unknown.
  uint64_t byteSize = 0;
};
constexpr uint64_t kUnknownSize = UINT64_MAX;

struct GraphDesc {
  std::string name;
  uint32_t infoVersion = 0;
  std::vector<TensorDesc> inputs;
  std::vector<TensorDesc> outputs;
};

struct BinaryDesc {
  uint32_t version = 0;
  uint32_t backendId = 0;
  std::string buildId;
  std::string socVersion;
  lg_Qnn_Version_t coreApiVersion{};
  lg_Qnn_Version_t backendApiVersion{};
  bool hasSocModel = false;
  uint32_t socModel = 0;
  std::vector<GraphDesc> graphs;
};

// Byte size of `count` elements of a QNN data type; kUnknownSize when unknown or on overflow.
uint64_t ElementBytes(uint32_t dataType, uint64_t count);

std::string VersionString(const lg_Qnn_Version_t& v);

// Lists the interface providers of a backend library (loaded and kept loaded).
std::vector<ProviderDesc> ListProviders(const std::string& backendLib);

// Reads the info of a context binary through the system library (QnnSystemContext_*).
BinaryDesc ReadBinaryInfo(const std::string& systemLib, const uint8_t* data, size_t size);

struct OpenOptions {
  std::string backendLib;
  std::string systemLib;
  std::string provider;  // "" = first provider whose core API is 2.x with x >= the minimum minor
  int logLevel = 0;      // 0 = no log handle; 1..5 = QnnLog_Level_t
};

class Session {
 public:
  // Opens everything or nothing: on failure the handles created so far are freed, in reverse.
  static std::unique_ptr<Session> Open(const OpenOptions& options, const uint8_t* binary,
                                       size_t size);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const ProviderDesc& provider() const { return provider_; }
  const BinaryDesc& info() const { return info_; }
  bool closed() const { return closed_; }

  // QnnGraph_retrieve for a graph listed in info(); returns its index in info().graphs.
  size_t RetrieveGraph(const std::string& name);
  // QnnGraph_execute on client buffers (no copy); sizes are checked against the tensors first.
  void Execute(size_t graphIndex, const std::vector<std::pair<void*, size_t>>& inputs,
               const std::vector<std::pair<void*, size_t>>& outputs);
  // Frees context, device, backend, log and the system context, in that order. Idempotent.
  // Throws (after freeing everything) when a free call failed, unless `quiet`.
  void Close(bool quiet);

 private:
  Session() = default;
  ProviderDesc provider_;
  BinaryDesc info_;
  const lg_QnnSystemInterface_t* system_ = nullptr;
  lg_QnnSystemContext_Handle_t systemContext_ = nullptr;
  lg_Qnn_LogHandle_t log_ = nullptr;
  lg_Qnn_BackendHandle_t backend_ = nullptr;
  lg_Qnn_DeviceHandle_t device_ = nullptr;
  lg_Qnn_ContextHandle_t context_ = nullptr;
  std::vector<lg_Qnn_GraphHandle_t> graphs_;  // per info_.graphs entry, nullptr until retrieved
  bool closed_ = false;
};

}  // namespace lgqnn
