// addon.cc - the N-API face of the QNN session (node-addon-api, C++ exceptions on). Converts
// between JavaScript values and qnn_session.h, and QnnFailure into JS Errors carrying
// { qnnKind, qnnCall, qnnCode } so src/qnn/native.ts can tell user mistakes from bugs.
//
// Exports (raw; src/qnn/native.ts is the typed wrapper):
//   listProviders(backendLib) -> [{ name, backendId, coreApiVersion, backendApiVersion }]
//   readBinaryInfo(systemLib, bytes: Uint8Array) -> BinaryInfo
//   openContext(backendLib, systemLib, bytes, provider: string, logLevel: 0..5) -> NativeContext
//     NativeContext: { provider, info, retrieveGraph(name) -> index,
//                      execute(index, inputs: Uint8Array[], outputs: Uint8Array[]), close(),
//                      closed() }
//   apiVersionMajor, systemApiVersionMajor: the majors this addon was written against
//   minimumCoreApi, minimumSystemApi: the oldest API versions it accepts ("2.14", "1.2"); older
//     libraries are refused with errors of qnnKind "api"
#include <napi.h>

#include <string>
#include <utility>
#include <vector>

#include "qnn_session.h"

namespace {

using lgqnn::BinaryDesc;
using lgqnn::EncodingDesc;
using lgqnn::GraphDesc;
using lgqnn::ProviderDesc;
using lgqnn::QnnFailure;
using lgqnn::Session;
using lgqnn::TensorDesc;

Napi::Error ToJsError(Napi::Env env, const QnnFailure& f) {
  Napi::Error e = Napi::Error::New(env, f.what());
  e.Value().Set("qnnKind", Napi::String::New(env, f.kind));
  if (!f.call.empty()) e.Value().Set("qnnCall", Napi::String::New(env, f.call));
  if (f.kind == "qnn") e.Value().Set("qnnCode", Napi::Number::New(env, f.code()));
  return e;
}

// Runs `fn`, turning C++ failures into JavaScript exceptions.
template <typename F>
auto Guard(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const QnnFailure& f) {
    throw ToJsError(env, f);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of memory in the QNN addon");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("QNN addon: ") + e.what());
  }
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Uint8Array BytesArg(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, what + " must be a Uint8Array");
  return v.As<Napi::Uint8Array>();
}

Napi::Object EncodingToJs(Napi::Env env, const EncodingDesc& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("definition", e.definition);
  o.Set("code", e.code);
  o.Set("scale", static_cast<double>(e.scale));
  o.Set("offset", e.offset);
  o.Set("axis", e.axis);
  o.Set("bitwidth", e.bitwidth);
  Napi::Array scales = Napi::Array::New(env, e.scales.size());
  Napi::Array offsets = Napi::Array::New(env, e.offsets.size());
  for (size_t i = 0; i < e.scales.size(); ++i) scales.Set(i, static_cast<double>(e.scales[i]));
  for (size_t i = 0; i < e.offsets.size(); ++i) offsets.Set(i, e.offsets[i]);
  o.Set("scales", scales);
  o.Set("offsets", offsets);
  return o;
}

Napi::Object TensorToJs(Napi::Env env, const TensorDesc& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", t.id);
  o.Set("name", t.name);
  o.Set("version", t.version);
  o.Set("type", t.type);
  o.Set("dataFormat", t.dataFormat);
  o.Set("dataType", t.dataType);
  Napi::Array dims = Napi::Array::New(env, t.dims.size());
  for (size_t i = 0; i < t.dims.size(); ++i) dims.Set(i, t.dims[i]);
  o.Set("dims", dims);
  o.Set("byteSize", t.byteSize == lgqnn::kUnknownSize ? -1.0 : static_cast<double>(t.byteSize));
  o.Set("encoding", EncodingToJs(env, t.encoding));
  return o;
}

Napi::Array TensorsToJs(Napi::Env env, const std::vector<TensorDesc>& ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) a.Set(i, TensorToJs(env, ts[i]));
  return a;
}

Napi::Object BinaryToJs(Napi::Env env, const BinaryDesc& b) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", b.version);
  o.Set("backendId", b.backendId);
  o.Set("buildId", b.buildId);
  o.Set("socVersion", b.socVersion);
  o.Set("coreApiVersion", lgqnn::VersionString(b.coreApiVersion));
  o.Set("backendApiVersion", lgqnn::VersionString(b.backendApiVersion));
  if (b.hasSocModel) o.Set("socModel", b.socModel);
  Napi::Array graphs = Napi::Array::New(env, b.graphs.size());
  for (size_t i = 0; i < b.graphs.size(); ++i) {
    const GraphDesc& g = b.graphs[i];
    Napi::Object go = Napi::Object::New(env);
    go.Set("name", g.name);
    go.Set("infoVersion", g.infoVersion);
    go.Set("inputs", TensorsToJs(env, g.inputs));
    go.Set("outputs", TensorsToJs(env, g.outputs));
    graphs.Set(i, go);
  }
  o.Set("graphs", graphs);
  return o;
}

Napi::Object ProviderToJs(Napi::Env env, const ProviderDesc& p) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", p.name);
  o.Set("backendId", p.backendId);
  o.Set("coreApiVersion", lgqnn::VersionString(p.apiVersion.coreApiVersion));
  o.Set("backendApiVersion", lgqnn::VersionString(p.apiVersion.backendApiVersion));
  return o;
}

