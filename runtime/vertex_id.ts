/**
 * The 32-hex JobVertexID of a vertex (Flink's REST API names vertices so): a hash of its
 * operators' uids in chain order, so it is stable across runs and restores and never
 * depends on the order vertices were built in. Pure TypeScript (four salted CRC-32Cs), so
 * the core needs no runtime's crypto module.
 * @module
 */
import { crc32c } from "../checkpoint/checksum.ts";

/**
 * @example
 * ```ts
 * import { vertexHexId } from "./vertex_id.ts";
 * console.assert(/^[0-9a-f]{32}$/.test(vertexHexId({ uids: ["numbers"] })));
 * console.assert(vertexHexId({ uids: ["a", "b"] }) !== vertexHexId({ uids: ["ab"] }));
 * ```
 */
export function vertexHexId(vertex: { uids: readonly string[] }): string {
  const text = new TextEncoder().encode(`weir-vertex\0${vertex.uids.join("\0")}`);
  let out = "";
  for (let salt = 0; salt < 4; salt++) {
    const salted = new Uint8Array(text.length + 1);
    salted[0] = salt;
    salted.set(text, 1);
    out += crc32c(salted).toString(16).padStart(8, "0");
  }
  return out;
}
