/**
 * The connector conformance suite (issue 9): every source and sink runs through it
 * against its real server, as every storage adapter runs through tests/storage/conformance.ts.
 */
export * from "./sink_conformance.ts";
export * from "./source_conformance.ts";
