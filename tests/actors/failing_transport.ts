/**
 * A transport decorator whose n-th data message fails as an RPC would: the message is not
 * delivered, the sender hears `failed` on a later turn, and nothing it sends on that link
 * afterwards arrives. It fails once; every link opened later works. Messages count only
 * while `armed()` holds, so a test can wait for a state worth failing in (a completed
 * checkpoint) instead of guessing how many messages a loaded machine sends before it.
 * @module
 */
import type { Scheduler } from "../../actors/time.ts";
import type { ChannelAddress, CreditMessage, DataMessage, Link, LinkHandlers, Transport } from "../../actors/transport.ts";
import { WeirError } from "../../errors.ts";

export class FailingTransport implements Transport {
  readonly name: string;
  readonly #inner: Transport;
  readonly #scheduler: Scheduler;
  #countdown: number;
  readonly #armed: () => boolean;
  fired = false;

  /** Fails the `failAt`-th item or priority message sent through it while armed (1 = the first). */
  constructor(inner: Transport, scheduler: Scheduler, failAt: number, armed: () => boolean = () => true) {
    this.name = `failing(${inner.name})`;
    this.#inner = inner;
    this.#scheduler = scheduler;
    this.#countdown = failAt;
    this.#armed = armed;
  }

  openSender(address: ChannelAddress, handlers: LinkHandlers<CreditMessage>): Link<DataMessage> {
    const link = this.#inner.openSender(address, handlers);
    let broken = false;
    return {
      send: (m) => {
        if (broken) return;
        if (!this.fired && this.#armed() && --this.#countdown === 0) {
          this.fired = true;
          broken = true;
          const error = new WeirError("transport_failed", `Injected failure of a ${m.kind} message to ${address.receiver.vertexId}-${address.receiver.subtaskIndex}`);
          this.#scheduler.defer(() => handlers.failed(error));
          return;
        }
        link.send(m);
      },
      close: () => link.close(),
    };
  }

  openReceiver(address: ChannelAddress, handlers: LinkHandlers<DataMessage>): Link<CreditMessage> {
    return this.#inner.openReceiver(address, handlers);
  }
}
