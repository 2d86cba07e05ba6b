/**
 * The simulator's network (issue 14 item 7), after TigerBeetle's `packet_simulator.zig`
 * beside its real `message_bus.zig`: every channel message is encoded as it would be for
 * an RPC (`actors/wire.ts`), delayed by a seeded latency (with rare spikes), so that
 * channels are reordered relative to each other — never within one: each delivery event
 * hands over the oldest message of its lane — and, while faults are on, an RPC fails:
 * the message is lost, the sending side hears `failed` after a delay, and the job attempt
 * restarts from its latest checkpoint. Deliveries are events of the process's scheduler,
 * so a whole-process crash loses what was in flight.
 * @module
 */
import { channelKey, type ChannelAddress, type CreditMessage, type DataMessage, type Link, type LinkHandlers, type Transport } from "../actors/transport.ts";
import { type ChannelMessage, decodeMessage, encodeMessage } from "../actors/wire.ts";
import { assert, WeirError } from "../errors.ts";
import type { SimPrng } from "./prng.ts";

/** One seed's network: latency, spikes and failed RPCs. */
export interface NetworkConfig {
  /** Latency of a message, uniform in [0, latencyMaxMs). */
  latencyMaxMs: number;
  /** Probability that a message is delayed by up to `spikeMaxMs` more. */
  spike: number;
  spikeMaxMs: number;
  /** Probability per message, while faults are on, that its RPC fails. */
  failRpc: number;
}

/** Where the network meets the seed: its events, its fault budget and its trace. */
export interface NetworkHooks {
  schedule(delayMs: number, label: string, fn: () => void): unknown;
  /** Draws whether to inject a fault of probability p now (false while faults are off). */
  faultNow(p: number): boolean;
  /** Counts and traces an injected fault. */
  fault(kind: "rpc_failed", detail: string): void;
}

/** One direction of one channel. */
interface Lane {
  readonly queue: Uint8Array[];
  to: LinkHandlers<ChannelMessage> | undefined;
  from: LinkHandlers<ChannelMessage> | undefined;
  closed: boolean;
  /** A send on this lane failed: nothing more travels on it. */
  broken: boolean;
}

/**
 * A Transport with latency, reordering across channels and failed RPCs, drawn from
 * `prng` (the seed's "network" stream). One per simulated process.
 *
 * @example
 * ```ts ignore
 * const net = new FaultyTransport(config, prng.fork("network"), { schedule: (d, l, f) => proc.schedule(d, l, f), faultNow: (p) => state.crashNow(prng, p), fault: state.fault });
 * const env = new StreamEnvironment({ runtime: { ...world.runtime(jobId), transport: net } });
 * ```
 */
export class FaultyTransport implements Transport {
  readonly name = "sim-network";
  /** Messages delivered, and the RPCs failed. */
  delivered = 0;
  failed = 0;
  readonly #cfg: NetworkConfig;
  readonly #prng: SimPrng;
  readonly #hooks: NetworkHooks;
  readonly #lanes = new Map<string, { data: Lane; credit: Lane }>();

  constructor(cfg: NetworkConfig, prng: SimPrng, hooks: NetworkHooks) {
    this.#cfg = cfg;
    this.#prng = prng;
    this.#hooks = hooks;
  }

  openSender(address: ChannelAddress, handlers: LinkHandlers<CreditMessage>): Link<DataMessage> {
    const pair = this.#pair(address);
    assert(pair.data.from === undefined, () => `Channel ${channelKey(address)} was opened twice by its sender`);
    pair.data.from = handlers as LinkHandlers<ChannelMessage>;
    pair.credit.to = handlers as LinkHandlers<ChannelMessage>;
    return this.#link(pair.data, address, "data");
  }

  openReceiver(address: ChannelAddress, handlers: LinkHandlers<DataMessage>): Link<CreditMessage> {
    const pair = this.#pair(address);
    assert(pair.data.to === undefined, () => `Channel ${channelKey(address)} was opened twice by its receiver`);
    pair.data.to = handlers as LinkHandlers<ChannelMessage>;
    pair.credit.from = handlers as LinkHandlers<ChannelMessage>;
    return this.#link(pair.credit, address, "credit");
  }

  #pair(address: ChannelAddress): { data: Lane; credit: Lane } {
    const key = channelKey(address);
    let p = this.#lanes.get(key);
    const lane = (): Lane => ({ queue: [], to: undefined, from: undefined, closed: false, broken: false });
    if (!p) this.#lanes.set(key, (p = { data: lane(), credit: lane() }));
    return p;
  }

  #delay(): number {
    const c = this.#cfg;
    let d = this.#prng.next() * c.latencyMaxMs;
    if (c.spike > 0 && this.#prng.chance(c.spike)) d += this.#prng.next() * c.spikeMaxMs;
    return d;
  }

  #link<M extends ChannelMessage>(lane: Lane, address: ChannelAddress, direction: "data" | "credit"): Link<M> {
    const key = channelKey(address);
    const { sender: s, receiver: r } = address;
    const name = direction === "data" ? `${s.vertexId}-${s.subtaskIndex}>${r.vertexId}-${r.subtaskIndex}` : `${r.vertexId}-${r.subtaskIndex}>${s.vertexId}-${s.subtaskIndex}`;
    return {
      send: (m) => {
        if (lane.closed || lane.broken) return;
        // Encoded as for an RPC: a record that does not serialize fails the sender's step here.
        const bytes = encodeMessage(m);
        if (this.#hooks.faultNow(this.#cfg.failRpc)) {
          lane.broken = true;
          this.failed++;
          this.#hooks.fault("rpc_failed", `${m.kind} ${name}`);
          const error = new WeirError("transport_failed", `RPC carrying a ${m.kind} message on channel ${name} failed (injected)`);
          this.#hooks.schedule(this.#delay(), "net-fail", () => {
            if (!lane.closed) lane.from?.failed(error);
          });
          return;
        }
        lane.queue.push(bytes);
        this.#hooks.schedule(this.#delay(), "net", () => this.#deliverOne(lane, key));
      },
      close: () => {
        const pair = this.#lanes.get(key);
        if (!pair) return;
        this.#lanes.delete(key);
        for (const l of [pair.data, pair.credit]) {
          l.closed = true;
          l.queue.length = 0;
        }
      },
    };
  }

  /** Delivers the oldest message of the lane: whichever of its events fires first, order holds. */
  #deliverOne(lane: Lane, key: string): void {
    const bytes = lane.queue.shift();
    if (bytes === undefined || lane.closed) return;
    let m: ChannelMessage;
    try {
      m = decodeMessage(bytes);
    } catch (e) {
      return lane.from?.failed(e);
    }
    const to = lane.to;
    if (to === undefined) return lane.from?.failed(new WeirError("transport_failed", `Channel ${key} has no receiving end`));
    this.delivered++;
    try {
      to.deliver(m);
    } catch (e) {
      to.failed(e);
    }
  }
}

/**
 * Draws one seed's network from its "network" stream: in-memory channels for a quarter
 * of the seeds (undefined), so that the paths without a network stay explored too.
 */
export function drawNetwork(prng: SimPrng): NetworkConfig | undefined {
  if (prng.chance(0.25)) return undefined;
  return {
    latencyMaxMs: prng.next() * 2,
    spike: prng.probability(0.001, 0.05),
    spikeMaxMs: prng.range(1, 60),
    failRpc: prng.probability(0.0005, 0.02),
  };
}
