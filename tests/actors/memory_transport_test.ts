import { MemoryTransport } from "../../actors/memory_transport.ts";
import { runTransportConformance } from "./transport_conformance.ts";

runTransportConformance("MemoryTransport", () => ({ transport: new MemoryTransport(), idle: () => true }));
