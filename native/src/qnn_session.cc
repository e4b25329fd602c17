// qnn_session.cc - see qnn_session.h. Owns dynamic loading (dlopen / LoadLibrary), provider
// selection, binary-info reading with every pointer and count checked, and the QNN handle life
// cycle with frees in reverse order of creation.
#include "qnn_session.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace lgqnn {
namespace {

// The layouts the minimum versions guarantee (lg_qnn_api.h), on 64-bit targets: tensors are passed
// and read in arrays, graph infos are read in an array.
static_assert(sizeof(void*) != 8 || sizeof(lg_Qnn_Tensor_t) == 144, "Qnn_Tensor_t of core API >= 2.14");
static_assert(sizeof(void*) != 8 || sizeof(lg_QnnSystemContext_GraphInfo_t) == 88,
              "QnnSystemContext_GraphInfo_t with graph info version 3 (system API >= 1.2)");

// Plausibility limits for counts handed back by a library (real binaries are far below them).
constexpr uint32_t kMaxProviders = 1024;
constexpr uint32_t kMaxGraphs = 1u << 16;
constexpr uint32_t kMaxTensorsPerGraph = 1u << 20;
constexpr uint32_t kMaxRank = 64;
constexpr uint32_t kMaxAxisEntries = 1u << 26;
constexpr size_t kMaxString = 1u << 16;

[[noreturn]] void Fail(const std::string& kind, const std::string& call, uint64_t handle,
                       const std::string& message) {
  throw QnnFailure(kind, call, handle, message);
}

std::string QnnErrorText(const std::string& call, lg_Qnn_ErrorHandle_t handle) {
  std::ostringstream s;
  const uint32_t code = LG_QNN_ERROR_CODE(handle);
  s << call << " failed: error " << code << " (" << ErrorCodeName(code) << ")";
  if ((handle >> 16) != 0) s << ", handle 0x" << std::hex << handle;
  return s.str();
}

[[noreturn]] void FailQnn(const std::string& call, lg_Qnn_ErrorHandle_t handle,
                          const std::string& extra = "") {
  Fail("qnn", call, handle, QnnErrorText(call, handle) + extra);
}

// A NUL-terminated string from a library, at most kMaxString bytes long.
std::string SafeString(const char* p, const std::string& what, bool allowNull) {
  if (p == nullptr) {
    if (allowNull) return std::string();
    Fail("library", "", 0, what + " is NULL");
  }
  const void* end = memchr(p, 0, kMaxString);
  if (end == nullptr) Fail("library", "", 0, what + " is not a terminated string");
  return std::string(p, static_cast<const char*>(end) - p);
}

// ------------------------------------------------------------------ dynamic libraries

struct LibraryCache {
  std::mutex mutex;
  std::map<std::string, void*> handles;
};

LibraryCache& Libraries() {
  // Libraries stay loaded for the life of the process: QNN backends start threads and keep
  // state that does not survive being unloaded and loaded again.
  static LibraryCache cache;
  return cache;
}

std::string LastLoadError() {
#ifdef _WIN32
  DWORD code = GetLastError();
  char buf[512] = {0};
  FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, code, 0, buf,
                 sizeof buf - 1, nullptr);
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s + " (Windows error " + std::to_string(code) + ")";
#else
  const char* e = dlerror();
  return e ? std::string(e) : std::string("unknown error");
#endif
}

void* LoadLibraryOnce(const std::string& path, const std::string& what) {
  LibraryCache& cache = Libraries();
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto it = cache.handles.find(path);
  if (it != cache.handles.end()) return it->second;
#ifdef _WIN32
  void* h = reinterpret_cast<void*>(LoadLibraryExA(path.c_str(), nullptr, 0));
#else
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
  if (h == nullptr) Fail("load", "", 0, "cannot load " + what + " " + path + ": " + LastLoadError());
  cache.handles[path] = h;
  return h;
}

void* FindSymbol(void* lib, const char* name) {
#ifdef _WIN32
  return reinterpret_cast<void*>(GetProcAddress(static_cast<HMODULE>(lib), name));
#else
  return dlsym(lib, name);
#endif
}

// ------------------------------------------------------------------ logging

const char* LevelName(lg_QnnLog_Level_t level) {
  switch (level) {
    case LG_QNN_LOG_LEVEL_ERROR: return "error";
    case LG_QNN_LOG_LEVEL_WARN: return "warn";
    case LG_QNN_LOG_LEVEL_INFO: return "info";
    case LG_QNN_LOG_LEVEL_VERBOSE: return "verbose";
    case LG_QNN_LOG_LEVEL_DEBUG: return "debug";
    default: return "log";
  }
}

// Backends may call this from their own threads: it only formats into a local buffer and writes
// one line to stderr.
void LogToStderr(const char* fmt, lg_QnnLog_Level_t level, uint64_t timestamp, va_list args) {
  (void)timestamp;
  if (fmt == nullptr) return;
  char buf[1024];
  va_list copy;
  va_copy(copy, args);
  vsnprintf(buf, sizeof buf, fmt, copy);
  va_end(copy);
  size_t n = strlen(buf);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
  fprintf(stderr, "qnn[%s]: %s\n", LevelName(level), buf);
}

