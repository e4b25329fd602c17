# binding.gyp - the optional QNN addon (native/build/Release/lg_qnn.node), built by
# scripts/build-native.mjs. It compiles against the project's own QNN declarations
# (native/include/lg_qnn_api.h); when QNN_SDK_ROOT is set at build time it also compiles
# src/sdk-check.cc against $QNN_SDK_ROOT/include/QNN, whose static_asserts prove that our
# declarations and the SDK's agree (sizes, field offsets, enum values).
# This file lives in native/, not at the package root, so that npm never runs node-gyp itself:
# a failed or skipped build must not fail `npm install`.
{
  "variables": {
    "qnn_sdk_root%": "<!(node -e \"process.stdout.write(process.env.QNN_SDK_ROOT||'')\")"
  },
  "targets": [
    {
      "target_name": "lg_qnn",
      "sources": ["src/addon.cc", "src/qnn_session.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] }
      },
      "conditions": [
        ["OS=='linux' or OS=='android'", { "libraries": ["-ldl"] }],
        ["qnn_sdk_root!=''", {
          "sources": ["src/sdk-check.cc"],
          "include_dirs": ["<(qnn_sdk_root)/include/QNN"]
        }]
      ]
    }
  ]
}
