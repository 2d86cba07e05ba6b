/**
 * weir on Cloudflare: the `WeirJob` Durable Object (the job master; the whole job when no
 * `WeirSubtask` namespace is bound), the `WeirSubtask` object (a subtask each), the helper
 * that turns a job-building function into the Worker's default export, and the storage
 * adapters on a Durable Object's SQLite storage and on R2.
 *
 * @example
 * ```ts ignore
 * import { WeirJob, WeirSubtask, weirWorker } from "weir-stream/cloudflare";
 * export { WeirJob, WeirSubtask };
 * export default weirWorker(({ storage }) => buildMyJob(storage));
 * ```
 * @module
 */
export { DO_CHUNK_BYTES_MAX, type DurableObjectSqlStorage, DurableObjectStorageAdapter } from "./do_storage.ts";
export { R2Storage } from "./r2_storage.ts";
export { cloudflareDirectories, directoryKey, PrefixStorage } from "./directories.ts";
export type { DurableObjectNamespaceLike, DurableObjectStateLike, R2BucketLike, WorkerBindings } from "./bindings.ts";
export { type EdgeJobBuilder, type EdgeJobContext, weirWorker, type WeirWorkerOptions } from "./worker.ts";
export { EDGE_BUFFER_TIMEOUT_MS, WeirJob } from "./weir_job.ts";
export { FRAME_PATH, OBJECT_NAME_HEADER, subtaskCaller, subtaskObjectName, WeirSubtask } from "./weir_subtask.ts";
export { DurableObjectRpcTransport, type DurableObjectRpcTransportOptions, FRAME_BYTES_DEFAULT, RPC_MESSAGE_BYTES_MAX, type RpcTransportStats } from "./rpc_transport.ts";
export { Mailbox } from "./mailbox.ts";
export { ObjectStorage, serveStorage, STORAGE_PATH } from "./object_storage.ts";
export { CALLBACK_PATH, CONTROL_PATH, DurableObjectHost, type DurableObjectHostOptions } from "./object_host.ts";
export { edgePlacement } from "./placement.ts";
export { rearmStoredAlarm } from "./alarms.ts";

// The part of weir's API that runs on workerd (mod.ts also exports file, SQLite and server
// code that a Worker bundle cannot hold): what a job on Cloudflare is built from.
export { StreamEnvironment } from "../../dataflow/environment.ts";
export type { EnvironmentOptions } from "../../dataflow/environment_options.ts";
export { DataStream } from "../../dataflow/data_stream.ts";
export { KeyedStream } from "../../dataflow/keyed_stream.ts";
export { OutputTag } from "../../dataflow/side_output.ts";
export { WatermarkStrategy } from "../../dataflow/watermark_strategy.ts";
export type { OperatorContext, Sink, SinkWriter, Source, SourceReader } from "../../dataflow/operator.ts";
export type { StorageAdapter } from "../../storage/adapter.ts";
export { MemoryStorage } from "../../storage/memory.ts";
export { SequenceSource } from "../../connectors/sequence_source.ts";
export { CollectSink } from "../../connectors/collect_sink.ts";
export { StorageSink, type StorageSinkOptions } from "../../connectors/storage_sink.ts";
export { HttpIngestSource, type HttpIngestSourceOptions } from "../../connectors/http_ingest_source.ts";
export { OperatorError, WeirError } from "../../errors.ts";
export { registerType } from "../../codec/type_registry.ts";