// ------------------------------------------------------------------ providers

std::string ProviderLabel(const ProviderDesc& p) {
  return (p.name.empty() ? std::string("(unnamed)") : p.name) + " (core API " +
         VersionString(p.apiVersion.coreApiVersion) + ", backend API " +
         VersionString(p.apiVersion.backendApiVersion) + ", backend id " +
         std::to_string(p.backendId) + ")";
}

std::string ProviderList(const std::vector<ProviderDesc>& list) {
  if (list.empty()) return "none";
  std::string s;
  for (size_t i = 0; i < list.size(); ++i) s += (i ? ", " : "") + ProviderLabel(list[i]);
  return s;
}

std::string MinimumText(uint32_t major, uint32_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

// Whether a core API version is one whose function table and Qnn_Tensor_t are ours (lg_qnn_api.h).
bool CoreApiFits(const lg_Qnn_Version_t& v) {
  return v.major == LG_QNN_API_VERSION_MAJOR && v.minor >= LG_QNN_API_VERSION_MIN_MINOR;
}

[[noreturn]] void FailCoreApiTooOld(const ProviderDesc& p, const std::string& lib) {
  Fail("api", "", 0,
       lib + ": QNN core API " + VersionString(p.apiVersion.coreApiVersion) +
           (p.name.empty() ? std::string() : " (provider " + p.name + ")") + " is older than the minimum " +
           MinimumText(LG_QNN_API_VERSION_MAJOR, LG_QNN_API_VERSION_MIN_MINOR) +
           " this addon is built for");
}

// The provider to use: `wanted` by name, else the first whose core API fits. A provider of our major
// but an older minor is refused by name and version (its table and tensors have another layout).
const ProviderDesc& SelectProvider(const std::vector<ProviderDesc>& list, const std::string& wanted,
                                   const std::string& lib) {
  const std::string need = MinimumText(LG_QNN_API_VERSION_MAJOR, LG_QNN_API_VERSION_MIN_MINOR) +
                           " or newer (" + std::to_string(LG_QNN_API_VERSION_MAJOR) + ".x)";
  if (!wanted.empty()) {
    for (const ProviderDesc& p : list) {
      if (p.name != wanted) continue;
      if (p.apiVersion.coreApiVersion.major != LG_QNN_API_VERSION_MAJOR)
        Fail("provider", "", 0,
             "QNN provider " + wanted + " in " + lib + " has core API " +
                 VersionString(p.apiVersion.coreApiVersion) + ", this addon needs " + need);
      if (!CoreApiFits(p.apiVersion.coreApiVersion)) FailCoreApiTooOld(p, lib);
      return p;
    }
    Fail("provider", "", 0,
         "QNN provider " + wanted + " not found in " + lib + "; available: " + ProviderList(list));
  }
  for (const ProviderDesc& p : list)
    if (CoreApiFits(p.apiVersion.coreApiVersion)) return p;
  for (const ProviderDesc& p : list)
    if (p.apiVersion.coreApiVersion.major == LG_QNN_API_VERSION_MAJOR) FailCoreApiTooOld(p, lib);
  Fail("provider", "", 0,
       "no QNN interface provider in " + lib + " speaks core API " + need +
           "; available: " + ProviderList(list));
}

const lg_QnnSystemInterface_t* SelectSystemProvider(const std::string& lib) {
  void* h = LoadLibraryOnce(lib, "QNN system library");
  auto get = reinterpret_cast<lg_QnnSystemInterface_GetProvidersFn_t>(
      FindSymbol(h, LG_QNN_SYSTEM_INTERFACE_GET_PROVIDERS_SYMBOL));
  if (get == nullptr)
    Fail("load", "", 0,
         lib + " does not export " LG_QNN_SYSTEM_INTERFACE_GET_PROVIDERS_SYMBOL
               " (is it libQnnSystem?)");
  const lg_QnnSystemInterface_t** list = nullptr;
  uint32_t count = 0;
  lg_Qnn_ErrorHandle_t err = get(&list, &count);
  if (err != LG_QNN_SUCCESS) FailQnn("QnnSystemInterface_getProviders", err);
  if (count > kMaxProviders) Fail("library", "", 0, lib + " reports " + std::to_string(count) + " system providers");
  if (count > 0 && list == nullptr) Fail("library", "", 0, lib + " returned a NULL system provider list");
  std::string seen;
  const lg_QnnSystemInterface_t* old = nullptr;  // the first of our major but too old a minor
  for (uint32_t i = 0; i < count; ++i) {
    const lg_QnnSystemInterface_t* p = list[i];
    if (p == nullptr) continue;
    const lg_QnnSystemInterface_FunctionTable_t& f = p->functions;
    seen += (seen.empty() ? "" : ", ") + SafeString(p->providerName, "system provider name", true) +
            " (system API " + VersionString(p->systemApiVersion) + ")";
    if (p->systemApiVersion.major != LG_QNN_SYSTEM_API_VERSION_MAJOR) continue;
    // Older minors index their graph-info array with another stride (lg_qnn_api.h): never read them.
    if (p->systemApiVersion.minor < LG_QNN_SYSTEM_API_VERSION_MIN_MINOR) {
      if (old == nullptr) old = p;
      continue;
    }
    if (f.systemContextCreate && f.systemContextGetBinaryInfo && f.systemContextFree) return p;
  }
  if (old != nullptr)
    Fail("api", "", 0,
         lib + ": QNN system API " + VersionString(old->systemApiVersion) + " is older than the minimum " +
             MinimumText(LG_QNN_SYSTEM_API_VERSION_MAJOR, LG_QNN_SYSTEM_API_VERSION_MIN_MINOR) +
             " this addon is built for");
  Fail("provider", "", 0,
       "no QNN system provider in " + lib + " speaks system API " +
           MinimumText(LG_QNN_SYSTEM_API_VERSION_MAJOR, LG_QNN_SYSTEM_API_VERSION_MIN_MINOR) +
           " or newer with the context functions; available: " + (seen.empty() ? "none" : seen));
}

// ------------------------------------------------------------------ binary info

template <typename TensorV>
TensorDesc ReadTensorFields(const TensorV& v, const std::string& where) {
  TensorDesc t;
  t.id = v.id;
  t.name = SafeString(v.name, where + " name", false);
  const std::string at = where + " " + t.name;
  t.type = static_cast<uint32_t>(v.type);
  t.dataFormat = v.dataFormat;
  t.dataType = static_cast<uint32_t>(v.dataType);
  if (v.rank > kMaxRank) Fail("library", "", 0, at + " has rank " + std::to_string(v.rank));
  if (v.rank > 0 && v.dimensions == nullptr) Fail("library", "", 0, at + " has no dimensions");
  t.dims.assign(v.dimensions, v.dimensions + v.rank);
  uint64_t count = 1;
  for (uint32_t d : t.dims) {
    if (d != 0 && count > (uint64_t(1) << 62) / d) {
      count = UINT64_MAX;
      break;
    }
    count *= d;
  }
  t.byteSize = count == UINT64_MAX ? kUnknownSize : ElementBytes(t.dataType, count);

  const lg_Qnn_QuantizeParams_t& q = v.quantizeParams;
  EncodingDesc& e = t.encoding;
  e.definition = static_cast<uint32_t>(q.encodingDefinition);
  e.code = static_cast<uint32_t>(q.quantizationEncoding);
  if (q.encodingDefinition == LG_QNN_DEFINITION_UNDEFINED) return t;  // union unused
  switch (q.quantizationEncoding) {
    case LG_QNN_QUANTIZATION_ENCODING_SCALE_OFFSET:
      e.scale = q.scaleOffsetEncoding.scale;
      e.offset = q.scaleOffsetEncoding.offset;
      break;
    case LG_QNN_QUANTIZATION_ENCODING_BW_SCALE_OFFSET:
      e.bitwidth = q.bwScaleOffsetEncoding.bitwidth;
      e.scale = q.bwScaleOffsetEncoding.scale;
      e.offset = q.bwScaleOffsetEncoding.offset;
      break;
    case LG_QNN_QUANTIZATION_ENCODING_AXIS_SCALE_OFFSET: {
      const lg_Qnn_AxisScaleOffset_t& a = q.axisScaleOffsetEncoding;
      if (a.numScaleOffsets > kMaxAxisEntries)
        Fail("library", "", 0, at + " has " + std::to_string(a.numScaleOffsets) + " axis encodings");
      if (a.numScaleOffsets > 0 && a.scaleOffset == nullptr)
        Fail("library", "", 0, at + " has a NULL axis encoding array");
      e.axis = a.axis;
      for (uint32_t i = 0; i < a.numScaleOffsets; ++i) {
        e.scales.push_back(a.scaleOffset[i].scale);
        e.offsets.push_back(a.scaleOffset[i].offset);
      }
      break;
    }
    case LG_QNN_QUANTIZATION_ENCODING_BW_AXIS_SCALE_OFFSET: {
      const lg_Qnn_BwAxisScaleOffset_t& a = q.bwAxisScaleOffsetEncoding;
      if (a.numElements > kMaxAxisEntries)
        Fail("library", "", 0, at + " has " + std::to_string(a.numElements) + " axis encodings");
      if (a.numElements > 0 && a.scales == nullptr)
        Fail("library", "", 0, at + " has a NULL axis scale array");
      e.axis = a.axis;
      e.bitwidth = a.bitwidth;
      for (uint32_t i = 0; i < a.numElements; ++i) {
        e.scales.push_back(a.scales[i]);
        e.offsets.push_back(a.offsets ? a.offsets[i] : 0);  // NULL offsets: symmetric
      }
      break;
    }
    default:
      break;  // reported by code only
  }
  return t;
}

TensorDesc ReadTensor(const lg_Qnn_Tensor_t& t, const std::string& where) {
  TensorDesc d;
  if (t.version == LG_QNN_TENSOR_VERSION_1) {
    d = ReadTensorFields(t.v1, where);
  } else if (t.version == LG_QNN_TENSOR_VERSION_2) {
    d = ReadTensorFields(t.v2, where);
  } else {
    Fail("version", "", 0,
         where + " has tensor version " + std::to_string(static_cast<uint32_t>(t.version)) +
             "; this addon reads versions 1 and 2");
  }
  d.version = static_cast<uint32_t>(t.version);
  d.raw = &t;
  return d;
}

std::vector<TensorDesc> ReadTensors(uint32_t n, const lg_Qnn_Tensor_t* p, const std::string& where) {
  if (n > kMaxTensorsPerGraph) Fail("library", "", 0, where + ": " + std::to_string(n) + " tensors");
  if (n > 0 && p == nullptr) Fail("library", "", 0, where + ": NULL tensor array");
  std::vector<TensorDesc> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) out.push_back(ReadTensor(p[i], where + " tensor " + std::to_string(i)));
  return out;
}

