/*
 * standin_common.h - shared part of the two stand-in QNN libraries used by the addon's tests
 * (test/helpers/stand-in.ts builds them): the parser of the "LGQNNSB1" stand-in context binary
 * (format in test/helpers/stand-in-binary.ts and the issue-7 interface notes), handle tracing and the
 * element sizes of QNN data types. Written against native/include/lg_qnn_api.h only.
 */
#ifndef STANDIN_COMMON_H
#define STANDIN_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "lg_qnn_api.h"

#if defined(_WIN32)
#define STANDIN_EXPORT __declspec(dllexport)
#else
#define STANDIN_EXPORT __attribute__((visibility("default")))
#endif

#define SB_KIND_ADD 1u
#define SB_KIND_TABLE 2u

/* Encoding kinds of the format: 0 none, 1 scale_offset; the others extend the stand-in format, their
 * fields following the (f32 scale, i32 offset) pair, which kinds 2, 4 and 5 leave unused:
 *   2 axis_scale_offset     u32 axis | u32 n | (f32 scale, i32 offset)[n]
 *   3 bw_scale_offset       u32 bitwidth                      (the pair is the encoding's)
 *   4 bw_axis_scale_offset  u32 bitwidth | u32 axis | u32 n | (f32 scale, i32 offset)[n]
 *   5 code only             u32 Qnn_QuantizationEncoding_t    (reported DEFINED with that code and a
 *                           zeroed parameter union: the later encodings, 4..11, whose parameters the
 *                           addon does not read) */
#define SB_ENC_NONE 0u
#define SB_ENC_SCALE_OFFSET 1u
#define SB_ENC_AXIS_SCALE_OFFSET 2u
#define SB_ENC_BW_SCALE_OFFSET 3u
#define SB_ENC_BW_AXIS_SCALE_OFFSET 4u
#define SB_ENC_CODE 5u

typedef struct {
  uint32_t id;
  char* name;
  uint32_t tensorType;
  uint32_t dataType;
  uint32_t rank;
  uint32_t* dims;
  uint32_t encodingKind;
  float scale;
  int32_t offset;
  int32_t axis;
  uint32_t axisCount;
  lg_Qnn_ScaleOffset_t* axisEncodings; /* kinds 2 and 4 */
  uint32_t bitwidth;                   /* kinds 3 and 4 */
  float* bwScales;                     /* kind 4: the axis pairs as the two arrays QNN wants */
  int32_t* bwOffsets;
  uint32_t qnnCode;                    /* kind 5 */
  uint64_t byteSize; /* SB_UNKNOWN_SIZE when the data type has no known size */
} sb_tensor;

#define SB_UNKNOWN_SIZE UINT64_MAX

typedef struct {
  char* name;
  uint32_t kind;
  uint32_t nInputs, nOutputs;
  sb_tensor* inputs;
  sb_tensor* outputs;
  /* TABLE */
  uint32_t keyCount;
  uint32_t* keyInputIndex;
  uint32_t entryCount;
  uint64_t keyBytes, outBytes;
  uint8_t* entries; /* entryCount x (keyBytes + outBytes), owned copy */
} sb_graph;

typedef struct {
  uint32_t formatVersion;
  uint32_t socModel;
  uint32_t graphCount;
  sb_graph* graphs;
} sb_binary;

/* Parse results */
#define SB_OK 0
#define SB_ERR_MAGIC 1     /* not an LGQNNSB1 file */
#define SB_ERR_VERSION 2   /* unsupported format version */
#define SB_ERR_TRUNCATED 3 /* a field runs past the end */
#define SB_ERR_INVALID 4   /* inconsistent content */

/* Parses `size` bytes into *out (zeroed first). On failure frees what it allocated, writes a
 * message into err and returns the SB_ERR_* code. */
int sb_parse(const uint8_t* data, uint64_t size, sb_binary* out, char* err, size_t errLen);
void sb_free(sb_binary* b);

/* Bytes of `count` elements of a QNN data type, SB_UNKNOWN_SIZE when unknown or too large. */
uint64_t sb_element_bytes(uint32_t dataType, uint64_t count);

/* Appends "<op> <kind> <id>" to the file named by env LG_STANDIN_TRACE (if set). */
void sb_trace(const char* op, const char* kind, unsigned id);

/* Unsigned value of an environment variable, or `fallback` when unset or not a number. */
uint32_t sb_env_u32(const char* name, uint32_t fallback);

/* Overwrites *v with the version "major.minor[.patch]" in an environment variable, when it is set
 * and well-formed (so tests can make a stand-in report an old API); returns whether it did. */
int sb_env_version(const char* name, lg_Qnn_Version_t* v);

#endif
