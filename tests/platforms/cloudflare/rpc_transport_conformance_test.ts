/**
 * The Durable Object RPC transport through the transport conformance suite, with every
 * subtask's ends on a transport of its own ("objects" in this process, calls deferred as
 * RPCs are). The suite runs on node:test, which workerd cannot host; tests/platforms/
 * cloudflare/subtask_test.ts runs the same transport between real objects under workerd.
 */
import { runTransportConformance } from "../../actors/transport_conformance.ts";
import { rpcObjects } from "./fixtures/rpc_objects.ts";

runTransportConformance("DurableObjectRpcTransport", (scheduler) => rpcObjects(scheduler));

// Small frames: the suite's messages travel as several frames, joined before delivery.
runTransportConformance("DurableObjectRpcTransport (1 KiB frames)", (scheduler) => rpcObjects(scheduler, { frameBytesMax: 1024 }));