template <typename GraphV>
void ReadGraphFields(const GraphV& g, GraphDesc& d, const std::string& where) {
  d.name = SafeString(g.graphName, where + " name", false);
  const std::string at = "graph " + d.name;
  d.inputs = ReadTensors(g.numGraphInputs, g.graphInputs, at + " input");
  d.outputs = ReadTensors(g.numGraphOutputs, g.graphOutputs, at + " output");
}

GraphDesc ReadGraph(const lg_QnnSystemContext_GraphInfo_t& g, uint32_t index) {
  GraphDesc d;
  const std::string where = "graph info " + std::to_string(index);
  d.infoVersion = static_cast<uint32_t>(g.version);
  switch (g.version) {
    case LG_QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_1: ReadGraphFields(g.graphInfoV1, d, where); break;
    case LG_QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_2: ReadGraphFields(g.graphInfoV2, d, where); break;
    case LG_QNN_SYSTEM_CONTEXT_GRAPH_INFO_VERSION_3: ReadGraphFields(g.graphInfoV3, d, where); break;
    default:
      Fail("version", "", 0,
           where + " has version " + std::to_string(d.infoVersion) +
               "; this addon reads graph info versions 1 to 3");
  }
  return d;
}

template <typename InfoV>
void ReadBinaryFields(const InfoV& v, BinaryDesc& d) {
  d.backendId = v.backendId;
  d.buildId = SafeString(v.buildId, "binary info build id", true);
  d.socVersion = SafeString(v.socVersion, "binary info SoC version", true);
  d.coreApiVersion = v.coreApiVersion;
  d.backendApiVersion = v.backendApiVersion;
  if (v.numGraphs > kMaxGraphs)
    Fail("library", "", 0, "binary info lists " + std::to_string(v.numGraphs) + " graphs");
  if (v.numGraphs > 0 && v.graphs == nullptr)
    Fail("library", "", 0, "binary info has a NULL graph array");
  for (uint32_t i = 0; i < v.numGraphs; ++i) d.graphs.push_back(ReadGraph(v.graphs[i], i));
}

