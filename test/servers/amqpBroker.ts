import type { AddressInfo, Server, Socket } from 'node:net';
import rhea from 'rhea';
import type { Connection, Delivery, EventContext, Message, Receiver, Sender } from 'rhea';
import { parseAddress } from './amqp/addresses.js';
import { decodeTransfer, encodeMessage, toDeliveredMessage } from './amqp/codec.js';
import { BrokerFaults, type InjectedError } from './amqp/faults.js';
import { lockTokenToDeliveryTag } from './amqp/lockTokens.js';
import { settledOutcome, settlementOf, type Outcome } from './amqp/outcomes.js';
import {
  BrokerQueue,
  defaultQueueSettings,
  type QueueSettings,
  type QueueSnapshot,
  type SubQueueKind,
} from './amqp/queueStore.js';
import {
  handleCbsRequest,
  handleManagementRequest,
  toResponseMessage,
  type AmqpResponse,
} from './amqp/requests.js';

/**
 * A small AMQP 1.0 broker that the real `@azure/service-bus` client talks to as if it were
 * Service Bus (connection string with `UseDevelopmentEmulator=true`, plain TCP on 127.0.0.1).
 * It implements what Baton's Bus needs, and what the SDK does on the way: `$cbs` put-token,
 * single and batch sends, credit-bounded peek-lock delivery with lock tokens as delivery tags,
 * every settlement outcome, drain, `$management` renew-lock / update-disposition / peek /
 * schedule, lock expiry, max-delivery-count dead-lettering, duplicate detection and scheduled
 * messages. State lives in memory; tests create queues with the settings they need and can
 * inject faults (`broker.faults`, `dropConnections()`).
 *
 * Not implemented: sessions, topics/subscriptions, transactions, receiveAndDelete-specific
 * behaviour beyond presettled transfers, message TTL/expiry, deferred-message retrieval by
 * sequence number, auto-forwarding, SAS token validation.
 */
export interface AmqpBrokerOptions {
  /** Unknown queues spring into existence with the default settings (Service Bus: they don't). */
  autoCreateQueues?: boolean;
  defaultQueueSettings?: Partial<QueueSettings>;
  /** Advertised on every link; the SDK sizes batches by it (Service Bus Standard: 256 KiB). */
  maxMessageSize?: number;
}

export interface BrokerStats {
  connections: number;
  /** Transfers received on queue senders (a batch counts once) and the messages they carried. */
  transfersIn: number;
  messagesIn: number;
  putTokens: number;
  renewLocks: number;
  managementRequests: number;
  deliveries: number;
}

/**
 * A client receiver. rhea counts credit down only when it writes a transfer (on a later tick),
 * so the broker keeps its own books: `limit` is the delivery count up to which the client
 * granted credit, `issued` what the broker handed to rhea (or gave up by draining).
 */
interface Consumer {
  sender: Sender;
  queue: BrokerQueue;
  kind: SubQueueKind;
  limit: number;
  issued: number;
}

interface DeliveryRecord {
  queue: BrokerQueue;
  kind: SubQueueKind;
  token: string;
}

type RequestNode =
  | { role: 'producer'; queue: BrokerQueue }
  | { role: 'cbs' }
  | { role: 'management'; queue: BrokerQueue; kind: SubQueueKind };

/** rhea internals the broker touches: the attach frame, and credit bookkeeping for drain. */
interface LinkInternals {
  local: {
    attach: { max_message_size?: number; snd_settle_mode?: number; rcv_settle_mode?: number };
  };
  credit: number;
  delivery_count: number;
  _draining: boolean;
  _drained: boolean;
  _get_drain: () => boolean;
}

export class AmqpBroker {
  readonly faults = new BrokerFaults();
  readonly stats: BrokerStats = {
    connections: 0,
    transfersIn: 0,
    messagesIn: 0,
    putTokens: 0,
    renewLocks: 0,
    managementRequests: 0,
    deliveries: 0,
  };

