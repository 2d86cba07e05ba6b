import { MemoryStorage } from "../../mod.ts";
import { runStorageConformance } from "./conformance.ts";

runStorageConformance("MemoryStorage", () => new MemoryStorage());