BinaryDesc ReadInfoWith(const lg_QnnSystemInterface_t* sys, lg_QnnSystemContext_Handle_t handle,
                        const uint8_t* data, size_t size) {
  const lg_QnnSystemContext_BinaryInfo_t* info = nullptr;
  lg_Qnn_ContextBinarySize_t infoSize = 0;
  // The SDK declares the buffer non-const; it is only read.
  lg_Qnn_ErrorHandle_t err = sys->functions.systemContextGetBinaryInfo(
      handle, const_cast<uint8_t*>(data), static_cast<uint64_t>(size), &info, &infoSize);
  if (err != LG_QNN_SUCCESS) FailQnn("QnnSystemContext_getBinaryInfo", err);
  if (info == nullptr) Fail("library", "QnnSystemContext_getBinaryInfo", 0, "QnnSystemContext_getBinaryInfo returned no info");
  BinaryDesc d;
  d.version = static_cast<uint32_t>(info->version);
  switch (info->version) {
    case LG_QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_1: ReadBinaryFields(info->contextBinaryInfoV1, d); break;
    case LG_QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_2: ReadBinaryFields(info->contextBinaryInfoV2, d); break;
    case LG_QNN_SYSTEM_CONTEXT_BINARY_INFO_VERSION_3:
      ReadBinaryFields(info->contextBinaryInfoV3, d);
      d.hasSocModel = true;
      d.socModel = info->contextBinaryInfoV3.socModel;
      break;
    default:
      Fail("version", "", 0,
           "QNN context binary info version " + std::to_string(d.version) +
               " is not supported (this addon reads versions 1 to 3); the system library is newer "
               "than the addon's QNN declarations");
  }
  return d;
}

lg_QnnSystemContext_Handle_t CreateSystemContext(const lg_QnnSystemInterface_t* sys) {
  lg_QnnSystemContext_Handle_t h = nullptr;
  lg_Qnn_ErrorHandle_t err = sys->functions.systemContextCreate(&h);
  if (err != LG_QNN_SUCCESS) FailQnn("QnnSystemContext_create", err);
  if (h == nullptr) Fail("library", "QnnSystemContext_create", 0, "QnnSystemContext_create returned a NULL handle");
  return h;
}

}  // namespace

// ------------------------------------------------------------------ public helpers

