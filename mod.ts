/**
 * weir: a stream-processing actor runtime for Bun, Deno and the edge, with Flink-grade
 * fault tolerance: aligned and unaligned checkpoints, savepoints, exactly-once sinks.
 *
 * @example
 * ```ts
 * import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "./mod.ts";
 * const env = new StreamEnvironment({ jobName: "example", parallelism: 2, storage: new MemoryStorage() });
 * const sink = new CollectSink<number>();
 * env.fromSource(new SequenceSource(0, 100), { uid: "numbers" })
 *   .keyBy((n) => n % 10)
 *   .reduce((a, b) => a + b, { uid: "sum" })
 *   .sinkTo(sink, { uid: "out" });
 * const job = await env.execute();
 * const result = await job.done;
 * console.assert(result.status === "finished");
 * ```
 * @module
 */
export { StreamEnvironment } from "./dataflow/environment.ts";
export { environmentDefaults, setEnvironmentDefaults, setHttpStarter } from "./dataflow/environment_defaults.ts";
export type { EnvironmentDefaults } from "./dataflow/environment_defaults.ts";
export type { EnvironmentOptions, HttpOptions, RuntimeOptions } from "./dataflow/environment_options.ts";
export type { ChannelAddress, CreditMessage, DataMessage, Link, LinkHandlers, SubtaskAddress, Transport } from "./actors/transport.ts";
export { MemoryTransport } from "./actors/memory_transport.ts";
// Remote hosts (runtime/remote/): the seam Worker threads (weir-stream/worker-threads) and
// Durable Objects plug into; LoopbackHost runs one in this process, every message as bytes.
export type { ControlHandlers, RemoteHost, TaskExecutorGateway } from "./runtime/remote/gateway.ts";
export type { ToHost, ToMaster } from "./runtime/remote/messages.ts";
export { TaskExecutor, type TaskExecutorInit } from "./runtime/remote/task_executor.ts";
export { LoopbackHost, type LoopbackHostInit, type LoopbackStats } from "./runtime/remote/loopback.ts";
export { decodeToHost, decodeToMaster, encodeControl } from "./runtime/remote/control_wire.ts";
export { SerializingTransport, type SerializingTransportOptions } from "./actors/serializing_transport.ts";
export { DataStream } from "./dataflow/data_stream.ts";
export { KeyedStream } from "./dataflow/keyed_stream.ts";
export { OutputTag } from "./dataflow/side_output.ts";
export {
  type TimestampAssigner,
  type WatermarkGenerator,
  type WatermarkGeneratorContext,
  type WatermarkOutput,
  WatermarkStrategy,
} from "./dataflow/watermark_strategy.ts";
export {
  EventTimeSessionWindows,
  ProcessingTimeSessionWindows,
  SlidingEventTimeWindows,
  SlidingProcessingTimeWindows,
  type TimeWindow,
  TumblingEventTimeWindows,
  TumblingProcessingTimeWindows,
  type WindowAssigner,
} from "./dataflow/window_assigners.ts";
export { type AggregateFunction, type ProcessWindowFunction, type WindowContext, WindowedStream } from "./dataflow/windowed_stream.ts";
export type { KeyedProcessFunctionObject, OnTimerContext, TimeDomain, TimerService } from "./dataflow/operators/keyed_process.ts";
export { BroadcastConnectedStreams, CoConnectedStreams, type CoProcessFunction, ConnectedStreams, type KeyedCoProcessFunction } from "./dataflow/connected_streams.ts";
export type { BroadcastContext, KeyedBroadcastProcessFunction, KeyedReadOnlyBroadcastContext } from "./dataflow/operators/keyed_broadcast_process.ts";
export type { ProcessContext, ProcessFunction } from "./dataflow/operators/process.ts";
export type { OperatorOptions } from "./dataflow/transformation.ts";
export type { FromSourceOptions } from "./dataflow/from_source.ts";
export type { KeyedProcessContext, KeyedProcessFunction } from "./dataflow/operators/keyed_process.ts";
export type { OperatorContext, OperatorSnapshot, RestoredState, Sink, SinkWriter, Source, SourceReader, StreamOperator } from "./dataflow/operator.ts";
export { sinkTransactionId } from "./dataflow/operator.ts";
export type { KeyedTableSnapshot, ListState, MapState, StateKind, StateOptions, ValueState } from "./state/keyed_state.ts";
export type {
  AggregatingState,
  CanonicalKeyedState,
  IncrementalKeyedState,
  KeyedStateBackend,
  KeyedStateBackendFactory,
  KeyedStateBackendInit,
  KeyedStateHandle,
  KeyedStateSnapshot,
  ReducingState,
  SharedStateRef,
  SnapshotOptions,
  StateAggregator,
} from "./state/backend.ts";
export { registerStateBackend, type StateBackendOptions } from "./state/backend_registry.ts";
export { HeapKeyedStateBackend } from "./state/heap_backend.ts";
export { SQLITE_STATE_FORMAT_VERSION, type SqliteBackendOptions, SqliteKeyedStateBackend } from "./state/sqlite_backend.ts";
// Importing it registers `state: { backend: "sqlite" }` with the runtime's SQLite driver.
export { sqliteStateBackend } from "./platforms/sqlite_state.ts";
// Importing it encodes large heap snapshots' number pairs on a worker thread (state/number_pairs.ts).
export { WorkerPairEncoder } from "./platforms/pair_encoder.ts";
export { JobHandle } from "./runtime/job_handle.ts";
export type { JobResult, JobStatus } from "./runtime/job_status.ts";
export type { JobEvent, JobWarning } from "./runtime/job_master.ts";
export type { RestartOptions } from "./runtime/restart_strategy.ts";
export type { CheckpointOptions } from "./checkpoint/config.ts";
export type { CheckpointDetails, CheckpointStatsSnapshot } from "./checkpoint/stats.ts";
export type { CheckpointFailureReason } from "./checkpoint/failure_reason.ts";
export type { StorageAdapter } from "./storage/adapter.ts";
export { MemoryStorage } from "./storage/memory.ts";
export { FileStorage } from "./storage/file.ts";
export { SqliteStorage } from "./storage/sqlite.ts";
// Deno-only, but safe to import anywhere: it reaches for Deno.openKv at its first call.
export { DenoKvStorage } from "./platforms/deno/kv_storage.ts";
export type { DenoKvStorageOptions } from "./platforms/deno/kv_storage.ts";
export { setDirectoryOpener } from "./storage/directory.ts";
export type { DirectoryOpener } from "./storage/directory.ts";
export { SequenceSource } from "./connectors/sequence_source.ts";
export { CollectSink } from "./connectors/collect_sink.ts";
export { StorageSink, type StorageSinkOptions } from "./connectors/storage_sink.ts";
export { FileSink } from "./connectors/file_sink.ts";
export { FileSource } from "./connectors/file_source.ts";
export type { FileFormat, FileSourceOptions } from "./connectors/file_source.ts";
export { HttpIngestSource } from "./connectors/http_ingest_source.ts";
export { RedisStreamSource } from "./connectors/redis_stream_source.ts";
export type { RedisStreamEntry, RedisStreamSourceOptions } from "./connectors/redis_stream_source.ts";
export { NatsJetStreamSource } from "./connectors/nats_jetstream_source.ts";
export type { NatsJetStreamMessage, NatsJetStreamSourceOptions } from "./connectors/nats_jetstream_source.ts";
export type { HttpIngestSourceOptions } from "./connectors/http_ingest_source.ts";
export type { FileSinkOptions, RollingPolicy } from "./connectors/file_sink.ts";
export { PostgresSink } from "./connectors/postgres_sink.ts";
export type { PostgresSinkOptions } from "./connectors/postgres_sink.ts";
export { RedisStreamSink } from "./connectors/redis_stream_sink.ts";
export type { RedisStreamSinkOptions } from "./connectors/redis_stream_sink.ts";
export { NatsJetStreamSink } from "./connectors/nats_jetstream_sink.ts";
export type { NatsJetStreamSinkOptions } from "./connectors/nats_jetstream_sink.ts";
export { OperatorError, WeirError } from "./errors.ts";
export type { WeirErrorCode } from "./errors.ts";
export { registerType } from "./codec/type_registry.ts";
export type { TypeConstructor, TypeEncoding } from "./codec/type_registry.ts";
export { copyValue } from "./codec/values.ts";
export { createApp } from "./http/app.ts";
export type { AppOptions } from "./http/app.ts";
export { JobRegistry, jobRegistry } from "./http/registry.ts";
export { serverClosed, startJobServer } from "./http/server.ts";
export { applyCommandLine, JOB_FLAGS_HELP, jobCommandLine, restoreCommand } from "./cli/job_args.ts";
export type { JobCommandLine } from "./cli/job_args.ts";

// Wiring, not a re-export: `http` options of a StreamEnvironment serve the REST API through
// this starter, installed here so that the core never imports a server.
import { setHttpStarter } from "./dataflow/environment_defaults.ts";
import { startJobServer } from "./http/server.ts";
setHttpStarter(startJobServer);

// Directory paths (the default .weir, restoreFrom, savepoint targets) open as local
// files on Bun and Deno; the core asks through storage/directory.ts.
import { setDirectoryOpener } from "./storage/directory.ts";
import { openFileDirectory } from "./storage/file.ts";
setDirectoryOpener(openFileDirectory);