  private readonly queues = new Map<string, BrokerQueue>();
  private readonly consumers = new Set<Consumer>();
  private readonly consumerOf = new WeakMap<Sender, Consumer>();
  private readonly requestNodeOf = new Map<Receiver, RequestNode>();
  private readonly replyLinks = new WeakMap<Connection, Map<string, Sender>>();
  private readonly pendingReplies = new WeakMap<Sender, Message[]>();
  private readonly deliveries = new WeakMap<Delivery, DeliveryRecord>();
  private readonly settledDeliveries = new WeakSet<Delivery>();
  private readonly sockets = new Set<Socket>();
  private readonly settings: QueueSettings;
  private readonly maxMessageSize: number;
  private readonly autoCreateQueues: boolean;
  private readonly container = rhea.create_container({
    id: 'baton-test-broker',
    autoaccept: false,
    treat_modified_as_released: false,
  });
  private server: Server | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt: number | undefined;
  private stopped = false;

  private constructor(options: AmqpBrokerOptions) {
    this.settings = { ...defaultQueueSettings, ...options.defaultQueueSettings };
    this.maxMessageSize = options.maxMessageSize ?? 256 * 1024;
    this.autoCreateQueues = options.autoCreateQueues ?? false;
    this.wire();
  }

  /** Listens on 127.0.0.1 with an ephemeral port. */
  static async start(options: AmqpBrokerOptions = {}): Promise<AmqpBroker> {
    const broker = new AmqpBroker(options);
    const server = broker.container.listen({ port: 0, host: '127.0.0.1' });
    broker.server = server;
    server.on('connection', (socket: Socket) => {
      broker.sockets.add(socket);
      // rhea only listens for 'end' and 'error'; a destroyed socket emits neither, and rhea
      // would keep the connection (and its heartbeat timer) alive. Tell it the socket ended.
      let ended = false;
      socket.on('end', () => {
        ended = true;
      });
      socket.on('close', () => {
        broker.sockets.delete(socket);
        if (!ended) socket.emit('end');
      });
      if (broker.faults.refuseConnections) socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    return broker;
  }

  get port(): number {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('the broker is not listening');
    return address.port;
  }

  /** `127.0.0.1:<port>`: what the SDK calls the fully qualified namespace here. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Any key works; the emulator flag makes the SDK use plain TCP to this port. */
  get connectionString(): string {
    return `Endpoint=sb://${this.host}/;SharedAccessKeyName=test;SharedAccessKey=dGVzdA==;UseDevelopmentEmulator=true`;
  }

  /** Creates (or reconfigures) a queue. Names are case-insensitive. */
  createQueue(name: string, settings: Partial<QueueSettings> = {}): BrokerQueue {
    const key = name.toLowerCase();
    const queue = new BrokerQueue(key, { ...this.settings, ...settings });
    this.queues.set(key, queue);
    return queue;
  }

  deleteQueue(name: string): void {
    const queue = this.queues.get(name.toLowerCase());
    if (!queue) return;
    this.queues.delete(queue.name);
    const gone = this.entityNotFound(queue.name);
    for (const consumer of [...this.consumers]) {
      if (consumer.queue !== queue) continue;
      consumer.sender.close(gone);
      this.consumers.delete(consumer);
    }
    for (const [receiver, node] of [...this.requestNodeOf]) {
      if (node.role === 'cbs' || node.queue !== queue) continue;
      receiver.close(gone);
      this.requestNodeOf.delete(receiver);
    }
  }

  snapshot(name: string): QueueSnapshot | undefined {
    return this.queues.get(name.toLowerCase())?.snapshot();
  }

  /** Destroys every client connection now, as a network failure would. */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.dropConnections();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private wire(): void {
    const c = this.container;
    c.on('connection_open', () => {
      this.stats.connections += 1;
    });
    c.on('sender_open', (ctx: EventContext) => this.onSenderOpen(ctx));
    c.on('receiver_open', (ctx: EventContext) => this.onReceiverOpen(ctx));
    c.on('message', (ctx: EventContext) => this.onMessage(ctx));
    c.on('sender_flow', (ctx: EventContext) => this.onFlow(ctx));
    c.on('sendable', (ctx: EventContext) => this.onSendable(ctx));
    c.on('sender_draining', (ctx: EventContext) => this.onDraining(ctx));
    for (const outcome of ['accepted', 'rejected', 'modified', 'released'] as const) {
      c.on(outcome, (ctx: EventContext) => this.onOutcome(ctx, outcome));
    }
    c.on('sender_close', (ctx: EventContext) => this.forgetSender(ctx.sender));
    c.on('receiver_close', (ctx: EventContext) => {
      if (ctx.receiver) this.requestNodeOf.delete(ctx.receiver);
    });
    c.on('disconnected', (ctx: EventContext) => this.forgetConnection(ctx.connection));
    c.on('connection_close', (ctx: EventContext) => this.forgetConnection(ctx.connection));
    // Errors are the client's business; a test broker must not crash the test process.
    c.on('error', () => undefined);
  }

  // ---- links ------------------------------------------------------------------------------

  /** The client opens a receiver: a consumer of a queue, or the reply side of $cbs/$management. */
  private onSenderOpen(ctx: EventContext): void {
    const sender = ctx.sender;
    if (!sender) return;
    this.acceptAttach(sender);
    const target = parseAddress(sender.source?.address);
    if (target.node === 'cbs' || target.node === 'management') {
      const links = this.replyLinksOf(ctx.connection);
      links.set(sender.name, sender);
      const replyTo = sender.target?.address;
      if (typeof replyTo === 'string') links.set(replyTo, sender);
      return;
    }
    if (target.node !== 'queue') {
      sender.close({ condition: 'amqp:not-found', description: `no node ${target.address}` });
      return;
    }
    const queue = this.queueFor(target.queue);
    if (!queue) {
      sender.close(this.entityNotFound(target.queue));
      return;
    }
    const consumer: Consumer = { sender, queue, kind: target.kind, limit: 0, issued: 0 };
    this.answerDrainEvenWithoutCredit(sender);
    this.consumers.add(consumer);
    this.consumerOf.set(sender, consumer);
  }

  /** The client opens a sender: to a queue, or the request side of $cbs/$management. */
  private onReceiverOpen(ctx: EventContext): void {
    const receiver = ctx.receiver;
    if (!receiver) return;
    this.acceptAttach(receiver);
    const target = parseAddress(receiver.target?.address);
    if (target.node === 'cbs') {
      this.requestNodeOf.set(receiver, { role: 'cbs' });
      return;
    }
    if (target.node === 'unsupported') {
      receiver.close({ condition: 'amqp:not-found', description: `no node ${target.address}` });
      return;
    }
    const queue = this.queueFor(target.queue);
    if (!queue) {
      receiver.close(this.entityNotFound(target.queue));
      return;
    }
    if (target.node === 'management') {
      this.requestNodeOf.set(receiver, { role: 'management', queue, kind: target.kind });
    } else if (target.kind === 'deadLetter') {
      receiver.close({
        condition: 'amqp:not-allowed',
        description: 'Messages cannot be sent to a dead-letter queue.',
      });
    } else {
      this.requestNodeOf.set(receiver, { role: 'producer', queue });
    }
  }

  /** Mirrors the peer's terminus (a null one would mean "refused") and advertises the size limit. */
  private acceptAttach(link: Sender | Receiver): void {
    link.set_source(link.source);
    link.set_target(link.target);
    const attach = (link as unknown as LinkInternals).local.attach;
    attach.max_message_size = this.maxMessageSize;
    attach.snd_settle_mode = link.snd_settle_mode;
    attach.rcv_settle_mode = link.rcv_settle_mode;
  }

  /**
   * rhea only echoes a drain when credit is left; when all credit went to transfers still in
   * flight it stays silent and the SDK waits out its drain timeout, then drops the link. Answer
   * every drain instead: credit to zero, and a flow with `drain` set.
   */
  private answerDrainEvenWithoutCredit(sender: Sender): void {
    const link = sender as unknown as LinkInternals;
    link._get_drain = () => {
      if (!(link._draining && link._drained)) return false;
      link.delivery_count += link.credit;
      link.credit = 0;
      link._draining = false;
      return true;
    };
  }

  private forgetSender(sender: Sender | undefined): void {
    const consumer = sender && this.consumerOf.get(sender);
    if (consumer) this.consumers.delete(consumer);
  }

  private forgetConnection(connection: Connection): void {
    for (const consumer of [...this.consumers]) {
      if (consumer.sender.connection === connection) this.consumers.delete(consumer);
    }
    for (const receiver of [...this.requestNodeOf.keys()]) {
      if (receiver.connection === connection) this.requestNodeOf.delete(receiver);
    }
    this.replyLinks.delete(connection);
  }

  private replyLinksOf(connection: Connection): Map<string, Sender> {
    let links = this.replyLinks.get(connection);
    if (!links) {
      links = new Map();
      this.replyLinks.set(connection, links);
    }
    return links;
  }

  private queueFor(name: string): BrokerQueue | undefined {
    return this.queues.get(name) ?? (this.autoCreateQueues ? this.createQueue(name) : undefined);
  }

  private entityNotFound(queue: string): InjectedError {
    return {
      condition: 'amqp:not-found',
      description: `The messaging entity 'sb://${this.host}/${queue}' could not be found.`,
    };
  }

  // ---- incoming transfers -------------------------------------------------------------------

  private onMessage(ctx: EventContext): void {
    const receiver = ctx.receiver;
    const delivery = ctx.delivery;
    const node = receiver && this.requestNodeOf.get(receiver);
    if (!node || !delivery) return;
    if (node.role === 'producer') {
      this.onSend(ctx, node.queue, delivery);
      return;
    }
    const request = ctx.message;
    delivery.accept();
    if (!request) return;
    let response: AmqpResponse;
    if (node.role === 'cbs') {
      this.stats.putTokens += 1;
      response = handleCbsRequest(request, this.faults.refuseTokens);
    } else {
      this.stats.managementRequests += 1;
      if (request.application_properties?.operation === 'com.microsoft:renew-lock') {
        this.stats.renewLocks += 1;
      }
      try {
        response = handleManagementRequest(node.queue, node.kind, request);
      } catch (error) {
        response = {
          status: 500,
          description: error instanceof Error ? error.message : String(error),
          condition: 'amqp:internal-error',
        };
      }
      this.pump(node.queue);
    }
    this.later(() => this.reply(ctx.connection, request, response));
  }

  private onSend(ctx: EventContext, queue: BrokerQueue, delivery: Delivery): void {
    const transfer = ctx as EventContext & { format?: number };
    const injected = this.faults.takeSendError();
    if (injected) {
      this.later(() => delivery.reject(injected));
      return;
    }
    const raw = transfer.message as Message | Buffer | undefined;
    const size = Buffer.isBuffer(raw) ? raw.length : raw ? encodeMessage(raw).length : 0;
    if (size > this.maxMessageSize) {
      delivery.reject({
        condition: 'amqp:link:message-size-exceeded',
        description: `The message of ${size} bytes exceeds the limit of ${this.maxMessageSize} bytes.`,
      });
      return;
    }
    try {
      const messages = decodeTransfer({ message: raw, format: transfer.format });
      this.stats.transfersIn += 1;
      this.stats.messagesIn += messages.length;
      queue.enqueue(messages);
    } catch (error) {
      delivery.reject({
        condition: 'amqp:decode-error',
        description: error instanceof Error ? error.message : String(error),
      });
      return;
    }
    this.later(() => delivery.accept());
    this.pump(queue);
  }

  private reply(connection: Connection, request: Message, response: AmqpResponse): void {
    const replyTo: unknown = request.reply_to;
    const link =
      typeof replyTo === 'string' ? this.replyLinks.get(connection)?.get(replyTo) : undefined;
    if (!link) return;
    const message = toResponseMessage(request, response);
    if (link.sendable()) {
      link.send(message);
      return;
    }
    const pending = this.pendingReplies.get(link) ?? [];
    pending.push(message);
    this.pendingReplies.set(link, pending);
  }

  // ---- deliveries ---------------------------------------------------------------------------

  /** rhea just computed `credit = delivery-count + link-credit - its own count` from the flow. */
  private onFlow(ctx: EventContext): void {
    const consumer = ctx.sender && this.consumerOf.get(ctx.sender);
    if (!consumer) return;
    const link = consumer.sender as unknown as LinkInternals;
    consumer.limit = link.delivery_count + link.credit;
  }

  private onSendable(ctx: EventContext): void {
    const sender = ctx.sender;
    if (!sender) return;
    const pending = this.pendingReplies.get(sender);
    while (pending?.length && sender.sendable()) {
      const next = pending.shift();
      if (next) sender.send(next);
    }
    const consumer = this.consumerOf.get(sender);
    if (consumer) this.pump(consumer.queue);
  }

  private onDraining(ctx: EventContext): void {
    const sender = ctx.sender;
    const consumer = sender && this.consumerOf.get(sender);
    if (!sender || !consumer) return;
    this.pump(consumer.queue);
    consumer.issued = Math.max(consumer.issued, consumer.limit);
    sender.set_drained(true);
  }

  /** Hands available messages to consumers with credit, one each in turn, never beyond credit. */
  private pump(queue: BrokerQueue): void {
    if (this.stopped) return;
    for (const kind of ['active', 'deadLetter'] as const) {
      const canTake = (c: Consumer): boolean => c.issued < c.limit && c.sender.sendable();
      let ready = [...this.consumers].filter(
        (c) => c.queue === queue && c.kind === kind && canTake(c),
      );
      while (ready.length > 0 && queue.hasAvailable(kind)) {
        for (const consumer of ready) {
          if (!canTake(consumer)) continue;
          const message = queue.lockNext(kind);
          if (!message?.lock) break;
          this.deliver(consumer, message.lock.token, toDeliveredMessage(message), kind);
        }
        ready = ready.filter(canTake);
      }
    }
    this.scheduleWake();
  }

  private deliver(consumer: Consumer, token: string, message: Message, kind: SubQueueKind): void {
    const delivery = consumer.sender.send(message, lockTokenToDeliveryTag(token));
    consumer.issued += 1;
    this.stats.deliveries += 1;
    this.deliveries.set(delivery, { queue: consumer.queue, kind, token });
    if (this.faults.takeCutOnDelivery()) {
      // rhea writes transfers on a later tick: a corked socket keeps them (and anything after)
      // off the wire, and destroying it discards them. Destroying right away instead would let
      // rhea write to a dead socket after its disconnect cleanup and leave a heartbeat timer.
      const socket = (consumer.sender.connection as unknown as { socket?: Socket }).socket;
      socket?.cork();
      setImmediate(() => socket?.destroy());
    }
  }

  private onOutcome(ctx: EventContext, outcome: Outcome): void {
    const delivery = ctx.delivery;
    if (!delivery || this.settledDeliveries.has(delivery)) return;
    const record = this.deliveries.get(delivery);
    if (!record) return;
    this.settledDeliveries.add(delivery);
    const settlement = settlementOf(outcome, delivery.remote_state);
    const failure = record.queue.settle(record.kind, record.token, settlement);
    this.later(() => delivery.update(true, settledOutcome(failure)));
    this.pump(record.queue);
  }

  // ---- time ---------------------------------------------------------------------------------

  /** Wakes up when the earliest lock expires or scheduled message falls due, to deliver again. */
  private scheduleWake(): void {
    let due: number | undefined;
    for (const queue of this.queues.values()) {
      const at = queue.nextDueAt();
      if (at !== undefined && (due === undefined || at < due)) due = at;
    }
    if (due === undefined || this.stopped) return;
    if (this.wakeTimer && this.wakeAt !== undefined && this.wakeAt <= due) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAt = due;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.wakeAt = undefined;
        for (const queue of this.queues.values()) this.pump(queue);
      },
      Math.max(0, due - Date.now()) + 1,
    );
    this.wakeTimer.unref();
  }

  private later(action: () => void): void {
    const delay = this.faults.responseDelayMs;
    if (delay > 0) setTimeout(action, delay).unref();
    else action();
  }
}