std::string ErrorCodeName(uint32_t code) {
  switch (code) {
    case 0: return "QNN_SUCCESS";
    case LG_QNN_COMMON_ERROR_NOT_SUPPORTED: return "QNN_COMMON_ERROR_NOT_SUPPORTED: not supported";
    case LG_QNN_COMMON_ERROR_MEM_ALLOC: return "QNN_COMMON_ERROR_MEM_ALLOC: memory allocation failed";
    case LG_QNN_COMMON_ERROR_SYSTEM: return "QNN_COMMON_ERROR_SYSTEM: platform/OS service error";
    case LG_QNN_COMMON_ERROR_INVALID_ARGUMENT: return "QNN_COMMON_ERROR_INVALID_ARGUMENT: invalid argument";
    case LG_QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED: return "QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED";
    case LG_QNN_COMMON_ERROR_PLATFORM_NOT_SUPPORTED: return "QNN_COMMON_ERROR_PLATFORM_NOT_SUPPORTED: unsupported platform";
    case LG_QNN_COMMON_ERROR_SYSTEM_COMMUNICATION: return "QNN_COMMON_ERROR_SYSTEM_COMMUNICATION: DSP communication error (skel library path?)";
    case LG_QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES: return "QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES: libraries of different SDK versions";
    case LG_QNN_COMMON_ERROR_LOADING_BINARIES: return "QNN_COMMON_ERROR_LOADING_BINARIES: library already loaded";
    case LG_QNN_COMMON_ERROR_RESOURCE_UNAVAILABLE: return "QNN_COMMON_ERROR_RESOURCE_UNAVAILABLE";
    case LG_QNN_COMMON_ERROR_SYSTEM_COMMUNICATION_FATAL: return "QNN_COMMON_ERROR_SYSTEM_COMMUNICATION_FATAL";
    case LG_QNN_COMMON_ERROR_GENERAL: return "QNN_COMMON_ERROR_GENERAL: general error";
    case LG_QNN_BACKEND_ERROR_CANNOT_INITIALIZE: return "QNN_BACKEND_ERROR_CANNOT_INITIALIZE";
    case LG_QNN_BACKEND_ERROR_TERMINATE_FAILED: return "QNN_BACKEND_ERROR_TERMINATE_FAILED";
    case LG_QNN_BACKEND_ERROR_NOT_SUPPORTED: return "QNN_BACKEND_ERROR_NOT_SUPPORTED";
    case LG_QNN_BACKEND_ERROR_INVALID_ARGUMENT: return "QNN_BACKEND_ERROR_INVALID_ARGUMENT";
    case LG_QNN_BACKEND_ERROR_INVALID_HANDLE: return "QNN_BACKEND_ERROR_INVALID_HANDLE";
    case LG_QNN_BACKEND_ERROR_INVALID_CONFIG: return "QNN_BACKEND_ERROR_INVALID_CONFIG";
    case LG_QNN_CONTEXT_ERROR_INVALID_ARGUMENT: return "QNN_CONTEXT_ERROR_INVALID_ARGUMENT";
    case LG_QNN_CONTEXT_ERROR_CTX_DOES_NOT_EXIST: return "QNN_CONTEXT_ERROR_CTX_DOES_NOT_EXIST";
    case LG_QNN_CONTEXT_ERROR_INVALID_HANDLE: return "QNN_CONTEXT_ERROR_INVALID_HANDLE";
    case LG_QNN_CONTEXT_ERROR_NOT_FINALIZED: return "QNN_CONTEXT_ERROR_NOT_FINALIZED";
    case LG_QNN_CONTEXT_ERROR_BINARY_VERSION: return "QNN_CONTEXT_ERROR_BINARY_VERSION: binary incompatible with this backend, SoC or SDK";
    case LG_QNN_CONTEXT_ERROR_CREATE_FROM_BINARY: return "QNN_CONTEXT_ERROR_CREATE_FROM_BINARY: cannot create context from binary";
    case LG_QNN_CONTEXT_ERROR_BINARY_CONFIGURATION: return "QNN_CONTEXT_ERROR_BINARY_CONFIGURATION";
    case LG_QNN_CONTEXT_ERROR_INVALID_CONFIG: return "QNN_CONTEXT_ERROR_INVALID_CONFIG";
    case LG_QNN_CONTEXT_ERROR_BINARY_SUBOPTIMAL: return "QNN_CONTEXT_ERROR_BINARY_SUBOPTIMAL: binary prepared for other hardware";
    case LG_QNN_GRAPH_ERROR_INVALID_ARGUMENT: return "QNN_GRAPH_ERROR_INVALID_ARGUMENT";
    case LG_QNN_GRAPH_ERROR_INVALID_HANDLE: return "QNN_GRAPH_ERROR_INVALID_HANDLE";
    case LG_QNN_GRAPH_ERROR_GRAPH_DOES_NOT_EXIST: return "QNN_GRAPH_ERROR_GRAPH_DOES_NOT_EXIST";
    case LG_QNN_GRAPH_ERROR_INVALID_NAME: return "QNN_GRAPH_ERROR_INVALID_NAME";
    case LG_QNN_GRAPH_ERROR_INVALID_TENSOR: return "QNN_GRAPH_ERROR_INVALID_TENSOR";
    case LG_QNN_GRAPH_ERROR_GRAPH_NOT_FINALIZED: return "QNN_GRAPH_ERROR_GRAPH_NOT_FINALIZED";
    case LG_QNN_GRAPH_ERROR_DISABLED: return "QNN_GRAPH_ERROR_DISABLED";
    case LG_QNN_LOG_ERROR_INITIALIZATION: return "QNN_LOG_ERROR_INITIALIZATION";
    case LG_QNN_LOG_ERROR_INVALID_ARGUMENT: return "QNN_LOG_ERROR_INVALID_ARGUMENT";
    case LG_QNN_LOG_ERROR_INVALID_HANDLE: return "QNN_LOG_ERROR_INVALID_HANDLE";
    case LG_QNN_DEVICE_ERROR_INVALID_HANDLE: return "QNN_DEVICE_ERROR_INVALID_HANDLE";
    case LG_QNN_DEVICE_ERROR_INVALID_CONFIG: return "QNN_DEVICE_ERROR_INVALID_CONFIG";
    case LG_QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE: return "QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE";
    case LG_QNN_DEVICE_ERROR_ASSOCIATED_TO_CONTEXT: return "QNN_DEVICE_ERROR_ASSOCIATED_TO_CONTEXT";
    case LG_QNN_SYSTEM_CONTEXT_ERROR_INVALID_HANDLE: return "QNN_SYSTEM_CONTEXT_ERROR_INVALID_HANDLE";
    case LG_QNN_SYSTEM_CONTEXT_ERROR_INVALID_ARGUMENT: return "QNN_SYSTEM_CONTEXT_ERROR_INVALID_ARGUMENT";
    case LG_QNN_SYSTEM_CONTEXT_ERROR_OPERATION_FAILED: return "QNN_SYSTEM_CONTEXT_ERROR_OPERATION_FAILED";
    case LG_QNN_SYSTEM_CONTEXT_ERROR_MALFORMED_BINARY: return "QNN_SYSTEM_CONTEXT_ERROR_MALFORMED_BINARY: not a readable context binary";
    default: break;
  }
  if (code >= 1000 && code < 2000) return "common error";
  if (code >= 4000 && code < 5000) return "backend error";
  if (code >= 5000 && code < 6000) return "context error";
  if (code >= 6000 && code < 7000) return "graph error";
  if (code >= 7000 && code < 8000) return "tensor error";
  if (code >= 8000 && code < 9000) return "memory error";
  if (code >= 11000 && code < 12000) return "log error";
  if (code >= 14000 && code < 15000) return "device error";
  if (code >= 30000 && code < 50000) return "system library error";
  return "unknown error";
}

