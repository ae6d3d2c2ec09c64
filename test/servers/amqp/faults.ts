/**
 * Failures a test can ask the broker for. Each switch is read by the broker at the moment it
 * matters; one-shot faults disarm themselves once they fired.
 */
export interface InjectedError {
  condition: string;
  description: string;
}

export class BrokerFaults {
  /** New TCP connections are destroyed as soon as they are accepted. */
  refuseConnections = false;
  /** `$cbs` put-token answers 401 (the SDK reports UnauthorizedAccess). */
  refuseTokens = false;
  /** Added before every answer: send acknowledgements, settlements, `$cbs` and `$management` replies. */
  responseDelayMs = 0;

  private dropAfter: number | undefined;
  private readonly sendErrors: InjectedError[] = [];

  /**
   * Cuts the connection as the `n`-th next delivery to a receiver is handed to rhea, before it
   * reaches the wire: that message (and any other not yet written) is locked by the broker but
   * never arrives, so it must come back after its lock expires.
   */
  cutConnectionOnDelivery(n = 1): void {
    this.dropAfter = n;
  }

  /** The next `count` sends are rejected with this AMQP error (default: server busy). */
  rejectSends(
    count: number,
    error: InjectedError = {
      condition: 'com.microsoft:server-busy',
      description: 'The server is busy (fault injected).',
    },
  ): void {
    for (let i = 0; i < count; i++) this.sendErrors.push(error);
  }

  /** @internal The broker calls this once per delivery; true when the connection must go now. */
  takeCutOnDelivery(): boolean {
    if (this.dropAfter === undefined) return false;
    this.dropAfter -= 1;
    if (this.dropAfter > 0) return false;
    this.dropAfter = undefined;
    return true;
  }

  /** @internal The broker calls this once per incoming send. */
  takeSendError(): InjectedError | undefined {
    return this.sendErrors.shift();
  }

  reset(): void {
    this.refuseConnections = false;
    this.refuseTokens = false;
    this.responseDelayMs = 0;
    this.dropAfter = undefined;
    this.sendErrors.length = 0;
  }
}