std::vector<std::pair<void*, size_t>> BuffersArg(Napi::Env env, const Napi::Value& v,
                                                 const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + " must be an array of Uint8Array");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::pair<void*, size_t>> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Uint8Array b = BytesArg(env, a.Get(i), std::string(what) + "[" + std::to_string(i) + "]");
    out.emplace_back(static_cast<void*>(b.Data()), b.ByteLength());
  }
  return out;
}

// A QNN context owned by a JavaScript object; the destructor (run by the garbage collector for
// contexts the JavaScript side forgot to close) frees the QNN handles.
class NativeContext : public Napi::ObjectWrap<NativeContext> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeContext",
                       {InstanceMethod<&NativeContext::RetrieveGraph>("retrieveGraph"),
                        InstanceMethod<&NativeContext::Execute>("execute"),
                        InstanceMethod<&NativeContext::Close>("close"),
                        InstanceMethod<&NativeContext::Closed>("closed")});
  }

  explicit NativeContext(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeContext>(info) {}

  void Adopt(std::unique_ptr<Session> s) { session_ = std::move(s); }

 private:
  Session& session(Napi::Env env) {
    if (!session_) throw Napi::Error::New(env, "NativeContext was not created by openContext");
    return *session_;
  }

  Napi::Value RetrieveGraph(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = StringArg(info, 0, "graph name");
    Session& s = session(env);
    return Guard(env, [&] { return Napi::Number::New(env, static_cast<double>(s.RetrieveGraph(name))); });
  }

  Napi::Value Execute(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsNumber())
      throw Napi::TypeError::New(env, "execute(graphIndex, inputs, outputs)");
    double index = info[0].As<Napi::Number>().DoubleValue();
    if (!(index >= 0 && index < 4294967296.0) || index != static_cast<double>(static_cast<uint32_t>(index)))
      throw Napi::RangeError::New(env, "graph index must be a small non-negative integer");
    auto inputs = BuffersArg(env, info[1], "inputs");
    auto outputs = BuffersArg(env, info[2], "outputs");
    Session& s = session(env);
    Guard(env, [&] {
      s.Execute(static_cast<size_t>(index), inputs, outputs);
      return 0;
    });
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (session_) Guard(env, [&] {
        session_->Close(false);
        return 0;
      });
    return env.Undefined();
  }

  Napi::Value Closed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !session_ || session_->closed());
  }

  std::unique_ptr<Session> session_;
};

struct AddonData {
  Napi::FunctionReference contextClass;
};

Napi::Value ListProviders(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string lib = StringArg(info, 0, "backend library");
  return Guard(env, [&] {
    std::vector<ProviderDesc> list = lgqnn::ListProviders(lib);
    Napi::Array a = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) a.Set(i, ProviderToJs(env, list[i]));
    return a;
  });
}

Napi::Value ReadBinaryInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string lib = StringArg(info, 0, "system library");
  if (info.Length() < 2) throw Napi::TypeError::New(env, "readBinaryInfo(systemLib, bytes)");
  Napi::Uint8Array bytes = BytesArg(env, info[1], "binary");
  return Guard(env, [&] {
    BinaryDesc d = lgqnn::ReadBinaryInfo(lib, bytes.Data(), bytes.ByteLength());
    return BinaryToJs(env, d);
  });
}

Napi::Value OpenContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  lgqnn::OpenOptions o;
  o.backendLib = StringArg(info, 0, "backend library");
  o.systemLib = StringArg(info, 1, "system library");
  if (info.Length() < 5) throw Napi::TypeError::New(env, "openContext(backendLib, systemLib, bytes, provider, logLevel)");
  Napi::Uint8Array bytes = BytesArg(env, info[2], "binary");
  o.provider = StringArg(info, 3, "provider");
  if (!info[4].IsNumber()) throw Napi::TypeError::New(env, "logLevel must be a number");
  o.logLevel = info[4].As<Napi::Number>().Int32Value();
  if (o.logLevel < 0 || o.logLevel > 5) throw Napi::RangeError::New(env, "logLevel must be 0..5");

  std::unique_ptr<Session> s =
      Guard(env, [&] { return Session::Open(o, bytes.Data(), bytes.ByteLength()); });
  Napi::Object provider = ProviderToJs(env, s->provider());
  Napi::Object binaryInfo = BinaryToJs(env, s->info());
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Object obj = data->contextClass.New({});
  NativeContext::Unwrap(obj)->Adopt(std::move(s));
  obj.Set("provider", provider);
  obj.Set("info", binaryInfo);
  return obj;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  data->contextClass = Napi::Persistent(NativeContext::Define(env));
  env.SetInstanceData(data);
  exports.Set("listProviders", Napi::Function::New(env, ListProviders, "listProviders"));
  exports.Set("readBinaryInfo", Napi::Function::New(env, ReadBinaryInfo, "readBinaryInfo"));
  exports.Set("openContext", Napi::Function::New(env, OpenContext, "openContext"));
  exports.Set("apiVersionMajor", Napi::Number::New(env, LG_QNN_API_VERSION_MAJOR));
  exports.Set("systemApiVersionMajor", Napi::Number::New(env, LG_QNN_SYSTEM_API_VERSION_MAJOR));
  exports.Set("minimumCoreApi", Napi::String::New(env, std::to_string(LG_QNN_API_VERSION_MAJOR) + "." +
                                                           std::to_string(LG_QNN_API_VERSION_MIN_MINOR)));
  exports.Set("minimumSystemApi",
              Napi::String::New(env, std::to_string(LG_QNN_SYSTEM_API_VERSION_MAJOR) + "." +
                                         std::to_string(LG_QNN_SYSTEM_API_VERSION_MIN_MINOR)));
  return exports;
}

}  // namespace

NODE_API_MODULE(lg_qnn, Init)