uint64_t ElementBytes(uint32_t dataType, uint64_t count) {
  const uint32_t cls = dataType >> 8;
  const uint32_t bits = dataType & 0xFFu;
  if (cls > 5 || dataType > 0xFFFFu) return kUnknownSize;  // 6 = string; larger = undefined
  uint64_t size = 0;
  switch (bits) {
    case 0x04: return count / 2 + (count & 1);  // two 4-bit values per byte
    case 0x08: size = 1; break;
    case 0x16: size = 2; break;
    case 0x32: size = 4; break;
    case 0x64: size = 8; break;
    default: return kUnknownSize;
  }
  if (count > UINT64_MAX / size) return kUnknownSize;
  return count * size;
}

std::string VersionString(const lg_Qnn_Version_t& v) {
  return std::to_string(v.major) + "." + std::to_string(v.minor) + "." + std::to_string(v.patch);
}

std::vector<ProviderDesc> ListProviders(const std::string& backendLib) {
  void* h = LoadLibraryOnce(backendLib, "QNN backend library");
  auto get = reinterpret_cast<lg_QnnInterface_GetProvidersFn_t>(
      FindSymbol(h, LG_QNN_INTERFACE_GET_PROVIDERS_SYMBOL));
  if (get == nullptr)
    Fail("load", "", 0,
         backendLib + " does not export " LG_QNN_INTERFACE_GET_PROVIDERS_SYMBOL
                      " (is it a QNN backend library such as libQnnHtp?)");
  const lg_QnnInterface_t** list = nullptr;
  uint32_t count = 0;
  lg_Qnn_ErrorHandle_t err = get(&list, &count);
  if (err != LG_QNN_SUCCESS) FailQnn("QnnInterface_getProviders", err);
  if (count > kMaxProviders) Fail("library", "", 0, backendLib + " reports " + std::to_string(count) + " providers");
  if (count > 0 && list == nullptr) Fail("library", "", 0, backendLib + " returned a NULL provider list");
  std::vector<ProviderDesc> out;
  for (uint32_t i = 0; i < count; ++i) {
    const lg_QnnInterface_t* p = list[i];
    if (p == nullptr) continue;
    ProviderDesc d;
    d.name = SafeString(p->providerName, "provider name", true);
    d.backendId = p->backendId;
    d.apiVersion = p->apiVersion;
    d.iface = p;
    out.push_back(d);
  }
  return out;
}

