// Owns reading a device runner's logits dump (`--dump_logits_path`, SPEC-2026 §11-8) for `eval --device_logits`
// (issue 18): every graph call's whole logits output in call order, raw dtype — uint16 codes of a quantized graph
// (values = scale·(code + offset), the .pte's logits encoding, QNN's offset = −zero point) or float32. The runner allows
// the dump only in kv mode (eval_mode 0), so every call is one row: row k holds the logits after position k (the
// prompt's positions, then the decode steps'). The file's size must be a whole number of rows; nothing in it is trusted.
// The encoding comes from flags or from the device's .pte (src/qnn/pte.ts logitsEncodingOfPte).
import { UserError } from "../util/errors.js";

export interface DeviceLogitsFormat {
  vocab: number;
  dtype: "uint16" | "float32";
  /** uint16: the logits encoding. */
  scale?: number;
  offset?: number;
}

/** The dump's rows as float values, row k = position k. */
export function readDeviceLogits(bytes: Uint8Array, f: DeviceLogitsFormat, path: string): Float32Array[] {
  const bad = (msg: string): never => {
    throw new UserError(`device logits ${path}: ${msg}`);
  };
  if (!(Number.isSafeInteger(f.vocab) && f.vocab > 0)) bad(`vocabulary ${f.vocab} is not a positive integer`);
  const width = f.dtype === "uint16" ? 2 : 4;
  if (f.dtype === "uint16" && !(typeof f.scale === "number" && f.scale > 0 && Number.isFinite(f.scale) && typeof f.offset === "number" && Number.isFinite(f.offset)))
    bad("uint16 logits need the logits scale (> 0) and offset (zero point) of the .pte");
  const rowBytes = f.vocab * width;
  if (bytes.length === 0) bad("the file is empty");
  if (bytes.length % rowBytes !== 0)
    bad(`${bytes.length} bytes is not a whole number of ${f.vocab}-entry ${f.dtype} rows (${Math.floor(bytes.length / rowBytes)} rows and ${bytes.length % rowBytes} bytes: truncated, or another vocabulary / dtype)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rows: Float32Array[] = [];
  for (let r = 0; r < bytes.length / rowBytes; r++) {
    const row = new Float32Array(f.vocab);
    const at = r * rowBytes;
    for (let v = 0; v < f.vocab; v++) {
      const x = f.dtype === "uint16" ? f.scale! * (dv.getUint16(at + 2 * v, true) + f.offset!) : dv.getFloat32(at + 4 * v, true);
      if (Number.isNaN(x)) bad(`row ${r}, entry ${v} is NaN`);
      row[v] = x;
    }
    rows.push(row);
  }
  return rows;
}