BinaryDesc ReadBinaryInfo(const std::string& systemLib, const uint8_t* data, size_t size) {
  const lg_QnnSystemInterface_t* sys = SelectSystemProvider(systemLib);
  lg_QnnSystemContext_Handle_t h = CreateSystemContext(sys);
  BinaryDesc d;
  try {
    d = ReadInfoWith(sys, h, data, size);
  } catch (...) {
    sys->functions.systemContextFree(h);
    throw;
  }
  lg_Qnn_ErrorHandle_t err = sys->functions.systemContextFree(h);
  // The tensors pointed into the freed system context: forget them.
  for (GraphDesc& g : d.graphs) {
    for (TensorDesc& t : g.inputs) t.raw = nullptr;
    for (TensorDesc& t : g.outputs) t.raw = nullptr;
  }
  if (err != LG_QNN_SUCCESS) FailQnn("QnnSystemContext_free", err);
  return d;
}

// ------------------------------------------------------------------ session

std::unique_ptr<Session> Session::Open(const OpenOptions& o, const uint8_t* binary, size_t size) {
  std::vector<ProviderDesc> providers = ListProviders(o.backendLib);
  std::unique_ptr<Session> s(new Session());
  s->provider_ = SelectProvider(providers, o.provider, o.backendLib);
  const lg_QnnInterface_FunctionTable_t& f = s->provider_.iface->functions;
  const char* missing = !f.backendCreate ? "backendCreate"
                        : !f.backendFree ? "backendFree"
                        : !f.contextCreateFromBinary ? "contextCreateFromBinary"
                        : !f.contextFree ? "contextFree"
                        : !f.graphRetrieve ? "graphRetrieve"
                        : !f.graphExecute ? "graphExecute"
                                          : nullptr;
  if (missing)
    Fail("provider", "", 0,
         "QNN provider " + ProviderLabel(s->provider_) + " in " + o.backendLib + " has no " + missing);

  // Everything created below is freed by ~Session (Close) if a later step throws.
  s->system_ = SelectSystemProvider(o.systemLib);
  s->systemContext_ = CreateSystemContext(s->system_);
  s->info_ = ReadInfoWith(s->system_, s->systemContext_, binary, size);
  s->graphs_.assign(s->info_.graphs.size(), nullptr);

  if (o.logLevel > 0 && f.logCreate && f.logFree) {
    lg_Qnn_ErrorHandle_t err =
        f.logCreate(LogToStderr, static_cast<lg_QnnLog_Level_t>(o.logLevel), &s->log_);
    if (err != LG_QNN_SUCCESS) {
      s->log_ = nullptr;
      FailQnn("QnnLog_create", err);
    }
  }

  lg_Qnn_ErrorHandle_t err = f.backendCreate(s->log_, nullptr, &s->backend_);
  if (err != LG_QNN_SUCCESS) {
    s->backend_ = nullptr;
    FailQnn("QnnBackend_create", err);
  }
  if (s->backend_ == nullptr) Fail("library", "QnnBackend_create", 0, "QnnBackend_create returned a NULL handle");

  // Devices are optional: backends without device support (the HTP emulator's CPU providers,
  // for example) have no deviceCreate or answer "not supported"; the context then gets NULL.
  if (f.deviceCreate && f.deviceFree) {
    err = f.deviceCreate(s->log_, nullptr, &s->device_);
    if (err != LG_QNN_SUCCESS) {
      s->device_ = nullptr;
      const uint32_t code = LG_QNN_ERROR_CODE(err);
      if (code != LG_QNN_COMMON_ERROR_NOT_SUPPORTED) FailQnn("QnnDevice_create", err);
    }
  }

  err = f.contextCreateFromBinary(s->backend_, s->device_, nullptr, binary,
                                  static_cast<lg_Qnn_ContextBinarySize_t>(size), &s->context_,
                                  nullptr);
  if (err != LG_QNN_SUCCESS) {
    s->context_ = nullptr;
    const BinaryDesc& i = s->info_;
    std::string extra = "; the binary was prepared by QNN API " + VersionString(i.coreApiVersion) +
                        " (backend id " + std::to_string(i.backendId) + ", backend API " +
                        VersionString(i.backendApiVersion) + ")";
    if (i.hasSocModel && i.socModel != 0) extra += " for SoC model " + std::to_string(i.socModel);
    if (!i.socVersion.empty()) extra += " (" + i.socVersion + ")";
    extra += ", the library is " + ProviderLabel(s->provider_);
    FailQnn("QnnContext_createFromBinary", err, extra);
  }
  if (s->context_ == nullptr)
    Fail("library", "QnnContext_createFromBinary", 0, "QnnContext_createFromBinary returned a NULL handle");
  return s;
}

Session::~Session() { Close(true); }

size_t Session::RetrieveGraph(const std::string& name) {
  if (closed_) Fail("closed", "", 0, "the QNN context is closed");
  size_t index = info_.graphs.size();
  for (size_t i = 0; i < info_.graphs.size(); ++i)
    if (info_.graphs[i].name == name) index = i;
  if (index == info_.graphs.size()) Fail("argument", "", 0, "no graph named " + name + " in the context binary");
  if (graphs_[index] != nullptr) return index;
  lg_Qnn_GraphHandle_t g = nullptr;
  lg_Qnn_ErrorHandle_t err = provider_.iface->functions.graphRetrieve(context_, name.c_str(), &g);
  if (err != LG_QNN_SUCCESS) FailQnn("QnnGraph_retrieve", err, " (graph " + name + ")");
  if (g == nullptr) Fail("library", "QnnGraph_retrieve", 0, "QnnGraph_retrieve returned a NULL handle for graph " + name);
  graphs_[index] = g;
  return index;
}

namespace {

std::string Hex(uint32_t v) {
  char buf[16];
  snprintf(buf, sizeof buf, "0x%04x", v);
  return buf;
}

lg_Qnn_Tensor_t BindTensor(const TensorDesc& d, const std::pair<void*, size_t>& buf,
                           const std::string& where) {
  if (d.raw == nullptr) Fail("argument", "", 0, where + ": tensor description is gone");
  if (d.byteSize == kUnknownSize)
    Fail("argument", "", 0, where + " (" + d.name + "): data type " + Hex(d.dataType) + " has no known element size");
  if (buf.second != d.byteSize)
    Fail("argument", "", 0,
         where + " (" + d.name + "): buffer has " + std::to_string(buf.second) + " bytes, the tensor needs " +
             std::to_string(d.byteSize));
  if (buf.second > UINT32_MAX) Fail("argument", "", 0, where + " (" + d.name + "): buffer larger than 4 GiB");
  if (buf.second > 0 && buf.first == nullptr) Fail("argument", "", 0, where + " (" + d.name + "): no buffer memory");
  lg_Qnn_Tensor_t t = *d.raw;  // version, id, name, type, data type, encoding, rank, dims
  if (t.version == LG_QNN_TENSOR_VERSION_1) {
    t.v1.memType = LG_QNN_TENSORMEMTYPE_RAW;
    t.v1.clientBuf.data = buf.first;
    t.v1.clientBuf.dataSize = static_cast<uint32_t>(buf.second);
  } else {
    t.v2.memType = LG_QNN_TENSORMEMTYPE_RAW;
    t.v2.clientBuf.data = buf.first;
    t.v2.clientBuf.dataSize = static_cast<uint32_t>(buf.second);
  }
  return t;
}

}  // namespace

void Session::Execute(size_t graphIndex, const std::vector<std::pair<void*, size_t>>& inputs,
                      const std::vector<std::pair<void*, size_t>>& outputs) {
  if (closed_) Fail("closed", "", 0, "the QNN context is closed");
  if (graphIndex >= graphs_.size() || graphs_[graphIndex] == nullptr)
    Fail("argument", "", 0, "graph " + std::to_string(graphIndex) + " was not retrieved");
  const GraphDesc& g = info_.graphs[graphIndex];
  if (inputs.size() != g.inputs.size() || outputs.size() != g.outputs.size())
    Fail("argument", "", 0,
         "graph " + g.name + " takes " + std::to_string(g.inputs.size()) + " inputs and " +
             std::to_string(g.outputs.size()) + " outputs, got " + std::to_string(inputs.size()) +
             " and " + std::to_string(outputs.size()));
  std::vector<lg_Qnn_Tensor_t> in, out;
  in.reserve(inputs.size());
  out.reserve(outputs.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    in.push_back(BindTensor(g.inputs[i], inputs[i], "graph " + g.name + " input " + std::to_string(i)));
  for (size_t i = 0; i < outputs.size(); ++i)
    out.push_back(BindTensor(g.outputs[i], outputs[i], "graph " + g.name + " output " + std::to_string(i)));
  lg_Qnn_ErrorHandle_t err = provider_.iface->functions.graphExecute(
      graphs_[graphIndex], in.data(), static_cast<uint32_t>(in.size()), out.data(),
      static_cast<uint32_t>(out.size()), nullptr, nullptr);
  if (err != LG_QNN_SUCCESS) FailQnn("QnnGraph_execute", err, " (graph " + g.name + ")");
}

void Session::Close(bool quiet) {
  if (closed_) return;
  closed_ = true;
  std::string failures, firstCall;
  uint64_t firstHandle = 0;
  auto check = [&](const char* call, lg_Qnn_ErrorHandle_t err) {
    if (err == LG_QNN_SUCCESS) return;
    if (failures.empty()) {
      firstCall = call;
      firstHandle = err;
    }
    failures += (failures.empty() ? "" : "; ") + QnnErrorText(call, err);
  };
  const lg_QnnInterface_FunctionTable_t* f = provider_.iface ? &provider_.iface->functions : nullptr;
  std::fill(graphs_.begin(), graphs_.end(), nullptr);  // graphs die with their context
  if (context_ && f) check("QnnContext_free", f->contextFree(context_, nullptr));
  context_ = nullptr;
  if (device_ && f) check("QnnDevice_free", f->deviceFree(device_));
  device_ = nullptr;
  if (backend_ && f) check("QnnBackend_free", f->backendFree(backend_));
  backend_ = nullptr;
  if (log_ && f) check("QnnLog_free", f->logFree(log_));
  log_ = nullptr;
  if (systemContext_ && system_)
    check("QnnSystemContext_free", system_->functions.systemContextFree(systemContext_));
  systemContext_ = nullptr;
  for (GraphDesc& g : info_.graphs) {
    for (TensorDesc& t : g.inputs) t.raw = nullptr;
    for (TensorDesc& t : g.outputs) t.raw = nullptr;
  }
  if (!quiet && !failures.empty()) Fail("qnn", firstCall, firstHandle, failures);
}

}  // namespace lgqnn
